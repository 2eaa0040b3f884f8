//! The single IPv4 walk, without bounds checks: from the direct entry
//! down the wide nodes (they have children) to a leaf, or to the narrow
//! node (16-bit codes, no child) that always ends the walk. The batch's
//! walks past the direct array and its shared walks take it too.

use super::lookup::entry_unchecked;
use super::{Key, LEAF, WIDE};
use crate::NextHopId;

/// The single IPv4 lookup, without bounds checks (callgrind: they were ~10
/// of the walk's 30-44 instructions): the next-hop id of the leaf for `a`
/// (`NONE_ID` for no route). Each way the walk ends reads the id of its
/// leaf's code itself: with one leaf entry returned and its code taken
/// after the three ways met, LLVM zero-extended the code again there, and
/// a narrow node's entry (already a bare code) paid for that (sequential
/// trace: 1.06x single lookups, A/B in one process).
///
/// # Safety
/// `direct` and `arena` are the fields of one `Trie<u32>`, whose
/// invariants make every read in bounds: `direct` has `1 << DIRECT`
/// entries (set so at construction; `Trie::apply` puts it back even when
/// a repaint panics), and every node pointer leads to a whole node (see
/// [`entry_unchecked`]); `codes` is its code table, which every leaf's
/// code indexes (see `lookup::resolve_unchecked`).
#[inline(always)]
pub(super) unsafe fn id_v4_unchecked(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    a: u32,
) -> NextHopId {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    debug_assert_eq!(direct.len(), 1 << DIRECT);
    // SAFETY: a >> (32 - DIRECT) < 2^DIRECT = direct.len() (caller's contract).
    let e = unsafe { *direct.get_unchecked((a >> (32 - DIRECT)) as usize) };
    // SAFETY: the caller's contract; `e` is `a`'s direct entry.
    unsafe { id_v4_from_entry_unchecked(arena, codes, e, a) }
}

/// [`id_v4_unchecked`] from `a`'s direct entry `e` on (which a batch has
/// read by an index it kept from its prefetches).
///
/// # Safety
/// As [`id_v4_unchecked`]; `e` is `a`'s entry in the trie's direct array.
#[inline(always)]
pub(super) unsafe fn id_v4_from_entry_unchecked(
    arena: &[u16],
    codes: &[NextHopId],
    mut e: u32,
    a: u32,
) -> NextHopId {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    // SAFETY: (each read below) the caller's contract; a leaf's code is
    // its low 16 bits, below codes.len().
    let id = |code: u32| unsafe { *codes.get_unchecked(code as usize) };
    if e & LEAF != 0 {
        return id(e & 0xffff);
    }
    let mut r = u64::from(a) << (32 + DIRECT);
    while e & WIDE != 0 {
        // SAFETY: `e` is a wide node pointer of this trie (caller's contract).
        e = unsafe { entry_unchecked::<true>(arena, e, (r >> 58) as u32) };
        if e & LEAF != 0 {
            return id(e & 0xffff);
        }
        r <<= 6;
    }
    // SAFETY: `e` is a narrow node pointer of this trie.
    id(unsafe { entry_unchecked::<false>(arena, e, (r >> 58) as u32) } & 0xffff)
}

/// The walk of [`id_v4_unchecked`], returning the leaf entry and the
/// number of leading address bits it read (the direct index, then 6 per
/// node level): every address that agrees with `a` on those bits ends on
/// the same leaf, which is what a shared walk (`lookup::shared_walk`) needs.
///
/// # Safety
/// As [`id_v4_unchecked`].
#[inline(always)]
pub(super) unsafe fn walk_v4_depth_unchecked(direct: &[u32], arena: &[u16], a: u32) -> (u32, u32) {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    debug_assert_eq!(direct.len(), 1 << DIRECT);
    // SAFETY: a >> (32 - DIRECT) < 2^DIRECT = direct.len() (caller's contract).
    let e = unsafe { *direct.get_unchecked((a >> (32 - DIRECT)) as usize) };
    // Most direct entries are leaves (81 % on the CAIDA table): one test.
    if e & LEAF == 0 {
        // SAFETY: a node pointer from this trie's direct array (caller's contract).
        unsafe { walk_v4_from_depth_unchecked(arena, e, a) }
    } else {
        (e, DIRECT)
    }
}

/// The rest of [`walk_v4_depth_unchecked`] from `e`, the node pointer
/// `a`'s direct entry holds: the leaf entry and the depth.
///
/// # Safety
/// As [`id_v4_unchecked`]; `e` is a node pointer of the trie's direct array.
#[inline(always)]
unsafe fn walk_v4_from_depth_unchecked(arena: &[u16], mut e: u32, a: u32) -> (u32, u32) {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    let mut depth = DIRECT;
    let mut r = u64::from(a) << (32 + DIRECT);
    // Wide nodes (they have children) first; a narrow one ends the
    // walk. Leaves from a wide node are `LEAF|code`, so WIDE is clear.
    while e & WIDE != 0 {
        // SAFETY: `e` is a wide node pointer of this trie (caller's contract).
        e = unsafe { entry_unchecked::<true>(arena, e, (r >> 58) as u32) };
        depth += 6;
        if e & LEAF != 0 {
            return (e, depth);
        }
        r <<= 6;
    }
    // SAFETY: `e` is a narrow node pointer of this trie.
    e = unsafe { entry_unchecked::<false>(arena, e, (r >> 58) as u32) };
    (e, depth + 6)
}
