//! The forwarding rules, restated independently of the router's code: for
//! one received frame, what must happen to it and which frames must leave.
//!
//! Headers are read with etherparse where it fits and with plain byte reads
//! where the rule is about raw fields etherparse refuses to show (bad
//! versions, short headers, inconsistent lengths).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Ethernet2HeaderSlice, Ipv4HeaderSlice, Ipv6HeaderSlice};

use super::expect::{sum_verifies, ChecksumAt, ExpectedFrame, FragmentSpec};
use super::model::{Route, Setup, INGRESS};
use super::options;

const ETH: usize = 14;
/// Largest IPv4 quote: a 576-byte error minus IP and ICMP headers.
const V4_QUOTE_MAX: usize = 548;
/// Largest IPv6 quote: a 1280-byte error minus IPv6 and ICMPv6 headers.
const V6_QUOTE_MAX: usize = 1232;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Fragmented,
    Local,
    Drop,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Forward => "forward",
            Verdict::Fragmented => "fragmented",
            Verdict::Local => "local",
            Verdict::Drop => "drop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Arp,
    V4,
    V6,
    Other,
}

/// The ICMP error a dropped packet earns.
#[derive(Debug, Clone)]
pub enum Icmp {
    None,
    /// An error is due but the rules forbid sending it.
    Suppressed,
    Sent(ExpectedFrame),
}

/// What the router transmits for a packet it forwards.
#[derive(Debug, Clone)]
pub enum Output {
    None,
    Forward(ExpectedFrame),
    Fragments(FragmentSpec),
}

#[derive(Debug, Clone)]
pub struct Prediction {
    pub verdict: Verdict,
    pub reason: Option<&'static str>,
    pub egress: Option<usize>,
    pub family: Family,
    pub output: Output,
    pub icmp: Icmp,
}

impl Prediction {
    fn local(family: Family) -> Self {
        Prediction {
            verdict: Verdict::Local,
            reason: None,
            egress: None,
            family,
            output: Output::None,
            icmp: Icmp::None,
        }
    }

    fn drop(family: Family, reason: &'static str) -> Self {
        Prediction {
            verdict: Verdict::Drop,
            reason: Some(reason),
            egress: None,
            family,
            output: Output::None,
            icmp: Icmp::None,
        }
    }

    fn drop_with(family: Family, reason: &'static str, icmp: Icmp) -> Self {
        Prediction {
            icmp,
            ..Prediction::drop(family, reason)
        }
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Predicts the outcome of `frame` received on the ingress port.
pub fn predict(setup: &Setup, frame: &[u8]) -> Prediction {
    let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
        return Prediction::drop(Family::Other, "truncated");
    };
    // No VLAN is configured: a tag is looked at before the MAC (802.1ad
    // and stacked tags are not supported, VLAN 0 is priority-tagged
    // untagged traffic, any other VLAN is unknown).
    match eth.ether_type().0 {
        0x88a8 => return Prediction::drop(Family::Other, "vlan_stacked"),
        0x8100 if frame.len() < 18 => return Prediction::drop(Family::Other, "truncated"),
        0x8100 => {
            let (tci, inner) = (be16(&frame[14..16]), be16(&frame[16..18]));
            if inner == 0x8100 || inner == 0x88a8 {
                return Prediction::drop(Family::Other, "vlan_stacked");
            }
            if tci & 0x0fff != 0 {
                return Prediction::drop(Family::Other, "vlan_unknown");
            }
            let untagged: Vec<u8> = frame[..12].iter().chain(&frame[16..]).copied().collect();
            return predict(setup, &untagged);
        }
        _ => {}
    }
    let dst_mac = eth.destination();
    let group = dst_mac[0] & 1 != 0;
    if !group && dst_mac != setup.ingress().mac {
        return Prediction::drop(Family::Other, "not_our_mac");
    }
    match eth.ether_type().0 {
        0x0806 => Prediction::local(Family::Arp),
        0x0800 => predict_v4(setup, frame, group),
        0x86dd => predict_v6(setup, frame, group),
        _ => Prediction::drop(Family::Other, "unsupported_ethertype"),
    }
}

fn is_v4_multicast(a: Ipv4Addr) -> bool {
    (224..=239).contains(&a.octets()[0])
}

fn predict_v4(setup: &Setup, frame: &[u8], group: bool) -> Prediction {
    let f = Family::V4;
    let buf = &frame[ETH..];
    if buf.len() < 20 {
        return Prediction::drop(f, "truncated");
    }
    if buf[0] >> 4 != 4 {
        return Prediction::drop(f, "bad_version");
    }
    let ihl = (buf[0] & 0x0f) as usize;
    if ihl < 5 {
        return Prediction::drop(f, "bad_header_length");
    }
    let hlen = ihl * 4;
    if hlen > buf.len() {
        return Prediction::drop(f, "truncated");
    }
    let total = be16(&buf[2..4]) as usize;
    if total < hlen {
        return Prediction::drop(f, "bad_total_length");
    }
    if total > buf.len() {
        return Prediction::drop(f, "truncated");
    }
    let hdr = Ipv4HeaderSlice::from_slice(&buf[..hlen]).expect("structure checked above");
    if !sum_verifies(hdr.slice()) {
        return Prediction::drop(f, "bad_checksum");
    }
    let (src, dst) = (hdr.source_addr(), hdr.destination_addr());
    if group {
        let for_router = is_v4_multicast(dst) || dst.is_broadcast() || setup.is_local_v4(dst);
        return if for_router {
            Prediction::local(f)
        } else {
            Prediction::drop(f, "l2_multicast")
        };
    }
    let s = src.octets()[0];
    if s == 0 || s == 127 || s >= 224 {
        return Prediction::drop(f, "martian_source");
    }
    if is_v4_multicast(dst) {
        return Prediction::drop(f, "multicast_destination");
    }
    let d = dst.octets()[0];
    if d == 0 || d == 127 || d >= 240 {
        return Prediction::drop(f, "martian_destination");
    }
    if setup.is_local_v4(dst) {
        return Prediction::local(f);
    }
    let packet = &buf[..total];
    let source_route = match hlen > 20 {
        true => match options::check(&buf[20..hlen]) {
            Ok(source_route) => source_route,
            Err(pointer) => {
                let icmp = icmp_v4(setup, frame, packet, 12, 0, [pointer, 0, 0, 0]);
                return Prediction::drop_with(f, "bad_options", icmp);
            }
        },
        false => false,
    };
    if source_route {
        // RFC 7126 §4.3–4.4: source-routed packets are dropped by default.
        return Prediction::drop(f, "source_route");
    }
    if hdr.ttl() <= 1 {
        let icmp = icmp_v4(setup, frame, packet, 11, 0, [0; 4]);
        return Prediction::drop_with(f, "ttl_expired", icmp);
    }
    let (egress, next_hop_mac) = match setup.route(IpAddr::V4(dst)) {
        Route::Resolved { port, mac } => (port, mac),
        Route::Unresolved => return Prediction::drop(f, "neighbor_unresolved"),
        Route::None => {
            let icmp = icmp_v4(setup, frame, packet, 3, 0, [0; 4]);
            return Prediction::drop_with(f, "no_route", icmp);
        }
    };
    let port = &setup.ports[egress];
    let mtu = port.mtu as usize;
    if total > mtu && hdr.dont_fragment() {
        let m = port.mtu.to_be_bytes();
        let icmp = icmp_v4(setup, frame, packet, 3, 4, [0, 0, m[0], m[1]]);
        return Prediction::drop_with(f, "mtu_df", icmp);
    }
    // Leaving: Record Route and Timestamp get this hop's entries.
    let own: Vec<Ipv4Addr> = setup
        .ports
        .iter()
        .filter_map(|p| p.v4.map(|v| v.0))
        .collect();
    let (new_options, clock) = match options::after_hop(&buf[20..hlen], port.v4.map(|v| v.0), &own)
    {
        Ok(after) => after,
        Err(pointer) => {
            let icmp = icmp_v4(setup, frame, packet, 12, 0, [pointer, 0, 0, 0]);
            return Prediction::drop_with(f, "bad_options", icmp);
        }
    };
    let mut updated = packet.to_vec();
    updated[20..hlen].copy_from_slice(&new_options);
    if total > mtu {
        let Some(later_options) = copied_options(&buf[20..hlen]) else {
            return Prediction::drop(f, "bad_options");
        };
        let offset = (be16(&buf[6..8]) & 0x1fff) as usize * 8;
        if offset + (total - hlen) > 65535 {
            return Prediction::drop(f, "bad_fragment");
        }
        return Prediction {
            verdict: Verdict::Fragmented,
            reason: None,
            egress: Some(egress),
            family: f,
            output: Output::Fragments(FragmentSpec {
                port: egress,
                mtu,
                next_hop_mac,
                egress_mac: port.mac,
                original: updated,
                clock: clock.clone(),
                later_options,
            }),
            icmp: Icmp::None,
        };
    }
    let mut out = frame[..ETH].to_vec();
    out.extend_from_slice(&updated);
    out[0..6].copy_from_slice(&next_hop_mac);
    out[6..12].copy_from_slice(&port.mac);
    out[ETH + 8] = hdr.ttl() - 1;
    let mut expected = ExpectedFrame::exact(egress, out);
    expected.open(ETH + 10..ETH + 12, 0xff);
    for c in clock {
        expected.open(ETH + 20 + c..ETH + 21 + c, 0xff);
    }
    expected.checks.push(ChecksumAt::Ipv4Header(ETH));
    Prediction {
        verdict: Verdict::Forward,
        reason: None,
        egress: Some(egress),
        family: f,
        output: Output::Forward(expected),
        icmp: Icmp::None,
    }
}

/// The options with the copied flag (RFC 791), padded with end-of-list to a
/// multiple of 4 bytes; `None` when an option's length is malformed.
fn copied_options(options: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = *options.get(i + 1)? as usize;
                if len < 2 || i + len > options.len() {
                    return None;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    while out.len() % 4 != 0 {
        out.push(0);
    }
    Some(out)
}

/// The ICMPv4 error about `packet` (RFC 1812 §4.3.2.7 decides whether one
/// may be sent at all).
fn icmp_v4(setup: &Setup, frame: &[u8], packet: &[u8], typ: u8, code: u8, rest: [u8; 4]) -> Icmp {
    let hlen = ((packet[0] & 0x0f) as usize) * 4;
    if be16(&packet[6..8]) & 0x1fff != 0 {
        return Icmp::Suppressed;
    }
    if packet[9] == 1 {
        match packet.get(hlen) {
            None => return Icmp::Suppressed,
            Some(t) if !matches!(t, 0 | 8 | 9 | 10 | 13..=18) => return Icmp::Suppressed,
            Some(_) => {}
        }
    }
    let Some((source, _)) = setup.ingress().v4 else {
        return Icmp::Suppressed;
    };
    let quote = &packet[..packet.len().min(V4_QUOTE_MAX)];
    let total = 20 + 8 + quote.len();
    let mut b = Vec::with_capacity(ETH + total);
    b.extend_from_slice(&frame[6..12]);
    b.extend_from_slice(&setup.ingress().mac);
    b.extend_from_slice(&[0x08, 0x00]);
    b.extend_from_slice(&[0x45, 0xc0]);
    b.extend_from_slice(&(total as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]); // identification (open), flags/offset
    b.extend_from_slice(&[64, 1, 0, 0]); // TTL, protocol, checksum (checked)
    b.extend_from_slice(&source.octets());
    b.extend_from_slice(&packet[12..16]);
    b.extend_from_slice(&[typ, code, 0, 0]);
    b.extend_from_slice(&rest);
    b.extend_from_slice(quote);
    let mut e = ExpectedFrame::exact(INGRESS, b);
    e.open(ETH + 4..ETH + 6, 0xff); // identification: any
    e.open(ETH + 6..ETH + 7, 0x40); // DF: either
    e.open(ETH + 10..ETH + 12, 0xff);
    e.open(ETH + 22..ETH + 24, 0xff);
    e.checks.push(ChecksumAt::Ipv4Header(ETH));
    e.checks.push(ChecksumAt::Icmpv4(ETH + 20));
    Icmp::Sent(e)
}

/// RFC 4861 neighbour discovery (ICMPv6 133–137), directly after the IPv6
/// header or behind up to two hop-by-hop (0), routing (43) or destination
/// options (60) headers: handled by the kernel whoever it is addressed to.
fn neighbour_discovery(first: u8, payload: &[u8]) -> bool {
    let (mut next, mut at) = (first, 0usize);
    let mut skipped = 0;
    while skipped < 2 && matches!(next, 0 | 43 | 60) {
        let (Some(&n), Some(&len)) = (payload.get(at), payload.get(at + 1)) else {
            return false;
        };
        next = n;
        at += (len as usize + 1) * 8;
        skipped += 1;
    }
    next == 58 && payload.get(at).is_some_and(|t| (133..=137).contains(t))
}

fn is_v6_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// What walking an extension-header chain found.
struct Walk {
    upper: u8,
    upper_offset: usize,
    non_first_fragment: bool,
}

/// Extension headers a router walks (RFC 8200 §4, RFC 7045).
fn is_extension(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140)
}

/// Walks the chain over `payload`; `None` when it is malformed (a header
/// runs past the payload, or more than 16 extension headers).
fn walk(first: u8, payload: &[u8]) -> Option<Walk> {
    let mut next = first;
    let mut offset = 0usize;
    let mut headers = 0;
    loop {
        let len = match next {
            0 | 43 | 60 | 135 | 139 | 140 => (*payload.get(offset + 1)? as usize + 1) * 8,
            51 => (*payload.get(offset + 1)? as usize + 2) * 4,
            44 => {
                let h = payload.get(offset..offset + 8)?;
                if be16(&h[2..4]) >> 3 != 0 {
                    return Some(Walk {
                        upper: h[0],
                        upper_offset: offset + 8,
                        non_first_fragment: true,
                    });
                }
                8
            }
            _ => {
                return Some(Walk {
                    upper: next,
                    upper_offset: offset,
                    non_first_fragment: false,
                })
            }
        };
        headers += 1;
        if headers > 16 || offset + len > payload.len() {
            return None;
        }
        next = payload[offset];
        offset += len;
    }
}

fn predict_v6(setup: &Setup, frame: &[u8], group: bool) -> Prediction {
    let f = Family::V6;
    let buf = &frame[ETH..];
    if buf.len() < 40 {
        return Prediction::drop(f, "truncated");
    }
    if buf[0] >> 4 != 6 {
        return Prediction::drop(f, "bad_version");
    }
    let payload_len = be16(&buf[4..6]) as usize;
    let first_next = buf[6];
    if payload_len == 0 && first_next == 0 {
        return Prediction::drop(f, "bad_total_length");
    }
    if 40 + payload_len > buf.len() {
        return Prediction::drop(f, "truncated");
    }
    let hdr = Ipv6HeaderSlice::from_slice(buf).expect("structure checked above");
    let (src, dst) = (hdr.source_addr(), hdr.destination_addr());
    if group {
        return if dst.is_multicast() || setup.is_router_v6(dst) {
            Prediction::local(f)
        } else {
            Prediction::drop(f, "l2_multicast")
        };
    }
    if neighbour_discovery(first_next, &buf[40..40 + payload_len]) {
        return Prediction::local(f);
    }
    if src.is_unspecified() || src.is_loopback() || src.is_multicast() {
        return Prediction::drop(f, "martian_source");
    }
    if dst.is_multicast() {
        return Prediction::drop(f, "multicast_destination");
    }
    if dst.is_unspecified() || dst.is_loopback() {
        return Prediction::drop(f, "martian_destination");
    }
    if is_v6_link_local(dst) || setup.is_router_v6(dst) {
        return Prediction::local(f);
    }
    let packet = &buf[..40 + payload_len];
    let chain = walk(first_next, &packet[40..]);
    if is_v6_link_local(src) {
        // RFC 4443 §3.1: destination unreachable, beyond scope of source address.
        let icmp = icmp_v6(setup, frame, packet, chain.as_ref(), 1, 2, [0; 4]);
        return Prediction::drop_with(f, "link_local", icmp);
    }
    if is_extension(first_next) && chain.is_none() {
        return Prediction::drop(f, "bad_extension_header");
    }
    if hdr.hop_limit() <= 1 {
        let icmp = icmp_v6(setup, frame, packet, chain.as_ref(), 3, 0, [0; 4]);
        return Prediction::drop_with(f, "ttl_expired", icmp);
    }
    let (egress, next_hop_mac) = match setup.route(IpAddr::V6(dst)) {
        Route::Resolved { port, mac } => (port, mac),
        Route::Unresolved => return Prediction::drop(f, "neighbor_unresolved"),
        Route::None => {
            let icmp = icmp_v6(setup, frame, packet, chain.as_ref(), 1, 0, [0; 4]);
            return Prediction::drop_with(f, "no_route", icmp);
        }
    };
    let port = &setup.ports[egress];
    if packet.len() > port.mtu as usize {
        let mtu = (port.mtu as u32).to_be_bytes();
        let icmp = icmp_v6(setup, frame, packet, chain.as_ref(), 2, 0, mtu);
        return Prediction::drop_with(f, "packet_too_big", icmp);
    }
    let mut out = frame[..ETH + packet.len()].to_vec();
    out[0..6].copy_from_slice(&next_hop_mac);
    out[6..12].copy_from_slice(&port.mac);
    out[ETH + 7] = hdr.hop_limit() - 1;
    Prediction {
        verdict: Verdict::Forward,
        reason: None,
        egress: Some(egress),
        family: f,
        output: Output::Forward(ExpectedFrame::exact(egress, out)),
        icmp: Icmp::None,
    }
}

/// The ICMPv6 error about `packet` (RFC 4443 §2.4(e) decides whether one may
/// be sent at all).
fn icmp_v6(
    setup: &Setup,
    frame: &[u8],
    packet: &[u8],
    chain: Option<&Walk>,
    typ: u8,
    code: u8,
    rest: [u8; 4],
) -> Icmp {
    let Some(chain) = chain else {
        return Icmp::Suppressed;
    };
    // RFC 4443 has no exception for non-first fragments (only IPv4 does, RFC
    // 1812 §4.3.2.7), and their upper-layer header is not there to look at.
    if !chain.non_first_fragment && chain.upper == 58 {
        match packet[40..].get(chain.upper_offset) {
            Some(&t) if t >= 128 => {}
            _ => return Icmp::Suppressed,
        }
    }
    let Some((source, _)) = setup.ingress().v6 else {
        return Icmp::Suppressed;
    };
    let quote = &packet[..packet.len().min(V6_QUOTE_MAX)];
    let icmp_len = 8 + quote.len();
    let mut b = Vec::with_capacity(ETH + 40 + icmp_len);
    b.extend_from_slice(&frame[6..12]);
    b.extend_from_slice(&setup.ingress().mac);
    b.extend_from_slice(&[0x86, 0xdd]);
    b.extend_from_slice(&[0x60, 0, 0, 0]);
    b.extend_from_slice(&(icmp_len as u16).to_be_bytes());
    b.extend_from_slice(&[58, 64]);
    b.extend_from_slice(&source.octets());
    b.extend_from_slice(&packet[8..24]);
    b.extend_from_slice(&[typ, code, 0, 0]);
    b.extend_from_slice(&rest);
    b.extend_from_slice(quote);
    let mut e = ExpectedFrame::exact(INGRESS, b);
    e.open(ETH..ETH + 1, 0x0f); // traffic class and flow label: any
    e.open(ETH + 1..ETH + 4, 0xff);
    e.open(ETH + 42..ETH + 44, 0xff);
    e.checks.push(ChecksumAt::Icmpv6(ETH));
    Icmp::Sent(e)
}
