//! Real kernel traffic through `ferroute run` in the veth lab (scripts/lab):
//! host A and host B ping, trace and talk TCP to each other across the
//! router, whose kernel does not forward (ip_forward off), so every transit
//! frame is ferroute's work; the router's own addresses are answered by its
//! kernel (the XDP program passes them). With a 1400-byte link towards B,
//! IPv4 is fragmented by the router and path-MTU discovery gets its ICMP.
//! Every test ends by stopping the daemon with SIGTERM, which must exit 0
//! and leave no XDP program behind.
//!
//! Each test builds its own lab (unique names), so they run in parallel
//! threads. Needs root (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::{require_root, Finished, Host, Lab};

/// Replies in a ping's summary line ("3 packets transmitted, 3 received").
fn received(ping: &Finished) -> u32 {
    ping.stdout
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn ping(lab: &Lab, from: Host, args: &[&str]) -> Finished {
    lab.run(from, "ping", args)
}

/// Pings `to` from `from` `count` times; every echo must come back.
///
/// `-w` bounds the whole run and makes ping wait for every reply: with `-W`
/// alone, once one reply has come ping waits only twice the longest RTT seen
/// for the rest, and on a loaded host a reply later than that (the worker
/// waiting for its core) counted as lost.
fn ping_all(lab: &Lab, from: Host, to: &str, count: u32) {
    let count_text = count.to_string();
    let done = ping(
        lab,
        from,
        &["-n", "-c", &count_text, "-i", "0.1", "-w", "10", to],
    );
    assert_eq!(
        received(&done),
        count,
        "ping {to} from {from:?}: {}",
        done.text()
    );
}

fn counter(stats: &Value, path: &[&str]) -> u64 {
    path.iter().fold(stats, |v, k| &v[k]).as_u64().unwrap_or(0)
}

fn dropped(stats: &Value, reason: &str) -> u64 {
    counter(stats, &["counters", "drops", reason])
}

#[test]
fn pings_cross_the_router_both_ways_and_stats_count_them() {
    if !require_root("lab pings") {
        return;
    }
    let lab = Lab::up();
    let daemon = Daemon::start(&lab, &lab.script_config());
    let count = 3;
    for (from, to) in [
        (Host::A, "203.0.113.2"),
        (Host::A, "2001:db8:1::2"),
        (Host::B, "192.0.2.10"),
        (Host::B, "2001:db8::10"),
    ] {
        ping_all(&lab, from, to, count);
    }
    // The operator's view: every echo request and reply crossed ferroute.
    let stats = daemon.stats_cli();
    let crossings = 4 * 2 * count as u64;
    let forwarded = counter(&stats, &["counters", "forwarded"]);
    assert!(
        forwarded >= crossings,
        "ferroute stats says {forwarded} forwarded, the pings made {crossings} crossings: {stats}"
    );
    assert!(counter(&stats, &["counters", "rx_frames"]) >= forwarded);
    assert_eq!(
        counter(&stats, &["counters", "dropped"]),
        0,
        "nothing should be dropped: {stats}"
    );
    assert!(counter(&stats, &["xdp", "redirected"]) >= crossings);
    assert!(
        counter(&stats, &["uptime_ms"]) > 0 && counter(&stats, &["workers"]) == 1,
        "{stats}"
    );
    let stopped = daemon.stop_cleanly(&lab);
    // Its last words count at least what the operator saw.
    let last: u64 = stopped
        .stdout
        .split("forwarded ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no forwarded count in: {}", stopped.stdout));
    assert!(last >= forwarded, "{}", stopped.stdout);
}

#[test]
fn the_routers_own_addresses_are_answered_by_its_kernel() {
    if !require_root("lab router addresses") {
        return;
    }
    let lab = Lab::up();
    let daemon = Daemon::start(&lab, &lab.script_config());
    let targets = [
        (Host::A, "192.0.2.1"),
        (Host::A, "2001:db8::1"),
        (Host::A, "203.0.113.1"),
        (Host::B, "203.0.113.1"),
        (Host::B, "2001:db8:1::1"),
        (Host::B, "2001:db8::1"),
    ];
    let count = 2;
    for (from, to) in targets {
        ping_all(&lab, from, to, count);
    }
    let stats = daemon.stats_cli();
    // None of it went through ferroute: the XDP program passed the
    // requests to the kernel, which answered.
    assert_eq!(counter(&stats, &["counters", "rx_frames"]), 0, "{stats}");
    assert_eq!(counter(&stats, &["local_in_worker"]), 0, "{stats}");
    let passed_local = counter(&stats, &["xdp", "passed_local"]);
    assert!(
        passed_local >= (targets.len() as u64) * count as u64,
        "XDP passed_local {passed_local}: {stats}"
    );
    daemon.stop_cleanly(&lab);
}

/// The line of hop `hop` in tracepath or traceroute output.
fn hop_line(output: &str, hop: u32) -> Vec<&str> {
    output
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.strip_prefix(&format!("{hop}:"))
                .or_else(|| l.strip_prefix(&format!("{hop} ")))
                .is_some()
        })
        .collect()
}

#[test]
fn tracepath_and_traceroute_show_the_router_as_hop_one() {
    if !require_root("lab traceroute") {
        return;
    }
    let lab = Lab::up();
    let daemon = Daemon::start(&lab, &lab.script_config());
    let runs: [(&str, &[&str], &str, &str); 4] = [
        (
            "tracepath",
            &["-n", "203.0.113.2"],
            "192.0.2.1",
            "203.0.113.2",
        ),
        (
            "tracepath",
            &["-6", "-n", "2001:db8:1::2"],
            "2001:db8::1",
            "2001:db8:1::2",
        ),
        (
            "traceroute",
            &["-n", "-q", "1", "-w", "2", "-m", "4", "203.0.113.2"],
            "192.0.2.1",
            "203.0.113.2",
        ),
        (
            "traceroute",
            &["-6", "-n", "-q", "1", "-w", "2", "-m", "4", "2001:db8:1::2"],
            "2001:db8::1",
            "2001:db8:1::2",
        ),
    ];
    for (tool, args, router, host_b) in runs {
        let done = lab.run(Host::A, tool, args);
        assert!(done.status.success(), "{tool}: {}", done.text());
        let first = hop_line(&done.stdout, 1);
        assert!(
            !first.is_empty() && first.iter().all(|l| l.contains(router)),
            "{tool}: hop 1 should be the router {router}: {}",
            done.text()
        );
        let second = hop_line(&done.stdout, 2);
        assert!(
            second.iter().any(|l| l.contains(host_b)),
            "{tool}: hop 2 should be host B {host_b}: {}",
            done.text()
        );
    }
    // Hop 1 was ferroute's ICMP time exceeded (the router's kernel does not
    // forward, so it never sees these probes' TTL run out).
    let stats = daemon.stats_cli();
    assert!(dropped(&stats, "ttl_expired") >= 4, "{stats}");
    assert!(counter(&stats, &["counters", "icmp_sent"]) >= 4, "{stats}");
    daemon.stop_cleanly(&lab);
}

/// A deterministic byte stream (xorshift64*), the same on both ends.
fn stream_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sends `len` bytes from `client` to a listener on `server` at `addr`
/// and returns (length received, hash sent, hash received).
fn transfer(
    lab: &Lab,
    client: Host,
    server: Host,
    addr: SocketAddr,
    len: usize,
) -> (usize, u64, u64) {
    let limit = Duration::from_secs(30);
    let listener = lab.enter(server, move || TcpListener::bind(addr).expect("bind"));
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(limit)).expect("timeout");
        let mut got = Vec::with_capacity(len);
        conn.read_to_end(&mut got).expect("receive");
        got
    });
    let data = stream_bytes(len, addr.port() as u64);
    let mut conn = lab.enter(client, move || {
        TcpStream::connect_timeout(&addr, limit).expect("connect")
    });
    conn.set_write_timeout(Some(limit)).expect("timeout");
    conn.write_all(&data).expect("send");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let got = receiver.join().expect("receiver");
    (got.len(), fnv1a(&data), fnv1a(&got))
}

#[test]
fn a_tcp_transfer_arrives_intact_both_ways() {
    if !require_root("lab tcp") {
        return;
    }
    let lab = Lab::up();
    let daemon = Daemon::start(&lab, &lab.script_config());
    let len = 4 << 20;
    let started = Instant::now();
    let v4 = transfer(
        &lab,
        Host::A,
        Host::B,
        "203.0.113.2:5001".parse().unwrap(),
        len,
    );
    let v6 = transfer(
        &lab,
        Host::B,
        Host::A,
        "[2001:db8::10]:5002".parse().unwrap(),
        len,
    );
    println!(
        "2 x {len} bytes through ferroute in {:?}",
        started.elapsed()
    );
    for (name, (got, sent_hash, got_hash)) in [("IPv4 A->B", v4), ("IPv6 B->A", v6)] {
        assert_eq!(got, len, "{name}: bytes received");
        assert_eq!(got_hash, sent_hash, "{name}: content hash");
    }
    let stats = daemon.stats_cli();
    let bytes = counter(&stats, &["counters", "forwarded_bytes"]);
    assert!(
        bytes >= 2 * len as u64,
        "forwarded_bytes {bytes} for 2 x {len} bytes of payload: {stats}"
    );
    daemon.stop_cleanly(&lab);
}

#[test]
fn a_smaller_mtu_towards_b_fragments_and_feeds_path_mtu_discovery() {
    if !require_root("lab mtu") {
        return;
    }
    let mtu = 1400;
    let lab = Lab::up();
    // Both ends of the link, and the router's configuration.
    lab.set_mtu(Host::R, "p1", mtu);
    lab.set_mtu(Host::B, "b0", mtu);
    let config = lab.dir.join("mtu-router.toml");
    RouterConfig {
        p1_mtu: Some(mtu),
        ..RouterConfig::default()
    }
    .write(&config);
    let daemon = Daemon::start(&lab, &config);
    let mtu_said = format!("mtu = {mtu}");
    let mtu_said6 = format!("mtu={mtu}");

    // IPv4 without DF: A's kernel sends a 1500-byte first fragment, which
    // ferroute splits again; B reassembles and answers.
    let done = ping(
        &lab,
        Host::A,
        &[
            "-n",
            "-c",
            "1",
            "-W",
            "3",
            "-M",
            "dont",
            "-s",
            "2000",
            "203.0.113.2",
        ],
    );
    assert_eq!(received(&done), 1, "{}", done.text());
    // And back: A's 1500-byte reply fragment is split on the way to B.
    let done = ping(
        &lab,
        Host::B,
        &["-n", "-c", "1", "-W", "3", "-s", "2000", "192.0.2.10"],
    );
    assert_eq!(received(&done), 1, "{}", done.text());
    let stats = daemon.stats_cli();
    assert!(counter(&stats, &["counters", "fragmented"]) >= 1, "{stats}");

    // Path-MTU discovery, IPv4: tracepath learns 1400 from ferroute's
    // frag-needed; then, with A's cached PMTU flushed, ping with DF gets it.
    let done = lab.run(Host::A, "tracepath", &["-n", "203.0.113.2"]);
    assert!(
        done.stdout.contains(&format!("pmtu {mtu}")),
        "{}",
        done.text()
    );
    lab.ip(Host::A, &["route", "flush", "cache"]);
    let done = ping(
        &lab,
        Host::A,
        &[
            "-n",
            "-c",
            "1",
            "-W",
            "3",
            "-M",
            "do",
            "-s",
            "1450",
            "203.0.113.2",
        ],
    );
    assert!(
        done.stdout.contains("Frag needed") && done.stdout.contains(&mtu_said),
        "{}",
        done.text()
    );
    let route = lab.ip(Host::A, &["route", "get", "203.0.113.2"]);
    assert!(route.contains(&format!("mtu {mtu}")), "A's route: {route}");

    // IPv6: packet too big, then the kernel fragments at the source and the
    // later echoes get through.
    let done = ping(
        &lab,
        Host::A,
        &[
            "-6",
            "-n",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "-s",
            "1450",
            "2001:db8:1::2",
        ],
    );
    assert!(
        done.stdout.contains("Packet too big") && done.stdout.contains(&mtu_said6),
        "{}",
        done.text()
    );
    assert!(received(&done) >= 1, "{}", done.text());
    lab.ip(Host::A, &["-6", "route", "flush", "cache"]);
    let done = lab.run(Host::A, "tracepath", &["-6", "-n", "2001:db8:1::2"]);
    assert!(
        done.stdout.contains(&format!("pmtu {mtu}")),
        "{}",
        done.text()
    );

    let stats = daemon.stats_cli();
    assert!(dropped(&stats, "mtu_df") >= 2, "{stats}");
    assert!(dropped(&stats, "packet_too_big") >= 2, "{stats}");
    daemon.stop_cleanly(&lab);
}
