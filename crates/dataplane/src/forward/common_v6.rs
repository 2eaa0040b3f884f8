//! IPv6's common case, a frame at a time inside `common.rs`'s loop over the
//! batch (which tests the port, our MAC, the family, and writes the MACs
//! and counters).
//!
//! The frames taken are those the IPv6 path (`v6.rs`) would forward
//! unchanged but for the hop limit and MACs, with every test it makes
//! answered by a compare here: no extension header (a chain to walk, and
//! a Hop-by-Hop jumbogram's zero length), so the next header is the upper
//! layer's and neighbour discovery is one type test; hop limit > 1; no
//! address the path stops (martian, multicast or link-local, either way);
//! a route whose next hop is a resolved adjacency on a port without a VLAN
//! tag, within its MTU (IPv6 is never fragmented on the way). No checksum
//! to verify or update: the IPv6 header has none.
//!
//! Where either port has an ACL, the flow's permit must be in the worker's
//! ACL cache already (`Forwarder::common_acl_v6_permit`, a probe that
//! leaves the cache and its counts untouched on a miss, for the pipeline
//! to classify, cache and count); IPv6 probes frame by frame, not with a
//! batch of keys made first as IPv4's acl-in does.

use std::net::Ipv6Addr;

use super::acl::AclId;
use super::batch::RouteHints;
use super::common::Sent;
use super::ecmp::flow_hash_v6;
use super::v6::{is_link_local, martian_destination, martian_source};
use super::Forwarder;
use crate::fib::Fib;
use crate::qos::FlowTuple;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv6::{
    is_extension_header, is_neighbor_discovery, next_header, HEADER_LEN as IPV6_LEN,
};
use crate::wire::Ipv6Packet;

/// Ethernet and the fixed IPv6 header: what the common case reads.
const HEADERS: usize = ETH_LEN + IPV6_LEN;

/// Whether the IPv6 path lets `a` through as a source and as a destination:
/// not a martian source (unspecified, loopback, multicast), not multicast or
/// a martian destination, not link-local. The two sets are the same, so
/// both addresses take one test.
#[inline(always)]
fn ordinary(a: Ipv6Addr) -> bool {
    !(martian_source(a) || a.is_multicast() || martian_destination(a) || is_link_local(a))
}

/// Whether an address starting with `first` is ordinary whatever follows
/// (not `00`, `fe` or `ff`: see [`both_ordinary`]).
#[inline(always)]
pub(super) fn plain_first_byte(first: u8) -> bool {
    first.wrapping_add(2) > 2
}

/// [`ordinary`] for both addresses, first by their first bytes: every
/// address it stops starts with `00` (`::`, `::1`), `fe` (`fe80::/10`) or
/// `ff` (multicast), the three bytes that wrap to 0..=2 when 2 is added;
/// an address starting otherwise passes with one add and compare (the four
/// tests cost ~15 instructions a packet, callgrind).
/// The first bytes are read from the header `ip` itself (from the
/// addresses, 8 instructions a packet instead of 4, callgrind).
#[inline(always)]
fn both_ordinary(ip: &[u8; IPV6_LEN]) -> bool {
    if plain_first_byte(ip[8]) && plain_first_byte(ip[24]) {
        return true;
    }
    let src = Ipv6Addr::from(*ip[8..].first_chunk::<16>().expect("16 bytes"));
    let dst = Ipv6Addr::from(*ip[24..].first_chunk::<16>().expect("16 bytes"));
    ordinary(src) && ordinary(dst)
}

/// [`is_extension_header`] as a 256-bit set, one bit test (the match's
/// compares cost the pre-pass ~10 instructions a packet, callgrind);
/// built from the function itself.
pub(super) static EXTENSION_HEADERS: [u64; 4] = {
    let mut set = [0u64; 4];
    let mut next = 0;
    while next < 256 {
        if is_extension_header(next as u8) {
            set[next / 64] |= 1 << (next % 64);
        }
        next += 1;
    }
    set
};

#[inline(always)]
pub(super) fn extension_header(next: u8) -> bool {
    EXTENSION_HEADERS[usize::from(next >> 6)] >> (next & 63) & 1 != 0
}

/// Whether the IPv6 header of `frame`, plain (`86 dd 6`, the pre-pass's
/// kind test) and starting with `h`, is the common case's (see the module):
/// a payload within the frame, hop limit > 1, no extension header, not
/// neighbour discovery, both addresses ordinary. The pre-pass asks it while
/// it reads the header for the lookup (`RouteHints`), so the loop after
/// the lookup only rewrites.
#[inline(always)]
pub(super) fn common_header_v6(h: &[u8; HEADERS], frame: &[u8]) -> bool {
    let ip: &[u8; IPV6_LEN] = h[ETH_LEN..].try_into().expect("40 bytes");
    let total = IPV6_LEN + u16::from_be_bytes([ip[4], ip[5]]) as usize;
    let next = ip[6];
    if total > frame.len() - ETH_LEN || ip[7] <= 1 || extension_header(next) {
        return false;
    }
    if next == next_header::ICMPV6 && is_neighbor_discovery(next, &frame[HEADERS..ETH_LEN + total])
    {
        return false;
    }
    both_ordinary(ip)
}

impl Forwarder {
    /// Frame `i`, IPv6 (`86 dd 6` found by the pre-pass) to our MAC, whose
    /// destination `hints` looked up: if it is the common case (see the module),
    /// rewritten (hop limit, then [`Sent::frame`]); untouched if not.
    /// `ACLS`: the batch's port has an acl-in (`acl_in`) or some port has
    /// an acl-out; without, neither is asked.
    #[inline(always)]
    pub(super) fn common_v6<const ACLS: bool>(
        &mut self,
        fib: &Fib,
        frame: &mut [u8],
        hints: &RouteHints,
        acl_in: Option<AclId>,
        sent: &mut Sent,
        i: usize,
    ) -> Option<()> {
        // The pre-pass tested the header (`common_header_v6`): its length,
        // hop limit, next header and addresses.
        let h = frame.first_chunk::<HEADERS>()?;
        let ip: &[u8; IPV6_LEN] = h[ETH_LEN..].try_into().expect("40 bytes");
        let total = IPV6_LEN + u16::from_be_bytes([ip[4], ip[5]]) as usize;
        // The caller's contract (`RouteHints`): the frame `prepare` tested.
        debug_assert!(common_header_v6(h, frame), "frame {i} not the one prepared");
        let dst = Ipv6Addr::from(*ip[24..].first_chunk::<16>().expect("16 bytes"));
        // No route or a hint for another address: the pipeline's.
        let group = hints.dst_v6(i, dst)?.get()?;
        let view = Ipv6Packet::new_unchecked(&frame[ETH_LEN..]);
        let e = self.common_egress(fib, group, || flow_hash_v6(&view), total)?;
        let len = ETH_LEN + total;
        if ACLS {
            // Each list's counter and whether the cache answered, if it
            // permits the packet by an answer the cache holds.
            let view = Ipv6Packet::new_unchecked(&frame[ETH_LEN..len]);
            let acl_in = self.common_acl_v6_permit(acl_in, &view)?;
            let acl_out = self.common_acl_v6_permit(e.acl_out, &view)?;
            for (counter, cached) in [acl_in, acl_out] {
                self.acl_hits.count(counter);
                sent.acl_cache_hit(cached);
            }
        } else if e.acl_out.is_some() {
            return None;
        }
        Ipv6Packet::new_unchecked(&mut frame[ETH_LEN..len]).decrement_hop_limit();
        // (The queues classify IPv6 frames from their bytes.)
        sent.tuple(i, || FlowTuple::UNKNOWN);
        sent.frame(i, frame, e, len);
        Some(())
    }
}
