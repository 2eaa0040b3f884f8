//! Building the frozen copies (see the parent module): nodes copied
//! depth first, leaf-node tables, and the two ways of placing nodes
//! (per-block bases, or along the direct array's line).

use super::{
    Layout16, ALIGN, BLOCK, DIRECT, LEAF16, LEAF_NODE, LEAF_TABLE_EVERY, REL16, WIDE16, WIDE_D,
    WIDE_D_END, ZERO_NODE,
};
use crate::trie::{Trie, GUARD, HDR, LEAF, OFFSET, WIDE};

/// Copies the node `e` points to (and its subtree) to the end of `dst`;
/// returns the copy's pointer (same flags).
/// With `narrow8`, a narrow node's entries (codes < 256) are stored as
/// bytes, two per unit, the first in the low half (byte order of a
/// little-endian load, which is what `narrow_at::<true>` reads).
/// With `values`, every leaf (a narrow entry, or a wide node's leaf entry)
/// stores `values[code]` in place of its code.
pub(super) fn copy_node(
    src: &[u16],
    e: u32,
    dst: &mut Vec<u16>,
    narrow8: bool,
    values: Option<&[u16]>,
) -> u32 {
    let value = |c: u16| values.map_or(c, |v| v[usize::from(c)]);
    let o = (e & OFFSET) as usize;
    let wide = e & WIDE != 0;
    let runs = (0..HDR).fold(0u64, |r, i| r | u64::from(src[o + i]) << (16 * i));
    let n = runs.count_ones() as usize;
    let at = dst.len();
    if narrow8 && !wide {
        dst.extend_from_slice(&src[o..o + HDR]);
        let body = &src[o + HDR..o + HDR + n];
        dst.extend(body.chunks(2).map(|c| {
            let (lo, hi) = (value(c[0]), c.get(1).map_or(0, |&x| value(x)));
            debug_assert!(lo < 0x100 && hi < 0x100);
            lo | hi << 8
        }));
    } else if wide {
        dst.extend_from_slice(&src[o..o + HDR + 2 * n]);
    } else {
        dst.extend_from_slice(&src[o..o + HDR]);
        dst.extend(src[o + HDR..o + HDR + n].iter().map(|&c| value(c)));
    }
    dst.resize(dst.len().next_multiple_of(ALIGN), 0);
    if wide {
        for i in 0..n {
            let j = at + HDR + 2 * i;
            let x = u32::from(dst[j]) | u32::from(dst[j + 1]) << 16;
            if x & LEAF == 0 {
                let c = copy_node(src, x, dst, narrow8, values);
                dst[j] = c as u16;
                dst[j + 1] = (c >> 16) as u16;
            } else {
                dst[j] = value(x as u16);
            }
        }
    }
    assert!(dst.len() < OFFSET as usize, "copy outgrew node pointers");
    at as u32 | (e & WIDE)
}

/// Appends a table of one-slot leaf nodes, one per code (`LEAF_NODE`
/// units each: runs = 1, slot 0 opening the only run, then the code, as a
/// unit or as its low byte, or `values[code]` so); returns where it starts.
fn push_leaf_table(arena: &mut Vec<u16>, codes: usize, values: Option<&[u16]>) -> usize {
    let at = arena.len();
    for c in 0..codes as u16 {
        let c = values.map_or(c, |v| v[usize::from(c)]);
        arena.extend([1, 0, 0, 0, c, 0, 0, 0]);
    }
    debug_assert_eq!(arena.len() - at, codes * LEAF_NODE);
    at
}

impl Layout16 {
    /// The `D16` copy of `t` (codes checked by the caller), the original
    /// node pointer → copy's pointer per direct entry, the largest block
    /// span in units and the number of wide direct entries.
    ///
    /// With `leaf_nodes`, no direct entry is a leaf: a leaf of code c
    /// points (rel `2c`) to the c-th node of a table of one-slot nodes
    /// (`LEAF_NODE` units each, entry c), of which a copy is laid every
    /// `LEAF_TABLE_EVERY` units; a block's base is the last copy's start.
    pub(super) fn new(
        t: &Trie<u32>,
        narrow8: bool,
        leaf_nodes: bool,
    ) -> Result<(Self, Vec<u32>, usize, usize), String> {
        let n = 1usize << DIRECT;
        let mut arena = vec![0u16; ZERO_NODE];
        let mut direct16 = vec![0u16; n];
        let mut bases = vec![0u32; n >> BLOCK];
        let mut copied = vec![0u32; n];
        let (mut max_block, mut wide_direct) = (0, 0);
        let mut table: Option<usize> = None;
        if leaf_nodes && t.codes.len() * LEAF_NODE * 4 > LEAF_TABLE_EVERY {
            return Err(format!("{} codes: too many for leaf nodes", t.codes.len()));
        }
        for (b, base) in bases.iter_mut().enumerate() {
            *base = arena.len() as u32;
            if leaf_nodes {
                if table.is_none_or(|at| arena.len() - at > LEAF_TABLE_EVERY) {
                    table = Some(push_leaf_table(&mut arena, t.codes.len(), None));
                }
                *base = table.unwrap_or(0) as u32;
            }
            for s in b << BLOCK..(b + 1) << BLOCK {
                let e = t.direct[s];
                direct16[s] = if e & LEAF != 0 && leaf_nodes {
                    ((e & 0xffff) * (LEAF_NODE / ALIGN) as u32) as u16
                } else if e & LEAF != 0 {
                    (LEAF16 | (e & 0xffff)) as u16
                } else {
                    let c = copy_node(&t.arena, e, &mut arena, narrow8, None);
                    copied[s] = c;
                    let rel = (c & OFFSET) - *base;
                    debug_assert_eq!(rel as usize % ALIGN, 0);
                    let rel = rel / ALIGN as u32;
                    if rel > REL16 {
                        return Err(format!("block {b}: node at {rel} × 8 bytes past 2^14"));
                    }
                    wide_direct += usize::from(c & WIDE != 0);
                    // A narrow node's entry is its `rel` alone (see `id16`).
                    (rel | if c & WIDE != 0 { WIDE16 } else { 0 }) as u16
                };
            }
            max_block = max_block.max(arena.len() - *base as usize);
        }
        arena.extend([0; GUARD]);
        let zero = arena.as_ptr().expose_provenance();
        let bases = bases.iter().map(|&b| zero + b as usize * 2).collect();
        let l = Layout16 {
            direct16,
            bases,
            zero,
            arena,
            wides: Vec::new(),
        };
        Ok((l, copied, max_block, wide_direct))
    }

    /// The leaf-node copy without bases (`lnx`): entry `d` (an `i16`) of
    /// direct index `s` is `2 * rel | wide`, `rel` the node's offset in
    /// 8-byte units from the *line* `8 * s` bytes into the arena, so the
    /// node is at `arena + 4 * (2 * s + d)` (one `lea`; no base load).
    /// Nodes are laid in direct order, padded up when they fall 32 KiB
    /// behind the line, with a leaf-node table every 32 KiB of arena; the
    /// copy is refused where they run more than the reach (±128 KiB)
    /// ahead of it. Also returns the largest drift ahead, in bytes.
    /// With `values`, leaves store `values[code]` (see [`copy_node`]).
    ///
    /// With `wide_table` (`lnxv`), `d` is `rel` itself, the node at
    /// `arena + 8 * (s + d)`, with a reach of 256 KiB ahead (the `lnx`
    /// reach, 128 KiB, was passed on the 2023 tier-1 table); a wide node's
    /// entry is instead `WIDE_D + i`, `wides[i]` its pointer.
    pub(super) fn new_linear(
        t: &Trie<u32>,
        narrow8: bool,
        values: Option<&[u16]>,
        wide_table: bool,
    ) -> Result<(Self, usize), String> {
        // Units (32 KiB): leaf tables are laid this far apart.
        const BEHIND: usize = 1 << 14;
        // How far the arena may fall behind the line before it is padded
        // up. `lnxv` lets it lag 96 KiB, so a dense region's nodes start
        // that far back and its reach ahead lasts longer (the 2023 tier-1
        // table runs 280 KiB ahead from a 32 KiB lag); its leaf tables
        // then lie at most 128 KiB behind, its offsets' lower bound.
        let lag = if wide_table { 3 * BEHIND } else { BEHIND };
        let reach: std::ops::Range<isize> = if wide_table {
            WIDE_D_END as isize..1 << 15
        } else {
            -(1 << 14)..1 << 14 // 8-byte units: 128 KiB
        };
        let mut wides = Vec::new();
        let n = 1usize << DIRECT;
        let mut arena: Vec<u16> = Vec::new();
        let mut direct16 = vec![0u16; n];
        let mut table: Option<usize> = None;
        let mut ahead = 0usize;
        for (s, d) in direct16.iter_mut().enumerate() {
            let line = 4 * s;
            if arena.len() + lag < line {
                arena.resize(line - lag, 0);
            }
            if table.is_none_or(|at| arena.len() - at > BEHIND) {
                table = Some(push_leaf_table(&mut arena, t.codes.len(), values));
            }
            ahead = ahead.max((arena.len() * 2).saturating_sub(8 * s));
            let e = t.direct[s];
            let (at, wide) = if e & LEAF != 0 {
                (
                    table.unwrap_or(0) + (e & 0xffff) as usize * LEAF_NODE,
                    false,
                )
            } else {
                let c = copy_node(&t.arena, e, &mut arena, narrow8, values);
                ((c & OFFSET) as usize, c & WIDE != 0)
            };
            if wide && wide_table {
                let i = i32::try_from(wides.len()).unwrap_or(i32::MAX);
                if i >= WIDE_D_END - WIDE_D {
                    return Err("more wide direct entries than the table holds".into());
                }
                wides.push(at as u32 | WIDE);
                *d = (WIDE_D + i) as i16 as u16;
                continue;
            }
            let rel = (at as isize - line as isize) / ALIGN as isize;
            if !reach.contains(&rel) {
                return Err(format!("entry {s}: node {rel} × 8 bytes from its line"));
            }
            *d = if wide_table {
                rel as i16 as u16
            } else {
                ((2 * rel as i16) | i16::from(wide)) as u16
            };
        }
        arena.extend([0; GUARD]);
        let zero = arena.as_ptr().expose_provenance();
        let l = Layout16 {
            direct16,
            bases: Vec::new(),
            zero,
            arena,
            wides,
        };
        Ok((l, ahead))
    }
}
