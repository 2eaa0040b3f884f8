//! BGP wired into [`Engine`]: routes reach the FIB only when their next hop
//! resolves, reloads are all or nothing, `show bgp` / `show routes` explain.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::engine::published;
use crate::config::Config;
#[allow(unused_imports)]
use crate::control::engine::*;
use crate::control::protocol::ProtocolInput;
use crate::control::protocol::{frozen_clock, BestRouteChange};
#[allow(unused_imports)]
use crate::control::protocol::{Protocol, ProtocolConfig, RouteOutput};
use crate::control::rib::inputs::connected_routes;
#[allow(unused_imports)]
use crate::control::rib::route::{RibRoute, RouteSource};
#[allow(unused_imports)]
use crate::control::rib::Rib;
use crate::fib::NextHop;
#[allow(unused_imports)]
use crate::fib::{FibHandle, StaticNeighbor};
use crate::testkit::mrt::{peer_index, rib_ipv4, MrtEntry};
use ipnet::IpNet;

fn examples() -> PathBuf {
    crate::testkit::repo_path("examples")
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// Peers: 0 = 203.0.113.2 (eBGP, on p1), 1 = 10.99.0.1 (eBGP, reachable only
/// with a route for 10.99.0.0/16), 2 = 192.0.2.3 (iBGP, on p0).
fn small_dump() -> Vec<u8> {
    let mut d = peer_index(&[
        ("203.0.113.2", 65001),
        ("10.99.0.1", 65002),
        ("192.0.2.3", 65000),
    ]);
    d.extend(rib_ipv4(
        0,
        "100.64.1.0/24",
        &[
            MrtEntry::new(0, "203.0.113.2", &[65001, 64512, 64513]),
            MrtEntry::new(1, "10.99.0.1", &[65002]),
        ],
    ));
    d.extend(rib_ipv4(
        1,
        "100.64.2.0/24",
        &[MrtEntry::new(1, "10.99.0.1", &[65002, 64514])],
    ));
    d.extend(rib_ipv4(
        2,
        "100.64.3.0/24",
        &[MrtEntry::new(2, "192.0.2.3", &[])],
    ));
    d
}

/// The demo router with `[bgp]` reading `mrt` (and a pfx2as table from
/// peer 192.0.2.2 when given), plus `extra`.
fn bgp_config(mrt: &Path, table: Option<&Path>, extra: &str) -> Config {
    let base = std::fs::read_to_string(examples().join("demo/router.toml")).unwrap();
    let mut text = format!(
        "{base}\n{extra}\n[bgp]\nlocal_as = 65000\n[[bgp.mrt]]\nfile = {:?}\n",
        mrt.display().to_string()
    );
    if let Some(t) = table {
        text.push_str(&format!(
            "[[bgp.table]]\nfile = {:?}\npeer = \"192.0.2.2\"\npeer_as = 65010\n",
            t.display().to_string()
        ));
    }
    Config::parse(&text, "router.toml").unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn bgp_routes_reach_the_fib_only_through_resolvable_next_hops() {
    let dir = tempfile::tempdir().unwrap();
    let mrt = dir.path().join("rib.mrt");
    std::fs::write(&mrt, small_dump()).unwrap();
    let table = dir.path().join("t.pfx2as");
    std::fs::write(&table, "100.64.9.0\t24\t65010\n2001:db8:99::\t48\t65010\n").unwrap();
    let config = bgp_config(&mrt, Some(&table), "");
    let (mut engine, handle, v1) = published(&config);
    let fib = handle.load();
    assert_eq!(fib.version, v1);

    // 10.99.0.1 is unreachable: its shorter path loses, A's route is used.
    assert_eq!(
        fib.lookup_v4(v4("100.64.1.7")),
        Some(&NextHop::Adjacency {
            port: 1,
            mac: "02:00:00:00:01:02".parse().unwrap()
        })
    );
    assert_eq!(
        fib.lookup_v4(v4("100.64.2.7")),
        None,
        "next hop unresolvable"
    );
    assert!(engine.rib().installed(net("100.64.2.0/24")).is_none());
    // The iBGP route resolves through p0's subnet.
    assert_eq!(
        fib.lookup_v4(v4("100.64.3.7")),
        Some(&NextHop::Unresolved {
            port: 0,
            gateway: "192.0.2.3".parse().unwrap()
        })
    );
    // The table's route has the peer as next hop (on p0); its IPv6 route
    // is skipped (an IPv4 peer).
    assert_eq!(
        fib.lookup_v4(v4("100.64.9.7")),
        Some(&NextHop::Unresolved {
            port: 0,
            gateway: "192.0.2.2".parse().unwrap()
        })
    );
    assert!(engine.rib().installed(net("2001:db8:99::/48")).is_none());

    let shown = engine.show("bgp").unwrap();
    let peers = shown["bgp"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 4, "{shown}");
    let text = shown["text"].as_str().unwrap();
    for p in [
        "203.0.113.2",
        "10.99.0.1",
        "192.0.2.3",
        "192.0.2.2",
        "rib.mrt",
        "t.pfx2as",
    ] {
        assert!(text.contains(p), "{p} missing from\n{text}");
    }
    assert_eq!(shown["inputs"][1]["skipped"], 1, "{shown}");
    let routes = engine.show("routes 100.64.1.7").unwrap();
    let text = routes["text"].as_str().unwrap();
    assert!(text.contains("next hop unresolvable"), "{text}");
    assert_eq!(routes["route"]["selected"], "ebgp");
    assert_eq!(routes["bgp"]["candidates"].as_array().unwrap().len(), 2);
    // A prefix only BGP knows (nothing usable) is still explained.
    let routes = engine.show("routes 100.64.2.0/24").unwrap();
    assert!(routes["route"].is_null());
    assert!(routes["text"].as_str().unwrap().contains("10.99.0.1"));

    // A reload adding a route to 10.99.0.0/16: both of B's routes resolve,
    // and its shorter path now wins 100.64.1.0/24.
    let extra = "[[route]]\nprefix = \"10.99.0.0/16\"\nvia = \"203.0.113.9\"\n";
    let v2 = engine
        .reload(&bgp_config(&mrt, None, extra).control_inputs())
        .unwrap()["fib_version"]
        .as_u64()
        .unwrap();
    assert!(v2 > v1);
    let fib = handle.load();
    let via_b = NextHop::Unresolved {
        port: 1,
        gateway: "203.0.113.9".parse().unwrap(),
    };
    assert_eq!(fib.lookup_v4(v4("100.64.1.7")), Some(&via_b));
    assert_eq!(fib.lookup_v4(v4("100.64.2.7")), Some(&via_b));
    assert_eq!(fib.lookup_v4(v4("100.64.9.7")), None, "table input removed");
    assert_eq!(
        engine.show("bgp").unwrap()["bgp"]["peers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A corrupt dump (last record cut short) rejects the reload whole.
    let broken = dir.path().join("broken.mrt");
    let mut bytes = small_dump();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&broken, bytes).unwrap();
    let err = engine
        .reload(&bgp_config(&broken, None, "").control_inputs())
        .unwrap_err();
    assert!(
        err.contains("broken.mrt") && err.contains("record 3") && err.contains("byte"),
        "{err}"
    );
    assert_eq!(handle.load().version, v2, "nothing published");
    assert!(engine.rib().installed(net("100.64.2.0/24")).is_some());
    assert!(
        engine.rib().installed(net("10.99.0.0/16")).is_some(),
        "old statics kept"
    );
    assert_eq!(
        engine.show("bgp").unwrap()["bgp"]["peers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Without [bgp] the BGP routes go.
    let plain = Config::parse(
        &std::fs::read_to_string(examples().join("demo/router.toml")).unwrap(),
        "router.toml",
    )
    .unwrap();
    engine.reload(&plain.control_inputs()).unwrap();
    assert_eq!(handle.load().lookup_v4(v4("100.64.1.7")), None);
    assert!(engine.show("bgp").is_err());
}

#[test]
fn rerun_follows_next_hop_reachability_and_moves_between_ebgp_and_ibgp() {
    let dir = tempfile::tempdir().unwrap();
    let mrt = dir.path().join("rib.mrt");
    // 100.64.5.0/24 from the iBGP peer and, with an AS path as long, from
    // the eBGP peer 10.99.0.1: eBGP wins whenever 10.99.0.1 is reachable.
    let mut dump = peer_index(&[("10.99.0.1", 65002), ("192.0.2.3", 65000)]);
    dump.extend(rib_ipv4(
        0,
        "100.64.5.0/24",
        &[
            MrtEntry::new(0, "10.99.0.1", &[65002]),
            MrtEntry::new(1, "192.0.2.3", &[64999]),
        ],
    ));
    dump.extend(rib_ipv4(
        1,
        "100.64.6.0/24",
        &[MrtEntry::new(0, "10.99.0.1", &[65002])],
    ));
    std::fs::write(&mrt, dump).unwrap();
    let config = bgp_config(&mrt, None, "");
    let with_route = bgp_config(
        &mrt,
        None,
        "[[route]]\nprefix = \"10.99.0.0/16\"\nvia = \"203.0.113.9\"\n",
    );
    let ports = config.connected_ports();
    let mut rib = Rib::new(config.distances);
    rib.replace_source(RouteSource::CONNECTED, connected_routes(&ports, &[]));
    let t0 = frozen_clock();
    let protocols = ProtocolConfig::new(config.router.id, Vec::new()).with_section(
        crate::control::bgp::file_input::NAME,
        config.bgp.clone().unwrap(),
    );
    let mut bgp = (crate::control::bgp::speaker::REGISTRATION.create)(&protocols).unwrap();
    bgp.reconfigure(t0, &protocols).unwrap();
    let input = ProtocolInput::File {
        path: &mrt,
        bytes: &std::fs::read(&mrt).unwrap(),
    };
    bgp.handle_input(t0, input, &rib).unwrap();
    bgp.handle_timeout(t0, &rib);
    // Applies what BGP asks of the RIB; how many changes it asked.
    let apply = |bgp: &mut Box<dyn Protocol>, rib: &mut Rib| {
        let mut n = 0;
        while let Some(output) = bgp.poll_route() {
            n += 1;
            output.apply(rib);
        }
        n
    };
    apply(&mut bgp, &mut rib);
    // BGP hears of non-BGP changes through its journal.
    let journal = rib.subscribe(bgp.subscription());
    let selected = |rib: &Rib, p: &str| rib.explain(net(p)).and_then(|e| e.selected);
    assert_eq!(selected(&rib, "100.64.5.0/24"), Some(RouteSource::IBGP));
    assert_eq!(selected(&rib, "100.64.6.0/24"), None);

    let statics = crate::control::rib::inputs::static_routes(&ports, &with_route.static_routes());
    rib.replace_source(RouteSource::STATIC, statics);
    let changed = rib.take_journal(journal);
    // The demo's two static routes and the new one.
    assert_eq!(changed.len(), 3, "{changed:?}");
    assert!(changed.iter().any(|c| matches!(c,
        BestRouteChange::Prefix { prefix, old: None, new: Some(_) } if *prefix == net("10.99.0.0/16"))));
    bgp.handle_rib_changes(t0, &changed, &rib);
    // Two prefixes installed, each as a withdrawal from the other source
    // and an update.
    assert_eq!(apply(&mut bgp, &mut rib), 4);
    assert_eq!(selected(&rib, "100.64.5.0/24"), Some(RouteSource::EBGP));
    let e = rib.explain(net("100.64.5.0/24")).unwrap();
    assert_eq!(e.routes.len(), 1, "the iBGP route left the RIB: {e:?}");
    assert_eq!(selected(&rib, "100.64.6.0/24"), Some(RouteSource::EBGP));
    bgp.handle_rib_changes(t0, &changed, &rib);
    assert_eq!(apply(&mut bgp, &mut rib), 0, "nothing changed");

    rib.replace_source(RouteSource::STATIC, Vec::new());
    let changed = rib.take_journal(journal);
    bgp.handle_rib_changes(t0, &changed, &rib);
    // One prefix moves back (a withdrawal from eBGP and an iBGP update),
    // the other is withdrawn from both sources in one list.
    assert_eq!(apply(&mut bgp, &mut rib), 3);
    assert_eq!(selected(&rib, "100.64.5.0/24"), Some(RouteSource::IBGP));
    assert!(rib.explain(net("100.64.6.0/24")).is_none());
}

/// The real RIPE RIS dump (`$FERROUTE_DATA/data/...bview...mrt.gz`) behind a
/// default route: every peer's routes resolve and reach the FIB.
#[test]
fn real_mrt_dump_loads_into_the_fib() {
    let Some(dump) = crate::testkit::data_file("ripe-ris-rrc00-bview.20020722.2337.mrt.gz") else {
        return;
    };
    let extra = "[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"203.0.113.2\"\n";
    let config = bgp_config(&dump, None, extra);
    let start = Instant::now();
    let (mut engine, handle, _) = published(&config);
    let shown = engine.show("bgp").unwrap();
    let prefixes = shown["bgp"]["prefixes"].as_u64().unwrap();
    let peers = shown["bgp"]["peers"].as_array().unwrap().len();
    eprintln!(
        "{}: {prefixes} prefixes from {peers} peers into the FIB in {:?}",
        dump.display(),
        start.elapsed()
    );
    assert!(peers > 1 && prefixes > 10_000, "{}", shown["text"]);
    let fib = handle.load();
    // Every BGP prefix resolves through the default route: the FIB holds
    // them all, plus the config's own routes.
    assert!(
        fib.v4.len() + fib.v6.len() >= prefixes as usize,
        "{}",
        fib.v4.len()
    );
    let selected = engine.rib().summary();
    assert!(selected.installed >= prefixes as usize);
}
