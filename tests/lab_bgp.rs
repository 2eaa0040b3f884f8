//! Live BGP: `ferroute run` in the lab's router namespace peers over p1
//! with a real daemon in host B's namespace — BIRD 2, FRR bgpd, GoBGP —
//! and the two exchange routes.
//!
//! ```text
//!   R (ferroute, AS 65000)  p1 203.0.113.1  <-- eBGP -->  203.0.113.2  B (daemon)
//! ```
//!
//! For each daemon: the session reaches Established; a prefix B announces
//! (198.51.100.0/24) reaches ferroute's RIB as an eBGP route via B; R's
//! redistributed connected route 192.0.2.0/24 reaches B's table with R as
//! next hop; B's withdrawal removes the route from R's RIB; B resetting the
//! session is recovered (Established again, the route back). Every wait
//! polls with a bound. Needs root and the daemon (skips otherwise, fails
//! under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, Gobgp, FRR_DAEMONS};
use support::bgp::{learned, ping, reload, router_config, session, show, B_PREFIX, LIMIT};
use support::config::RouterConfig;
use support::daemon::{ferroute_bin, Daemon};
use support::{poll_until, require_root, run_bounded, Host, Lab};

/// What each daemon test drives: announce, withdraw, reset, and read its
/// table.
trait Peer {
    fn announce(&self);
    fn withdraw(&self);
    fn reset(&self);
    /// Its route for 192.0.2.0/24 as it prints it.
    fn route_to_r(&self) -> String;
    fn log(&self) -> String;
}

/// The common scenario, given the daemon already running in B.
fn exchange(lab: &Lab, peer: &dyn Peer, remote_as: u32, ipv6_and_traffic: bool) {
    let config = router_config(&lab.dir, remote_as);
    let daemon = Daemon::start(lab, &config);
    let up = |established: u64| {
        poll_until(LIMIT, || {
            let (state, count) = session(lab, &daemon);
            state == "established" && count >= established
        })
    };
    assert!(
        up(1),
        "no session: {:?}\n{}",
        show(lab, &daemon, &["bgp"]),
        peer.log()
    );
    assert!(
        poll_until(LIMIT, || learned(lab, &daemon, B_PREFIX)),
        "{B_PREFIX} not learned: {:?}",
        show(lab, &daemon, &["routes", B_PREFIX])
    );
    assert!(
        poll_until(LIMIT, || peer.route_to_r().contains("203.0.113.1")),
        "192.0.2.0/24 not in the peer's table: {}",
        peer.route_to_r()
    );
    if ipv6_and_traffic {
        assert!(
            poll_until(LIMIT, || learned(lab, &daemon, "2001:db8:100::/48")),
            "IPv6 route not learned: {:?}\n{:?}",
            show(lab, &daemon, &["routes", "2001:db8:100::/48"]),
            show(lab, &daemon, &["bgp"])
        );
        assert!(
            poll_until(LIMIT, || ping(lab, "198.51.100.1")),
            "no traffic to B's prefix"
        );
        assert!(
            poll_until(LIMIT, || ping(lab, "2001:db8:100::1")),
            "no IPv6 traffic"
        );
    }
    peer.withdraw();
    assert!(
        poll_until(LIMIT, || show(lab, &daemon, &["routes", B_PREFIX]).is_err()),
        "{B_PREFIX} not withdrawn: {:?}",
        show(lab, &daemon, &["routes", B_PREFIX])
    );
    if ipv6_and_traffic {
        // The FIB follows the RIB within its publication window.
        assert!(
            poll_until(LIMIT, || !ping(lab, "198.51.100.1")),
            "traffic still forwarded after the withdrawal"
        );
    }
    peer.announce();
    assert!(poll_until(LIMIT, || learned(lab, &daemon, B_PREFIX)));
    peer.reset();
    assert!(
        up(2),
        "not re-established after the peer's reset: {:?}\n{}",
        show(lab, &daemon, &["bgp"]),
        peer.log()
    );
    assert!(poll_until(LIMIT, || learned(lab, &daemon, B_PREFIX)));
    if ipv6_and_traffic {
        assert!(
            poll_until(LIMIT, || learned(lab, &daemon, "2001:db8:100::/48")),
            "IPv6 route not back after the reset: {:?}\n{}",
            show(lab, &daemon, &["bgp"]),
            peer.log()
        );
        // A reload that stops redistributing: the session stays up and the
        // peer sees the withdrawal.
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("redistribute = [\"connected\"]", "")).unwrap();
        reload(lab, &daemon);
        assert!(
            poll_until(LIMIT, || !peer.route_to_r().contains("203.0.113.1")),
            "still advertised after the reload: {}",
            peer.route_to_r()
        );
        assert_eq!(session(lab, &daemon), ("established".to_string(), 2));
        assert!(
            learned(lab, &daemon, B_PREFIX),
            "routes kept over the reload"
        );
    }
    let mut c = Command::new(ferroute_bin());
    c.args(["show", "bgp", "--socket"]).arg(&daemon.socket);
    println!(
        "{}",
        run_bounded(c, &lab.dir, support::COMMAND_LIMIT).stdout
    );
    println!("{}", peer.route_to_r());
    let stopped = daemon.stop_cleanly(lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

struct BirdPeer(Bird);

impl Peer for BirdPeer {
    fn announce(&self) {
        self.0.birdc("enable s4");
    }
    fn withdraw(&self) {
        self.0.birdc("disable s4");
    }
    fn reset(&self) {
        self.0.birdc("restart r");
    }
    fn route_to_r(&self) -> String {
        self.0.birdc("show route 192.0.2.0/24 all")
    }
    fn log(&self) -> String {
        self.0.log()
    }
}

#[test]
fn bird_peers_with_ferroute() {
    if !require_root("bird_peers_with_ferroute")
        || !require_daemon("bird_peers_with_ferroute", "bird")
    {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(
        &lab.netns(Host::B),
        "router id 203.0.113.2;\n\
         protocol device {}\n\
         protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }\n\
         protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }\n\
         protocol bgp r {\n  local 203.0.113.2 as 65002;\n  neighbor 203.0.113.1 as 65000;\n\
           hold time 9;\n  ipv4 { import all; export all; };\n\
           ipv6 { import all; export all; next hop address 2001:db8:1::2; };\n}\n",
    );
    // An address behind B, for traffic through ferroute's data plane.
    for (ip, address) in [("-4", "198.51.100.1/32"), ("-6", "2001:db8:100::1/128")] {
        lab.ip(Host::B, &[ip, "addr", "add", address, "dev", "lo"]);
    }
    let peer = BirdPeer(bird);
    exchange(&lab, &peer, 65002, true);
}

struct FrrPeer(Frr);

impl Peer for FrrPeer {
    fn announce(&self) {
        self.0.vtysh_lines(&[
            "configure terminal",
            "router bgp 65003",
            "address-family ipv4 unicast",
            "network 198.51.100.0/24",
        ]);
    }
    fn withdraw(&self) {
        self.0.vtysh_lines(&[
            "configure terminal",
            "router bgp 65003",
            "address-family ipv4 unicast",
            "no network 198.51.100.0/24",
        ]);
    }
    fn reset(&self) {
        self.0.vtysh("clear bgp 203.0.113.1");
    }
    fn route_to_r(&self) -> String {
        self.0.vtysh("show bgp ipv4 unicast 192.0.2.0/24")
    }
    fn log(&self) -> String {
        self.0.log("bgpd")
    }
}

#[test]
fn frr_peers_with_ferroute() {
    let bgpd = format!("{FRR_DAEMONS}/bgpd");
    if !require_root("frr_peers_with_ferroute") || !require_daemon("frr_peers_with_ferroute", &bgpd)
    {
        return;
    }
    let lab = Lab::up();
    let frr = Frr::start(
        &lab.netns(Host::B),
        &[FrrDaemon::Bgpd],
        "frr defaults traditional\n\
         router bgp 65003\n bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n\
          no bgp network import-check\n neighbor 203.0.113.1 remote-as 65000\n\
          neighbor 203.0.113.1 timers 3 9\n address-family ipv4 unicast\n\
           network 198.51.100.0/24\n exit-address-family\n",
    );
    let peer = FrrPeer(frr);
    exchange(&lab, &peer, 65003, false);
}

struct GobgpPeer(Gobgp);

impl Peer for GobgpPeer {
    fn announce(&self) {
        self.0.cli("global rib add 198.51.100.0/24 -a ipv4");
    }
    fn withdraw(&self) {
        self.0.cli("global rib del 198.51.100.0/24 -a ipv4");
    }
    fn reset(&self) {
        self.0.cli("neighbor 203.0.113.1 reset");
    }
    fn route_to_r(&self) -> String {
        self.0.cli("global rib -a ipv4 192.0.2.0/24")
    }
    fn log(&self) -> String {
        self.0.log()
    }
}

#[test]
fn gobgp_peers_with_ferroute() {
    if !require_root("gobgp_peers_with_ferroute")
        || !require_daemon("gobgp_peers_with_ferroute", "gobgpd")
    {
        return;
    }
    let lab = Lab::up();
    let gobgp = Gobgp::start(
        &lab.netns(Host::B),
        "[global.config]\n  as = 65004\n  router-id = \"203.0.113.2\"\n\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"203.0.113.1\"\n    peer-as = 65000\n\
           [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n\
           [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
    );
    let peer = GobgpPeer(gobgp);
    peer.announce();
    exchange(&lab, &peer, 65004, false);
}

/// Routes BIRD announces in [`bird_feed_ratio`].
const FEED: u32 = 100_000;

/// Prefixes in BIRD's `show route count` output (the first number).
fn bird_count(bird: &Bird) -> u64 {
    let text = bird.birdc("show route count");
    text.lines()
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A lab benchmark, run by hand (`cargo test --test lab_bgp -- --ignored
/// --nocapture`): BIRD in B announces [`FEED`] routes at once to ferroute
/// (R) and, in the same run, to a second BIRD in A (a multihop session
/// whose packets cross ferroute's data plane). Prints how long each took
/// from the moment the routes were enabled until it held all of them, and
/// the ratio; fails if either never gets them all.
#[test]
#[ignore = "a benchmark: run by hand and report with the load average"]
fn bird_feed_ratio() {
    if !require_root("bird_feed_ratio") || !require_daemon("bird_feed_ratio", "bird") {
        return;
    }
    let lab = Lab::up();
    let mut routes = String::new();
    for i in 0..FEED {
        let (a, b, c) = (20 + i / 65536, (i / 256) % 256, i % 256);
        routes.push_str(&format!("  route {a}.{b}.{c}.0/24 blackhole;\n"));
    }
    let feeder = Bird::start(
        &lab.netns(Host::B),
        &format!(
            "router id 203.0.113.2;\nprotocol device {{}}\n\
             protocol static feed {{ disabled; ipv4;\n{routes}}}\n\
             protocol bgp r {{ local 203.0.113.2 as 65002; neighbor 203.0.113.1 as 65000;\n\
               ipv4 {{ import none; export all; }}; }}\n\
             protocol bgp a {{ local 203.0.113.2 as 65002; neighbor 192.0.2.10 as 65005; multihop;\n\
               ipv4 {{ import none; export all; }}; }}\n"
        ),
    );
    let config = router_config(&lab.dir, 65002);
    let daemon = Daemon::start(&lab, &config);
    let sink = Bird::start(
        &lab.netns(Host::A),
        "router id 192.0.2.10;\nprotocol device {}\n\
         protocol bgp b { local 192.0.2.10 as 65005; neighbor 203.0.113.2 as 65002; multihop;\n\
           ipv4 { import all; export none; }; }\n",
    );
    let up = poll_until(LIMIT, || {
        session(&lab, &daemon).0 == "established"
            && sink.birdc("show protocols b").contains("Established")
    });
    assert!(
        up,
        "sessions not up: {}\n{}",
        feeder.birdc("show protocols"),
        sink.log()
    );
    let accepted = || {
        show(&lab, &daemon, &["bgp", "neighbors"])
            .ok()
            .and_then(|v| v["peers"][0]["accepted"].as_u64())
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    feeder.birdc("enable feed");
    let (mut ferroute_at, mut bird_at) = (None, None);
    let limit = Duration::from_secs(300);
    poll_until(limit, || {
        if ferroute_at.is_none() && accepted() >= u64::from(FEED) {
            ferroute_at = Some(start.elapsed());
        }
        if bird_at.is_none() && bird_count(&sink) >= u64::from(FEED) {
            bird_at = Some(start.elapsed());
        }
        ferroute_at.is_some() && bird_at.is_some()
    });
    let (Some(f), Some(b)) = (ferroute_at, bird_at) else {
        panic!(
            "not all routes arrived: ferroute {:?}, BIRD {}",
            accepted(),
            bird_count(&sink)
        );
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "bird_feed_ratio: {FEED} routes: ferroute {:.2} s, BIRD {:.2} s, ratio {:.2} (load {})",
        f.as_secs_f64(),
        b.as_secs_f64(),
        f.as_secs_f64() / b.as_secs_f64(),
        load.trim()
    );
}

/// Two sessions with one BIRD, one over IPv4 and one over IPv6 transport
/// (both listeners, IPv6 next hops): both reach Established, and each
/// family's routes go both ways over its own session.
#[test]
fn bird_over_ipv4_and_ipv6_transport() {
    if !require_root("bird_over_ipv4_and_ipv6_transport")
        || !require_daemon("bird_over_ipv4_and_ipv6_transport", "bird")
    {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(
        &lab.netns(Host::B),
        "router id 203.0.113.2;\nprotocol device {}\n\
         protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }\n\
         protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }\n\
         protocol bgp r4 { local 203.0.113.2 as 65002; neighbor 203.0.113.1 as 65000;\n\
           ipv4 { import all; export all; }; }\n\
         protocol bgp r6 { local 2001:db8:1::2 as 65002; neighbor 2001:db8:1::1 as 65000;\n\
           ipv6 { import all; export all; }; }\n",
    );
    let mut config = RouterConfig::default().toml();
    config.push_str(
        "\n[bgp]\nlocal_as = 65000\nredistribute = [\"connected\"]\n\n\
         [[bgp.peer]]\naddress = \"203.0.113.2\"\nremote_as = 65002\nimport = \"all\"\nexport = \"all\"\n\n\
         [[bgp.peer]]\naddress = \"2001:db8:1::2\"\nremote_as = 65002\nimport = \"all\"\nexport = \"all\"\n",
    );
    let path = lab.dir.join("router-bgp.toml");
    std::fs::write(&path, config).unwrap();
    let daemon = Daemon::start(&lab, &path);
    let states = || {
        show(&lab, &daemon, &["bgp", "neighbors"]).map_or(Vec::new(), |v| {
            v["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["state"].as_str().unwrap_or_default().to_string())
                .collect()
        })
    };
    assert!(
        poll_until(LIMIT, || states() == ["established", "established"]),
        "{:?}\n{}",
        show(&lab, &daemon, &["bgp"]),
        bird.birdc("show protocols all")
    );
    let via = |prefix: &str, hop: &str| {
        show(&lab, &daemon, &["routes", prefix]).is_ok_and(|v| {
            let t = v.to_string();
            t.contains("ebgp") && t.contains(hop)
        })
    };
    assert!(poll_until(LIMIT, || via(B_PREFIX, "203.0.113.2")));
    assert!(
        poll_until(LIMIT, || via("2001:db8:100::/48", "2001:db8:1::2")),
        "{:?}",
        show(&lab, &daemon, &["routes", "2001:db8:100::/48"])
    );
    assert!(
        poll_until(LIMIT, || bird
            .birdc("show route 2001:db8::/64 all")
            .contains("2001:db8:1::1")),
        "{}",
        bird.birdc("show route 2001:db8::/64 all")
    );
    assert!(poll_until(LIMIT, || bird
        .birdc("show route 192.0.2.0/24 all")
        .contains("203.0.113.1")));
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// BIRD with graceful restart is killed (SIGKILL: its connection is lost
/// without a NOTIFICATION): ferroute, the helper, keeps its routes (stale,
/// still forwarded) until BIRD's restart time (5 s) runs out, then drops
/// them.
#[test]
fn bird_killed_keeps_its_routes_for_the_restart_time() {
    let test = "bird_killed_keeps_its_routes_for_the_restart_time";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(
        &lab.netns(Host::B),
        "router id 203.0.113.2;\nprotocol device {}\n\
         protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }\n\
         protocol bgp r { local 203.0.113.2 as 65002; neighbor 203.0.113.1 as 65000;\n\
           graceful restart on; graceful restart time 5;\n\
           ipv4 { import all; export all; }; }\n",
    );
    let config = router_config(&lab.dir, 65002);
    let daemon = Daemon::start(&lab, &config);
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));
    // SAFETY: kill(2) on the BIRD this test started (its guard's PID; the
    // guard reaps it on drop).
    unsafe { libc::kill(bird.pid() as libc::pid_t, libc::SIGKILL) };
    assert!(
        poll_until(LIMIT, || session(&lab, &daemon).0 != "established"),
        "the session did not notice BIRD's death"
    );
    let stale = show(&lab, &daemon, &["bgp", "neighbors"]).unwrap()["peers"][0]["stale"].as_u64();
    assert!(learned(&lab, &daemon, B_PREFIX), "the route went at once");
    assert_eq!(stale, Some(1), "{:?}", show(&lab, &daemon, &["bgp"]));
    assert!(
        poll_until(LIMIT, || show(&lab, &daemon, &["routes", B_PREFIX])
            .is_err()),
        "the stale route outlived the restart time"
    );
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
