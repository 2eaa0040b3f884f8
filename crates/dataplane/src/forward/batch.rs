//! Route lookups for a whole batch, done before the per-frame pipeline.
//!
//! Inside the pipeline a lookup's cache misses are waited for frame by frame:
//! the ~80 ns of parsing, validation and rewriting between two lookups keep
//! the CPU from reaching the next one while the first is still in memory.
//! Looking up every destination of the batch in one tight loop first lets the
//! out-of-order core overlap those misses, which is what VPP's `ip4-lookup`
//! node gets from working on a vector of packets (benches/forward.rs measured
//! 98 ns per IPv4 packet with per-frame lookups, 13 ns for the lookups alone).
//!
//! The pre-pass reads the destination straight from the frame without
//! validating anything: its answer is a [`RouteHint`] that the pipeline uses
//! only when the destination it parsed and validated itself is the same
//! address. A malformed frame therefore costs at most a wasted lookup, and the
//! verdicts are exactly those of [`Forwarder::process`](super::Forwarder::process).
//!
//! For a port with uRPF on, the sources are looked up in the same batched
//! walks ([`RouteHints::prepare_with_sources`]); other ports' batches look up
//! destinations only. On a port whose acl-in has rules, the worker's flow
//! cache answers the list and, for the flows it holds, the route too
//! ([`Forwarder::prepare_batch`](super::Forwarder::prepare_batch),
//! `flow_cache.rs`): those frames' destinations are not looked up.
//!
//! The pre-pass also makes the common case's (`common.rs`) header tests,
//! stage at a time as VPP's nodes work: it reads each frame's bytes 12..15
//! anyway, and for untagged IPv4 without options, or untagged IPv6, holding
//! the headers, it tests the whole IP header while it reads the destination
//! (length, TTL or hop limit, checksum, addresses, next header); a bit per
//! frame says it passed. Where the CPU has AVX-512 it keeps the words
//! those tests read and tests eight frames at a time after its loop
//! (`header_lanes.rs`). The common case's loops after the lookup visit
//! only those frames, trust the bits and only rewrite, so they must be
//! given the same frames, unchanged since `prepare` (the hints' addresses
//! are still compared with the destinations they read).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::acl::AclId;
use super::common::common_header_v4;
use super::common_v6::common_header_v6;
use super::header_lanes::{lanes_available, lanes_tell_v6, HeaderWords, HeaderWordsV6};
use crate::fib::Fib;
use crate::lpm::{MaybeNextHop, NextHopId};
use crate::wire::ethernet::ethertype;
use crate::wire::vlan::l3_offset;

/// The most frames one [`RouteHints::prepare`] looks up; later frames of a
/// longer batch get no hint (and are looked up one by one).
pub const MAX_HINT_BATCH: usize = 64;

/// Byte offsets of the addresses inside the IP header.
const V4_SRC: usize = 12;
const V4_DST: usize = 16;
const V6_SRC: usize = 8;
const V6_DST: usize = 24;
/// Addresses one batch may look up: a destination and a source per frame.
const MAX_ADDRS: usize = 2 * MAX_HINT_BATCH;

/// The routes of one frame's destination and (for uRPF) source, looked up
/// ahead of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameHint {
    pub dst: RouteHint,
    pub src: RouteHint,
}

impl FrameHint {
    /// No lookups done ahead.
    pub const NONE: FrameHint = FrameHint {
        dst: RouteHint::None,
        src: RouteHint::None,
    };
}

/// The route of one address, looked up ahead of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteHint {
    /// Not looked up (not IP, too short, or beyond the batch).
    #[default]
    None,
    V4(Ipv4Addr, MaybeNextHop),
    V6(Ipv6Addr, MaybeNextHop),
}

impl RouteHint {
    /// The looked-up next hop if `dst` is the address the hint was made for
    /// (by reference: a copy of the hint cost the batch's common case ~13
    /// instructions per packet, callgrind).
    #[inline]
    pub(crate) fn for_v4(&self, dst: Ipv4Addr) -> Option<MaybeNextHop> {
        match self {
            RouteHint::V4(addr, id) if *addr == dst => Some(*id),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn for_v6(&self, dst: Ipv6Addr) -> Option<MaybeNextHop> {
        match self {
            RouteHint::V6(addr, id) if *addr == dst => Some(*id),
            _ => None,
        }
    }
}

/// Where a frame's address is in the batch's lookups: `k < MAX_ADDRS` the
/// `k`th IPv4 address, `MAX_ADDRS + k` the `k`th IPv6 one, or none.
type Slot = u16;
const NO_SLOT: Slot = Slot::MAX;

/// Bytes 12..15 of an untagged IPv4 frame whose header has no options
/// (`08 00 45`), as the low 24 bits of a little-endian word: (mask, value).
pub(super) const IPV4_KIND: (u32, u32) = (0x00ff_ffff, 0x45_00_08);
/// The same of IPv6 (`86 dd`, then version 6 in the high nibble; the
/// traffic class masked out).
pub(super) const IPV6_KIND: (u32, u32) = (0x00f0_ffff, 0x60_dd_86);
/// Ethernet and a 20-byte IPv4 header, and Ethernet and the fixed IPv6
/// header: the least a plain frame of each family holds.
const V4_HEADERS: usize = 14 + 20;
const V6_HEADERS: usize = 14 + 40;

/// Reusable scratch space for a batch's lookups (no allocation per batch).
///
/// The lookups' answers stay where the batched walk wrote them: each frame
/// keeps the slot of its destination (and source), not a copy of the
/// answer (placing each answer by its frame cost ~17 instructions per
/// packet, callgrind).
#[derive(Debug, Clone)]
pub struct RouteHints {
    len: usize,
    /// IPv4 and IPv6 addresses the last batch looked up.
    v4_len: usize,
    v6_len: usize,
    v4_addrs: [Ipv4Addr; MAX_ADDRS],
    v6_addrs: [Ipv6Addr; MAX_ADDRS],
    /// Their answers, as `lookup_batch` writes them (4 bytes each).
    v4_out: [MaybeNextHop; MAX_ADDRS],
    v6_out: [MaybeNextHop; MAX_ADDRS],
    /// Each frame's destination and source slot.
    dst: [Slot; MAX_HINT_BATCH],
    src: [Slot; MAX_HINT_BATCH],
    /// Bit `i`: frame `i` is untagged IPv4 without options (`08 00 45`)
    /// and holds the Ethernet and IPv4 headers at least (the flow cache
    /// keeps such frames' routes).
    plain_v4: u64,
    /// Of those, the frames whose IP header passes the common case's
    /// header tests (`common_header_v4`); the same of untagged IPv6 (`86 dd
    /// 6`) holding the fixed header (`common_header_v6`). Made here while
    /// the pre-pass has the header at hand: the common case's loops visit
    /// only these and do not test the headers again.
    common_v4: u64,
    common_v6: u64,
    /// Routes of the batch taken from the worker's flow cache rather than
    /// looked up ([`Forwarder::prepare_batch`](super::Forwarder::prepare_batch)): the last `v4_cached` of
    /// the IPv4 slots, filled from the top.
    v4_cached: usize,
    /// The acl-in list whose cached answers the hints carry (set by
    /// [`Forwarder::prepare_batch`](super::Forwarder::prepare_batch); `None` after a plain `prepare`), the
    /// frames it permits (bit `i`: frame `i`) and each one's counter.
    acl_list: Option<AclId>,
    acl_permits: u64,
    acl_counters: [u32; MAX_HINT_BATCH],
    /// The plain frames' header words, for the header tests eight frames
    /// at a time (`header_lanes.rs`) where the CPU has AVX-512.
    words: HeaderWords,
    words_v6: HeaderWordsV6,
}

impl Default for RouteHints {
    fn default() -> Self {
        RouteHints {
            len: 0,
            v4_len: 0,
            v6_len: 0,
            v4_addrs: [Ipv4Addr::UNSPECIFIED; MAX_ADDRS],
            v6_addrs: [Ipv6Addr::UNSPECIFIED; MAX_ADDRS],
            v4_out: [MaybeNextHop::NONE; MAX_ADDRS],
            v6_out: [MaybeNextHop::NONE; MAX_ADDRS],
            dst: [NO_SLOT; MAX_HINT_BATCH],
            src: [NO_SLOT; MAX_HINT_BATCH],
            plain_v4: 0,
            common_v4: 0,
            common_v6: 0,
            v4_cached: 0,
            acl_list: None,
            acl_permits: 0,
            acl_counters: [0; MAX_HINT_BATCH],
            words: HeaderWords::default(),
            words_v6: HeaderWordsV6::default(),
        }
    }
}

impl RouteHints {
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks up the destinations of `frames` (the received bytes of each
    /// frame, in batch order) in `fib`, IPv4 and IPv6 each in one batched
    /// trie walk. Replaces the previous batch's hints.
    pub fn prepare<'a>(&mut self, fib: &Fib, frames: impl IntoIterator<Item = &'a [u8]>) {
        self.prepare_with_sources(fib, frames, false)
    }

    /// [`prepare`](Self::prepare), looking up the sources too when
    /// `sources` (the batch's port has uRPF on).
    pub fn prepare_with_sources<'a>(
        &mut self,
        fib: &Fib,
        frames: impl IntoIterator<Item = &'a [u8]>,
        sources: bool,
    ) {
        self.acl_list = None;
        if lanes_available() {
            self.collect::<false, true>(fib, frames, sources, (0, &[0; MAX_HINT_BATCH]));
        } else {
            self.collect::<false, false>(fib, frames, sources, (0, &[0; MAX_HINT_BATCH]));
        }
    }

    /// Starts a batch whose flow cache answers list `list` (a port's
    /// acl-in) for some frames ([`permit`](Self::permit)), before
    /// [`prepare_cached`](Self::prepare_cached).
    pub(super) fn begin_acl_answers(&mut self, list: AclId) {
        self.acl_list = Some(list);
        self.acl_permits = 0;
    }

    /// The list permits frame `i < MAX_HINT_BATCH`, counting at `counter`.
    #[inline(always)]
    pub(super) fn permit(&mut self, i: usize, counter: usize) {
        let i = i % MAX_HINT_BATCH;
        self.acl_permits |= 1 << i;
        self.acl_counters[i] = counter as u32;
    }

    /// [`prepare_with_sources`](Self::prepare_with_sources) keeping the
    /// list's answers, where the frames in `cached.0` have their route
    /// `cached.1[i]` already, looked up in `fib` (by
    /// [`Forwarder::prepare_batch`](super::Forwarder::prepare_batch), its
    /// only caller; no routes are cached when `sources`).
    pub(super) fn prepare_cached<'a>(
        &mut self,
        fib: &Fib,
        frames: impl IntoIterator<Item = &'a [u8]>,
        sources: bool,
        cached: (u64, &[NextHopId; MAX_HINT_BATCH]),
    ) {
        if lanes_available() {
            self.collect::<true, true>(fib, frames, sources, cached);
        } else {
            self.collect::<true, false>(fib, frames, sources, cached);
        }
    }

    /// The loop of both: with `CACHED`, plain IPv4 frames of `cached.0`
    /// take their route from `cached.1` (no sources are looked up then);
    /// with `LANES` (`lanes_available`), the plain frames' header tests
    /// run in lanes after the loop rather than frame by frame in it.
    // The frames' loop is counted on purpose (see in it), so it indexes.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn collect<'a, const CACHED: bool, const LANES: bool>(
        &mut self,
        fib: &Fib,
        frames: impl IntoIterator<Item = &'a [u8]>,
        sources: bool,
        (cached, routes): (u64, &[NextHopId; MAX_HINT_BATCH]),
    ) {
        debug_assert!(!(CACHED && sources && cached != 0));
        // Cached routes fill the IPv4 slots from the top: without sources
        // the looked-up destinations (at most one a frame) never reach them.
        let mut top = MAX_ADDRS;
        let (mut n4, mut n6) = (0usize, 0usize);
        let mut plain_v4 = 0u64;
        let (mut common_v4, mut common_v6) = (0u64, 0u64);
        // With LANES: the plain IPv6 frames tested in lanes after the loop.
        let mut told_v6 = 0u64;
        let mut len = 0;
        // (A counted loop, not `take(..).enumerate()`: that pair cost ~10
        // instructions per frame, callgrind, worker loop.)
        let mut frames = frames.into_iter();
        for i in 0..MAX_HINT_BATCH {
            let Some(frame) = frames.next() else {
                break;
            };
            self.dst[i] = NO_SLOT;
            self.src[i] = NO_SLOT;
            len = i + 1;
            // The plain frames first, by one word compare each (the
            // common case's kind test, made here once for its loops):
            // their addresses are at fixed offsets.
            let word = frame
                .get(12..16)
                .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            if word & IPV4_KIND.0 == IPV4_KIND.1 {
                if let Some(h) = frame.first_chunk::<V4_HEADERS>() {
                    plain_v4 |= 1 << i;
                    // The common case's header tests, in this pass over
                    // the headers (stage at a time: its loop after the
                    // lookup reads only what it rewrites); with LANES the
                    // words they read, tested after the loop.
                    if LANES {
                        self.words.put(i, h, frame.len());
                    } else {
                        common_v4 |= u64::from(common_header_v4(h, frame.len())) << i;
                    }
                    if CACHED && cached >> i & 1 != 0 {
                        top -= 1;
                        let d = &frame[14 + V4_DST..V4_HEADERS];
                        self.v4_addrs[top] = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
                        self.v4_out[top] = MaybeNextHop::some(routes[i]);
                        self.dst[i] = top as Slot;
                        continue;
                    }
                }
                n4 = self.push_v4(n4, i, frame, 14, sources);
                continue;
            }
            if word & IPV6_KIND.0 == IPV6_KIND.1 {
                if let Some(h) = frame.first_chunk::<V6_HEADERS>() {
                    if LANES && lanes_tell_v6(h) {
                        self.words_v6.put(i, h, frame.len());
                        told_v6 |= 1 << i;
                    } else {
                        common_v6 |= u64::from(common_header_v6(h, frame)) << i;
                    }
                }
                n6 = self.push_v6(n6, i, frame, 14, sources);
                continue;
            }
            // Past one 802.1Q tag too: a VLAN's frames get their lookups
            // batched like the link's own.
            match l3_offset(frame) {
                Some((ethertype::IPV4, offset)) => {
                    n4 = self.push_v4(n4, i, frame, offset, sources);
                }
                Some((ethertype::IPV6, offset)) => {
                    n6 = self.push_v6(n6, i, frame, offset, sources);
                }
                _ => {}
            }
        }
        if LANES && plain_v4 != 0 {
            // SAFETY: LANES only where `lanes_available` said so (the
            // lanes' contract).
            common_v4 = unsafe { self.words.passed(len) } & plain_v4;
        }
        if LANES && told_v6 != 0 {
            // SAFETY: as above.
            common_v6 |= unsafe { self.words_v6.passed(len) } & told_v6;
        }
        self.len = len;
        self.v4_len = n4;
        self.v4_cached = MAX_ADDRS - top;
        self.v6_len = n6;
        self.plain_v4 = plain_v4;
        self.common_v4 = common_v4;
        self.common_v6 = common_v6;
        if n4 > 0 {
            fib.v4
                .lookup_batch(&self.v4_addrs[..n4], &mut self.v4_out[..n4]);
        }
        if n6 > 0 {
            fib.v6
                .lookup_batch(&self.v6_addrs[..n6], &mut self.v6_out[..n6]);
        }
    }

    /// Adds the IPv4 destination (and source if `sources`) of frame `i`,
    /// whose IP header starts at `offset`, as the `n`th address to look up;
    /// returns the addresses' count after.
    #[inline(always)]
    fn push_v4(&mut self, n: usize, i: usize, frame: &[u8], offset: usize, sources: bool) -> usize {
        let at = (offset + V4_SRC, offset + V4_DST);
        let slots = (&mut self.dst[i], &mut self.src[i]);
        push_addrs(&mut self.v4_addrs, slots, 0, n, frame, at, sources)
    }

    /// The same for IPv6.
    #[inline(always)]
    fn push_v6(&mut self, n: usize, i: usize, frame: &[u8], offset: usize, sources: bool) -> usize {
        let at = (offset + V6_SRC, offset + V6_DST);
        let slots = (&mut self.dst[i], &mut self.src[i]);
        push_addrs(&mut self.v6_addrs, slots, MAX_ADDRS, n, frame, at, sources)
    }

    /// The hint of the address in `slot`.
    #[inline]
    fn hint(&self, slot: Slot) -> RouteHint {
        let s = usize::from(slot);
        if s < MAX_ADDRS {
            RouteHint::V4(self.v4_addrs[s], self.v4_out[s])
        } else if let Some(k) = s.checked_sub(MAX_ADDRS).filter(|&k| k < MAX_ADDRS) {
            RouteHint::V6(self.v6_addrs[k], self.v6_out[k])
        } else {
            RouteHint::None
        }
    }

    /// The hints for the `i`th frame of the last prepared batch.
    #[inline]
    pub fn get(&self, i: usize) -> FrameHint {
        if i < self.len {
            FrameHint {
                dst: self.hint(self.dst[i]),
                src: self.hint(self.src[i]),
            }
        } else {
            FrameHint::NONE
        }
    }

    /// The looked-up next hop of frame `i < len()`'s destination if it is
    /// the IPv4 address `dst` (as [`RouteHint::for_v4`], without copying
    /// the hint).
    #[inline]
    pub(crate) fn dst_v4(&self, i: usize, dst: Ipv4Addr) -> Option<MaybeNextHop> {
        let s = usize::from(self.dst[i % MAX_HINT_BATCH]);
        (s < MAX_ADDRS && self.v4_addrs[s] == dst).then(|| self.v4_out[s])
    }

    /// The same for IPv6.
    #[inline]
    pub(crate) fn dst_v6(&self, i: usize, dst: Ipv6Addr) -> Option<MaybeNextHop> {
        let k = usize::from(self.dst[i % MAX_HINT_BATCH]).wrapping_sub(MAX_ADDRS);
        (k < MAX_ADDRS && self.v6_addrs[k] == dst).then(|| self.v6_out[k])
    }

    /// The frames of the last batch that are plain IPv4 (bit `i`: frame
    /// `i`; see the field).
    #[inline]
    pub(crate) fn plain_v4(&self) -> u64 {
        self.plain_v4
    }

    /// The plain IPv4 frames of the last batch whose header passed the
    /// common case's tests (bit `i`: frame `i`), and the same of IPv6.
    #[inline]
    pub(crate) fn common_v4(&self) -> u64 {
        self.common_v4
    }

    #[inline]
    pub(crate) fn common_v6(&self) -> u64 {
        self.common_v6
    }

    /// Whether the last batch had an IPv4 destination to look up (without
    /// one, no frame of it is IPv4's common case).
    #[inline]
    pub(crate) fn has_v4(&self) -> bool {
        self.v4_len + self.v4_cached > 0
    }

    /// The looked-up route of frame `i`'s IPv4 destination, if one was
    /// looked up in the batch's walk (not taken from a cache).
    #[inline]
    pub(super) fn looked_up_v4(&self, i: usize) -> Option<MaybeNextHop> {
        let s = usize::from(self.dst[i % MAX_HINT_BATCH]);
        (s < self.v4_len).then(|| self.v4_out[s])
    }

    /// The acl-in list whose cached answers the hints carry
    /// ([`Forwarder::prepare_batch`](super::Forwarder::prepare_batch)).
    #[inline]
    pub(crate) fn acl_list(&self) -> Option<AclId> {
        self.acl_list
    }

    /// The counter of that list's answer for frame `i` if the flow cache
    /// held a permit for it.
    #[inline(always)]
    pub(crate) fn acl_permit(&self, i: usize) -> Option<usize> {
        let i = i % MAX_HINT_BATCH;
        (self.acl_permits >> i & 1 != 0).then(|| self.acl_counters[i] as usize)
    }

    /// The same for IPv6.
    #[inline]
    pub(crate) fn has_v6(&self) -> bool {
        self.v6_len > 0
    }

    /// Frames the last [`prepare`](Self::prepare) saw.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Adds the `N`-byte destination at `at.1` in `frame` (and the source at
/// `at.0` if `sources`) as the `n`th address of `addrs`, their slots
/// (`base + n`) to `slots` (destination, source); returns the addresses'
/// count after. A frame too short for its destination adds nothing.
#[inline(always)]
fn push_addrs<A: From<[u8; N]>, const N: usize>(
    addrs: &mut [A; MAX_ADDRS],
    slots: (&mut Slot, &mut Slot),
    base: usize,
    mut n: usize,
    frame: &[u8],
    at: (usize, usize),
    sources: bool,
) -> usize {
    let Some(d) = frame.get(at.1..).and_then(|d| d.first_chunk::<N>()) else {
        return n;
    };
    addrs[n] = A::from(*d);
    *slots.0 = (base + n) as Slot;
    n += 1;
    // The source lies before the destination: in the frame too.
    if sources {
        if let Some(s) = frame[at.0..].first_chunk::<N>() {
            addrs[n] = A::from(*s);
            *slots.1 = (base + n) as Slot;
            n += 1;
        }
    }
    n
}
