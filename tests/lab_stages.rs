//! Issue 15's features live in the veth lab (scripts/lab), through
//! `ferroute run`: discard routes, uRPF strict, an ACL rejecting with ICMP
//! while other flows pass, and Record Route (`ping -R`) showing the router.
//!
//! One lab for all of it (building one is the slow part). Needs root
//! (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use serde_json::Value;
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::{require_root, Finished, Host, Lab};

/// The lab's routers plus the stages: on p0 (towards A) an ACL rejecting
/// TCP to port 22; on p1 (towards B) uRPF strict; a blackhole and a
/// prohibit route.
const STAGES: &str = r#"
[[route]]
prefix = "198.51.100.0/24"
action = "blackhole"

[[route]]
prefix = "198.51.101.0/24"
action = "prohibit"

[[acl]]
name = "no-ssh"

[[acl.rule]]
action = "reject"
protocol = "tcp"
destination_port = 22
"#;

/// A TCP connection from A to B's `port`, tried once: the error text, if any.
fn connect(lab: &Lab, port: u16) -> String {
    let script = format!(
        "import socket\ntry:\n    socket.create_connection(('203.0.113.2', {port}), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print(e)"
    );
    lab.run(Host::A, "python3", &["-c", &script]).stdout
}

fn drops(stats: &Value, reason: &str) -> u64 {
    stats["counters"]["drops"][reason].as_u64().unwrap_or(0)
}

fn ping(lab: &Lab, from: Host, args: &[&str]) -> Finished {
    lab.run(from, "ping", args)
}

#[test]
fn discard_routes_urpf_acl_and_record_route_live() {
    if !require_root("lab stages") {
        return;
    }
    let lab = Lab::up();
    let base = RouterConfig::default().toml();
    let with_stages = base
        .replacen(
            "addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\n",
            "addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\nacl_in = \"no-ssh\"\n",
            1,
        )
        .replacen(
            "addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]\n",
            "addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]\nurpf = \"strict\"\n",
            1,
        );
    assert_ne!(with_stages, base);
    let config = lab.dir.join("stages.toml");
    std::fs::write(&config, format!("{with_stages}{STAGES}")).unwrap();
    let daemon = Daemon::start(&lab, &config);

    // Legitimate traffic both ways, IPv4 and (from B) IPv6.
    for (from, to) in [
        (Host::A, "203.0.113.2"),
        (Host::B, "192.0.2.10"),
        (Host::B, "2001:db8::10"),
    ] {
        let done = ping(&lab, from, &["-n", "-c", "2", "-i", "0.2", "-w", "10", to]);
        assert!(done.status.success(), "ping {to}: {}", done.text());
    }
    // The ACL on p0 rejects TCP to port 22 with ICMP administratively
    // prohibited (Linux reports "No route to host"); other TCP flows pass
    // (B's kernel refuses a closed port itself).
    let ssh = connect(&lab, 22);
    assert!(ssh.contains("No route to host"), "port 22: {ssh}");
    let other = connect(&lab, 2222);
    assert!(other.contains("Connection refused"), "port 2222: {other}");
    // A blackhole is silent; a prohibit route answers from the router.
    let done = ping(
        &lab,
        Host::A,
        &["-n", "-c", "2", "-i", "0.2", "-w", "3", "198.51.100.1"],
    );
    assert!(
        !done.status.success() && !done.stdout.contains("From"),
        "{}",
        done.text()
    );
    let done = ping(&lab, Host::A, &["-n", "-c", "1", "-w", "3", "198.51.101.1"]);
    assert!(
        done.stdout.contains("From 192.0.2.1") && done.stdout.contains("Packet filtered"),
        "{}",
        done.text()
    );
    // A source B does not own by any route through p1: uRPF strict drops it.
    lab.ip(Host::B, &["addr", "add", "10.66.0.1/32", "dev", "b0"]);
    let done = ping(
        &lab,
        Host::B,
        &[
            "-n",
            "-c",
            "2",
            "-i",
            "0.2",
            "-w",
            "3",
            "-I",
            "10.66.0.1",
            "192.0.2.10",
        ],
    );
    assert!(!done.status.success(), "{}", done.text());
    // Record Route: the router's address towards B on the way out, and
    // towards A on the way back.
    let done = ping(
        &lab,
        Host::A,
        &["-n", "-R", "-c", "1", "-w", "5", "203.0.113.2"],
    );
    assert!(done.status.success(), "{}", done.text());
    let rr = done.stdout.split("RR:").nth(1).unwrap_or_default();
    assert!(
        rr.contains("203.0.113.1") && rr.contains("192.0.2.1"),
        "{}",
        done.text()
    );

    let stats = daemon.stats_cli();
    assert!(drops(&stats, "acl_in_reject") >= 1, "{stats}");
    assert!(drops(&stats, "blackhole_route") >= 2, "{stats}");
    assert!(drops(&stats, "prohibit_route") >= 1, "{stats}");
    assert!(drops(&stats, "urpf_strict") >= 2, "{stats}");
    assert!(
        stats["counters"]["options"]["record_route"]
            .as_u64()
            .unwrap_or(0)
            >= 2,
        "{stats}"
    );
    let ports = stats["stages"]["ports"]
        .as_array()
        .expect("stage counters per port");
    assert_eq!(ports[1]["name"], "p1");
    assert_eq!(ports[1]["urpf_dropped"], drops(&stats, "urpf_strict"));
    assert_eq!(ports[0]["acl_in_dropped"], drops(&stats, "acl_in_reject"));
    let hits = &stats["stages"]["acl"][0];
    assert_eq!(hits["rules"][0], drops(&stats, "acl_in_reject"));
    assert!(hits["default"].as_u64().unwrap_or(0) >= 4, "{stats}");
    daemon.stop_cleanly(&lab);
}
