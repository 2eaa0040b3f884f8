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
//! * FRR stopped: after the dead interval ferroute drops it and its route.

use std::time::Duration;

use ferroute::config::Config;
use ferroute::control::{self, Control, ControlHandle};
use ferroute::fib::FibHandle;
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
        lone_lan(&rt, "stub0", "100.64.1.1/24");
        lone_lan(&bd, "stub0", "198.51.100.1/24");
        lone_lan(&fr, "stub0", "203.0.113.1/24");
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
name = "stub"
interface = "stub0"
mac = "02:00:00:00:00:03"
addresses = ["100.64.1.1/24"]

[ospf]
area = "0.0.0.0"

[[ospf.interface]]
port = "lan"
network = "broadcast"
priority = 100
hello_interval = 1
dead_interval = 4

[[ospf.interface]]
port = "p2p"
network = "point-to-point"
hello_interval = 1
dead_interval = 4

[[ospf.interface]]
port = "stub"
hello_interval = 1
dead_interval = 4
"#;

const BIRD: &str = r#"
router id 10.0.0.2;
protocol device { scan time 1; }
protocol ospf v2 o {
  ipv4 { import all; export none; };
  area 0 {
    interface "lan0" { type broadcast; hello 1; dead 4; priority 5; };
    interface "p2p0" { type ptp; hello 1; dead 4; };
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
!
router ospf
 ospf router-id 10.0.0.3
 network 192.0.2.0/24 area 0
 network 203.0.113.0/24 area 0
!
"#;

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
    let gateways = ["192.0.2.2", "192.0.2.3", "10.0.12.2"]
        .iter()
        .filter(|g| text.contains(*g))
        .map(|g| g.to_string())
        .collect();
    Some((best, gateways))
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
    let (handle, fib) = lab.rt.run(|| {
        let inputs = config.control_inputs();
        let ifindexes = control::port_ifindexes(&inputs).unwrap();
        let fib = FibHandle::new(config.fib().unwrap());
        (
            Control::start(&inputs, fib.clone(), &ifindexes).unwrap(),
            fib,
        )
    });
    let _ = &fib;
    // Alone on the LAN, ferroute is DR once its wait timer ran out.
    wait(
        "ferroute DR of the LAN",
        || show(&handle, "ospf interfaces")["interfaces"][0]["state"] == "dr",
        || show(&handle, "ospf").to_string(),
    );
    let bird = Bird::start(&lab.bd.name, BIRD);
    let frr = Frr::start(&lab.fr.name, &[FrrDaemon::Ospfd], FRR);
    let diagnose = || {
        format!(
            "{}\nBIRD:\n{}\nFRR:\n{}",
            show(&handle, "ospf")["text"].as_str().unwrap_or_default(),
            bird.birdc("show ospf neighbors"),
            frr.vtysh("show ip ospf neighbor")
        )
    };
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "BIRD and FRR Full with ferroute",
        || full("lan", "10.0.0.2") && full("p2p", "10.0.0.2") && full("lan", "10.0.0.3"),
        diagnose,
    );
    // Their stubs in ferroute's RIB, BIRD's through both of its links.
    wait(
        "BIRD's and FRR's stubs routed",
        || {
            route(&handle, "198.51.100.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "203.0.113.0/24").is_some()
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
    assert_eq!(via, ["192.0.2.3"]);
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
    assert!(route(&handle, "198.51.100.0/24").is_some());
    drop(bird);
    handle.stop().unwrap();
    drop(lab.rt);
}
