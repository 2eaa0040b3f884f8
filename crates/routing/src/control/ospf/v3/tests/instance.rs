//! The OSPFv3 instance as the engine sees it: the raw IPv6 sockets it asks
//! for, its link-local address from `SocketEvent::Bound`, whole IPv6
//! datagrams in (from link-local sources only), transmits out; two
//! instances wired to each other install each other's prefix as an
//! `ospfv3` route through the neighbour's link-local address.

use std::net::{IpAddr, Ipv6Addr};

use super::link_local;
use crate::control::bgp::ResolveWith;
use crate::control::ospf::interface::NetworkType;
use crate::control::ospf::tests::{rid, run_pair};
use crate::control::ospf::v3::instance::{Ospfv3Config, NAME, REGISTRATION};
use crate::control::ospf::v3::wire::{ALL_D_ROUTERS, ALL_SPF_ROUTERS};
use crate::control::ospf::wire::Authentication;
use crate::control::ospf::OspfInterfaceConfig;
use crate::control::protocol::{
    frozen_clock, ProtocolConfig, ProtocolInput, ProtocolPort, RouteOutput, SocketEvent, SocketId,
    SocketRequest,
};
use crate::control::rib::route::{RouteSource, Via};
use crate::wire::ipv6::emit_header;

fn config(router: u8, addresses: &[&str]) -> ProtocolConfig {
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
    let interface = |port: &str| OspfInterfaceConfig {
        port: port.to_string(),
        network: NetworkType::PointToPoint,
        cost: 10,
        hello_interval: 1,
        dead_interval: 4,
        priority: 1,
        retransmit_interval: 2,
        authentication: Authentication::Null,
    };
    let section = Ospfv3Config {
        router_id: None,
        area: std::net::Ipv4Addr::UNSPECIFIED,
        instance_id: 0,
        interfaces: (0..addresses.len())
            .map(|i| interface(&format!("p{i}")))
            .collect(),
    };
    ProtocolConfig::new(rid(router), ports).with_section(NAME, section)
}

/// The datagram the event loop hands up for `bytes` from `src` to `dst`.
fn datagram(src: Ipv6Addr, dst: Ipv6Addr, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0; 40 + bytes.len()];
    emit_header(
        &mut out,
        src.octets(),
        dst.octets(),
        89,
        1,
        bytes.len() as u16,
    );
    out[40..].copy_from_slice(bytes);
    out
}

#[test]
fn two_instances_install_each_others_prefix_via_link_local() {
    let rib = ResolveWith(|_| None);
    let mut now = frozen_clock();
    let ca = config(1, &["2001:db8:12::1/64"]);
    let cb = config(2, &["2001:db8:12::2/64", "2001:db8:2::1/64"]);
    let mut a = (REGISTRATION.create)(&ca).expect("configured");
    let mut b = (REGISTRATION.create)(&cb).expect("configured");
    a.reconfigure(now, &ca).unwrap();
    b.reconfigure(now, &cb).unwrap();
    assert_eq!(
        a.poll_socket_request(),
        Some(SocketRequest::RawIpv6 {
            socket: SocketId(0),
            protocol: 89,
            port: 0,
            groups: vec![ALL_SPF_ROUTERS, ALL_D_ROUTERS],
            dscp: Some(48),
            checksum_offset: Some(12),
        })
    );
    assert_eq!(a.poll_socket_request(), None);
    while b.poll_socket_request().is_some() {}
    let (a_ll, b_ll) = (link_local(1, 0), link_local(2, 0));
    // No Link-LSA while the link-local address is unknown.
    let link_lsas = |shown: &serde_json::Value| {
        shown["database"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ls_type"]["v3"] == 8)
            .count()
    };
    a.handle_timeout(now, &rib);
    let shown = a
        .handle_command(now, "ospfv3 database", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(link_lsas(&shown), 0, "{}", shown["database"]);
    for (x, ll) in [(&mut a, a_ll), (&mut b, b_ll)] {
        let bound = SocketEvent::Bound {
            socket: SocketId(0),
            local: IpAddr::V6(ll),
        };
        x.handle_input(now, ProtocolInput::Socket(bound), &rib)
            .unwrap();
    }
    // A packet from a global address is not OSPFv3's: counted, dropped.
    let stray = datagram(
        "2001:db8:12::9".parse().unwrap(),
        ALL_SPF_ROUTERS,
        &[3, 1, 0, 16],
    );
    let event = SocketEvent::Datagram {
        socket: SocketId(0),
        packet: &stray,
    };
    a.handle_input(now, ProtocolInput::Socket(event), &rib)
        .unwrap();
    let mut routes = run_pair(
        &mut *a,
        &mut *b,
        &mut now,
        60,
        &rib,
        |a_sends, dst, bytes| {
            let Some(IpAddr::V6(dst)) = dst else {
                panic!("no IPv6 destination: {dst:?}")
            };
            datagram(if a_sends { a_ll } else { b_ll }, dst, bytes)
        },
    );
    let Some(RouteOutput::ReplaceSource { source, routes }) = routes.pop() else {
        panic!("no routes from A");
    };
    assert_eq!(source, RouteSource::OSPFV3);
    let to_b = routes
        .iter()
        .find(|r| r.prefix == "2001:db8:2::/64".parse().unwrap())
        .unwrap_or_else(|| panic!("no route to B's prefix: {routes:?}"));
    assert_eq!(
        to_b.paths,
        vec![Via::Gateway {
            port: 0,
            gateway: IpAddr::V6(b_ll),
        }]
    );
    let shown = a.handle_command(now, "ospfv3", &rib).unwrap().unwrap();
    assert_eq!(shown["bad_datagrams"], 1);
    assert_eq!(shown["neighbors"][0]["address"], b_ll.to_string());
    // Link-LSAs: A's own and B's for the shared link, not B's other one.
    assert_eq!(link_lsas(&shown), 2, "{}", shown["database"]);
    // A reload changing the cost keeps the socket and the adjacency.
    let mut cheaper = ca.section::<Ospfv3Config>(NAME).unwrap().clone();
    cheaper.interfaces[0].cost = 20;
    let ca2 = ca.clone().with_section(NAME, cheaper);
    a.reconfigure(now, &ca2).unwrap();
    assert_eq!(a.poll_socket_request(), None);
    let shown = a
        .handle_command(now, "ospfv3 interfaces", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["interfaces"][0]["cost"], 20);
    let shown = a
        .handle_command(now, "ospfv3 neighbors", &rib)
        .unwrap()
        .unwrap();
    assert_eq!(shown["neighbors"][0]["state"], "full");
}
