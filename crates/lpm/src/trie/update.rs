//! Updates: change the record, then recompute only the slots the changed
//! prefix covers, at the one level where its length ends.
//!
//! For a prefix P of length L the walk goes down P's path to the level whose
//! stride contains L (the direct array when L ≤ D). There, P's slots are
//! reset to the best shorter route (looked up in the record: at most 5 probes
//! below a node, since the node's inherited code covers the rest), repainted
//! with P and the routes inside P from the record, and subtrees under them
//! rebuilt. The node is rewritten; its parent's pointer is patched in place,
//! or the parent is rewritten too when a slot changed between leaf and child
//! (which can ripple up when a removal empties nodes).
//!
//! Cost is proportional to the routes inside P: a /24 in IPv4 touches one
//! node; a short prefix that covers many longer ones rebuilds them all.

use super::top::TOP_LEVELS;
use super::{
    leaf, mask, slot_at, Item, Key, LpmError, Trie, ALIGN, LEAF, NO_ROUTE, OFFSET, STRIDE, TOP,
    WIDE,
};
use crate::NextHopId;

/// Deepest path: (128 - 16) / 6 node levels.
const MAX_LEVELS: usize = 20;

impl<K: Key> Trie<K> {
    /// Adds or replaces `key/len` (host bits ignored); returns the next hop
    /// it replaced.
    pub fn insert(
        &mut self,
        key: K,
        len: u8,
        nh: NextHopId,
    ) -> Result<Option<NextHopId>, LpmError> {
        if self.is_lookup_only() {
            return Err(LpmError::LookupOnly);
        }
        let len = len.min(K::BITS);
        let left = mask(key.to_left(), len);
        let code = self.code_for(len, nh)?;
        let entry = (K::from_left(left), len);
        match self.record.insert(entry, code) {
            // The same next hop: nothing to repaint. The default route gets
            // a fresh code of its own each time; it keeps the one it had
            // (else re-setting it would repaint the whole table).
            Some(old) if self.codes[old as usize] == nh => {
                if old != code {
                    self.record.insert(entry, old);
                }
                self.release_code(code);
                Ok(Some(nh))
            }
            old => {
                if len == 0 {
                    self.refresh_default();
                }
                self.apply(left, len);
                Ok(old.map(|c| {
                    let id = self.codes[c as usize];
                    self.release_code(c);
                    id
                }))
            }
        }
    }

    /// Removes `key/len`; returns its next hop if it was present.
    pub fn remove(&mut self, key: K, len: u8) -> Option<NextHopId> {
        if len > K::BITS || self.is_lookup_only() {
            return None;
        }
        let left = mask(key.to_left(), len);
        let code = self.record.remove(&(K::from_left(left), len))?;
        if len == 0 {
            self.refresh_default();
        }
        self.apply(left, len);
        let id = self.codes[code as usize];
        self.release_code(code);
        Some(id)
    }

    /// Brings the compiled form in line with the record for `key/len`.
    fn apply(&mut self, key: u128, len: u8) {
        let d0 = K::DIRECT;
        let di = slot_at(key, 0, d0);
        if len <= d0 {
            let base = self.base_code(key, len, 0, NO_ROUTE);
            let mut direct = std::mem::take(&mut self.direct);
            // Put back even if the repaint panics (an arena past its size
            // limit): single lookups read the direct array unchecked and
            // rely on its length (`v4::id_v4_unchecked`).
            let painted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.repaint(&mut direct, key, len, 0, d0, base)
            }));
            self.direct = direct;
            if let Err(panic) = painted {
                std::panic::resume_unwind(panic);
            }
            return;
        }
        let mut path = [(0u32, 0usize); MAX_LEVELS];
        let mut levels = 0;
        let mut entry = self.direct[di];
        let mut depth = d0;
        let new_entry = loop {
            if entry & LEAF != 0 {
                // This slot had no node: build one if routes below it now exist.
                let items: Vec<Item> = self
                    .items_in(mask(key, depth), depth)
                    .into_iter()
                    .filter(|it| it.1 > depth)
                    .collect();
                break self.build_node(&items, depth, entry as u16);
            }
            let o = (entry & OFFSET) as usize;
            if len <= depth + STRIDE {
                let mut entries = self.read_node(entry);
                let inherited = self.meta[o / ALIGN];
                let base = self.base_code(key, len, depth + 1, inherited);
                self.repaint(&mut entries, key, len, depth, STRIDE, base);
                self.free_node(entry);
                break self.write_node(&entries, inherited);
            }
            let s = slot_at(key, depth, STRIDE);
            path[levels] = (entry, s);
            levels += 1;
            entry = self.slot_entry(entry, s);
            depth += STRIDE;
        };
        // Hook the new entry into its parent, rewriting parents whose shape changes.
        let mut new = new_entry;
        while levels > 0 {
            levels -= 1;
            let (p, s) = path[levels];
            let i = self.entry_index(p, s);
            let old_is_child = self.entry_at(p, i) & LEAF == 0;
            if old_is_child && new & LEAF == 0 {
                // A child's entry is its own run, 32 bits (a node with a
                // child is wide): replace it in place.
                debug_assert!(p & WIDE != 0);
                self.set_wide_entry(i, new);
                // The top index holds the entries of the depth-18 node
                // and of its children (`top.rs`): a child of a depth-24
                // node is a run of its own there too, so it is replaced
                // in place as well; a new depth-24 node rewrites the index.
                if Self::has_top() && levels == TOP_LEVELS as usize - 1 {
                    self.patch_top(di, (path[0].1 << STRIDE) | s, new);
                } else if Self::has_top() && levels < TOP_LEVELS as usize {
                    self.refresh_top(di);
                }
                return;
            }
            if !old_is_child && new & LEAF != 0 {
                return; // leaf stayed the same leaf
            }
            let mut entries = self.read_node(p);
            entries[s] = new;
            let inherited = self.meta[(p & OFFSET) as usize / ALIGN];
            self.free_node(p);
            new = self.write_node(&entries, inherited);
        }
        self.direct[di] = new;
        // A depth-18 node rewritten here has no top index yet (one built
        // from a leaf has: `build_node`).
        if new & (LEAF | TOP) == 0 {
            self.refresh_top(di);
        }
    }

    /// Resets the slots of `key/len` in a level to `base` and repaints them
    /// from the record (`len` ends inside this level's stride).
    fn repaint(
        &mut self,
        entries: &mut [u32],
        key: u128,
        len: u8,
        depth: u8,
        stride: u8,
        base: u16,
    ) {
        let first = slot_at(key, depth, stride);
        let n = 1usize << (depth + stride - len);
        for slot in &mut entries[first..first + n] {
            let old = std::mem::replace(slot, leaf(base));
            self.free_entry(old);
        }
        let items = self.items_in(key, len);
        self.fill(entries, &items, depth, stride);
    }

    /// The best route strictly shorter than `len` and at least `min_len`
    /// long covering `key`, else `fallback`.
    fn base_code(&self, key: u128, len: u8, min_len: u8, fallback: u16) -> u16 {
        (min_len..len)
            .rev()
            .find_map(|l| self.record.get(&(K::from_left(mask(key, l)), l)))
            .unwrap_or(fallback)
    }

    /// Routes inside `key/len` (that prefix included), sorted.
    fn items_in(&self, key: u128, len: u8) -> Vec<Item> {
        let last = key | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        self.record
            .range((K::from_left(key), len), (K::from_left(last), u8::MAX))
            .map(|((k, l), c)| (k.to_left(), l, c))
            .collect()
    }

    /// Entry of slot `s` of the node `e` points to.
    fn slot_entry(&self, e: u32, s: usize) -> u32 {
        self.entry_at(e, self.entry_index(e, s))
    }
}
