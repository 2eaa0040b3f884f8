use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{NetHeaders, PacketHeaders, PayloadSlice, TransportHeader};
use proptest::prelude::*;

use super::*;

const DST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const SRC_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);

fn v4(size: usize, flows: u32) -> UdpTraffic {
    UdpTraffic {
        dst_mac: DST_MAC,
        src_mac: SRC_MAC,
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        dst: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
        frame_size: size,
        flows,
        base_port: 1024,
        dst_port: 9,
    }
}

fn v6(size: usize, flows: u32) -> UdpTraffic {
    UdpTraffic {
        src: IpAddr::V6("2001:db8::10".parse::<Ipv6Addr>().unwrap()),
        dst: IpAddr::V6("2001:db8:1::2".parse::<Ipv6Addr>().unwrap()),
        ..v4(size, flows)
    }
}

/// Parses `frame` with etherparse (an independent implementation) and
/// checks addresses, ports, lengths and both checksums; returns the source port.
fn check_frame(traffic: &UdpTraffic, frame: &[u8]) -> u16 {
    assert_eq!(frame.len(), traffic.frame_size - FCS_LEN);
    let headers = PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the frame");
    let Some(etherparse::LinkHeader::Ethernet2(eth)) = &headers.link else {
        panic!("no Ethernet header");
    };
    assert_eq!(eth.destination, traffic.dst_mac.0);
    assert_eq!(eth.source, traffic.src_mac.0);
    let Some(TransportHeader::Udp(udp)) = &headers.transport else {
        panic!("no UDP header: {:?}", headers.transport);
    };
    let PayloadSlice::Udp(payload) = headers.payload else {
        panic!("no UDP payload");
    };
    let udp_payload_len = traffic.frame_len() - traffic.udp_offset() - 8;
    assert_eq!(payload.len(), udp_payload_len);
    assert_eq!(udp.length as usize, udp_payload_len + 8);
    assert_eq!(udp.destination_port, traffic.dst_port);
    assert_ne!(udp.checksum, 0, "the UDP checksum is always sent");
    let expected = match &headers.net {
        Some(NetHeaders::Ipv4(ip, _)) => {
            assert_eq!(IpAddr::V4(ip.source.into()), traffic.src);
            assert_eq!(IpAddr::V4(ip.destination.into()), traffic.dst);
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 header checksum"
            );
            assert_eq!(ip.total_len as usize, frame.len() - 14);
            udp.calc_checksum_ipv4(ip, payload).expect("checksum")
        }
        Some(NetHeaders::Ipv6(ip, _)) => {
            assert_eq!(IpAddr::V6(ip.source.into()), traffic.src);
            assert_eq!(IpAddr::V6(ip.destination.into()), traffic.dst);
            assert_eq!(ip.payload_length as usize, frame.len() - 54);
            udp.calc_checksum_ipv6(ip, payload).expect("checksum")
        }
        other => panic!("no IP header: {other:?}"),
    };
    assert_eq!(udp.checksum, expected, "UDP checksum");
    udp.source_port
}

#[test]
fn frames_of_both_families_and_sizes_are_valid() {
    for traffic in [v4(64, 1), v4(1500, 1), v4(1518, 1), v6(66, 1), v6(1500, 1)] {
        traffic.validate().expect("valid description");
        let frame = traffic.frame(0);
        assert_eq!(check_frame(&traffic, &frame), 1024, "{traffic:?}");
    }
}

#[test]
fn flows_differ_only_in_the_source_port() {
    let traffic = v4(64, 4);
    let frames: Vec<Vec<u8>> = (0..6).map(|f| traffic.frame(f)).collect();
    let ports: Vec<u16> = frames.iter().map(|f| check_frame(&traffic, f)).collect();
    assert_eq!(ports, [1024, 1025, 1026, 1027, 1024, 1025]);
    assert_eq!(frames[0], frames[4]);
    let differing: Vec<usize> = (0..frames[0].len())
        .filter(|&i| frames[0][i] != frames[1][i])
        .collect();
    let udp = traffic.udp_offset();
    assert!(
        differing
            .iter()
            .all(|&i| (udp..udp + 2).contains(&i) || (udp + 6..udp + 8).contains(&i)),
        "bytes outside the port and checksum differ: {differing:?}"
    );
}

#[test]
fn descriptions_out_of_range_are_refused() {
    assert!(matches!(
        v4(63, 1).validate(),
        Err(TrafficError::Size { min: 64, .. })
    ));
    assert!(matches!(
        v4(1519, 1).validate(),
        Err(TrafficError::Size { .. })
    ));
    // IPv6 UDP needs 14 + 40 + 8 + 4 = 66 bytes.
    assert!(matches!(
        v6(64, 1).validate(),
        Err(TrafficError::Size { min: 66, .. })
    ));
    assert!(matches!(
        v4(64, 0).validate(),
        Err(TrafficError::Flows { .. })
    ));
    let mut t = v4(64, 64512);
    assert_eq!(t.validate(), Ok(()));
    t.flows += 1;
    assert!(matches!(t.validate(), Err(TrafficError::Flows { .. })));
    let mixed = UdpTraffic {
        dst: v6(66, 1).dst,
        ..v4(64, 1)
    };
    assert!(matches!(
        mixed.validate(),
        Err(TrafficError::MixedFamilies { .. })
    ));
    // A refused description builds nothing rather than panicking.
    assert!(mixed.frame(0).is_empty());
}

#[test]
fn port_rewrite_on_a_short_frame_is_refused() {
    let mut short = [0u8; 40];
    assert!(!set_source_port(&mut short, 34, 7));
    assert_eq!(short, [0u8; 40]);
}

proptest! {
    /// The generator program's in-place rewrite (mirrored by
    /// `set_source_port`) gives the same bytes as building the flow's frame
    /// from scratch, from any starting flow, for any size and payload
    /// port numbers: so every frame the program sends has valid checksums.
    #[test]
    fn incremental_port_rewrite_matches_a_full_build(
        ipv6 in any::<bool>(),
        size in 66usize..=1518,
        flows in 1u32..5000,
        dst_port in any::<u16>(),
        steps in proptest::collection::vec(any::<u32>(), 1..20),
    ) {
        let mut traffic = if ipv6 { v6(size, flows) } else { v4(size, flows) };
        traffic.dst_port = dst_port;
        prop_assert!(traffic.validate().is_ok());
        let mut frame = traffic.frame(0);
        for step in steps {
            let port = traffic.source_port(step);
            prop_assert!(set_source_port(&mut frame, traffic.udp_offset(), port));
            prop_assert_eq!(&frame, &traffic.frame(step));
        }
        prop_assert_eq!(check_frame(&traffic, &frame) >= 1024, true);
    }
}
