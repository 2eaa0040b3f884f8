//! The lookups: one address, and batches whose addresses' memory accesses
//! overlap (here for IPv4: the round's direct entries prefetched, direct
//! leaves answered without a branch, then the others walked; per level
//! across the batch for IPv6 in `v6.rs`).
//! One batch path per family on every CPU: the AVX-512 ones there were
//! (gathers in 16 lanes) lost to these on Zen 4 (see `lookup_batch`).
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
//!   addresses before it reads any.

use std::mem::MaybeUninit;

use super::v4::{id_v4_from_entry_unchecked, id_v4_unchecked, walk_v4_depth_unchecked};
use super::{v6, Key, Trie, HDR, LEAF, NONE_ID, OFFSET, WIDE};
use crate::{MaybeNextHop, NextHopId};

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

/// The leaf that answers every address of `group` when one walk does: when
/// all agree with the first on every bit its walk reads (a run of
/// consecutive addresses, or one flow's packets). That walk's lines are in
/// L1 after the first group of a run, so such a group costs one walk where
/// its addresses would walk the same lines one by one. The first and last addresses are compared
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

/// Addresses per round of the IPv4 batch (the data plane's vector).
const ROUND: usize = 64;

/// The IPv4 batch: per round of 64, one walk if the round's addresses
/// share it; else the direct entries of all 64 prefetched, then read in
/// order, a direct leaf's answer stored and every other address listed,
/// all without a branch on the entry; then the listed addresses walked as
/// single lookups.
///
/// Why this shape (`examples/lpm_poptrie.rs` against single lookups and
/// an earlier build in the same runs; README, eighteenth to twenty-second
/// sessions): the walk is the single lookup's (`id_v4_unchecked`; the
/// generic checked walk it replaces took 63 instructions per uniform
/// lookup against 16.5). The prefetches, 4 instructions an address with
/// no branch, issue every direct miss of the round before the first
/// mispredicted branch can hold them back. Until the twenty-second
/// session each address was then walked in turn, so the leaf-or-node
/// branch (a node for one uniform address in five) still mispredicted
/// between them and threw away the direct reads behind it: the batch ran
/// level with single lookups on uniform traffic (0.99-1.01x). Answering
/// the direct leaves first without that branch, and listing the rest:
/// 1.28x / 1.29x that build on uniform traffic, 1.21x / 1.17x inside
/// prefixes, 1.04x / 1.03x sequential (best / median, one run; four more
/// against the AVX-512 batch it replaced agree; that build also
/// prefetched each listed node's header, which cost uniform traffic
/// 5-7 % and gave inside prefixes nothing, two runs, so it went).
/// Stepping the listed addresses level by level across the round instead
/// of walking each (one list per level) lost: 0.89x uniform, 0.71x-0.86x
/// inside.
///
/// The shared test per round of 64 took the sequential trace from 1.5x to
/// 2.1x single lookups; a second one per group of 16 cost uniform and
/// inside traffic more than it gave (nineteenth session). The prefetch
/// pass keeps each address's direct index, which the next pass reads
/// instead of converting the address again, and rounds are split off with
/// `split_at` instead of a `chunks` pair (30 instructions a call).
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
        let mut idx = [MaybeUninit::<u32>::uninit(); ROUND];
        for (s, &x) in idx.iter_mut().zip(round) {
            let i = x.into() >> (32 - DIRECT);
            prefetch(direct, i as usize);
            s.write(i);
        }
        // The round's addresses whose direct entry is a node: (index in
        // the round, entry).
        let mut nodes = [MaybeUninit::<(u32, u32)>::uninit(); ROUND];
        let mut n_nodes = 0;
        for (j, (o, s)) in o_round.iter_mut().zip(&idx).enumerate() {
            // SAFETY: the loop above wrote an index per address of the
            // round (k <= ROUND of them), < 2^DIRECT = direct.len() (the
            // caller's contract).
            let e = unsafe { *direct.get_unchecked(s.assume_init() as usize) };
            // All ones for a leaf (LEAF is the top bit), else zero.
            let leaf_mask = ((e as i32) >> 31) as u32;
            // A leaf's answer; a node's is code 0's (no route), written
            // again below.
            // SAFETY: a leaf entry of this trie, or 0, whose code 0 every
            // code table has (`Trie::codes`).
            *o = unsafe { answer_unchecked(codes, e & leaf_mask) };
            // Written for every address, kept (counted) for nodes only.
            // SAFETY: n_nodes <= j < k <= ROUND = nodes.len().
            unsafe { nodes.get_unchecked_mut(n_nodes) }.write((j as u32, e));
            n_nodes += usize::from(leaf_mask == 0);
        }
        for s in &nodes[..n_nodes] {
            // SAFETY: the loop above wrote the first n_nodes.
            let (j, e) = unsafe { s.assume_init() };
            let j = j as usize;
            // SAFETY: j < k = round.len() = o_round.len(), and `e` is
            // round[j]'s direct entry, a node pointer (the caller's
            // contract makes the walk's reads in bounds).
            unsafe {
                let x = (*round.get_unchecked(j)).into();
                *o_round.get_unchecked_mut(j) =
                    MaybeNextHop(id_v4_from_entry_unchecked(arena, codes, e, x));
            }
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

    /// Batches: one path on every CPU (see [`batch_v4_unchecked`]). The
    /// AVX-512 one there was until the twenty-second session (16 lanes
    /// gathering their direct entries, then rounds of gathers per node
    /// level, or the few node addresses walked one by one) ran 0.85-0.90x
    /// this one on inside-prefix and sequential traffic and level on
    /// uniform (0.94-1.20x by best and median, five same-run benches), and
    /// its lookups in benches/forward.rs 1.24x as long (README).
    pub fn lookup_batch<T: Copy + Into<u32>>(&self, addrs: &[T], out: &mut [MaybeNextHop]) {
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

    /// Batches: one path on every CPU (`v6::batch`). The AVX-512 one
    /// there was (gathers in 16 lanes) ran 0.78-0.93x this one on every
    /// trace on Zen 4 (sequential 0.78, inside 0.87, uniform 0.93) once
    /// this one answered direct leaves eight at a time and took the top
    /// index's step in its direct pass (twentieth session, README), and
    /// its lookups in benches/forward.rs 0.88-0.90x.
    pub fn lookup_batch<T: Copy + Into<u128>>(&self, addrs: &[T], out: &mut [MaybeNextHop]) {
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
