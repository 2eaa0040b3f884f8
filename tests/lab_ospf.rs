//! Live OSPF through the data plane: `ferroute run` (AF_XDP workers, XDP
//! program) in the lab's router namespace forms an adjacency over p1 with
//! BIRD in host B, and host A's traffic follows the routes it learns.
//!
//! ```text
//!   A a0 192.0.2.10 -- p0 R (ferroute) p1 203.0.113.1 <-- OSPF --> b0 203.0.113.2 B (BIRD)
//!                                                     behind B: 198.51.100.1 (stub on lo)
//!                                                               100.66.0.1 (E2, not in OSPF)
//! ```
//!
//! The adjacency reaches Full through the XDP program (the multicast
//! hellos and the unicast exchange go to the kernel); B's stub comes in as
//! an intra-area route and B's connected 100.66.0.0/24 as a type 2
//! external; host A's pings to both cross ferroute's data plane (the
//! worker counters show them forwarded); when BIRD is killed (SIGKILL, so
//! it flushes nothing), both routes go after the dead interval and A's
//! pings get ICMP destination unreachable from ferroute once the workers
//! have the new table.
//!
//! The second test gives ferroute two paths to one network: BIRD behind
//! p1 (cost 10) and FRR ospfd behind p2 (cost 20), both on host D's LAN
//! 100.70.0.0/24 and announcing it as a stub. A's traffic to D leaves
//! through p1; BIRD is killed (SIGKILL) and, after the dead interval, the
//! traffic leaves through p2 (port counters and captures on both links):
//! every echo request of A's 10 ms stream for 4 s after the move reaches
//! C, by sequence number, and a round of five pings after it does too.
//!
//! ```text
//!   A -- p0 R p1 203.0.113.1 --- b0 203.0.113.2 B (BIRD) d0 100.70.0.1 --+
//!           R p2 10.0.2.1    --- c0 10.0.2.2    C (FRR)  d0 100.70.0.2 --+-- br0 D 100.70.0.10
//! ```
//! Needs root, BIRD and FRR (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use ferroute::testkit::netns::{self, Netns};
use serde_json::Value;
use support::bgp::{ferroute, ping, show};
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::iperf::Server as Background;
use support::packet::{echo_request_to, echo_requests_queued, PacketSocket};
use support::path_counters::{changes, snapshot, Link};
use support::{poll_until, require_root, Host, Lab};

/// Longest the adjacency may take to form or a route to go (hello 1 s,
/// dead 4 s; the bound is for a loaded machine).
const LIMIT: Duration = Duration::from_secs(40);

const BIRD: &str = r#"
router id 203.0.113.2;
protocol device { scan time 1; }
protocol direct { ipv4; interface "x0"; }
protocol ospf v2 o {
  ipv4 { import all; export where net = 100.66.0.0/24; };
  area 0 {
    interface "b0" { type broadcast; hello 1; dead 4; };
    interface "lo" { stub yes; };
  };
}
"#;

const OSPF: &str = "\n[ospf]\n\n[[ospf.interface]]\nport = \"p1\"\nnetwork = \"broadcast\"\n\
                    hello_interval = 1\ndead_interval = 4\n";

/// `ferroute run` with the lab's ports, no default route, and `more`.
fn start_router(lab: &Lab, more: &str) -> Daemon {
    let mut config = RouterConfig {
        default_routes_via_b: false,
        ..RouterConfig::default()
    }
    .toml();
    config.push_str(more);
    let path = lab.dir.join("router-ospf.toml");
    std::fs::write(&path, config).unwrap();
    Daemon::start(lab, &path)
}

/// Whether ferroute's best route for `address` is OSPF's (`show routes`
/// as the operator reads it: the best candidate is marked `*`).
fn by_ospf(lab: &Lab, daemon: &Daemon, address: &str) -> bool {
    let done = ferroute(lab, daemon, &["show", "routes", address]);
    done.stdout
        .lines()
        .find(|l| l.trim_start().starts_with('*'))
        .is_some_and(|best| best.contains("ospf"))
}

#[test]
fn traffic_follows_ospf_routes_through_the_data_plane() {
    let test = "traffic_follows_ospf_routes_through_the_data_plane";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    lab.ip(Host::B, &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
    // A LAN of B's that OSPF does not run on (a veth pair inside B).
    lab.ip(
        Host::B,
        &["link", "add", "x0", "type", "veth", "peer", "name", "x0p"],
    );
    lab.ip(Host::B, &["link", "set", "x0", "up"]);
    lab.ip(Host::B, &["link", "set", "x0p", "up"]);
    lab.ip(Host::B, &["addr", "add", "100.66.0.1/24", "dev", "x0"]);
    let bird = Bird::start(&lab.netns(Host::B), BIRD);
    // No default route via B: without OSPF's routes, nothing reaches B's
    // addresses.
    let daemon = start_router(&lab, OSPF);

    let learned = || by_ospf(&lab, &daemon, "198.51.100.1") && by_ospf(&lab, &daemon, "100.66.0.1");
    assert!(
        poll_until(LIMIT, learned),
        "routes not learned: {:?}\n{}",
        show(&lab, &daemon, &["ospf"]),
        bird.birdc("show ospf neighbors")
    );
    let routes = show(&lab, &daemon, &["ospf", "routes"]).unwrap();
    let external = &routes["routes"][0];
    assert_eq!(
        (
            &external["prefix"],
            &external["path_type"],
            &external["type2_metric"]
        ),
        (&"100.66.0.0/24".into(), &"external2".into(), &10000.into()),
        "{routes}"
    );
    for address in ["198.51.100.1", "100.66.0.1"] {
        assert!(
            poll_until(LIMIT, || ping(&lab, address)),
            "A's ping of {address} through ferroute"
        );
    }
    let stats = daemon.stats().unwrap();
    let forwarded = stats["counters"]["forwarded"].as_u64().unwrap_or(0);
    assert!(
        forwarded >= 4,
        "2 echo requests and 2 replies forwarded: {stats}"
    );

    // BIRD dies without a word (no flush of its LSAs): after the dead
    // interval its routes go and the traffic stops.
    // SAFETY: kill(2) on the BIRD this test started (its guard's PID; the
    // guard reaps it on drop).
    unsafe { libc::kill(bird.pid() as libc::pid_t, libc::SIGKILL) };
    let killed = Instant::now();
    assert!(
        poll_until(LIMIT, || !by_ospf(&lab, &daemon, "198.51.100.1")
            && !by_ospf(&lab, &daemon, "100.66.0.1")),
        "routes still there: {:?}",
        show(&lab, &daemon, &["routes", "198.51.100.1"])
    );
    println!(
        "measured: BIRD's routes withdrawn {:?} after it was killed (dead interval 4 s)",
        killed.elapsed()
    );
    // The RIB is ahead of the FIB by the publication window: once the
    // workers have the new table, ferroute answers A's ping with ICMP
    // destination unreachable (no route).
    let unreachable = || {
        let done = lab.run(Host::A, "ping", &["-c", "1", "-W", "1", "198.51.100.1"]);
        !done.status.success() && done.stdout.contains("Unreachable")
    };
    assert!(poll_until(LIMIT, unreachable), "no route, ICMP unreachable");
    daemon.stop();
    drop(bird);
}

/// Host D, behind both BIRD and FRR.
const D: &str = "100.70.0.10";

const BIRD_PATH: &str = r#"
router id 203.0.113.2;
protocol device { scan time 1; }
protocol ospf v2 o {
  ipv4 { import all; };
  area 0 {
    interface "b0" { type broadcast; hello 1; dead 4; };
    interface "d0" { stub yes; };
  };
}
"#;

const FRR_PATH: &str = r#"
frr defaults traditional
hostname c
!
interface c0
 ip ospf hello-interval 1
 ip ospf dead-interval 4
!
router ospf
 ospf router-id 10.0.2.2
 passive-interface d0
 network 10.0.2.0/24 area 0
 network 100.70.0.0/24 area 0
!
"#;

/// p2 towards FRR, its static neighbour, and OSPF on p1 (cost 10) and p2
/// (cost 20): D's LAN is 20 away through BIRD, 30 through FRR.
const TWO_PATHS: &str = "
[[port]]
name = \"p2\"
mac = \"02:00:00:00:02:01\"
addresses = [\"10.0.2.1/24\"]

[[neighbor]]
address = \"10.0.2.2\"
mac = \"02:00:00:00:02:02\"
port = \"p2\"

[ospf]

[[ospf.interface]]
port = \"p1\"
network = \"broadcast\"
cost = 10
hello_interval = 1
dead_interval = 4

[[ospf.interface]]
port = \"p2\"
network = \"broadcast\"
cost = 20
hello_interval = 1
dead_interval = 4
";

/// D's address, for frames.
const D_ADDR: Ipv4Addr = Ipv4Addr::new(100, 70, 0, 10);

/// Whether `frame` is an ICMP echo request to D.
fn echo_to_d(frame: &[u8]) -> bool {
    echo_request_to(frame, D_ADDR).is_some()
}

/// The echo requests to D already queued on `socket`, as (ICMP
/// identifier, sequence number).
fn echoes_queued(socket: &netns::PacketSocket) -> Vec<(u16, u16)> {
    echo_requests_queued(socket, D_ADDR)
}

/// Frames each port's queues handed to its transmit ring, by port name.
fn sent(daemon: &Daemon) -> (u64, u64) {
    let stats = daemon.stats().expect("stats");
    let of = |name: &str| {
        stats["qos"]["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["port"] == name))
            .map_or(0, |p: &Value| p["total"]["sent"].as_u64().unwrap_or(0))
    };
    (of("p1"), of("p2"))
}

/// Frames the workers dropped for want of a route (as last published).
fn no_route(daemon: &Daemon) -> u64 {
    let stats = daemon.stats().expect("stats");
    stats["counters"]["drops"]["no_route"].as_u64().unwrap_or(0)
}

/// The next hops of ferroute's best route for `address` (`show routes
/// ADDRESS --json`: the selected candidate's resolved next hops, "port N
/// lladdr MAC").
fn best_route(lab: &Lab, daemon: &Daemon, address: &str) -> String {
    let Ok(answer) = show(lab, daemon, &["routes", address]) else {
        return String::new();
    };
    answer["route"]["routes"]
        .as_array()
        .and_then(|routes| routes.iter().find(|r| r["selected"] == true))
        .map(|best| best["next_hops"].to_string())
        .unwrap_or_default()
}

/// A's five pings of D (through ferroute's workers).
struct Pings {
    /// ping's report.
    text: String,
    /// The sequence numbers answered. ping exits 0 when *any* reply came
    /// (`-c` without `-w`), so "ping succeeded" is not "5 answered".
    answered: Vec<u16>,
}

fn five_pings(lab: &Lab) -> Pings {
    let done = lab.run(Host::A, "ping", &["-c", "5", "-i", "0.2", "-W", "2", D]);
    let answered = done
        .stdout
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    Pings {
        text: done.text(),
        answered,
    }
}

#[test]
fn traffic_moves_to_the_other_path_when_a_neighbour_dies() {
    let test = "traffic_moves_to_the_other_path_when_a_neighbour_dies";
    if !require_root(test)
        || !require_daemon(test, "bird")
        || !require_daemon(test, &format!("{FRR_DAEMONS}/ospfd"))
    {
        return;
    }
    let lab = Lab::up();
    let c = Netns::new("ospfc");
    let d = Netns::new("ospfd");
    let b = lab.netns(Host::B);
    // R's second port, to C (FRR).
    lab.ip(
        Host::R,
        &[
            "link",
            "add",
            "p2",
            "address",
            "02:00:00:00:02:01",
            "type",
            "veth",
            "peer",
            "name",
            "c0",
            "address",
            "02:00:00:00:02:02",
            "netns",
            &c.name,
        ],
    );
    lab.ip(Host::R, &["addr", "add", "10.0.2.1/24", "dev", "p2"]);
    lab.ip(Host::R, &["link", "set", "p2", "up"]);
    c.ip(&["addr", "add", "10.0.2.2/24", "dev", "c0"]);
    c.ip(&["link", "set", "c0", "up"]);
    // D's LAN: a bridge in D with B's and C's d0 on it.
    d.ip(&["link", "add", "br0", "type", "bridge"]);
    for (peer, port) in [(b.as_str(), "pb"), (c.name.as_str(), "pc")] {
        d.ip(&[
            "link", "add", port, "type", "veth", "peer", "name", "d0", "netns", peer,
        ]);
        d.ip(&["link", "set", port, "master", "br0"]);
        d.ip(&["link", "set", port, "up"]);
    }
    d.ip(&["addr", "add", "100.70.0.10/24", "dev", "br0"]);
    d.ip(&["link", "set", "br0", "up"]);
    // D answers through C whatever path the request took, so what moves
    // is ferroute's choice alone.
    d.ip(&["route", "add", "default", "via", "100.70.0.2"]);
    lab.ip(Host::B, &["addr", "add", "100.70.0.1/24", "dev", "d0"]);
    lab.ip(Host::B, &["link", "set", "d0", "up"]);
    c.ip(&["addr", "add", "100.70.0.2/24", "dev", "d0"]);
    c.ip(&["link", "set", "d0", "up"]);
    c.ip(&["route", "add", "192.0.2.0/24", "via", "10.0.2.1"]);
    lab.run(Host::B, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
    c.write_sysctl("net/ipv4/ip_forward", "1");

    let bird = Bird::start(&b, BIRD_PATH);
    let frr = Frr::start(&c.name, &[FrrDaemon::Ospfd], FRR_PATH);
    let daemon = start_router(&lab, TWO_PATHS);

    // Both daemons' routes are in (FRR's stub 10.0.2.0/24 is also ours):
    // D's LAN through BIRD, the cheaper path.
    let through_bird = || best_route(&lab, &daemon, D).contains("port 1 ");
    let both_full = || {
        show(&lab, &daemon, &["ospf", "neighbors"]).is_ok_and(|v| {
            v["neighbors"]
                .as_array()
                .is_some_and(|n| n.iter().filter(|n| n["state"] == "full").count() == 2)
        })
    };
    assert!(
        poll_until(LIMIT, || both_full() && through_bird()),
        "two adjacencies and D through BIRD: {:?}\n{}\n{}",
        show(&lab, &daemon, &["ospf", "neighbors"]),
        best_route(&lab, &daemon, D),
        frr.vtysh("show ip ospf neighbor")
    );
    assert!(poll_until(LIMIT, || ping(&lab, D)), "A's ping of D");

    // Before: A's traffic to D leaves through p1 (to BIRD), none through
    // p2. Right after the adjacencies form the database still settles
    // (both sides re-originate within MinLSInterval), and D's route has
    // been seen on p2 for a moment (3 runs in 25): the precondition is a
    // round of pings that all went through p1.
    let on_b = PacketSocket::open(&lab, Host::B, "b0");
    let on_c = c.run(|| netns::PacketSocket::open("c0"));
    let mut before = (0, 0, sent(&daemon), sent(&daemon));
    let through_p1 = || {
        let counted = sent(&daemon);
        let pings = five_pings(&lab);
        before = (
            echoes_queued(&on_b).len(),
            echoes_queued(&on_c).len(),
            counted,
            sent(&daemon),
        );
        assert!(!pings.answered.is_empty(), "A's pings of D: {}", pings.text);
        before.0 >= 5 && before.1 == 0
    };
    assert!(
        poll_until(LIMIT, through_p1),
        "echo requests seen by B and C, counters: {before:?}"
    );
    let (_, _, (p1_0, p2_0), (p1_1, p2_1)) = before;
    // The workers publish their counters after a batch, at most every
    // 100 ms, so the last frame of the round may not be counted yet.
    assert!(
        p1_1 - p1_0 >= 4 && p2_1 == p2_0,
        "p1 and p2 sent: {before:?}"
    );

    // A steady stream (every 10 ms) while BIRD dies without a word (a
    // count, not a deadline: with -w, ping stops at the first ICMP error).
    let mut stream = Background(
        lab.command(Host::A, "ping", &["-i", "0.01", "-c", "12000", D])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start A's ping stream"),
    );
    assert!(
        on_b.recv_matching(LIMIT, echo_to_d).is_some(),
        "the stream goes through B"
    );
    // SAFETY: kill(2) on the BIRD this test started (its guard's PID; the
    // guard reaps it on drop).
    unsafe { libc::kill(bird.pid() as libc::pid_t, libc::SIGKILL) };
    let killed = Instant::now();
    let no_route_before = no_route(&daemon);
    let moved = on_c.recv_matching(LIMIT, echo_to_d);
    let took = killed.elapsed();
    let moved_at = Instant::now();
    assert!(
        moved.is_some(),
        "no echo request through C within {LIMIT:?}: {}\nping stream: {:?}\n{:?}",
        best_route(&lab, &daemon, D),
        stream.0.try_wait(),
        daemon.stats()
    );
    let route_now = best_route(&lab, &daemon, D);
    assert!(
        route_now.contains("port 2 ") && !route_now.contains("port 1 "),
        "{route_now}"
    );
    let dropped = no_route(&daemon) - no_route_before;
    let counters = show(&lab, &daemon, &["ospf"]).map(|v| v["counters"].clone());
    println!(
        "measured: A's traffic to D moved from p1 to p2 {took:?} after BIRD was killed \
         (dead interval 4 s); dropped for want of a route meanwhile: {dropped}; \
         OSPF counters: {counters:?}"
    );
    // No frame may go for want of a route: FRR's router LSA naming the
    // p2 LAN, sent within MinLSArrival of the one before when the
    // adjacency formed, used to wait 5-10 s for FRR's retransmission, and
    // a failover in that window found no route (4 runs in 32).
    assert_eq!(
        dropped,
        0,
        "dropped for want of a route during the move\nSPF runs: {}\nospf: {}",
        show(&lab, &daemon, &["ospf", "spf-log"]).unwrap_or_default(),
        show(&lab, &daemon, &["ospf"]).unwrap_or_default()
    );
    let (a, r) = (lab.netns(Host::A), lab.netns(Host::R));
    let links = [
        Link::new("A a0", &a, "a0"),
        Link::new("R p0", &r, "p0"),
        Link::new("R p1", &r, "p1"),
        Link::new("R p2", &r, "p2"),
        Link::new("B b0", &b, "b0"),
        Link::new("C c0", &c.name, "c0"),
    ];
    let stacks = [("A", a.as_str()), ("R", r.as_str()), ("C", c.name.as_str())];
    let read_counters = || snapshot(daemon.stats().unwrap_or_default(), &links, &stacks);

    // The stream goes on for 4 s after the move, and every request of it
    // from C's first on must reach C, none B: a loss after the move shows
    // here by sequence number, with the counters that say where it went
    // (the round of five below used to be the only look, 0.8 s of it).
    let counters_0 = read_counters();
    let watched = on_c
        .collect(usize::MAX, Duration::from_secs(4), echo_to_d)
        .0;
    drop(stream);
    let watched_for = moved_at.elapsed();
    let mut at_c: Vec<(u16, u16)> = moved
        .iter()
        .chain(&watched)
        .filter_map(|f| echo_request_to(f, D_ADDR))
        .collect();
    at_c.extend(echoes_queued(&on_c));
    let at_b = echoes_queued(&on_b);
    let counters = changes(&counters_0, &read_counters());
    let captures = (on_b.counts(), on_c.counts());
    let first = at_c.first().map_or(0, |&(_, seq)| seq);
    let seqs: Vec<u16> = at_c.iter().map(|&(_, seq)| seq).collect();
    let last = seqs.iter().copied().max().unwrap_or(0);
    let missing: Vec<u16> = (first..=last).filter(|s| !seqs.contains(s)).collect();
    let b_last = at_b
        .iter()
        .map(|&(_, seq)| seq)
        .filter(|&seq| seq < first)
        .max()
        .unwrap_or(0);
    let b_after: Vec<u16> = at_b
        .iter()
        .map(|&(_, seq)| seq)
        .filter(|&seq| seq >= first)
        .collect();
    println!(
        "measured: the stream after the move ({watched_for:?}): C got {} of seq {first}..={last}, \
         missing {missing:?}; B's last before it {b_last}, at B after it {b_after:?}; \
         captures (B, C): {captures:?}",
        seqs.len()
    );
    assert!(
        missing.is_empty() && b_after.is_empty(),
        "echo requests of the stream after the move: missing at C {missing:?}, at B {b_after:?}\n\
         captures (B, C): {captures:?}\nroute: {}\ncounters that moved:\n{}\n{}",
        best_route(&lab, &daemon, D),
        counters.join("\n"),
        show(&lab, &daemon, &["ospf", "spf-log"]).unwrap_or_default()["text"]
            .as_str()
            .unwrap_or_default()
    );

    // After: a round of five pings through p2 only. Every counter on the
    // way is read before and after it, so a round that misses C says
    // where its frames went.
    let neighbour_of_a = || lab.ip(Host::A, &["-s", "neigh", "show", "dev", "a0"]);
    let (route_0, arp_0, counters_0) = (
        best_route(&lab, &daemon, D),
        neighbour_of_a(),
        read_counters(),
    );
    let (p1_0, p2_0) = sent(&daemon);
    let round_started = Instant::now();
    let pings = five_pings(&lab);
    let (p1_1, p2_1) = sent(&daemon);
    let seen = (echoes_queued(&on_b), echoes_queued(&on_c));
    let during_pings = (on_b.counts(), on_c.counts());
    let counters_1 = read_counters();
    let counters = changes(&counters_0, &counters_1);
    let arp_1 = neighbour_of_a();
    // SPF runs and FIB publications since the round started: a route
    // republished under the round would show here.
    let round = round_started.elapsed().as_millis() as u64;
    let spf_log = show(&lab, &daemon, &["ospf", "spf-log"]).unwrap_or_default();
    let spf_in_round = spf_log["runs"].as_array().map_or(0, |runs| {
        runs.iter()
            .filter(|r| r["ms_ago"].as_u64() < Some(round))
            .count()
    });
    let fib = |c: &Value| c["ferroute"]["fib_version"].as_u64().unwrap_or(0);
    println!(
        "measured: A's round of five pings: answered {:?}, \
         seen at C {:?}; captures during the round (B, C): {during_pings:?}; \
         SPF runs in the round: {spf_in_round}, FIB version {} -> {}",
        pings.answered,
        seen.1,
        fib(&counters_0),
        fib(&counters_1)
    );
    // Once in 48 runs (session 17) C saw 2 of the 5 and B none. ping had
    // exited 0, which only says that one reply came, so the other three
    // were most likely lost on the way, not missed by C's capture (it
    // queues a frame before C's stack forwards it, and only an answered
    // request was forwarded). Where is unknown: it did not come back in
    // 231 runs of session 18 (README, OSPF). The message says, for the
    // round, what ping got, which requests each capture saw and what the
    // kernel counted for it, and every counter of ferroute and of the
    // kernels of A, R and C that moved.
    assert!(
        seen.0.is_empty() && seen.1.len() >= 5 && pings.answered.len() == 5,
        "echo requests (id, seq) seen by B {:?} and C {:?}; answered {:?}\n\
         captures (B, C) during the round: {during_pings:?}\n\
         p1 {p1_0} -> {p1_1}, p2 {p2_0} -> {p2_1}\n\
         route before {route_0}, after {}\n\
         A's neighbours before:\n{arp_0}after:\n{arp_1}\n\
         counters that moved:\n{}\nping: {}\n{}",
        seen.0,
        seen.1,
        pings.answered,
        best_route(&lab, &daemon, D),
        counters.join("\n"),
        pings.text,
        spf_log["text"].as_str().unwrap_or_default()
    );
    assert!(
        p2_1 - p2_0 >= 4 && p1_1 == p1_0,
        "p1 {p1_0} -> {p1_1}, p2 {p2_0} -> {p2_1}"
    );

    daemon.stop();
    drop(frr);
    drop(bird);
}
