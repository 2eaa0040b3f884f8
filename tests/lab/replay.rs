//! `ferroute replay --json --trace` on the lab's input, with every frame the
//! replay wrote attributed to the input frame that caused it.
//!
//! The replay writes, per input frame in order, the frames the pipeline
//! emitted (ICMP errors, fragments) and then the forwarded frame, each into
//! its port's capture; the trace says how many went where, so reading the
//! port captures back in step gives each input frame its outputs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::daemon::ferroute_bin;
use super::rewrite::read_capture;
use super::run_bounded;

/// What the offline pipeline did with one input frame.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// "forward" | "fragmented" | "local" | "drop".
    pub verdict: String,
    pub reason: Option<String>,
    /// Transmitted frames, in order: (port name, bytes).
    pub sent: Vec<(String, Vec<u8>)>,
}

impl Outcome {
    /// `forward`, `drop ttl_expired`, ...
    pub fn label(&self) -> String {
        match &self.reason {
            Some(r) => format!("{} {r}", self.verdict),
            None => self.verdict.clone(),
        }
    }
}

/// The replay's report: per-frame outcomes and the counters.
#[derive(Debug)]
pub struct Replay {
    pub outcomes: Vec<Outcome>,
    pub counters: Value,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Replays `input` (arriving on p0) with `config`, writing into `dir`.
pub fn replay(config: &Path, input: &Path, dir: &Path) -> Replay {
    let out_dir = dir.join("replay-out");
    let mut c = Command::new(ferroute_bin());
    c.arg("replay")
        .arg("--config")
        .arg(config)
        .arg("--input")
        .arg(format!("p0={}", input.display()))
        .arg("--output-dir")
        .arg(&out_dir)
        .args(["--json", "--trace"]);
    let done = run_bounded(c, dir, Duration::from_secs(120));
    assert!(done.status.success(), "ferroute replay: {}", done.text());
    let report: Value = serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("replay output is not JSON ({e}): {}", done.stdout));

    let mut port_frames: BTreeMap<String, std::vec::IntoIter<Vec<u8>>> = BTreeMap::new();
    for port in report["ports"].as_array().expect("ports") {
        let name = text(port, "name").expect("port name").to_string();
        let output = out_dir.join(format!("{name}.pcap"));
        port_frames.insert(name, read_capture(&output).into_iter());
    }
    let mut take = |port: &str| -> Vec<u8> {
        port_frames
            .get_mut(port)
            .and_then(Iterator::next)
            .unwrap_or_else(|| panic!("replay's {port}.pcap has fewer frames than its trace says"))
    };
    let mut outcomes = Vec::new();
    for f in report["frames"].as_array().expect("frames (--trace)") {
        let verdict = text(f, "verdict").expect("verdict").to_string();
        let mut sent = Vec::new();
        for e in f["emitted"].as_array().expect("emitted") {
            let port = text(e, "port").expect("emitted port");
            sent.push((port.to_string(), take(port)));
        }
        if verdict == "forward" {
            let port = text(f, "egress").expect("egress of a forwarded frame");
            sent.push((port.to_string(), take(port)));
        }
        outcomes.push(Outcome {
            verdict,
            reason: text(f, "reason").map(str::to_string),
            sent,
        });
    }
    for (port, mut rest) in port_frames {
        assert!(
            rest.next().is_none(),
            "replay's {port}.pcap has more frames than its trace says"
        );
    }
    Replay {
        outcomes,
        counters: report["counters"].clone(),
    }
}
