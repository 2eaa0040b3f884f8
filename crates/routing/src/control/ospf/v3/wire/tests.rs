//! Fixed cases: the scope rules of §4.8.2, the pseudo-header checksum,
//! and malformed prefix and packet encodings.

use std::net::Ipv6Addr;

use super::lsa::Lsa3Body;
use super::{checksum, flooding_scope, Ospf3Packet, Scope, LINK_LSA, ROUTER_LSA};
use crate::control::ospf::wire::{LsaType, OspfError};

#[test]
fn scope_follows_the_u_and_s_bits() {
    assert_eq!(flooding_scope(ROUTER_LSA), Scope::Area);
    assert_eq!(flooding_scope(LINK_LSA), Scope::Link);
    assert_eq!(flooding_scope(LsaType::V3(0x4005)), Scope::As);
    // Unknown, U set: by S bits.
    assert_eq!(flooding_scope(LsaType::V3(0xa00a)), Scope::Area);
    assert_eq!(flooding_scope(LsaType::V3(0xc00a)), Scope::As);
    assert_eq!(flooding_scope(LsaType::V3(0x800a)), Scope::Link);
    // Unknown, U clear: link-local whatever S says.
    assert_eq!(flooding_scope(LsaType::V3(0x400a)), Scope::Link);
    // Reserved scope: kept to the link.
    assert_eq!(flooding_scope(LsaType::V3(0xe00a)), Scope::Link);
    // OSPFv2 types.
    assert_eq!(flooding_scope(LsaType::Router), Scope::Area);
}

#[test]
fn checksum_covers_the_pseudo_header() {
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    let dst: Ipv6Addr = "ff02::5".parse().unwrap();
    let mut packet = super::emit(
        crate::control::ospf::wire::PacketType::Hello,
        "1.1.1.1".parse().unwrap(),
        "0.0.0.0".parse().unwrap(),
        0,
        |o| o.extend_from_slice(&[0; 20]),
    );
    let sum = checksum(src, dst, &packet);
    packet[12..14].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(checksum(src, dst, &packet), 0);
    // Another source: wrong.
    assert_ne!(checksum("fe80::2".parse().unwrap(), dst, &packet), 0);
}

#[test]
fn malformed_input_is_rejected() {
    // Version 2 is not v3.
    let mut p = vec![2, 1, 0, 16];
    p.extend_from_slice(&[0; 12]);
    assert_eq!(
        Ospf3Packet::new_checked(&p[..]).err(),
        Some(OspfError::BadVersion)
    );
    p[0] = 3;
    p[3] = 17;
    assert_eq!(
        Ospf3Packet::new_checked(&p[..]).err(),
        Some(OspfError::BadLength)
    );
    // A prefix longer than 128 bits, and one whose words are missing.
    let mut link = vec![1, 0, 0, 0x13];
    link.extend_from_slice(&[0; 16]);
    link.extend_from_slice(&1u32.to_be_bytes());
    let good = [64, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0];
    assert!(Lsa3Body::parse(LINK_LSA, &[&link[..], &good].concat()).is_ok());
    // A Link-LSA prefix's reserved 16 bits are not a metric (found by the
    // fuzz target: it broke the parse-emit round trip).
    let mut reserved = good;
    reserved[2] = 0x27;
    let Ok(Lsa3Body::Link { prefixes, .. }) =
        Lsa3Body::parse(LINK_LSA, &[&link[..], &reserved].concat())
    else {
        panic!("no Link-LSA");
    };
    assert_eq!(prefixes[0].metric, 0);
    let too_long = [129, 0, 0, 0];
    assert!(Lsa3Body::parse(LINK_LSA, &[&link[..], &too_long].concat()).is_err());
    assert!(Lsa3Body::parse(LINK_LSA, &[&link[..], &good[..8]].concat()).is_err());
    // A count far beyond the bytes: rejected before anything is allocated.
    link[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Lsa3Body::parse(LINK_LSA, &link).is_err());
}
