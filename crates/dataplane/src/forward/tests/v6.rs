//! IPv6 forwarding, scopes, extension headers and ICMPv6 errors.

use std::net::Ipv6Addr;

use super::*;
use crate::wire::icmp;
use crate::wire::ipv6::next_header;
use crate::wire::{checksum, Ipv6Packet};

pub(super) fn check_icmp_v6(frame: &[u8], icmp_type: u8, code: u8, rest: u32, offending: &[u8]) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!((eth.dst(), eth.src()), (HOST_MAC, P0_MAC));
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let off = Ipv6Packet::new_unchecked(&offending[14..]);
    assert_eq!(ip.src(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ip.dst(), off.src());
    assert_eq!(ip.next_header(), next_header::ICMPV6);
    assert!(ip.total_len() <= 1280);
    let msg = ip.payload();
    let acc = checksum::pseudo_header_v6(ip.src_bytes(), ip.dst_bytes(), 58, msg.len() as u32);
    assert_eq!(
        checksum::fold(checksum::accumulate(acc, msg)),
        0xffff,
        "ICMPv6 checksum"
    );
    assert_eq!((msg[0], msg[1]), (icmp_type, code));
    assert_eq!(u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]), rest);
    let quote = &msg[8..];
    assert_eq!(quote.len(), off.total_len().min(1280 - 48));
    assert_eq!(quote, &offending[14..14 + quote.len()]);
}

#[test]
fn ipv6_forward_and_errors() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::UDP,
        &[7; 40],
    );
    let original = f.clone();
    let (v, _) = run(&mut fwd, &fib, &mut f);
    assert_eq!(
        v,
        Verdict::Forward {
            port: 1,
            start: 0,
            len: original.len()
        }
    );
    assert_eq!(Ipv6Packet::new_unchecked(&f[14..]).hop_limit(), 63);
    assert_eq!(&f[..6], &GW_MAC.0);
    assert_eq!(&f[6..12], &P1_MAC.0);
    assert_eq!(&f[12..21], &original[12..21]);
    assert_eq!(&f[22..], &original[22..]);

    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        1,
        next_header::UDP,
        &[7; 40],
    );
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    check_icmp_v6(&emit.frames[0].1, 3, 0, 0, &original);

    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db9::1",
        64,
        next_header::UDP,
        &[7; 2000],
    );
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::NoRoute));
    check_icmp_v6(&emit.frames[0].1, 1, 0, 0, &original);
    assert_eq!(emit.frames[0].1.len(), 14 + 1280);

    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::UDP,
        &[7; 1400],
    );
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::PacketTooBig));
    check_icmp_v6(&emit.frames[0].1, 2, 0, P1_MTU as u32, &original);
}

#[test]
fn ipv6_scopes_and_martians() {
    let (mut fwd, fib) = rig(100, 10);
    let cases = [
        (
            "fe80::1",
            "2001:db8:2::7",
            Verdict::Drop(DropReason::LinkLocal),
        ),
        ("2001:db8::10", "fe80::1", Verdict::Local),
        ("2001:db8::10", "2001:db8:1::1", Verdict::Local),
        (
            "::",
            "2001:db8:2::7",
            Verdict::Drop(DropReason::MartianSource),
        ),
        (
            "ff02::1",
            "2001:db8:2::7",
            Verdict::Drop(DropReason::MartianSource),
        ),
        (
            "2001:db8::10",
            "::1",
            Verdict::Drop(DropReason::MartianDestination),
        ),
        (
            "2001:db8::10",
            "ff0e::1",
            Verdict::Drop(DropReason::MulticastDestination),
        ),
        (
            "2001:db8::10",
            "2001:db8:1::55",
            Verdict::Drop(DropReason::NeighborUnresolved),
        ),
    ];
    for (src, dst, expected) in cases {
        let mut f = v6_frame(src, dst, 64, next_header::UDP, &[0; 8]);
        assert_eq!(run(&mut fwd, &fib, &mut f).0, expected, "{src} -> {dst}");
    }
    // Neighbour solicitation to a solicited-node multicast group: for the host stack.
    let mut ns = v6_frame(
        "fe80::9",
        "ff02::1:ff00:1",
        255,
        next_header::ICMPV6,
        &[135; 24],
    );
    ns[..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 1]);
    assert_eq!(run(&mut fwd, &fib, &mut ns).0, Verdict::Local);
}

#[test]
fn ipv6_extension_headers_are_walked_safely() {
    let (mut fwd, fib) = rig(100, 10);
    // Hop-by-hop (8 bytes) then UDP: forwarded.
    let mut pl = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
    pl.extend_from_slice(&[0; 16]);
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::HOP_BY_HOP,
        &pl,
    );
    assert!(matches!(
        run(&mut fwd, &fib, &mut f).0,
        Verdict::Forward { .. }
    ));
    // A routing header claiming 40 bytes inside a 16-byte payload.
    let bad = [
        next_header::UDP,
        4,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::ROUTING,
        &bad,
    );
    assert_eq!(
        run(&mut fwd, &fib, &mut f).0,
        Verdict::Drop(DropReason::BadExtensionHeader)
    );
    // ICMPv6 error behind a destination-options header, hop limit 1: no error about an error.
    let mut pl = vec![next_header::ICMPV6, 0, 1, 4, 0, 0, 0, 0];
    pl.extend_from_slice(&[icmp::v6::DEST_UNREACHABLE, 0, 0, 0, 0, 0, 0, 0]);
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        1,
        next_header::DEST_OPTS,
        &pl,
    );
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert!(emit.frames.is_empty());
    assert_eq!(fwd.counters.icmp_suppressed, 1);
}

#[test]
fn link_local_source_gets_beyond_scope() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v6_frame("fe80::9", "2001:db8:2::7", 64, next_header::UDP, &[1; 16]);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::LinkLocal));
    check_icmp_v6(&emit.frames[0].1, 1, 2, 0, &original);
}

#[test]
fn non_first_fragments_get_icmpv6_errors() {
    let (mut fwd, fib) = rig(100, 10);
    // Fragment header with offset 1448 bytes (181 units), carrying ICMPv6 data.
    let mut pl = vec![next_header::ICMPV6, 0, 0x05, 0xa8, 0, 0, 0, 9];
    pl.extend_from_slice(&[1; 1400]);
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::FRAGMENT,
        &pl,
    );
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::PacketTooBig));
    check_icmp_v6(&emit.frames[0].1, 2, 0, P1_MTU as u32, &original);
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        1,
        next_header::FRAGMENT,
        &pl[..200],
    );
    let original = f.clone();
    let (_, emit) = run(&mut fwd, &fib, &mut f);
    check_icmp_v6(&emit.frames[0].1, 3, 0, 0, &original);
}

#[test]
fn neighbour_discovery_is_for_the_kernel_whoever_it_is_for() {
    let (mut fwd, fib) = rig(100, 10);
    // A unicast neighbour solicitation to another host's address, sent to our MAC.
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        255,
        next_header::ICMPV6,
        &[135; 24],
    );
    assert_eq!(run(&mut fwd, &fib, &mut f).0, Verdict::Local);
    // An echo request there is forwarded as usual.
    let mut f = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::ICMPV6,
        &[128; 24],
    );
    assert!(matches!(
        run(&mut fwd, &fib, &mut f).0,
        Verdict::Forward { .. }
    ));
}
