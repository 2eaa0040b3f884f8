//! iperf3 between the lab's hosts: a server on B, clients on A.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{poll_until, Host, Lab};

/// An iperf3 server on B for one test (or any child process: the field is
/// public), killed on drop if still running.
pub struct Server(pub Child);

impl Server {
    pub fn start(lab: &Lab, port: u16) -> Server {
        let p = port.to_string();
        let child = lab
            .command(Host::B, "iperf3", &["-s", "-1", "-p", &p])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start iperf3 -s");
        let filter = format!("sport = :{port}");
        let up = poll_until(Duration::from_secs(10), || {
            !lab.run(Host::B, "ss", &["-Hltn", &filter])
                .stdout
                .trim()
                .is_empty()
        });
        assert!(up, "iperf3 server on port {port} did not listen");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs an iperf3 client from A to B (JSON result).
pub fn iperf(lab: &Lab, port: u16, args: &[&str]) -> Value {
    let p = port.to_string();
    let mut all = vec!["-c", "203.0.113.2", "-p", &p, "-J"];
    all.extend_from_slice(args);
    let done = lab.run(Host::A, "iperf3", &all);
    assert!(done.status.success(), "iperf3 {all:?}: {}", done.text());
    serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("iperf3 JSON ({e}): {}", done.stdout))
}
