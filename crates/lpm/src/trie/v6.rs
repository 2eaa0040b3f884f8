//! IPv6 walks: the first node levels without a branch on where the walk
//! ends, so consecutive lookups overlap their cache misses.
//!
//! An IPv6 walk that leaves the direct array (18 bits) usually ends five
//! node levels down: a /48 (46 % of the RIS table) is resolved at depth 42,
//! a /44 or /40 (another 19 %) at 42 or 36. The generic walk loops "while
//! the entry is a node", and where it stops varies from address to
//! address, so the loop's exit mispredicts about once per lookup; each
//! misprediction throws away the loads of the lookups the CPU had already
//! started, so the five dependent misses of one lookup were not overlapped
//! with the next one's. Here a walk that reaches a node takes all five
//! levels (depths 18 to 42, all inside the address's upper 64 bits, so
//! slots are constant shifts of one `u64`), the first two in one step of
//! the top index (`top.rs`; the portable batch and the AVX-512 lanes too,
//! not the batches' few walks one by one): a level whose entry is already
//! a leaf steps through the arena's leaf region to `JUNK` (single walks,
//! `walk_from`) or reads a hot node and keeps the leaf (batches). Only
//! longer routes continue in a loop, and that loop's exit is predictable
//! (it is rarely entered).
//!
//! Batches take one walk for a round of alike addresses (see `batch`);
//! other rounds do the same per level across all their addresses that
//! reached a node (addresses that end in the direct array are set aside
//! first, so uniform traffic does not pay the five levels): the levels of
//! different addresses are independent loads, and the CPU keeps many of
//! them in flight.

use super::lookup::{answer, answer_unchecked};
use super::top::{top_entry, top_slot, TOP_LEVELS};
use super::{Key, HDR, JUNK, LEAF, LEAF_REGION, OFFSET, STORED_LEAF_BELOW};
use crate::{MaybeNextHop, NextHopId};

const DIRECT: u32 = <u128 as Key>::DIRECT as u32;
/// Node levels every walk that reaches a node takes (depths 18..48).
pub(super) const FLAT_LEVELS: u32 = 5;
/// Addresses per round of a batch (the data plane's vector).
const CHUNK: usize = 64;
/// Batches with at most this many addresses going on past the direct
/// array walk them one by one, not level by level across the batch.
pub(super) const SCALAR_WALKS: usize = 8;

/// Addresses of a portable round whose direct entries are read first, and
/// how many of them may be nodes for the round to be walked one address
/// at a time, as single lookups are (uniform traffic), rather than by the
/// direct pass and the levels across the round (inside-prefix traffic).
const PROBE: usize = 8;
const PROBE_NODES: usize = 1;

/// The slot of node level `level` (0 = depth 18) in the address's upper half.
#[inline(always)]
pub(super) fn flat_slot(hi: u64, level: u32) -> u32 {
    ((hi >> (64 - DIRECT - 6 * (level + 1))) & 63) as u32
}

/// The direct entry of an address's upper half.
///
/// # Safety
/// `direct` is a trie's direct array (`1 << DIRECT` entries, see
/// `v4::id_v4_unchecked`).
#[inline(always)]
pub(super) unsafe fn direct_entry(direct: &[u32], hi: u64) -> u32 {
    debug_assert_eq!(direct.len(), 1 << DIRECT);
    // SAFETY: hi >> (64 - DIRECT) < 2^DIRECT = direct.len() (caller's contract).
    unsafe { *direct.get_unchecked((hi >> (64 - DIRECT)) as usize) }
}

/// Whether `e`, a direct entry (`LEAF|code` or a node pointer with its
/// flags) or an entry as the arena stores it (a bare code or a bare
/// offset, `Trie::to_stored`), is a node: a direct leaf is negative as an
/// `i32`, a stored leaf below `STORED_LEAF_BELOW`, and no node is either.
#[inline(always)]
pub(super) fn is_node(e: u32) -> bool {
    e as i32 >= STORED_LEAF_BELOW as i32
}

/// The entry (as stored) of slot `s` of the node `e`, a direct entry's
/// node pointer or a stored one.
///
/// # Safety
/// `e` is a node of the trie whose arena `arena` is.
#[inline(always)]
pub(super) unsafe fn node_step(arena: &[u16], e: u32, s: u32) -> u32 {
    debug_assert!(is_node(e));
    // A direct entry's flags masked off; a stored offset has none.
    let o = (e & OFFSET) as usize;
    let a = arena.as_ptr();
    // SAFETY: a node of this trie (caller's contract) is whole inside the
    // arena: its bitmap, then popcount(bitmap) entries of 2 units; its
    // rank is >= 1 (bit 0 opens a run) and <= that count.
    unsafe {
        let runs = u64::from(*a.add(o))
            | u64::from(*a.add(o + 1)) << 16
            | u64::from(*a.add(o + 2)) << 32
            | u64::from(*a.add(o + 3)) << 48;
        let rank = (runs << (63 - (s & 63))).count_ones() as usize;
        debug_assert!(rank >= 1 && o + HDR + 2 * rank <= arena.len());
        let i = o + HDR + 2 * (rank - 1);
        u32::from(*a.add(i)) | u32::from(*a.add(i + 1)) << 16
    }
}

/// One level that keeps a leaf: a node entry steps down, a leaf entry
/// stays (the step then reads `dummy`, a node of the walk that is hot,
/// and is discarded).
///
/// # Safety
/// `e` is a stored entry (a leaf or a node), `dummy` a stored node, of
/// the trie whose arena `arena` is.
#[inline(always)]
unsafe fn step_or_keep(arena: &[u16], e: u32, s: u32, dummy: u32) -> u32 {
    let node = is_node(e);
    let p = std::hint::select_unpredictable(node, e, dummy);
    // SAFETY: `p` is a stored node of this trie (caller's contract).
    std::hint::select_unpredictable(node, unsafe { step_any(arena, p, s).0 }, e)
}

/// The rest of a walk after the flat levels (routes longer than /48).
///
/// # Safety
/// `e` is a leaf or a node (a direct entry or a stored one) of the trie
/// whose arena `arena` is.
#[inline(always)]
pub(super) unsafe fn finish(arena: &[u16], mut e: u32, a: u128) -> u32 {
    let mut r = a << (DIRECT + 6 * FLAT_LEVELS);
    while is_node(e) {
        // SAFETY: `e` is a node of this trie (caller's contract, then each
        // step's answer).
        e = unsafe { node_step(arena, e, (r >> 122) as u32) };
        r <<= 6;
    }
    e
}

/// One lookup: the leaf for `a`, a direct entry (`LEAF|code`) or a stored
/// one (its code): either way its low 16 bits are the code.
///
/// # Safety
/// `direct` and `arena` are one `Trie<u128>`'s fields (see
/// `v4::id_v4_unchecked` for the invariants).
#[inline(always)]
pub(super) unsafe fn walk(direct: &[u32], arena: &[u16], a: u128) -> u32 {
    // SAFETY: the caller's contract.
    let e = unsafe { direct_entry(direct, (a >> 64) as u64) };
    if e & LEAF != 0 {
        return e;
    }
    // SAFETY: `e` is a direct entry of this trie, and a node.
    unsafe { walk_from(arena, e, a) }
}

/// One level from any stored entry of an IPv6 trie (`Trie::to_stored`):
/// a node steps to the slot's entry (rank >= 1), a leaf or `JUNK` to
/// `JUNK` (rank 0, through the arena's leaf region, `LEAF_REGION`). No
/// branch and no select on the entry's kind, and no mask: a stored entry
/// is the offset it is read at (with flags, masking them off was one
/// operation per level on the chain of loads; without it, single lookups
/// ran 1.06-1.09x inside and 1.10x sequential in A/B runs in one process).
/// Returns the entry and the rank.
///
/// # Safety
/// `e` is a stored entry (a leaf, a node or `JUNK`) of the trie
/// (`Trie<u128>`, whose arena starts with the leaf region once it holds a
/// node) whose arena `arena` is, and that arena holds a node.
#[inline(always)]
unsafe fn step_any(arena: &[u16], e: u32, s: u32) -> (u32, usize) {
    // An entry as stored is its node's offset, or a code: no flag to mask.
    let o = e as usize;
    debug_assert!(arena.len() > LEAF_REGION);
    debug_assert!(e & !OFFSET == 0);
    let a = arena.as_ptr();
    // SAFETY: a node's offset leads to a whole node (see
    // `lookup::entry_unchecked`); a stored leaf is its code (< 2^16) and
    // `JUNK` is 0, so their bitmap (4 units) and the entry they
    // select (rank 0: HDR - 2 units on) lie in the leaf region (2^16 + 32
    // units), which the caller's contract says is there.
    let (x, rank) = unsafe {
        let runs = u64::from(*a.add(o))
            | u64::from(*a.add(o + 1)) << 16
            | u64::from(*a.add(o + 2)) << 32
            | u64::from(*a.add(o + 3)) << 48;
        // A node's rank is >= 1 (bit 0 is set); the leaf region's is 0,
        // which reads 2 units into its bitmap: JUNK.
        let rank = (runs << (63 - (s & 63))).count_ones() as usize;
        let i = o + HDR - 2 + 2 * rank;
        (u32::from(*a.add(i)) | u32::from(*a.add(i + 1)) << 16, rank)
    };
    debug_assert!(rank != 0 || x == JUNK);
    (x, rank)
}

/// The walk of `a` from its direct entry `e`, a node: the flat levels,
/// then the rare longer routes. Each level steps from whatever the last
/// one found (`step_any`: a leaf leads to `JUNK`, and `JUNK` to `JUNK`,
/// both with rank 0), and the answer is the entry of the last step whose
/// rank was not 0 (the last step from a node). That select is the
/// popcount's zero flag and a conditional move, one operation per level
/// waiting on its load. Before, the test was `entry != JUNK`: a compare
/// and a move, both waiting on the load, and single lookups ran 0.87x
/// the same walk with no select at all (inside-prefix trace; 0.81x
/// sequential; timing only, wrong answers); with the rank's flag they ran
/// 1.07-1.15x the compare inside, 1.08-1.13x sequential (A/B in one
/// process, three runs).
/// Against a select of the node to read at each level (a leaf read a hot
/// node and was kept: `step_or_keep`, which batches still use), stepping
/// through the leaf region ran 66.4 -> 74.7 Mlps (median of 5, A/B in one
/// process).
///
/// # Safety
/// `first` is a direct entry of the trie whose arena `arena` is, and a
/// node (it has a top index).
#[inline(always)]
pub(super) unsafe fn walk_from(arena: &[u16], first: u32, a: u128) -> u32 {
    // SAFETY: the caller's contract.
    let found = unsafe { flat_walk(arena, first, (a >> 64) as u64) };
    // SAFETY: `found` is a stored leaf or node of this trie.
    unsafe { finish(arena, found, a) }
}

/// The flat levels of [`walk_from`] for the address whose upper half is
/// `hi`: its leaf if it lies at depth 48 or above, else the node at depth
/// 48 (routes longer than /48: [`finish`] goes on from there). Depths 18
/// and 24 are one step of the top index: inside-prefix single lookups ran
/// 1.03-1.04x the two 6-bit levels (A/B in one process), sequential 1.12x.
///
/// # Safety
/// `first` is a direct entry of the trie whose arena `arena` is, and a node.
#[inline(always)]
pub(super) unsafe fn flat_walk(arena: &[u16], first: u32, hi: u64) -> u32 {
    // SAFETY: `first` is a direct entry of this trie that is a node
    // (caller's contract): it has a top index (`Trie::write_top`). Its
    // entry (depth 30, as stored) is a leaf or a node, kept whatever it is.
    let mut e = unsafe { top_entry(arena, first, top_slot(hi)) };
    let mut found = e;
    for level in TOP_LEVELS..FLAT_LEVELS {
        // SAFETY: `e` is what a step returned: a leaf, a node or `JUNK`;
        // the arena holds `first`.
        let (next, rank) = unsafe { step_any(arena, e, flat_slot(hi, level)) };
        // A rank of 0: `e` was a leaf or `JUNK`, so `found` already holds
        // the answer.
        found = std::hint::select_unpredictable(rank != 0, next, found);
        e = next;
    }
    found
}

/// The addresses of a round whose direct entry is a node, by index
/// (packed in order).
pub(super) struct Pending {
    pub(super) idx: [u8; CHUNK],
    pub(super) n: usize,
}

/// The first level of a round (at most `CHUNK` addresses): every address is
/// answered from its direct entry as it is read, as a single lookup would
/// be, and those whose entry is a node are noted in `Pending` (answered
/// again once walked). Nothing else is stored per address, so on traffic
/// that ends in the direct array (uniform addresses: 99.3 %) a batch costs
/// what single lookups do.
///
/// # Safety
/// `direct` is a `Trie<u128>`'s direct array.
#[inline(always)]
pub(super) unsafe fn direct_pass<T: Copy + Into<u128>>(
    direct: &[u32],
    codes: &[NextHopId],
    a: &[T],
    o: &mut [MaybeNextHop],
) -> Pending {
    let mut p = Pending {
        idx: [0; CHUNK],
        n: 0,
    };
    // Plain indices over slices cut to one length: the iterator chain
    // (zip, take, enumerate) compiled to spills and branches per address.
    let m = a.len().min(o.len()).min(CHUNK);
    let (a, o) = (&a[..m], &mut o[..m]);
    for i in 0..m {
        // SAFETY: this trie's direct array (caller's contract).
        let e = unsafe { direct_entry(direct, (a[i].into() >> 64) as u64) };
        // Checked: a node pointer's low bits are no code (such an address
        // is answered again after its walk).
        o[i] = answer(codes, e);
        // Written always, kept only for a node (no branch on the kind).
        p.idx[p.n % CHUNK] = i as u8;
        p.n += usize::from(e & LEAF == 0);
    }
    p
}

/// Walks the noted addresses one by one and answers them: what a round
/// with few of them does (after every other answer is out, so none waits
/// for their misses).
///
/// # Safety
/// `direct`, `arena` and `codes` are one `Trie<u128>`'s fields.
#[inline(always)]
pub(super) unsafe fn walk_pending<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    p: &Pending,
    a: &[T],
    o: &mut [MaybeNextHop],
) {
    for &i in &p.idx[..p.n.min(CHUNK)] {
        let i = usize::from(i);
        if let (Some(o), Some(&x)) = (o.get_mut(i), a.get(i)) {
            // SAFETY: this trie's fields (caller's contract).
            *o = unsafe { answer_unchecked(codes, walk(direct, arena, x.into())) };
        }
    }
}

/// The leaf of every address of `a` when all agree with the first on their
/// upper 64 bits (a run of consecutive addresses, one flow's packets) and
/// the first's walk ends at depth 48 or above: one walk answers the round.
/// The last address is compared first, so that other traffic pays one
/// compare per round.
///
/// # Safety
/// `direct` and `arena` are one `Trie<u128>`'s fields.
#[inline(always)]
pub(super) unsafe fn shared_leaf<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    a: &[T],
) -> Option<u32> {
    let hi = |x: T| (x.into() >> 64) as u64;
    let (&first, &last) = (a.first()?, a.last()?);
    let h = hi(first);
    if hi(last) != h || a.iter().fold(0, |d, &x| d | (hi(x) ^ h)) != 0 {
        return None;
    }
    // SAFETY: this trie's direct array (caller's contract).
    let e = unsafe { direct_entry(direct, h) };
    if e & LEAF != 0 {
        return Some(e);
    }
    // SAFETY: `e` is a direct entry of this trie and a node.
    let leaf = unsafe { flat_walk(arena, e, h) };
    (!is_node(leaf)).then_some(leaf)
}

/// Batches, `CHUNK` addresses per round. A round of alike addresses takes
/// one walk (`shared_leaf`). A round with at most `PROBE_NODES` nodes
/// among its first `PROBE` direct entries (uniform traffic) is walked one
/// address at a time with the single lookup's walk: the direct pass's
/// bookkeeping cost such rounds 34 instructions per lookup against 25
/// (callgrind), and the probe made the portable batch 1.17-1.28x faster on
/// the uniform trace (same-run A/B against the build before, best), at
/// 0.93-0.98x on the sequential trace's rounds that the shared walk
/// refuses (README, eighteenth session). Otherwise direct entries of all,
/// then each flat level for every address that reached a node, then the
/// rare longer walks one by one.
///
/// # Safety
/// `direct`, `arena` and `codes` are one `Trie<u128>`'s fields.
#[inline(always)]
pub(super) unsafe fn batch<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    let n = addrs.len().min(out.len());
    for (a, o) in addrs[..n].chunks(CHUNK).zip(out[..n].chunks_mut(CHUNK)) {
        // SAFETY: this trie's fields (caller's contract).
        if let Some(leaf) = unsafe { shared_leaf(direct, arena, a) } {
            o.fill(answer(codes, leaf));
            continue;
        }
        // Uniform addresses end in the direct array (99.3 %), addresses
        // inside prefixes mostly walk on: the first `PROBE` addresses'
        // direct entries (read again from L1 below) say which this round is.
        let nodes = a.iter().take(PROBE).fold(0, |n, &x| {
            // SAFETY: this trie's direct array (caller's contract).
            let e = unsafe { direct_entry(direct, (x.into() >> 64) as u64) };
            n + usize::from(e & LEAF == 0)
        });
        if nodes <= PROBE_NODES {
            for (o, &x) in o.iter_mut().zip(a) {
                // SAFETY: this trie's fields (caller's contract).
                *o = unsafe { answer_unchecked(codes, walk(direct, arena, x.into())) };
            }
            continue;
        }
        // SAFETY: as above.
        let p = unsafe { direct_pass(direct, codes, a, o) };
        if p.n <= SCALAR_WALKS {
            // Uniform traffic: most rounds have none or one address that
            // goes on (see `simd::batch_v6`).
            // SAFETY: as above.
            unsafe { walk_pending(direct, arena, codes, &p, a, o) };
            continue;
        }
        // The noted addresses' upper halves and entries, packed: the levels
        // then run over dense arrays, without an indirection per step.
        let n_nodes = p.n.min(CHUNK);
        let mut hi = [0u64; CHUNK];
        let mut cur = [0u32; CHUNK];
        for ((&i, h), c) in p.idx[..n_nodes].iter().zip(&mut hi).zip(&mut cur) {
            let x = a.get(usize::from(i)).map_or(0, |&x| x.into());
            *h = (x >> 64) as u64;
            // SAFETY: this trie's direct array (the read is in L1: the
            // direct pass just made it).
            *c = unsafe { direct_entry(direct, *h) };
        }
        // A node every leaf level reads instead (the first noted: a node),
        // as stored (its offset).
        let dummy = cur[0] & OFFSET;
        for (c, &h) in cur[..n_nodes].iter_mut().zip(&hi[..n_nodes]) {
            // SAFETY: `*c` is a direct entry of this trie that is a node
            // (noted by the direct pass): it has a top index.
            *c = unsafe { top_entry(arena, *c, top_slot(h)) };
        }
        for level in TOP_LEVELS..FLAT_LEVELS {
            for (c, &h) in cur[..n_nodes].iter_mut().zip(&hi[..n_nodes]) {
                // SAFETY: `*c` is a leaf or a node of this trie, `dummy` a node.
                *c = unsafe { step_or_keep(arena, *c, flat_slot(h, level), dummy) };
            }
        }
        for (&i, &c) in p.idx[..n_nodes].iter().zip(&cur[..n_nodes]) {
            if let (Some(o), Some(&x)) = (o.get_mut(usize::from(i)), a.get(usize::from(i))) {
                // SAFETY: `c` is a leaf or a node of this trie.
                *o = unsafe { answer_unchecked(codes, finish(arena, c, x.into())) };
            }
        }
    }
}
