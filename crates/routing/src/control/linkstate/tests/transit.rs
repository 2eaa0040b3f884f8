//! Transit networks in SPF (RFC 2328 §16.1): routers attached to a LAN
//! described by a network LSA, first hops through the other routers of a
//! LAN the root is on, the LAN's own prefix, and equal-cost paths mixing
//! point-to-point links and a LAN.

use std::net::{IpAddr, Ipv4Addr};

use super::super::*;
use crate::control::rib::route::Via;

fn id(n: u8) -> RouterId {
    Ipv4Addr::new(10, 0, 0, n)
}

fn lan(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, n)
}

fn port_of(name: &str) -> Option<PortId> {
    name.strip_prefix('p')?.parse().ok()
}

/// Router `n`'s LSA: p2p links (neighbour, cost, gateway and port on the
/// root), a transit link to the LAN whose DR is 192.0.2.`dr`, stubs.
fn router(
    n: u8,
    p2p: &[(u8, Option<(IpAddr, &str)>)],
    dr: Option<u8>,
    stubs: &[&str],
) -> RouterLsa {
    RouterLsa {
        router_id: id(n),
        sequence: 1,
        links: p2p
            .iter()
            .map(|&(to, hop)| Link {
                neighbor: id(to),
                cost: 10,
                next_hops: hop.map(|(g, _)| vec![g]).unwrap_or_default(),
                port: hop.map(|(_, p)| p.to_string()),
            })
            .collect(),
        stubs: stubs
            .iter()
            .map(|p| Stub {
                prefix: p.parse().unwrap(),
                cost: 10,
            })
            .collect(),
        transits: dr
            .map(|dr| TransitLink {
                network: lan(dr),
                cost: 10,
                address: lan(n).into(),
                port: (n == 1).then(|| "p0".to_string()),
            })
            .into_iter()
            .collect(),
    }
}

fn network(dr: u8, attached: &[u8]) -> NetworkLsa {
    NetworkLsa {
        id: lan(dr),
        prefixes: vec!["192.0.2.0/24".parse().unwrap()],
        attached: attached.iter().map(|&n| id(n)).collect(),
    }
}

fn gw(port: PortId, a: Ipv4Addr) -> Via {
    Via::Gateway {
        port,
        gateway: IpAddr::V4(a),
    }
}

/// Routers 1 (root), 2 and 3 on the LAN, DR `dr`; 1 and 2 also share a
/// p2p link (1 reaches 2 there through 10.0.12.2 on port 1).
fn lan_with_p2p(dr: u8) -> Lsdb {
    let p2p_hop = Some((IpAddr::V4(Ipv4Addr::new(10, 0, 12, 2)), "p1"));
    let mut db = Lsdb::new();
    db.install(router(1, &[(2, p2p_hop)], Some(dr), &[]));
    db.install(router(2, &[(1, None)], Some(dr), &["198.51.100.0/24"]));
    db.install(router(3, &[], Some(dr), &["203.0.113.0/24"]));
    db.set_network(network(dr, &[dr, 1, 2, 3]));
    db
}

#[test]
fn the_lan_and_a_p2p_link_give_equal_cost_paths_whoever_is_dr() {
    for dr in [1, 2, 3] {
        let spf = spf::run(&lan_with_p2p(dr), id(1), port_of);
        assert_eq!(spf.cost(id(2)), Some(10), "DR {dr}");
        assert_eq!(spf.cost(id(3)), Some(10), "DR {dr}");
        let routes = spf.routes();
        let to = |p: &str| {
            routes
                .iter()
                .find(|r| r.prefix == p.parse::<ipnet::IpNet>().unwrap())
        };
        let r = to("198.51.100.0/24").expect("router 2's stub");
        assert_eq!(r.metric, 20);
        assert_eq!(
            r.paths,
            vec![gw(0, lan(2)), gw(1, Ipv4Addr::new(10, 0, 12, 2))]
        );
        let r = to("203.0.113.0/24").expect("router 3's stub");
        assert_eq!((r.metric, r.paths.clone()), (20, vec![gw(0, lan(3))]));
        // The LAN is the root's own: connected, not routed.
        assert!(to("192.0.2.0/24").is_none());
    }
}

#[test]
fn a_lan_behind_a_router_is_routed_with_its_network_cost() {
    // Root 4 reaches router 2 over p2p; the LAN (DR 3) is beyond.
    let mut db = lan_with_p2p(3);
    let hop = Some((IpAddr::V4(Ipv4Addr::new(10, 0, 24, 2)), "p5"));
    db.install(router(4, &[(2, hop)], None, &[]));
    let mut two = db.get(id(2)).unwrap().clone();
    two.links.push(Link {
        neighbor: id(4),
        cost: 10,
        next_hops: vec![],
        port: None,
    });
    two.sequence = 2;
    db.install(two);
    let spf = spf::run(&db, id(4), port_of);
    let r = spf
        .routes()
        .iter()
        .find(|r| r.prefix == "192.0.2.0/24".parse::<ipnet::IpNet>().unwrap());
    let r = r.expect("the LAN");
    assert_eq!(
        (r.metric, r.paths.clone()),
        (20, vec![gw(5, Ipv4Addr::new(10, 0, 24, 2))])
    );
    // Router 3 through 2 and the LAN (10 + 10 + 0): its first hop is 2's.
    assert_eq!(spf.cost(id(3)), Some(20));
    assert_eq!(
        spf.first_hops(id(3)),
        vec![gw(5, Ipv4Addr::new(10, 0, 24, 2))]
    );
}

#[test]
fn a_router_the_network_does_not_list_is_not_reached_through_it() {
    let mut db = lan_with_p2p(1);
    db.set_network(network(1, &[1, 2]));
    let spf = spf::run(&db, id(1), port_of);
    assert_eq!(spf.cost(id(3)), None);
}
