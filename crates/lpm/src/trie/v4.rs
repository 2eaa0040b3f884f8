//! The single IPv4 walk, without bounds checks: from the direct entry
//! down the wide nodes (they have children) to a leaf, or to the narrow
//! node (16-bit codes, no child) that always ends the walk. The batches'
//! few walks and shared walks (`simd_v4.rs`) take it too.

use super::lookup::entry_unchecked;
use super::{Key, Trie, LEAF, WIDE};
use crate::NextHopId;

/// Where an IPv4 direct leaf keeps its next-hop id beside its code: bits
/// 16..29 hold the id + 1 (0 for no route, whose id is `NONE_ID` =
/// `u32::MAX`), or `ID_ESCAPE` for an id too large to fit, whose leaf is
/// answered through `codes` as before. So the single lookup's leaf path,
/// three quarters of uniform addresses, reads no code table: one L1 load
/// less after the direct entry's miss, which measured 1.09-1.10x uniform
/// single lookups in a scratch build (it is not the load's wrong-path
/// reads: masking its index to the table's size gained 1 %). The code
/// stays in the low 16 bits, so every other reader (batches, walks, the
/// control side) is unchanged, and bits 29 and 30 (`TOP`, `WIDE`) stay
/// clear as in every leaf.
const ID_SHIFT: u32 = 16;
/// The id field's escape value (13 bits): ids from `ID_ESCAPE - 1` up.
const ID_ESCAPE: u32 = (1 << 13) - 1;

/// The direct leaf of `code`, whose next-hop id is `id`.
#[inline]
pub(super) fn direct_leaf_v4(code: u16, id: NextHopId) -> u32 {
    // NONE_ID + 1 wraps to 0: "no route" needs no case of its own.
    LEAF | id.wrapping_add(1).min(ID_ESCAPE) << ID_SHIFT | u32::from(code)
}

/// Whether `id` fits a direct leaf's field (`NONE_ID` does: field 0).
#[inline]
pub(super) fn id_fits_leaf(id: NextHopId) -> bool {
    id.wrapping_add(1) < ID_ESCAPE
}

/// The next-hop id a direct leaf holds, for a table whose ids all fit
/// (`Trie::leaf_ids`). Two operations: subtracting the flag and the
/// field's 1 leaves (id << 16) + code, negative (so `u32::MAX` after the
/// arithmetic shift) for field 0.
#[inline(always)]
fn direct_leaf_id(e: u32) -> NextHopId {
    (e.wrapping_sub(LEAF | 1 << ID_SHIFT) as i32 >> ID_SHIFT) as u32
}

impl<K: Key> Trie<K> {
    /// Writes the next-hop ids into the IPv4 direct leaves `lo..hi` (after
    /// they were written with codes only): every writer of the direct
    /// array ends with this, through `mark_routed`. Nothing for IPv6.
    pub(super) fn stamp_direct_ids(&mut self, lo: usize, hi: usize) {
        if K::BITS != 32 {
            return;
        }
        let hi = hi.min(self.direct.len());
        let Some(entries) = self.direct.get_mut(lo..hi) else {
            return;
        };
        for e in entries.iter_mut().filter(|e| **e & LEAF != 0) {
            let code = *e as u16;
            let id = self.codes.get(usize::from(code)).copied();
            *e = direct_leaf_v4(code, id.unwrap_or(super::NONE_ID));
        }
    }
}

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
/// code indexes (see `lookup::resolve_unchecked`). With `LEAF_IDS`, every
/// id in the table fits a direct leaf's field (`Trie::leaf_ids`): direct
/// leaves are answered from it, without `codes`.
#[inline(always)]
pub(super) unsafe fn id_v4_unchecked<const LEAF_IDS: bool>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    a: u32,
) -> NextHopId {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    debug_assert_eq!(direct.len(), 1 << DIRECT);
    // SAFETY: (each read below) the caller's contract; a leaf's code is
    // its low 16 bits, below codes.len().
    let id = |code: u32| unsafe { *codes.get_unchecked(code as usize) };
    // SAFETY: a >> (32 - DIRECT) < 2^DIRECT = direct.len() (caller's contract).
    let mut e = unsafe { *direct.get_unchecked((a >> (32 - DIRECT)) as usize) };
    if e & LEAF != 0 {
        // No test for an escaped id here: with one inline, LLVM laid the
        // leaf path out with a second taken branch and uniform single
        // lookups ran 0.96-0.99x `main`; the table-wide test is on a
        // value the caller's loop holds (`Trie::leaf_ids`).
        return if LEAF_IDS {
            direct_leaf_id(e)
        } else {
            id(e & 0xffff)
        };
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
/// number of leading address bits it read (as `lookup::walk_with_depth`): what
/// a vector's shared walk needs.
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

/// The rest of [`id_v4_unchecked`] from `e`, the node pointer `a`'s
/// direct entry holds: the leaf entry. What a batch's few addresses that
/// go past the direct array take (`simd_v4::lanes`).
///
/// # Safety
/// As [`id_v4_unchecked`]; `e` is a node pointer of the trie's direct array.
#[inline(always)]
pub(super) unsafe fn walk_v4_from_unchecked(arena: &[u16], e: u32, a: u32) -> u32 {
    // SAFETY: the caller's contract (the depth is computed away).
    unsafe { walk_v4_from_depth_unchecked(arena, e, a).0 }
}

/// [`walk_v4_from_unchecked`] and the depth (as [`walk_v4_depth_unchecked`]).
///
/// # Safety
/// As [`walk_v4_from_unchecked`].
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::BitTrie;
    use crate::testkit::Rng;

    /// Next hops on both sides of the id field's limit (`ID_ESCAPE`), so
    /// that leaves with ids and escaped leaves lie side by side.
    const IDS: [u32; 9] = [
        0,
        1,
        5,
        0x1ffc,
        0x1ffd,
        0x1ffe,
        0x1fff,
        0x2000,
        u32::MAX - 1,
    ];

    /// Every IPv4 direct leaf holds the id its code names (or escapes).
    fn assert_stamped(t: &Trie<u32>) {
        for (i, &e) in t.direct.iter().enumerate() {
            if e & LEAF != 0 {
                let code = e as u16;
                let want = direct_leaf_v4(code, t.codes[usize::from(code)]);
                assert_eq!(e, want, "direct entry {i}");
            }
        }
    }

    fn assert_answers(t: &Trie<u32>, r: &BitTrie, rng: &mut Rng, routes: &[(u32, u8)]) {
        let mut probes: Vec<u32> = (0..3000).map(|_| rng.next_u64() as u32).collect();
        probes.extend(routes.iter().map(|&(k, _)| k));
        for a in probes {
            let want = r.lookup(u128::from(a) << 96).map(|(nh, _)| nh);
            assert_eq!(t.lookup(a), want, "address {a:#x}");
        }
    }

    /// Builds, updates (next hops replaced, so codes are freed and taken
    /// again by other ids; routes removed and added), a rebuild and a
    /// lookup-only copy, with next hops from `ids`; checks every direct
    /// leaf and the answers against the reference after each step.
    fn build_and_update(ids: &[u32], seed: u64) {
        let mut rng = Rng::new(seed);
        let fit = ids.iter().all(|&id| id_fits_leaf(id));
        // Short prefixes (leaves in the direct array) and a few longer ones
        // (nodes), with every next hop of `IDS`.
        let mut routes: Vec<(u32, u8, u32)> = (0..400)
            .map(|_| {
                let len = [0u8, 3, 8, 12, 14, 16, 17, 18, 20, 24][(rng.next_u64() % 10) as usize];
                let nh = ids[(rng.next_u64() % ids.len() as u64) as usize];
                (rng.next_u64() as u32, len, nh)
            })
            .collect();
        let mut t = Trie::<u32>::from_routes(routes.iter().copied()).unwrap();
        let mut r = BitTrie::new();
        for &(k, l, nh) in &routes {
            r.insert(u128::from(k) << 96, l, nh);
        }
        let keys: Vec<(u32, u8)> = routes.iter().map(|&(k, l, _)| (k, l)).collect();
        assert_stamped(&t);
        assert_answers(&t, &r, &mut rng, &keys);
        // Updates: next hops replaced (a code freed and taken again by
        // another id), routes removed and added.
        for round in 0..6 {
            for _ in 0..80 {
                let i = (rng.next_u64() % routes.len() as u64) as usize;
                let (k, l, _) = routes[i];
                if rng.next_u64().is_multiple_of(3) {
                    t.remove(k, l);
                    r.remove(u128::from(k) << 96, l);
                } else {
                    let nh = ids[(rng.next_u64() % ids.len() as u64) as usize];
                    routes[i].2 = nh;
                    t.insert(k, l, nh).unwrap();
                    r.insert(u128::from(k) << 96, l, nh);
                }
            }
            assert_stamped(&t);
            assert_answers(&t, &r, &mut rng, &keys);
            if round == 3 {
                t.rebuild();
                assert_stamped(&t);
                assert_answers(&t, &r, &mut rng, &keys);
            }
        }
        let copy = t.lookup_copy();
        assert_stamped(&copy);
        assert_answers(&copy, &r, &mut rng, &keys);
        assert_eq!(t.leaf_ids, fit);
    }

    #[test]
    fn direct_leaves_answer_their_ids_through_builds_and_updates() {
        build_and_update(&IDS[..5], 17); // all fit: leaves answer from their field
        build_and_update(&IDS, 18); // some escape: through `codes`
    }

    /// A larger id turns the leaves' ids off; a rebuild after its routes
    /// left turns them on again.
    #[test]
    fn leaf_ids_follow_the_ids_in_use() {
        let mut t = Trie::<u32>::from_routes([(0x0a00_0000, 8, 3), (0, 0, 4)]).unwrap();
        assert!(t.leaf_ids);
        t.insert(0x0b00_0000, 8, 0x2000).unwrap();
        assert!(!t.leaf_ids);
        assert_stamped(&t);
        assert_eq!(t.lookup(0x0b01_0203), Some(0x2000));
        assert_eq!(t.lookup(0x0a01_0203), Some(3));
        assert_eq!(t.lookup(0x0c01_0203), Some(4));
        t.remove(0x0b00_0000, 8);
        t.rebuild();
        assert!(t.leaf_ids);
        assert_stamped(&t);
        assert_eq!(t.lookup(0x0b01_0203), Some(4));
        assert_eq!(t.lookup(0x0a01_0203), Some(3));
    }

    #[test]
    fn the_id_field_round_trips_or_escapes() {
        for code in [0u16, 1, 0xffff] {
            for id in [
                0,
                1,
                0x1ffc,
                0x1ffd,
                0x1ffe,
                0x1fff,
                0x2000,
                u32::MAX - 1,
                u32::MAX,
            ] {
                let e = direct_leaf_v4(code, id);
                assert_eq!(e as u16, code);
                assert_eq!(e & (LEAF | WIDE | super::super::TOP), LEAF);
                if id_fits_leaf(id) {
                    assert_eq!(direct_leaf_id(e), id, "code {code} id {id:#x}");
                } else {
                    assert_eq!(
                        e >> ID_SHIFT & ID_ESCAPE,
                        ID_ESCAPE,
                        "code {code} id {id:#x}"
                    );
                }
            }
        }
        assert_eq!(
            direct_leaf_v4(0, super::super::NONE_ID),
            super::super::leaf(0)
        );
    }
}
