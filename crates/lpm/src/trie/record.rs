//! The control-side record of every route, `(key, length) → leaf code`,
//! that updates repaint from and rebuilds recompile.
//!
//! A `BTreeMap` costs 12–18 bytes per IPv4 route and 35–55 per IPv6 one
//! (a node per few entries, the IPv6 key padded to 32 bytes, nodes two
//! thirds full after random inserts), more than the compiled trie itself.
//! Here the routes live in three sorted, packed arrays (keys, lengths,
//! codes: 7 bytes per IPv4 route, 19 per IPv6 one) and recent changes in a
//! small `BTreeMap` overlay (a code, or `None` for a removal), merged into
//! the arrays once the overlay holds an eighth of them: a merge is one
//! linear pass, paid once per many thousand changes. Lookups read the
//! overlay first, then binary-search the arrays.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::Key;
use crate::sorted_arrays::{merge_changes, BucketIndex, BUCKET_BITS};

/// Overlay size that never triggers a merge (tiny tables).
const OVERLAY_MIN: usize = 1024;

#[derive(Debug, Clone, Default)]
pub(super) struct Record<K: Key> {
    /// Sorted by `(key, length)`, no duplicates; the three arrays are
    /// parallel.
    keys: Vec<K>,
    lens: Vec<u8>,
    codes: Vec<u16>,
    /// Bounds of the keys sharing their leading bits.
    start: BucketIndex,
    /// Changes not merged yet: `Some(code)` sets, `None` removes a route
    /// the arrays hold.
    overlay: BTreeMap<(K, u8), Option<u16>>,
    len: usize,
}

impl<K: Key> Record<K> {
    /// A record of `items` (`n` of them), sorted by `(key, length)`
    /// without duplicates.
    pub(super) fn from_sorted(items: impl Iterator<Item = ((K, u8), u16)>, n: usize) -> Self {
        let (mut keys, mut lens, mut codes) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for ((k, l), c) in items {
            debug_assert!(keys
                .last()
                .is_none_or(|&last| (last, *lens.last().unwrap()) < (k, l)));
            keys.push(k);
            lens.push(l);
            codes.push(c);
        }
        let start = BucketIndex::build(&keys, |&k| bucket(k));
        Record {
            len: keys.len(),
            keys,
            lens,
            codes,
            start,
            overlay: BTreeMap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes (the overlay's nodes estimated at 1.5× their payload).
    pub(super) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<K>()
            + self.lens.capacity()
            + self.codes.capacity() * 2
            + self.start.memory_bytes()
            + self.overlay.len() * size_of::<((K, u8), Option<u16>)>() * 3 / 2
    }

    /// The array indices that can hold key `k`: its bucket's, or all.
    fn bounds(&self, k: K) -> (usize, usize) {
        self.start.bounds(bucket(k), self.keys.len())
    }

    /// Index of the first array entry not below `(k, l)`.
    fn lower_bound(&self, k: K, l: u8) -> usize {
        let (mut lo, mut hi) = self.bounds(k);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if (self.keys[mid], self.lens[mid]) < (k, l) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn array_get(&self, k: K, l: u8) -> Option<u16> {
        let i = self.lower_bound(k, l);
        (i < self.keys.len() && self.keys[i] == k && self.lens[i] == l).then(|| self.codes[i])
    }

    pub(super) fn get(&self, entry: &(K, u8)) -> Option<u16> {
        match self.overlay.get(entry) {
            Some(&change) => change,
            None => self.array_get(entry.0, entry.1),
        }
    }

    /// Sets `entry`'s code; returns the one it had.
    pub(super) fn insert(&mut self, entry: (K, u8), code: u16) -> Option<u16> {
        let old = self.get(&entry);
        self.overlay.insert(entry, Some(code));
        if old.is_none() {
            self.len += 1;
        }
        self.merge_if_large();
        old
    }

    /// Removes `entry`; returns its code if it was there.
    pub(super) fn remove(&mut self, entry: &(K, u8)) -> Option<u16> {
        let old = match self.overlay.get(entry) {
            // Set since the last merge: drop the change, and mark the
            // arrays' entry (if any) removed.
            Some(&Some(code)) => {
                match self.array_get(entry.0, entry.1) {
                    Some(_) => self.overlay.insert(*entry, None),
                    None => self.overlay.remove(entry),
                };
                code
            }
            Some(None) => return None,
            None => {
                let code = self.array_get(entry.0, entry.1)?;
                self.overlay.insert(*entry, None);
                code
            }
        };
        self.len -= 1;
        self.merge_if_large();
        Some(old)
    }

    /// Routes from `lo` to `hi` inclusive, in order.
    pub(super) fn range(
        &self,
        lo: (K, u8),
        hi: (K, u8),
    ) -> impl Iterator<Item = ((K, u8), u16)> + '_ {
        let first = self.lower_bound(lo.0, lo.1);
        let end = match hi.1.checked_add(1) {
            Some(next) => self.lower_bound(hi.0, next),
            // (hi.0, u8::MAX) is the last entry of its key: bound past it.
            None => self.upper_bound_key(hi.0),
        };
        let array = (first..end).map(|i| ((self.keys[i], self.lens[i]), Some(self.codes[i])));
        let overlay = self
            .overlay
            .range((Bound::Included(lo), Bound::Included(hi)))
            .map(|(&e, &c)| (e, c));
        merge_changes(array, overlay)
    }

    /// Index of the first array entry whose key is above `k`.
    fn upper_bound_key(&self, k: K) -> usize {
        let (mut lo, mut hi) = self.bounds(k);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.keys[mid] <= k {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Every route, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = ((K, u8), u16)> + '_ {
        let first = (K::default(), 0);
        let last = (K::from_left(u128::MAX), u8::MAX);
        self.range(first, last)
    }

    /// Folds the overlay into the arrays (see [`super::Trie::compact_record`]).
    pub(super) fn compact(&mut self) {
        if !self.overlay.is_empty() {
            self.merge();
        }
    }

    fn merge_if_large(&mut self) {
        if self.overlay.len() >= OVERLAY_MIN.max(self.keys.len() / 8) {
            self.merge();
        }
    }

    /// Folds the overlay into the arrays.
    fn merge(&mut self) {
        *self = Record::from_sorted(self.iter(), self.len);
    }
}

/// The bucket of key `k`: its leading `BUCKET_BITS` bits.
fn bucket<K: Key>(k: K) -> usize {
    (k.to_left() >> (128 - BUCKET_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testkit::Rng;

    /// The record against a `BTreeMap` over random inserts and removals
    /// crossing many merges, with lookups and ranges checked throughout.
    #[test]
    fn matches_a_btreemap_across_merges() {
        let mut rng = Rng::new(7);
        let mut record = Record::<u32>::default();
        let mut model = BTreeMap::new();
        for step in 0..60_000u32 {
            // A small key space so inserts replace and removals hit.
            let k = (rng.below(4096) as u32) << 20;
            let l = 12 + rng.below(3) as u8;
            if rng.below(3) == 0 {
                assert_eq!(record.remove(&(k, l)), model.remove(&(k, l)), "step {step}");
            } else {
                let c = rng.below(1000) as u16 + 1;
                assert_eq!(
                    record.insert((k, l), c),
                    model.insert((k, l), c),
                    "step {step}"
                );
            }
            assert_eq!(record.len(), model.len());
            if step % 997 == 0 {
                let lo = ((rng.below(4096) as u32) << 20, 0);
                let hi = (lo.0 | 0x0fff_ffff, u8::MAX);
                let got: Vec<_> = record.range(lo, hi).collect();
                let want: Vec<_> = model.range(lo..=hi).map(|(&e, &c)| (e, c)).collect();
                assert_eq!(got, want, "step {step}");
            }
        }
        let got: Vec<_> = record.iter().collect();
        let want: Vec<_> = model.iter().map(|(&e, &c)| (e, c)).collect();
        assert_eq!(got, want);
        assert!(record.overlay.len() <= OVERLAY_MIN.max(record.keys.len() / 8));
        assert!(!record.overlay.is_empty(), "the last changes are pending");
        record.compact();
        assert!(record.overlay.is_empty());
        assert_eq!(record.keys.len(), model.len(), "removed keys are gone");
        assert_eq!(record.iter().collect::<Vec<_>>(), want);
        for (&e, &c) in &model {
            assert_eq!(record.get(&e), Some(c));
        }
    }

    #[test]
    fn ranges_end_at_the_last_length_of_the_last_key() {
        let items = [
            ((0u128, 0u8), 1u16),
            ((u128::MAX, 128), 2),
            ((u128::MAX, 255), 3),
        ];
        let record = Record::from_sorted(items.into_iter(), items.len());
        assert_eq!(record.iter().count(), 3);
        let last: Vec<_> = record
            .range((u128::MAX, 128), (u128::MAX, u8::MAX))
            .collect();
        assert_eq!(last, [((u128::MAX, 128), 2), ((u128::MAX, 255), 3)]);
    }
}
