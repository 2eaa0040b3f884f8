//! The common case over a whole batch, before the frame-by-frame pipeline.
//!
//! Nearly every frame a router sees is a plain IPv4 or IPv6 packet to a
//! route with a resolved neighbour, arriving on a port without uRPF and
//! leaving within its MTU through one without a VLAN tag. For IPv4: IHL 5,
//! TTL > 1, a good checksum, ordinary addresses, and where either port has
//! an ACL, a flow whose permit the worker's ACL cache already holds (each
//! packet's first pass through the pipeline put it there). For IPv6
//! (`common_v6.rs`): no extension header, hop limit > 1, ordinary
//! addresses, not neighbour discovery, and the same of ACLs.
//! [`Forwarder::forward_common`] forwards those in one loop over the batch,
//! as VPP's nodes work on a vector, stage at a time: the route pre-pass
//! (`RouteHints`) tested each plain frame's header while reading its
//! destination ([`common_header_v4`], `common_header_v6`), the batched
//! lookup ran, and here the port's settings are tested once per batch and
//! only the frames whose header passed are visited (the pre-pass's bits):
//! our MAC, the route and egress, then the rewrite (TTL and checksum or
//! hop limit, MACs), counted in sums added to the counters once per batch.
//!
//! A frame that leaves the common case in any way is left untouched for
//! the caller to run through [`Forwarder::process_at`], which starts over
//! from its first byte: the verdicts, bytes and counters are exactly the
//! frame-by-frame pipeline's (a property test holds them together), and
//! only frames whose every test passes are written to.

use super::acl::AclId;
use super::batch::{RouteHints, MAX_HINT_BATCH};
use super::ecmp::flow_hash_v4;
use super::stages::{CommonAclIn, NO_PERMIT};
use super::v4::address_drop;
use super::Forwarder;
use crate::fib::{Fib, NextHop, PortId};
use crate::lpm::NextHopId;
use crate::qos::FlowTuple;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv4::{decrement_nonzero_ttl, MIN_HEADER_LEN};
use crate::wire::{checksum, Ipv4Packet};

/// Ethernet and a 20-byte IPv4 header: what the common case reads of an
/// IPv4 frame, and what every frame it takes has at least.
const HEADERS: usize = ETH_LEN + MIN_HEADER_LEN;

/// The low 48 bits of a little-endian word: a MAC address.
const MAC_MASK: u64 = (1 << 48) - 1;

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

impl BatchFrames for [&mut [u8]] {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        self[i]
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
    /// The output queues' flow fields of each forwarded frame, read by
    /// the common case (or unknown), when `want_tuples`; stale for the
    /// others.
    pub tuples: [FlowTuple; MAX_HINT_BATCH],
    /// Whether the caller's queues take `tuples` (the worker's do): else
    /// the common case does not write them (~18 instructions per IPv4
    /// packet, callgrind, `benches/forward.rs`).
    pub want_tuples: bool,
}

impl Default for Forwarded {
    fn default() -> Self {
        Forwarded {
            mask: 0,
            out: [(0, 0); MAX_HINT_BATCH],
            tuples: [FlowTuple::UNKNOWN; MAX_HINT_BATCH],
            want_tuples: false,
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

    /// The egress port of all the batch's first `n` frames, if the common
    /// case forwarded each of them (and only them: `n` is the batch's
    /// length) and through one port.
    #[inline]
    pub fn single_port(&self, n: usize) -> Option<PortId> {
        if n == 0 || n > MAX_HINT_BATCH || self.mask != u64::MAX >> (MAX_HINT_BATCH - n) {
            return None;
        }
        let port = self.out[0].0;
        self.out[1..n].iter().all(|o| o.0 == port).then_some(port)
    }

    /// The queues' flow fields of frame `i`, which the common case
    /// forwarded (stale otherwise).
    #[inline]
    pub fn tuple(&self, i: usize) -> FlowTuple {
        self.tuples[i % MAX_HINT_BATCH]
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
        // A batch without IP pays one test, not one a frame.
        if !hints.has_v4() && !hints.has_v6() {
            return;
        }
        // Once per batch: frames of this link are its own (not a VLAN's:
        // an IP ethertype carries no tag), and it runs no ingress stage.
        let Some(port) = self.ports.get(link as usize) else {
            return;
        };
        let our_mac = port.mac;
        if our_mac.is_multicast() || self.vlans.tagged_only(link) || port.features.urpf.is_some() {
            return;
        }
        // ACLs stay on the common case for the flows whose permits the
        // worker's ACL cache holds (`common_acl_in`, `common_acl_out_permit`,
        // `common_acl_v6_permit`).
        let acl_in = port.features.acl_in;
        // The MAC as the low 48 bits of the frame's first 8 bytes read as
        // one little-endian word (one load and compare per frame).
        let mut mac_word = [0u8; 8];
        mac_word[..6].copy_from_slice(&our_mac.0);
        let our_mac = u64::from_le_bytes(mac_word);
        let mut pass = Pass {
            frames,
            hints,
            our_mac,
            out,
            sums: Sums::default(),
        };
        // A loop per family: one loop testing both cost IPv4 ~20 more
        // instructions per packet (callgrind), its values no longer all
        // in registers; a frame of the other family costs a loop two
        // compares.
        // The loops are built for each side that has a list or not (the
        // acl-out: any port's, one scan of the ports per batch), so a side
        // without one costs nothing: the check cost the plain case ~11
        // instructions per packet (callgrind).
        let acl_out = self.ports.iter().any(|p| p.features.acl_out.is_some());
        // The kept egresses hold for this batch's group table.
        self.egress.follow(fib);
        let acl_in_answer = self.common_acl_in(acl_in);
        if hints.has_v4() {
            match acl_in_answer {
                CommonAclIn::Every(counter) => {
                    let before = pass.sums.count;
                    self.common_v4_loop::<false, B>(&mut pass, fib, acl_out);
                    // The list's counter, once for the batch's forwarded.
                    self.acl_hits.add(counter, pass.sums.count - before);
                }
                CommonAclIn::None => {}
                // The list's answers the flow cache holds, found by the
                // pre-pass (`flow_cache.rs`); hints prepared without them
                // leave every frame to the pipeline.
                CommonAclIn::Probe(id) if hints.acl_list() == Some(id) => {
                    self.common_v4_loop::<true, B>(&mut pass, fib, acl_out);
                }
                CommonAclIn::Probe(_) => {}
            }
        }
        // IPv6 asks the lists per frame (no batch of keys made first).
        if hints.has_v6() && acl_in_answer != CommonAclIn::None {
            if acl_in.is_some() || acl_out {
                self.common_loop(&mut pass, hints.common_v6(), |f, frame, hints, sent, i| {
                    f.common_v6::<true>(fib, frame, hints, acl_in, sent, i)
                });
            } else {
                self.common_loop(&mut pass, hints.common_v6(), |f, frame, hints, sent, i| {
                    f.common_v6::<false>(fib, frame, hints, None, sent, i)
                });
            }
        }
        let sent = pass.sums;
        let c = &mut self.counters;
        c.rx_frames += sent.count;
        c.rx_bytes += sent.rx_bytes;
        c.forwarded += sent.count;
        c.forwarded_bytes += sent.tx_bytes;
        self.acl_cache.counts.hits += sent.acl_cache_hits;
    }

    /// The IPv4 loop for an acl-in answered per frame by the hints or not
    /// (`ACL_IN`), and for some port's acl-out or not (`acl_out`).
    #[inline(always)]
    fn common_v4_loop<const ACL_IN: bool, B: BatchFrames + ?Sized>(
        &mut self,
        pass: &mut Pass<'_, B>,
        fib: &Fib,
        acl_out: bool,
    ) {
        let plain = pass.hints.common_v4();
        if acl_out {
            self.common_loop(pass, plain, |f, frame, hints, sent, i| {
                f.common_v4::<ACL_IN, true>(fib, frame, hints, sent, i)
            })
        } else {
            self.common_loop(pass, plain, |f, frame, hints, sent, i| {
                f.common_v4::<ACL_IN, false>(fib, frame, hints, sent, i)
            })
        }
    }

    /// One family's loop over the batch: the frames in `plain` (bit `i`:
    /// frame `i`, which the pre-pass found to be the family's plain kind,
    /// see [`RouteHints`]) that are to our MAC go to `family` with the
    /// hints, which forwards each (ending in [`Sent::frame`]) or leaves it
    /// untouched. Out of line: each loop keeps its own registers (inlined,
    /// IPv4 cost ~17 instructions per packet more, IPv6 ~10, callgrind).
    #[inline(never)]
    fn common_loop<B: BatchFrames + ?Sized>(
        &mut self,
        pass: &mut Pass<'_, B>,
        plain: u64,
        mut family: impl FnMut(&mut Self, &mut [u8], &RouteHints, &mut Sent, usize) -> Option<()>,
    ) {
        let n = pass.frames.count().min(pass.hints.len());
        // The sums and mask in locals, added once after the loop: kept in
        // the pass, every frame's bytes written might be them, and each
        // sum was stored per frame.
        let mut sent = Sent {
            out: &mut *pass.out,
            mask: 0,
            sums: Sums::default(),
        };
        // Only the plain frames, by their bits: the pre-pass tested their
        // kind and length already.
        let mut left = if n < MAX_HINT_BATCH {
            plain & ((1 << n) - 1)
        } else {
            plain
        };
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            let frame = pass.frames.frame_mut(i);
            let Some(h) = frame.first_chunk::<8>() else {
                continue;
            };
            // Our MAC: one word compare.
            if u64::from_le_bytes(*h) & MAC_MASK != pass.our_mac {
                continue;
            }
            // `None`: left to the pipeline, untouched.
            let _ = family(self, frame, pass.hints, &mut sent, i);
        }
        // Counted once: one register less in the loop.
        let (mask, mut sums) = (sent.mask, sent.sums);
        sums.count = mask.count_ones() as u64;
        pass.out.mask |= mask;
        pass.sums.add(&sums);
    }

    /// Frame `i`, IPv4 (`08 00 45` found by the pre-pass) to our MAC,
    /// whose destination `hints` looked up: if it is the common case,
    /// rewritten (TTL, checksum, then [`Sent::frame`]); untouched if not.
    /// `ACL_IN`: the port's acl-in permits the frame only by the cached
    /// answer the hints carry; `ACL_OUT`: some port has an acl-out.
    #[inline(always)]
    fn common_v4<const ACL_IN: bool, const ACL_OUT: bool>(
        &mut self,
        fib: &Fib,
        frame: &mut [u8],
        hints: &RouteHints,
        sent: &mut Sent,
        i: usize,
    ) -> Option<()> {
        // The pre-pass tested the header (`common_header_v4`): its length,
        // TTL, checksum and addresses.
        let h = frame.first_chunk::<HEADERS>()?;
        let ip: &[u8; MIN_HEADER_LEN] = h[ETH_LEN..].try_into().expect("20 bytes");
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        // The caller's contract (`RouteHints`): the frame `prepare` tested.
        debug_assert!(
            common_header_v4(h, frame.len()),
            "frame {i} not the one prepared"
        );
        let dst = [ip[16], ip[17], ip[18], ip[19]].into();
        // No route or a hint for another address: the pipeline's.
        let group = hints.dst_v4(i, dst)?.get()?;
        let view = Ipv4Packet::new_unchecked(&frame[ETH_LEN..]);
        let e = self.common_egress(fib, group, || flow_hash_v4(&view), total)?;
        // Each list's counter and whether the cache answered, if it
        // permits the packet by an answer the cache holds.
        let acl_in = if ACL_IN {
            (hints.acl_permit(i)?, true)
        } else {
            NO_PERMIT
        };
        let acl_out = match e.acl_out {
            Some(id) if ACL_OUT => self.common_acl_out_permit(id, &frame[ETH_LEN..], total)?,
            _ => NO_PERMIT,
        };
        for (counter, cached) in [acl_in, acl_out] {
            self.acl_hits.count(counter);
            sent.acl_cache_hit(cached);
        }
        // The queues' flow fields, read while the header is at hand (see
        // `qos::FlowTuple`); the ports only where the packet holds them.
        sent.tuple(i, || {
            let l4 = match total >= MIN_HEADER_LEN + 4 {
                true => frame.get(HEADERS..).and_then(|p| p.first_chunk()),
                false => None,
            };
            FlowTuple::v4(ip, l4)
        });
        let len = ETH_LEN + total;
        let ip: &mut [u8; MIN_HEADER_LEN] =
            (&mut frame[ETH_LEN..HEADERS]).try_into().expect("20 bytes");
        // TTL > 1: the pre-pass tested it.
        decrement_nonzero_ttl(ip);
        sent.frame(i, frame, e, len);
        Some(())
    }

    /// Where a common-case packet of `total` bytes (IP header included)
    /// whose route is `group` leaves: the next hop a complete adjacency on
    /// a port that exists, carries no VLAN tag and has an MTU of `total`
    /// at least; `flow_hash` is asked for groups of several members. From
    /// the worker's kept egresses (`egress.rs`) where the group is there.
    #[inline(always)]
    pub(super) fn common_egress(
        &mut self,
        fib: &Fib,
        group: NextHopId,
        flow_hash: impl FnOnce() -> u32,
        total: usize,
    ) -> Option<CommonEgress> {
        if let Some(e) = self.egress.get(group, total) {
            return Some(CommonEgress {
                port: e.port,
                macs: e.macs,
                acl_out: None,
            });
        }
        self.resolve_egress(fib, group, flow_hash, total)
    }

    /// [`common_egress`](Self::common_egress) from the FIB, keeping the
    /// answer where every flow of the group leaves the same way. Out of
    /// line: the loops keep their registers for the kept groups.
    #[inline(never)]
    fn resolve_egress(
        &mut self,
        fib: &Fib,
        group: NextHopId,
        flow_hash: impl FnOnce() -> u32,
        total: usize,
    ) -> Option<CommonEgress> {
        // A kept group's packet larger than its port's MTU leaves the
        // common case (the pipeline fragments it or answers "too big")
        // without the group resolved and kept once more.
        if self.egress.keeps(group) {
            return None;
        }
        let Some(&NextHop::Adjacency { port, mac }) = fib.select_with(group, flow_hash) else {
            return None;
        };
        let e = self.ports.get(port as usize)?;
        if e.vlan.is_some() {
            return None;
        }
        let mut macs = [0; 12];
        macs[..6].copy_from_slice(&mac.0);
        macs[6..].copy_from_slice(&e.mac.0);
        let (mtu, acl_out) = (e.mtu, e.features.acl_out);
        if acl_out.is_none() && fib.groups().single_path(group) {
            self.egress.insert(group, macs, port, mtu);
        }
        (total <= mtu as usize).then_some(CommonEgress {
            port,
            macs,
            acl_out,
        })
    }
}

/// Whether the IPv4 header of a frame of `received` bytes, plain (`08 00
/// 45`, the pre-pass's kind test) and starting with `h`, is the common
/// case's: a total length from 20 bytes to the frame's, TTL > 1, a good
/// checksum and no address the IPv4 path stops (martian or multicast).
/// The pre-pass asks it while it reads the header for the lookup
/// (`RouteHints`), so the loop after the lookup only rewrites.
#[inline(always)]
pub(super) fn common_header_v4(h: &[u8; HEADERS], received: usize) -> bool {
    let ip: &[u8; MIN_HEADER_LEN] = h[ETH_LEN..].try_into().expect("20 bytes");
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let src = [ip[12], ip[13], ip[14], ip[15]].into();
    let dst = [ip[16], ip[17], ip[18], ip[19]].into();
    (MIN_HEADER_LEN..=received - ETH_LEN).contains(&total)
        && ip[8] > 1
        && checksum::verify_words(ip)
        && address_drop(src, dst).is_none()
}

/// One batch as the family loops see it: its frames and hints, our MAC
/// (the low 48 bits of a word), what they forwarded.
struct Pass<'a, B: ?Sized> {
    frames: &'a mut B,
    hints: &'a RouteHints,
    our_mac: u64,
    out: &'a mut Forwarded,
    sums: Sums,
}

/// What a batch's loops forwarded, added to the counters once per batch.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    count: u64,
    rx_bytes: u64,
    tx_bytes: u64,
    /// Answers the ACL cache gave the frames forwarded.
    acl_cache_hits: u64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.count += other.count;
        self.rx_bytes += other.rx_bytes;
        self.tx_bytes += other.tx_bytes;
        self.acl_cache_hits += other.acl_cache_hits;
    }
}

/// The frames one loop forwarded: where each leaves, which (bit `i`: frame
/// `i`), and their sums.
pub(super) struct Sent<'a> {
    /// Where each forwarded frame's port, length and tuple go (its mask
    /// is written after the loop, from `mask`).
    out: &'a mut Forwarded,
    mask: u64,
    sums: Sums,
}

impl Sent<'_> {
    /// Frame `i` of the batch (`i < MAX_HINT_BATCH`), its IP header
    /// rewritten, leaves through `e`, `len` bytes long: its MACs written
    /// and the frame recorded and counted.
    #[inline(always)]
    pub(super) fn frame(&mut self, i: usize, frame: &mut [u8], e: CommonEgress, len: usize) {
        let received = frame.len();
        frame[..12].copy_from_slice(&e.macs);
        self.mask |= 1 << i;
        // The mask only spares the bounds check.
        self.out.out[i % MAX_HINT_BATCH] = (e.port, len as u32);
        self.sums.rx_bytes += received as u64;
        self.sums.tx_bytes += len as u64;
    }

    /// Records the flow fields of frame `i` (`i < MAX_HINT_BATCH`), about
    /// to be forwarded, if the caller wants them.
    #[inline(always)]
    pub(super) fn tuple(&mut self, i: usize, tuple: impl FnOnce() -> FlowTuple) {
        if self.out.want_tuples {
            self.out.tuples[i % MAX_HINT_BATCH] = tuple();
        }
    }

    /// One more frame forwarded by an answer the ACL cache gave.
    #[inline(always)]
    pub(super) fn acl_cache_hit(&mut self, hit: bool) {
        self.sums.acl_cache_hits += hit as u64;
    }
}

/// Where a frame of the common case leaves ([`Forwarder::common_egress`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct CommonEgress {
    pub port: PortId,
    /// The frame's first 12 bytes: the next hop's MAC, then the egress
    /// port's.
    pub macs: [u8; 12],
    /// The egress port's outbound ACL.
    pub acl_out: Option<AclId>,
}
