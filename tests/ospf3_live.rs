//! The OSPFv3 speaker live, in network namespaces, against BIRD 2
//! (`protocol ospf v3`) and FRR ospf6d: ferroute's control plane (event
//! loop, engine, raw IPv6 sockets; no data plane) in `rt`, BIRD in `bd`,
//! FRR in `fr`, LAN 2001:db8:100::/64 of the three through a bridge in
//! `hub`, a point-to-point link between ferroute and BIRD, and a stub LAN
//! behind each (2001:db8:1::/64 behind ferroute, :2:: behind BIRD, :3::
//! behind FRR).
//!
//! * ferroute starts alone and becomes DR of the LAN; BIRD (priority 5)
//!   and FRR (priority 10) join and reach Full with it, BIRD on the p2p
//!   link too;
//! * BIRD's and FRR's stubs reach ferroute's RIB as `ospfv3` routes
//!   through their link-local addresses, BIRD's over both links (ECMP);
//! * BIRD's static route, exported into OSPFv3, is an E2 route in
//!   ferroute's RIB over both links;
//! * ferroute's stub is in BIRD's (`birdc show route`) and FRR's
//!   (`show ipv6 ospf6 route`) tables; ferroute's and BIRD's area-scope
//!   LSAs agree (ids, sequence numbers, checksums);
//! * BIRD's LAN link taken down: after the dead interval ferroute reaches
//!   BIRD's prefix over the p2p link alone; the p2p link down too: the
//!   prefix is withdrawn, FRR's stays.

use std::time::{Duration, Instant};

use ferroute::config::Config;
use ferroute::control::ControlHandle;
use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use ferroute::testkit::netns::{poll_until, require_root, Netns};
use serde_json::Value;

#[allow(dead_code)]
#[path = "ospf_live/lab.rs"]
mod lab;
#[allow(dead_code)]
#[path = "ospf_live/lsdb.rs"]
mod lsdb;

use lab::{bridged_lan, lone_lan, start_ferroute, veth};
use lsdb::bird_rows;

const LIMIT: Duration = Duration::from_secs(60);

struct Lab {
    rt: Netns,
    bd: Netns,
    fr: Netns,
    _hub: Netns,
}

impl Lab {
    fn new() -> Lab {
        let hub = Netns::new("ospf3-hub");
        let rt = Netns::new("ospf3-rt");
        let bd = Netns::new("ospf3-bd");
        let fr = Netns::new("ospf3-fr");
        // Addresses usable at once (no duplicate address detection to
        // wait for): link-local sources are what OSPFv3 speaks from.
        for ns in [&rt, &bd, &fr] {
            ns.write_sysctl("net/ipv6/conf/all/accept_dad", "0");
            ns.write_sysctl("net/ipv6/conf/default/accept_dad", "0");
        }
        bridged_lan(
            &hub,
            &[
                (&rt, "h-rt", "2001:db8:100::1/64"),
                (&bd, "h-bd", "2001:db8:100::2/64"),
                (&fr, "h-fr", "2001:db8:100::3/64"),
            ],
        );
        veth(&rt, "p2p0", &bd, "p2p0");
        lone_lan(&rt, "stub0", "2001:db8:1::1/64");
        lone_lan(&bd, "stub0", "2001:db8:2::1/64");
        lone_lan(&fr, "stub0", "2001:db8:3::1/64");
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
addresses = ["2001:db8:100::1/64"]

[[port]]
name = "p2p"
interface = "p2p0"
mac = "02:00:00:00:00:02"
addresses = []

[[port]]
name = "stub"
interface = "stub0"
mac = "02:00:00:00:00:03"
addresses = ["2001:db8:1::1/64"]

[ospfv3]
area = "0.0.0.0"

[[ospfv3.interface]]
port = "lan"
network = "broadcast"
priority = 100
hello_interval = 1
dead_interval = 4

[[ospfv3.interface]]
port = "p2p"
network = "point-to-point"
hello_interval = 1
dead_interval = 4

[[ospfv3.interface]]
port = "stub"
hello_interval = 1
dead_interval = 4
"#;

const BIRD: &str = r#"
router id 10.0.0.2;
protocol device { scan time 1; }
protocol static {
  ipv6;
  route 2001:db8:66::/64 blackhole;
}
protocol ospf v3 o6 {
  ipv6 {
    import all;
    export filter { if source = RTS_STATIC then { ospf_metric2 = 25; accept; } reject; };
  };
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
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 hello-interval 1
 ipv6 ospf6 dead-interval 4
 ipv6 ospf6 priority 10
!
interface stub0
 ipv6 ospf6 area 0.0.0.0
 ipv6 ospf6 passive
!
router ospf6
 ospf6 router-id 10.0.0.3
!
"#;

fn show(h: &ControlHandle, what: &str) -> Value {
    h.show(what).unwrap_or_else(|e| panic!("show {what}: {e}"))
}

fn neighbor_state(h: &ControlHandle, port: &str, router: &str) -> Option<String> {
    let v = show(h, "ospfv3 neighbors");
    v["neighbors"].as_array()?.iter().find_map(|n| {
        (n["port"] == port && n["router_id"] == router)
            .then(|| n["state"].as_str().unwrap_or_default().to_string())
    })
}

/// The neighbour's link-local address on `port` as ferroute sees it.
fn neighbor_address(h: &ControlHandle, port: &str, router: &str) -> Option<String> {
    let v = show(h, "ospfv3 neighbors");
    v["neighbors"].as_array()?.iter().find_map(|n| {
        (n["port"] == port && n["router_id"] == router)
            .then(|| n["address"].as_str().unwrap_or_default().to_string())
    })
}

/// How many of `gateways` `text` names.
fn via_count(text: &str, gateways: &[&str]) -> usize {
    gateways.iter().filter(|g| text.contains(*g)).count()
}

/// ferroute's `ospfv3` route for `prefix`, as `show routes` prints it.
fn route(h: &ControlHandle, prefix: &str) -> Option<String> {
    let v = h.show(&format!("routes {prefix}")).ok()?;
    let text = v["text"].as_str().unwrap_or_default().to_string();
    text.contains("ospfv3").then_some(text)
}

/// An LSA as both list it: type, id, advertising router, sequence,
/// checksum.
type Lsa = (u16, String, String, u32, u16);

/// The area- and AS-scope LSA types compared.
const COMPARED: [u16; 4] = [0x2001, 0x2002, 0x2009, 0x4005];

fn hex(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn ferroute_area_lsas(h: &ControlHandle) -> Vec<Lsa> {
    let v = show(h, "ospfv3 database");
    let mut out: Vec<Lsa> = v["database"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let t = u16::try_from(l["ls_type"]["v3"].as_u64()?).ok()?;
            let text = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            COMPARED.contains(&t).then_some(())?;
            let sum = u16::try_from(hex(&text("checksum"))?).ok()?;
            Some((
                t,
                text("ls_id"),
                text("adv_router"),
                hex(&text("sequence"))?,
                sum,
            ))
        })
        .collect();
    out.sort();
    out
}

fn wait(what: &str, mut f: impl FnMut() -> bool, diagnose: impl FnOnce() -> String) {
    if !poll_until(LIMIT, &mut f) {
        panic!("{what} within {LIMIT:?}\n{}", diagnose());
    }
}

#[test]
fn ospfv3_adjacencies_and_routes_with_bird_and_frr() {
    let test = "ospfv3_adjacencies_and_routes_with_bird_and_frr";
    if !require_root(test, "network namespaces")
        || !require_daemon(test, "bird")
        || !require_daemon(test, &format!("{FRR_DAEMONS}/ospf6d"))
    {
        return;
    }
    let lab = Lab::new();
    let config = Config::parse(FERROUTE, "ospf3.toml").unwrap();
    let (handle, _fib) = start_ferroute(&lab.rt, &config);
    wait(
        "ferroute DR of the LAN",
        || show(&handle, "ospfv3 interfaces")["interfaces"][0]["state"] == "dr",
        || show(&handle, "ospfv3").to_string(),
    );
    let started = Instant::now();
    let bird = Bird::start(&lab.bd.name, BIRD);
    let frr = Frr::start(&lab.fr.name, &[FrrDaemon::Ospf6d], FRR);
    let diagnose = || {
        format!(
            "{}\nBIRD:\n{}\n{}\nFRR:\n{}\n{}",
            show(&handle, "ospfv3")["text"].as_str().unwrap_or_default(),
            bird.birdc("show ospf neighbors"),
            bird.birdc("show ospf state all"),
            frr.vtysh("show ipv6 ospf6 neighbor"),
            frr.vtysh("show ipv6 ospf6 database"),
        )
    };
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "BIRD and FRR Full with ferroute",
        || full("lan", "10.0.0.2") && full("p2p", "10.0.0.2") && full("lan", "10.0.0.3"),
        diagnose,
    );
    let full_after = started.elapsed();
    // Their stubs in ferroute's RIB, through their link-local addresses:
    // BIRD's over the LAN and the p2p link at equal cost.
    let bird_lan = neighbor_address(&handle, "lan", "10.0.0.2").unwrap();
    let bird_p2p = neighbor_address(&handle, "p2p", "10.0.0.2").unwrap();
    let frr_lan = neighbor_address(&handle, "lan", "10.0.0.3").unwrap();
    for a in [&bird_lan, &bird_p2p, &frr_lan] {
        assert!(a.starts_with("fe80:"), "a neighbour at {a}");
    }
    let gateways = [bird_lan.as_str(), bird_p2p.as_str()];
    wait(
        "BIRD's and FRR's prefixes routed",
        || {
            route(&handle, "2001:db8:2::/64").is_some_and(|t| via_count(&t, &gateways) == 2)
                && route(&handle, "2001:db8:3::/64").is_some_and(|t| t.contains(&frr_lan))
        },
        || format!("{:?}\n{}", route(&handle, "2001:db8:2::/64"), diagnose()),
    );
    let routed_after = started.elapsed();
    // BIRD's static route, exported as an AS-external (type 2, metric 25):
    // an E2 route over both of BIRD's links.
    wait(
        "BIRD's external route",
        || route(&handle, "2001:db8:66::/64").is_some_and(|t| via_count(&t, &gateways) == 2),
        || {
            let routes = show(&handle, "ospfv3 routes");
            format!(
                "{}\n{}",
                routes["text"].as_str().unwrap_or_default(),
                diagnose()
            )
        },
    );
    let external = show(&handle, "ospfv3 routes")["routes"].clone();
    let e2 = external
        .as_array()
        .and_then(|r| r.iter().find(|r| r["prefix"] == "2001:db8:66::/64"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(e2["path_type"], "external2", "{external}");
    assert_eq!(e2["type2_metric"], 25, "{external}");
    assert_eq!(e2["advertised_by"], "10.0.0.2", "{external}");
    // Ferroute's stub in BIRD's and FRR's tables.
    wait(
        "ferroute's prefix at BIRD and FRR",
        || {
            bird.birdc("show route 2001:db8:1::/64")
                .contains("2001:db8:1::/64")
                && frr
                    .vtysh("show ipv6 ospf6 route")
                    .contains("2001:db8:1::/64")
        },
        || format!("{}\n{}", bird.birdc("show route"), diagnose()),
    );
    // BIRD and ferroute hold the same area-scope LSAs (Router, Network,
    // Intra-Area-Prefix, AS-External): same ids, sequence numbers and
    // checksums.
    let mut agreed = (Vec::new(), Vec::new());
    let same = poll_until(LIMIT, || {
        agreed = (
            ferroute_area_lsas(&handle),
            bird_rows(&bird.birdc("show ospf lsadb"), |t| COMPARED.contains(&t)),
        );
        !agreed.0.is_empty() && agreed.0 == agreed.1
    });
    assert!(same, "ferroute {:#?}\nBIRD {:#?}", agreed.0, agreed.1);
    let compared = agreed.0.len();
    // The LAN's prefix as a transit network, described by ferroute (DR).
    let bird_route = bird.birdc("show route 2001:db8:1::/64");
    assert!(bird_route.contains("o6"), "{bird_route}");
    let database = show(&handle, "ospfv3 database")["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(database.contains("network"), "{database}");
    assert!(database.contains("intra-pfx"), "{database}");
    // BIRD's LAN link goes away: after the dead interval its prefix is
    // reached over the p2p link alone.
    lab.bd.ip(&["link", "set", "lan0", "down"]);
    let down = Instant::now();
    wait(
        "BIRD's prefix over the p2p link alone",
        || {
            route(&handle, "2001:db8:2::/64")
                .is_some_and(|t| t.contains(&bird_p2p) && !t.contains(&bird_lan))
        },
        || format!("{:?}\n{}", route(&handle, "2001:db8:2::/64"), diagnose()),
    );
    let moved_after = down.elapsed();
    // BIRD re-originates its LSAs over p2p when lan0 goes down, so the
    // route can move before ferroute's dead timer drops the neighbour:
    // wait for that too rather than assume an order.
    wait(
        "BIRD's LAN neighbour dropped after the dead interval",
        || neighbor_state(&handle, "lan", "10.0.0.2").is_none(),
        || {
            format!(
                "{:?}\n{}",
                neighbor_state(&handle, "lan", "10.0.0.2"),
                diagnose()
            )
        },
    );
    // The p2p link too: the prefix is withdrawn; FRR's stays.
    lab.bd.ip(&["link", "set", "p2p0", "down"]);
    let down = Instant::now();
    wait(
        "BIRD's prefix withdrawn",
        || route(&handle, "2001:db8:2::/64").is_none(),
        diagnose,
    );
    let withdrawn_after = down.elapsed();
    assert!(neighbor_state(&handle, "p2p", "10.0.0.2").is_none());
    assert!(route(&handle, "2001:db8:3::/64").is_some());
    eprintln!(
        "ospfv3 live: Full with BIRD and FRR after {full_after:?}, their prefixes routed after \
         {routed_after:?}; BIRD's LAN link down: its prefix over p2p alone after \
         {moved_after:?}; its p2p link down: withdrawn after {withdrawn_after:?} (dead interval 4 s); \
         {compared} area-scope LSAs the same at ferroute and BIRD"
    );
    drop(frr);
    drop(bird);
    handle.stop().expect("ferroute stops");
}
