//! IPv4 forwarding, validation and ICMP errors.

use std::net::Ipv4Addr;

use super::*;
use crate::wire::ethernet::{emit_header, ethertype};
use crate::wire::icmp;
use crate::wire::ipv4::protocol;
use crate::wire::{checksum, Ipv4Packet};

#[test]
fn ipv4_forward_rewrites_ttl_checksum_and_macs() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 30, false);
    let original = f.clone();
    f.extend_from_slice(&[0xee; 6]); // Ethernet padding is trimmed
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(
        v,
        Verdict::Forward {
            port: 1,
            start: 0,
            len: original.len()
        }
    );
    assert!(emit.frames.is_empty());
    let out = &f[..original.len()];
    let eth = EthernetFrame::new_checked(out).unwrap();
    assert_eq!((eth.dst(), eth.src()), (GW_MAC, P1_MAC));
    let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    // Every byte but the MACs, the TTL and the checksum is unchanged.
    for i in (12..original.len()).filter(|i| ![14 + 8, 14 + 10, 14 + 11].contains(i)) {
        assert_eq!(out[i], original[i], "byte {i}");
    }
    assert_eq!(fwd.counters.forwarded, 1);
}

#[test]
fn ipv4_options_are_forwarded_intact() {
    let (mut fwd, fib) = rig(100, 10);
    // Header with 8 bytes of options: NOP, NOP, and a 6-byte unknown option.
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 16, false);
    let opts = [1u8, 1, 0x88, 6, 1, 2, 3, 4];
    f.splice(34..34, opts);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_header_len(28);
    ip.set_total_len(28 + 16);
    ip.fill_checksum();
    let (v, _) = run(&mut fwd, &fib, &mut f);
    assert_eq!(
        v,
        Verdict::Forward {
            port: 1,
            start: 0,
            len: 14 + 44
        }
    );
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.options(), &opts);
    assert!(ip.verify_checksum());
    assert_eq!(ip.ttl(), 63);
}

pub(crate) fn check_icmp_v4(frame: &[u8], icmp_type: u8, code: u8, rest: u32, offending: &[u8]) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!((eth.dst(), eth.src()), (HOST_MAC, P0_MAC));
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src(), Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(ip.dst(), Ipv4Packet::new_unchecked(&offending[14..]).src());
    assert_eq!(ip.protocol(), protocol::ICMP);
    assert!(ip.total_len() <= 576);
    let msg = ip.payload();
    assert!(checksum::verify(msg));
    assert_eq!((msg[0], msg[1]), (icmp_type, code));
    assert_eq!(u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]), rest);
    let quote = &msg[8..];
    let off_len = Ipv4Packet::new_unchecked(&offending[14..]).total_len();
    assert_eq!(quote.len(), off_len.min(576 - 28));
    assert_eq!(quote, &offending[14..14 + quote.len()]);
}

#[test]
fn ttl_one_gets_time_exceeded() {
    let (mut fwd, fib) = rig(100, 10);
    for ttl in [0, 1] {
        let mut f = v4_frame("192.0.2.10", "198.51.100.7", ttl, 30, false);
        let original = f.clone();
        let (v, emit) = run(&mut fwd, &fib, &mut f);
        assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
        assert_eq!(emit.frames.len(), 1);
        assert_eq!(emit.frames[0].0, 0, "sent back out of the ingress port");
        check_icmp_v4(&emit.frames[0].1, 11, 0, 0, &original);
        assert_eq!(f, original, "a dropped frame is left as received");
    }
    assert_eq!(fwd.counters.dropped(DropReason::TtlExpired), 2);
    assert_eq!(fwd.counters.icmp_sent, 2);
}

#[test]
fn ttl_one_to_the_router_itself_is_local() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "203.0.113.1", 1, 30, false);
    assert_eq!(run(&mut fwd, &fib, &mut f).0, Verdict::Local);
}

#[test]
fn no_route_gets_net_unreachable_with_long_quote_capped() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "8.8.8.8", 64, 1000, false);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::NoRoute));
    check_icmp_v4(&emit.frames[0].1, 3, 0, 0, &original);
    assert_eq!(emit.frames[0].1.len(), 14 + 576);
}

#[test]
fn oversize_with_df_gets_frag_needed_with_mtu() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 1450, true);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::MtuDf));
    check_icmp_v4(&emit.frames[0].1, 3, 4, P1_MTU as u32, &original);
}

#[test]
fn unresolved_next_hops_are_counted() {
    let (mut fwd, fib) = rig(100, 10);
    for dst in ["10.1.2.3", "203.0.113.77"] {
        let mut f = v4_frame("192.0.2.10", dst, 64, 10, false);
        let (v, emit) = run(&mut fwd, &fib, &mut f);
        assert_eq!(v, Verdict::Drop(DropReason::NeighborUnresolved), "{dst}");
        assert!(emit.frames.is_empty());
    }
    // Both are left for the control thread to resolve: the gateway of the
    // static route, and the on-link host itself.
    let mut wanted = vec![];
    fwd.glean
        .drain(|port, addr| wanted.push((port, addr.to_string())));
    assert_eq!(
        wanted,
        vec![
            (1, "203.0.113.99".to_string()),
            (1, "203.0.113.77".to_string())
        ]
    );
}

#[test]
fn validation_failures_have_their_own_reasons() {
    let (mut fwd, fib) = rig(100, 10);
    let base = v4_frame("192.0.2.10", "198.51.100.7", 64, 20, false);
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(Mutation, DropReason)> = vec![
        (Box::new(|f| f.truncate(13)), DropReason::Truncated),
        (Box::new(|f| f.truncate(14 + 19)), DropReason::Truncated),
        (Box::new(|f| f[14] = 0x65), DropReason::BadVersion),
        (Box::new(|f| f[14] = 0x44), DropReason::BadHeaderLength),
        (
            Box::new(|f| f[16..18].copy_from_slice(&10u16.to_be_bytes())),
            DropReason::BadTotalLength,
        ),
        (Box::new(|f| f.truncate(14 + 30)), DropReason::Truncated),
        (Box::new(|f| f[14 + 10] ^= 0xff), DropReason::BadChecksum),
        (Box::new(|f| f[0] = 0x04), DropReason::NotOurMac),
        (
            Box::new(|f| f[12..14].copy_from_slice(&[0x81, 0])),
            DropReason::VlanUnknown,
        ),
        (
            Box::new(|f| f[12..14].copy_from_slice(&[0x88, 0x47])),
            DropReason::UnsupportedEthertype,
        ),
        (
            Box::new(|f| f[12..14].copy_from_slice(&[0x86, 0xdd])),
            DropReason::BadVersion,
        ),
    ];
    for (i, (mutate, reason)) in cases.iter().enumerate() {
        let mut f = base.clone();
        mutate(&mut f);
        let (v, emit) = run(&mut fwd, &fib, &mut f);
        assert_eq!(v, Verdict::Drop(*reason), "case {i}");
        assert!(
            emit.frames.is_empty(),
            "case {i}: no ICMP for invalid packets"
        );
    }
    assert_eq!(fwd.counters.total_dropped(), cases.len() as u64);
}

fn with_addrs(src: &str, dst: &str) -> Vec<u8> {
    v4_frame(src, dst, 64, 8, false)
}

#[test]
fn martians_and_multicast_are_not_forwarded() {
    let (mut fwd, fib) = rig(100, 10);
    let cases = [
        ("0.1.2.3", "198.51.100.7", DropReason::MartianSource),
        ("127.0.0.1", "198.51.100.7", DropReason::MartianSource),
        ("224.0.0.5", "198.51.100.7", DropReason::MartianSource),
        ("255.255.255.255", "198.51.100.7", DropReason::MartianSource),
        ("192.0.2.10", "127.0.0.1", DropReason::MartianDestination),
        ("192.0.2.10", "0.0.0.1", DropReason::MartianDestination),
        (
            "192.0.2.10",
            "255.255.255.255",
            DropReason::MartianDestination,
        ),
        ("192.0.2.10", "240.0.0.1", DropReason::MartianDestination),
        ("192.0.2.10", "239.1.1.1", DropReason::MulticastDestination),
    ];
    for (src, dst, reason) in cases {
        let mut f = with_addrs(src, dst);
        let (v, emit) = run(&mut fwd, &fib, &mut f);
        assert_eq!(v, Verdict::Drop(reason), "{src} -> {dst}");
        assert!(emit.frames.is_empty());
    }
}

#[test]
fn group_frames_go_to_the_host_or_are_dropped() {
    let (mut fwd, fib) = rig(100, 10);
    let group = |dst: &str| {
        let mut f = with_addrs("192.0.2.10", dst);
        f[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0, 0, 5]);
        f
    };
    assert_eq!(
        run(&mut fwd, &fib, &mut group("224.0.0.5")).0,
        Verdict::Local
    );
    let mut bcast = with_addrs("192.0.2.10", "192.0.2.255");
    bcast[..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(run(&mut fwd, &fib, &mut bcast).0, Verdict::Local);
    assert_eq!(
        run(&mut fwd, &fib, &mut group("198.51.100.7")).0,
        Verdict::Drop(DropReason::L2Multicast)
    );
    let mut arp = vec![0u8; 42];
    emit_header(&mut arp, MacAddr::BROADCAST, HOST_MAC, ethertype::ARP);
    assert_eq!(run(&mut fwd, &fib, &mut arp).0, Verdict::Local);
    assert_eq!(fwd.counters.local, 3);
}

#[test]
fn no_icmp_about_icmp_errors_or_non_first_fragments() {
    let (mut fwd, fib) = rig(100, 10);
    // An ICMP time-exceeded message with TTL 1.
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 1, 36, false);
    f[14 + 9] = protocol::ICMP;
    f[34] = icmp::v4::TIME_EXCEEDED;
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert!(emit.frames.is_empty());
    // An echo request with TTL 1 does get one.
    f[34] = icmp::v4::ECHO_REQUEST;
    let (_, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(emit.frames.len(), 1);
    // A non-first fragment.
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 1, 36, false);
    Ipv4Packet::new_unchecked(&mut f[14..]).set_fragment(false, 10);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    let (_, emit) = run(&mut fwd, &fib, &mut f);
    assert!(emit.frames.is_empty());
    assert_eq!(fwd.counters.icmp_suppressed, 2);
    assert_eq!(fwd.counters.icmp_sent, 1);
}

#[test]
fn icmp_errors_are_rate_limited() {
    let (mut fwd, fib) = rig(10, 3);
    let mut sent = 0;
    for i in 0..10u64 {
        let mut f = v4_frame("192.0.2.10", "8.8.8.8", 64, 8, false);
        let mut emit = VecEmit::default();
        fwd.process(&fib, 0, &mut f, 1_000_000_000 + i, &mut emit);
        sent += emit.frames.len();
    }
    assert_eq!(sent, 3, "burst of 3 within the same 10 ns");
    assert_eq!(fwd.counters.icmp_rate_limited, 7);
    // 100 ms later one more token is there.
    let mut f = v4_frame("192.0.2.10", "8.8.8.8", 64, 8, false);
    let mut emit = VecEmit::default();
    fwd.process(&fib, 0, &mut f, 1_100_000_020, &mut emit);
    assert_eq!(emit.frames.len(), 1);
    // The drops are still counted as no_route.
    assert_eq!(fwd.counters.dropped(DropReason::NoRoute), 11);
}

#[test]
fn source_routed_packets_are_dropped_unless_accepted() {
    let lsrr = [0x83u8, 7, 4, 198, 51, 100, 9, 1];
    let build = |opts: &[u8]| {
        let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 16, false);
        f.splice(34..34, opts.iter().copied());
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_header_len(20 + opts.len());
        ip.set_total_len((20 + opts.len() + 16) as u16);
        ip.fill_checksum();
        f
    };
    let (mut fwd, fib) = rig(100, 10);
    let (v, emit) = run(&mut fwd, &fib, &mut build(&lsrr));
    assert_eq!(v, Verdict::Drop(DropReason::SourceRoute));
    assert!(
        emit.frames.is_empty(),
        "dropped silently, as RFC 7126 suggests"
    );
    let ssrr = [0x89u8, 7, 4, 198, 51, 100, 9, 1];
    assert_eq!(
        run(&mut fwd, &fib, &mut build(&ssrr)).0,
        Verdict::Drop(DropReason::SourceRoute)
    );
    // Record route is forwarded untouched.
    let rr = [0x07u8, 7, 4, 0, 0, 0, 0, 1];
    assert!(matches!(
        run(&mut fwd, &fib, &mut build(&rr)).0,
        Verdict::Forward { .. }
    ));
    // With the knob on, source-routed packets are forwarded like any other.
    let mut open = Forwarder::new(ForwarderConfig {
        ports: fwd.ports().to_vec(),
        icmp_rate: 100,
        icmp_burst: 10,
        accept_source_route: true,
        acls: Default::default(),
    });
    assert!(matches!(
        run(&mut open, &fib, &mut build(&lsrr)).0,
        Verdict::Forward { .. }
    ));
}

#[test]
fn icmp_errors_fit_a_small_ingress_mtu() {
    let (fwd, fib) = rig(100, 10);
    let mut ports = fwd.ports().to_vec();
    ports[0].mtu = 100;
    let mut fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 100,
        icmp_burst: 10,
        accept_source_route: false,
        acls: Default::default(),
    });
    let mut f = v4_frame("192.0.2.10", "8.8.8.8", 64, 80, false);
    let (_, emit) = run(&mut fwd, &fib, &mut f);
    let ip = Ipv4Packet::new_checked(&emit.frames[0].1[14..]).unwrap();
    assert_eq!(
        ip.total_len(),
        100,
        "the error is cut to the ingress link's MTU"
    );
    assert!(checksum::verify(ip.payload()));
}
