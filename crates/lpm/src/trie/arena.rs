//! The arena's node encoding and its allocator: how a node's bitmap and
//! entries are read and written (32-bit entries as stored, `to_stored`),
//! and blocks taken from size-class free lists, appended, or appended on
//! whole cache lines for the top indexes (`top.rs`).

use super::*;

impl<K: Key> Trie<K> {
    /// The `runs` bitmap of the node at offset `o`.
    #[inline]
    pub(super) fn u64_at(&self, o: usize) -> u64 {
        let h = &self.arena[o..o + HDR];
        (0..HDR).fold(0, |r, i| r | u64::from(h[i]) << (16 * i))
    }

    #[inline]
    pub(super) fn u32_at(&self, i: usize) -> u32 {
        u32::from(self.arena[i]) | u32::from(self.arena[i + 1]) << 16
    }

    /// The 32-bit entry at arena index `i` (of a wide node or a top
    /// index), as a direct entry (`LEAF|code` or node pointer).
    #[inline]
    pub(super) fn wide_entry_at(&self, i: usize) -> u32 {
        Self::from_stored(self.u32_at(i))
    }

    /// Writes `e` (`LEAF|code` or a node pointer) as the 32-bit entry at
    /// arena index `i`.
    #[inline]
    pub(super) fn set_wide_entry(&mut self, i: usize, e: u32) {
        let x = Self::to_stored(e);
        self.arena[i] = x as u16;
        self.arena[i + 1] = (x >> 16) as u16;
    }

    /// How an entry is stored in the arena. IPv6 stores no flags (see
    /// `STORED_LEAF_BELOW`): a leaf as its bare code, a node as its bare
    /// offset (every IPv6 node is wide, and none below depth 18 has a top
    /// index), so a walk's step uses the entry as the next node's offset
    /// with no mask on its chain of loads. IPv4 stores entries as they are.
    #[inline]
    pub(super) fn to_stored(e: u32) -> u32 {
        if !Self::all_wide() {
            e
        } else if e & LEAF != 0 {
            e & 0xffff
        } else {
            debug_assert!(e & !OFFSET == WIDE, "stored node {e:#x}");
            e & OFFSET
        }
    }

    /// The inverse of [`Trie::to_stored`].
    #[inline]
    pub(super) fn from_stored(x: u32) -> u32 {
        if !Self::all_wide() {
            x
        } else if x < STORED_LEAF_BELOW {
            leaf(x as u16)
        } else {
            WIDE | x
        }
    }

    /// Whether every node has 32-bit entries: IPv6's. Its walks take five
    /// levels on one dependent chain, where decoding the width at each
    /// level cost 10-20 % of single-lookup speed (same-run measurement);
    /// its memory stays within its goal (1.5x Poptrie) without narrow nodes.
    #[inline]
    pub(super) fn all_wide() -> bool {
        K::BITS == 128
    }

    /// Units a node with `n` entries takes.
    pub(super) fn node_words(n: usize, wide: bool) -> usize {
        (HDR + n * (1 + usize::from(wide))).next_multiple_of(ALIGN)
    }

    pub(super) fn node_size_at(&self, e: u32) -> usize {
        let o = (e & OFFSET) as usize;
        Self::node_words(self.u64_at(o).count_ones() as usize, e & WIDE != 0)
    }

    /// Arena index of the entry of slot `s` (< 64) of the node `e` points to.
    #[inline]
    pub(super) fn entry_index(&self, e: u32, s: usize) -> usize {
        let o = (e & OFFSET) as usize;
        let rank = (self.u64_at(o) << (63 - s)).count_ones() as usize;
        o + HDR + ((rank - 1) << (e >> 30))
    }

    /// The entry at arena index `i` of a node pointed to by `e`, as a
    /// direct entry (`LEAF|code` or node pointer).
    pub(super) fn entry_at(&self, e: u32, i: usize) -> u32 {
        if e & WIDE != 0 {
            self.wide_entry_at(i)
        } else {
            leaf(self.arena[i])
        }
    }

    /// The 64 slot entries of the node `e` points to, as direct entries
    /// (`LEAF|code` or node pointer).
    pub(super) fn read_node(&self, e: u32) -> [u32; 64] {
        let o = (e & OFFSET) as usize;
        let runs = self.u64_at(o);
        let n = runs.count_ones() as usize;
        // The entry list, widened (one branch on the width, not one per slot).
        let mut list = [0u32; 64];
        if e & WIDE != 0 {
            for (i, x) in list[..n].iter_mut().enumerate() {
                *x = self.wide_entry_at(o + HDR + 2 * i);
            }
        } else {
            let body = &self.arena[o + HDR..o + HDR + n];
            for (x, &c) in list.iter_mut().zip(body) {
                *x = leaf(c);
            }
        }
        let mut out = [0u32; 64];
        let mut i = 0;
        for (s, slot) in out.iter_mut().enumerate() {
            // Bit 0 is always set: the first slot opens the first run.
            i += (runs >> s & 1) as usize;
            *slot = list[i - 1];
        }
        out
    }

    /// Stores a node for `entries` and returns its pointer, or a leaf entry
    /// when the node would hold nothing but `inherited` (so no node is needed).
    pub(super) fn write_node(&mut self, entries: &[u32; 64], inherited: u16) -> u32 {
        self.write_node_after(entries, inherited, 0)
    }

    /// [`Trie::write_node`] in a block that starts `pre` units (a multiple
    /// of `ALIGN`) before the node: room for a top index (`top.rs`).
    pub(super) fn write_node_after(
        &mut self,
        entries: &[u32; 64],
        inherited: u16,
        pre: usize,
    ) -> u32 {
        if entries.iter().all(|&e| e == leaf(inherited)) {
            return leaf(inherited);
        }
        let mut runs = 0u64;
        let mut list = [0u32; 64];
        let mut n = 0;
        for (s, &e) in entries.iter().enumerate() {
            if s == 0 || e != entries[s - 1] {
                runs |= 1 << s;
                list[n] = e;
                n += 1;
            }
        }
        let wide = Self::all_wide() || list[..n].iter().any(|&e| e & LEAF == 0);
        let words = Self::node_words(n, wide);
        let o = if pre == 0 {
            self.alloc(words)
        } else {
            self.alloc_lines(pre + words)
        } + pre;
        let a = &mut self.arena[o..o + words];
        for (i, h) in a[..HDR].iter_mut().enumerate() {
            *h = (runs >> (16 * i)) as u16;
        }
        let body = &mut a[HDR..];
        body.fill(0);
        for (i, &e) in list[..n].iter().enumerate() {
            if wide {
                let x = Self::to_stored(e);
                body[2 * i] = x as u16;
                body[2 * i + 1] = (x >> 16) as u16;
            } else {
                body[i] = e as u16;
            }
        }
        self.meta[o / ALIGN] = inherited;
        o as u32 | if wide { WIDE } else { 0 }
    }

    /// A free block of `words` units (a multiple of `ALIGN`), contents
    /// undefined; appended before the guard when none is free.
    pub(super) fn alloc(&mut self, words: usize) -> usize {
        let class = words / ALIGN;
        if let Some(o) = self.free.get_mut(class).and_then(Vec::pop) {
            self.free_words -= words;
            return o as usize;
        }
        self.append(words)
    }

    /// A block of `words` units appended before the guard.
    pub(super) fn append(&mut self, words: usize) -> usize {
        if self.arena.is_empty() && K::RESERVED > 0 {
            self.arena = vec![JUNK_UNIT; K::RESERVED];
            self.arena.extend([0; GUARD]);
            self.meta.resize(K::RESERVED / ALIGN, NO_ROUTE);
        }
        let o = self.arena.len().saturating_sub(GUARD);
        assert!(
            o + words + GUARD <= OFFSET as usize,
            "node arena beyond 2 GiB"
        );
        self.arena.truncate(o);
        self.arena.resize(o + words + GUARD, 0);
        self.meta.resize(self.arena.len() / ALIGN, NO_ROUTE);
        o
    }

    /// A free block of whole lines (`words` rounded up to `LINE`) that
    /// starts on a line: where a top index and its node go. Appended
    /// blocks skip to the next line; the skipped units become a hole that
    /// small nodes reuse. Top blocks take at least `PAIRS` units, more
    /// than any node, so their size classes hold only line-aligned blocks.
    pub(super) fn alloc_lines(&mut self, words: usize) -> usize {
        let words = words.next_multiple_of(LINE);
        if self.free.get(words / ALIGN).is_some_and(|f| !f.is_empty()) {
            return self.alloc(words);
        }
        // (Reserves the leaf region first if the arena is empty.)
        let end = self.append(0);
        let pad = end.next_multiple_of(LINE) - end;
        if pad > 0 {
            self.append(pad);
            self.release(end, pad);
        }
        let o = self.append(words);
        debug_assert_eq!(o % LINE, 0);
        o
    }

    /// Puts the block of `words` units at offset `o` on its free list.
    pub(super) fn release(&mut self, o: usize, words: usize) {
        let class = words / ALIGN;
        if self.free.len() <= class {
            self.free.resize_with(class + 1, Vec::new);
        }
        self.free[class].push(o as u32);
        self.free_words += words;
    }

    /// Frees the node `e` points to (not its children), with its top index.
    pub(super) fn free_node(&mut self, e: u32) {
        let o = (e & OFFSET) as usize;
        if e & TOP != 0 {
            let pre = self.top_units(o);
            let words = (pre + self.node_size_at(e)).next_multiple_of(LINE);
            self.release(o - pre, words);
            return;
        }
        let words = self.node_size_at(e);
        self.release(o, words);
    }

    /// Frees the subtree an entry points to (nothing for a leaf).
    pub(super) fn free_entry(&mut self, e: u32) {
        if e & LEAF != 0 {
            return;
        }
        if e & WIDE != 0 {
            for c in self.read_node(e) {
                if c & LEAF == 0 {
                    self.free_entry(c);
                }
            }
        }
        self.free_node(e);
    }
}
