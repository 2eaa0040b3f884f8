//! The top index of an IPv6 trie: for each node the direct array points
//! to (depth 18), the entries of its 64 slots and of its children's slots
//! in one level of 4,096 slots (bits 18..30), so a single walk takes one
//! step where it took two.
//!
//! On the RIS table (229k routes) 199 direct entries are nodes and the
//! inside-prefix trace's walks all pass through them and the depth-24
//! level below: 46 % of those walks end at depth 30 or 36, 36 % at 42
//! (a /48). The 12-bit step reads a bitmap word and the count of runs
//! before it — two loads that depend on the address only, side by side —
//! then the entry: one load latency more than a 6-bit level, for two
//! levels. A whole 12-bit level everywhere would not fit the memory goal
//! (24,583 depth-30 nodes at 1 KiB of bitmap each); 199 of them take 199
//! KiB of bitmaps plus the entries (0.41 MiB in all on the RIS table).
//!
//! The index is derived data: the node and its children stay as they
//! are (batches, updates and the generic walks read them), and every
//! change that reaches a depth-18 or depth-24 node rewrites its top
//! index (`Trie::refresh_top`). Layout, in the node's block before the
//! node at offset `o` (units of 16 bits):
//!
//! ```text
//! o - PAIRS + 8w     : word w of the 4096-slot runs bitmap (u64), then
//!                      back(w) = PAIRS + 2n + 2 - 2 × (runs starting in
//!                      words before w) (u16), 3 zero units
//! o - PAIRS - 2n     : the n entries (u32, as stored: `Trie::to_stored`;
//!                      a leaf's code or the offset of a
//!                      depth-30 node), in slot order
//! ```
//!
//! A slot's rank (runs that start at or before it) is at least 1, so its
//! entry is the rank-th one, at `o - back(w) + 2 × popcount(word w's bits
//! up to the slot)`: `back(w)` is read beside the word, so the chain from
//! the word's load to the entry's is a shift, a popcount and the load, as
//! in a 6-bit level. The block starts at `o - top_units(o)`.

use super::{Key, Trie, ALIGN, LEAF, LINE, OFFSET, STRIDE, TOP, WIDE};

/// Slots of the top index: bits 18..30 of the address.
pub(super) const TOP_BITS: u32 = 12;
/// Node levels one step of the top index stands for (depths 18 and 24).
pub(super) const TOP_LEVELS: u32 = TOP_BITS / STRIDE as u32;
/// Units of a bitmap word and its count (16 bytes, so one never straddles
/// a cache line: the block is 8-byte aligned and `PAIRS` below `o`).
pub(super) const PAIR: usize = 8;
/// Units of the 64 pairs, right before the node.
pub(super) const PAIRS: usize = 64 * PAIR;

/// The top slot of an address's upper half (bits 18..30).
#[inline(always)]
pub(super) fn top_slot(hi: u64) -> u32 {
    ((hi >> (64 - 18 - TOP_BITS)) & ((1 << TOP_BITS) - 1)) as u32
}

/// The entry (as stored: `Trie::to_stored`) of top slot `s` (< 4096) of
/// the node `e` points to.
///
/// # Safety
/// `e` is a node pointer with `TOP` set, of the trie whose arena `arena`
/// is (`Trie::write_top` wrote its index before the node, in its block).
#[inline(always)]
pub(super) unsafe fn top_entry(arena: &[u16], e: u32, s: u32) -> u32 {
    // Every IPv6 node is wide (`Trie::all_wide`): a direct entry that is a
    // node is its offset plus exactly these bits.
    const FLAGS: usize = (WIDE | TOP) as usize;
    debug_assert!(e & !OFFSET == WIDE | TOP);
    debug_assert!(e as usize - FLAGS <= arena.len());
    // Units are counted from `a - FLAGS`, so the entry indexes the pair
    // without masking its flags off: one operation fewer between the
    // direct entry's load and the pair's (the offsets below only ever
    // point back into the node's block).
    let a = arena.as_ptr().wrapping_sub(FLAGS);
    // The word's row (address bits only) first, the entry added last: the
    // one addition on the direct entry's chain is the load's own.
    let row = a
        .wrapping_add(PAIR * (s as usize >> 6 & 63))
        .wrapping_sub(PAIRS);
    let pw = row.wrapping_add(e as usize);
    // SAFETY: `a + e` is the node at offset e - FLAGS (see above); a `TOP`
    // pointer's block holds the 64 pairs right before the node and, before
    // them, as many entries as the runs (the caller's contract); the rank
    // e - back(w) + 2 × popcount stands for is >= 1 (slot 0 opens a run,
    // and back(w) counts every run before word w) and <= the runs.
    unsafe {
        let word = u64::from(*pw)
            | u64::from(*pw.wrapping_add(1)) << 16
            | u64::from(*pw.wrapping_add(2)) << 32
            | u64::from(*pw.wrapping_add(3)) << 48;
        let back = usize::from(*pw.wrapping_add(4));
        let i = e as usize - back + 2 * (word << (63 - (s & 63))).count_ones() as usize;
        debug_assert!(i + PAIRS < e as usize && i >= FLAGS);
        u32::from(*a.wrapping_add(i)) | u32::from(*a.wrapping_add(i + 1)) << 16
    }
}

impl<K: Key> Trie<K> {
    /// Whether direct entries that are nodes carry a top index: IPv6's,
    /// whose walks go on past depth 30 (an IPv4 walk ends at depth 32).
    #[inline]
    pub(super) fn has_top() -> bool {
        K::BITS == 128
    }

    /// Units of the top index before the node at offset `o` (a `TOP` node).
    pub(super) fn top_units(&self, o: usize) -> usize {
        // back(0) = PAIRS + 2n + 2.
        let n = (usize::from(self.arena[o - PAIRS + 4]) - PAIRS - 2) / 2;
        Self::top_units_for(n)
    }

    /// Units of a top index of `n` entries: the entries, padded so that
    /// the pairs start on a line (`Trie::alloc_lines` starts the block on
    /// one), then the pairs.
    fn top_units_for(n: usize) -> usize {
        (2 * n).next_multiple_of(LINE) + PAIRS
    }

    /// Stores a depth-18 node for `entries` (whose children are written)
    /// with its top index; a leaf entry when no node is needed.
    pub(super) fn write_top(&mut self, entries: &[u32; 64], inherited: u16) -> u32 {
        let mut runs = [0u64; 64];
        let mut list: Vec<u32> = Vec::new();
        for (w, &e) in entries.iter().enumerate() {
            for (b, &x) in self.slots_below(e).iter().enumerate() {
                if list.last() != Some(&x) {
                    runs[w] |= 1 << b;
                    list.push(x);
                }
            }
        }
        let pre = Self::top_units_for(list.len());
        let e = self.write_node_after(entries, inherited, pre);
        if e & LEAF != 0 {
            return e;
        }
        let o = (e & OFFSET) as usize;
        // The block's last line past the node: zeros, as in a fresh build.
        let words = self.node_size_at(e);
        let end = (o + words).next_multiple_of(LINE);
        self.arena[o + words..end].fill(0);
        let block = &mut self.arena[o - pre..o];
        block.fill(0);
        let mut back = PAIRS + 2 * list.len() + 2;
        for (w, &word) in runs.iter().enumerate() {
            let p = pre - PAIRS + PAIR * w;
            for (i, u) in block[p..p + 4].iter_mut().enumerate() {
                *u = (word >> (16 * i)) as u16;
            }
            block[p + 4] = back as u16;
            back -= 2 * word.count_ones() as usize;
        }
        let first = pre - PAIRS - 2 * list.len();
        for (i, &x) in (first..).step_by(2).zip(&list) {
            let x = Self::to_stored(x);
            block[i] = x as u16;
            block[i + 1] = (x >> 16) as u16;
        }
        e | TOP
    }

    /// The 64 slots one level below a slot holding `e`: a node's entries,
    /// or a leaf's code in each (what the top index expands).
    pub(super) fn slots_below(&self, e: u32) -> [u32; 64] {
        if e & LEAF == 0 {
            self.read_node(e)
        } else {
            [e; 64]
        }
    }

    /// Rewrites the top index of direct entry `di` (after a change below
    /// it), or gives a node written without one its index.
    pub(super) fn refresh_top(&mut self, di: usize) {
        let e = self.direct[di];
        if !Self::has_top() || e & LEAF != 0 {
            return;
        }
        let entries = self.read_node(e);
        let inherited = self.meta[(e & OFFSET) as usize / ALIGN];
        self.free_node(e);
        self.direct[di] = self.write_top(&entries, inherited);
    }

    /// Arena index of the entry of top slot `s` of the `TOP` node `e`,
    /// by checked reads.
    fn top_entry_index(&self, e: u32, s: usize) -> usize {
        let o = (e & OFFSET) as usize;
        let p = o - PAIRS + PAIR * (s >> 6);
        let word = self.u64_at(p) << (63 - (s & 63));
        o - usize::from(self.arena[p + 4]) + 2 * word.count_ones() as usize
    }

    /// Replaces the child pointer in top slot `s` of direct entry `di`
    /// with `child` (a child's slot is a run of its own, so the runs stay).
    pub(super) fn patch_top(&mut self, di: usize, s: usize, child: u32) {
        let e = self.direct[di];
        debug_assert!(e & (LEAF | TOP) == TOP && child & LEAF == 0);
        let i = self.top_entry_index(e, s);
        debug_assert!(
            self.wide_entry_at(i) & LEAF == 0,
            "top slot {s} held no child"
        );
        self.set_wide_entry(i, child);
    }

    /// The top index's entry of slot `s` of direct entry `e`, by checked
    /// reads (tests compare it with the two levels it stands for).
    #[cfg(test)]
    pub(super) fn top_entry_checked(&self, e: u32, s: u32) -> u32 {
        assert!(e & (LEAF | TOP) == TOP && s < 1 << TOP_BITS);
        let o = (e & OFFSET) as usize;
        let pre = self.top_units(o);
        assert!(o >= pre + K::RESERVED);
        let i = self.top_entry_index(e, s as usize);
        assert!(
            i >= o - pre && i < o - PAIRS,
            "top slot {s}: rank out of range"
        );
        self.wide_entry_at(i)
    }
}
