//! What the live BGP tests (`lab_bgp.rs`, `lab_bgp_policy.rs`) share:
//! asking the running ferroute about its sessions and routes, and
//! reloading it.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::daemon::{ferroute_bin, Daemon};
use super::{run_bounded, Host, Lab, COMMAND_LIMIT};

/// Longest a session may take to come up or a route to move (BIRD and FRR
/// answer in well under a second; the bound is for a loaded machine and
/// ferroute's 5 s connect retry when it started before the peer listened).
pub const LIMIT: Duration = Duration::from_secs(40);

/// `ferroute show ARGS --json` against the daemon.
pub fn show(lab: &Lab, daemon: &Daemon, args: &[&str]) -> Result<Value, String> {
    let mut c = Command::new(ferroute_bin());
    c.arg("show")
        .args(args)
        .args(["--json", "--socket"])
        .arg(&daemon.socket);
    let done = run_bounded(c, &lab.dir, COMMAND_LIMIT);
    if !done.status.success() {
        return Err(done.text());
    }
    serde_json::from_str(&done.stdout).map_err(|e| format!("{e}: {}", done.stdout))
}

/// `show bgp neighbors` for the peer at `address` (`Null` if none).
pub fn neighbor(lab: &Lab, daemon: &Daemon, address: &str) -> Value {
    show(lab, daemon, &["bgp", "neighbors"])
        .ok()
        .and_then(|v| {
            v["peers"]
                .as_array()?
                .iter()
                .find(|p| p["address"] == address)
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// `ferroute reload`; panics if it fails.
pub fn reload(lab: &Lab, daemon: &Daemon) {
    let mut c = Command::new(ferroute_bin());
    c.args(["reload", "--socket"]).arg(&daemon.socket);
    let done = run_bounded(c, &lab.dir, COMMAND_LIMIT);
    assert!(done.status.success(), "ferroute reload: {}", done.text());
}

/// Whether host A's ping of `address` is answered (through ferroute).
pub fn ping(lab: &Lab, address: &str) -> bool {
    lab.run(Host::A, "ping", &["-c", "1", "-W", "1", address])
        .status
        .success()
}
