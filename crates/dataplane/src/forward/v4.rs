//! The IPv4 path (RFC 1812 §5.2–5.3).

use std::net::{IpAddr, Ipv4Addr};

use super::ecmp::flow_hash_v4;
use super::icmp::IcmpV4Error;
use super::options::{self, OptionScan};
use super::stages::{AclPacketV4, Direction, Stopped};
use super::urpf;
use super::{discard_reason, rewrite_l2, DropReason, Emit, Forwarder, Ingress, Verdict};
use crate::fib::{Discard, Fib, NextHop};
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv4::MIN_HEADER_LEN;
use crate::wire::{checksum, Ipv4Packet, WireError};

/// Sources that must never be routed (RFC 1812 §5.3.7, RFC 6890): "this
/// network" 0/8, loopback 127/8, multicast 224/4, reserved 240/4 and the
/// limited broadcast.
#[inline]
pub(crate) const fn martian_source(src: Ipv4Addr) -> bool {
    let o = src.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 224
}

/// Destinations that must never be routed: 0/8, 127/8, reserved 240/4 and the
/// limited broadcast (multicast is counted apart).
#[inline]
pub(crate) const fn martian_destination(dst: Ipv4Addr) -> bool {
    let o = dst.octets();
    o[0] == 0 || o[0] == 127 || o[0] >= 240
}

/// [`FIRST_OCTET`] bits: the address is a martian source.
const BAD_SRC: u8 = 1;
/// A multicast destination.
const MCAST_DST: u8 = 2;
/// A martian destination.
const BAD_DST: u8 = 4;

/// The three address tests above by first octet (each depends on nothing
/// else), so that a packet passes all of them with two loads and one
/// branch; built from the functions themselves.
static FIRST_OCTET: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut o = 0;
    while o < 256 {
        let a = Ipv4Addr::new(o as u8, 0, 0, 0);
        t[o] = (martian_source(a) as u8 * BAD_SRC)
            | (a.is_multicast() as u8 * MCAST_DST)
            | (martian_destination(a) as u8 * BAD_DST);
        o += 1;
    }
    t
};

/// Why a packet fails the source, multicast and destination tests, in that
/// order, or `None`.
#[inline(always)]
pub(super) fn address_drop(src: Ipv4Addr, dst: Ipv4Addr) -> Option<DropReason> {
    let bits = FIRST_OCTET[src.octets()[0] as usize] & BAD_SRC
        | FIRST_OCTET[dst.octets()[0] as usize] & (MCAST_DST | BAD_DST);
    if bits == 0 {
        return None;
    }
    Some(if bits & BAD_SRC != 0 {
        DropReason::MartianSource
    } else if bits & MCAST_DST != 0 {
        DropReason::MulticastDestination
    } else {
        DropReason::MartianDestination
    })
}

pub(crate) fn wire_error_reason(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Truncated,
        WireError::BadVersion => DropReason::BadVersion,
        WireError::BadHeaderLength => DropReason::BadHeaderLength,
        WireError::BadTotalLength => DropReason::BadTotalLength,
        WireError::BadOption => DropReason::BadOptions,
        WireError::BadExtensionHeader => DropReason::BadExtensionHeader,
    }
}

impl Forwarder {
    pub(super) fn ipv4<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        ctx: Ingress<'_>,
        frame: &mut [u8],
        emit: &mut E,
    ) -> Verdict {
        let bytes = &frame[ETH_LEN..];
        let ip = match Ipv4Packet::new_checked(bytes) {
            Ok(ip) => ip,
            Err(e) => return Verdict::Drop(wire_error_reason(e)),
        };
        // The fields the path reads, each once (the header's length decides
        // the checksum's fast path and the options' test).
        let header_len = ip.header_len();
        let checksum_ok = if header_len == MIN_HEADER_LEN {
            checksum::verify_words(ip.fixed_header())
        } else {
            ip.verify_checksum()
        };
        if !checksum_ok {
            return Verdict::Drop(DropReason::BadChecksum);
        }
        let src = ip.src();
        let dst = ip.dst();
        if ctx.l2_group {
            // Group-addressed frames are only ever for the router itself:
            // multicast control traffic and broadcasts go to the host stack;
            // a unicast IP packet in a link-layer broadcast is dropped
            // (RFC 1812 §5.3.4).
            let for_host = dst.is_multicast()
                || dst.is_broadcast()
                || matches!(fib.lookup_v4(dst), Some(NextHop::Local));
            return if for_host {
                Verdict::Local
            } else {
                Verdict::Drop(DropReason::L2Multicast)
            };
        }
        if let Some(reason) = address_drop(src, dst) {
            return Verdict::Drop(reason);
        }
        let group = match ctx.hint.dst.for_v4(dst) {
            Some(group) => group.get(),
            None => fib.v4.lookup(dst),
        };
        let next_hop = group.and_then(|g| fib.select_with(g, || flow_hash_v4(&ip)));
        if let Some(NextHop::Local) = next_hop {
            return Verdict::Local;
        }
        let stopped = self.ingress_stages(
            &ctx,
            || AclPacketV4 { ip: &ip, bytes },
            |mode| {
                let group = match ctx.hint.src.for_v4(src) {
                    Some(group) => group.get(),
                    None => fib.v4.lookup(src),
                };
                urpf::check_v4(fib, mode, ctx.port, src, group)
            },
            false,
        );
        if let Some(stopped) = stopped {
            let error = IcmpV4Error::AdminProhibited;
            return self.stopped(stopped, |f| f.send_icmp_v4(ctx, frame, error, emit));
        }
        // Before the TTL check, as Linux's `ip_error` answers: the route
        // says the destination is not there, whatever the TTL.
        if let Some(&NextHop::Discard(action)) = next_hop {
            let error = match action {
                Discard::Blackhole => None,
                Discard::Unreachable => Some(IcmpV4Error::HostUnreachable),
                Discard::Prohibit => Some(IcmpV4Error::AdminProhibited),
            };
            if let Some(error) = error {
                self.send_icmp_v4(ctx, frame, error, emit);
            }
            return Verdict::Drop(discard_reason(action));
        }
        // `None` without options (nearly every packet: no option test below).
        let opts = if header_len > MIN_HEADER_LEN {
            match options::scan(ip.options()) {
                Ok(scan) => Some(scan),
                Err(pointer) => {
                    let error = IcmpV4Error::ParameterProblem { pointer };
                    self.send_icmp_v4(ctx, frame, error, emit);
                    return Verdict::Drop(DropReason::BadOptions);
                }
            }
        } else {
            None
        };
        if opts.is_some_and(|o| o.source_route) && !self.accept_source_route {
            return Verdict::Drop(DropReason::SourceRoute);
        }
        if ip.ttl() <= 1 {
            self.send_icmp_v4(ctx, frame, IcmpV4Error::TimeExceeded, emit);
            return Verdict::Drop(DropReason::TtlExpired);
        }
        let Some(next_hop) = next_hop else {
            self.send_icmp_v4(ctx, frame, IcmpV4Error::NetUnreachable, emit);
            return Verdict::Drop(DropReason::NoRoute);
        };
        let egress = match self.egress(next_hop, IpAddr::V4(dst)) {
            Ok(e) => e,
            Err(verdict) => return verdict,
        };
        let (egress_id, mac, egress_mtu, egress_mac) =
            (egress.port, egress.next_hop_mac, egress.mtu, egress.mac);
        if let Some(acl) = egress.acl_out {
            let fields = || AclPacketV4 { ip: &ip, bytes };
            if let Some(drop) = self.acl_stage(acl, fields, Direction::Out, egress_id) {
                let error = IcmpV4Error::AdminProhibited;
                return self.stopped(Stopped::Acl(drop), |f| {
                    f.send_icmp_v4(ctx, frame, error, emit)
                });
            }
        }
        let total_len = ip.total_len();
        let dont_frag = ip.dont_frag();
        let mtu = egress_mtu as usize;
        if total_len > mtu && dont_frag {
            self.send_icmp_v4(
                ctx,
                frame,
                IcmpV4Error::FragNeeded { mtu: egress_mtu },
                emit,
            );
            return Verdict::Drop(DropReason::MtuDf);
        }
        // Leaving for sure: the options get this hop's entries (errors
        // above quote the packet as it came).
        if let Some(opts) = opts.filter(|o| *o != OptionScan::default()) {
            if let Err(verdict) = self.apply_options(ctx, frame, header_len, &opts, egress_id, emit)
            {
                return verdict;
            }
        }
        if total_len > mtu {
            return match super::fragment::fragment_v4(
                &frame[ETH_LEN..ETH_LEN + total_len],
                mtu,
                mac,
                egress_mac,
                (egress_id, egress.vlan),
                emit,
            ) {
                Ok(fragments) => Verdict::Fragmented {
                    port: egress_id,
                    fragments,
                },
                Err(reason) => Verdict::Drop(reason),
            };
        }
        let len = ETH_LEN + total_len;
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..len]);
        ip.decrement_ttl();
        if opts.is_some_and(|o| o.record_route.is_some() || o.timestamp.is_some()) {
            // The options changed: the incremental update does not cover them.
            ip.fill_checksum();
        }
        rewrite_l2(frame, mac, egress_mac);
        Verdict::Forward {
            port: egress_id,
            start: 0,
            len,
        }
    }
}

impl Forwarder {
    /// Counts Router Alert and applies Record Route and Timestamp for a
    /// packet leaving through `egress`; the verdict when that fails.
    fn apply_options<E: Emit + ?Sized>(
        &mut self,
        ctx: Ingress<'_>,
        frame: &mut [u8],
        header_len: usize,
        opts: &OptionScan,
        egress: crate::fib::PortId,
        emit: &mut E,
    ) -> Result<(), Verdict> {
        if opts.router_alert {
            self.counters.router_alert += 1;
        }
        if opts.record_route.is_none() && opts.timestamp.is_none() {
            return Ok(());
        }
        let address = self.port(egress).and_then(|p| p.ipv4);
        let now_ms = (ctx.now_ns / 1_000_000) as u32 & 0x7fff_ffff;
        let ports = &self.ports;
        let header = &mut frame[ETH_LEN..ETH_LEN + header_len];
        let ours = |a| ports.iter().any(|p| p.ipv4 == Some(a));
        match options::apply(header, opts, address, now_ms, ours) {
            Ok(applied) => {
                self.counters.record_route += opts.record_route.is_some() as u64;
                self.counters.timestamp += opts.timestamp.is_some() as u64;
                self.counters.timestamp_overflow += applied.timestamp_overflow as u64;
                Ok(())
            }
            Err(pointer) => {
                let error = IcmpV4Error::ParameterProblem { pointer };
                self.send_icmp_v4(ctx, frame, error, emit);
                Err(Verdict::Drop(DropReason::BadOptions))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table answers as the three tests one after the other do, for
    /// every first octet of either address.
    #[test]
    fn address_table_matches_the_tests() {
        for s in 0..=255u8 {
            for d in 0..=255u8 {
                let (src, dst) = (Ipv4Addr::new(s, 1, 2, 3), Ipv4Addr::new(d, 4, 5, 6));
                let expected = if martian_source(src) {
                    Some(DropReason::MartianSource)
                } else if dst.is_multicast() {
                    Some(DropReason::MulticastDestination)
                } else if martian_destination(dst) {
                    Some(DropReason::MartianDestination)
                } else {
                    None
                };
                assert_eq!(address_drop(src, dst), expected, "{src} -> {dst}");
            }
        }
    }
}
