//! BGP instances talking to each other through a fake network
//! ([`super::net`]), and peers played by hand.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::net::*;
use super::*;
use crate::control::bgp::{AsPath, Origin};
use crate::control::rib::route::Via;

/// R (AS 65000) with an eBGP peer E (65001) and two iBGP peers I1, I2.
pub(super) fn topology() -> (Net, [usize; 4]) {
    let mut net = Net::new();
    let r = net.add(
        "10.0.0.1",
        vec![
            port(0, &["192.0.2.1/24"]),
            port(1, &["198.51.100.1/24"]),
            port(2, &["203.0.113.1/24"]),
            port(3, &["10.1.0.1/16", "2001:db8:1::1/48"]),
        ],
        bgp_config(
            65000,
            vec![
                peer("192.0.2.2", 65001, 65000, false),
                peer("198.51.100.2", 65000, 65000, false),
                peer("203.0.113.2", 65000, 65000, false),
            ],
            true,
        ),
    );
    let e = net.add(
        "10.0.0.2",
        vec![port(0, &["192.0.2.2/24"]), port(1, &["10.2.0.1/16"])],
        bgp_config(65001, vec![peer("192.0.2.1", 65000, 65001, true)], true),
    );
    let i1 = net.add(
        "10.0.0.3",
        vec![port(0, &["198.51.100.2/24"]), port(1, &["10.3.0.1/16"])],
        bgp_config(65000, vec![peer("198.51.100.1", 65000, 65000, true)], true),
    );
    let i2 = net.add(
        "10.0.0.4",
        vec![port(0, &["203.0.113.2/24"])],
        bgp_config(65000, vec![peer("203.0.113.1", 65000, 65000, true)], false),
    );
    // R tried before the others listened: its connect-retry timer.
    net.settle();
    net.advance(5);
    (net, [r, e, i1, i2])
}

#[test]
fn a_speaker_learns_advertises_and_keeps_the_ibgp_and_sender_rules() {
    let (mut net, [r, e, i1, i2]) = topology();
    let now = net.now;
    for p in ["192.0.2.2", "198.51.100.2", "203.0.113.2"] {
        assert_eq!(net.routers[r].state(now, p), "established", "{p}");
    }
    // E's connected route reaches R's RIB as eBGP through E.
    let via = |a: &str| {
        vec![Via::Recursive {
            address: a.parse().unwrap(),
        }]
    };
    let learned = net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .unwrap();
    assert_eq!(learned.paths, via("192.0.2.2"));
    // I1's reaches it as iBGP.
    let ibgp = net.routers[r]
        .route("10.3.0.0/16", RouteSource::IBGP)
        .unwrap();
    assert_eq!(ibgp.paths, via("198.51.100.2"));
    // R's connected routes reach E with AS_PATH 65000 and R as next hop.
    let why = net.routers[e].show(now, "routes 10.1.0.0/16").unwrap();
    let text = why["text"].as_str().unwrap();
    assert!(
        text.contains("65000") && text.contains("192.0.2.1"),
        "{text}"
    );
    assert!(net.routers[e]
        .route("10.1.0.0/16", RouteSource::EBGP)
        .is_some());
    // The iBGP-learned route goes to the eBGP peer, prepended...
    let why = net.routers[e].show(now, "routes 10.3.0.0/16").unwrap();
    assert!(why["text"].as_str().unwrap().contains("65000"), "{why}");
    // ...but not to the other iBGP peer; the eBGP one goes to both.
    assert!(net.routers[i2].show(now, "routes 10.3.0.0/16").is_none());
    let why = net.routers[i2].show(now, "routes 10.2.0.0/16").unwrap();
    let text = why["text"].as_str().unwrap();
    assert!(
        text.contains("65001") && text.contains("192.0.2.2"),
        "next hop kept over iBGP: {text}"
    );
    // Nothing goes back to its sender: E has no BGP route for its own prefix.
    assert!(net.routers[e].show(now, "routes 10.2.0.0/16").is_none());
    // IPv6 connected routes of R go over the IPv4 sessions only with an
    // IPv6 next hop of the session's port: R's port 0 has none.
    assert!(net.routers[e].show(now, "routes 2001:db8:1::/48").is_none());
    let peers = net.routers[r].show(now, "bgp").unwrap();
    let text = peers["text"].as_str().unwrap();
    assert!(
        text.contains("192.0.2.2") && text.contains("established"),
        "{text}"
    );
    let _ = i1;
}

#[test]
fn a_peer_leaving_withdraws_its_routes_everywhere_and_comes_back() {
    let (mut net, [r, e, _i1, i2]) = topology();
    // E drops the session (de-configured): R withdraws 10.2/16 from its RIB
    // and from I2.
    let config = bgp_config(65001, Vec::new(), true);
    net.reconfigure(e, "10.0.0.2", config);
    net.settle();
    let now = net.now;
    assert_eq!(net.routers[r].state(now, "192.0.2.2"), "idle");
    let stats = net.routers[r].show(now, "bgp peers").unwrap();
    assert!(
        stats
            .to_string()
            .contains("6/3 (cease: peer de-configured)"),
        "{stats}"
    );
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_none());
    assert!(net.routers[i2].show(now, "routes 10.2.0.0/16").is_none());
    // E is configured again: R reconnects after its idle hold.
    let config = bgp_config(65001, vec![peer("192.0.2.1", 65000, 65001, true)], true);
    net.reconfigure(e, "10.0.0.2", config);
    net.advance(1);
    net.advance(5);
    assert_eq!(net.routers[r].state(net.now, "192.0.2.2"), "established");
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_some());
    assert!(net.routers[i2]
        .show(net.now, "routes 10.2.0.0/16")
        .is_some());
}

#[test]
fn import_none_installs_nothing_and_export_none_sends_nothing() {
    let mut net = Net::new();
    let mut quiet = peer("192.0.2.2", 65001, 65000, false);
    quiet.import = Policy::None;
    quiet.export = Policy::None;
    let r = net.add(
        "10.0.0.1",
        vec![port(0, &["192.0.2.1/24"]), port(1, &["10.1.0.1/16"])],
        bgp_config(65000, vec![quiet], true),
    );
    let e = net.add(
        "10.0.0.2",
        vec![port(0, &["192.0.2.2/24"]), port(1, &["10.2.0.1/16"])],
        bgp_config(65001, vec![peer("192.0.2.1", 65000, 65001, true)], true),
    );
    net.settle();
    net.advance(5);
    let now = net.now;
    assert_eq!(net.routers[r].state(now, "192.0.2.2"), "established");
    assert!(net.routers[r].installed.is_empty());
    assert!(net.routers[e].show(now, "routes 10.1.0.0/16").is_none());
    let peers = net.routers[r].show(now, "bgp peers").unwrap();
    let p = &peers["peers"][0];
    assert_eq!(
        (p["received"].as_u64(), p["accepted"].as_u64()),
        (Some(2), Some(0)),
        "{p}"
    );
}

#[test]
fn a_connection_from_an_unknown_address_is_closed() {
    let mut net = Net::new();
    let r = net.add(
        "10.0.0.1",
        vec![port(0, &["192.0.2.1/24"])],
        bgp_config(65000, vec![peer("192.0.2.2", 65001, 65000, true)], false),
    );
    net.settle();
    let (local, remote) = (
        "192.0.2.1:179".parse().unwrap(),
        "192.0.2.9:5000".parse().unwrap(),
    );
    let socket = SocketId(SocketId::ACCEPTED);
    net.event(
        r,
        SocketEvent::Accepted {
            listener: LISTENERS[0],
            socket,
            local,
            remote,
        },
    );
    assert_eq!(
        net.routers[r].bgp.poll_socket_request(),
        Some(SocketRequest::Close { socket })
    );
}

#[test]
fn a_reload_keeps_sessions_and_their_routes_and_applies_policy_changes() {
    let (mut net, [r, e, _i1, _i2]) = topology();
    let config = |import: Policy| {
        let mut to_e = peer("192.0.2.2", 65001, 65000, false);
        to_e.import = import;
        bgp_config(
            65000,
            vec![
                to_e,
                peer("198.51.100.2", 65000, 65000, false),
                peer("203.0.113.2", 65000, 65000, false),
            ],
            true,
        )
    };
    net.reconfigure(r, "10.0.0.1", config(Policy::All));
    net.settle();
    let count = |net: &mut Net| {
        let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
        peers["peers"][0]["stats"]["established"].as_u64()
    };
    assert_eq!(count(&mut net), Some(1), "the session stayed up");
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_some());
    // Import none: E's routes go; the session stays.
    net.reconfigure(r, "10.0.0.1", config(Policy::None));
    net.settle();
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_none());
    // Import all again: a ROUTE-REFRESH brings them back.
    net.reconfigure(r, "10.0.0.1", config(Policy::All));
    net.settle();
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_some());
    assert_eq!(count(&mut net), Some(1));
    assert_eq!(net.routers[e].state(net.now, "192.0.2.1"), "established");
}

#[test]
fn malformed_updates_withdraw_or_reset_one_session_and_leave_the_others() {
    let (mut net, [r, e, _i1, _i2]) = topology();
    let stream = |net: &mut Net, bytes: &[u8]| net.stream_from(r, e, bytes);
    // 10.2/16 again with an ORIGIN of 3: treat-as-withdraw, session up.
    let bad_origin = raw_update(
        &[
            0x40, 1, 1, 3, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 192, 0, 2, 2,
        ],
        &[16, 10, 2],
    );
    stream(&mut net, &bad_origin);
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_none());
    assert_eq!(net.routers[r].state(net.now, "192.0.2.2"), "established");
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    assert_eq!(peers["peers"][0]["treat_as_withdraw"], 1);
    // A truncated MP_REACH_NLRI: NOTIFICATION 3/9 and that session only.
    let truncated = raw_update(&[0x80, 14, 5, 0, 2, 1, 16, 0], &[]);
    stream(&mut net, &truncated);
    let now = net.now;
    assert_eq!(net.routers[r].state(now, "192.0.2.2"), "idle");
    let shown = net.routers[e].show(now, "bgp peers").unwrap().to_string();
    assert!(shown.contains("received 3/9"), "{shown}");
    assert_eq!(net.routers[r].state(now, "198.51.100.2"), "established");
    assert!(net.routers[r]
        .route("10.3.0.0/16", RouteSource::IBGP)
        .is_some());
}

#[test]
fn static_routes_are_redistributed_as_they_come_and_go() {
    use crate::control::rib::notify::BestRoute;
    let (mut net, r, e) = static_pair(Duration::ZERO, false, |_, _| {});
    let change = |new: Option<RouteSource>| {
        let best = |source| BestRoute {
            source,
            metric: 0,
            paths: Box::new([Via::Recursive {
                address: "192.0.2.99".parse().unwrap(),
            }]),
        };
        [BestRouteChange::Prefix {
            prefix: "172.16.0.0/12".parse().unwrap(),
            old: None,
            new: new.map(best),
        }]
    };
    let rib = ResolveWith(|_: IpAddr| None);
    let now = net.now;
    let bgp = &mut net.routers[r].bgp;
    bgp.handle_rib_changes(now, &change(Some(RouteSource::STATIC)), &rib);
    net.settle();
    let why = net.routers[e].show(now, "routes 172.16.0.0/12").unwrap();
    assert!(why["text"].as_str().unwrap().contains("192.0.2.1"), "{why}");
    // A connected route is not redistributed here; the static one goes.
    let bgp = &mut net.routers[r].bgp;
    bgp.handle_rib_changes(now, &change(Some(RouteSource::CONNECTED)), &rib);
    net.settle();
    assert!(net.routers[e].show(now, "routes 172.16.0.0/12").is_none());
}

#[test]
fn a_restarting_peers_routes_stay_until_its_end_of_rib_or_its_restart_time() {
    use crate::control::bgp::session::message::{self, Capabilities, GracefulRestart, Open};
    use crate::control::bgp::session::update_out::{encode_announce, end_of_rib};
    let mut net = Net::new();
    let r = net.add(
        "10.0.0.1",
        vec![port(0, &["192.0.2.1/24"])],
        bgp_config(65000, vec![peer("192.0.2.2", 65001, 65000, true)], false),
    );
    net.settle();
    // The test plays the peer: OPEN with graceful restart, KEEPALIVE, routes, End-of-RIB.
    let session = |net: &mut Net, socket: SocketId, prefixes: &[&str]| {
        let (local, remote) = (
            "192.0.2.1:179".parse().unwrap(),
            "192.0.2.2:4000".parse().unwrap(),
        );
        let listener = LISTENERS[0];
        net.event(
            r,
            SocketEvent::Accepted {
                listener,
                socket,
                local,
                remote,
            },
        );
        let open = Open {
            asn: 65001,
            hold_time: 90,
            router_id: "192.0.2.2".parse().unwrap(),
            capabilities: Capabilities {
                families: vec![Family::Ipv4Unicast],
                multiprotocol: true,
                route_refresh: true,
                four_octet_as: Some(65001),
                graceful_restart: Some(GracefulRestart {
                    restart_time: 60,
                    families: vec![(Family::Ipv4Unicast, true)],
                }),
                ..Capabilities::default()
            },
        };
        let mut bytes = open.encode();
        bytes.extend(message::keepalive());
        let attrs = PathAttrs::new(
            Origin::Igp,
            AsPath::sequence(&[65001]),
            "192.0.2.2".parse().unwrap(),
        );
        let prefixes: Vec<IpNet> = prefixes.iter().map(|p| p.parse().unwrap()).collect();
        let mut updates = Vec::new();
        encode_announce(&attrs, &prefixes, true, &mut updates);
        updates.into_iter().for_each(|u| bytes.extend(u));
        bytes.extend(end_of_rib(Family::Ipv4Unicast));
        net.event(
            r,
            SocketEvent::Stream {
                socket,
                bytes: &bytes,
            },
        );
        net.settle();
    };
    let has = |net: &Net, p: &str| net.routers[r].route(p, RouteSource::EBGP).is_some();
    session(
        &mut net,
        SocketId(SocketId::ACCEPTED + 10),
        &["10.2.0.0/16", "10.9.0.0/16"],
    );
    assert!(has(&net, "10.2.0.0/16") && has(&net, "10.9.0.0/16"));
    // The connection is lost: the routes stay, stale.
    let lost = SocketId(SocketId::ACCEPTED + 10);
    net.event(
        r,
        SocketEvent::Closed {
            socket: lost,
            error: Some("reset"),
        },
    );
    net.settle();
    assert!(has(&net, "10.2.0.0/16") && has(&net, "10.9.0.0/16"));
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    assert_eq!(peers["peers"][0]["stale"], 2);
    // Back, announcing only 10.2/16 before its End-of-RIB: 10.9/16 goes.
    session(
        &mut net,
        SocketId(SocketId::ACCEPTED + 11),
        &["10.2.0.0/16"],
    );
    assert!(has(&net, "10.2.0.0/16") && !has(&net, "10.9.0.0/16"));
    // Lost again and never back: everything goes after the restart time.
    net.event(
        r,
        SocketEvent::Closed {
            socket: SocketId(SocketId::ACCEPTED + 11),
            error: None,
        },
    );
    net.advance(59);
    assert!(has(&net, "10.2.0.0/16"));
    net.advance(1);
    assert!(!has(&net, "10.2.0.0/16"));
}
