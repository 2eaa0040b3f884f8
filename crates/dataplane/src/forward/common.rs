//! The common case over a whole batch, before the frame-by-frame pipeline.
//!
//! Nearly every frame a router sees is a plain IPv4 packet (IHL 5, TTL > 1,
//! a good checksum, ordinary addresses) to a route with a resolved
//! neighbour, arriving on a port without uRPF and leaving through one
//! without a VLAN tag; where either port has an ACL, a flow whose permit
//! the worker's ACL cache already holds (each packet's first pass through
//! the pipeline put it there). [`Forwarder::forward_common`]
//! forwards those in one loop over the batch, as VPP's nodes work on a
//! vector: the port's settings are tested once per batch, each frame's
//! header is tested with straight-line compares, rewritten (TTL, checksum,
//! MACs) and counted in sums added to the counters once per batch.
//!
//! A frame that leaves the common case in any way is left untouched for
//! the caller to run through [`Forwarder::process_at`], which starts over
//! from its first byte: the verdicts, bytes and counters are exactly the
//! frame-by-frame pipeline's (a property test holds them together), and
//! only frames whose every test passes are written to.

use super::batch::{RouteHint, RouteHints, MAX_HINT_BATCH};
use super::ecmp::flow_hash_v4;
use super::stages::NO_PERMIT;
use super::v4::address_drop;
use super::Forwarder;
use crate::fib::{Fib, NextHop, PortId};
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv4::MIN_HEADER_LEN;
use crate::wire::{checksum, Ipv4Packet};

/// Ethernet and a 20-byte IPv4 header: what the common case reads.
const HEADERS: usize = ETH_LEN + MIN_HEADER_LEN;

/// The low 48 bits of a little-endian word: a MAC address.
const MAC_MASK: u64 = (1 << 48) - 1;
/// Bytes 12..15 of an IPv4 frame whose header has no options (`08 00 45`)
/// as the low 24 bits of a little-endian word.
const IPV4_IHL5: u32 = 0x45_00_08;

/// A receive batch as [`Forwarder::forward_common`] reads and rewrites it.
pub trait BatchFrames {
    /// How many frames the batch holds.
    fn count(&self) -> usize;
    /// The received bytes of frame `i < count()` (the frame starts at the
    /// slice's first byte).
    fn frame_mut(&mut self, i: usize) -> &mut [u8];
}

impl BatchFrames for [Vec<u8>] {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self[i]
    }
}

/// Which frames of a batch the common case forwarded, and where.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// Bit `i`: frame `i` was forwarded (rewritten in place); the other
    /// frames were not touched.
    pub mask: u64,
    /// Egress port and length (from the frame's start: Ethernet padding
    /// dropped) of each forwarded frame; stale for the others.
    pub out: [(PortId, u32); MAX_HINT_BATCH],
}

impl Default for Forwarded {
    fn default() -> Self {
        Forwarded {
            mask: 0,
            out: [(0, 0); MAX_HINT_BATCH],
        }
    }
}

impl Forwarded {
    /// The egress port and length of frame `i` if the common case
    /// forwarded it.
    #[inline]
    pub fn get(&self, i: usize) -> Option<(PortId, usize)> {
        if i < MAX_HINT_BATCH && self.mask >> i & 1 != 0 {
            let (port, len) = self.out[i];
            Some((port, len as usize))
        } else {
            None
        }
    }
}

impl Forwarder {
    /// Forwards the frames of a batch received on `link` that are the
    /// common case (see the module), using the batch's `hints` (prepared
    /// over the same frames, in order) for their routes; the others are
    /// left untouched for [`process_at`](Self::process_at), in batch order.
    /// Frames beyond the hints' batch are all left.
    pub fn forward_common<B: BatchFrames + ?Sized>(
        &mut self,
        fib: &Fib,
        link: PortId,
        frames: &mut B,
        hints: &RouteHints,
        out: &mut Forwarded,
    ) {
        out.mask = 0;
        // A batch without IPv4 (an IPv6 one) pays one test, not one a frame.
        if !hints.has_v4() {
            return;
        }
        // Once per batch: frames of this link are its own (not a VLAN's:
        // an IPv4 ethertype carries no tag), and it runs no ingress stage.
        let Some(port) = self.ports.get(link as usize) else {
            return;
        };
        let our_mac = port.mac;
        if our_mac.is_multicast() || self.vlans.tagged_only(link) || port.features.urpf.is_some() {
            return;
        }
        // ACLs stay on the common case for the flows whose permit the
        // worker's ACL cache holds (`common_acls_permit`).
        let acl_in = port.features.acl_in;
        // The MAC as the low 48 bits of the frame's first 8 bytes read as
        // one little-endian word (one load and compare per frame).
        let mut mac_word = [0u8; 8];
        mac_word[..6].copy_from_slice(&our_mac.0);
        let our_mac = u64::from_le_bytes(mac_word);
        // The loop is built for each side that has a list or not (the
        // acl-out: any port's, one scan of the ports per batch), so a side
        // without one costs nothing: the check cost the plain case ~11
        // instructions per packet (callgrind).
        let acl_out = self.ports.iter().any(|p| p.features.acl_out.is_some());
        let n = frames.count().min(hints.len());
        let mut acl_in_permits = [None; MAX_HINT_BATCH];
        if acl_in.is_some() {
            self.common_acl_in_permits(acl_in, frames, n, &mut acl_in_permits);
        }
        let permits = &acl_in_permits;
        match (acl_in.is_some(), acl_out) {
            (false, false) => {
                self.common_frames::<false, false, B>(fib, frames, hints, out, our_mac, permits)
            }
            (true, false) => {
                self.common_frames::<true, false, B>(fib, frames, hints, out, our_mac, permits)
            }
            (false, true) => {
                self.common_frames::<false, true, B>(fib, frames, hints, out, our_mac, permits)
            }
            (true, true) => {
                self.common_frames::<true, true, B>(fib, frames, hints, out, our_mac, permits)
            }
        }
    }

    /// [`forward_common`](Self::forward_common)'s loop over the frames, for
    /// a port whose MAC is `our_mac` (as a word). `ACL_IN`: the port has
    /// an acl-in, whose answer for each frame `acl_in_permits` holds;
    /// `ACL_OUT`: some port has an acl-out. Out of line, one function per
    /// case: inlined, the cases' register allocations disturbed each other
    /// (stages off 352.9 -> 381.1 instructions per packet).
    #[inline(never)]
    fn common_frames<const ACL_IN: bool, const ACL_OUT: bool, B: BatchFrames + ?Sized>(
        &mut self,
        fib: &Fib,
        frames: &mut B,
        hints: &RouteHints,
        out: &mut Forwarded,
        our_mac: u64,
        acl_in_permits: &[Option<(usize, bool)>; MAX_HINT_BATCH],
    ) {
        let n = frames.count().min(hints.len());
        let (mut count, mut rx_bytes, mut tx_bytes) = (0u64, 0u64, 0u64);
        let mut acl_cache_hits = 0u64;
        for i in 0..n {
            let frame = frames.frame_mut(i);
            let received = frame.len();
            let Some(h) = frame.first_chunk::<HEADERS>() else {
                continue;
            };
            // Our MAC; IPv4 (08 00) with version 4 and IHL 5 (45): two
            // word compares.
            let dst_mac = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
            let kind = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes"));
            if dst_mac & MAC_MASK != our_mac || kind & 0x00ff_ffff != IPV4_IHL5 {
                continue;
            }
            let ip: &[u8; MIN_HEADER_LEN] = h[ETH_LEN..].try_into().expect("20 bytes");
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            if total < MIN_HEADER_LEN
                || total > received - ETH_LEN
                || ip[8] <= 1
                || !checksum::verify_words(ip)
            {
                continue;
            }
            let src = [ip[12], ip[13], ip[14], ip[15]].into();
            let dst = [ip[16], ip[17], ip[18], ip[19]].into();
            if address_drop(src, dst).is_some() {
                continue;
            }
            // No route or a hint for another address: the pipeline's.
            let group = match hints.dst(i) {
                RouteHint::V4(a, Some(g)) if *a == dst => *g,
                _ => continue,
            };
            let view = Ipv4Packet::new_unchecked(&frame[ETH_LEN..]);
            let Some(&NextHop::Adjacency { port: egress, mac }) =
                fib.select_with(group, || flow_hash_v4(&view))
            else {
                continue;
            };
            let Some(e) = self.ports.get(egress as usize) else {
                continue;
            };
            if e.vlan.is_some() || total > e.mtu as usize {
                continue;
            }
            let egress_mac = e.mac;
            // Each list's counter and whether the cache answered, if it
            // permits the packet by an answer the cache holds.
            let acl_in = match acl_in_permits[i % MAX_HINT_BATCH] {
                _ if !ACL_IN => NO_PERMIT,
                Some(permit) => permit,
                None => continue,
            };
            let acl_out = match e.features.acl_out {
                Some(id) if ACL_OUT => {
                    let Some(permit) = self.common_acl_out_permit(id, ip, total, &frame[HEADERS..])
                    else {
                        continue;
                    };
                    permit
                }
                _ => NO_PERMIT,
            };
            for (counter, cached) in [acl_in, acl_out] {
                self.acl_hits.count(counter);
                acl_cache_hits += cached as u64;
            }
            let len = ETH_LEN + total;
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_LEN..len]);
            ip.decrement_ttl();
            frame[..6].copy_from_slice(&mac.0);
            frame[6..12].copy_from_slice(&egress_mac.0);
            out.mask |= 1 << i;
            // `i < hints.len() <= MAX_HINT_BATCH`: the mask only spares the check.
            out.out[i % MAX_HINT_BATCH] = (egress, len as u32);
            count += 1;
            rx_bytes += received as u64;
            tx_bytes += len as u64;
        }
        let c = &mut self.counters;
        c.rx_frames += count;
        c.rx_bytes += rx_bytes;
        c.forwarded += count;
        c.forwarded_bytes += tx_bytes;
        self.acl_cache.counts.hits += acl_cache_hits;
    }
}
