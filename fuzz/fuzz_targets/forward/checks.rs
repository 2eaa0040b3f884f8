//! The checks of the `forward` fuzz target (see its module comment): what a
//! forwarded frame, a set of fragments and an ICMP(v6) error must be.

use super::*;

fn is_neighbor_on(mac: MacAddr, port: PortId) -> bool {
    NEIGHBORS
        .iter()
        .any(|&(_, m, p)| p == port && MacAddr(m) == mac)
}

pub(super) fn check_forward(input: &[u8], output: &[u8], port: PortId, len: usize) {
    assert!(
        len <= input.len(),
        "forwarded {len} bytes of a {}-byte frame",
        input.len()
    );
    assert!(
        (port as usize) < PORTS.len(),
        "forwarded to unknown port {port}"
    );
    assert!(
        len <= frame_limit(port),
        "forwarded {len} bytes on port {port}"
    );
    let frame = &output[..len];
    let eth = EthernetFrame::new_checked(frame).expect("forwarded frame has an Ethernet header");
    assert_eq!(
        eth.src(),
        MacAddr(PORTS[port as usize].mac),
        "source MAC not the egress port's"
    );
    assert!(
        is_neighbor_on(eth.dst(), port),
        "destination MAC {} is no neighbour on port {port}",
        eth.dst()
    );
    // Offsets (in the frame) of the only bytes forwarding may change after
    // the MACs: TTL, checksum and (Record Route, Timestamp) the options.
    let changed: Vec<usize> = match eth.ethertype() {
        ethertype::IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).expect("forwarded IPv4 parses");
            assert_eq!(
                ip.total_len() + ETH_LEN,
                len,
                "forwarded length is not the packet's"
            );
            assert!(
                ip.verify_checksum(),
                "forwarded IPv4 header checksum is wrong"
            );
            assert_eq!(
                ip.ttl(),
                input[ETH_LEN + 8].wrapping_sub(1),
                "TTL not decremented once"
            );
            assert!(ip.ttl() >= 1, "forwarded with TTL 0");
            let options = ETH_LEN + 20..ETH_LEN + ip.header_len();
            [ETH_LEN + 8, ETH_LEN + 10, ETH_LEN + 11]
                .into_iter()
                .chain(options)
                .collect()
        }
        ethertype::IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).expect("forwarded IPv6 parses");
            assert_eq!(
                ip.total_len() + ETH_LEN,
                len,
                "forwarded length is not the packet's"
            );
            assert_eq!(
                ip.hop_limit(),
                input[ETH_LEN + 7].wrapping_sub(1),
                "hop limit not decremented once"
            );
            assert!(ip.hop_limit() >= 1, "forwarded with hop limit 0");
            vec![ETH_LEN + 7]
        }
        other => panic!("forwarded a frame of EtherType {other:#06x}"),
    };
    for i in 12..len {
        if !changed.contains(&i) {
            assert_eq!(frame[i], input[i], "forwarding changed byte {i}");
        }
    }
}

/// `frames` are the fragments of the IPv4 packet in `input`, sent on `port`:
/// all of them when `complete`, else the first ones (the rest found no buffer).
pub(super) fn check_fragments(
    input: &[u8],
    port: PortId,
    frames: &[(PortId, Vec<u8>)],
    complete: bool,
) {
    if complete {
        assert!(
            frames.len() >= 2,
            "fragmented into {} piece(s)",
            frames.len()
        );
    }
    let orig =
        Ipv4Packet::new_checked(&input[ETH_LEN..]).expect("a fragmented packet was valid IPv4");
    assert!(!orig.dont_frag(), "fragmented a DF packet");
    let payload = orig.payload();
    let base = orig.frag_offset() as usize * 8;
    let mut next = 0usize;
    for (i, (p, f)) in frames.iter().enumerate() {
        assert_eq!(*p, port, "fragment {i} on port {p}, verdict says {port}");
        assert!(
            f.len() <= frame_limit(port),
            "fragment {i} is {} bytes",
            f.len()
        );
        let eth = EthernetFrame::new_checked(&f[..]).expect("fragment has an Ethernet header");
        assert_eq!(eth.src(), MacAddr(PORTS[port as usize].mac));
        assert!(is_neighbor_on(eth.dst(), port));
        assert_eq!(eth.ethertype(), ethertype::IPV4);
        let ip = Ipv4Packet::new_checked(eth.payload()).expect("fragment parses as IPv4");
        assert_eq!(
            ip.total_len() + ETH_LEN,
            f.len(),
            "fragment {i} carries trailing bytes"
        );
        assert!(
            ip.verify_checksum(),
            "fragment {i} header checksum is wrong"
        );
        assert_eq!(ip.ttl(), orig.ttl().wrapping_sub(1));
        assert_eq!(
            (ip.ident(), ip.src(), ip.dst(), ip.protocol()),
            (orig.ident(), orig.src(), orig.dst(), orig.protocol())
        );
        assert!(!ip.dont_frag());
        let offset = (ip.frag_offset() as usize * 8)
            .checked_sub(base)
            .expect("fragment offset before the packet's own");
        assert_eq!(offset, next, "fragment {i} leaves a gap or overlaps");
        let data = ip.payload();
        assert!(
            offset + data.len() <= payload.len(),
            "fragment {i} reaches past the payload"
        );
        assert_eq!(
            data,
            &payload[offset..offset + data.len()],
            "fragment {i} data differs"
        );
        if i + 1 < frames.len() || !complete {
            assert!(ip.more_frags(), "fragment {i} lacks MF");
            assert_eq!(
                data.len() % 8,
                0,
                "fragment {i} is not a multiple of 8 bytes"
            );
        } else {
            assert_eq!(
                ip.more_frags(),
                orig.more_frags(),
                "last fragment's MF differs from the packet's"
            );
        }
        if i == 0 {
            assert_eq!(ip.options(), orig.options(), "first fragment lost options");
        } else {
            // Later fragments carry only the options with the copied flag.
            assert!(ip.options().len() <= orig.options().len());
        }
        next += data.len();
    }
    if complete {
        assert_eq!(
            next,
            payload.len(),
            "fragments cover {next} of {} payload bytes",
            payload.len()
        );
    } else {
        assert!(
            next < payload.len(),
            "all fragments sent, yet dropped for want of a buffer"
        );
    }
}

/// An ICMP(v6) error the forwarder sent about `input` (received on `ingress`).
pub(super) fn check_icmp_error(
    input: &[u8],
    ingress: PortId,
    reason: DropReason,
    frames: &[(PortId, Vec<u8>)],
) {
    assert!(
        frames.len() <= 1,
        "{} frames emitted for one drop",
        frames.len()
    );
    let Some((port, f)) = frames.first() else {
        return;
    };
    assert!(
        matches!(
            reason,
            DropReason::TtlExpired
                | DropReason::NoRoute
                | DropReason::MtuDf
                | DropReason::PacketTooBig
                | DropReason::LinkLocal
                | DropReason::AclInReject
                | DropReason::AclOutReject
                | DropReason::BadOptions
        ),
        "a frame was emitted for drop reason {}",
        reason.name()
    );
    assert_eq!(
        *port, ingress,
        "ICMP error not sent back out of the ingress port"
    );
    let spec = &PORTS[ingress as usize];
    let eth = EthernetFrame::new_checked(&f[..]).expect("ICMP error has an Ethernet header");
    let received =
        EthernetFrame::new_checked(input).expect("the dropped frame had an Ethernet header");
    assert_eq!(eth.src(), MacAddr(spec.mac));
    assert_eq!(
        eth.dst(),
        received.src(),
        "ICMP error not sent to the frame's sender"
    );
    assert_eq!(
        eth.ethertype(),
        received.ethertype(),
        "ICMP error of another IP version"
    );
    match eth.ethertype() {
        ethertype::IPV4 => {
            let orig =
                Ipv4Packet::new_checked(received.payload()).expect("offending packet was IPv4");
            let ip = Ipv4Packet::new_checked(eth.payload()).expect("ICMP error parses as IPv4");
            assert_eq!(ip.total_len() + ETH_LEN, f.len());
            assert!(
                ip.total_len() <= 576,
                "ICMP error of {} bytes (RFC 1812: ≤ 576)",
                ip.total_len()
            );
            assert!(ip.verify_checksum(), "ICMP error's IPv4 checksum is wrong");
            assert_eq!(ip.protocol(), 1);
            assert_eq!(ip.src(), spec.v4.0);
            assert_eq!(ip.dst(), orig.src());
            let msg = ip.payload();
            assert!(checksum::verify(msg), "ICMP checksum is wrong");
            assert!(matches!(
                msg[0],
                icmp::v4::DEST_UNREACHABLE | icmp::v4::TIME_EXCEEDED | icmp::v4::PARAMETER_PROBLEM
            ));
            let quote = &msg[icmp::ERROR_HEADER_LEN..];
            assert!(quote.len() >= orig.header_len().min(orig.total_len()));
            assert_eq!(
                quote,
                &orig.packet()[..quote.len()],
                "ICMP error misquotes the packet"
            );
        }
        ethertype::IPV6 => {
            let orig =
                Ipv6Packet::new_checked(received.payload()).expect("offending packet was IPv6");
            let ip = Ipv6Packet::new_checked(eth.payload()).expect("ICMPv6 error parses as IPv6");
            assert_eq!(ip.total_len() + ETH_LEN, f.len());
            assert!(
                ip.total_len() <= 1280,
                "ICMPv6 error of {} bytes (RFC 4443: ≤ 1280)",
                ip.total_len()
            );
            assert_eq!(ip.next_header(), 58);
            assert_eq!(Some(ip.src()), spec.v6.map(|(a, _)| a));
            assert_eq!(ip.dst(), orig.src());
            let msg = ip.payload();
            let pseudo =
                checksum::pseudo_header_v6(ip.src_bytes(), ip.dst_bytes(), 58, msg.len() as u32);
            assert_eq!(
                checksum::fold(checksum::accumulate(pseudo, msg)),
                0xffff,
                "ICMPv6 checksum is wrong"
            );
            assert!(matches!(
                msg[0],
                icmp::v6::DEST_UNREACHABLE | icmp::v6::PACKET_TOO_BIG | icmp::v6::TIME_EXCEEDED
            ));
            let quote = &msg[icmp::ERROR_HEADER_LEN..];
            assert_eq!(
                quote,
                &orig.packet()[..quote.len()],
                "ICMPv6 error misquotes the packet"
            );
        }
        other => panic!("ICMP error about a frame of EtherType {other:#06x}"),
    }
}
