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
//! the top index (`top.rs`; the batch too, not its few walks one by one):
//! a level whose entry is already a leaf steps through the arena's leaf
//! region to `JUNK` (single walks,
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

use std::mem::MaybeUninit;

use super::lookup::{answer, answer_unchecked};
use super::top::{top_entry, top_slot, TOP_LEVELS};
use super::{Key, HDR, JUNK, LEAF, LEAF_REGION, OFFSET, STORED_LEAF_BELOW};
use crate::{MaybeNextHop, NextHopId};

const DIRECT: u32 = <u128 as Key>::DIRECT as u32;
/// Node levels every walk that reaches a node takes (depths 18..48).
pub(super) const FLAT_LEVELS: u32 = 5;
/// Addresses per round of a batch (the data plane's vector).
const CHUNK: usize = 64;
/// Addresses per step of the direct pass. Eight once spilled its
/// pointers (four were better then); with the rare path marked
/// (`rare`), eight ran inside-prefix rounds 1.20x single lookups against
/// 1.15x with four, uniform alike (1.07), in one A/B of 6 rounds.
const GROUP: usize = 8;
/// Batches with at most this many addresses going on past the direct
/// array walk them one by one, not level by level across the batch.
pub(super) const SCALAR_WALKS: usize = 8;

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
    let e = unsafe { top_entry(arena, first, top_slot(hi)) };
    // SAFETY: `e` is a stored leaf or node of this trie.
    unsafe { flat_walk_below_top(arena, e, hi) }
}

/// The flat levels of [`flat_walk`] below the top index's step, from its
/// entry `e`.
///
/// # Safety
/// `e` is the top index's entry for `hi` (a stored leaf or node) of the
/// trie whose arena `arena` is.
#[inline(always)]
unsafe fn flat_walk_below_top(arena: &[u16], mut e: u32, hi: u64) -> u32 {
    let mut found = e;
    for level in TOP_LEVELS..FLAT_LEVELS {
        // SAFETY: `e` is what a step returned: a leaf, a node or `JUNK`;
        // the arena holds a node.
        let (next, rank) = unsafe { step_any(arena, e, flat_slot(hi, level)) };
        // A rank of 0: `e` was a leaf or `JUNK`, so `found` already holds
        // the answer.
        found = std::hint::select_unpredictable(rank != 0, next, found);
        e = next;
    }
    found
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

/// Storage for up to `CHUNK` values of which a round writes only the first
/// few (the addresses it walks on), so not cleared first: clearing the
/// three arrays (832 bytes) cost a round of uniform addresses, which notes
/// none or one, 0.8 instructions per lookup.
type Slots<T> = [MaybeUninit<T>; CHUNK];

/// The first `n` values of `s`.
///
/// # Safety
/// `n <= CHUNK` and the first `n` of `s` are written.
#[inline(always)]
unsafe fn written<T>(s: &mut Slots<T>, n: usize) -> &mut [T] {
    debug_assert!(n <= CHUNK);
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the first `n` are
    // initialised (caller's contract).
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), n) }
}

/// The addresses of a round that go on past the direct array, packed in
/// order: index in the round, upper half, and the entry the walk is at.
struct Notes {
    idx: Slots<u8>,
    his: Slots<u64>,
    cur: Slots<u32>,
}

/// The direct level of a round (`a` and `o` of one length, at most
/// `CHUNK`): every leaf answered, every node noted in `notes` (in order);
/// returns how many were noted, whose first that many entries it wrote.
///
/// `GROUP` addresses a step, with one test that all are leaves: per
/// uniform lookup about 9 instructions here, where a step per address
/// with the walk inline took 16 (callgrind; the load, byte swap, shift
/// and load of the direct entry, then the code's load and the answer's
/// store, are 7).
///
/// # Safety
/// `direct` and `codes` are one `Trie<u128>`'s fields.
#[inline(always)]
unsafe fn direct_pass<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    a: &[T],
    o: &mut [MaybeNextHop],
    notes: &mut Notes,
) -> usize {
    let m = a.len().min(o.len()).min(CHUNK);
    let (a, o) = (&a[..m], &mut o[..m]);
    let mut n = 0;
    // Answers a leaf, notes a node (n <= i < m <= CHUNK: one note per
    // address at most).
    let mut one = |o: &mut MaybeNextHop, i: usize, h: u64, e: u32| {
        if e & LEAF != 0 {
            // SAFETY: a direct leaf of this trie and its code table.
            *o = unsafe { answer_unchecked(codes, e) };
        } else {
            debug_assert!(n <= i && i < CHUNK);
            // SAFETY: n <= i < CHUNK (see above); `e` is a direct entry of
            // this trie that is a node, so it has a top index.
            unsafe {
                notes.idx.get_unchecked_mut(n).write(i as u8);
                notes.his.get_unchecked_mut(n).write(h);
                // The walk's first step, here: one pass less over the
                // notes.
                notes
                    .cur
                    .get_unchecked_mut(n)
                    .write(top_entry(arena, e, top_slot(h)));
            }
            n += 1;
        }
    };
    let (ag, _) = a.as_chunks::<GROUP>();
    let (og, _) = o.as_chunks_mut::<GROUP>();
    for (g, (ag, og)) in ag.iter().zip(og.iter_mut()).enumerate() {
        // SAFETY: this trie's direct array (caller's contract).
        let e = ag.map(|x| unsafe { direct_entry(direct, (x.into() >> 64) as u64) });
        // (Spelt out: a fold compiled to a longer test.)
        if (e[0] & e[1] & e[2] & e[3]) & (e[4] & e[5] & e[6] & e[7]) & LEAF != 0 {
            for (o, &e) in og.iter_mut().zip(&e) {
                // SAFETY: a direct leaf of this trie and its code table.
                *o = unsafe { answer_unchecked(codes, e) };
            }
        } else {
            rare();
            // The upper halves read again (from L1; `black_box` hides that
            // they are the ones above) rather than kept from the step's
            // start: kept, they held registers across the common case,
            // which then spilled its pointers (10.5 instructions per
            // uniform lookup against 9.5).
            for (k, (o, &x)) in og.iter_mut().zip(std::hint::black_box(ag)).enumerate() {
                one(o, GROUP * g + k, (x.into() >> 64) as u64, e[k]);
            }
        }
    }
    let steps = m / GROUP * GROUP;
    for (i, (&x, o)) in (steps..).zip(a[steps..].iter().zip(&mut o[steps..])) {
        let h = (x.into() >> 64) as u64;
        // SAFETY: this trie's direct array (caller's contract).
        one(o, i, h, unsafe { direct_entry(direct, h) });
    }
    n
}

/// Marks the path it is called on as rare, so that the register
/// allocator spills there: with the direct pass's notes taking the walk's
/// first step (`top_entry`, the arena's pointer live across the loop),
/// the common step otherwise reloaded the code table's pointer from the
/// stack (callgrind, uniform: 14.96 instructions per lookup, 14.16 with
/// this; inside-prefix traffic, which takes the marked path, 99.7 and
/// 102.2, and in one A/B 1.21 and 1.16 single lookups, uniform 1.04 and
/// 1.08 by best).
#[cold]
#[inline(always)]
fn rare() {}

/// One round (at most `CHUNK` addresses) that no shared walk answers.
///
/// Every address's direct entry is read in order and a leaf answered at
/// once, as a single lookup would; a node notes the address (its index,
/// upper half, and the entry the top index gives for it: the walk's first
/// step, its load issued as soon as the direct entry is in) in a branch. That branch follows the
/// traffic's kind and predicts on both pure kinds: uniform addresses end
/// in the direct array (99.3 %), addresses inside routed prefixes all go
/// on. Then a few noted addresses (at most `SCALAR_WALKS`) take the single
/// lookup's walk one by one; more take each flat level across all of them
/// (independent loads the CPU keeps in flight together), then the rare
/// longer routes one by one.
///
/// # Safety
/// `direct`, `arena` and `codes` are one `Trie<u128>`'s fields.
#[inline(always)]
unsafe fn round<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    a: &[T],
    o: &mut [MaybeNextHop],
) {
    let m = a.len().min(o.len()).min(CHUNK);
    let (a, o) = (&a[..m], &mut o[..m]);
    let mut notes = Notes {
        idx: [MaybeUninit::uninit(); CHUNK],
        his: [MaybeUninit::uninit(); CHUNK],
        cur: [MaybeUninit::uninit(); CHUNK],
    };
    // SAFETY: this trie's direct array and code table (caller's contract).
    let n = unsafe { direct_pass(direct, arena, codes, a, o, &mut notes) };
    if n > 0 {
        // SAFETY: the caller's contract; the direct pass wrote n notes.
        unsafe { walk_notes(direct, arena, codes, a, o, &mut notes, n) };
    }
}

/// The walks of a round's noted addresses. `#[cold]`, though inlined:
/// the register allocator then keeps the direct pass's pointers in
/// registers and spills around this code instead (with the direct pass a
/// separate function, the call and its frame cost uniform traffic 0.6
/// instructions per lookup more, and its time 1.00 against 1.04 single
/// lookups, same run). Inside-prefix rounds, which take this path every
/// time, ran as fast either way.
///
/// # Safety
/// `arena` and `codes` are one `Trie<u128>`'s fields; `notes` holds `n`
/// notes of `a` (`direct_pass`), whose answers go to `o`.
#[cold]
#[inline(always)]
unsafe fn walk_notes<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    a: &[T],
    o: &mut [MaybeNextHop],
    notes: &mut Notes,
    n: usize,
) {
    let m = a.len().min(o.len());
    // SAFETY: the direct pass wrote the first n <= m <= CHUNK of each.
    let (idx, his, cur) = unsafe {
        (
            written(&mut notes.idx, n),
            written(&mut notes.his, n),
            written(&mut notes.cur, n),
        )
    };
    if n <= SCALAR_WALKS {
        for ((&i, &e), &h) in idx.iter().zip(cur.iter()).zip(his.iter()) {
            let i = usize::from(i);
            debug_assert!(i < m);
            // SAFETY: a noted index is an address's (< m); `e` is its
            // top index's entry, a stored leaf or node of this trie.
            unsafe {
                let x = (*a.get_unchecked(i)).into();
                let leaf = finish(arena, flat_walk_below_top(arena, e, h), x);
                *o.get_unchecked_mut(i) = answer_unchecked(codes, leaf);
            }
        }
        return;
    }
    // A node every leaf level reads instead (the first noted address's
    // direct entry, a node, read again from L1), as stored (its offset).
    // SAFETY: this trie's direct array (caller's contract).
    let dummy = unsafe { direct_entry(direct, his[0]) } & OFFSET;
    for level in TOP_LEVELS..FLAT_LEVELS {
        for (c, &h) in cur.iter_mut().zip(his.iter()) {
            // SAFETY: `*c` is a leaf or a node of this trie, `dummy` a node.
            *c = unsafe { step_or_keep(arena, *c, flat_slot(h, level), dummy) };
        }
    }
    for (&i, &e) in idx.iter().zip(cur.iter()) {
        let i = usize::from(i);
        debug_assert!(i < m);
        // SAFETY: a noted index is an address's (< m); `e` is a leaf or a
        // node of this trie, and a leaf's code is in its code table.
        unsafe {
            let e = if is_node(e) {
                finish(arena, e, (*a.get_unchecked(i)).into())
            } else {
                e
            };
            *o.get_unchecked_mut(i) = answer_unchecked(codes, e);
        }
    }
}

/// Batches, `CHUNK` addresses per round: a round of alike addresses takes
/// one walk (`shared_leaf`), any other is a `round`.
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
    let (mut a, mut o) = (&addrs[..n], &mut out[..n]);
    // Split off a round at a time (the data plane passes one): the
    // `chunks` pair cost 30 instructions more per call (callgrind).
    while !a.is_empty() {
        let k = a.len().min(CHUNK);
        let (ar, at) = a.split_at(k);
        // (`o` is as long as `a`: both cut to n, then split alike.)
        let (or, ot) = std::mem::take(&mut o).split_at_mut(k);
        // SAFETY: this trie's fields (caller's contract).
        if let Some(leaf) = unsafe { shared_leaf(direct, arena, ar) } {
            or.fill(answer(codes, leaf));
        } else {
            // SAFETY: as above.
            unsafe { round(direct, arena, codes, ar, or) };
        }
        (a, o) = (at, ot);
    }
}
