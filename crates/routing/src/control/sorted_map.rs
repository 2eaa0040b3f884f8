//! The map behind the million-entry prefix maps (the RIB's, BGP's
//! Adj-RIBs-In and -Out): keys and values in two packed arrays sorted by
//! key. A removal leaves a hole (`None`) in place; a key the arrays lack
//! goes to a hashed overlay; both are merged into the arrays once they
//! amount to an eighth of them (one linear pass), and when the table
//! settles (`compact`).
//!
//! The overlay is one hash table, not a B-tree: a full table arriving
//! leaves up to an eighth of its prefixes there, and a B-tree's thousands
//! of small nodes, allocated between the path attributes that live on,
//! left their holes resident in the heap after a merge freed them (6 MB
//! freed, RSS unchanged, in scripts/bench-bgp); the table is one mapping
//! (beyond glibc's mmap threshold) that a merge hands back whole. Only
//! iteration wants the overlay in key order: it sorts it then.
//!
//! A hash map needs an index beside the entries: hashbrown's is 5 bytes
//! per bucket in a power-of-two table at most 7/8 full, so a full IPv4
//! table (998k prefixes) took 2^21 buckets, 10.5 MB per map, as much as the
//! keys and values together. Here the sorted keys are the index: a lookup
//! reads the overlay, then the bounds of the key's bucket (its leading 16
//! bits, one load from a 256 KiB table kept for maps of 4,096 entries or
//! more) and binary-searches the few entries sharing them. Iteration is in
//! key order.

use std::collections::hash_map::Entry;
use std::hash::Hash;

use crate::control::hash::FastMap;

use crate::lpm::sorted_arrays::{merge_changes, BucketIndex, BUCKET_BITS};

/// Overlay size that never triggers a merge (small maps).
const OVERLAY_MIN: usize = 1024;

/// A key with a bucket: its leading `BUCKET_BITS` bits, so that the
/// buckets follow the key order.
pub trait BucketKey: Ord + Copy + Hash {
    fn bucket(&self) -> usize;
}

#[derive(Clone)]
pub struct SortedMap<K, V> {
    /// Sorted, no duplicates; `values[i]` is `keys[i]`'s value, `None`
    /// once it was removed (an `Option` of the maps' values takes no more
    /// room: they all have a niche).
    keys: Vec<K>,
    values: Vec<Option<V>>,
    /// Bounds of the keys sharing their leading bits.
    start: BucketIndex,
    /// Keys the arrays lack, inserted since the last merge.
    overlay: FastMap<K, V>,
    /// Removed keys the arrays still hold (`None` values).
    holes: usize,
    len: usize,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            keys: Vec::new(),
            values: Vec::new(),
            start: BucketIndex::default(),
            overlay: FastMap::default(),
            holes: 0,
            len: 0,
        }
    }
}

impl<K: BucketKey, V> SortedMap<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        *self = SortedMap::default();
    }

    /// Where `key` is in the arrays (whether or not it was removed).
    fn position(&self, key: &K) -> Option<usize> {
        let (lo, hi) = self.start.bounds(key.bucket(), self.keys.len());
        self.keys[lo..hi].binary_search(key).ok().map(|i| lo + i)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        match self.position(key) {
            Some(i) => self.values[i].as_ref(),
            None => self.overlay.get(key),
        }
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.position(key) {
            Some(i) => self.values[i].as_mut(),
            None => self.overlay.get_mut(key),
        }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// The value for `key`, inserted by `make` if there was none. One
    /// search of the arrays and at most one probe of the overlay (bulk
    /// loads come here a million times).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let mut position = self.position(&key);
        // A new key goes to the overlay: make room first if it is full.
        if position.is_none()
            && self.pending() >= self.overlay_limit()
            && !self.overlay.contains_key(&key)
        {
            self.merge();
            position = self.position(&key);
        }
        match position {
            Some(i) => {
                if self.values[i].is_none() {
                    self.holes -= 1;
                    self.len += 1;
                }
                self.values[i].get_or_insert_with(make)
            }
            None => match self.overlay.entry(key) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    self.len += 1;
                    e.insert(make())
                }
            },
        }
    }

    /// Inserts `make()` under each of `keys` the map lacks, in one merge
    /// when they are many: what bulk loads (a table file, a first feed)
    /// call before filling the values, since a million overlay inserts and
    /// the merges they trigger cost several times as much.
    pub fn insert_absent(&mut self, mut keys: Vec<K>, make: impl Fn() -> V) {
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|k| !self.contains_key(k));
        if keys.len() < self.overlay_limit() {
            // Few: the overlay takes them (a merge would copy the arrays).
            for k in keys {
                self.get_or_insert_with(k, &make);
            }
            return;
        }
        self.merge();
        let added = keys.len();
        let array = std::mem::take(&mut self.keys)
            .into_iter()
            .zip(std::mem::take(&mut self.values));
        let new = keys.into_iter().map(|k| (k, Some(make())));
        let total = self.len + added;
        let (mut keys, mut values) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for (k, v) in merge_changes(array, new) {
            keys.push(k);
            values.push(Some(v));
        }
        *self = Self::from_sorted(keys, values);
    }

    /// Sets `key`'s value; the old one, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.get_or_insert_with(key, || value);
                None
            }
        }
    }

    /// Removes `key`; its value, if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = match self.position(key) {
            Some(i) => {
                let old = self.values[i].take()?;
                self.holes += 1;
                old
            }
            None => self.overlay.remove(key)?,
        };
        self.len -= 1;
        if self.pending() >= self.overlay_limit() {
            self.merge();
        }
        Some(old)
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.merge();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for (k, v) in std::mem::take(&mut self.keys)
            .into_iter()
            .zip(std::mem::take(&mut self.values))
        {
            if let Some(mut v) = v {
                if keep(&k, &mut v) {
                    keys.push(k);
                    values.push(Some(v));
                }
            }
        }
        *self = Self::from_sorted(keys, values);
    }

    /// Folds the overlay and the holes into the arrays, so that a table
    /// that has stopped changing keeps no hash table beside them (see
    /// `Rib::compact`).
    pub fn compact(&mut self) {
        self.merge();
    }

    /// Every entry in key order (the overlay's keys are sorted for it: an
    /// allocation per call, which only bulk readers make).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let array = self.keys.iter().zip(self.values.iter().map(Option::as_ref));
        merge_changes(array, self.sorted_overlay().map(|(k, v)| (k, Some(v))))
    }

    /// Every entry in key order, mutably (the overlay merged first).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> + '_ {
        self.merge();
        self.keys
            .iter()
            .zip(&mut self.values)
            .filter_map(|(k, v)| Some((k, v.as_mut()?)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    fn sorted_overlay(&self) -> std::vec::IntoIter<(&K, &V)> {
        let mut pending: Vec<(&K, &V)> = self.overlay.iter().collect();
        pending.sort_unstable_by(|a, b| a.0.cmp(b.0));
        pending.into_iter()
    }

    fn from_sorted(keys: Vec<K>, values: Vec<Option<V>>) -> Self {
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let start = BucketIndex::build(&keys, K::bucket);
        SortedMap {
            len: keys.len(),
            keys,
            values,
            start,
            overlay: FastMap::default(),
            holes: 0,
        }
    }

    /// Heap bytes: the arrays (by capacity), the bucket index and the
    /// overlay's table (one control byte per bucket beside the entries).
    pub fn memory_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<K>()
            + self.values.capacity() * size_of::<Option<V>>()
            + self.start.memory_bytes()
            + self.overlay.capacity() * (size_of::<(K, V)>() + 1)
    }

    /// Changes the arrays do not hold yet: new keys and holes.
    fn pending(&self) -> usize {
        self.overlay.len() + self.holes
    }

    fn overlay_limit(&self) -> usize {
        OVERLAY_MIN.max(self.keys.len() / 8)
    }

    /// Folds the overlay and the holes into the arrays.
    fn merge(&mut self) {
        if self.pending() == 0 {
            return;
        }
        let (mut keys, mut values) = (Vec::with_capacity(self.len), Vec::with_capacity(self.len));
        let mut overlay: Vec<(K, V)> = std::mem::take(&mut self.overlay).into_iter().collect();
        overlay.sort_unstable_by_key(|e| e.0);
        let array = std::mem::take(&mut self.keys)
            .into_iter()
            .zip(std::mem::take(&mut self.values));
        for (k, v) in merge_changes(array, overlay.into_iter().map(|(k, v)| (k, Some(v)))) {
            keys.push(k);
            values.push(Some(v));
        }
        *self = Self::from_sorted(keys, values);
    }
}

impl BucketKey for ipnet::Ipv4Net {
    fn bucket(&self) -> usize {
        (u32::from(self.addr()) >> (32 - BUCKET_BITS)) as usize
    }
}

impl BucketKey for ipnet::Ipv6Net {
    fn bucket(&self) -> usize {
        (u128::from(self.addr()) >> (128 - BUCKET_BITS)) as usize
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    impl BucketKey for u32 {
        fn bucket(&self) -> usize {
            (self >> (32 - BUCKET_BITS)) as usize
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Upsert(u32, u32),
        Retain(u32),
        Compact,
    }

    /// Keys from `0..n`, spread over the buckets (`spread`: shifted left),
    /// so that removals and overwrites hit.
    fn op(n: u32, spread: u32) -> impl Strategy<Value = Op> {
        let key = (0..n).prop_map(move |k| k << spread);
        prop_oneof![
            4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => key.clone().prop_map(Op::Remove),
            2 => (key, any::<u32>()).prop_map(|(k, v)| Op::Upsert(k, v)),
            1 => (2..7u32).prop_map(Op::Retain),
            1 => Just(Op::Compact),
        ]
    }

    fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut map: SortedMap<u32, u32> = SortedMap::default();
        let mut model: HashMap<u32, u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                Op::Upsert(k, v) => {
                    *map.get_or_insert_with(k, || 0) ^= v;
                    *model.entry(k).or_insert(0) ^= v;
                }
                Op::Retain(m) => {
                    map.retain(|k, v| {
                        *v = v.wrapping_add(1);
                        k % m != 0
                    });
                    model.retain(|k, v| {
                        *v = v.wrapping_add(1);
                        k % m != 0
                    });
                }
                Op::Compact => {
                    map.compact();
                    prop_assert!(map.overlay.is_empty());
                    prop_assert_eq!(map.keys.len(), model.len(), "removed keys gone");
                }
            }
            prop_assert_eq!(map.len(), model.len());
        }
        for (k, v) in &model {
            prop_assert_eq!(map.get(k), Some(v));
        }
        let all: Vec<(u32, u32)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        let mut want: Vec<(u32, u32)> = model.into_iter().collect();
        want.sort_unstable();
        // In key order, with every change applied.
        prop_assert_eq!(&all, &want);
        // A bulk insert of present and absent keys adds only the absent.
        let before = map.len();
        let probe: Vec<u32> = map
            .keys()
            .copied()
            .take(3)
            .chain([u32::MAX, u32::MAX - 1])
            .collect();
        let fresh = probe.iter().filter(|k| !map.contains_key(k)).count();
        map.insert_absent(probe.clone(), || 7);
        prop_assert_eq!(map.len(), before + fresh);
        prop_assert!(probe.iter().all(|k| map.contains_key(k)));
        prop_assert_eq!(map.get(&(u32::MAX - 1)), Some(&7));
        for k in [u32::MAX, u32::MAX - 1] {
            map.remove(&k);
        }
        for (k, v) in map.iter_mut() {
            *v = k.wrapping_mul(3);
        }
        prop_assert!(map.iter().all(|(k, v)| *v == k.wrapping_mul(3)));
        Ok(())
    }

    /// New keys wait in the hashed overlay; compaction folds them into the
    /// arrays and frees its table (`memory_bytes` counts both).
    #[test]
    fn compaction_frees_the_overlay_table() {
        let mut map: SortedMap<u32, u32> = SortedMap::default();
        for k in 0..20_000u32 {
            map.insert(k << 16, k);
        }
        map.compact();
        let merged = map.memory_bytes();
        for k in 0..1_000u32 {
            map.insert((k << 16) | 1, k);
        }
        map.remove(&(7 << 16));
        assert!(map.overlay.len() == 1_000 && map.holes == 1, "pending");
        let pending = map.memory_bytes();
        assert!(pending >= merged + 1_000 * 9, "{pending} vs {merged}");
        map.compact();
        assert_eq!(map.overlay.capacity(), 0);
        assert_eq!((map.len(), map.keys.len()), (20_999, 20_999));
        // 4-byte keys, 8-byte `Option<u32>` values.
        assert_eq!(map.memory_bytes(), merged + 999 * 12);
        assert_eq!(map.get(&((3 << 16) | 1)), Some(&3));
    }

    /// Many absent keys go in with one merge, beside present ones (left
    /// as they were) and overlay changes not merged yet.
    #[test]
    fn a_bulk_insert_adds_only_the_absent_keys() {
        let mut map: SortedMap<u32, u32> = SortedMap::default();
        for k in 0..6000u32 {
            map.insert(k << 18, k);
        }
        map.remove(&(5 << 18));
        map.insert(7 << 18, 70);
        let keys: Vec<u32> = (0..2000u32)
            .map(|k| (k * 3) << 18 | 1)
            .chain([4 << 18, 5 << 18, 7 << 18])
            .collect();
        map.insert_absent(keys.clone(), || u32::MAX);
        assert_eq!(map.len(), 6000 + 2000);
        assert_eq!(map.get(&(4 << 18)), Some(&4));
        assert_eq!(map.get(&(5 << 18)), Some(&u32::MAX), "removed, so absent");
        assert_eq!(map.get(&(7 << 18)), Some(&70));
        assert!(keys.iter().all(|k| map.contains_key(k)));
        let all: Vec<u32> = map.keys().copied().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(all.len(), 8000);
    }

    proptest! {
        /// Every operation answers as a `HashMap` does, and afterwards the
        /// two hold the same entries (small maps: no bucket index).
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec(op(300, 0), 0..600)) {
            check(ops)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// The same past `INDEXED_MIN` entries, with the bucket index and
        /// many merges.
        #[test]
        fn behaves_as_a_hash_map_when_large(
            ops in proptest::collection::vec(op(12_000, 19), 10_000..30_000)
        ) {
            check(ops)?;
        }
    }
}
