//! Routes beyond the area's stubs: AS-external routes announced by a
//! speaker that redistributes (type 1 and 2, preference, ECMP, the
//! intra-area route first, forwarding addresses) and inter-area routes
//! from summary LSAs planted as an area border router would flood them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::*;
use crate::control::ospf::external::{beyond_area_routes, OspfRoute, PathType, FLAG_B, FLAG_E};
use crate::control::ospf::speaker::ExternalRoute;
use crate::control::ospf::wire::lsa::{self, LsaBody, LsaKey, LsaType};

/// The routes beyond the area as speaker `s` computes them.
fn beyond(lab: &Lab, s: usize) -> Vec<OspfRoute> {
    let result = spf_of(lab, s);
    beyond_area_routes(&lab.speakers[s], &result, result.routes(), lab.now)
}

fn find<'a>(routes: &'a [OspfRoute], prefix: &str) -> Option<&'a OspfRoute> {
    let p: ipnet::IpNet = prefix.parse().unwrap();
    routes.iter().find(|r| r.prefix == p)
}

fn externals(list: &[(&str, u32, bool)]) -> BTreeMap<Ipv4Net, ExternalRoute> {
    list.iter()
        .map(|&(p, metric, type2)| (p.parse().unwrap(), ExternalRoute { metric, type2 }))
        .collect()
}

/// Router 1 in the middle of p2p links to routers 2 (cost 10) and 3
/// (cost `cost3`).
fn fork(cost3: u16) -> Lab {
    let mut lab = Lab::new(Instant::now());
    let mut one = vec![
        iface(0, "10.0.12.1/30", P2P, 1),
        iface(1, "10.0.13.1/30", P2P, 1),
    ];
    one[1].cost = cost3;
    let r1 = lab.add(rid(1), one);
    let r2 = lab.router(2, &[("10.0.12.2/30", P2P, 1)]);
    let r3 = lab.router(3, &[("10.0.13.2/30", P2P, 1)]);
    lab.connect(&[(r1, 0), (r2, 0)]);
    lab.connect(&[(r1, 1), (r3, 0)]);
    lab
}

#[test]
fn a_redistributed_route_is_flooded_and_routed_as_type_2_through_its_asbr() {
    let mut lab = fork(10);
    let now = lab.now;
    lab.speakers[1].set_externals(now, externals(&[("203.0.113.0/24", 20, true)]));
    lab.run_for(Duration::from_secs(60));
    assert!(lab.databases_agree());
    // Router 2's router LSA says it is an ASBR.
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(2),
        adv_router: rid(2),
    };
    let held = lab.speakers[0].database().get(&key).unwrap();
    let Ok(LsaBody::Router { flags, .. }) = LsaBody::parse(LsaType::Router, held.header().body())
    else {
        panic!("router LSA")
    };
    assert_eq!(flags & FLAG_E, FLAG_E);
    let routes = beyond(&lab, 0);
    let r = find(&routes, "203.0.113.0/24").expect("the external route");
    assert_eq!(
        (r.path_type, r.type2_metric, r.cost, r.advertised_by),
        (PathType::External2, Some(20), 10, rid(2))
    );
    assert_eq!(r.paths, vec![gw(0, [10, 0, 12, 2])]);
    assert_eq!(
        r.to_rib(crate::control::rib::route::RouteSource::OSPF)
            .metric,
        20
    );
    // Router 3 reaches it across router 1: cost to the ASBR 20.
    let r = find(&beyond(&lab, 2), "203.0.113.0/24").unwrap().clone();
    assert_eq!((r.cost, r.paths), (20, vec![gw(0, [10, 0, 13, 1])]));
    // No longer redistributed: flushed, and the route goes.
    let now = lab.now;
    lab.speakers[1].set_externals(now, BTreeMap::new());
    lab.run_for(Duration::from_secs(30));
    assert!(find(&beyond(&lab, 0), "203.0.113.0/24").is_none());
}

#[test]
fn type_1_beats_type_2_and_equal_externals_share_next_hops() {
    let mut lab = fork(10);
    let now = lab.now;
    // 198.51.100.0/24: E2 metric 5 from router 2, E1 metric 50 from 3.
    // 192.0.2.0/24: E2 metric 30 from both, equally far: ECMP.
    lab.speakers[1].set_externals(
        now,
        externals(&[("198.51.100.0/24", 5, true), ("192.0.2.0/24", 30, true)]),
    );
    lab.speakers[2].set_externals(
        now,
        externals(&[("198.51.100.0/24", 50, false), ("192.0.2.0/24", 30, true)]),
    );
    lab.run_for(Duration::from_secs(60));
    let routes = beyond(&lab, 0);
    let r = find(&routes, "198.51.100.0/24").unwrap();
    assert_eq!(
        (r.path_type, r.cost, r.advertised_by),
        (PathType::External1, 60, rid(3))
    );
    let r = find(&routes, "192.0.2.0/24").unwrap();
    assert_eq!(r.path_type, PathType::External2);
    assert_eq!(r.paths, vec![gw(0, [10, 0, 12, 2]), gw(1, [10, 0, 13, 2])]);
}

#[test]
fn of_two_type_2_routes_with_one_metric_the_nearer_asbr_wins() {
    let mut lab = fork(25);
    let now = lab.now;
    for s in [1, 2] {
        lab.speakers[s].set_externals(now, externals(&[("192.0.2.0/24", 30, true)]));
    }
    lab.run_for(Duration::from_secs(60));
    let r = find(&beyond(&lab, 0), "192.0.2.0/24").unwrap().clone();
    assert_eq!(
        (r.cost, r.advertised_by, r.paths),
        (10, rid(2), vec![gw(0, [10, 0, 12, 2])])
    );
}

#[test]
fn an_intra_area_route_beats_an_external_one() {
    let mut lab = fork(10);
    let now = lab.now;
    // Router 3's p2p subnet is an intra-area route at router 2.
    lab.speakers[0].set_externals(now, externals(&[("10.0.13.0/30", 1, false)]));
    lab.run_for(Duration::from_secs(60));
    assert!(find(&beyond(&lab, 1), "10.0.13.0/30").is_none());
}

/// Plants `body` as `key` in speaker `s`'s database, newer than what it
/// holds.
fn plant(lab: &mut Lab, s: usize, key: LsaKey, body: &LsaBody) {
    let now = lab.now;
    let db = lab.speakers[s].database_mut();
    let sequence = db.get(&key).map_or(i32::MIN + 1, |e| e.sequence() + 1);
    assert!(db.install(lsa::build(key, 1, 0x02, sequence, body), now));
}

/// Router 2's router LSA as speaker `s` holds it, with `flags`.
fn with_flags(lab: &mut Lab, s: usize, router: Ipv4Addr, flags: u8) {
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: router,
        adv_router: router,
    };
    let held = lab.speakers[s].database().get(&key).unwrap();
    let Ok(LsaBody::Router { links, .. }) = LsaBody::parse(LsaType::Router, held.header().body())
    else {
        panic!("router LSA")
    };
    plant(lab, s, key, &LsaBody::Router { flags, links });
}

#[test]
fn summaries_of_an_area_border_router_give_inter_area_routes_and_far_asbrs() {
    let mut lab = Lab::p2p_pair();
    lab.run_for(Duration::from_secs(60));
    let abr = rid(2);
    let far_asbr = Ipv4Addr::new(10, 255, 0, 9);
    let summary = |ls_type, id: [u8; 4]| LsaKey {
        ls_type,
        ls_id: Ipv4Addr::from(id),
        adv_router: abr,
    };
    let mask24 = Ipv4Addr::new(255, 255, 255, 0);
    // Not an ABR yet: its summaries are not used.
    plant(
        &mut lab,
        0,
        summary(LsaType::SummaryNetwork, [172, 16, 1, 0]),
        &LsaBody::Summary {
            mask: mask24,
            metric: 7,
        },
    );
    assert!(beyond(&lab, 0).is_empty());
    with_flags(&mut lab, 0, abr, FLAG_B);
    plant(
        &mut lab,
        0,
        summary(LsaType::SummaryAsbr, far_asbr.octets()),
        &LsaBody::Summary {
            mask: Ipv4Addr::UNSPECIFIED,
            metric: 100,
        },
    );
    plant(
        &mut lab,
        0,
        LsaKey {
            ls_type: LsaType::AsExternal,
            ls_id: Ipv4Addr::new(100, 64, 0, 0),
            adv_router: far_asbr,
        },
        &LsaBody::AsExternal {
            mask: Ipv4Addr::new(255, 192, 0, 0),
            type2: false,
            metric: 5,
            forwarding: Ipv4Addr::UNSPECIFIED,
            tag: 0,
        },
    );
    // Unreachable (LSInfinity): ignored.
    plant(
        &mut lab,
        0,
        summary(LsaType::SummaryNetwork, [172, 16, 2, 0]),
        &LsaBody::Summary {
            mask: mask24,
            metric: 0x00ff_ffff,
        },
    );
    let routes = beyond(&lab, 0);
    let ia = find(&routes, "172.16.1.0/24").expect("inter-area route");
    assert_eq!(
        (ia.path_type, ia.cost, ia.paths.clone()),
        (PathType::InterArea, 17, vec![gw(0, [10, 0, 12, 2])])
    );
    assert!(find(&routes, "172.16.2.0/24").is_none());
    // 10 to the ABR + 100 to the ASBR + 5.
    let ext = find(&routes, "100.64.0.0/10").expect("external through the ABR");
    assert_eq!((ext.path_type, ext.cost), (PathType::External1, 115));
}

#[test]
fn a_forwarding_address_on_a_shared_network_is_the_next_hop() {
    let mut lab = Lab::new(Instant::now());
    let r1 = lab.router(1, &[("192.0.2.1/24", LAN, 1)]);
    let r2 = lab.router(2, &[("192.0.2.2/24", LAN, 2)]);
    lab.connect(&[(r1, 0), (r2, 0)]);
    lab.run_for(Duration::from_secs(60));
    with_flags(&mut lab, 0, rid(2), FLAG_E);
    let external = |forwarding: [u8; 4], id: [u8; 4]| {
        (
            LsaKey {
                ls_type: LsaType::AsExternal,
                ls_id: Ipv4Addr::from(id),
                adv_router: rid(2),
            },
            LsaBody::AsExternal {
                mask: Ipv4Addr::new(255, 255, 255, 0),
                type2: true,
                metric: 20,
                forwarding: Ipv4Addr::from(forwarding),
                tag: 0,
            },
        )
    };
    // A third router on the LAN that speaks no OSPF: 192.0.2.9.
    let (k, b) = external([192, 0, 2, 9], [203, 0, 113, 0]);
    plant(&mut lab, 0, k, &b);
    // A forwarding address no route covers: not used.
    let (k, b) = external([100, 100, 0, 1], [198, 51, 100, 0]);
    plant(&mut lab, 0, k, &b);
    let routes = beyond(&lab, 0);
    let r = find(&routes, "203.0.113.0/24").expect("through the forwarding address");
    assert_eq!(r.paths, vec![gw(0, [192, 0, 2, 9])]);
    assert_eq!(r.cost, 10);
    assert!(find(&routes, "198.51.100.0/24").is_none());
}
