//! Output queueing with real Linux TCP through `ferroute run` in the veth
//! lab: port p1 (towards host B) is shaped below what the hosts can send, so
//! the router's queues, not a kernel buffer, decide who sends and who is
//! marked or dropped.
//!
//! Linux serves as the traffic source and the judge of ECN: the receiver's
//! `IpExtInCEPkts` counts every CE-marked packet that arrived. Senders use
//! Reno (this kernel's default BBR ignores CE). There is no qdisc to compare
//! against (no fq_codel/codel/drr/netem in this kernel), so the tests
//! measure against the goals: marks reach the receiver, ECN-less flows see
//! drops, flows share fairly, a flood in one class does not starve another,
//! and a ping does not wait behind the bulk traffic.
//!
//! Each test has its own lab and lasts a few seconds of traffic. Needs root
//! (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::iperf::{iperf, Server};
use support::{poll_until, require_root, Host, Lab};

/// Shaped rate of p1 in the tests: far below what veth carries, so the
/// queue builds at the router.
const RATE: &str = "20mbit";
const RATE_BYTES: f64 = 2_500_000.0;

/// Writes a config whose p1 carries `qos` (keys, then `[[port.class]]`
/// tables) and starts the daemon.
fn start(lab: &Lab, qos: &str) -> Daemon {
    start_with(lab, "", qos)
}

/// [`start`] with `router` added to the `[router]` table.
fn start_with(lab: &Lab, router: &str, qos: &str) -> Daemon {
    let base = RouterConfig::default().toml();
    let id = "id = \"192.0.2.1\"\n";
    assert!(base.contains(id), "lab config changed: {base}");
    let base = base.replacen(id, &format!("{id}{router}"), 1);
    let anchor = "addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]\n";
    assert!(base.contains(anchor), "lab config changed: {base}");
    let text = base.replacen(anchor, &format!("{anchor}{qos}\n"), 1);
    let path = lab.dir.join("qos.toml");
    std::fs::write(&path, text).expect("write config");
    Daemon::start(lab, &path)
}

fn sysctl(lab: &Lab, host: Host, setting: &str) {
    let done = lab.run(host, "sysctl", &["-q", "-w", setting]);
    assert!(done.status.success(), "sysctl {setting}: {}", done.text());
}

/// Sender and receiver settings: Reno on both, ECN negotiated or not.
fn tcp_setup(lab: &Lab, ecn: bool) {
    let ecn = if ecn { "1" } else { "0" };
    for host in [Host::A, Host::B] {
        sysctl(lab, host, &format!("net.ipv4.tcp_ecn={ecn}"));
        sysctl(lab, host, "net.ipv4.tcp_congestion_control=reno");
    }
}

/// `IpExtInCEPkts` of `host` (from /proc/net/netstat in its namespace).
fn ce_packets(lab: &Lab, host: Host) -> u64 {
    let done = lab.run(host, "cat", &["/proc/net/netstat"]);
    let lines: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("IpExt:"))
        .collect();
    assert_eq!(lines.len(), 2, "IpExt lines: {}", done.stdout);
    let names = lines[0].split_whitespace();
    let values = lines[1].split_whitespace();
    names
        .zip(values)
        .find(|(n, _)| *n == "InCEPkts")
        .and_then(|(_, v)| v.parse().ok())
        .expect("InCEPkts in /proc/net/netstat")
}

/// p1's queue counters (total over classes) from the daemon.
fn p1(daemon: &Daemon) -> Value {
    let stats = daemon.stats().expect("stats");
    stats["qos"]["ports"][1].clone()
}

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[k]).as_u64().unwrap_or(0)
}

fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * sq)
}

/// Bytes each stream delivered (receiver side).
fn stream_bytes(result: &Value) -> Vec<f64> {
    result["end"]["streams"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| s["receiver"]["bytes"].as_f64().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn ecn_tcp_through_a_shaped_port_gets_ce_marks_not_drops() {
    if !require_root("qos lab: ECN marks") {
        return;
    }
    let lab = Lab::up();
    let daemon = start(&lab, &format!("rate = \"{RATE}\"\nscheduler = \"drr\""));
    tcp_setup(&lab, true);
    let _server = Server::start(&lab, 5201);
    let ce_before = ce_packets(&lab, Host::B);
    let result = iperf(&lab, 5201, &["-t", "3", "-C", "reno"]);
    let ce = ce_packets(&lab, Host::B) - ce_before;
    // The workers publish their counters every 100 ms and when idle.
    let mut q = p1(&daemon);
    poll_until(Duration::from_secs(2), || {
        q = p1(&daemon);
        n(&q, &["total", "marks"]) >= ce
    });
    let (marks, aqm_drops) = (n(&q, &["total", "marks"]), n(&q, &["total", "aqm_drops"]));
    let rate = result["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 8.0;
    eprintln!(
        "ECN: {ce} CE packets at B, router marks {marks}, AQM drops {aqm_drops}, overflow {}, \
         goodput {:.2} MB/s, sojourn p50 {} p99 {} µs",
        n(&q, &["total", "overflow_drops"]),
        rate / 1e6,
        n(&q, &["sojourn_ns", "p50"]) / 1000,
        n(&q, &["sojourn_ns", "p99"]) / 1000
    );
    assert!(marks > 0, "CoDel marked nothing: {q}");
    // The operator sees the same through `ferroute stats`.
    let cli = daemon.stats_cli();
    let shown = &cli["qos"]["ports"][1];
    assert_eq!(shown["port"], "p1");
    assert_eq!(shown["scheduler"], "drr");
    assert_eq!(n(shown, &["rate"]), RATE_BYTES as u64);
    assert!(n(shown, &["total", "marks"]) >= marks);
    // Every mark the router made arrived (nothing else marks in the lab).
    assert_eq!(ce, marks, "CE packets at B vs marks at the router");
    // ECN-capable data is marked, not dropped (retransmissions are Not-ECT
    // in Linux, so a few drops may hit those).
    assert!(
        aqm_drops * 10 <= marks,
        "drops {aqm_drops} vs marks {marks}"
    );
    // The shaper's rate is the ceiling. On a dedicated core TCP gets close
    // to it; on a shared, loaded machine the worker thread is descheduled
    // for longer than the shaper's burst and the link idles, so only a
    // floor is asserted here (the measured goodput is printed above).
    assert!(rate > 0.2 * RATE_BYTES, "goodput {rate} B/s at {RATE}");
    daemon.stop_cleanly(&lab);
}

#[test]
fn ecn_less_tcp_sees_drops_instead() {
    if !require_root("qos lab: drops without ECN") {
        return;
    }
    let lab = Lab::up();
    let daemon = start(&lab, &format!("rate = \"{RATE}\""));
    tcp_setup(&lab, false);
    let _server = Server::start(&lab, 5201);
    let ce_before = ce_packets(&lab, Host::B);
    iperf(&lab, 5201, &["-t", "3", "-C", "reno"]);
    let ce = ce_packets(&lab, Host::B) - ce_before;
    let q = p1(&daemon);
    let (marks, aqm_drops) = (n(&q, &["total", "marks"]), n(&q, &["total", "aqm_drops"]));
    eprintln!("no ECN: {ce} CE at B, marks {marks}, AQM drops {aqm_drops}");
    assert_eq!(marks, 0);
    assert_eq!(ce, 0);
    assert!(aqm_drops > 0, "CoDel dropped nothing: {q}");
    daemon.stop_cleanly(&lab);
}

#[test]
fn parallel_tcp_flows_share_fairly() {
    if !require_root("qos lab: TCP fairness") {
        return;
    }
    let lab = Lab::up();
    let daemon = start(&lab, &format!("rate = \"{RATE}\""));
    tcp_setup(&lab, true);
    let _server = Server::start(&lab, 5201);
    let result = iperf(&lab, 5201, &["-t", "4", "-P", "4", "-C", "reno"]);
    let bytes = stream_bytes(&result);
    assert_eq!(bytes.len(), 4, "{result}");
    let j = jain(&bytes);
    eprintln!("4 TCP flows: bytes {bytes:?}, Jain {j:.4}");
    assert!(j >= 0.95, "Jain {j}: {bytes:?}");
    daemon.stop_cleanly(&lab);
}

#[test]
fn a_udp_flood_in_one_class_does_not_starve_tcp_in_another() {
    if !require_root("qos lab: UDP flood vs TCP") {
        return;
    }
    let lab = Lab::up();
    let daemon = start(
        &lab,
        &format!("rate = \"{RATE}\"\n\n[[port.class]]\nname = \"bulk\"\ndscp = [8]\nweight = 1\n"),
    );
    tcp_setup(&lab, true);
    let _udp_server = Server::start(&lab, 5202);
    let _tcp_server = Server::start(&lab, 5201);
    // The flood: 100 Mbit/s of UDP marked CS1 (DSCP 8, TOS 0x20), 5x the link.
    let flood = lab
        .command(
            Host::A,
            "iperf3",
            &[
                "-c",
                "203.0.113.2",
                "-p",
                "5202",
                "-u",
                "-b",
                "100M",
                "-t",
                "5",
                "-S",
                "0x20",
                "-l",
                "1400",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the UDP flood");
    let mut flood = Server(flood);
    let class_sent = |q: &Value, name: &str| {
        q["classes"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .map_or(0, |c| n(c, &["counters", "sent_bytes"]))
    };
    // Wait (bounded) until the flood has reached its class, then measure
    // both classes over the TCP transfer.
    let flooding = poll_until(Duration::from_secs(5), || {
        class_sent(&p1(&daemon), "bulk") > 100_000
    });
    assert!(
        flooding,
        "the flood never reached its class: {}",
        p1(&daemon)
    );
    let before = p1(&daemon);
    let result = iperf(&lab, 5201, &["-t", "3", "-C", "reno"]);
    let after = p1(&daemon);
    let tcp = class_sent(&after, "default") - class_sent(&before, "default");
    let udp = class_sent(&after, "bulk") - class_sent(&before, "bulk");
    let share = tcp as f64 / (tcp + udp).max(1) as f64;
    let goodput = result["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 8.0;
    eprintln!(
        "TCP beside a 5x UDP flood: {tcp} B vs UDP {udp} B on the link (TCP share {share:.3}), \
         TCP goodput {:.2} MB/s",
        goodput / 1e6
    );
    // Equal weights: TCP's fair share is half the link. Reno halving on
    // each signal keeps it a little below; starvation would be near 0.
    assert!(share > 0.35, "TCP starved: share {share}");
    let _ = flood.0.wait();
    drop(flood);
    daemon.stop_cleanly(&lab);
}

/// Round-trip times (ms) in ping's output, sorted.
fn ping_rtts(out: &str) -> Vec<f64> {
    let mut rtts: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect();
    rtts.sort_by(|a, b| a.total_cmp(b));
    rtts
}

/// The `q`-quantile of sorted, non-empty `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

/// One class of p1 by name.
fn class<'a>(q: &'a Value, name: &str) -> &'a Value {
    q["classes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no class {name} in {q}"))
}

#[test]
fn ping_latency_under_load_stays_near_target() {
    if !require_root("qos lab: ping under load") {
        return;
    }
    // CoDel's target plus one quantum (a 1514-byte frame) at 20 Mbit/s.
    const TARGET_PLUS_QUANTUM_MS: f64 = 5.0 + 1514.0 * 8.0 / 20e6 * 1e3;
    let lab = Lab::up();
    // Two pings run beside the bulk TCP: one in the bulk's own class (DRR++
    // serves it as a new, sparse flow) and one marked EF into a class of its
    // own, whose sojourn histogram at the router is the ping's alone. The
    // workers run SCHED_FIFO (`worker_priority`): this lab shares two cores
    // with compilers, and without it a worker woken by a ping waits for the
    // scheduler's next tick (4 ms) behind them (measured with perf sched).
    let daemon = start_with(
        &lab,
        "worker_priority = 10\n",
        &format!(
            "rate = \"{RATE}\"\n\n[[port.class]]\nname = \"interactive\"\ndscp = [46]\nweight = 1\n"
        ),
    );
    tcp_setup(&lab, true);
    let _server = Server::start(&lab, 5201);
    let load = lab
        .command(
            Host::A,
            "iperf3",
            &[
                "-c",
                "203.0.113.2",
                "-p",
                "5201",
                "-t",
                "6",
                "-P",
                "2",
                "-C",
                "reno",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the TCP load");
    let mut load = Server(load);
    // Let the load fill the queue (bounded poll on the router's counters).
    let loaded = poll_until(Duration::from_secs(5), || {
        n(&p1(&daemon), &["total", "sent"]) > 2000
    });
    assert!(loaded, "no load through p1");
    let ping = |tos: &'static str| {
        let lab = &lab;
        move || {
            lab.run(
                Host::A,
                "ping",
                &[
                    "-n",
                    "-c",
                    "100",
                    "-i",
                    "0.02",
                    "-W",
                    "1",
                    "-Q",
                    tos,
                    "203.0.113.2",
                ],
            )
        }
    };
    let (plain, marked) = std::thread::scope(|s| {
        let plain = s.spawn(ping("0"));
        let marked = s.spawn(ping("0xb8"));
        (
            plain.join().expect("ping thread"),
            marked.join().expect("ping thread"),
        )
    });
    let q = p1(&daemon);
    let stats = daemon.stats().expect("stats");
    let (bulk, interactive) = (class(&q, "default"), class(&q, "interactive"));
    let ms = |v: &Value, k: &str| n(v, &["sojourn_ns", k]) as f64 / 1e6;
    let (plain_rtt, marked_rtt) = (ping_rtts(&plain.stdout), ping_rtts(&marked.stdout));
    assert!(plain_rtt.len() >= 90, "ping lost replies: {}", plain.text());
    assert!(
        marked_rtt.len() >= 90,
        "EF ping lost replies: {}",
        marked.text()
    );
    let late = &stats["shaper_wake_late_ns"];
    eprintln!(
        "ping under load, RTT ms p50/p99/max: same class {:.2}/{:.2}/{:.2}, EF class \
         {:.2}/{:.2}/{:.2}; router sojourn ms p50/p99/max: EF ping {:.2}/{:.2}/{:.2} \
         ({} frames), bulk {:.2}/{:.2}/{:.2}; shaper wake-ups late µs p50 {} p99 {} max {}",
        quantile(&plain_rtt, 0.5),
        quantile(&plain_rtt, 0.99),
        quantile(&plain_rtt, 1.0),
        quantile(&marked_rtt, 0.5),
        quantile(&marked_rtt, 0.99),
        quantile(&marked_rtt, 1.0),
        ms(interactive, "p50"),
        ms(interactive, "p99"),
        ms(interactive, "max"),
        n(interactive, &["sojourn_ns", "samples"]),
        ms(bulk, "p50"),
        ms(bulk, "p99"),
        ms(bulk, "max"),
        n(late, &["p50"]) / 1000,
        n(late, &["p99"]) / 1000,
        n(late, &["max"]) / 1000,
    );
    // The bulk really queued: its frames waited (CoDel holds them near the
    // target), while the pings...
    assert!(ms(bulk, "p50") > 1.0, "no standing queue: {q}");
    // ...wait at most the target plus one quantum at the router: every echo
    // request of the EF ping (the replies come back through p0) ...
    assert!(
        n(interactive, &["sojourn_ns", "samples"]) >= 90,
        "EF pings not in their class: {q}"
    );
    // The worker itself can be kept off its core on a busy machine: the
    // latest of its shaper wake-ups (measured by the router) bounds what
    // that added, and is not the queueing's doing (one 7.9 ms stall made
    // the p99 of 96 pings 8.5 ms in a CI run on this 2-core machine).
    let stalled_ms = n(late, &["max"]) as f64 / 1e6;
    assert!(
        ms(interactive, "p99") <= TARGET_PLUS_QUANTUM_MS + stalled_ms,
        "EF ping sojourn p99 {} ms (worker stalls up to {stalled_ms} ms): {q}",
        ms(interactive, "p99")
    );
    // ...and typically end to end, in either class (a full buffer of 1024
    // frames would be 600 ms; the RTT's tail also holds the hosts' own
    // scheduling, so it is reported above, not asserted).
    for (what, rtt) in [("same class", &plain_rtt), ("EF class", &marked_rtt)] {
        let p50 = quantile(rtt, 0.5);
        assert!(
            p50 <= TARGET_PLUS_QUANTUM_MS,
            "{what} ping RTT p50 {p50} ms"
        );
    }
    let _ = load.0.wait();
    drop(load);
    daemon.stop_cleanly(&lab);
}
