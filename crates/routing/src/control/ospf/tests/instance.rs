//! The protocol instance as the engine sees it: the sockets it asks for,
//! whole IPv4 datagrams in, transmits out; two instances wired to each
//! other reach Full and SPF hands the RIB the neighbour's stub as an
//! `ospf` route; `show ospf` and reload of costs.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::control::bgp::ResolveWith;
use crate::control::ospf::instance::{OspfConfig, OspfInterfaceConfig, NAME, REGISTRATION};
use crate::control::protocol::{
    frozen_clock, Protocol, ProtocolConfig, ProtocolInput, ProtocolPort, RouteOutput, SocketEvent,
    SocketId, SocketRequest,
};
use crate::control::rib::route::{RouteSource, Via};
use crate::wire::ipv4::Ipv4Repr;

fn config(router: u8, addresses: &[&str], cost: u16) -> ProtocolConfig {
    let ports = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| ProtocolPort {
            id: i as u16,
            name: format!("p{i}"),
            addresses: vec![a.parse().unwrap()],
            mtu: 1500,
        })
        .collect();
    ProtocolConfig::new(rid(router), ports).with_section(
        NAME,
        OspfConfig::new(vec![OspfInterfaceConfig {
            port: "p0".to_string(),
            network: NetworkType::PointToPoint,
            cost,
            hello_interval: 1,
            dead_interval: 4,
            priority: 1,
            retransmit_interval: 2,
            authentication: crate::control::ospf::wire::Authentication::Null,
        }]),
    )
}

/// The datagram a raw socket would hand up for `bytes` from `src`.
fn datagram(src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0; 20 + bytes.len()];
    Ipv4Repr {
        src,
        dst,
        protocol: 89,
        ttl: 1,
        dscp_ecn: 0xc0,
        ident: 0,
        payload_len: bytes.len(),
    }
    .emit(&mut out);
    out[20..].copy_from_slice(bytes);
    out
}

#[test]
fn two_instances_reach_full_and_install_the_neighbours_stub() {
    let rib = ResolveWith(|_| None);
    let mut now = frozen_clock();
    let ca = config(1, &["10.0.12.1/30"], 10);
    let cb = config(2, &["10.0.12.2/30", "198.51.100.1/24"], 10);
    // B also runs OSPF on its LAN (alone there: a stub network).
    let mut section = cb.section::<OspfConfig>(NAME).unwrap().clone();
    section.interfaces.push(OspfInterfaceConfig {
        port: "p1".to_string(),
        network: NetworkType::Broadcast,
        ..section.interfaces[0].clone()
    });
    let cb_two = cb.clone().with_section(NAME, section);
    let mut a = (REGISTRATION.create)(&ca).expect("configured");
    let mut b = (REGISTRATION.create)(&cb_two).expect("configured");
    a.reconfigure(now, &ca).unwrap();
    b.reconfigure(now, &cb_two).unwrap();
    assert_eq!(
        a.poll_socket_request(),
        Some(SocketRequest::RawIpv4 {
            socket: SocketId(0),
            protocol: 89,
            port: 0,
            groups: vec![ALL_SPF_ROUTERS, ALL_D_ROUTERS],
            dscp: Some(48),
        })
    );
    assert_eq!(a.poll_socket_request(), None);
    while b.poll_socket_request().is_some() {}
    let a_addr = Ipv4Addr::new(10, 0, 12, 1);
    let b_addr = Ipv4Addr::new(10, 0, 12, 2);
    let routes = run_pair(
        &mut *a,
        &mut *b,
        &mut now,
        40,
        &rib,
        |a_sends, dst, bytes| {
            let Some(IpAddr::V4(dst)) = dst else {
                panic!("no destination")
            };
            datagram(if a_sends { a_addr } else { b_addr }, dst, bytes)
        },
    );
    let shown = a
        .handle_command(now, "ospf neighbors", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["neighbors"][0]["state"], "full", "{shown}");
    assert!(shown["text"].as_str().unwrap().contains("10.255.255.2"));
    let Some(RouteOutput::ReplaceSource { source, routes }) = routes.last().cloned() else {
        panic!("no SPF routes: {routes:?}")
    };
    assert_eq!(source, RouteSource::OSPF);
    let lan: IpNet = "198.51.100.0/24".parse().unwrap();
    let r = routes
        .iter()
        .find(|r| r.prefix == lan)
        .expect("B's LAN routed");
    assert_eq!(r.source, RouteSource::OSPF);
    assert_eq!(r.metric, 20);
    assert_eq!(
        r.paths,
        vec![Via::Gateway {
            port: 0,
            gateway: IpAddr::V4(b_addr)
        }]
    );
    // Reload with another cost: no new socket, the same neighbour stays Full.
    let ca2 = config(1, &["10.0.12.1/30"], 30);
    a.reconfigure(now, &ca2).unwrap();
    assert_eq!(a.poll_socket_request(), None);
    let shown = a
        .handle_command(now, "ospf interfaces", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["interfaces"][0]["cost"], 30);
    let shown = a
        .handle_command(now, "ospf neighbors", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["neighbors"][0]["state"], "full");
    // Reload adding an interface on p1: one new socket; p0's neighbour
    // stays Full.
    let two_ports = config(1, &["10.0.12.1/30", "192.0.2.1/24"], 30);
    let mut section = two_ports.section::<OspfConfig>(NAME).unwrap().clone();
    section.interfaces.push(OspfInterfaceConfig {
        port: "p1".to_string(),
        network: NetworkType::Broadcast,
        ..section.interfaces[0].clone()
    });
    let added = two_ports.clone().with_section(NAME, section.clone());
    a.reconfigure(now, &added).unwrap();
    assert!(
        matches!(
            a.poll_socket_request(),
            Some(SocketRequest::RawIpv4 {
                socket: SocketId(1),
                port: 1,
                ..
            })
        ),
        "a socket for the new interface"
    );
    assert_eq!(a.poll_socket_request(), None);
    let shown = a
        .handle_command(now, "ospf neighbors", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["neighbors"][0]["state"], "full");
    // And removing p0's: its socket closes, p1's stays.
    section.interfaces.remove(0);
    a.reconfigure(now, &two_ports.with_section(NAME, section))
        .unwrap();
    assert_eq!(
        a.poll_socket_request(),
        Some(SocketRequest::Close {
            socket: SocketId(0)
        })
    );
    assert_eq!(a.poll_socket_request(), None);
    let shown = a
        .handle_command(now, "ospf interfaces", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["interfaces"][0]["port"], "p1");
    assert!(a.handle_command(now, "ospf bogus", &rib).unwrap().is_err());
    assert!(a.handle_command(now, "bgp", &rib).is_none());
    // Not IPv4 OSPF: counted, not a crash.
    let junk = SocketEvent::Datagram {
        socket: SocketId(0),
        packet: &[0x45, 0, 0],
    };
    a.handle_input(now, ProtocolInput::Socket(junk), &rib)
        .unwrap();
}

/// A RIB with static routes only.
struct Statics(Vec<IpNet>);

impl crate::control::rib::route::NextHopResolver for Statics {
    fn igp_cost(&self, _: IpAddr) -> Option<u32> {
        None
    }
}

impl crate::control::rib::notify::RibView for Statics {
    fn next_hops(&self) -> &dyn crate::control::rib::route::NextHopResolver {
        self
    }
    fn source_prefixes(&self, source: RouteSource) -> Vec<IpNet> {
        if source == RouteSource::STATIC {
            self.0.clone()
        } else {
            Vec::new()
        }
    }
}

/// The AS-external LSAs `instance` holds of its own and not flushed.
fn announced(instance: &mut dyn Protocol, rib: &Statics, now: std::time::Instant) -> Vec<String> {
    let shown = instance
        .handle_command(now, "ospf database", rib)
        .unwrap()
        .unwrap();
    shown["database"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ls_type"] == "as-external" && r["age"].as_u64() < Some(3600))
        .map(|r| r["ls_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn static_and_connected_routes_are_redistributed_as_they_come_and_go() {
    use crate::control::rib::notify::{BestRoute, BestRouteChange};
    let mut now = frozen_clock();
    let mut config = config(1, &["10.0.12.1/30", "192.0.2.1/24"], 10);
    let mut section = config.section::<OspfConfig>(NAME).unwrap().clone();
    section.redistribute = vec![RouteSource::STATIC, RouteSource::CONNECTED];
    config = config.with_section(NAME, section);
    let mut a = (REGISTRATION.create)(&config).expect("configured");
    a.reconfigure(now, &config).unwrap();
    assert_eq!(
        a.subscription(),
        crate::control::rib::notify::SourceFilter::only(&[RouteSource::STATIC])
    );
    // The RIB's statics are read on the first timeout after a reconfigure.
    let rib = Statics(vec![
        "198.51.100.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ]);
    assert!(a.poll_timeout().is_some_and(|t| t <= now));
    a.handle_timeout(now, &rib);
    // p1's subnet (OSPF does not run there) and the IPv4 static; p0's
    // subnet is OSPF's own, the IPv6 static is not OSPFv2's.
    assert_eq!(
        announced(a.as_mut(), &rib, now),
        ["192.0.2.0", "198.51.100.0"]
    );
    let shown = a.handle_command(now, "ospf routes", &rib).unwrap().unwrap();
    assert_eq!(shown["externals_announced"], 2);
    // A static route comes, MinLSInterval later it is announced; one goes.
    now += Duration::from_secs(6);
    let best = BestRoute {
        source: RouteSource::STATIC,
        metric: 0,
        paths: Box::new([Via::Attached { port: 1 }]),
    };
    let changes = [
        BestRouteChange::Prefix {
            prefix: "203.0.113.0/24".parse().unwrap(),
            old: None,
            new: Some(best.clone()),
        },
        BestRouteChange::Prefix {
            prefix: "198.51.100.0/24".parse().unwrap(),
            old: Some(best),
            new: None,
        },
    ];
    a.handle_rib_changes(now, &changes, &rib);
    while a.poll_timeout().is_some_and(|t| t <= now) {
        a.handle_timeout(now, &rib);
    }
    assert_eq!(
        announced(a.as_mut(), &rib, now),
        ["192.0.2.0", "203.0.113.0"]
    );
    // Redistribution turned off by a reload: everything flushed.
    let plain = self::config(1, &["10.0.12.1/30", "192.0.2.1/24"], 10);
    now += Duration::from_secs(6);
    a.reconfigure(now, &plain).unwrap();
    assert!(a.subscription().is_empty());
    while a.poll_timeout().is_some_and(|t| t <= now) {
        a.handle_timeout(now, &rib);
    }
    assert!(announced(a.as_mut(), &rib, now).is_empty());
}
