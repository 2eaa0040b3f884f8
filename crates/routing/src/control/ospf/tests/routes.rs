//! SPF over what the speakers learnt: routes through point-to-point links
//! and transit networks, equal-cost paths through two routers of a LAN,
//! and routes moving when a router dies.

use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::*;
use crate::control::ospf::interface::InterfaceState;
use crate::control::rib::route::RibRoute;

fn routes_of(lab: &Lab, s: usize) -> Vec<RibRoute> {
    spf_of(lab, s).into_routes()
}

fn route<'a>(routes: &'a [RibRoute], prefix: &str) -> Option<&'a RibRoute> {
    let p: IpNet = prefix.parse().unwrap();
    routes.iter().find(|r| r.prefix == p)
}

#[test]
fn a_stub_behind_a_point_to_point_neighbour_is_routed_through_it() {
    let mut lab = Lab::new(Instant::now());
    let a = lab.router(1, &[("10.0.12.1/30", P2P, 1)]);
    let b = lab.router(2, &[("10.0.12.2/30", P2P, 1), ("198.51.100.1/24", LAN, 1)]);
    lab.connect(&[(a, 0), (b, 0)]);
    lab.connect(&[(b, 1)]);
    lab.run_for(Duration::from_secs(60));
    let routes = routes_of(&lab, a);
    let r = route(&routes, "198.51.100.0/24").expect("B's LAN");
    assert_eq!(
        (r.metric, r.paths.clone()),
        (20, vec![gw(0, [10, 0, 12, 2])])
    );
    // A's own subnet is connected, not an SPF route; B's view of it is.
    assert!(route(&routes, "10.0.12.0/30").is_some_and(|r| r.metric == 20));
}

/// Routers 1, 2, 3 on LAN 192.0.2.0/24 (3 the DR); 2 and 3 each have a
/// p2p link to router 5, which has LAN 198.51.100.0/24 alone.
fn lan_and_beyond() -> Lab {
    let mut lab = Lab::new(Instant::now());
    let r1 = lab.router(1, &[("192.0.2.1/24", LAN, 1)]);
    let r2 = lab.router(2, &[("192.0.2.2/24", LAN, 2), ("10.0.25.2/29", P2P, 1)]);
    let r3 = lab.router(3, &[("192.0.2.3/24", LAN, 3), ("10.0.35.3/29", P2P, 1)]);
    let r5 = lab.router(
        5,
        &[
            ("10.0.25.5/29", P2P, 1),
            ("10.0.35.5/29", P2P, 1),
            ("198.51.100.1/24", LAN, 1),
        ],
    );
    lab.connect(&[(r1, 0), (r2, 0), (r3, 0)]);
    lab.connect(&[(r2, 1), (r5, 0)]);
    lab.connect(&[(r3, 1), (r5, 1)]);
    lab.connect(&[(r5, 2)]);
    lab
}

#[test]
fn routes_cross_a_transit_network_with_equal_cost_paths_through_two_routers() {
    let mut lab = lan_and_beyond();
    lab.run_for(Duration::from_secs(120));
    assert!(lab.databases_agree());
    let routes = routes_of(&lab, 0);
    // LAN (10) + router 2 or 3 to 5 (10) + 5's LAN stub (10).
    let r = route(&routes, "198.51.100.0/24").expect("router 5's LAN");
    assert_eq!(r.metric, 30);
    assert_eq!(r.paths, vec![gw(0, [192, 0, 2, 2]), gw(0, [192, 0, 2, 3])]);
    let r = route(&routes, "10.0.35.0/29").unwrap();
    assert_eq!(
        (r.metric, r.paths.clone()),
        (20, vec![gw(0, [192, 0, 2, 3])])
    );
    // The transit LAN itself is router 1's own: no route for it.
    assert!(route(&routes, "192.0.2.0/24").is_none());
    // From router 5 the LAN is a transit network two ways: ECMP too.
    let routes5 = routes_of(&lab, 3);
    let r = route(&routes5, "192.0.2.0/24").expect("the transit LAN");
    assert_eq!(r.metric, 20);
    assert_eq!(r.paths, vec![gw(0, [10, 0, 25, 2]), gw(1, [10, 0, 35, 3])]);
}

#[test]
fn when_a_router_dies_its_paths_go_after_the_dead_interval() {
    let mut lab = lan_and_beyond();
    lab.run_for(Duration::from_secs(120));
    lab.silenced[2] = true; // router 3, the DR
    lab.run_for(Duration::from_secs(60));
    let routes = routes_of(&lab, 0);
    let r = route(&routes, "198.51.100.0/24").unwrap();
    assert_eq!(
        (r.metric, r.paths.clone()),
        (30, vec![gw(0, [192, 0, 2, 2])])
    );
    // 10.0.35.0/29 now only through router 5's stub: 10 + 10 + 10.
    let r = route(&routes, "10.0.35.0/29").unwrap();
    assert_eq!(
        (r.metric, r.paths.clone()),
        (30, vec![gw(0, [192, 0, 2, 2])])
    );
}

#[test]
fn the_dr_routes_across_its_own_transit_network() {
    let mut lab = lan_and_beyond();
    lab.run_for(Duration::from_secs(120));
    // Router 3 is the DR: router 2's p2p subnet is across the LAN, and
    // as far through router 5 (whose stub it is too).
    let routes = routes_of(&lab, 2);
    let r = route(&routes, "10.0.25.0/29").expect("router 2's p2p subnet");
    assert_eq!(r.metric, 20);
    assert_eq!(r.paths, vec![gw(0, [192, 0, 2, 2]), gw(1, [10, 0, 35, 5])]);
}

#[test]
fn a_link_losing_its_carrier_takes_its_routes_at_once_and_comes_back() {
    let mut lab = lan_and_beyond();
    lab.run_for(Duration::from_secs(120));
    // Router 5's p2p link to router 2 loses its carrier at router 2.
    let now = lab.now;
    lab.speakers[1].set_interface_up(now, 1, false);
    assert_eq!(
        lab.state(1, 1, rid(5)),
        None,
        "killed, not left to time out"
    );
    assert_eq!(lab.speakers[1].interfaces()[1].state, InterfaceState::Down);
    lab.run_for(Duration::from_secs(1));
    // Router 1 already routes around it: only through router 3.
    let routes = routes_of(&lab, 0);
    let r = route(&routes, "198.51.100.0/24").unwrap();
    assert_eq!(r.paths, vec![gw(0, [192, 0, 2, 3])]);
    // The carrier is back: the adjacency forms again, ECMP returns.
    let now = lab.now;
    lab.speakers[1].set_interface_up(now, 1, true);
    lab.run_for(Duration::from_secs(60));
    assert_eq!(lab.state(1, 1, rid(5)), Some(NeighborState::Full));
    let routes = routes_of(&lab, 0);
    let r = route(&routes, "198.51.100.0/24").unwrap();
    assert_eq!(r.paths, vec![gw(0, [192, 0, 2, 2]), gw(0, [192, 0, 2, 3])]);
}

/// An interface of the live labs' timing: hello 1 s, dead 4 s.
fn quick(port: u16, address: &str, priority: u8, cost: u16) -> InterfaceConfig {
    let mut c = iface(port, address, LAN, priority);
    (c.hello_interval, c.dead_interval, c.cost) = (1, 4, cost);
    c
}

#[test]
fn a_dead_neighbour_hands_its_prefix_to_the_other_path_without_a_gap() {
    // The lab_ospf two-path test in miniature: router 1 reaches
    // 100.70.0.0/24 through router 2 (LAN 1, cost 10) or router 3 (LAN 2,
    // cost 20), each with the prefix as a stub of its own. Router 2 dies;
    // at no millisecond of the 10 s after may router 1's SPF lack the
    // prefix (live, the RIB once went without it for 146 ms), whichever
    // router is DR where.
    let starts = [
        (1u8, 0u64),
        (2, 0),
        (1, 700),
        (2, 1300),
        (0, 0),
        (3, 300),
        (1, 2500),
    ];
    for (priority, delay_ms) in starts {
        let mut lab = Lab::new(Instant::now());
        let r1 = lab.add(
            rid(1),
            vec![
                quick(0, "203.0.113.1/24", priority, 10),
                quick(1, "10.0.2.1/24", priority, 20),
            ],
        );
        let r2 = lab.add(
            rid(2),
            vec![
                quick(0, "203.0.113.2/24", 1, 10),
                quick(1, "100.70.0.1/24", 1, 10),
            ],
        );
        lab.run_for(Duration::from_millis(delay_ms));
        let r3 = lab.add(
            rid(3),
            vec![
                quick(0, "10.0.2.2/24", 1, 10),
                quick(1, "100.70.0.2/24", 1, 10),
            ],
        );
        lab.connect(&[(r1, 0), (r2, 0)]);
        lab.connect(&[(r1, 1), (r3, 0)]);
        lab.connect(&[(r2, 1)]);
        lab.connect(&[(r3, 1)]);
        lab.run_for(Duration::from_secs(60));
        let r = route(&routes_of(&lab, r1), "100.70.0.0/24")
            .expect("D's LAN")
            .clone();
        assert_eq!(r.paths, vec![gw(0, [203, 0, 113, 2])]);
        lab.silenced[r2] = true;
        let mut gaps = Vec::new();
        for ms in 0..10_000 {
            lab.run_for(Duration::from_millis(1));
            if route(&routes_of(&lab, r1), "100.70.0.0/24").is_none() {
                gaps.push(ms);
            }
        }
        assert!(
            gaps.is_empty(),
            "priority {priority}, delay {delay_ms} ms: no route at ms {gaps:?}"
        );
        let r = route(&routes_of(&lab, r1), "100.70.0.0/24")
            .unwrap()
            .clone();
        assert_eq!(r.paths, vec![gw(1, [10, 0, 2, 2])]);
    }
}
