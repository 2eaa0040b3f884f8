//! Discard routes in the RIB: they compete by distance and longest match
//! like any route, resolve to discard next hops, and say what they are.

use super::{gw, ip, net, rec, route, two_ports};
use crate::control::rib::inputs::static_routes;
use crate::control::rib::route::{RouteSource, Via};
use crate::fib::{Discard, NextHop, RouteTarget, StaticRoute};

fn members(rib: &crate::control::rib::Rib, prefix: &str) -> Vec<NextHop> {
    rib.group_members(rib.installed(net(prefix)).unwrap())
        .unwrap()
        .to_vec()
}

#[test]
fn a_static_discard_route_is_a_discard_path() {
    let (_, ports) = two_ports();
    let routes = static_routes(
        &ports,
        &[StaticRoute {
            prefix: net("198.51.0.0/16"),
            target: RouteTarget::Discard(Discard::Prohibit),
        }],
    );
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].source, RouteSource::STATIC);
    assert_eq!(
        routes[0].paths,
        vec![Via::Discard {
            action: Discard::Prohibit
        }]
    );
}

#[test]
fn discard_routes_compete_by_distance_and_longest_match() {
    let (mut rib, _) = two_ports();
    let blackhole = vec![Via::Discard {
        action: Discard::Blackhole,
    }];
    let wide = "198.51.0.0/16";
    rib.update(
        RouteSource::STATIC,
        net(wide),
        Some(&route(wide, RouteSource::STATIC, 0, blackhole.clone())),
    );
    // Link-state's route for the same prefix loses on distance ...
    rib.update(
        RouteSource::LINK_STATE,
        net(wide),
        Some(&route(
            wide,
            RouteSource::LINK_STATE,
            10,
            vec![gw(1, "10.0.2.9")],
        )),
    );
    assert_eq!(
        members(&rib, wide),
        vec![NextHop::Discard(Discard::Blackhole)]
    );
    // ... and a more specific forwarding route takes its part of the space.
    let narrow = "198.51.100.0/24";
    rib.update(
        RouteSource::LINK_STATE,
        net(narrow),
        Some(&route(
            narrow,
            RouteSource::LINK_STATE,
            10,
            vec![gw(1, "10.0.2.9")],
        )),
    );
    let e = rib.explain_address(ip("198.51.100.7")).unwrap();
    assert_eq!(e.prefix, net(narrow));
    let e = rib.explain_address(ip("198.51.7.7")).unwrap();
    assert_eq!(e.prefix, net(wide));
    assert_eq!(e.selected, Some(RouteSource::STATIC));
    assert_eq!(e.routes[0].next_hops, vec!["blackhole".to_string()]);
    assert!(e.to_string().contains("blackhole"), "{e}");
    // Without the discard route the link-state route takes over.
    rib.update(RouteSource::STATIC, net(wide), None);
    assert_eq!(
        members(&rib, wide),
        vec![NextHop::Unresolved {
            port: 1,
            gateway: ip("10.0.2.9")
        }]
    );
}

#[test]
fn a_bgp_next_hop_routed_to_a_discard_route_is_discarded() {
    // Remotely triggered blackholing (RFC 5635): a static discard route for
    // the next hop turns every BGP route through it into a discard.
    let (mut rib, _) = two_ports();
    let sink = "192.0.2.1/32";
    rib.update(
        RouteSource::STATIC,
        net(sink),
        Some(&route(
            sink,
            RouteSource::STATIC,
            0,
            vec![Via::Discard {
                action: Discard::Blackhole,
            }],
        )),
    );
    let victim = "203.0.113.0/24";
    rib.update(
        RouteSource::EBGP,
        net(victim),
        Some(&route(victim, RouteSource::EBGP, 0, vec![rec("192.0.2.1")])),
    );
    assert_eq!(
        members(&rib, victim),
        vec![NextHop::Discard(Discard::Blackhole)]
    );
}
