//! Fuzz target `ospf3`: OSPFv3 packets from a hostile neighbour.
//!
//! The input is read two ways:
//! * as an OSPFv3 packet through the codec (`control::ospf::v3::wire`):
//!   the views never panic, a body that parses lists only what its bytes
//!   hold, every LSA of an update lies within the packet and is read as a
//!   v3 header, and the bodies of the known types that parse emit bytes
//!   that parse back the same;
//! * the same bytes made a packet of the neighbour (its router id, area 0,
//!   instance 0) handed to an OSPFv3 speaker whose neighbour is in
//!   Exchange, then time advanced past every timer: nothing panics, the
//!   database stays within its bound and holds only LSAs that parse as v3.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ferroute::control::ospf::database::MAX_LSAS;
use ferroute::control::ospf::interface::{InterfaceConfig, NetworkType, V3Link};
use ferroute::control::ospf::speaker::Speaker;
use ferroute::control::ospf::v3::wire::lsa::Lsa3Body;
use ferroute::control::ospf::v3::wire::{
    self as v3wire, emit_dd_fixed, emit_hello, Ospf3Packet, ALL_SPF_ROUTERS, OPTIONS,
};
use ferroute::control::ospf::wire::body::{Body, Hello, DD_INIT, DD_MASTER, DD_MORE};
use ferroute::control::ospf::wire::lsa::LsaHeader;
use ferroute::control::ospf::wire::{Authentication, PacketType, Version};
use libfuzzer_sys::fuzz_target;

const US: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 9);
const PEER_ADDR: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);

fn check_codec(data: &[u8]) {
    let Ok(p) = Ospf3Packet::new_checked(data) else {
        return;
    };
    assert!(p.len() <= data.len() && p.body().len() + v3wire::HEADER_LEN == p.len());
    let Ok(body) = p.parse_body() else { return };
    match body {
        Body::Hello(h) => assert_eq!(h.neighbors().count() * 4, h.neighbors.len()),
        Body::DbDescription(d) => assert_eq!(d.headers.iter().count(), d.headers.len()),
        Body::LsAck(a) => assert_eq!(a.iter().count(), a.len()),
        Body::LsRequest(r) => assert_eq!(r.iter().count(), r.len()),
        Body::LsUpdate(u) => {
            let mut total = 0;
            for lsa in u.iter() {
                let Ok(lsa) = lsa else { break };
                assert_eq!(lsa.version(), Version::V3);
                total += lsa.length();
                assert!(total <= p.body().len());
                if let Ok(parsed) = Lsa3Body::parse(lsa.ls_type(), lsa.body()) {
                    if parsed != Lsa3Body::Other {
                        let mut again = Vec::new();
                        parsed.emit(&mut again);
                        assert_eq!(Lsa3Body::parse(lsa.ls_type(), &again), Ok(parsed));
                    }
                }
            }
        }
    }
}

/// An OSPFv3 speaker on one point-to-point link whose neighbour is in
/// Exchange (it is master).
fn exchanging(now: Instant) -> Speaker {
    let iface = InterfaceConfig {
        port: 0,
        name: "p0".into(),
        address: Default::default(),
        network: NetworkType::PointToPoint,
        cost: 10,
        hello_interval: 10,
        dead_interval: 40,
        priority: 1,
        retransmit_interval: 5,
        mtu: 1500,
        authentication: Authentication::Null,
        v3: Some(V3Link {
            interface_id: 1,
            link_local: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            prefixes: vec!["2001:db8::/64".parse().unwrap()],
        }),
    };
    let area = Ipv4Addr::UNSPECIFIED;
    let mut s = Speaker::new_v3(US, area, 0, vec![iface], now);
    s.handle_timeout(now);
    let us = US.octets();
    let hello = Hello {
        mask: Ipv4Addr::UNSPECIFIED,
        interface_id: 7,
        hello_interval: 10,
        options: OPTIONS,
        priority: 1,
        dead_interval: 40,
        dr: Ipv4Addr::UNSPECIFIED,
        bdr: Ipv4Addr::UNSPECIFIED,
        neighbors: &us,
    };
    let bytes = v3wire::emit(PacketType::Hello, PEER, area, 0, |o| emit_hello(&hello, o));
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    let bytes = v3wire::emit(PacketType::DbDescription, PEER, area, 0, |o| {
        emit_dd_fixed(1500, OPTIONS, DD_INIT | DD_MORE | DD_MASTER, 7, o)
    });
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    s
}

fn check_speaker(data: &[u8]) {
    let now = Instant::now();
    let mut s = exchanging(now);
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, data);
    if data.len() >= v3wire::HEADER_LEN && (1..=5).contains(&data[1]) {
        let kind = PacketType::from_u8(data[1]).unwrap();
        let bytes = v3wire::emit(kind, PEER, Ipv4Addr::UNSPECIFIED, 0, |o| {
            o.extend_from_slice(&data[v3wire::HEADER_LEN..])
        });
        s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
        let later = now + Duration::from_secs(2);
        s.receive(later, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    }
    for t in [1, 5, 11, 45, 3700] {
        s.handle_timeout(now + Duration::from_secs(t));
        while s.poll_transmit().is_some() {}
    }
    assert!(s.database().len() <= MAX_LSAS);
    for (_, e) in s.database().iter() {
        assert!(LsaHeader::lsa_in(Version::V3, &e.bytes[..]).is_ok());
    }
    let _ = ferroute::control::ospf::v3::routes::to_linkstate(&s, now);
}

fuzz_target!(|data: &[u8]| {
    check_codec(data);
    check_speaker(data);
});
