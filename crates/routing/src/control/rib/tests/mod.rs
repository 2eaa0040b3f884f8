use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::inputs::{connected_routes, static_routes};
use super::route::{AdminDistances, RibRoute, RouteSource, Via};
use super::*;
use crate::fib::{
    self, ConnectedPort, CowArc, Fib, FibHandle, NextHop, RouteTarget, StaticNeighbor, StaticRoute,
};
use crate::wire::MacAddr;

mod discard;
mod props;
mod publish;

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(last: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, last])
}

pub(super) fn route(prefix: &str, source: RouteSource, metric: u32, paths: Vec<Via>) -> RibRoute {
    RibRoute {
        prefix: net(prefix),
        source,
        metric,
        paths,
    }
}

pub(super) fn gw(port: u16, g: &str) -> Via {
    Via::Gateway {
        port,
        gateway: ip(g),
    }
}

pub(super) fn rec(a: &str) -> Via {
    Via::Recursive { address: ip(a) }
}

pub(super) fn neighbor(a: &str, port: u16, m: u8) -> StaticNeighbor {
    StaticNeighbor {
        address: ip(a),
        mac: mac(m),
        port,
    }
}

/// A RIB with two ports (10.0.1.0/24 on 0, 10.0.2.0/24 on 1) and their
/// connected routes.
pub(super) fn two_ports() -> (Rib, Vec<ConnectedPort>) {
    let ports = vec![
        ConnectedPort {
            id: 0,
            addresses: vec![net("10.0.1.1/24")],
        },
        ConnectedPort {
            id: 1,
            addresses: vec![net("10.0.2.1/24")],
        },
    ];
    let mut rib = Rib::new(AdminDistances::default());
    rib.replace_source(RouteSource::CONNECTED, connected_routes(&ports, &[]));
    (rib, ports)
}

#[test]
fn lowest_distance_wins_and_the_next_takes_over_on_withdrawal() {
    let (mut rib, _) = two_ports();
    let p = "198.51.100.0/24";
    rib.update(
        RouteSource::LINK_STATE,
        net(p),
        Some(&route(
            p,
            RouteSource::LINK_STATE,
            30,
            vec![gw(1, "10.0.2.9")],
        )),
    );
    rib.update(
        RouteSource::STATIC,
        net(p),
        Some(&route(p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
    );
    let unresolved = |port, g: &str| NextHop::Unresolved {
        port,
        gateway: ip(g),
    };
    let members = |rib: &Rib| {
        rib.group_members(rib.installed(net(p)).unwrap())
            .unwrap()
            .to_vec()
    };
    assert_eq!(members(&rib), vec![unresolved(0, "10.0.1.9")]);
    let e = rib.explain(net(p)).unwrap();
    assert_eq!(e.selected, Some(RouteSource::STATIC));
    assert!(e.routes[1].reason.contains("distance 110 > 1"), "{e}");
    rib.update(RouteSource::STATIC, net(p), None);
    assert_eq!(members(&rib), vec![unresolved(1, "10.0.2.9")]);
    // Configurable distances: link-state below static wins again.
    rib.update(
        RouteSource::STATIC,
        net(p),
        Some(&route(p, RouteSource::STATIC, 0, vec![gw(0, "10.0.1.9")])),
    );
    let mut distances = AdminDistances::default();
    distances.set(RouteSource::LINK_STATE, 0);
    rib.set_distances(distances);
    assert_eq!(members(&rib), vec![unresolved(1, "10.0.2.9")]);
    rib.update(RouteSource::LINK_STATE, net(p), None);
    rib.update(RouteSource::STATIC, net(p), None);
    assert_eq!(rib.installed(net(p)), None);
    assert!(rib.explain(net(p)).is_none());
}

#[test]
fn replace_source_drops_what_the_source_no_longer_has() {
    let (mut rib, _) = two_ports();
    let ls = |p: &str| route(p, RouteSource::LINK_STATE, 10, vec![gw(1, "10.0.2.9")]);
    rib.replace_source(
        RouteSource::LINK_STATE,
        vec![ls("192.0.2.0/24"), ls("203.0.113.0/24")],
    );
    rib.take_changes();
    rib.replace_source(RouteSource::LINK_STATE, vec![ls("192.0.2.0/24")]);
    let changes = rib.take_changes();
    assert_eq!(changes.prefixes, vec![(net("203.0.113.0/24"), None)]);
    assert!(
        changes.groups.is_empty(),
        "the shared group stays: {changes:?}"
    );
    assert!(rib.installed(net("192.0.2.0/24")).is_some());
}

#[test]
fn recursive_next_hops_resolve_through_the_igp_and_follow_it() {
    let (mut rib, _) = two_ports();
    // The BGP next hop 192.0.2.1 is reached through link-state via 10.0.1.9.
    rib.replace_source(
        RouteSource::LINK_STATE,
        vec![route(
            "192.0.2.0/24",
            RouteSource::LINK_STATE,
            20,
            vec![gw(0, "10.0.1.9")],
        )],
    );
    rib.set_neighbors(&[neighbor("10.0.1.9", 0, 9), neighbor("10.0.2.7", 1, 7)]);
    for i in 0..100u32 {
        let p = format!("100.{}.{}.0/24", i / 256, i % 256);
        rib.update(
            RouteSource::EBGP,
            net(&p),
            Some(&route(&p, RouteSource::EBGP, 0, vec![rec("192.0.2.1")])),
        );
    }
    // Unresolvable: nothing but BGP covers 172.16.0.1.
    rib.update(
        RouteSource::EBGP,
        net("172.16.0.0/12"),
        Some(&route(
            "172.16.0.0/12",
            RouteSource::EBGP,
            0,
            vec![rec("172.16.0.1")],
        )),
    );
    assert_eq!(rib.installed(net("172.16.0.0/12")), None);
    let e = rib.explain(net("172.16.0.0/12")).unwrap();
    assert!(e.routes[0].reason.contains("no non-BGP route"), "{e}");
    let group = rib.installed(net("100.0.5.0/24")).unwrap();
    assert_eq!(
        rib.group_members(group).unwrap(),
        &[NextHop::Adjacency {
            port: 0,
            mac: mac(9)
        }]
    );
    assert_eq!(rib.igp_cost(ip("192.0.2.1")), Some(20));
    assert_eq!(rib.igp_cost(ip("10.0.2.200")), Some(0));
    assert_eq!(rib.igp_cost(ip("172.16.0.1")), None);
    assert_eq!(
        rib.igp_cost(ip("10.0.1.1")),
        None,
        "our own address is no next hop"
    );
    let mut fib = Fib::default();
    rib.take_changes().apply(&mut fib);
    let before = fib.clone();

    // The IGP moves: one group rewritten, no prefix touched.
    rib.replace_source(
        RouteSource::LINK_STATE,
        vec![route(
            "192.0.2.0/24",
            RouteSource::LINK_STATE,
            20,
            vec![gw(1, "10.0.2.7")],
        )],
    );
    let changes = rib.take_changes();
    let touched: Vec<IpNet> = changes.prefixes.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        touched,
        vec![net("192.0.2.0/24")],
        "only the IGP route itself"
    );
    assert!(changes.groups.contains(&(
        group,
        Some(vec![NextHop::Adjacency {
            port: 1,
            mac: mac(7)
        }])
    )));
    changes.apply(&mut fib);
    let bgp_ids = |f: &Fib| -> Vec<u32> {
        f.v4.iter()
            .filter(|(p, _)| p.addr().octets()[0] == 100)
            .map(|(_, id)| id)
            .collect()
    };
    assert_eq!(
        bgp_ids(&fib),
        bgp_ids(&before),
        "BGP prefixes keep their group"
    );
    assert_eq!(
        fib.lookup_v4("100.0.5.1".parse().unwrap()),
        Some(&NextHop::Adjacency {
            port: 1,
            mac: mac(7)
        })
    );

    // The IGP loses the next hop: the BGP routes are no longer usable.
    rib.replace_source(RouteSource::LINK_STATE, vec![]);
    assert_eq!(rib.installed(net("100.0.5.0/24")), None);
    let changes = rib.take_changes();
    assert_eq!(
        changes.prefixes.len(),
        100 + 1,
        "the BGP prefixes and the IGP one"
    );
    assert!(changes.prefixes.iter().all(|(_, id)| id.is_none()));
    // ... and come back when it returns; the unresolvable one too once
    // a static route covers its next hop.
    rib.replace_source(
        RouteSource::STATIC,
        vec![
            route(
                "192.0.2.0/24",
                RouteSource::STATIC,
                0,
                vec![gw(0, "10.0.1.9")],
            ),
            route(
                "172.16.0.0/16",
                RouteSource::STATIC,
                0,
                vec![gw(1, "10.0.2.7")],
            ),
        ],
    );
    assert!(rib.installed(net("100.0.5.0/24")).is_some());
    assert!(rib.installed(net("172.16.0.0/12")).is_some());
}

#[test]
fn a_million_prefixes_share_one_group_and_a_mac_change_rewrites_only_it() {
    let (mut rib, _) = two_ports();
    rib.set_neighbors(&[neighbor("10.0.1.9", 0, 9)]);
    let routes: Vec<RibRoute> = (0..1_000_000u32)
        .map(|i| {
            let p = IpNet::V4(ipnet::Ipv4Net::new((0x4000_0000 + (i << 8)).into(), 24).unwrap());
            RibRoute {
                prefix: p,
                source: RouteSource::EBGP,
                metric: 0,
                paths: vec![rec("10.0.1.9")],
            }
        })
        .collect();
    let started = Instant::now();
    rib.replace_source(RouteSource::EBGP, routes);
    let handle = FibHandle::new(Fib::default());
    let mut publisher = FibPublisher::new(handle.clone(), Duration::from_millis(50));
    publisher.publish_full(&mut rib);
    eprintln!(
        "1M routes into the RIB and a first FIB: {:?}",
        started.elapsed()
    );
    let first = handle.load();
    assert_eq!(first.v4.len(), 1_000_000 + 6);
    // Few groups: the workers read a packed copy (`lpm::PACKED_MAX_ID`).
    assert!(first.v4.is_packed());
    assert_eq!(publisher.stats().ipv4_lookup, "packed");
    let bgp_group = rib.installed(net("64.0.0.0/24")).unwrap();
    let users = publisher
        .tables()
        .0
        .iter()
        .filter(|(_, id)| *id == bgp_group)
        .count();
    assert_eq!(users, 1_000_000, "one group for every BGP prefix");

    rib.set_neighbors(&[neighbor("10.0.1.9", 0, 10)]);
    let changes_pending = rib.has_changes();
    let now = Instant::now();
    assert_eq!(publisher.poll(&mut rib, now), None, "the window opens");
    let v = publisher
        .poll(&mut rib, now + Duration::from_millis(50))
        .unwrap();
    assert!(changes_pending);
    let second = handle.load();
    assert_eq!(second.version, v);
    assert_eq!(publisher.stats().last_prefix_changes, 0);
    assert_eq!(
        publisher.stats().last_group_changes,
        1,
        "the BGP prefixes' group"
    );
    assert_eq!(
        second.lookup_v4("64.1.2.3".parse().unwrap()),
        Some(&NextHop::Adjacency {
            port: 0,
            mac: mac(10)
        })
    );
    assert!(
        CowArc::ptr_eq(&first.v4, &second.v4),
        "the tries are shared"
    );
    assert!(CowArc::ptr_eq(&first.v6, &second.v6));
    assert!(!CowArc::ptr_eq(
        first.groups_shared(),
        second.groups_shared()
    ));
    assert_eq!(
        first.lookup_v4("64.1.2.3".parse().unwrap()),
        Some(&NextHop::Adjacency {
            port: 0,
            mac: mac(9)
        }),
        "the old table is unchanged for its readers"
    );
    // What publishing a prefix change costs: a lookup-only (packed) copy
    // of the 1M trie.
    let started = Instant::now();
    let copy = publisher.tables().0.lookup_copy();
    eprintln!(
        "a prefix change's publication (packed lookup-only copy): {:?}",
        started.elapsed()
    );
    assert_eq!(copy.len(), first.v4.len());
}

#[test]
fn the_rib_builds_the_same_fib_as_build_static() {
    let ports = vec![
        ConnectedPort {
            id: 0,
            addresses: vec![net("192.0.2.1/24"), net("2001:db8::1/64")],
        },
        ConnectedPort {
            id: 1,
            addresses: vec![net("203.0.113.1/24")],
        },
    ];
    let statics = vec![
        StaticRoute {
            prefix: net("198.51.100.0/24"),
            target: RouteTarget::Via(ip("203.0.113.2")),
        },
        StaticRoute {
            prefix: net("10.0.0.0/8"),
            target: RouteTarget::Via(ip("203.0.113.9")),
        },
        StaticRoute {
            prefix: net("203.0.113.0/24"),
            target: RouteTarget::Via(ip("203.0.113.2")),
        },
    ];
    let neighbors = vec![neighbor("203.0.113.2", 1, 2), neighbor("2001:db8::7", 0, 7)];
    let reference = fib::build_static(&ports, &statics, &neighbors).unwrap();
    let mut rib = Rib::new(AdminDistances::default());
    rib.replace_source(RouteSource::CONNECTED, connected_routes(&ports, &neighbors));
    rib.replace_source(RouteSource::STATIC, static_routes(&ports, &statics));
    rib.set_neighbors(&neighbors);
    let built = rib.snapshot().build();
    let addrs = [
        "198.51.100.77",
        "10.1.1.1",
        "203.0.113.2",
        "203.0.113.3",
        "203.0.113.1",
        "203.0.113.255",
        "192.0.2.255",
        "192.0.2.200",
        "8.8.8.8",
        "2001:db8::1",
        "2001:db8::5",
        "2001:db8::7",
        "2001:db9::1",
    ];
    for a in addrs {
        let (want, got) = match ip(a) {
            IpAddr::V4(v) => (reference.lookup_v4(v), built.lookup_v4(v)),
            IpAddr::V6(v) => (reference.lookup_v6(v), built.lookup_v6(v)),
        };
        assert_eq!(got, want, "{a}");
    }
    assert_eq!(built.v4.len(), reference.v4.len());
}
