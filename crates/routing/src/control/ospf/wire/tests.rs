//! The codec against packets of the Wireshark sample capture `ospf.cap`
//! (a real router's checksums, OSPF's and Fletcher's), round trips, and
//! every kind of malformation.

use std::net::Ipv4Addr;

use super::body::{DD_INIT, DD_MASTER, DD_MORE};
use super::lsa::{build, fletcher_fill, HEADER_LEN};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Packet 6 of ospf.cap: a hello from 192.168.170.8.
const HELLO: &str = "02 01 00 2c c0 a8 aa 08 00 00 00 01 27 3b 00 00
    00 00 00 00 00 00 00 00 ff ff ff 00 00 0a 02 01
    00 00 00 28 c0 a8 aa 08 00 00 00 00";

/// Packet 19 of ospf.cap: an update carrying one router LSA.
const UPDATE: &str = "02 04 00 40 c0 a8 aa 08 00 00 00 01 96 1f 00 00
    00 00 00 00 00 00 00 00 00 00 00 01 03 e2 02 01
    c0 a8 aa 08 c0 a8 aa 08 80 00 0d c3 25 06 00 24
    02 00 00 01 c0 a8 aa 00 ff ff ff 00 03 00 00 0a";

#[test]
fn real_hello_parses_and_its_checksum_verifies() {
    let bytes = hex(HELLO);
    let p = OspfPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.packet_type(), PacketType::Hello);
    assert_eq!(p.router_id(), Ipv4Addr::new(192, 168, 170, 8));
    assert_eq!(p.area_id(), Ipv4Addr::new(0, 0, 0, 1));
    p.verify().unwrap();
    let Body::Hello(h) = p.parse_body().unwrap() else {
        panic!("not a hello")
    };
    assert_eq!(h.mask, Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!((h.hello_interval, h.dead_interval, h.priority), (10, 40, 1));
    assert_eq!(h.dr, Ipv4Addr::new(192, 168, 170, 8));
    assert_eq!(h.neighbors().count(), 0);
    // Re-emitting gives the same bytes, checksum included.
    let again = emit(PacketType::Hello, p.router_id(), p.area_id(), |o| h.emit(o));
    assert_eq!(again, bytes);
}

#[test]
fn real_router_lsa_checksum_verifies_and_refills_identically() {
    let bytes = hex(UPDATE);
    let p = OspfPacket::new_checked(&bytes[..]).unwrap();
    p.verify().unwrap();
    let Body::LsUpdate(u) = p.parse_body().unwrap() else {
        panic!("not an update")
    };
    let lsas: Vec<_> = u.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(lsas.len(), 1);
    let lsa = &lsas[0];
    assert_eq!(lsa.ls_type(), LsaType::Router);
    assert_eq!(lsa.sequence(), 0x8000_0dc3_u32 as i32);
    assert_eq!(lsa.age(), 0x03e2);
    assert!(fletcher_verify(&bytes[28..64]));
    let mut copy = bytes[28..64].to_vec();
    fletcher_fill(&mut copy);
    assert_eq!(
        copy,
        &bytes[28..64],
        "the same checksum as the real router's"
    );
    // The age is outside the checksum.
    copy[0] = 0x0e;
    assert!(fletcher_verify(&copy));
    copy[30] ^= 1;
    assert!(!fletcher_verify(&copy));
    let LsaBody::Router { flags, links } = LsaBody::parse(lsa.ls_type(), lsa.body()).unwrap()
    else {
        panic!("not a router body")
    };
    assert_eq!(flags, 2);
    assert_eq!(
        links,
        vec![RouterLink {
            kind: RouterLinkType::Stub,
            id: Ipv4Addr::new(192, 168, 170, 0),
            data: Ipv4Addr::new(255, 255, 255, 0),
            metric: 10,
        }]
    );
    // Built from its parts, the LSA is the real one byte for byte.
    let rebuilt = build(
        lsa.key(),
        lsa.age(),
        lsa.options(),
        lsa.sequence(),
        &LsaBody::Router { flags, links },
    );
    assert_eq!(rebuilt, &bytes[28..64]);
}

#[test]
fn bodies_round_trip() {
    let key = LsaKey {
        ls_type: LsaType::Network,
        ls_id: Ipv4Addr::new(10, 0, 0, 1),
        adv_router: Ipv4Addr::new(1, 1, 1, 1),
    };
    let net = LsaBody::Network {
        mask: Ipv4Addr::new(255, 255, 255, 0),
        attached: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)],
    };
    let ext = LsaBody::AsExternal {
        mask: Ipv4Addr::new(255, 255, 0, 0),
        type2: true,
        metric: 0x00ab_cdef,
        forwarding: Ipv4Addr::new(10, 0, 0, 9),
        tag: 7,
    };
    for (key, body) in [
        (key, net),
        (
            LsaKey {
                ls_type: LsaType::AsExternal,
                ..key
            },
            ext,
        ),
    ] {
        let lsa = build(key, 1, 2, -5, &body);
        assert!(fletcher_verify(&lsa));
        let view = LsaHeader::new_lsa(&lsa[..]).unwrap();
        assert_eq!((view.key(), view.sequence(), view.age()), (key, -5, 1));
        assert_eq!(LsaBody::parse(key.ls_type, view.body()).unwrap(), body);
    }
    // A DD with the I, M, MS bits and two headers.
    let lsa = build(key, 3, 2, 9, &LsaBody::Other);
    let packet = emit(
        PacketType::DbDescription,
        Ipv4Addr::new(9, 9, 9, 9),
        Ipv4Addr::UNSPECIFIED,
        |o| {
            DbDescription::emit_fixed(1500, 2, DD_INIT | DD_MORE | DD_MASTER, 77, o);
            o.extend_from_slice(&lsa[..HEADER_LEN]);
            o.extend_from_slice(&lsa[..HEADER_LEN]);
        },
    );
    let p = OspfPacket::new_checked(&packet[..]).unwrap();
    p.verify().unwrap();
    let Body::DbDescription(dd) = p.parse_body().unwrap() else {
        panic!("not a DD")
    };
    assert_eq!((dd.mtu, dd.flags, dd.sequence), (1500, 7, 77));
    assert_eq!(
        dd.headers.iter().map(|h| h.key()).collect::<Vec<_>>(),
        [key; 2]
    );
    // A request for the same key.
    let packet = emit(
        PacketType::LsRequest,
        Ipv4Addr::new(9, 9, 9, 9),
        Ipv4Addr::UNSPECIFIED,
        |o| key.emit_request(o),
    );
    let p = OspfPacket::new_checked(&packet[..]).unwrap();
    let Body::LsRequest(r) = p.parse_body().unwrap() else {
        panic!("not a request")
    };
    assert_eq!(r.iter().collect::<Vec<_>>(), vec![Ok(key)]);
}

#[test]
fn malformed_packets_are_rejected_not_panicked_on() {
    let good = hex(UPDATE);
    let check = |bytes: &[u8]| -> Result<(), OspfError> {
        let p = OspfPacket::new_checked(bytes)?;
        p.verify()?;
        match p.parse_body()? {
            Body::LsUpdate(u) => u.iter().try_for_each(|l| l.map(|_| ())),
            _ => Ok(()),
        }
    };
    assert_eq!(check(&good), Ok(()));
    assert_eq!(check(&good[..20]), Err(OspfError::Truncated));
    let mut v = good.clone();
    v[0] = 3;
    assert_eq!(check(&v), Err(OspfError::BadVersion));
    let mut v = good.clone();
    v[1] = 6;
    assert_eq!(check(&v), Err(OspfError::BadType));
    let mut v = good.clone();
    v[3] = 0x44; // longer than the buffer
    assert_eq!(check(&v), Err(OspfError::BadLength));
    let mut v = good.clone();
    v[40] ^= 0x10;
    assert_eq!(check(&v), Err(OspfError::BadChecksum));
    let mut v = good.clone();
    v[15] = 2;
    assert_eq!(check(&v), Err(OspfError::BadAuthentication));
    // An LSA count the bytes cannot hold, with the checksum refilled.
    let refill = |v: Vec<u8>| match OspfPacket::new_checked(&v[..]) {
        Ok(p) => emit(p.packet_type(), p.router_id(), p.area_id(), |o| {
            o.extend_from_slice(p.body())
        }),
        Err(_) => v.clone(),
    };
    let mut v = good.clone();
    v[27] = 3;
    assert_eq!(check(&refill(v)), Err(OspfError::BadBody));
    // An LSA whose length runs past the packet.
    let mut v = good.clone();
    v[63 - 16] = 0x40;
    assert_eq!(check(&refill(v)), Err(OspfError::BadLsa));
    // Every truncation and every single-byte change is handled.
    for cut in 0..good.len() {
        let _ = check(&good[..cut]);
    }
    for at in 0..good.len() {
        for bit in 0..8 {
            let mut v = good.clone();
            v[at] ^= 1 << bit;
            let _ = check(&refill(v));
        }
    }
}

#[test]
fn router_lsa_link_counts_are_bounded_by_the_bytes() {
    // 1000 links announced, 1 present.
    let body = [0, 0, 0x03, 0xe8, 1, 2, 3, 4, 5, 6, 7, 8, 3, 0, 0, 1];
    assert_eq!(
        LsaBody::parse(LsaType::Router, &body),
        Err(OspfError::BadLsa)
    );
    // A link with TOS entries beyond the body.
    let body = [0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 3, 9, 0, 1];
    assert_eq!(
        LsaBody::parse(LsaType::Router, &body),
        Err(OspfError::BadLsa)
    );
}
