//! Issue 15's features live in the veth lab (scripts/lab), through
//! `ferroute run`: discard routes, uRPF strict, an ACL rejecting with ICMP
//! while other flows pass (each for IPv4, then IPv6), and Record Route
//! (`ping -R`) showing the router; then `ferroute reload` changing the ACL
//! and turning uRPF on for p0 without a restart (`show acl` counts before
//! and after), and an invalid reload refused with the running ACL still
//! acting.
//!
//! One lab for all of it (building one is the slow part). Needs root
//! (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use serde_json::Value;
use std::time::Duration;

use support::bgp::{ferroute, show};
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::{poll_until, require_root, Finished, Host, Lab};

/// The lab's routers plus the stages: on p0 (towards A) an ACL rejecting
/// TCP to port 22; on p1 (towards B) uRPF strict; a blackhole and a
/// prohibit route per family.
const STAGES: &str = r#"
[[route]]
prefix = "198.51.100.0/24"
action = "blackhole"

[[route]]
prefix = "198.51.101.0/24"
action = "prohibit"

[[route]]
prefix = "2001:db8:100::/48"
action = "blackhole"

[[route]]
prefix = "2001:db8:101::/48"
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
    connect_to(lab, "203.0.113.2", port)
}

/// A TCP connection from A to `address` (one of B's), tried once.
fn connect_to(lab: &Lab, address: &str, port: u16) -> String {
    let script = format!(
        "import socket\ntry:\n    socket.create_connection(('{address}', {port}), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print(e)"
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

    // Legitimate traffic both ways, IPv4 and IPv6.
    for (from, to) in [
        (Host::A, "203.0.113.2"),
        (Host::B, "192.0.2.10"),
        (Host::A, "2001:db8:1::2"),
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

    ipv6_through_the_stages(&lab, &daemon, &stats);
    reload_swaps_the_acl_and_urpf(&lab, &daemon, &config, &with_stages);
    daemon.stop_cleanly(&lab);
}

/// Counter `path` (a JSON pointer) of `after` minus that of `before`.
fn delta(before: &Value, after: &Value, path: &str) -> u64 {
    let at = |v: &Value| v.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    at(after).saturating_sub(at(before))
}

/// Waits (bounded) until each counter `(path, n)` has risen by `n` since
/// `before`, then checks it rose by exactly `n`: a worker publishes its
/// counts after the pass that sent its frames, so a reply can arrive
/// before the count does. Returns the stats it ended on.
fn risen_by(daemon: &Daemon, before: &Value, rises: &[(&str, u64)]) -> Value {
    let mut now = Value::Null;
    poll_until(Duration::from_secs(10), || {
        now = daemon.stats_cli();
        rises
            .iter()
            .all(|(path, n)| delta(before, &now, path) >= *n)
    });
    for (path, n) in rises {
        assert_eq!(delta(before, &now, path), *n, "{path}: {now}");
    }
    now
}

/// `ping -6` sending exactly two echo requests (`-c 2`, no deadline) and
/// waiting little for answers: where none come, the counters tell.
const PING6_TWO: [&str; 8] = ["-6", "-n", "-c", "2", "-i", "0.2", "-W", "0.2"];

const URPF_STRICT: &str = "/counters/drops/urpf_strict";

/// The same stages for IPv6, counted from `before` (the stats after the
/// IPv4 checks): uRPF strict on p1, the ACL on p0, the discard routes.
fn ipv6_through_the_stages(lab: &Lab, daemon: &Daemon, before: &Value) {
    // uRPF strict on p1: B pings A from a source routed through p0 (in A's
    // prefix; loose mode would pass it), then from one no route covers.
    // A's answers could not get back either, so the count is what tells.
    let mut last = before.clone();
    for source in ["2001:db8::66", "2001:db8:66::1"] {
        let address = format!("{source}/128");
        lab.ip(Host::B, &["addr", "add", &address, "dev", "b0", "nodad"]);
        let args = [&PING6_TWO[..], &["-I", source, "2001:db8::10"]].concat();
        let done = ping(lab, Host::B, &args);
        assert!(!done.status.success(), "from {source}: {}", done.text());
        let rises = [(URPF_STRICT, 2), ("/stages/ports/1/urpf_dropped", 2)];
        last = risen_by(daemon, &last, &rises);
    }
    // The ACL on p0 rejects TCP to port 22 with ICMPv6 administratively
    // prohibited (1/1), which Linux reports as EACCES; other ports pass.
    let ssh = connect_to(lab, "2001:db8:1::2", 22);
    assert!(ssh.contains("Permission denied"), "port 22: {ssh}");
    let other = connect_to(lab, "2001:db8:1::2", 2222);
    assert!(other.contains("Connection refused"), "port 2222: {other}");
    // A blackhole is silent; a prohibit route answers from the router.
    let done = ping(
        lab,
        Host::A,
        &[&PING6_TWO[..], &["2001:db8:100::1"]].concat(),
    );
    assert!(
        !done.status.success() && !done.stdout.contains("From"),
        "{}",
        done.text()
    );
    let args = ["-6", "-n", "-c", "1", "-W", "3", "2001:db8:101::1"];
    let done = ping(lab, Host::A, &args);
    assert!(
        done.stdout.contains("From 2001:db8::1")
            && done.stdout.contains("Administratively prohibited"),
        "{}",
        done.text()
    );
    risen_by(
        daemon,
        &last,
        &[
            ("/counters/drops/acl_in_reject", 1),
            ("/stages/ports/0/acl_in_dropped", 1),
            ("/stages/acl/0/rules/0", 1),
            ("/counters/drops/blackhole_route", 2),
            ("/counters/drops/prohibit_route", 1),
            (URPF_STRICT, 0),
        ],
    );
}

/// `show acl no-ssh --json`.
fn show_acl(lab: &Lab, daemon: &Daemon) -> Value {
    show(lab, daemon, &["acl", "no-ssh"]).unwrap_or_else(|e| panic!("show acl: {e}"))
}

/// Pings B from A with a source no route leads to through p0.
fn spoofed_ping(lab: &Lab) {
    let args = ["-n", "-c", "2", "-i", "0.2", "-w", "2", "-I", "10.77.0.1"];
    let done = ping(lab, Host::A, &[&args[..], &["203.0.113.2"]].concat());
    assert!(!done.status.success(), "no route back: {}", done.text());
}

fn urpf_dropped_on_p0(daemon: &Daemon) -> u64 {
    let stats = daemon.stats_cli();
    stats["stages"]["ports"][0]["urpf_dropped"]
        .as_u64()
        .unwrap_or_else(|| panic!("{stats}"))
}

/// The running router (no-ssh rejecting port 22 on p0, uRPF only on p1)
/// reloads a config where no-ssh rejects port 2222 instead and p0 runs
/// uRPF strict; then a config with an invalid rule, which is refused.
fn reload_swaps_the_acl_and_urpf(
    lab: &Lab,
    daemon: &Daemon,
    config: &std::path::Path,
    ports: &str,
) {
    let before = show_acl(lab, daemon);
    assert_eq!(before["version"], before["workers_version"], "{before}");
    let version = before["version"].as_u64().unwrap();
    let rule = &before["acl"][0]["rules"][0];
    assert_eq!(rule["destination_port"], "22", "{before}");
    assert!(rule["hits"].as_u64().unwrap() >= 1, "{before}");
    assert_eq!(
        before["acl"][0]["used_by"],
        serde_json::json!([{"port": "p0", "direction": "in"}])
    );
    lab.ip(Host::A, &["addr", "add", "10.77.0.1/32", "dev", "a0"]);
    spoofed_ping(lab);
    assert_eq!(urpf_dropped_on_p0(daemon), 0, "p0 runs no uRPF yet");

    let edited = ports.replacen(
        "acl_in = \"no-ssh\"\n",
        "acl_in = \"no-ssh\"\nurpf = \"strict\"\n",
        1,
    );
    assert_ne!(edited, ports);
    let rules = STAGES.replace("destination_port = 22", "destination_port = 2222");
    std::fs::write(config, format!("{edited}{rules}")).unwrap();
    let done = ferroute(lab, daemon, &["reload"]);
    assert!(done.status.success(), "reload: {}", done.text());
    assert!(
        done.stdout.contains(&format!(
            "stages and ACLs: version {} (changed, counts from zero: no-ssh)",
            version + 1
        )) && !done.stdout.contains("not applied"),
        "{}",
        done.text()
    );
    // Every worker takes the new table at its next pass (idle ones within
    // their 10 ms sleep).
    let mut after = Value::Null;
    let taken = poll_until(Duration::from_secs(10), || {
        after = show_acl(lab, daemon);
        after["workers_version"] == version + 1
    });
    assert!(taken, "workers did not take the reload: {after}");
    let rule = &after["acl"][0]["rules"][0];
    assert_eq!(
        (&rule["destination_port"], &rule["hits"]),
        (&"2222".into(), &0.into()),
        "{after}"
    );
    // Port 22 passes now (B's kernel refuses it), 2222 is rejected.
    let ssh = connect(lab, 22);
    assert!(
        ssh.contains("Connection refused"),
        "port 22 after reload: {ssh}"
    );
    let other = connect(lab, 2222);
    assert!(
        other.contains("No route to host"),
        "port 2222 after reload: {other}"
    );
    assert_eq!(show_acl(lab, daemon)["acl"][0]["rules"][0]["hits"], 1);
    spoofed_ping(lab);
    assert!(
        urpf_dropped_on_p0(daemon) >= 2,
        "uRPF strict on p0 after reload"
    );

    // An invalid list is refused as a whole: the running one still acts.
    let invalid = rules.replace("action = \"reject\"", "action = \"drop\"");
    std::fs::write(config, format!("{ports}{invalid}")).unwrap();
    let done = ferroute(lab, daemon, &["reload"]);
    assert!(
        !done.status.success(),
        "invalid reload accepted: {}",
        done.text()
    );
    assert!(done.stderr.contains("action"), "{}", done.text());
    let kept = show_acl(lab, daemon);
    assert_eq!(kept["version"], version + 1, "{kept}");
    let other = connect(lab, 2222);
    assert!(
        other.contains("No route to host"),
        "port 2222 after refused reload: {other}"
    );
    assert_eq!(show_acl(lab, daemon)["acl"][0]["rules"][0]["hits"], 2);
}
