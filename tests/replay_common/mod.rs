//! What the `ferroute replay` tests share: the three-port configuration,
//! capture timestamps, pcap files and running the binary.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use ferroute::io::{CapturedFrame, PcapReader, PcapWriter};

pub const CONFIG: &str = r#"
[router]
id = "192.0.2.1"

[[port]]
name = "p0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24", "2001:db8::1/64"]

[[port]]
name = "p1"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24", "2001:db8:1::1/64"]
mtu = 1400

[[port]]
name = "p2"   # idle: its capture must exist and be empty
mac = "02:00:00:00:00:03"
addresses = ["10.9.0.1/24"]

[[route]]
prefix = "198.51.100.0/24"
via = "203.0.113.2"

[[route]]
prefix = "2001:db8:100::/48"
via = "2001:db8:1::2"

[[neighbor]]
address = "203.0.113.2"
mac = "02:00:00:00:01:02"
port = "p1"

[[neighbor]]
address = "2001:db8:1::2"
mac = "02:00:00:00:01:02"
port = "p1"

[[neighbor]]
address = "192.0.2.10"
mac = "02:00:00:00:00:aa"
port = "p0"
"#;

/// Capture time of the first frame (seconds), so timestamps are realistic.
pub const BASE_NS: u64 = 1_700_000_000_000_000_000;

pub fn us(n: u64) -> u64 {
    BASE_NS + n * 1000
}

pub fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut w = PcapWriter::create(path).unwrap();
    for (ts, f) in frames {
        w.write(*ts, f).unwrap();
    }
    w.finish().unwrap();
}

pub fn read_pcap(path: &Path) -> Vec<CapturedFrame> {
    PcapReader::open(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

pub fn ferroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroute"))
        .args(args)
        .output()
        .expect("run ferroute")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ferroute replay --json --trace` of `config` with `inputs` (port, capture)
/// into `out`, plus `flags` (e.g. `--retarget`): the report, after checking
/// the command succeeded.
pub fn replay_json(
    config: &Path,
    inputs: &[(&str, &Path)],
    out: &Path,
    flags: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "replay".to_string(),
        "--config".to_string(),
        config.display().to_string(),
        "--output-dir".to_string(),
        out.display().to_string(),
        "--json".to_string(),
        "--trace".to_string(),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    for (port, capture) in inputs {
        args.push("--input".to_string());
        args.push(format!("{port}={}", capture.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = ferroute(&args);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}
