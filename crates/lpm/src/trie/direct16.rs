//! IPv4 lookups' direct array: 16-bit entries (512 KiB) where the
//! control side's `Trie::direct` has 32-bit ones (1 MiB, Zen 4's whole
//! L2, which the 1.4 MiB of nodes share): uniform traffic, which mostly
//! ends in the direct array, misses L2 less.
//!
//! 16 bits cannot hold an arena offset (the CAIDA table's nodes take 1.4
//! MiB), so each group of `GROUP` direct entries has a 32-bit base
//! (`Trie::bases`, 16 KiB, indexed by the address's top 12 bits and
//! loaded beside the entry, not after it) and a node entry holds its
//! node's distance from that base:
//!
//! ```text
//! entry : NEAR_LEAF | code            (code < 2^15)
//!       | [NEAR_WIDE] | (offset - base) / ALIGN   (< 2^14: 128 KiB reach)
//! ```
//!
//! A group's depth-18 nodes lie together (a build writes them one after
//! the other, `build.rs`); when an update puts one out of reach, the
//! group's nodes move to the arena's end (`encode_group`). A leaf whose
//! code does not fit 15 bits (tables with over 32,767 next hops) points
//! to a node of one run holding it, so the table's limit stays 65,535.
//!
//! `Trie::direct` stays the control side's view (builds, updates and the
//! invariant checks read it); IPv6 keeps it as its lookup array and has no
//! 16-bit one (its walks read a top index beside the direct node: see
//! `top.rs`).

use super::{Key, Trie, ALIGN, HDR, LEAF, OFFSET, WIDE};

/// Direct entries per base: the address's bits 18 - 6 = 12 and up pick it.
pub(super) const GROUP: usize = 64;
/// Marks a 16-bit direct entry that is a leaf (low 15 bits: its code).
pub(super) const NEAR_LEAF: u16 = 1 << 15;
/// Marks a 16-bit direct entry whose node has 32-bit entries.
pub(super) const NEAR_WIDE: u16 = 1 << 14;
/// The node's distance from its group's base, in `ALIGN` units.
pub(super) const NEAR_OFFSET: u16 = NEAR_WIDE - 1;
/// Address bits below a group's base index.
pub(super) const BASE_SHIFT: u32 = 32 - <u32 as Key>::DIRECT as u32 + GROUP.trailing_zeros();

/// The 32-bit direct entry (as `Trie::direct` holds it: `LEAF|code` or a
/// node pointer) that a 16-bit entry and its group's base stand for.
#[inline(always)]
pub(super) fn widen(e: u16, base: u32) -> u32 {
    if e & NEAR_LEAF != 0 {
        LEAF | u32::from(e & !NEAR_LEAF)
    } else {
        (base + u32::from(e & NEAR_OFFSET) * ALIGN as u32) | u32::from(e & NEAR_WIDE) << 16
    }
}

/// What IPv4 lookups read of the direct level: the 16-bit entries and
/// their groups' bases (a `Trie<u32>`'s `direct16` and `bases`).
#[derive(Clone, Copy)]
pub(super) struct Near<'a> {
    pub(super) entries: &'a [u16],
    pub(super) bases: &'a [u32],
}

impl Near<'_> {
    /// The 32-bit direct entry of index `i` (`LEAF` past the array).
    #[inline(always)]
    pub(super) fn entry(self, i: usize) -> u32 {
        match (self.entries.get(i), self.bases.get(i / GROUP)) {
            (Some(&e), Some(&base)) => widen(e, base),
            _ => LEAF,
        }
    }

    /// Whether the arrays have the lengths a `Trie<u32>` gives them
    /// (what unchecked reads of a direct index rest on).
    #[inline(always)]
    pub(super) fn is_whole(self) -> bool {
        self.entries.len() == (1 << <u32 as Key>::DIRECT) + 1
            && self.bases.len() == (1 << <u32 as Key>::DIRECT) / GROUP
    }
}

impl<K: Key> Trie<K> {
    /// Whether lookups read the 16-bit direct array: IPv4's.
    #[inline]
    pub(super) fn has_direct16() -> bool {
        K::BITS == 32
    }

    /// Re-encodes the groups of direct entries `lo..hi` into the 16-bit
    /// array after `direct` changed there.
    pub(super) fn encode_direct16(&mut self, lo: usize, hi: usize) {
        if !Self::has_direct16() {
            return;
        }
        if self.direct16.len() != self.direct.len() + 1 {
            // One unit of padding: the AVX-512 batch gathers 32 bits per entry.
            self.direct16 = vec![NEAR_LEAF; self.direct.len() + 1];
            self.bases = vec![0; self.direct.len() / GROUP];
        }
        for g in lo / GROUP..hi.div_ceil(GROUP) {
            self.encode_group(g);
        }
    }

    /// Encodes group `g`, first moving its nodes together to the arena's
    /// end when one lies out of reach of the others (or a leaf needs a node
    /// for its code).
    fn encode_group(&mut self, g: usize) {
        let range = g * GROUP..(g + 1) * GROUP;
        // Nodes that stood for large codes belong to this encoding only.
        let (first, end) = (range.start as u32, range.end as u32);
        while let Some((&i, &o)) = self.code_nodes.range(first..end).next() {
            self.code_nodes.remove(&i);
            self.release(o as usize, Self::node_words(1, false));
        }
        let nodes = || {
            self.direct[range.clone()]
                .iter()
                .filter(|&&e| e & LEAF == 0)
        };
        let lo = nodes().map(|&e| e & OFFSET).min().unwrap_or(0);
        let hi = nodes().map(|&e| e & OFFSET).max().unwrap_or(0);
        let large = self.direct[range.clone()]
            .iter()
            .any(|&e| e & LEAF != 0 && e & 0xffff >= u32::from(NEAR_LEAF));
        let base = if large || hi - lo > u32::from(NEAR_OFFSET) * ALIGN as u32 {
            self.move_group(g)
        } else {
            lo
        };
        self.bases[g] = base;
        for i in range {
            let e = self.direct[i];
            self.direct16[i] = if e & LEAF != 0 && e & 0xffff < u32::from(NEAR_LEAF) {
                NEAR_LEAF | e as u16
            } else if e & LEAF != 0 {
                let o = self.code_nodes[&(i as u32)];
                ((o - base) / ALIGN as u32) as u16
            } else {
                let near = ((e & OFFSET) - base) / ALIGN as u32;
                near as u16 | if e & WIDE != 0 { NEAR_WIDE } else { 0 }
            };
            // (A large code's leaf reads as its node.)
            debug_assert!(
                widen(self.direct16[i], base) == e
                    || e & LEAF != 0 && e & 0xffff >= u32::from(NEAR_LEAF)
            );
        }
    }

    /// Copies group `g`'s direct nodes (not their children, which stay
    /// where their pointers say) one after the other to the arena's end,
    /// with a node of one run for each leaf whose code needs more than 15
    /// bits, and frees the old ones: returns the group's new base.
    fn move_group(&mut self, g: usize) -> u32 {
        let range = g * GROUP..(g + 1) * GROUP;
        let one_run = Self::node_words(1, false);
        let words: usize = self.direct[range.clone()]
            .iter()
            .map(|&e| match e & LEAF {
                0 => self.node_size_at(e),
                _ if e & 0xffff >= u32::from(NEAR_LEAF) => one_run,
                _ => 0,
            })
            .sum();
        let base = self.append(words);
        let mut o = base;
        for i in range {
            let e = self.direct[i];
            if e & LEAF == 0 {
                let (old, size) = ((e & OFFSET) as usize, self.node_size_at(e));
                self.arena.copy_within(old..old + size, o);
                self.meta[o / ALIGN] = self.meta[old / ALIGN];
                self.release(old, size);
                self.direct[i] = o as u32 | e & WIDE;
                o += size;
            } else if e & 0xffff >= u32::from(NEAR_LEAF) {
                // A narrow node whose one run (slot 0's bit) is the code.
                let node = &mut self.arena[o..o + one_run];
                node.fill(0);
                node[0] = 1;
                node[HDR] = e as u16;
                self.meta[o / ALIGN] = e as u16;
                self.code_nodes.insert(i as u32, o as u32);
                o += one_run;
            }
        }
        debug_assert_eq!(o, base + words);
        base as u32
    }

    /// The 32-bit direct entry the 16-bit array gives for index `i`, a
    /// large code's leaf as its node's leaf (tests).
    #[cfg(test)]
    pub(super) fn direct16_entry(&self, i: usize) -> u32 {
        let e = widen(self.direct16[i], self.bases[i / GROUP]);
        match self.code_nodes.get(&(i as u32)) {
            Some(_) => super::leaf(self.read_node(e)[0] as u16),
            None => e,
        }
    }
}
