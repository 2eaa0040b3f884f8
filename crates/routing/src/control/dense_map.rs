//! A hash map for the million-entry prefix maps (the RIB's, BGP's
//! Adj-RIBs-In): keys and values in two dense `Vec`s (no padding between an
//! 18-byte `IpNet` and an 8-aligned value) and the hash table holding only
//! their 4-byte indices.
//!
//! A `HashMap` keeps its entries in the bucket array itself, and a power-of-
//! two bucket count at most 7/8 full leaves a full table (1.25 M IPv4 and
//! IPv6 prefixes) in 2^21 buckets, 60 % used: every empty bucket costs a
//! whole entry (48–64 bytes here), and the pages of a half-empty array are
//! all touched. Here an empty bucket costs 4 bytes and a control byte, and
//! the entries are packed (the `Vec`'s spare capacity is never written, so
//! never resident). Removal moves the last entry into the hole
//! (`swap_remove`), so iteration order is arbitrary, as a hash map's is.
//!
//! Keys are hashed with the seeded [`FastState`], as every map keyed by
//! what a peer sends is.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::hash::FastState;

#[derive(Clone)]
pub struct DenseMap<K, V> {
    /// Indices into `keys` and `values`.
    index: HashTable<u32>,
    keys: Vec<K>,
    values: Vec<V>,
    state: FastState,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            index: HashTable::new(),
            keys: Vec::new(),
            values: Vec::new(),
            state: FastState::default(),
        }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for DenseMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.keys.iter().zip(&self.values))
            .finish()
    }
}

impl<K: Hash + Eq, V> DenseMap<K, V> {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Entries the map holds without growing.
    pub fn capacity(&self) -> usize {
        self.index
            .capacity()
            .min(self.keys.capacity())
            .min(self.values.capacity())
    }

    pub fn reserve(&mut self, additional: usize) {
        let (keys, state) = (&self.keys, &self.state);
        self.index
            .reserve(additional, |&i| state.hash_one(&keys[i as usize]));
        self.keys.reserve(additional);
        self.values.reserve(additional);
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.keys.clear();
        self.values.clear();
    }

    fn position(&self, key: &K) -> Option<usize> {
        let hash = self.state.hash_one(key);
        self.index
            .find(hash, |&i| self.keys[i as usize] == *key)
            .map(|&i| i as usize)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.values[i])
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.position(key).map(|i| &mut self.values[i])
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_some()
    }

    /// The value for `key`, inserted by `make` if there was none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let hash = self.state.hash_one(&key);
        let (keys, state) = (&mut self.keys, &self.state);
        let i = match self.index.entry(
            hash,
            |&i| keys[i as usize] == key,
            |&i| state.hash_one(&keys[i as usize]),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get() as usize,
            hashbrown::hash_table::Entry::Vacant(e) => {
                let i = keys.len();
                e.insert(index_of(i));
                keys.push(key);
                self.values.push(make());
                i
            }
        };
        &mut self.values[i]
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
        let hash = self.state.hash_one(key);
        let keys = &self.keys;
        let found = self
            .index
            .find_entry(hash, |&i| keys[i as usize] == *key)
            .ok()?;
        let (i, _) = found.remove();
        Some(self.take(i as usize))
    }

    /// Takes entry `i` out (its index is already gone): the last entry moves
    /// into its place and its index is pointed there.
    fn take(&mut self, i: usize) -> V {
        let last = self.keys.len() - 1;
        if i != last {
            let hash = self.state.hash_one(&self.keys[last]);
            let moved = self
                .index
                .find_mut(hash, |&j| j as usize == last)
                .expect("every entry has an index");
            *moved = index_of(i);
        }
        self.keys.swap_remove(i);
        self.values.swap_remove(i)
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut i = 0;
        while i < self.keys.len() {
            if keep(&self.keys[i], &mut self.values[i]) {
                i += 1;
                continue;
            }
            let hash = self.state.hash_one(&self.keys[i]);
            if let Ok(e) = self.index.find_entry(hash, |&j| j as usize == i) {
                e.remove();
            }
            // The last entry moved into `i`: look at it next.
            self.take(i);
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> + Clone + '_ {
        self.keys.iter().zip(&self.values)
    }

    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&K, &mut V)> + '_ {
        self.keys.iter().zip(&mut self.values)
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> + Clone + '_ {
        self.keys.iter()
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + Clone + '_ {
        self.values.iter()
    }
}

impl<K, V> IntoIterator for DenseMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::iter::Zip<std::vec::IntoIter<K>, std::vec::IntoIter<V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.keys.into_iter().zip(self.values)
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for DenseMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = DenseMap::default();
        for (k, v) in items {
            map.insert(k, v);
        }
        map
    }
}

fn index_of(i: usize) -> u32 {
    u32::try_from(i).expect("a dense map holds fewer than 2^32 entries")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Upsert(u16, u32),
        Retain(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Keys from a small range so that removals and overwrites hit.
        prop_oneof![
            4 => (0..300u16, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0..300u16).prop_map(Op::Remove),
            2 => (0..300u16, any::<u32>()).prop_map(|(k, v)| Op::Upsert(k, v)),
            1 => (2..7u16).prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Every operation answers as a `HashMap` does, and afterwards the
        /// two hold the same entries.
        #[test]
        fn behaves_as_a_hash_map(ops in proptest::collection::vec(op(), 0..600)) {
            let mut dense: DenseMap<u16, u32> = DenseMap::default();
            let mut model: HashMap<u16, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(dense.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(dense.remove(&k), model.remove(&k)),
                    Op::Upsert(k, v) => {
                        *dense.get_or_insert_with(k, || 0) ^= v;
                        *model.entry(k).or_insert(0) ^= v;
                    }
                    Op::Retain(m) => {
                        dense.retain(|k, v| { *v = v.wrapping_add(1); k % m != 0 });
                        model.retain(|k, v| { *v = v.wrapping_add(1); k % m != 0 });
                    }
                }
                prop_assert_eq!(dense.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(dense.get(k), Some(v));
            }
            let mut all: Vec<(u16, u32)> = dense.iter().map(|(k, v)| (*k, *v)).collect();
            all.sort_unstable();
            let mut want: Vec<(u16, u32)> = model.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }

    #[test]
    fn an_absent_key_is_absent_after_removal_of_others() {
        let mut map: DenseMap<u32, u32> = (0..1000).map(|i| (i, i * 2)).collect();
        for i in (0..1000).step_by(3) {
            assert_eq!(map.remove(&i), Some(i * 2));
        }
        assert_eq!(map.remove(&0), None);
        assert_eq!(map.len(), 666);
        assert_eq!(map.get(&999), None);
        assert_eq!(map.get(&998), Some(&1996));
        assert!(map.capacity() >= 666);
    }
}
