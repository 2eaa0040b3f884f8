//! A measurement tool, not a table: lookup-only IPv4 copies of a finished
//! trie with a smaller direct array, to answer (issue 17) whether cutting
//! the 1 MiB direct array's footprint makes uniform single lookups fast
//! enough to be worth building for real (README, "Twentieth session";
//! `lnxv`, "Twenty-third session").
//! Nothing here is updated in place; `examples/lpm_poptrie.rs` times the
//! variants (`LPM_FROZEN`). One layout left the tool: the `lnxv` copy is
//! what published IPv4 tables carry (`packed.rs`, twenty-fourth session).
//!
//! The layouts, all built from `Trie<u32>`'s direct array and arena
//! (`FrozenVariant` names the lookups over them):
//!
//! * `D16`: the direct array as `u16` (512 KiB). A leaf is `0x8000|code`
//!   (codes < 2^14, else the copy is refused: a real build would need an
//!   escape); a node is `WIDE16?|rel` where `rel` is its offset in 8-byte
//!   units (`ALIGN`) from the base (an address) of its block of `1 << BLOCK` direct
//!   entries. The bases are an 8 KiB table indexed by the address
//!   alone, so its load (L1) runs beside the direct entry's, not after
//!   it. The nodes are copied block by block (each block's subtrees
//!   together, depth first), so every `rel` fits 14 bits; child pointers
//!   in wide nodes stay absolute. The copy's arena starts with a zero
//!   node (`ZERO_NODE`) for the branch-free step below.
//! * `D16` with byte-wide narrow nodes (`n8`, codes < 256): each node
//!   with no child stores its entries as `u8` codes after its bitmap
//!   (8 + n bytes, padded to 8), where the trie stores `u16`: the nodes a
//!   uniform address reaches shrink as the direct array did.
//! * `D16` with leaf nodes (`ln`, with or without `n8`): no direct entry
//!   is a leaf. A leaf of code c is `2c`, the c-th node of a table of
//!   one-slot nodes (16 bytes each: a bitmap of slot 0, entry c) laid
//!   again every 32 KiB of arena, and a block's base is the start of the
//!   last table laid before it. So every lookup steps one narrow node
//!   (its own, or its leaf's, which stays in L1/L2) with no branch on the
//!   entry's kind and no select; only wide nodes branch.
//! * `lnx` (`n8` + `ln`, no bases): a node's offset is signed, from the
//!   direct entry's own line (`Layout16::new_linear`).
//! * `lnxv` (the twenty-third session): `lnx` whose leaves store the
//!   next-hop id + 1 (0: no route) in place of a code, so a lookup ends
//!   on the byte it reads, with no load from the code table after it
//!   (made when every id + 1 fits the byte entries). Poptrie's leaves
//!   hold its next hops so. Its slot mask comes from `SLOT_MASKS_BYTE`.
//! * `D8` (an upper bound on the footprint, 256 KiB): the direct array as
//!   `u8`, a leaf its code (codes < 128), a node `0x80|i`, the i-th node
//!   pointer of its block of 128 entries in a `u32` array (`ptrs`, reached
//!   through an 8 KiB table of per-block starts). A node costs one more
//!   dependent load.

mod layout;
mod packed;

pub use packed::{PackedV4, PACKED_MAX_ID};

use super::lookup::{entry_unchecked, SLOT_MASKS};
use super::{Trie, ALIGN, HDR, LEAF, WIDE};
use crate::NextHopId;

/// Direct entries per `D16` block: `1 << BLOCK` (a /10 per block with 18
/// direct bits: 1,024 bases, 8 KiB).
const BLOCK: u32 = 8;
/// A `D16` entry that is a leaf.
const LEAF16: u32 = 0x8000;
/// A `D16` node entry whose node is wide.
const WIDE16: u32 = 0x4000;
/// `D16` node offsets (in `ALIGN` units) and leaf codes.
const REL16: u32 = WIDE16 - 1;
/// Direct entries per `D8` block: at most 128 nodes, so `i` fits 7 bits.
const BLOCK8: u32 = 7;
/// Units of the zero node at the copy's start: a narrow step from offset
/// 0 reads a bitmap of zeros (rank 0) and the unit before the entries.
const ZERO_NODE: usize = 2 * ALIGN;
const DIRECT: u32 = 18;
/// `lnxv` direct entries in `WIDE_D..WIDE_D_END` are wide nodes, entry
/// `d` the pointer `wides[d - WIDE_D]`; the others are offsets from the
/// entry's line in 8-byte units, 16,384 behind (the most its placement
/// leaves a leaf table behind) to 32,767 ahead.
const WIDE_D: i32 = i16::MIN as i32;
const WIDE_D_END: i32 = -(1 << 14);
/// Units of a one-slot leaf node (`Layout16::new` with `leaf_nodes`).
const LEAF_NODE: usize = 8;
/// Units between copies of the leaf-node table: a block's nodes must lie
/// within 2^14 × 8 bytes (2^16 units) of its base, the last copy's start.
const LEAF_TABLE_EVERY: usize = 1 << 14;

/// From a byte-wide narrow node's address plus its entry's rank to the
/// entry: the 8-byte bitmap, then the entries from rank 1.
const NARROW8_ENTRY: usize = 2 * HDR - 1;

/// `SLOT_MASKS` repeated four times, indexed by the address's second
/// byte from the right (its slot is that byte's low 6 bits with an
/// 18-bit direct array): LLVM reads it with one `movzbl %ch`-style move
/// where the slot took two shifts, on a loop that is ALU-bound on the
/// cache-resident sequential trace (`lnxv` only; README, "Twenty-third
/// session").
static SLOT_MASKS_BYTE: [u64; 256] = {
    let mut m = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        m[i] = u64::MAX >> (63 - (i & 63));
        i += 1;
    }
    m
};

/// `zero + 8 * t` in one `lea`. LLVM formed it in two micro-ops
/// (`lea 0(,%rcx,8)`, then `add`) whatever the source's shape, which
/// cost `lnxv` 5-7 % on every IPv4 trace (the sequential one is
/// ALU-bound); with the `lea` it runs level with the fast placement's
/// `arena + 4 * (2s + d)` (README, "Twenty-third session").
#[inline(always)]
fn node_address(zero: usize, t: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let p: usize;
        // SAFETY: arithmetic on registers only (no memory, no flags).
        unsafe {
            std::arch::asm!(
                "lea {p}, [{z} + {t} * 8]",
                p = lateout(reg) p,
                z = in(reg) zero,
                t = in(reg) t,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        p
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        zero + 8 * t
    }
}

/// Which single lookup [`FrozenV4::lookup`] runs (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrozenVariant {
    /// `D16`, the walk of `v4::id_v4_unchecked` after the direct entry.
    D16,
    /// `D16`, no branch on a leaf or a narrow node's first step: the
    /// narrow step is taken from offset 0 (the zero node) for a leaf and
    /// its result dropped by a select; only wide nodes branch.
    D16BranchFree,
    /// `D16` over the copy with byte-wide narrow nodes (when the table
    /// has < 256 codes).
    D16N8,
    /// [`FrozenVariant::D16BranchFree`] over that copy.
    D16N8BranchFree,
    /// `D16` whose leaves point to one-slot nodes: every direct entry
    /// steps a node, no branch on the entry's kind, no select (only wide
    /// nodes branch).
    D16LeafNodes,
    /// That with byte-wide narrow nodes.
    D16N8LeafNodes,
    /// That without the base table (`Layout16::new_linear`).
    D16N8LeafNodesLinear,
    /// That with next-hop ids + 1 in the leaves (no code table), offsets
    /// reaching 256 KiB ahead and wide direct entries in a side table.
    D16N8LeafNodesLinearValues,
    /// The `n8` leaf-node copy read by `D16N8`'s code (its leaf test
    /// never true there): the same data as `D16N8LeafNodes`, the other
    /// loop, to tell the two apart.
    D16N8LeafNodesByD16,
    /// `D8` (when the table has < 128 codes), walk as `D16`.
    D8,
    /// `D16` with the node slot taken one bit off: wrong answers on
    /// purpose, to show that the harness's check catches them.
    D16Wrong,
}

/// Sizes of a copy (what its lookups can touch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenStats {
    pub direct16_bytes: usize,
    pub direct8_bytes: usize,
    pub node_bytes: usize,
    /// The `n8` copy's nodes (0 without it).
    pub node_bytes_n8: usize,
    /// The leaf-node copies' nodes, leaf-node tables included (`u16`,
    /// `n8`; 0 without them).
    pub node_bytes_ln: (usize, usize),
    /// The `lnx` copy's arena (padding included) and its nodes' largest
    /// drift ahead of their line, bytes; or why it could not be made.
    pub arena_bytes_lnx: Result<(usize, usize), String>,
    /// The same for the `lnxv` copy.
    pub arena_bytes_lnxv: Result<(usize, usize), String>,
    /// Nanoseconds `FrozenV4::new` took for each copy (`D16`, `n8`).
    pub build_ns: (u128, u128),
    /// Largest span of one `D16` block's nodes, bytes (must stay < 128 KiB).
    pub max_block_bytes: usize,
    /// Direct entries that are wide nodes (the branch the branch-free
    /// variant keeps).
    pub wide_direct: usize,
    pub ptrs: usize,
}

/// One `D16` copy: direct array, block bases, nodes. Not `Clone`: the
/// bases are addresses into this arena, which a clone would not own.
#[derive(Debug)]
struct Layout16 {
    direct16: Vec<u16>,
    /// Address of each block's first node (provenance exposed: the
    /// arena is never changed or moved once built).
    bases: Vec<usize>,
    /// Address of the zero node (the arena's start).
    zero: usize,
    arena: Vec<u16>,
    /// `lnxv`'s wide direct entries' node pointers (empty in the others).
    wides: Vec<u32>,
}

/// A lookup-only IPv4 copy with a 16-bit (and, with few codes, an 8-bit)
/// direct array. See the module docs. Moving it keeps the arenas where
/// they are (their heap blocks), so the addresses stay valid.
#[derive(Debug)]
pub struct FrozenV4 {
    l16: Layout16,
    /// The copy with byte-wide narrow nodes (codes < 256).
    n8: Option<Layout16>,
    /// Copies whose direct entries are all node pointers (leaves point
    /// to one-slot nodes): `u16` and byte-wide narrow nodes.
    ln: Option<Layout16>,
    n8ln: Option<Layout16>,
    /// `n8` leaf nodes without bases (`Layout16::new_linear`).
    n8lnx: Option<Layout16>,
    /// That with id + 1 in place of codes: the data plane's packed copy
    /// (every id + 1 < 256).
    n8lnxv: Option<PackedV4>,
    direct8: Vec<u8>,
    starts8: Vec<u32>,
    /// Node pointers into `l16.arena`.
    ptrs: Vec<u32>,
    codes: Vec<NextHopId>,
    stats: FrozenStats,
}

impl FrozenV4 {
    /// The copy of `t`, or why it cannot be made (codes ≥ 2^14, a block's
    /// nodes past 14 bits of offset).
    pub(crate) fn new(t: &Trie<u32>) -> Result<Self, String> {
        let n = 1usize << DIRECT;
        if t.direct.len() != n {
            return Err("direct array is not 2^18 entries".into());
        }
        if t.codes.len() > REL16 as usize + 1 {
            return Err(format!("{} codes: more than 2^14", t.codes.len()));
        }
        let t0 = std::time::Instant::now();
        let (l16, copied, max_block, wide_direct) = Layout16::new(t, false, false)?;
        let build16 = t0.elapsed().as_nanos();
        let t0 = std::time::Instant::now();
        let n8 = if t.codes.len() <= 0x100 {
            Some(Layout16::new(t, true, false)?.0)
        } else {
            None
        };
        let ln = Layout16::new(t, false, true).ok().map(|l| l.0);
        let n8ln = n8
            .as_ref()
            .and_then(|_| Layout16::new(t, true, true).ok())
            .map(|l| l.0);
        let leaf_tables_fit = n8.is_some() && t.codes.len() * LEAF_NODE * 4 <= LEAF_TABLE_EVERY;
        let n8lnx = if leaf_tables_fit {
            Layout16::new_linear(t, true, None, false)
        } else {
            Err("codes".into())
        };
        // `lnxv` is the data plane's packed copy (`packed.rs`).
        let n8lnxv = PackedV4::new(t);
        let arena_bytes_lnxv = n8lnxv
            .as_ref()
            .map(PackedV4::arena_and_ahead)
            .map_err(Clone::clone);
        let n8lnxv = n8lnxv.ok();
        let arena_bytes_lnx = n8lnx
            .as_ref()
            .map(|(l, a)| (l.arena.len() * 2, *a))
            .map_err(Clone::clone);
        let n8lnx = n8lnx.ok().map(|l| l.0);
        let build8 = t0.elapsed().as_nanos();

        let (mut direct8, mut starts8, mut ptrs) = (Vec::new(), Vec::new(), Vec::new());
        if t.codes.len() <= 0x80 {
            direct8 = vec![0u8; n];
            starts8 = vec![0u32; n >> BLOCK8];
            for (b, start) in starts8.iter_mut().enumerate() {
                *start = ptrs.len() as u32;
                for s in b << BLOCK8..(b + 1) << BLOCK8 {
                    let e = t.direct[s];
                    direct8[s] = if e & LEAF != 0 {
                        e as u8
                    } else {
                        ptrs.push(copied[s]);
                        0x80 | (ptrs.len() - 1 - *start as usize) as u8
                    };
                }
            }
        }
        let stats = FrozenStats {
            direct16_bytes: l16.direct16.len() * 2 + l16.bases.len() * 8,
            direct8_bytes: direct8.len() + starts8.len() * 4 + ptrs.len() * 4,
            node_bytes: l16.arena.len() * 2,
            node_bytes_n8: n8.as_ref().map_or(0, |l| l.arena.len() * 2),
            node_bytes_ln: (
                ln.as_ref().map_or(0, |l| l.arena.len() * 2),
                n8ln.as_ref().map_or(0, |l| l.arena.len() * 2),
            ),
            arena_bytes_lnx,
            arena_bytes_lnxv,
            build_ns: (build16, build8),
            max_block_bytes: max_block * 2,
            wide_direct,
            ptrs: ptrs.len(),
        };
        Ok(FrozenV4 {
            l16,
            n8,
            ln,
            n8ln,
            n8lnx,
            n8lnxv,
            direct8,
            starts8,
            ptrs,
            codes: t.codes.clone(),
            stats,
        })
    }

    pub fn stats(&self) -> FrozenStats {
        self.stats.clone()
    }

    /// Whether `D8` was built (the table has at most 128 codes).
    pub fn has_d8(&self) -> bool {
        !self.direct8.is_empty()
    }

    /// The next hop of `a` by variant `v` (`D8` answers `None` when
    /// [`FrozenV4::has_d8`] is false). The variant is a constant at every
    /// call the harness makes, so it folds away.
    #[inline(always)]
    pub fn lookup(&self, v: FrozenVariant, a: u32) -> Option<NextHopId> {
        let id = match v {
            FrozenVariant::D16 => Self::id16::<false, false, false>(&self.l16, &self.codes, a),
            FrozenVariant::D16BranchFree => {
                Self::id16::<true, false, false>(&self.l16, &self.codes, a)
            }
            FrozenVariant::D16Wrong => Self::id16::<false, true, false>(&self.l16, &self.codes, a),
            FrozenVariant::D16N8 => match &self.n8 {
                Some(l) => Self::id16::<false, false, true>(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16N8BranchFree => match &self.n8 {
                Some(l) => Self::id16::<true, false, true>(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16LeafNodes => match &self.ln {
                Some(l) => Self::id16ln::<false>(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16N8LeafNodes => match &self.n8ln {
                Some(l) => Self::id16ln::<true>(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16N8LeafNodesByD16 => match &self.n8ln {
                Some(l) => Self::id16::<false, false, true>(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16N8LeafNodesLinear => match &self.n8lnx {
                Some(l) => Self::id16lnx(l, &self.codes, a),
                None => super::NONE_ID,
            },
            FrozenVariant::D16N8LeafNodesLinearValues => match &self.n8lnxv {
                Some(p) => p.id_of(a),
                None => super::NONE_ID,
            },
            FrozenVariant::D8 if self.has_d8() => self.id8(a),
            FrozenVariant::D8 => super::NONE_ID,
        };
        std::hint::select_unpredictable(id != super::NONE_ID, Some(id), None)
    }

    /// A leaf's answer: with `VALUES` (`lnxv`) the stored id + 1 less
    /// one (0, no route, wraps to `NONE_ID`), else its code's id.
    #[inline(always)]
    fn leaf<const VALUES: bool>(codes: &[NextHopId], stored: u32) -> NextHopId {
        if VALUES {
            stored.wrapping_sub(1)
        } else {
            Self::id(codes, stored)
        }
    }

    #[inline(always)]
    fn id(codes: &[NextHopId], code: u32) -> NextHopId {
        debug_assert!((code as usize) < codes.len());
        // SAFETY: every leaf's code (direct: masked to 14 bits, checked <
        // codes.len() by the builder's source; node entries: codes of the
        // source trie) indexes the copied code table.
        unsafe { *codes.get_unchecked(code as usize) }
    }

    /// The wide walk of `v4::id_v4_unchecked` from node pointer `e` in
    /// `l`'s arena; the narrow node that ends it read as `N8` says.
    #[inline(always)]
    fn walk<const N8: bool, const VALUES: bool>(
        l: &Layout16,
        codes: &[NextHopId],
        mut e: u32,
        mut r: u64,
    ) -> NextHopId {
        let arena = &l.arena[..];
        while e & WIDE != 0 {
            // SAFETY: `e` is a wide node pointer into the copy: `copy_node`
            // copied each node whole (and the flags with the offset).
            e = unsafe { entry_unchecked::<true>(arena, e, (r >> 58) as u32) };
            if e & LEAF != 0 {
                return Self::leaf::<VALUES>(codes, e & 0xffff);
            }
            r <<= 6;
        }
        let node = l.zero + e as usize * 2;
        // SAFETY: a narrow node pointer into the copy, as above.
        Self::leaf::<VALUES>(codes, unsafe {
            Self::narrow_at::<N8>(node, (r >> 58) as u32)
        })
    }

    /// [`FrozenV4::walk`] out of line (rare: 703 direct entries are wide).
    #[cold]
    #[inline(never)]
    fn walk_cold<const N8: bool>(l: &Layout16, codes: &[NextHopId], e: u32, r: u64) -> NextHopId {
        Self::walk::<N8, false>(l, codes, e, r)
    }

    /// Where [`FrozenV4::narrow_at`]'s entry is, over byte entries with
    /// the slot's mask given (`lnxv` reads it from [`SLOT_MASKS_BYTE`]):
    /// the byte at `base + i + NARROW8_ENTRY`, left as a base and an index
    /// so that the caller's load takes both (and the constant) in its
    /// address.
    ///
    /// # Safety
    /// As [`FrozenV4::narrow_at`], entries stored as bytes.
    #[inline(always)]
    unsafe fn narrow8_leaf(node: usize, mask: u64) -> (*const u8, usize) {
        let p = std::ptr::with_exposed_provenance::<u8>(node);
        // SAFETY: as in `narrow_at`: the node's 8-byte bitmap, then its
        // popcount(runs) byte entries; bit 0 of `mask` is set, so the rank
        // is ≥ 1 when bit 0 of `runs` is (every node's) and the entry is
        // the rank-th.
        let runs = u64::from_le(unsafe { p.cast::<u64>().read_unaligned() });
        let rank = (runs & mask).count_ones() as usize;
        (p, rank)
    }

    /// The narrow step from the node at `node` (an address): its slot
    /// `slot`'s entry, a code. As `entry_unchecked::<false>`, from a
    /// pointer instead of an offset; with `N8` the entries are bytes.
    ///
    /// # Safety
    /// `node` is the address of a narrow node of the arena (stored as `N8`
    /// says) or of its zero node.
    #[inline(always)]
    unsafe fn narrow_at<const N8: bool>(node: usize, slot: u32) -> u32 {
        let p = std::ptr::with_exposed_provenance::<u16>(node);
        // SAFETY: the caller's contract: a node's HDR units, then its
        // popcount(runs) entries (the zero node: rank 0 reads the byte
        // or unit before its 8th byte, inside it).
        unsafe {
            let runs = u64::from_le(p.cast::<u64>().read_unaligned());
            let rank = (runs & SLOT_MASKS[(slot & 63) as usize]).count_ones() as usize;
            if N8 {
                u32::from(*p.cast::<u8>().add(2 * HDR + rank).sub(1))
            } else {
                u32::from(*p.add(HDR + rank).sub(1))
            }
        }
    }

    /// `D16`: a narrow node entry is its `rel` as is (flags clear), so the
    /// node's address is `bases[block] + rel * 8` with no masking (the
    /// bases are addresses, one `[base + d * 8]` operand); a wide one
    /// converts back to an arena offset for [`FrozenV4::walk`].
    #[inline(always)]
    fn id16<const BRANCH_FREE: bool, const WRONG: bool, const N8: bool>(
        l: &Layout16,
        codes: &[NextHopId],
        a: u32,
    ) -> NextHopId {
        let s = (a >> (32 - DIRECT)) as usize;
        // SAFETY: s < 2^18 = direct16.len(), s >> BLOCK < bases.len().
        let (d, base) = unsafe {
            (
                u32::from(*l.direct16.get_unchecked(s)),
                *l.bases.get_unchecked(s >> BLOCK),
            )
        };
        let r = u64::from(a) << (32 + DIRECT);
        let r = if WRONG { r << 1 } else { r };
        let slot = (r >> 58) as u32;
        if !BRANCH_FREE && d & LEAF16 != 0 {
            return Self::id(codes, d & REL16);
        }
        // (A leaf's bit 14 is clear: codes < 2^14.)
        if d & WIDE16 != 0 {
            let node = base + (d & REL16) as usize * 8;
            let o = (node - l.zero) / 2;
            return Self::walk::<N8, false>(l, codes, o as u32 | WIDE, r);
        }
        let node = base + d as usize * 8;
        if !BRANCH_FREE {
            // SAFETY: a narrow node entry of the copy (`Layout16::new`).
            return Self::id(codes, unsafe { Self::narrow_at::<N8>(node, slot) });
        }
        // A leaf steps the zero node at the arena's start, a narrow node
        // its own; the select drops the leaf's step.
        let is_leaf = d & LEAF16 != 0;
        let node = std::hint::select_unpredictable(is_leaf, l.zero, node);
        // SAFETY: the zero node, or a narrow node of the copy.
        let x = unsafe { Self::narrow_at::<N8>(node, slot) };
        Self::id(
            codes,
            std::hint::select_unpredictable(is_leaf, d & REL16, x),
        )
    }

    /// `D16` with leaf nodes: every entry but a wide node's is a narrow
    /// step at `bases[block] + d * 8`.
    #[inline(always)]
    fn id16ln<const N8: bool>(l: &Layout16, codes: &[NextHopId], a: u32) -> NextHopId {
        let s = (a >> (32 - DIRECT)) as usize;
        // SAFETY: s < 2^18 = direct16.len(), s >> BLOCK < bases.len().
        let (d, base) = unsafe {
            (
                u32::from(*l.direct16.get_unchecked(s)),
                *l.bases.get_unchecked(s >> BLOCK),
            )
        };
        let r = u64::from(a) << (32 + DIRECT);
        if d & WIDE16 != 0 {
            let node = base + (d & REL16) as usize * 8;
            return Self::walk::<N8, false>(l, codes, ((node - l.zero) / 2) as u32 | WIDE, r);
        }
        // SAFETY: a narrow node or a one-slot leaf node of the copy.
        Self::id(codes, unsafe {
            Self::narrow_at::<N8>(base + d as usize * 8, (r >> 58) as u32)
        })
    }

    /// `D16` with leaf nodes and no bases: the node of entry `d` of
    /// index `s` is at `arena + 4 * (2 * s + d)` (`Layout16::new_linear`).
    #[inline(always)]
    fn id16lnx(l: &Layout16, codes: &[NextHopId], a: u32) -> NextHopId {
        let s = (a >> (32 - DIRECT)) as usize;
        // SAFETY: s < 2^18 = direct16.len().
        let d = unsafe { *l.direct16.get_unchecked(s) } as i16 as isize;
        let r = u64::from(a) << (32 + DIRECT);
        // In 4-byte units from the arena's start; never negative: every
        // node lies in the arena.
        let t = (2 * s as isize + d) as usize;
        if d & 1 != 0 {
            // Out of line: LLVM otherwise laid the narrow step after the
            // wide loop and reached it with two taken jumps.
            return Self::walk_cold::<true>(l, codes, ((t - 1) * 2) as u32 | WIDE, r);
        }
        // SAFETY: a narrow node or a one-slot leaf node of the copy.
        Self::id(codes, unsafe {
            Self::narrow_at::<true>(l.zero + t * 4, (r >> 58) as u32)
        })
    }

    #[inline(always)]
    fn id8(&self, a: u32) -> NextHopId {
        let s = (a >> (32 - DIRECT)) as usize;
        // SAFETY: s < 2^18 = direct8.len() (D8 built), s >> BLOCK8 < starts8.len().
        let (d, start) = unsafe {
            (
                u32::from(*self.direct8.get_unchecked(s)),
                *self.starts8.get_unchecked(s >> BLOCK8),
            )
        };
        if d & 0x80 == 0 {
            return Self::id(&self.codes, d);
        }
        // SAFETY: the builder pushed one pointer per node entry of the
        // block (pointers into `l16.arena`), and numbered them from the
        // block's start.
        let e = unsafe { *self.ptrs.get_unchecked((start + (d & 0x7f)) as usize) };
        Self::walk::<false, false>(&self.l16, &self.codes, e, u64::from(a) << (32 + DIRECT))
    }
}
