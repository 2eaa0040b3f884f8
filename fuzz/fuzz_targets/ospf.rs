//! Fuzz target `ospf`: OSPFv2 packets from a hostile neighbour.
//!
//! The input is read three ways:
//! * as an OSPF packet through the codec (`control::ospf::wire`): the views
//!   never panic, a body that parses lists only what its bytes hold, every
//!   LSA of an update lies within the packet, and router, network and
//!   AS-external bodies that parse emit bytes that parse back the same;
//!   a Fletcher checksum filled into any LSA-shaped buffer verifies;
//! * the same bytes made a valid packet of the neighbour (its router id,
//!   area 0, the checksum recomputed), handed to a speaker whose neighbour
//!   is in Exchange, then time advanced past every timer: nothing panics,
//!   the database never holds more than its bound, every neighbour's
//!   request and retransmission lists name LSAs that parse;
//! * the raw bytes to the speaker as they are (bad checksums and all).
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ferroute::control::ospf::database::MAX_LSAS;
use ferroute::control::ospf::interface::{InterfaceConfig, NetworkType};
use ferroute::control::ospf::speaker::Speaker;
use ferroute::control::ospf::wire::body::{DD_INIT, DD_MASTER, DD_MORE, OPTION_E};
use ferroute::control::ospf::wire::lsa::{fletcher_fill, fletcher_verify, LsaBody, LsaHeader};
use ferroute::control::ospf::wire::{
    self, Authentication, Body, DbDescription, Hello, OspfPacket, PacketType, ALL_SPF_ROUTERS,
};
use libfuzzer_sys::fuzz_target;

const US: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 9);
const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn check_codec(data: &[u8]) {
    let Ok(p) = OspfPacket::new_checked(data) else {
        return;
    };
    assert!(p.len() <= data.len() && p.body().len() + wire::HEADER_LEN == p.len());
    let _ = p.verify();
    for auth in [
        Authentication::Simple(*b"password"),
        Authentication::Md5 {
            key_id: 1,
            key: *b"sixteen-byte-key",
        },
    ] {
        let _ = p.authenticate(&auth);
    }
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
                total += lsa.length();
                assert!(total <= p.body().len());
                if let Ok(parsed) = LsaBody::parse(lsa.ls_type(), lsa.body()) {
                    if parsed != LsaBody::Other {
                        let mut again = Vec::new();
                        parsed.emit(&mut again);
                        assert_eq!(LsaBody::parse(lsa.ls_type(), &again), Ok(parsed));
                    }
                }
                let mut copy = lsa.bytes().to_vec();
                fletcher_fill(&mut copy);
                assert!(fletcher_verify(&copy));
            }
        }
    }
}

/// A speaker on one point-to-point link whose neighbour is in Exchange
/// (it is master).
fn exchanging(now: Instant) -> Speaker {
    let iface = InterfaceConfig {
        port: 0,
        name: "p0".into(),
        address: "10.0.0.1/30".parse().unwrap(),
        network: NetworkType::PointToPoint,
        cost: 10,
        hello_interval: 10,
        dead_interval: 40,
        priority: 1,
        retransmit_interval: 5,
        mtu: 1500,
        authentication: Authentication::Null,
        v3: None,
    };
    let mut s = Speaker::new(US, Ipv4Addr::UNSPECIFIED, vec![iface], now);
    s.handle_timeout(now); // its router LSA originated
    let us = US.octets();
    let hello = Hello {
        mask: Ipv4Addr::UNSPECIFIED,
        hello_interval: 10,
        interface_id: 0,
        options: u32::from(OPTION_E),
        priority: 1,
        dead_interval: 40,
        dr: Ipv4Addr::UNSPECIFIED,
        bdr: Ipv4Addr::UNSPECIFIED,
        neighbors: &us,
    };
    let area = Ipv4Addr::UNSPECIFIED;
    let bytes = wire::emit(PacketType::Hello, PEER, area, |o| hello.emit(o));
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    let bytes = wire::emit(PacketType::DbDescription, PEER, area, |o| {
        DbDescription::emit_fixed(
            1500,
            u32::from(OPTION_E),
            DD_INIT | DD_MORE | DD_MASTER,
            7,
            o,
        )
    });
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    s
}

fn check_speaker(data: &[u8]) {
    let now = Instant::now();
    let mut s = exchanging(now);
    // Raw, then made valid from the neighbour.
    s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, data);
    if data.len() >= wire::HEADER_LEN && data[1] >= 1 && data[1] <= 5 {
        let kind = PacketType::from_u8(data[1]).unwrap();
        let bytes = wire::emit(kind, PEER, Ipv4Addr::UNSPECIFIED, |o| {
            o.extend_from_slice(&data[wire::HEADER_LEN..])
        });
        s.receive(now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
        s.receive(
            now + Duration::from_secs(2),
            0,
            PEER_ADDR,
            ALL_SPF_ROUTERS,
            &bytes,
        );
    }
    for t in [1, 5, 11, 45, 3700] {
        s.handle_timeout(now + Duration::from_secs(t));
        while s.poll_transmit().is_some() {}
    }
    assert!(s.database().len() <= MAX_LSAS);
    for (_, e) in s.database().iter() {
        assert!(LsaHeader::new_lsa(&e.bytes[..]).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    check_codec(data);
    check_speaker(data);
});
