//! Fuzz target `wire`: the zero-copy views and walkers over arbitrary bytes.
//!
//! The input is read as an Ethernet frame and, separately, as a bare IPv4 /
//! IPv6 packet (seeds from `examples/pcap_frames.rs` are real frames). For
//! any input it checks:
//! * `EthernetFrame`, `Ipv4Packet`, `Ipv6Packet::new_checked` never panic,
//!   and once a view is accepted every accessor works without panicking and
//!   agrees with the checks (lengths within the buffer, header ≤ total, …);
//! * the IPv4 option iterator never panics, yields options that tile the
//!   option bytes in order, and yields at most one `Err`, as its last item;
//! * `walk_extension_headers` never panics, on any first header and payload,
//!   and reports an upper-layer offset inside the payload;
//! * the in-place updates keep what they promise: `decrement_ttl` and
//!   `set_ecn` keep a valid IPv4 checksum valid, `fill_checksum` makes it
//!   valid, IPv6 `set_ecn` changes only the ECN bits;
//! * `Ipv4Repr::emit` and `ipv6::emit_header` with fields taken from the
//!   input produce headers that parse back to the same fields;
//! * `MacAddr::from_str` on the input as text never panics and round-trips.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroute::wire::ipv4::{self, Ipv4Repr};
use ferroute::wire::ipv6::{self, is_extension_header, walk_extension_headers};
use ferroute::wire::{EthernetFrame, Ipv4Packet, Ipv6Packet, MacAddr, WireError};
use libfuzzer_sys::fuzz_target;

fn check_ethernet(data: &[u8]) {
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        assert!(data.len() < 14, "a {}-byte frame was refused", data.len());
        return;
    };
    let _ = (eth.dst(), eth.src(), eth.dst().is_multicast());
    let _ = eth.ethertype();
    assert_eq!(eth.payload().len(), data.len() - 14);
    check_ipv4(eth.payload());
    check_ipv6(eth.payload());
}

fn check_options(options: &[u8]) {
    let mut consumed = 0usize;
    let mut iter = ipv4::options(options);
    while let Some(item) = iter.next() {
        match item {
            Ok(opt) => {
                assert!(!opt.bytes.is_empty());
                assert_eq!(
                    opt.bytes,
                    &options[consumed..consumed + opt.bytes.len()],
                    "options do not tile the option bytes"
                );
                let _ = opt.copied();
                consumed += opt.bytes.len();
            }
            Err(e) => {
                assert_eq!(e, WireError::BadOption);
                assert!(
                    iter.next().is_none(),
                    "the option walk went on after an error"
                );
                return;
            }
        }
    }
    assert!(consumed <= options.len());
}

fn check_ipv4(data: &[u8]) {
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return;
    };
    assert_eq!(ip.version(), 4);
    let (header_len, total_len) = (ip.header_len(), ip.total_len());
    assert!(20 <= header_len && header_len <= total_len && total_len <= data.len());
    let _ = (ip.dscp(), ip.ecn(), ip.ident(), ip.ttl(), ip.protocol());
    let _ = (
        ip.dont_frag(),
        ip.more_frags(),
        ip.frag_offset(),
        ip.is_non_first_fragment(),
    );
    let _ = (ip.checksum(), ip.src(), ip.dst());
    let valid = ip.verify_checksum();
    assert_eq!(ip.header().len(), header_len);
    assert_eq!(ip.options().len(), header_len - 20);
    assert_eq!(ip.packet().len(), total_len);
    assert_eq!(ip.payload().len(), total_len - header_len);
    check_options(ip.options());

    let mut copy = data.to_vec();
    let mut m = Ipv4Packet::new_unchecked(&mut copy[..]);
    let ttl = m.ttl();
    m.decrement_ttl();
    assert_eq!(m.ttl(), ttl.wrapping_sub(1));
    let ecn = ttl & 3;
    m.set_ecn(ecn);
    assert_eq!(m.ecn(), ecn);
    assert_eq!(
        m.verify_checksum(),
        valid,
        "an incremental update broke (or fixed) the checksum"
    );
    m.fill_checksum();
    assert!(m.verify_checksum());
}

fn check_ipv6(data: &[u8]) {
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    assert_eq!(ip.version(), 6);
    assert!(ip.total_len() <= data.len());
    assert!(ip.flow_label() < 1 << 20);
    let _ = (
        ip.traffic_class(),
        ip.ecn(),
        ip.hop_limit(),
        ip.src(),
        ip.dst(),
    );
    assert_eq!(ip.packet().len(), ip.total_len());
    assert_eq!(ip.payload().len(), ip.payload_len());
    let next = ip.next_header();
    if let Ok(walk) = walk_extension_headers(next, ip.payload()) {
        assert!(walk.upper_offset <= ip.payload().len());
        if !is_extension_header(next) {
            assert_eq!((walk.upper_protocol, walk.upper_offset), (next, 0));
        }
    }

    let mut copy = data.to_vec();
    let mut m = Ipv6Packet::new_unchecked(&mut copy[..]);
    let (tc, hop) = (m.traffic_class(), m.hop_limit());
    m.set_ecn(!tc & 3);
    m.decrement_hop_limit();
    assert_eq!(
        m.traffic_class(),
        (tc & !3) | (!tc & 3),
        "set_ecn touched the DSCP"
    );
    assert_eq!(m.flow_label(), ip.flow_label());
    assert_eq!(m.hop_limit(), hop.wrapping_sub(1));
}

/// Emits headers with fields from the input and parses them back.
fn check_emitters(data: &[u8]) {
    if let Some(b) = data.get(..16) {
        let payload_len = u16::from_be_bytes([b[14], b[15]]) as usize % 1500;
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            dst: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            protocol: b[8],
            ttl: b[9],
            dscp_ecn: b[10],
            ident: u16::from_be_bytes([b[11], b[12]]),
            payload_len,
        };
        let mut buf = vec![0u8; 20 + payload_len];
        repr.emit(&mut buf);
        let ip = Ipv4Packet::new_checked(&buf[..]).expect("an emitted IPv4 header parses");
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src(), ip.dst(), ip.protocol(), ip.ttl()),
            (repr.src, repr.dst, repr.protocol, repr.ttl)
        );
        assert_eq!(
            (ip.dscp() << 2 | ip.ecn(), ip.ident()),
            (repr.dscp_ecn, repr.ident)
        );
        assert_eq!(ip.payload().len(), payload_len);
    }
    if let Some(b) = data.get(..36) {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&b[..16]);
        dst.copy_from_slice(&b[16..32]);
        let payload_len = u16::from_be_bytes([b[34], b[35]]) % 1500;
        let mut buf = vec![0u8; 40 + payload_len as usize];
        ipv6::emit_header(&mut buf, src, dst, b[32], b[33], payload_len);
        match Ipv6Packet::new_checked(&buf[..]) {
            Ok(ip) => {
                assert_eq!(
                    (ip.src(), ip.dst()),
                    (Ipv6Addr::from(src), Ipv6Addr::from(dst))
                );
                assert_eq!(
                    (ip.next_header(), ip.hop_limit(), ip.payload_len()),
                    (b[32], b[33], payload_len as usize)
                );
            }
            // The one refusal the checked constructor documents: a jumbogram marker.
            Err(e) => assert!(e == WireError::BadTotalLength && payload_len == 0 && b[32] == 0),
        }
    }
}

fn check_mac_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mac) = text.parse::<MacAddr>() {
        assert_eq!(
            mac.to_string().parse::<MacAddr>(),
            Ok(mac),
            "MAC text does not round-trip"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check_ethernet(data);
    check_ipv4(data);
    check_ipv6(data);
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(walk) = walk_extension_headers(first, rest) {
            assert!(walk.upper_offset <= rest.len());
        }
    }
    check_options(data);
    check_emitters(data);
    check_mac_text(data);
});
