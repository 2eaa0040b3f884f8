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
//! Needs root and BIRD (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ferroute::testkit::daemons::{require_daemon, Bird};
use support::bgp::{ferroute, ping, show};
use support::config::RouterConfig;
use support::daemon::Daemon;
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
    let mut config = RouterConfig {
        default_routes_via_b: false,
        ..RouterConfig::default()
    }
    .toml();
    config.push_str(OSPF);
    let path = lab.dir.join("router-ospf.toml");
    std::fs::write(&path, config).unwrap();
    let daemon = Daemon::start(&lab, &path);

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
