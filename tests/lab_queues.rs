//! Two workers on two-queue veths (worker q serves receive queue q of
//! every port): every queue is served, and each flow's datagrams leave in
//! the order they came. Host A sends numbered datagrams on 32 UDP flows,
//! one socket each (the kernel picks a socket's transmit queue by its
//! hash, and a veth hands a frame to the peer's receive queue of the same
//! number, so the flows spread over both of the router's queues); host B
//! must receive every datagram of every flow in sequence, and
//! `ferroute stats` must show both workers forwarding, with shares that
//! add up to the total. Needs root (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::daemon::Daemon;
use support::{poll_until, require_root, Host, Lab};

const FLOWS: u32 = 32;
const PER_FLOW: u32 = 200;
const PORT: u16 = 7000;

/// B's receiver: prints `ready` once bound, then, when it has every
/// datagram or heard nothing for 5 s, one line per flow (source port)
/// with the sequence numbers in arrival order.
const RECEIVER: &str = r#"
import socket, sys
expected = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("203.0.113.2", int(sys.argv[2])))
s.settimeout(5)
print("ready", flush=True)
flows, n = {}, 0
while n < expected:
    try:
        data, (_, port) = s.recvfrom(2048)
    except socket.timeout:
        break
    flows.setdefault(port, []).append(int(data.split(b" ")[1]))
    n += 1
for port in sorted(flows):
    print(port, " ".join(map(str, flows[port])))
"#;

/// A's sender: `flows` sockets on source ports 41000.., each datagram
/// "PORT SEQ", round robin over the flows, a pause every 64 datagrams so
/// that no ring overflows on this small VM (the test is about order and
/// spread, not speed).
const SENDER: &str = r#"
import socket, sys, time
flows, per_flow, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.0.2.10", 41000 + i))
    s.connect(("203.0.113.2", port))
    socks.append(s)
sent = 0
for seq in range(per_flow):
    for i, s in enumerate(socks):
        s.send(b"%d %d" % (41000 + i, seq))
        sent += 1
        if sent % 64 == 0:
            time.sleep(0.002)
print(sent)
"#;

/// Kills the receiver (by its PID) if the test fails before it exits.
struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[k]).as_u64().unwrap_or(0)
}

#[test]
fn two_workers_serve_both_queues_and_keep_each_flow_in_order() {
    if !require_root("lab queues, 2 workers") {
        return;
    }
    let lab = Lab::up_with_queues(2);
    let daemon = Daemon::start_with(&lab, &lab.script_config(), &["--workers", "2"]);
    // Before the datagrams: A and B learn the router's MACs (ARP), so the
    // first datagram of a flow is not held or dropped for it.
    for (from, to) in [(Host::A, "203.0.113.2"), (Host::B, "192.0.2.10")] {
        let ping = lab.run(from, "ping", &["-n", "-c", "1", "-w", "10", to]);
        assert!(ping.status.success(), "ping {to}: {}", ping.text());
    }
    let total = FLOWS * PER_FLOW;
    let mut receiver = Receiver(
        lab.command(
            Host::B,
            "python3",
            &["-c", RECEIVER, &total.to_string(), &PORT.to_string()],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 receiver"),
    );
    let mut out = BufReader::new(receiver.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("receiver output");
    assert_eq!(line.trim(), "ready", "the receiver did not start");

    let sent = lab.run(
        Host::A,
        "python3",
        &[
            "-c",
            SENDER,
            &FLOWS.to_string(),
            &PER_FLOW.to_string(),
            &PORT.to_string(),
        ],
    );
    assert!(sent.status.success(), "sender: {}", sent.text());
    assert_eq!(sent.stdout.trim(), total.to_string());

    // The receiver exits once it has them all (or after 5 s of silence).
    let mut report = String::new();
    out.read_to_string(&mut report).expect("receiver report");
    let mut received = 0;
    for line in report.lines() {
        let mut words = line.split_whitespace();
        let port = words.next().expect("port");
        let seqs: Vec<u32> = words.map(|w| w.parse().expect("sequence")).collect();
        assert_eq!(
            seqs,
            (0..PER_FLOW).collect::<Vec<_>>(),
            "flow from port {port}: lost or out of order"
        );
        received += seqs.len() as u32;
    }
    assert_eq!(received, total, "datagrams received: {report}");

    // Both workers took part, and their shares add up to the total.
    let mut stats = Value::Null;
    let counted = poll_until(Duration::from_secs(5), || {
        stats = daemon.stats().expect("stats");
        n(&stats, &["counters", "forwarded"]) >= u64::from(total)
    });
    assert!(counted, "forwarded fewer than {total}: {stats}");
    let shares = stats["per_worker"].as_array().expect("per_worker").clone();
    assert_eq!(shares.len(), 2, "{stats}");
    for (q, share) in shares.iter().enumerate() {
        // Each queue carries some of the 32 flows (all on one queue: a
        // chance of 2^-31 with the kernel's random socket hashes).
        assert!(
            n(share, &["forwarded"]) >= u64::from(PER_FLOW),
            "worker {q} forwarded less than one flow: {stats}"
        );
    }
    println!("per worker: {}", stats["per_worker"]);
    for field in ["rx_frames", "forwarded"] {
        let sum: u64 = shares.iter().map(|s| n(s, &[field])).sum();
        assert_eq!(sum, n(&stats, &["counters", field]), "{field}: {stats}");
    }
    daemon.stop_cleanly(&lab);
}
