//! Routes that move while traffic flows: the live router in the veth lab
//! re-routes a prefix from p1 to p0 and back through link-state changes
//! (`ferroute reload` of a new LSDB), while a steady stream crosses it.
//!
//! ```text
//!   A (a0) ── p0 ─ R ─ p1 ── (b0) B
//!   10.255.0.3      192.0.2.1      10.255.0.2      router ids in the LSDB
//! ```
//!
//! Host A plays link-state neighbour 10.255.0.3 and host B 10.255.0.2; both
//! announce 198.51.100.0/24. R's own LSA sets which link is cheaper, so the
//! prefix leaves on p1 (towards B) or p0 (back towards A). Host A sends
//! numbered UDP frames at a steady rate with an AF_PACKET socket, to
//! 198.51.100.1 (affected) and to 203.0.113.2 (host B, a connected route:
//! unaffected), and both hosts capture what arrives. Then:
//!
//! * unaffected: every frame arrives at B, none is lost or duplicated;
//! * affected: every frame arrives exactly once, at B before the first
//!   change, at A from shortly after it until shortly after the second
//!   change, and at B again after that — one clean switch each way;
//! * the switch-over takes at most a bound (printed, with what was measured).
//!
//! Needs root (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferroute::testkit::frames::V4Frame;
use ferroute::wire::MacAddr;
use support::config::RouterConfig;
use support::daemon::{ferroute_bin, Daemon};
use support::packet::PacketSocket;
use support::{poll_until, require_root, run_bounded, Host, Lab, MAC_A0, MAC_P0, MAC_P1};

const AFFECTED: [u8; 4] = [198, 51, 100, 1];
const UNAFFECTED: [u8; 4] = [203, 0, 113, 2];
const HOST_A: [u8; 4] = [192, 0, 2, 10];
/// One frame to each destination every this often.
const SEND_INTERVAL: Duration = Duration::from_micros(500);
/// The longest a switch-over may take: the control thread's SPF hold-down
/// and publication window are tens of milliseconds; the rest is slack for a
/// loaded 2-core CI machine.
const SWITCH_LIMIT: Duration = Duration::from_millis(1000);

/// The LSDB with R's links to B (p1) and A (p0) at the given costs.
fn lsdb(sequence: u64, cost_to_b: u32, cost_to_a: u32) -> String {
    format!(
        r#"# Written by tests/lab_linkstate.rs.
[[router]]
id = "192.0.2.1"
sequence = {sequence}

[[router.link]]
neighbor = "10.255.0.2"
cost = {cost_to_b}
via = "203.0.113.2"
port = "p1"

[[router.link]]
neighbor = "10.255.0.3"
cost = {cost_to_a}
via = "192.0.2.10"
port = "p0"

[[router]]
id = "10.255.0.2"
sequence = 1

[[router.link]]
neighbor = "192.0.2.1"
cost = 1

[[router.stub]]
prefix = "198.51.100.0/24"
cost = 1

[[router]]
id = "10.255.0.3"
sequence = 1

[[router.link]]
neighbor = "192.0.2.1"
cost = 1

[[router.stub]]
prefix = "198.51.100.0/24"
cost = 1
"#
    )
}

/// The router's configuration: the lab's ports and static neighbours, plus
/// the link-state database file.
fn router_config(lsdb_path: &Path) -> String {
    let mut config = RouterConfig::default().toml();
    config.push_str(&format!(
        "\n[linkstate]\nfile = \"{}\"\n",
        lsdb_path.display()
    ));
    config
}

/// `ferroute reload` against the running daemon; must succeed.
fn reload(lab: &Lab, daemon: &Daemon) {
    let mut c = Command::new(ferroute_bin());
    c.args(["reload", "--socket"]).arg(&daemon.socket);
    let done = run_bounded(c, &lab.dir, support::COMMAND_LIMIT);
    assert!(done.status.success(), "ferroute reload: {}", done.text());
}

/// A 60-byte UDP frame from host A to the router's MAC, carrying `seq`.
fn frame(dst: [u8; 4], seq: u32) -> Vec<u8> {
    let mut payload = vec![0; 18];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    V4Frame {
        dst_mac: MacAddr(MAC_P0),
        src_mac: MacAddr(MAC_A0),
        src: HOST_A.into(),
        ident: 0,
        ports: Some((40000, 9)),
        payload,
        ..V4Frame::udp(dst.into())
    }
    .build()
}

/// (destination, sequence number) of one of our frames, if it is one.
fn ours(frame: &[u8]) -> Option<([u8; 4], u32)> {
    if frame.len() < 46 || frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
        return None;
    }
    if frame[26..30] != HOST_A || frame[34..36] != 40000u16.to_be_bytes() {
        return None;
    }
    let dst: [u8; 4] = frame[30..34].try_into().ok()?;
    let seq = u32::from_be_bytes(frame[42..46].try_into().ok()?);
    Some((dst, seq))
}

/// Sends one frame to each destination per [`SEND_INTERVAL`] until `stop`;
/// `sent` is the next sequence number (frames 0..sent were sent).
fn sender(socket: PacketSocket, sent: Arc<AtomicU32>, stop: Arc<AtomicBool>) {
    let start = Instant::now();
    let mut seq = 0u32;
    while !stop.load(Ordering::Relaxed) {
        // Paced by the clock (a traffic rate, not a wait for a condition).
        let due = start + SEND_INTERVAL * seq;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        for dst in [AFFECTED, UNAFFECTED] {
            socket.send(&frame(dst, seq)).expect("send on a0");
        }
        seq += 1;
        sent.store(seq, Ordering::Release);
    }
}

#[test]
fn a_prefix_moves_between_ports_without_loss_while_traffic_flows() {
    if !require_root("lab link-state switch-over") {
        return;
    }
    let lab = Lab::up();
    let lsdb_path = lab.dir.join("lsdb.toml");
    let config_path = lab.dir.join("linkstate.toml");
    std::fs::write(&lsdb_path, lsdb(1, 10, 100)).expect("write lsdb");
    std::fs::write(&config_path, router_config(&lsdb_path)).expect("write config");
    let daemon = Daemon::start(&lab, &config_path);

    let at_a = PacketSocket::open(&lab, Host::A, "a0");
    let at_b = PacketSocket::open(&lab, Host::B, "b0");
    let sent = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sending = {
        let socket = PacketSocket::open(&lab, Host::A, "a0");
        let (sent, stop) = (sent.clone(), stop.clone());
        std::thread::spawn(move || sender(socket, sent, stop))
    };
    let sent_at_least = |n: u32| {
        assert!(
            poll_until(Duration::from_secs(20), || sent.load(Ordering::Acquire)
                >= n),
            "the sender fell behind"
        );
    };

    // Phase 1: via B. Phase 2: A's link cheaper. Phase 3: B's again.
    sent_at_least(1000);
    std::fs::write(&lsdb_path, lsdb(2, 100, 10)).expect("write lsdb");
    let to_a_at = sent.load(Ordering::Acquire);
    reload(&lab, &daemon);
    let to_a_done = sent.load(Ordering::Acquire);
    sent_at_least(to_a_done + 3000);
    std::fs::write(&lsdb_path, lsdb(3, 10, 100)).expect("write lsdb");
    let to_b_at = sent.load(Ordering::Acquire);
    reload(&lab, &daemon);
    let to_b_done = sent.load(Ordering::Acquire);
    sent_at_least(to_b_done + 3000);
    stop.store(true, Ordering::Relaxed);
    sending.join().expect("sender thread");
    let total = sent.load(Ordering::Acquire);

    // Everything sent is at least on its way: collect until every
    // unaffected frame arrived at B or a bound passed (a loss shows as a
    // shortfall below); the affected frames B got came before the last
    // unaffected one and are among the "others".
    let (unaffected_frames, others_at_b) =
        at_b.collect(total as usize, Duration::from_secs(5), |f| {
            f[6..12] == MAC_P1 && ours(f).is_some_and(|(d, _)| d == UNAFFECTED)
        });
    let mut unaffected: Vec<u32> = unaffected_frames
        .iter()
        .filter_map(|f| ours(f))
        .map(|(_, seq)| seq)
        .collect();
    let mut affected_b = BTreeSet::new();
    for r in &others_at_b {
        if r.data[6..12] != MAC_P1 {
            continue;
        }
        if let Some((AFFECTED, seq)) = ours(&r.data) {
            assert!(affected_b.insert(seq), "affected frame {seq} twice at B");
        }
    }
    let a_expected = (total as usize).saturating_sub(affected_b.len());
    let (a_frames, _) = at_a.collect(a_expected, Duration::from_secs(5), |f| {
        f[6..12] == MAC_P0 && ours(f).is_some_and(|(d, _)| d == AFFECTED)
    });

    let mut affected_a = BTreeSet::new();
    for (_, seq) in a_frames.iter().filter_map(|f| ours(f)) {
        assert!(affected_a.insert(seq), "affected frame {seq} twice at A");
    }
    let stats = daemon.stats().unwrap_or_default();
    daemon.stop_cleanly(&lab);

    // Unaffected: all of them, once each.
    unaffected.sort_unstable();
    let missing: Vec<u32> = (0..total)
        .filter(|s| unaffected.binary_search(s).is_err())
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && unaffected.len() == total as usize,
        "unaffected prefix: {} of {total} arrived at B (first missing {missing:?}); stats {stats}",
        unaffected.len()
    );

    // Affected: each exactly once, at one host.
    let both: Vec<_> = affected_a.intersection(&affected_b).take(10).collect();
    assert!(both.is_empty(), "frames at both hosts: {both:?}");
    let lost: Vec<u32> = (0..total)
        .filter(|s| !affected_a.contains(s) && !affected_b.contains(s))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "affected frames lost: {lost:?}... ({} at A, {} at B of {total}); stats {stats}",
        affected_a.len(),
        affected_b.len()
    );

    // One clean switch each way: A got one contiguous run of sequence
    // numbers, which began after the first change was written and ended
    // after the second.
    let (Some(&first_a), Some(&last_a)) = (affected_a.first(), affected_a.last()) else {
        panic!("the prefix never moved to p0 (all {total} frames at B)");
    };
    assert_eq!(
        affected_a.len() as u32,
        last_a - first_a + 1,
        "the prefix flapped: A got {} frames between {first_a} and {last_a}",
        affected_a.len()
    );
    assert!(
        first_a >= to_a_at,
        "moved before the change: {first_a} < {to_a_at}"
    );
    assert!(
        last_a >= to_b_at,
        "moved back before the change: {last_a} < {to_b_at}"
    );
    let to_a = SEND_INTERVAL * (first_a - to_a_at);
    let to_b = SEND_INTERVAL * (last_a + 1 - to_b_at);
    eprintln!(
        "switch-over p1→p0 {to_a:?} after the LSDB was written ({:?} of it in `ferroute reload`), \
         p0→p1 {to_b:?} ({:?}); {total} frames per destination, none lost",
        SEND_INTERVAL * (to_a_done - to_a_at),
        SEND_INTERVAL * (to_b_done - to_b_at),
    );
    assert!(
        to_a <= SWITCH_LIMIT && to_b <= SWITCH_LIMIT,
        "switch-over too slow"
    );
}

/// Whether the router's kernel holds a managed (`NTF_EXT_MANAGED`)
/// neighbour entry for `address` on `dev` with its MAC resolved.
fn managed_entry(lab: &Lab, dev: &str, address: &str) -> bool {
    let json = lab.ip(Host::R, &["-j", "neigh", "show", "dev", dev]);
    let entries: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    entries
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["dst"] == address && e.get("managed").is_some() && e.get("lladdr").is_some())
}

#[test]
fn link_state_first_hops_are_resolved_before_traffic_needs_them() {
    if !require_root("lab link-state gateways") {
        return;
    }
    let lab = Lab::up();
    let lsdb_path = lab.dir.join("lsdb.toml");
    let config_path = lab.dir.join("linkstate.toml");
    std::fs::write(&lsdb_path, lsdb(1, 10, 100)).expect("write lsdb");
    // No static neighbours: hosts A and B are known to the router only as
    // link-state first hops.
    let mut config = RouterConfig {
        no_static_neighbors: true,
        ..RouterConfig::default()
    }
    .toml();
    config.push_str(&format!(
        "\n[linkstate]\nfile = \"{}\"\n",
        lsdb_path.display()
    ));
    std::fs::write(&config_path, config).expect("write config");
    let daemon = Daemon::start(&lab, &config_path);

    // B (203.0.113.2) is the first hop of 198.51.100.0/24: the router has
    // it resolved without any traffic having been sent.
    assert!(
        poll_until(Duration::from_secs(10), || managed_entry(
            &lab,
            "p1",
            "203.0.113.2"
        )),
        "no managed entry for the first hop 203.0.113.2: {}",
        lab.ip(Host::R, &["neigh", "show"])
    );
    // So the very first frame towards the prefix is forwarded, not dropped
    // while the next hop is gleaned.
    let at_b = PacketSocket::open(&lab, Host::B, "b0");
    PacketSocket::open(&lab, Host::A, "a0")
        .send(&frame(AFFECTED, 7))
        .expect("send on a0");
    let (got, _) = at_b.collect(1, Duration::from_secs(5), |f| {
        f[6..12] == MAC_P1 && ours(f) == Some((AFFECTED, 7))
    });
    assert_eq!(got.len(), 1, "the first frame was not forwarded to B");

    // The prefix moves to A's link: A's address gets an entry, and the one
    // made for B, no longer a first hop, is deleted.
    std::fs::write(&lsdb_path, lsdb(2, 100, 10)).expect("write lsdb");
    reload(&lab, &daemon);
    assert!(
        poll_until(Duration::from_secs(10), || {
            managed_entry(&lab, "p0", "192.0.2.10") && !managed_entry(&lab, "p1", "203.0.113.2")
        }),
        "managed entries did not follow the first hop: {}",
        lab.ip(Host::R, &["neigh", "show"])
    );
    daemon.stop_cleanly(&lab);
    let left = lab.ip(Host::R, &["neigh", "show"]);
    assert!(
        !left.contains("managed"),
        "managed entries left after stop: {left}"
    );
}
