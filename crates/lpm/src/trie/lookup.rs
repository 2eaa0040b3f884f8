//! The lookups: one address, and batches whose addresses' memory accesses
//! overlap (here for IPv4: the round's direct entries prefetched, then
//! single walks; per level across the batch
//! for IPv6 in `v6.rs`; AVX-512 lanes for both in `simd.rs` and `simd_v4.rs`).
//!
//! Three things decide speed here, all measured (see README):
//! * Hardware `popcnt`. The default x86-64 target lacks it and `count_ones`
//!   becomes a dozen instructions; the walks are compiled a second time with
//!   `popcnt` enabled and chosen at run time (compiled away when the build
//!   already targets a CPU with it).
//! * No unpredictable branch in a step. A mispredicted branch throws away
//!   the loads other addresses have in flight: a level is one popcount and
//!   one load whatever the slot holds, and "no route" is selected, not
//!   branched on (LLVM turned it into a branch: 2.5x slower on uniform
//!   IPv4 traffic, a third of which has no route).
//! * Fetching ahead. An IPv4 batch prefetches the direct entries of its 64
//!   addresses, then walks each as a single lookup while they load.

use std::mem::MaybeUninit;

use super::v4::{id_v4_from_entry_unchecked, id_v4_unchecked, walk_v4_depth_unchecked};
use super::{v6, Key, Trie, HDR, LEAF, NONE_ID, OFFSET, WIDE};
use crate::{MaybeNextHop, NextHopId};

// Only the AVX-512 batch (`simd_v4.rs`) still takes the generic checked walk.
#[cfg(target_arch = "x86_64")]
/// How an address is cut into direct index and 6-bit slots.
pub(super) trait Addr: Copy {
    /// The address with the direct index's bits shifted out: the next
    /// slot is always its top 6 bits (bits past the address read as 0).
    type Rest: Copy + Default;
    fn direct_index(self) -> usize;
    fn rest(self) -> Self::Rest;
    fn top6(r: Self::Rest) -> u32;
    fn shift6(r: Self::Rest) -> Self::Rest;
}

#[cfg(target_arch = "x86_64")]
/// IPv4 widened to 64 bits so that slots past bit 32 read zeros.
#[derive(Clone, Copy)]
pub(super) struct V4(pub(super) u64);

#[cfg(target_arch = "x86_64")]
impl Addr for V4 {
    type Rest = u64;
    #[inline(always)]
    fn direct_index(self) -> usize {
        (self.0 >> (64 - <u32 as Key>::DIRECT)) as usize
    }
    #[inline(always)]
    fn rest(self) -> u64 {
        self.0 << <u32 as Key>::DIRECT
    }
    #[inline(always)]
    fn top6(r: u64) -> u32 {
        (r >> 58) as u32
    }
    #[inline(always)]
    fn shift6(r: u64) -> u64 {
        r << 6
    }
}

#[cfg(target_arch = "x86_64")]
/// One step down: the entry of slot `s` of the node `e` points to (a node
/// pointer or `LEAF|code`). One popcount and one 32-bit load, no branch on
/// the entry kind or on the node's entry width: a narrow node's entry is
/// the load's low half, marked as a leaf.
#[inline(always)]
pub(super) fn step(arena: &[u16], e: u32, s: u32) -> u32 {
    let o = (e & OFFSET) as usize;
    let Some(&[r0, r1, r2, r3]) = arena.get(o..o + HDR) else {
        return LEAF; // unreachable for a well-formed arena; reads as no route
    };
    let runs = u64::from(r0) | u64::from(r1) << 16 | u64::from(r2) << 32 | u64::from(r3) << 48;
    // Runs that start at or before slot s; bit 0 is always set, so >= 1.
    let rank = (runs << (63 - (s & 63))).count_ones() as usize;
    // 1 for a wide node (32-bit entries), 0 for a narrow one.
    let wide = (e >> 30) & 1;
    let idx = (o + HDR - (1 << wide)).wrapping_add(rank << wide);
    let Some(&[x0, x1]) = arena.get(idx..idx.wrapping_add(2)) else {
        return LEAF;
    };
    let x = u32::from(x0) | u32::from(x1) << 16;
    // A narrow entry is the low half, a code: marked as a leaf, its high
    // half (the next entry) left as is, since every reader of a leaf keeps
    // only its low 16 bits. One OR on the dependent chain.
    x | ((wide ^ 1) << 31)
}

/// The `runs` bitmap of the node at offset `o` (one 8-byte load).
///
/// # Safety
/// `o + HDR <= arena.len()`.
#[inline(always)]
unsafe fn runs_unchecked(arena: &[u16], o: usize) -> u64 {
    debug_assert!(o + HDR <= arena.len());
    let a = arena.as_ptr();
    // SAFETY: the caller's contract.
    unsafe {
        u64::from(*a.add(o))
            | u64::from(*a.add(o + 1)) << 16
            | u64::from(*a.add(o + 2)) << 32
            | u64::from(*a.add(o + 3)) << 48
    }
}

/// Bits 0..=s of a node's `runs`, per slot s: the IPv4 walks' rank is
/// `runs & SLOT_MASKS[s]`, where the mask's load depends on the address
/// only, so the node's chain is load, AND, popcount. The shift it replaces
/// (`runs << (63 - s)`) is on that chain, and without BMI2 (the build
/// targets x86-64-v2) a shift by a register count is several micro-ops:
/// IPv4 single lookups on the cache-resident sequential trace were 1-10 %
/// faster in A/B runs. IPv6 walks keep the shift: with the table their
/// sequential trace was slower in the same runs (74-78 against 86-133
/// Mlps; noisy, not pursued).
pub(super) static SLOT_MASKS: [u64; 64] = {
    let mut m = [0u64; 64];
    let mut s = 0;
    while s < 64 {
        m[s] = u64::MAX >> (63 - s);
        s += 1;
    }
    m
};

/// The entry of slot `s` of a node, the node's width known (`WIDE_NODE`):
/// what IPv4 walks use, since a narrow node has no child and so always
/// ends the walk (one predictable branch per walk, no decoding per level).
/// (IPv6 walks step with `v6::node_step` and `v6::step_any`: their
/// entries are stored without flags, `Trie::to_stored`.)
/// Unchecked reads: see [`id_v4_unchecked`].
///
/// # Safety
/// `e` is a node pointer (of the width `WIDE_NODE` says) taken from the
/// direct array or a wide node of the trie whose arena `arena` is.
#[inline(always)]
pub(super) unsafe fn entry_unchecked<const WIDE_NODE: bool>(arena: &[u16], e: u32, s: u32) -> u32 {
    // A narrow node's pointer is its offset (WIDE and LEAF clear).
    debug_assert!(if WIDE_NODE {
        e & (LEAF | WIDE) == WIDE
    } else {
        e & !OFFSET == 0
    });
    let o = if WIDE_NODE { e & OFFSET } else { e } as usize;
    let a = arena.as_ptr();
    // SAFETY: a node pointer of the trie leads to a node whose header
    // (HDR units) lies in the arena (`Trie::write_node` writes it in a block
    // of `node_words` units that `alloc` took from the arena, and arena
    // blocks are never returned to the allocator while pointed to).
    let runs = unsafe { runs_unchecked(arena, o) };
    // Bit 0 is always set, so rank >= 1 and <= popcount(runs) (the entries).
    let rank = (runs & SLOT_MASKS[(s & 63) as usize]).count_ones() as usize;
    if WIDE_NODE {
        let i = o + HDR + 2 * (rank - 1);
        debug_assert!(i + 2 <= arena.len());
        // SAFETY: the node's popcount(runs) entries of 2 units follow its
        // header inside its block (see above), and rank <= popcount(runs).
        unsafe { u32::from(*a.add(i)) | u32::from(*a.add(i + 1)) << 16 }
    } else {
        let i = o + HDR + rank - 1;
        debug_assert!(i < arena.len());
        // SAFETY: as above, entries of 1 unit.
        LEAF | u32::from(unsafe { *a.add(i) })
    }
}

/// The next-hop id of a leaf entry (a single lookup's answer), without
/// the bounds check on `codes`. "No route" is selected without a branch
/// ([`MaybeNextHop::get`]): whether an address has a route is data, and a
/// branch on it mispredicts on traffic that often has none (uniform
/// addresses: 1 in 3).
///
/// # Safety
/// `e` is a leaf entry of the trie whose code table `codes` is: its code
/// was handed out by `Trie::new_code`, so it is < `codes.len()` (the table
/// only grows, and lookup-only copies clone it whole).
#[inline(always)]
pub(super) unsafe fn resolve_unchecked(codes: &[NextHopId], e: u32) -> Option<NextHopId> {
    // SAFETY: the caller's contract.
    unsafe { answer_unchecked(codes, e) }.get()
}

/// A leaf entry's answer as batches store it: the code table's entry as
/// it is (`NONE_ID`, code 0's, is [`MaybeNextHop::NONE`]), no test at all.
#[inline(always)]
pub(super) fn answer(codes: &[NextHopId], e: u32) -> MaybeNextHop {
    MaybeNextHop(codes.get((e & 0xffff) as usize).copied().unwrap_or(NONE_ID))
}

/// [`answer`] without the bounds check on `codes`.
///
/// # Safety
/// As [`resolve_unchecked`].
#[inline(always)]
pub(super) unsafe fn answer_unchecked(codes: &[NextHopId], e: u32) -> MaybeNextHop {
    debug_assert!(((e & 0xffff) as usize) < codes.len());
    // SAFETY: the caller's contract.
    MaybeNextHop(unsafe { *codes.get_unchecked((e & 0xffff) as usize) })
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn walk<A: Addr>(direct: &[u32], arena: &[u16], a: A) -> u32 {
    let mut e = direct.get(a.direct_index()).copied().unwrap_or(LEAF);
    let mut r = a.rest();
    while e & LEAF == 0 {
        e = step(arena, e, A::top6(r));
        r = A::shift6(r);
    }
    e
}

/// The leaf that answers every address of `group` when one walk does: when
/// all agree with the first on every bit its walk reads (a run of
/// consecutive addresses, or one flow's packets). That walk's lines are in
/// L1 after the first group of a run, so such a group costs one walk where
/// its addresses would walk the same lines one by one (or, in lanes, gather
/// them 16 times per level). The first and last addresses are compared
/// first: other traffic (uniform or inside-prefix addresses never share
/// their first 18 bits) pays one compare and a branch that predicts.
///
/// # Safety
/// As [`id_v4_unchecked`].
#[inline(always)]
pub(super) unsafe fn shared_walk<T: Copy + Into<u32>>(
    direct: &[u32],
    arena: &[u16],
    group: &[T],
) -> Option<u32> {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    let (&first, &last) = (group.first()?, group.last()?);
    let first: u32 = first.into();
    if (first ^ last.into()) >> (32 - DIRECT) != 0 {
        return None;
    }
    let differ = group.iter().fold(0, |d, &a| d | (a.into() ^ first));
    let common = differ.leading_zeros();
    if common < DIRECT {
        return None;
    }
    // SAFETY: the caller's contract.
    let (leaf, depth) = unsafe { walk_v4_depth_unchecked(direct, arena, first) };
    (depth.min(32) <= common).then_some(leaf)
}

/// Addresses per round of the portable IPv4 batch (the data plane's
/// vector).
const ROUND: usize = 64;

/// The portable IPv4 batch: per round of 64, one walk if the round's
/// addresses share it, else the direct entries of all 64 prefetched, then
/// the single lookup's walk per address.
///
/// Measured against single lookups (`examples/lpm_poptrie.rs`, same runs;
/// README, eighteenth and nineteenth sessions): the walk is the single
/// lookup's (`id_v4_unchecked`; the generic checked walk it replaces took
/// 63 instructions per uniform lookup against 16.5); the prefetches, 4
/// instructions an address with no branch, issue every direct miss of the
/// round before the first walk's mispredicted branch can hold them back
/// (uniform 0.72-0.73x -> 0.76-0.79x single lookups by best, inside
/// 0.74 -> 0.81-0.82x); prefetching them 16 addresses ahead, or the first
/// node 8 ahead, gained less or lost. The shared test per round of 64
/// took the sequential trace from 1.5x to 2.1x single lookups. Answers are
/// stored as the code table holds them ([`MaybeNextHop`]). A second shared
/// test per group of 16 in rounds without one (until the nineteenth
/// session) cost uniform and inside traffic more than it gave sequential
/// runs: without it 1.13x and 1.05-1.06x that build, sequential 0.92-0.93x
/// (still 3.1x single lookups); without the prefetches as well, 1.10-1.11x
/// and 1.01-1.02x (two same-run benches each). The prefetch pass keeps
/// each address's direct index (in an array not cleared first), which the
/// walk then reads instead of converting the address again (a load, a
/// byte swap and a shift; the address itself only for a walk past the
/// direct array), and rounds are split off with `split_at` instead of a
/// `chunks` pair (30 instructions a call): callgrind 26.3 -> 23.8
/// instructions per uniform lookup, and in one A/B of 5 rounds batch ÷
/// single 0.94 -> 1.04 (uniform), 1.00 -> 1.03 (inside), 3.4 -> 3.9
/// (sequential; `split_at` alone: 0.96, 1.00, 3.9).
///
/// # Safety
/// As [`id_v4_unchecked`].
#[inline(always)]
unsafe fn batch_v4_unchecked<T: Copy + Into<u32>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    let n = addrs.len().min(out.len());
    let (mut a, mut o) = (&addrs[..n], &mut out[..n]);
    // The same split as the IPv6 batch's (`v6::batch`). A shared helper
    // taking each round as a closure ran IPv6 inside-prefix rounds
    // 0.93-0.95x (two same-run benches, twentieth session), so the few
    // lines stay in both.
    while !a.is_empty() {
        let k = a.len().min(ROUND);
        let (round, at) = a.split_at(k);
        // (`o` is as long as `a`: both cut to n, then split alike.)
        let (o_round, ot) = std::mem::take(&mut o).split_at_mut(k);
        (a, o) = (at, ot);
        // SAFETY: the caller's contract.
        if let Some(leaf) = unsafe { shared_walk(direct, arena, round) } {
            o_round.fill(answer(codes, leaf));
            continue;
        }
        // The direct index of each address of the round (k <= ROUND).
        let mut at = [MaybeUninit::<u32>::uninit(); ROUND];
        for (s, &x) in at.iter_mut().zip(round) {
            let i = x.into() >> (32 - DIRECT);
            prefetch(direct, i as usize);
            s.write(i);
        }
        for ((o, &x), s) in o_round.iter_mut().zip(round).zip(&at) {
            // SAFETY: the loop above wrote an index per address of the
            // round (k <= ROUND of them), < 2^DIRECT = direct.len() (the
            // caller's contract), and `e` is then `x`'s direct entry.
            *o = MaybeNextHop(unsafe {
                let e = *direct.get_unchecked(s.assume_init() as usize);
                id_v4_from_entry_unchecked(arena, codes, e, x.into())
            });
        }
    }
}

/// Starts fetching `table[i]` (a hint: never faults, reads nothing).
#[inline(always)]
fn prefetch<T>(table: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = table.as_ptr().wrapping_add(i) as *const i8;
        // SAFETY: prefetch is a hint that never faults and dereferences
        // nothing; the address is only computed (wrapping), never read here.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (table, i);
}

/// The walks again, compiled with hardware popcount (only needed when the
/// build target does not have it already: `.cargo/config.toml` asks for
/// x86-64-v2, which has).
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
mod popcnt {
    use super::*;

    /// # Safety
    /// As [`id_v4_unchecked`]; and the CPU has popcnt.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn id_v4(
        direct: &[u32],
        arena: &[u16],
        codes: &[NextHopId],
        a: u32,
    ) -> NextHopId {
        // SAFETY: the caller's contract.
        unsafe { id_v4_unchecked(direct, arena, codes, a) }
    }

    /// # Safety
    /// As [`v6::walk`]; and the CPU has popcnt.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn walk_v6(direct: &[u32], arena: &[u16], a: u128) -> u32 {
        // SAFETY: the caller's contract.
        unsafe { v6::walk(direct, arena, a) }
    }

    /// # Safety
    /// As [`id_v4_unchecked`]; and the CPU has popcnt.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn batch_v4_unchecked<T: Copy + Into<u32>>(
        direct: &[u32],
        arena: &[u16],
        codes: &[NextHopId],
        addrs: &[T],
        out: &mut [MaybeNextHop],
    ) {
        // SAFETY: the caller's contract.
        unsafe { super::batch_v4_unchecked(direct, arena, codes, addrs, out) }
    }

    /// # Safety
    /// As [`v6::batch`]; and the CPU has popcnt.
    #[target_feature(enable = "popcnt")]
    pub(super) unsafe fn batch_v6<T: Copy + Into<u128>>(
        direct: &[u32],
        arena: &[u16],
        codes: &[NextHopId],
        addrs: &[T],
        out: &mut [MaybeNextHop],
    ) {
        // SAFETY: the caller's contract.
        unsafe { v6::batch(direct, arena, codes, addrs, out) }
    }
}
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
use popcnt::{batch_v4_unchecked as batch_v4_unchecked_popcnt, batch_v6 as batch_v6_popcnt};
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
use popcnt::{id_v4 as id_v4_popcnt, walk_v6 as walk_v6_popcnt};

/// # Safety
/// As [`id_v4_unchecked`].
#[inline(always)]
unsafe fn id_v4(direct: &[u32], arena: &[u16], codes: &[NextHopId], a: u32) -> NextHopId {
    // SAFETY: the caller's contract.
    unsafe { id_v4_unchecked(direct, arena, codes, a) }
}

// Inlined into callers in other crates (the data plane's lookups): a
// call per lookup cost a third of the rate on traffic that ends in the
// direct array (measured).
///
/// # Safety
/// As [`v6::walk`].
#[inline(always)]
unsafe fn walk_v6(direct: &[u32], arena: &[u16], a: u128) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { v6::walk(direct, arena, a) }
}

#[cfg(target_arch = "x86_64")]
/// A batch with bounds-checked walks: what the AVX-512 batch falls back to
/// for a direct array of the wrong size, which a trie never has.
pub(super) fn batch_v4<T: Copy + Into<u32>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    for (o, &a) in out.iter_mut().zip(addrs) {
        *o = answer(codes, walk(direct, arena, V4(u64::from(a.into()) << 32)));
    }
}

/// # Safety
/// As [`v6::batch`].
unsafe fn batch_v6<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    // SAFETY: the caller's contract.
    unsafe { v6::batch(direct, arena, codes, addrs, out) }
}

impl Trie<u32> {
    /// The next-hop id of `a`'s leaf (`NONE_ID` for no route).
    #[inline]
    fn id_of(&self, a: u32) -> NextHopId {
        let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports popcnt (checked just above), the only
            // target feature the function enables; the fields of this trie
            // (`id_v4_unchecked`'s contract).
            return unsafe { id_v4_popcnt(direct, arena, codes, a) };
        }
        // SAFETY: the fields of this trie (`id_v4_unchecked`'s contract).
        unsafe { id_v4(direct, arena, codes, a) }
    }

    #[inline]
    pub fn lookup(&self, a: u32) -> Option<NextHopId> {
        let id = self.id_of(a);
        std::hint::select_unpredictable(id != NONE_ID, Some(id), None)
    }

    /// Whether the longest match for `a` is the default route.
    pub fn matched_default(&self, a: u32) -> bool {
        // SAFETY: the fields of this trie (`id_v4_unchecked`'s contract).
        let leaf = unsafe { walk_v4_depth_unchecked(&self.direct, &self.arena, a).0 };
        self.is_default_leaf(leaf)
    }

    /// Batches: AVX-512 lanes where the CPU has them, else the portable path.
    pub fn lookup_batch<T: Copy + Into<u32>>(&self, addrs: &[T], out: &mut [MaybeNextHop]) {
        #[cfg(target_arch = "x86_64")]
        if super::simd::available() {
            let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
            // SAFETY: the CPU has every feature `simd_v4::batch_v4` enables
            // (checked just above); this trie's fields.
            return unsafe { super::simd_v4::batch_v4(direct, arena, codes, addrs, out) };
        }
        self.lookup_batch_portable(addrs, out)
    }

    /// The batch path every CPU runs (tests check it beside the AVX-512 one).
    pub fn lookup_batch_portable<T: Copy + Into<u32>>(
        &self,
        addrs: &[T],
        out: &mut [MaybeNextHop],
    ) {
        let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports popcnt (checked just above), the only
            // target feature the function enables; this trie's fields.
            return unsafe { batch_v4_unchecked_popcnt(direct, arena, codes, addrs, out) };
        }
        // SAFETY: this trie's fields (`id_v4_unchecked`'s contract).
        unsafe { batch_v4_unchecked(direct, arena, codes, addrs, out) }
    }
}

impl Trie<u128> {
    #[inline(always)]
    fn leaf_of(&self, a: u128) -> u32 {
        let (direct, arena) = (&self.direct[..], &self.arena[..]);
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports popcnt (checked just above), the only
            // target feature the function enables; this trie's fields.
            return unsafe { walk_v6_popcnt(direct, arena, a) };
        }
        // SAFETY: the direct array and arena of this trie (`v6::walk`'s contract).
        unsafe { walk_v6(direct, arena, a) }
    }

    #[inline(always)]
    pub fn lookup(&self, a: u128) -> Option<NextHopId> {
        // SAFETY: a leaf entry of this trie, and its code table.
        unsafe { resolve_unchecked(&self.codes, self.leaf_of(a)) }
    }

    /// Whether the longest match for `a` is the default route.
    pub fn matched_default(&self, a: u128) -> bool {
        // A direct leaf or a stored one: the code is the low 16 bits.
        self.is_default_leaf(super::leaf(self.leaf_of(a) as u16))
    }

    /// Batches: the portable path on every CPU.
    pub fn lookup_batch<T: Copy + Into<u128>>(&self, addrs: &[T], out: &mut [MaybeNextHop]) {
        // No AVX-512 path: the one there was (gathers in 16 lanes) ran
        // 0.78-0.93x this one on every trace on Zen 4 (sequential 0.78,
        // inside 0.87, uniform 0.93) once the portable batch answered
        // direct leaves eight at a time and took the top index's step in
        // its direct pass (twentieth session, README), and its lookups in
        // benches/forward.rs 0.88-0.90x.
        self.lookup_batch_portable(addrs, out)
    }

    /// The batch path every CPU runs (tests check it beside the AVX-512 one).
    pub fn lookup_batch_portable<T: Copy + Into<u128>>(
        &self,
        addrs: &[T],
        out: &mut [MaybeNextHop],
    ) {
        let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports popcnt (checked just above), the only
            // target feature the function enables; this trie's fields.
            return unsafe { batch_v6_popcnt(direct, arena, codes, addrs, out) };
        }
        // SAFETY: this trie's fields (`v6::batch`'s contract).
        unsafe { batch_v6(direct, arena, codes, addrs, out) }
    }
}
