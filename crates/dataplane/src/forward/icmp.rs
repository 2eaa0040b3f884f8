//! ICMP and ICMPv6 errors the router originates (RFC 1812 §4.3, RFC 4443).
//!
//! An error goes back out of the ingress port to the link-layer source of the
//! offending frame: that neighbour delivered the packet, so it can take the
//! error back towards the source without a route lookup that might fail.

use super::vlan::emit_on;
use super::{Emit, Forwarder, Ingress};
use crate::wire::ethernet::{emit_header, ethertype, HEADER_LEN as ETH_LEN};
use crate::wire::icmp::{self, ERROR_HEADER_LEN};
use crate::wire::ipv4::{protocol, Ipv4Repr, MIN_HEADER_LEN as IPV4_LEN};
use crate::wire::ipv6::{self, next_header, HEADER_LEN as IPV6_LEN};
use crate::wire::{checksum, EthernetFrame, Ipv4Packet, Ipv6Packet};

/// RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes long.
pub const ICMPV4_MAX_LEN: usize = 576;
/// RFC 4443 §2.4(c): an ICMPv6 error fits the IPv6 minimum MTU.
pub const ICMPV6_MAX_LEN: usize = ipv6::MIN_MTU;
/// TTL / hop limit of originated errors.
const ORIGINATED_TTL: u8 = 64;
/// Linux sends ICMP errors with precedence "internetwork control" (CS6); so do we.
const ICMP_TOS: u8 = 0xc0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IcmpV4Error {
    TimeExceeded,
    NetUnreachable,
    HostUnreachable,
    AdminProhibited,
    FragNeeded {
        mtu: u16,
    },
    /// Parameter problem (12/0), `pointer` at the octet in error.
    ParameterProblem {
        pointer: u8,
    },
}

impl IcmpV4Error {
    fn type_code_rest(self) -> (u8, u8, u32) {
        match self {
            IcmpV4Error::TimeExceeded => (icmp::v4::TIME_EXCEEDED, icmp::v4::CODE_TTL_EXCEEDED, 0),
            IcmpV4Error::NetUnreachable => (
                icmp::v4::DEST_UNREACHABLE,
                icmp::v4::CODE_NET_UNREACHABLE,
                0,
            ),
            IcmpV4Error::HostUnreachable => (
                icmp::v4::DEST_UNREACHABLE,
                icmp::v4::CODE_HOST_UNREACHABLE,
                0,
            ),
            IcmpV4Error::AdminProhibited => (
                icmp::v4::DEST_UNREACHABLE,
                icmp::v4::CODE_ADMIN_PROHIBITED,
                0,
            ),
            // RFC 1191: the next-hop MTU is the low 16 bits of the field.
            IcmpV4Error::FragNeeded { mtu } => (
                icmp::v4::DEST_UNREACHABLE,
                icmp::v4::CODE_FRAG_NEEDED,
                mtu as u32,
            ),
            // RFC 792: the pointer is the first octet after the checksum.
            IcmpV4Error::ParameterProblem { pointer } => {
                (icmp::v4::PARAMETER_PROBLEM, 0, (pointer as u32) << 24)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IcmpV6Error {
    HopLimitExceeded,
    NoRoute,
    AdminProhibited,
    BeyondScope,
    PacketTooBig { mtu: u32 },
}

impl IcmpV6Error {
    fn type_code_rest(self) -> (u8, u8, u32) {
        match self {
            IcmpV6Error::HopLimitExceeded => (icmp::v6::TIME_EXCEEDED, icmp::v6::CODE_HOP_LIMIT, 0),
            IcmpV6Error::NoRoute => (icmp::v6::DEST_UNREACHABLE, icmp::v6::CODE_NO_ROUTE, 0),
            IcmpV6Error::AdminProhibited => (
                icmp::v6::DEST_UNREACHABLE,
                icmp::v6::CODE_ADMIN_PROHIBITED,
                0,
            ),
            IcmpV6Error::BeyondScope => {
                (icmp::v6::DEST_UNREACHABLE, icmp::v6::CODE_BEYOND_SCOPE, 0)
            }
            IcmpV6Error::PacketTooBig { mtu } => (icmp::v6::PACKET_TOO_BIG, 0, mtu),
        }
    }
}

/// May an ICMPv4 error be sent about this (already validated, unicast) packet?
/// Not about a non-first fragment, nor about an ICMP error (RFC 1812 §4.3.2.7).
fn v4_error_allowed(ip: &Ipv4Packet<&[u8]>) -> bool {
    if ip.is_non_first_fragment() {
        return false;
    }
    if ip.protocol() == protocol::ICMP {
        return match ip.payload().first() {
            Some(&t) => !icmp::v4::is_error(t),
            None => false,
        };
    }
    true
}

/// The same for IPv6 (RFC 4443 §2.4(e)); the extension chain is walked with
/// bounds, and a chain that cannot be walked gets no error. Unlike IPv4,
/// non-first fragments do get errors: RFC 4443 has no fragment exception, and
/// path-MTU discovery needs Packet Too Big for every fragment (Linux agrees).
fn v6_error_allowed(ip: &Ipv6Packet<&[u8]>) -> bool {
    let payload = ip.payload();
    let walk = match ipv6::walk_extension_headers(ip.next_header(), payload) {
        Ok(w) => w,
        Err(_) => return false,
    };
    if walk.non_first_fragment {
        // The upper-layer header is in the first fragment: nothing here
        // says this is an ICMPv6 error.
        return true;
    }
    if walk.upper_protocol == next_header::ICMPV6 {
        return match payload.get(walk.upper_offset) {
            Some(&t) => !icmp::v6::is_error(t),
            None => false,
        };
    }
    true
}

impl Forwarder {
    /// Sends `kind` about the IPv4 packet in `frame` back out of the ingress port.
    pub(super) fn send_icmp_v4<E: Emit + ?Sized>(
        &mut self,
        ctx: Ingress<'_>,
        frame: &[u8],
        kind: IcmpV4Error,
        emit: &mut E,
    ) {
        let ip = Ipv4Packet::new_unchecked(&frame[ETH_LEN..]);
        let Some(port) = self.port(ctx.port) else {
            return;
        };
        // The error leaves through the ingress port: it must fit that link
        // too, whose MTU may be below 576 (down to 68).
        let max_len = ICMPV4_MAX_LEN.min(port.mtu as usize);
        let vlan = port.vlan;
        let (port_mac, Some(source)) = (port.mac, port.ipv4) else {
            self.counters.icmp_suppressed += 1;
            return;
        };
        if !v4_error_allowed(&ip) {
            self.counters.icmp_suppressed += 1;
            return;
        }
        if !self.icmp_bucket.take(ctx.now_ns) {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        self.next_ident = self.next_ident.wrapping_add(1);
        let ident = self.next_ident;
        let peer_mac = EthernetFrame::new_unchecked(frame).src();
        let quote_max = max_len.saturating_sub(IPV4_LEN + ERROR_HEADER_LEN);
        let quote = &ip.packet()[..ip.total_len().min(quote_max)];
        let icmp_len = ERROR_HEADER_LEN + quote.len();
        let frame_len = ETH_LEN + IPV4_LEN + icmp_len;
        let (icmp_type, code, rest) = kind.type_code_rest();
        let dst = ip.src();
        let sent = emit_on(emit, ctx.port, vlan, &mut |buf: &mut [u8]| {
            if buf.len() < frame_len {
                return 0;
            }
            emit_header(buf, peer_mac, port_mac, ethertype::IPV4);
            Ipv4Repr {
                src: source,
                dst,
                protocol: protocol::ICMP,
                ttl: ORIGINATED_TTL,
                dscp_ecn: ICMP_TOS,
                ident,
                payload_len: icmp_len,
            }
            .emit(&mut buf[ETH_LEN..]);
            let msg = &mut buf[ETH_LEN + IPV4_LEN..frame_len];
            icmp::emit_error_header(msg, icmp_type, code, rest);
            msg[ERROR_HEADER_LEN..].copy_from_slice(quote);
            let sum = checksum::checksum(msg);
            icmp::set_checksum(msg, sum);
            frame_len
        });
        if sent {
            self.counters.icmp_sent += 1;
        } else {
            self.counters.icmp_no_buffer += 1;
        }
    }

    /// Sends `kind` about the IPv6 packet in `frame` back out of the ingress port.
    pub(super) fn send_icmp_v6<E: Emit + ?Sized>(
        &mut self,
        ctx: Ingress<'_>,
        frame: &[u8],
        kind: IcmpV6Error,
        emit: &mut E,
    ) {
        let ip = Ipv6Packet::new_unchecked(&frame[ETH_LEN..]);
        let Some(port) = self.port(ctx.port) else {
            return;
        };
        let vlan = port.vlan;
        let (port_mac, Some(source)) = (port.mac, port.ipv6) else {
            self.counters.icmp_suppressed += 1;
            return;
        };
        if !v6_error_allowed(&ip) {
            self.counters.icmp_suppressed += 1;
            return;
        }
        if !self.icmp_bucket.take(ctx.now_ns) {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        let peer_mac = EthernetFrame::new_unchecked(frame).src();
        let quote = &ip.packet()[..ip
            .total_len()
            .min(ICMPV6_MAX_LEN - IPV6_LEN - ERROR_HEADER_LEN)];
        let icmp_len = ERROR_HEADER_LEN + quote.len();
        let frame_len = ETH_LEN + IPV6_LEN + icmp_len;
        let (icmp_type, code, rest) = kind.type_code_rest();
        let src = source.octets();
        let dst = ip.src_bytes();
        let sent = emit_on(emit, ctx.port, vlan, &mut |buf: &mut [u8]| {
            if buf.len() < frame_len {
                return 0;
            }
            emit_header(buf, peer_mac, port_mac, ethertype::IPV6);
            ipv6::emit_header(
                &mut buf[ETH_LEN..],
                src,
                dst,
                next_header::ICMPV6,
                ORIGINATED_TTL,
                icmp_len as u16,
            );
            let msg = &mut buf[ETH_LEN + IPV6_LEN..frame_len];
            icmp::emit_error_header(msg, icmp_type, code, rest);
            msg[ERROR_HEADER_LEN..].copy_from_slice(quote);
            let acc = checksum::pseudo_header_v6(src, dst, next_header::ICMPV6, icmp_len as u32);
            let sum = checksum::finish(checksum::accumulate(acc, msg));
            icmp::set_checksum(msg, sum);
            frame_len
        });
        if sent {
            self.counters.icmp_sent += 1;
        } else {
            self.counters.icmp_no_buffer += 1;
        }
    }
}
