//! What the live BGP tests (`lab_bgp.rs`, `lab_bgp_ops.rs`,
//! `lab_bgp_policy.rs`) share: the
//! router's configuration with B as a peer, `ferroute show`/`bgp` against
//! the daemon, the session's state, whether a route was learned, and host
//! A's pings through ferroute, reloading it.
//!
//! ```text
//!   R (ferroute, AS 65000)  p1 203.0.113.1  <-- eBGP -->  203.0.113.2  B (daemon)
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::config::RouterConfig;
use super::daemon::{ferroute_bin, Daemon};
use super::{run_bounded, Finished, Host, Lab, COMMAND_LIMIT};

/// Longest a session may take to come up or a route to move (BIRD and FRR
/// answer in well under a second; the bound is for a loaded machine and
/// ferroute's 5 s connect retry when it started before the peer listened).
pub const LIMIT: Duration = Duration::from_secs(40);

/// What B announces, and B's address on p1's link.
pub const B_PREFIX: &str = "198.51.100.0/24";
pub const PEER: &str = "203.0.113.2";

/// The lab router's configuration plus `[bgp]` with B as an eBGP peer
/// (`extra` goes into its `[[bgp.peer]]`), written to `dir`.
pub fn router_config_with(dir: &Path, remote_as: u32, extra: &str) -> PathBuf {
    let mut config = RouterConfig::default().toml();
    config.push_str(&format!(
        "\n[bgp]\nlocal_as = 65000\nredistribute = [\"connected\"]\n\n\
         [[bgp.peer]]\naddress = \"{PEER}\"\nremote_as = {remote_as}\n\
         import = \"all\"\nexport = \"all\"\nhold_time = 9\n{extra}"
    ));
    let path = dir.join("router-bgp.toml");
    std::fs::write(&path, config).unwrap();
    path
}

pub fn router_config(dir: &Path, remote_as: u32) -> PathBuf {
    router_config_with(dir, remote_as, "")
}

/// `ferroute ARGS --socket S` against the daemon, bounded.
pub fn ferroute(lab: &Lab, daemon: &Daemon, args: &[&str]) -> Finished {
    let mut c = Command::new(ferroute_bin());
    c.args(args).arg("--socket").arg(&daemon.socket);
    run_bounded(c, &lab.dir, COMMAND_LIMIT)
}

/// `ferroute show ARGS --json` against the daemon.
pub fn show(lab: &Lab, daemon: &Daemon, args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["show"];
    all.extend_from_slice(args);
    all.push("--json");
    let done = ferroute(lab, daemon, &all);
    if !done.status.success() {
        return Err(done.text());
    }
    serde_json::from_str(&done.stdout).map_err(|e| format!("{e}: {}", done.stdout))
}

/// `show bgp neighbors ADDRESS --json`'s entry for `address`.
pub fn neighbor(lab: &Lab, daemon: &Daemon, address: &str) -> Value {
    show(lab, daemon, &["bgp", "neighbors", address])
        .map(|mut v| v["peers"][0].take())
        .unwrap_or_default()
}

/// The first session's state and how often it was established.
pub fn session(lab: &Lab, daemon: &Daemon) -> (String, u64) {
    let Ok(v) = show(lab, daemon, &["bgp", "neighbors"]) else {
        return (String::new(), 0);
    };
    let p = &v["peers"][0];
    (
        p["state"].as_str().unwrap_or_default().to_string(),
        p["stats"]["established"].as_u64().unwrap_or(0),
    )
}

/// Whether the RIB's route for `prefix` is an eBGP route via `via`.
pub fn learned_via(lab: &Lab, daemon: &Daemon, prefix: &str, via: &str) -> bool {
    show(lab, daemon, &["routes", prefix]).is_ok_and(|v| {
        let text = v.to_string();
        text.contains("ebgp") && text.contains(via)
    })
}

/// Whether the RIB's route for `prefix` is an eBGP route via B.
pub fn learned(lab: &Lab, daemon: &Daemon, prefix: &str) -> bool {
    learned_via(lab, daemon, prefix, PEER)
}

/// Whether host A's ping of `address` is answered (through ferroute).
pub fn ping(lab: &Lab, address: &str) -> bool {
    lab.run(Host::A, "ping", &["-c", "1", "-W", "1", address])
        .status
        .success()
}

/// A kernel TCP counter of `host`'s namespace (`nstat`, absolute, history
/// untouched): `TcpExtTCPMD5Failure`, `TcpExtTCPMinTTLDrop`, ...
pub fn kernel_counter(lab: &Lab, host: Host, name: &str) -> u64 {
    let done = lab.run(host, "nstat", &["-saz", name]);
    done.stdout
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// `ferroute reload`; panics if it fails.
pub fn reload(lab: &Lab, daemon: &Daemon) {
    let done = ferroute(lab, daemon, &["reload"]);
    assert!(done.status.success(), "ferroute reload: {}", done.text());
}
