//! Building the compiled trie from sorted routes: whole tables, and the
//! subtrees an update rebuilds.

use super::record::Record;

use super::{leaf, slot_at, Item, Key, LpmError, Trie, LEAF, NO_ROUTE, STRIDE};
use crate::NextHopId;

impl<K: Key> Trie<K> {
    /// Builds a table from routes in any order; a prefix given twice keeps
    /// its last next hop (as repeated `insert`s would). Host bits past a
    /// prefix's length are ignored.
    pub fn from_routes(
        routes: impl IntoIterator<Item = (K, u8, NextHopId)>,
    ) -> Result<Self, LpmError> {
        let mut t = Trie::default();
        let mut v: Vec<(u128, u8, NextHopId)> = routes
            .into_iter()
            .map(|(k, len, nh)| {
                let len = len.min(K::BITS);
                (super::mask(k.to_left(), len), len, nh)
            })
            .collect();
        // Stable: among equal prefixes the last one given ends up last.
        v.sort_by_key(|&(k, l, _)| (k, l));
        let mut items: Vec<Item> = Vec::with_capacity(v.len());
        for (i, &(k, l, nh)) in v.iter().enumerate() {
            if v.get(i + 1).is_some_and(|n| (n.0, n.1) == (k, l)) {
                continue;
            }
            items.push((k, l, t.code_for(l, nh)?));
        }
        t.record = Record::from_sorted(
            items.iter().map(|&(k, l, c)| ((K::from_left(k), l), c)),
            items.len(),
        );
        t.refresh_default();
        t.arena.reserve(items.len() * 2);
        let mut direct = std::mem::take(&mut t.direct);
        t.fill(&mut direct, &items, 0, K::DIRECT);
        t.direct = direct;
        Ok(t)
    }

    /// Recompiles everything from the record (drops the holes updates left).
    pub fn rebuild(&mut self) {
        if self.is_lookup_only() {
            return; // no record to rebuild from
        }
        let items: Vec<Item> = self
            .record
            .iter()
            .map(|((k, l), c)| (k.to_left(), l, c))
            .collect();
        self.arena = Vec::with_capacity(items.len() * 2);
        self.meta.clear();
        self.free.clear();
        self.free_words = 0;
        let mut direct = vec![leaf(NO_ROUTE); 1 << K::DIRECT];
        // The old direct array points into the arena just dropped: should
        // the fill panic (an arena past its size limit), leave an empty
        // table rather than pointers that single lookups would follow
        // unchecked (`v4::id_v4_unchecked`).
        let filled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.fill(&mut direct, &items, 0, K::DIRECT)
        }));
        if let Err(panic) = filled {
            self.direct = vec![leaf(NO_ROUTE); 1 << K::DIRECT];
            std::panic::resume_unwind(panic);
        }
        self.direct = direct;
    }

    /// Paints the slots of a level (`entries`: the `1 << stride` slots of the
    /// block at `depth`, already holding their base leaf) with `items`, and
    /// builds a child for every slot that has longer prefixes.
    ///
    /// `items` must be sorted by (key, length) and lie inside the block.
    /// Sorted order is what makes painting right: a prefix comes before every
    /// prefix it contains, so later (longer) paint wins.
    pub(super) fn fill(&mut self, entries: &mut [u32], items: &[Item], depth: u8, stride: u8) {
        let end = depth + stride;
        // The direct level of a trie with top indexes (IPv6) writes its
        // nodes (depth 18, each in a block with its index) after all the
        // others: the blocks lie together at the arena's end, and the
        // deeper nodes lie together without 1-3 KiB blocks between them.
        let defer_top = Self::has_top() && depth == 0;
        let mut tops: Vec<(usize, [u32; 64], u16)> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (key, len, code) = items[i];
            let s = slot_at(key, depth, stride);
            if len <= end {
                let n = 1usize << (end - len);
                entries[s..s + n].fill(leaf(code));
                i += 1;
            } else {
                // Everything from here with the same slot is longer than `end`:
                // shorter prefixes in this slot start at its first address and
                // so sort before.
                let j = i + items[i..]
                    .iter()
                    .take_while(|it| slot_at(it.0, depth, stride) == s)
                    .count();
                // Callers reset the slots they refill to leaves first.
                debug_assert!(entries[s] & LEAF != 0, "fill over a child");
                let inherited = entries[s] as u16;
                if defer_top {
                    tops.push((
                        s,
                        self.node_entries(&items[i..j], end, inherited),
                        inherited,
                    ));
                } else {
                    entries[s] = self.build_node(&items[i..j], end, inherited);
                }
                i = j;
            }
        }
        for (s, node, inherited) in tops {
            entries[s] = self.write_top(&node, inherited);
        }
    }

    /// The 64 slots of the node at `depth` for `items` (all longer than
    /// `depth`, all in one block), its children written.
    fn node_entries(&mut self, items: &[Item], depth: u8, inherited: u16) -> [u32; 64] {
        let mut entries = [leaf(inherited); 64];
        self.fill(&mut entries, items, depth, STRIDE);
        entries
    }

    /// Builds the node at `depth` for `items` (all longer than `depth`, all
    /// in one block); returns its entry, a leaf if it would be empty.
    pub(super) fn build_node(&mut self, items: &[Item], depth: u8, inherited: u16) -> u32 {
        let entries = self.node_entries(items, depth, inherited);
        if Self::has_top() && depth == K::DIRECT {
            // Its children are written: the top index can read them.
            self.write_top(&entries, inherited)
        } else {
            self.write_node(&entries, inherited)
        }
    }
}
