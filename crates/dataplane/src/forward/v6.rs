//! The IPv6 path (RFC 8200, RFC 4291 §2.5.6, RFC 4443).

use std::net::{IpAddr, Ipv6Addr};

use super::ecmp::flow_hash_v6;
use super::icmp::IcmpV6Error;
use super::stages::{acl_key_v6, Direction, Stopped};
use super::urpf;
use super::v4::wire_error_reason;
use super::{discard_reason, rewrite_l2, DropReason, Emit, Forwarder, Ingress, Verdict};
use crate::fib::{Discard, Fib, NextHop};
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv6::{is_extension_header, is_neighbor_discovery, walk_extension_headers};
use crate::wire::Ipv6Packet;

/// Sources never routed: unspecified, loopback, multicast.
#[inline]
pub(crate) fn martian_source(src: Ipv6Addr) -> bool {
    src.is_unspecified() || src.is_loopback() || src.is_multicast()
}

/// Destinations never routed: unspecified and loopback.
#[inline]
pub(crate) fn martian_destination(dst: Ipv6Addr) -> bool {
    dst.is_unspecified() || dst.is_loopback()
}

/// fe80::/10.
#[inline]
pub(crate) fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl Forwarder {
    pub(super) fn ipv6<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        ctx: Ingress<'_>,
        frame: &mut [u8],
        emit: &mut E,
    ) -> Verdict {
        let ip = match Ipv6Packet::new_checked(&frame[ETH_LEN..]) {
            Ok(ip) => ip,
            Err(e) => return Verdict::Drop(wire_error_reason(e)),
        };
        let src = ip.src();
        let dst = ip.dst();
        if ctx.l2_group {
            // Neighbour discovery, MLD and other multicast control traffic.
            let for_host = dst.is_multicast() || matches!(fib.lookup_v6(dst), Some(NextHop::Local));
            return if for_host {
                Verdict::Local
            } else {
                Verdict::Drop(DropReason::L2Multicast)
            };
        }
        if is_neighbor_discovery(ip.next_header(), ip.payload()) {
            // Link-scoped by nature (RFC 4861) and handled by the kernel,
            // whoever it is addressed to: the XDP program passes it too.
            return Verdict::Local;
        }
        if martian_source(src) {
            return Verdict::Drop(DropReason::MartianSource);
        }
        if dst.is_multicast() {
            return Verdict::Drop(DropReason::MulticastDestination);
        }
        if martian_destination(dst) {
            return Verdict::Drop(DropReason::MartianDestination);
        }
        if is_link_local(dst) {
            // Unicast to our MAC and link-scoped: it can only be for us.
            return Verdict::Local;
        }
        let group = match ctx.hint.dst.for_v6(dst) {
            Some(group) => group.get(),
            None => fib.v6.lookup(dst),
        };
        let next_hop = group.and_then(|g| fib.select_with(g, || flow_hash_v6(&ip)));
        if let Some(NextHop::Local) = next_hop {
            return Verdict::Local;
        }
        let stopped = self.ingress_stages(
            &ctx,
            || acl_key_v6(&ip),
            |mode| {
                // A link-local source is answered by its own rule below (RFC
                // 4443 beyond scope), not judged by a route it cannot have.
                if is_link_local(src) {
                    return true;
                }
                let group = match ctx.hint.src.for_v6(src) {
                    Some(group) => group.get(),
                    None => fib.v6.lookup(src),
                };
                urpf::check_v6(fib, mode, ctx.port, src, group)
            },
            true,
        );
        if let Some(stopped) = stopped {
            let error = IcmpV6Error::AdminProhibited;
            return self.stopped(stopped, |f| f.send_icmp_v6(ctx, frame, error, emit));
        }
        // As Linux's `ip6_pkt_discard` / `ip6_pkt_prohibit`, whatever
        // the hop limit.
        if let Some(&NextHop::Discard(action)) = next_hop {
            let error = match action {
                Discard::Blackhole => None,
                Discard::Unreachable => Some(IcmpV6Error::NoRoute),
                Discard::Prohibit => Some(IcmpV6Error::AdminProhibited),
            };
            if let Some(error) = error {
                self.send_icmp_v6(ctx, frame, error, emit);
            }
            return Verdict::Drop(discard_reason(action));
        }
        if is_link_local(src) {
            // RFC 4443 §3.1 code 2: the source's scope ends on this link.
            self.send_icmp_v6(ctx, frame, IcmpV6Error::BeyondScope, emit);
            return Verdict::Drop(DropReason::LinkLocal);
        }
        if is_extension_header(ip.next_header())
            && walk_extension_headers(ip.next_header(), ip.payload()).is_err()
        {
            return Verdict::Drop(DropReason::BadExtensionHeader);
        }
        if ip.hop_limit() <= 1 {
            self.send_icmp_v6(ctx, frame, IcmpV6Error::HopLimitExceeded, emit);
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(next_hop) = next_hop else {
            self.send_icmp_v6(ctx, frame, IcmpV6Error::NoRoute, emit);
            return Verdict::Drop(DropReason::NoRoute);
        };
        let egress = match self.egress(next_hop, IpAddr::V6(dst)) {
            Ok(e) => e,
            Err(verdict) => return verdict,
        };
        let (egress_id, mac, egress_mtu, egress_mac) =
            (egress.port, egress.next_hop_mac, egress.mtu, egress.mac);
        if let Some(acl) = egress.acl_out {
            let fields = || acl_key_v6(&ip);
            if let Some(drop) = self.acl_stage(acl, fields, Direction::Out, egress_id) {
                let error = IcmpV6Error::AdminProhibited;
                return self.stopped(Stopped::Acl(drop), |f| {
                    f.send_icmp_v6(ctx, frame, error, emit)
                });
            }
        }
        let total_len = ip.total_len();
        if total_len > egress_mtu as usize {
            // Routers never fragment IPv6 (RFC 8200 §5).
            let mtu = egress_mtu as u32;
            self.send_icmp_v6(ctx, frame, IcmpV6Error::PacketTooBig { mtu }, emit);
            return Verdict::Drop(DropReason::PacketTooBig);
        }
        let len = ETH_LEN + total_len;
        Ipv6Packet::new_unchecked(&mut frame[ETH_LEN..len]).decrement_hop_limit();
        rewrite_l2(frame, mac, egress_mac);
        Verdict::Forward {
            port: egress_id,
            start: 0,
            len,
        }
    }
}
