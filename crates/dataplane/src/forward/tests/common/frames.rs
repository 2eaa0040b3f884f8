//! The common-case tests' frames: every kind the pre-pass and the common
//! case must tell apart, built and mangled.

use super::*;

/// The batch tests' frames, plus plain frames to 198.51.100.7 and .9, 100.66.0.x
/// (a VLAN's route in [`Setup::Vlans`]) and 100.64.x.x (ECMP in
/// [`Setup::Ecmp`]) with random IP options, DSCP and ECN bits, protocols,
/// fragment fields, payloads shorter than ports and Ethernet padding,
/// and IPv6 frames ([`v6_frame_from`]), as built and mangled, some to
/// another MAC.
pub(super) fn frame(kind: u8, pick: usize, ttl: u8, len: usize, noise: &[u8]) -> Vec<u8> {
    let mut f = frame_of_kind(kind, pick, ttl, len, noise);
    // Now and then to another MAC (the common case's one test that the
    // pre-pass does not make).
    if pick % 11 == 4 && f.len() > 5 {
        f[5] ^= 1;
    }
    f
}

/// [`frame`] before its MAC is changed.
fn frame_of_kind(kind: u8, pick: usize, ttl: u8, len: usize, noise: &[u8]) -> Vec<u8> {
    match kind % 8 {
        4 | 5 => {
            // 198.51.100.9 is routed and permitted by every list (its
            // route is kept by the flow cache where the acl-in has rules).
            let dst = match (kind % 8, pick % 2) {
                (4, 0) => "198.51.100.7",
                (4, _) => "198.51.100.9",
                (_, 0) => "100.66.0.9",
                _ => "100.64.1.1",
            };
            let mut f = V4Frame {
                src: "192.0.2.10".parse().unwrap(),
                ttl,
                dscp_ecn: pick as u8,
                dont_fragment: pick.is_multiple_of(3),
                option_words: usize::from(pick % 5 == 2),
                // Protocols with ports and without, fragments (the
                // queues' flow fields differ for each).
                protocol: [17, 6, 1, 47, 132, 33, 136, 17][pick >> 8 & 7],
                more_fragments: pick >> 11 & 3 == 1,
                fragment_offset: if pick >> 11 & 3 == 2 { 185 } else { 0 },
                // Now and then too short for ports (then padded below).
                payload: counting(if pick % 13 == 6 { len % 4 } else { len }),
                ..V4Frame::udp(dst.parse().unwrap())
            }
            .build();
            if pick % 5 == 2 && pick % 3 == 1 {
                // An option word whose 16-bit halves cancel in the sum
                // (0x0101 + 0xfefe): the first 20 bytes alone still pass
                // the checksum, so only the IHL test keeps the frame off
                // the common case (the pipeline finds the option malformed).
                f[34..38].copy_from_slice(&[1, 1, 0xfe, 0xfe]);
                crate::wire::Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
            }
            if pick % 7 == 1 {
                // Ethernet padding after the IP packet.
                f.extend_from_slice(&[0; 9]);
            } else if pick % 13 == 6 {
                // Padding where the ports would be: not the flow's.
                f.extend_from_slice(&[0xa5; 6]);
            }
            f
        }
        6 => v6_frame_from(pick, ttl, len),
        7 => {
            // Bytes of the header and payload flipped: wrong versions,
            // lengths, next headers, addresses the hint was not made for.
            let mut f = v6_frame_from(pick, ttl, len);
            for (b, n) in f[14..].iter_mut().zip(noise) {
                *b ^= n;
            }
            f
        }
        k => frame_from(k, pick, ttl, len, noise),
    }
}

/// IPv6 destinations: routed, ECMP ([`Setup::Ecmp`]), through a VLAN
/// ([`Setup::Vlans`]), unresolved on p1, ours, link-local, multicast,
/// loopback, unspecified, and two that start as those do but are
/// forwarded (NAT64's prefix, site-local; routed by [`Setup::Default`]).
pub(super) const V6_DESTINATIONS: [&str; 11] = [
    "2001:db8:2::7",
    "2001:db8:e::5",
    "2001:db8:66::9",
    "2001:db8:1::9",
    "2001:db8::1",
    "fe80::1",
    "ff02::1",
    "::1",
    "::",
    "64:ff9b::c633:6407",
    "fec0::1",
];
/// IPv6 sources: the host, another routable one, link-local, multicast,
/// loopback, unspecified, and forwarded ones starting as those do.
pub(super) const V6_SOURCES: [&str; 8] = [
    "2001:db8::10",
    "2001:db8:5::1",
    "fe80::9",
    "ff02::2",
    "::1",
    "::",
    "::ffff:192.0.2.10",
    "fec0::9",
];

/// An IPv6 frame, `pick` choosing its addresses ([`V6_DESTINATIONS`],
/// [`V6_SOURCES`], mostly the first of each), next header (UDP, TCP,
/// ICMPv6 echo or neighbour solicitation, no next header, a Hop-by-Hop
/// header, a fragment header), flow label, traffic class and Ethernet
/// padding; `len` payload bytes.
pub(super) fn v6_frame_from(pick: usize, hop_limit: u8, len: usize) -> Vec<u8> {
    let (dst, rest) = match pick % 16 {
        d if d < V6_DESTINATIONS.len() => (V6_DESTINATIONS[d], pick / 16),
        _ => (V6_DESTINATIONS[(pick / 16) % 2], pick / 32),
    };
    let src = match rest % 12 {
        s if s < V6_SOURCES.len() => V6_SOURCES[s],
        _ => V6_SOURCES[0],
    };
    let rest = rest / 12;
    let mut payload = counting(len);
    let mut fragment = None;
    let next = match rest % 7 {
        0 => next_header::UDP,
        1 => next_header::TCP,
        k @ (2 | 3) => {
            // Echo request or neighbour solicitation (ND: the host's).
            if let Some(t) = payload.first_mut() {
                *t = if k == 2 { 128 } else { 135 };
            }
            next_header::ICMPV6
        }
        4 => next_header::NO_NEXT,
        5 => {
            // A Hop-by-Hop header of 8 bytes (PadN) before UDP or a
            // neighbour solicitation (ND still), or claiming 2 KiB (a
            // chain past the packet: dropped).
            let (next, len) = match rest / 7 % 3 {
                0 => (next_header::UDP, 0),
                1 => (next_header::ICMPV6, 0),
                _ => (next_header::UDP, 255),
            };
            let mut p = vec![next, len, 1, 4, 0, 0, 0, 0, 135];
            p.extend_from_slice(&payload);
            payload = p;
            next_header::HOP_BY_HOP
        }
        _ => {
            fragment = Some((rest / 7 % 2) as u16);
            next_header::UDP
        }
    };
    let rest = rest / 7;
    let mut f = V6Frame {
        src: src.parse().unwrap(),
        next_header: next,
        hop_limit,
        traffic_class: rest as u8,
        flow_label: (rest >> 8) as u32,
        fragment,
        payload,
        ..V6Frame::udp(dst.parse().unwrap())
    }
    .build();
    if rest % 5 == 1 {
        // Ethernet padding after the IP packet.
        f.extend_from_slice(&[0; 7]);
    }
    f
}
