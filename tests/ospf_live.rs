//! The OSPF speaker live, in network namespaces, against BIRD 2 and FRR
//! ospfd: ferroute's control plane (event loop, engine, raw sockets; no
//! data plane) in namespace `rt`, BIRD in `bd`, FRR in `fr`, a bridge in
//! `hub` making LAN 192.0.2.0/24 of the three, and a point-to-point link
//! 10.0.12.0/30 between ferroute and BIRD.
//!
//! * ferroute starts alone and becomes DR of the LAN; BIRD (priority 5)
//!   and FRR (priority 10) join: both reach Full with ferroute on the LAN,
//!   BIRD on the p2p link too;
//! * their stub networks (198.51.100.0/24 behind BIRD, 203.0.113.0/24
//!   behind FRR) reach ferroute's RIB as `ospf` routes, BIRD's with two
//!   equal-cost paths (LAN and p2p);
//! * ferroute's router and network LSAs are in BIRD's and FRR's
//!   databases, and its stub (100.64.1.0/24) in their routing tables;
//! * the three databases agree (same LSAs, sequence numbers, checksums);
//! * FRR stopped: after the dead interval ferroute drops it and its route,
//!   in the RIB and the FIB;
//! * ferroute restarted: Full with BIRD again, its router LSA from before
//!   superseded (higher sequence) and its network LSA from its time as DR
//!   flushed (§13.4).
//!
//! FRR also has a point-to-point link to ferroute (10.0.13.0/30), so each
//! daemon is Full with ferroute on both network types.
//!
//! The LAN uses simple password authentication, the point-to-point links
//! cryptographic MD5 (key id 1): every adjacency above is authenticated.
//!
//! AS-external routes go both ways: BIRD exports a static route (type 2,
//! metric 25) and FRR its connected 100.67.0.0/24 (type 1, metric 30),
//! both routed by ferroute through each daemon's two links; ferroute
//! redistributes its blackhole static 100.68.0.0/24, which BIRD shows as
//! an E2 route from 10.0.0.1 and FRR installs as `ospf`. FRR's external
//! route goes when FRR does.

use std::time::{Duration, Instant};

use ferroute::config::Config;
use ferroute::control::{self, Control, ControlHandle};
use ferroute::fib::{FibHandle, NextHop};
use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use ferroute::testkit::netns::{poll_until, require_root, Netns};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

struct Lab {
    rt: Netns,
    bd: Netns,
    fr: Netns,
    _hub: Netns,
}

fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
    a.ip(&[
        "link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", &b.name,
    ]);
    a.ip(&["link", "set", a_name, "up"]);
    b.ip(&["link", "set", b_name, "up"]);
}

fn addr(ns: &Netns, dev: &str, address: &str) {
    ns.ip(&["addr", "add", address, "dev", dev]);
}

/// A LAN with no one else on it (a veth pair inside one namespace: the
/// kernel here has no dummy interfaces).
fn lone_lan(ns: &Netns, dev: &str, address: &str) {
    let peer = format!("{dev}p");
    ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer]);
    ns.ip(&["link", "set", dev, "up"]);
    ns.ip(&["link", "set", &peer, "up"]);
    addr(ns, dev, address);
}

impl Lab {
    fn new() -> Lab {
        let hub = Netns::new("ospf-hub");
        let rt = Netns::new("ospf-rt");
        let bd = Netns::new("ospf-bd");
        let fr = Netns::new("ospf-fr");
        hub.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        hub.ip(&["link", "set", "br0", "up"]);
        for (ns, port, address) in [
            (&rt, "h-rt", "192.0.2.1/24"),
            (&bd, "h-bd", "192.0.2.2/24"),
            (&fr, "h-fr", "192.0.2.3/24"),
        ] {
            veth(ns, "lan0", &hub, port);
            hub.ip(&["link", "set", port, "master", "br0"]);
            addr(ns, "lan0", address);
        }
        veth(&rt, "p2p0", &bd, "p2p0");
        addr(&rt, "p2p0", "10.0.12.1/30");
        addr(&bd, "p2p0", "10.0.12.2/30");
        veth(&rt, "p2p1", &fr, "p2p0");
        addr(&rt, "p2p1", "10.0.13.1/30");
        addr(&fr, "p2p0", "10.0.13.2/30");
        lone_lan(&rt, "stub0", "100.64.1.1/24");
        lone_lan(&bd, "stub0", "198.51.100.1/24");
        lone_lan(&fr, "stub0", "203.0.113.1/24");
        lone_lan(&fr, "ext0", "100.67.0.1/24");
        Lab {
            rt,
            bd,
            fr,
            _hub: hub,
        }
    }
}

const FERROUTE: &str = r#"
[router]
id = "10.0.0.1"

[[port]]
name = "lan"
interface = "lan0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24"]

[[port]]
name = "p2p"
interface = "p2p0"
mac = "02:00:00:00:00:02"
addresses = ["10.0.12.1/30"]

[[port]]
name = "p2pf"
interface = "p2p1"
mac = "02:00:00:00:00:04"
addresses = ["10.0.13.1/30"]

[[port]]
name = "stub"
interface = "stub0"
mac = "02:00:00:00:00:03"
addresses = ["100.64.1.1/24"]

[[route]]
prefix = "100.68.0.0/24"
action = "blackhole"

[ospf]
area = "0.0.0.0"
redistribute = ["static"]

[[ospf.interface]]
port = "lan"
network = "broadcast"
priority = 100
hello_interval = 1
dead_interval = 4
authentication = "simple"
password = "lanpass"

[[ospf.interface]]
port = "p2p"
network = "point-to-point"
hello_interval = 1
dead_interval = 4
authentication = "md5"
password = "p2pkey"
key_id = 1

[[ospf.interface]]
port = "p2pf"
network = "point-to-point"
hello_interval = 1
dead_interval = 4
authentication = "md5"
password = "p2pkey"
key_id = 1

[[ospf.interface]]
port = "stub"
hello_interval = 1
dead_interval = 4
"#;

const BIRD: &str = r#"
router id 10.0.0.2;
protocol device { scan time 1; }
protocol static {
  ipv4;
  route 100.66.0.0/24 blackhole;
}
protocol ospf v2 o {
  ipv4 {
    import all;
    export filter { if source = RTS_STATIC then { ospf_metric2 = 25; accept; } reject; };
  };
  area 0 {
    interface "lan0" {
      type broadcast; hello 1; dead 4; priority 5;
      authentication simple; password "lanpass";
    };
    interface "p2p0" {
      type ptp; hello 1; dead 4;
      authentication cryptographic; password "p2pkey" { id 1; algorithm keyed md5; };
    };
    interface "stub0" { stub yes; };
  };
}
"#;

const FRR: &str = r#"
frr defaults traditional
hostname fr
!
interface lan0
 ip ospf hello-interval 1
 ip ospf dead-interval 4
 ip ospf priority 10
 ip ospf authentication
 ip ospf authentication-key lanpass
!
interface p2p0
 ip ospf network point-to-point
 ip ospf hello-interval 1
 ip ospf dead-interval 4
 ip ospf authentication message-digest
 ip ospf message-digest-key 1 md5 p2pkey
!
ip prefix-list EXT seq 5 permit 100.67.0.0/24
!
route-map EXT permit 10
 match ip address prefix-list EXT
!
router ospf
 ospf router-id 10.0.0.3
 network 192.0.2.0/24 area 0
 network 10.0.13.0/30 area 0
 network 203.0.113.0/24 area 0
 redistribute connected metric 30 metric-type 1 route-map EXT
!
"#;

/// An LSA as the three list it: type, id, advertising router, sequence,
/// checksum.
type Lsa = (u8, String, String, u32, u16);

fn hex32(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn hex16(s: &str) -> Option<u16> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn ferroute_lsas(h: &ControlHandle) -> Vec<Lsa> {
    let v = show(h, "ospf database");
    let mut out: Vec<Lsa> = v["database"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let t = match l["ls_type"].as_str()? {
                "router" => 1,
                "network" => 2,
                "as-external" => 5,
                _ => return None,
            };
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            Some((
                t,
                text("ls_id"),
                text("adv_router"),
                hex32(&text("sequence"))?,
                hex16(&text("checksum"))?,
            ))
        })
        .collect();
    out.sort();
    out
}

/// `birdc show ospf lsadb`: " 0001  10.0.0.1  10.0.0.1  80000002  6  e7d6".
fn bird_lsas(text: &str) -> Vec<Lsa> {
    let mut out: Vec<Lsa> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [t, id, adv, seq, _age, sum] = f[..] else {
                return None;
            };
            let t = u8::from_str_radix(t, 16)
                .ok()
                .filter(|t| [1, 2, 5].contains(t))?;
            Some((t, id.to_string(), adv.to_string(), hex32(seq)?, hex16(sum)?))
        })
        .collect();
    out.sort();
    out
}

/// `vtysh show ip ospf database`: sections of "ID ADV AGE SEQ SUM [LINKS]".
fn frr_lsas(text: &str) -> Vec<Lsa> {
    let mut t = 0;
    let mut out: Vec<Lsa> = Vec::new();
    for l in text.lines() {
        if l.contains("Router Link States") {
            t = 1;
        } else if l.contains("Net Link States") {
            t = 2;
        } else if l.contains("External Link States") {
            t = 5;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && f[0].parse::<std::net::Ipv4Addr>().is_ok() && f[3].starts_with("0x") {
            if let (Some(seq), Some(sum)) = (hex32(f[3]), hex16(f[4])) {
                out.push((t, f[0].to_string(), f[1].to_string(), seq, sum));
            }
        }
    }
    out.sort();
    out
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn show(h: &ControlHandle, what: &str) -> Value {
    h.show(what).unwrap_or_else(|e| panic!("show {what}: {e}"))
}

/// The state of neighbour `router` on port `port` as ferroute sees it.
fn neighbor_state(h: &ControlHandle, port: &str, router: &str) -> Option<String> {
    let v = show(h, "ospf neighbors");
    v["neighbors"].as_array()?.iter().find_map(|n| {
        (n["port"] == port && n["router_id"] == router)
            .then(|| n["state"].as_str().unwrap_or_default().to_string())
    })
}

fn wait(what: &str, mut f: impl FnMut() -> bool, diagnose: impl FnOnce() -> String) {
    if !poll_until(LIMIT, &mut f) {
        panic!("{what} within {LIMIT:?}\n{}", diagnose());
    }
}

/// The source and gateways of ferroute's route for `prefix` (`None`: no route).
fn route(h: &ControlHandle, prefix: &str) -> Option<(String, Vec<String>)> {
    let v = h.show(&format!("routes {prefix}")).ok()?;
    let text = v["text"].as_str().unwrap_or_default().to_string();
    let best = text.lines().find(|l| l.contains("ospf"))?.to_string();
    let gateways = ["192.0.2.2", "192.0.2.3", "10.0.12.2", "10.0.13.2"]
        .iter()
        .filter(|g| text.contains(*g))
        .map(|g| g.to_string())
        .collect();
    Some((best, gateways))
}

/// ferroute's control plane in namespace `rt`.
fn start_ferroute(lab: &Lab, config: &Config) -> (ControlHandle, FibHandle) {
    lab.rt.run(|| {
        let inputs = config.control_inputs();
        let ifindexes = control::port_ifindexes(&inputs).unwrap();
        let fib = FibHandle::new(config.fib().unwrap());
        let handle = Control::start(&inputs, fib.clone(), &ifindexes).unwrap();
        (handle, fib)
    })
}

/// The sequence number of BIRD's copy of an LSA (type, id, advertising
/// router), if it holds one younger than MaxAge.
fn bird_sequence(bird: &Bird, t: u8, id: &str, adv: &str) -> Option<u32> {
    let text = bird.birdc("show ospf lsadb");
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [ty, lid, ladv, seq, age, _] = f[..] else {
            return None;
        };
        let live = age.parse::<u32>().is_ok_and(|a| a < 3600);
        (u8::from_str_radix(ty, 16).ok() == Some(t) && lid == id && ladv == adv && live)
            .then(|| hex32(seq))
            .flatten()
    })
}

#[test]
fn ospf_adjacencies_lsas_and_routes_with_bird_and_frr() {
    let test = "ospf_adjacencies_lsas_and_routes_with_bird_and_frr";
    if !require_root(test, "network namespaces")
        || !require_daemon(test, "bird")
        || !require_daemon(test, &format!("{FRR_DAEMONS}/ospfd"))
    {
        return;
    }
    let lab = Lab::new();
    let config = Config::parse(FERROUTE, "ospf.toml").unwrap();
    let (handle, fib) = start_ferroute(&lab, &config);
    // Alone on the LAN, ferroute is DR once its wait timer ran out.
    wait(
        "ferroute DR of the LAN",
        || show(&handle, "ospf interfaces")["interfaces"][0]["state"] == "dr",
        || show(&handle, "ospf").to_string(),
    );
    let started = Instant::now();
    let bird = Bird::start(&lab.bd.name, BIRD);
    let frr = Frr::start(&lab.fr.name, &[FrrDaemon::Ospfd], FRR);
    let diagnose = || {
        format!(
            "{}\nBIRD:\n{}\nFRR:\n{}\nospfd log (tail):\n{}",
            show(&handle, "ospf")["text"].as_str().unwrap_or_default(),
            bird.birdc("show ospf neighbors"),
            frr.vtysh("show ip ospf neighbor"),
            {
                let log = frr.log("ospfd");
                let _ = std::fs::write("/tmp/ospf-live-ospfd.log", &log);
                tail(&log, 30)
            }
        )
    };
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "BIRD and FRR Full with ferroute",
        || {
            full("lan", "10.0.0.2")
                && full("p2p", "10.0.0.2")
                && full("lan", "10.0.0.3")
                && full("p2pf", "10.0.0.3")
        },
        diagnose,
    );
    let full_after = started.elapsed();
    // Their stubs in ferroute's RIB, each through both of its links.
    wait(
        "BIRD's and FRR's stubs routed",
        || {
            route(&handle, "198.51.100.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "203.0.113.0/24").is_some_and(|(_, g)| g.len() == 2)
        },
        || {
            format!(
                "{:?}\n{}\n{}",
                route(&handle, "198.51.100.0/24"),
                diagnose(),
                bird.birdc("show ospf state all")
            )
        },
    );
    let (_, via) = route(&handle, "198.51.100.0/24").unwrap();
    assert_eq!(via, ["192.0.2.2", "10.0.12.2"]);
    let (_, via) = route(&handle, "203.0.113.0/24").unwrap();
    assert_eq!(via, ["192.0.2.3", "10.0.13.2"]);
    // And in the FIB the workers read.
    let forwarded = |a: &str| {
        let fib = fib.load();
        fib.lookup_v4(a.parse().unwrap())
            .is_some_and(|nh| matches!(nh, NextHop::Adjacency { .. } | NextHop::Unresolved { .. }))
    };
    wait(
        "both stubs in the FIB",
        || forwarded("198.51.100.1") && forwarded("203.0.113.1"),
        diagnose,
    );
    // AS-external routes both ways: BIRD's static (type 2, metric 25) and
    // FRR's connected ext0 (type 1, metric 30) in ferroute's RIB; ferroute's
    // blackhole static (type 2, metric 20) in BIRD's and FRR's tables.
    wait(
        "BIRD's and FRR's external routes in ferroute's RIB",
        || {
            route(&handle, "100.66.0.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "100.67.0.0/24").is_some_and(|(_, g)| g.len() == 2)
        },
        || {
            format!(
                "{}\n{}",
                show(&handle, "ospf routes")["text"]
                    .as_str()
                    .unwrap_or_default(),
                diagnose()
            )
        },
    );
    assert_eq!(
        route(&handle, "100.66.0.0/24").unwrap().1,
        ["192.0.2.2", "10.0.12.2"]
    );
    assert_eq!(
        route(&handle, "100.67.0.0/24").unwrap().1,
        ["192.0.2.3", "10.0.13.2"]
    );
    let externals = show(&handle, "ospf routes");
    let external = |prefix: &str| {
        externals["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prefix"] == prefix)
            .cloned()
            .unwrap_or_else(|| panic!("{prefix} in {externals}"))
    };
    let e2 = external("100.66.0.0/24");
    assert_eq!(
        (
            &e2["path_type"],
            &e2["type2_metric"],
            &e2["cost"],
            &e2["advertised_by"]
        ),
        (
            &"external2".into(),
            &25.into(),
            &10.into(),
            &"10.0.0.2".into()
        ),
        "{e2}"
    );
    let e1 = external("100.67.0.0/24");
    assert_eq!(
        (&e1["path_type"], &e1["type2_metric"], &e1["cost"]),
        (&"external1".into(), &Value::Null, &40.into()),
        "{e1}"
    );
    wait(
        "ferroute's redistributed static in BIRD's and FRR's tables",
        || {
            let b = bird.birdc("show route 100.68.0.0/24 all");
            b.contains("E2")
                && b.contains("10.0.0.1")
                && frr.vtysh("show ip route 100.68.0.0/24").contains("ospf")
        },
        || {
            format!(
                "{}\n{}",
                bird.birdc("show route 100.68.0.0/24 all"),
                frr.vtysh("show ip ospf database external")
            )
        },
    );
    // ferroute's LSAs in theirs, its stub in their routing tables.
    wait(
        "ferroute's stub in BIRD's and FRR's tables",
        || {
            bird.birdc("show route 100.64.1.0/24")
                .contains("100.64.1.0/24")
                && frr.vtysh("show ip route 100.64.1.0/24").contains("ospf")
        },
        || {
            format!(
                "{}\n{}",
                bird.birdc("show ospf lsadb"),
                frr.vtysh("show ip ospf database")
            )
        },
    );
    // The three databases agree: same LSAs, sequence numbers, checksums.
    wait(
        "the three LSDBs agree",
        || {
            let ours = ferroute_lsas(&handle);
            // 3 router LSAs, the LAN's network LSA, 3 AS-external LSAs.
            ours.len() == 7
                && bird_lsas(&bird.birdc("show ospf lsadb")) == ours
                && frr_lsas(&frr.vtysh("show ip ospf database")) == ours
        },
        || {
            format!(
                "ferroute {:?}\nBIRD {:?}\nFRR {:?}",
                ferroute_lsas(&handle),
                bird_lsas(&bird.birdc("show ospf lsadb")),
                frr_lsas(&frr.vtysh("show ip ospf database"))
            )
        },
    );
    let lsadb = bird.birdc("show ospf lsadb");
    assert!(lsadb.contains("10.0.0.1"), "{lsadb}");
    let frr_db = frr.vtysh("show ip ospf database");
    assert!(frr_db.contains("10.0.0.1"), "{frr_db}");
    // The network LSA of the LAN is ferroute's (the DR's).
    assert!(
        frr_db
            .lines()
            .any(|l| l.starts_with("192.0.2.1") && l.contains("10.0.0.1")),
        "{frr_db}"
    );
    println!(
        "ferroute:\n{}",
        show(&handle, "ospf")["text"].as_str().unwrap_or_default()
    );
    println!("BIRD lsadb:\n{lsadb}\nFRR database:\n{frr_db}");
    // FRR goes away: after the dead interval its route goes too.
    drop(frr);
    let stopped = Instant::now();
    wait(
        "FRR dropped after the dead interval",
        || neighbor_state(&handle, "lan", "10.0.0.3").is_none(),
        || show(&handle, "ospf").to_string(),
    );
    wait(
        "FRR's stub withdrawn",
        || route(&handle, "203.0.113.0/24").is_none(),
        || format!("{:?}", route(&handle, "203.0.113.0/24")),
    );
    let withdrawn_after = stopped.elapsed();
    assert!(!forwarded("203.0.113.1") || route(&handle, "203.0.113.0/24").is_none());
    wait(
        "FRR's stub out of the FIB",
        || !forwarded("203.0.113.1"),
        String::new,
    );
    assert!(route(&handle, "198.51.100.0/24").is_some() && forwarded("198.51.100.1"));
    // Its external route went with it (its LSA stays until it ages out,
    // but the ASBR is unreachable).
    wait(
        "FRR's external route withdrawn",
        || route(&handle, "100.67.0.0/24").is_none(),
        || format!("{:?}", route(&handle, "100.67.0.0/24")),
    );
    println!(
        "measured: all Full {full_after:?} after starting BIRD and FRR; \
         FRR's route withdrawn {withdrawn_after:?} after FRR stopped (dead interval 4 s)"
    );
    // ferroute restarts: BIRD holds its router LSA from before at a higher
    // sequence than a new start's, and its network LSA, which ferroute (no
    // longer DR: BIRD took over) must flush (§13.4).
    let router_before = bird_sequence(&bird, 1, "10.0.0.1", "10.0.0.1").expect("held");
    handle.stop().unwrap();
    wait(
        "BIRD DR after ferroute stopped",
        || bird.birdc("show ospf interface").contains("State: DR"),
        || bird.birdc("show ospf interface"),
    );
    let restarted = Instant::now();
    let (handle, _fib) = start_ferroute(&lab, &config);
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "Full with BIRD again on both links",
        || full("lan", "10.0.0.2") && full("p2p", "10.0.0.2"),
        || show(&handle, "ospf").to_string(),
    );
    let full_again = restarted.elapsed();
    wait(
        "the old router LSA superseded, the old network LSA flushed",
        || {
            bird_sequence(&bird, 1, "10.0.0.1", "10.0.0.1").is_some_and(|s| s > router_before)
                && bird_sequence(&bird, 2, "192.0.2.1", "10.0.0.1").is_none()
        },
        || {
            format!(
                "before {router_before:#x}\n{}",
                bird.birdc("show ospf lsadb")
            )
        },
    );
    println!(
        "measured: after a restart, Full with BIRD on both links in {full_again:?}, \
         stale LSAs superseded/flushed in {:?}",
        restarted.elapsed()
    );
    wait(
        "BIRD's stub routed again",
        || route(&handle, "198.51.100.0/24").is_some(),
        || show(&handle, "ospf").to_string(),
    );
    drop(bird);
    handle.stop().unwrap();
    drop(lab.rt);
}
