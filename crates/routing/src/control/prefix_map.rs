//! The million-entry maps keyed by prefix (the RIB's, BGP's Adj-RIBs-In
//! and -Out): one [`SortedMap`] per address family, so an IPv4 key takes
//! the 5 bytes of an `Ipv4Net` rather than the 18 of an `IpNet` (whose IPv6
//! variant sets its size): 13 bytes less per IPv4 prefix in each map, 26 MB
//! for a full table held by both. Keys come out by value (`IpNet`), since
//! no `IpNet` is stored to lend.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::sorted_map::SortedMap;

#[derive(Clone)]
pub struct PrefixMap<V> {
    v4: SortedMap<Ipv4Net, V>,
    v6: SortedMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: SortedMap::default(),
            v6: SortedMap::default(),
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for PrefixMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> PrefixMap<V> {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Entries per family: (IPv4, IPv6).
    pub fn family_lens(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    pub fn get(&self, key: &IpNet) -> Option<&V> {
        match key {
            IpNet::V4(k) => self.v4.get(k),
            IpNet::V6(k) => self.v6.get(k),
        }
    }

    pub fn get_mut(&mut self, key: &IpNet) -> Option<&mut V> {
        match key {
            IpNet::V4(k) => self.v4.get_mut(k),
            IpNet::V6(k) => self.v6.get_mut(k),
        }
    }

    pub fn contains_key(&self, key: &IpNet) -> bool {
        self.get(key).is_some()
    }

    /// The value for `key`, inserted by `make` if there was none.
    pub fn get_or_insert_with(&mut self, key: IpNet, make: impl FnOnce() -> V) -> &mut V {
        match key {
            IpNet::V4(k) => self.v4.get_or_insert_with(k, make),
            IpNet::V6(k) => self.v6.get_or_insert_with(k, make),
        }
    }

    /// Inserts `make()` under each of `keys` the map lacks, in one merge
    /// per family (see [`SortedMap::insert_absent`]).
    pub fn insert_absent(&mut self, keys: impl IntoIterator<Item = IpNet>, make: impl Fn() -> V) {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for key in keys {
            match key {
                IpNet::V4(k) => v4.push(k),
                IpNet::V6(k) => v6.push(k),
            }
        }
        self.v4.insert_absent(v4, &make);
        self.v6.insert_absent(v6, &make);
    }

    /// Sets `key`'s value; the old one, if any.
    pub fn insert(&mut self, key: IpNet, value: V) -> Option<V> {
        match key {
            IpNet::V4(k) => self.v4.insert(k, value),
            IpNet::V6(k) => self.v6.insert(k, value),
        }
    }

    /// Removes `key`; its value, if it was there.
    pub fn remove(&mut self, key: &IpNet) -> Option<V> {
        match key {
            IpNet::V4(k) => self.v4.remove(k),
            IpNet::V6(k) => self.v6.remove(k),
        }
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(IpNet, &mut V) -> bool) {
        self.v4.retain(|k, v| keep(IpNet::V4(*k), v));
        self.v6.retain(|k, v| keep(IpNet::V6(*k), v));
    }

    /// Heap bytes of both families' maps ([`SortedMap::memory_bytes`]).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }

    /// See [`SortedMap::compact`].
    pub fn compact(&mut self) {
        self.v4.compact();
        self.v6.compact();
    }

    /// IPv4 prefixes first, each family in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> + '_ {
        let v4 = self.v4.iter().map(|(k, v)| (IpNet::V4(*k), v));
        v4.chain(self.v6.iter().map(|(k, v)| (IpNet::V6(*k), v)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> + '_ {
        let v4 = self.v4.iter_mut().map(|(k, v)| (IpNet::V4(*k), v));
        v4.chain(self.v6.iter_mut().map(|(k, v)| (IpNet::V6(*k), v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.v4.values().chain(self.v6.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn both_families_behave_as_one_map() {
        let mut m = PrefixMap::default();
        assert_eq!(m.insert(net("10.0.0.0/8"), 1), None);
        assert_eq!(m.insert(net("2001:db8::/32"), 2), None);
        assert_eq!(m.insert(net("10.0.0.0/8"), 3), Some(1));
        // The same bits in the other family are another key.
        assert_eq!(m.insert(net("::a00:0/8"), 4), None);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&net("10.0.0.0/8")), Some(&3));
        assert_eq!(m.get(&net("::a00:0/8")), Some(&4));
        *m.get_or_insert_with(net("192.0.2.0/24"), || 0) += 5;
        assert_eq!(m.get(&net("192.0.2.0/24")), Some(&5));
        let mut all: Vec<(IpNet, i32)> = m.iter().map(|(k, v)| (k, *v)).collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                (net("10.0.0.0/8"), 3),
                (net("192.0.2.0/24"), 5),
                (net("::a00:0/8"), 4),
                (net("2001:db8::/32"), 2),
            ]
        );
        m.retain(|k, v| {
            *v += 1;
            k.prefix_len() != 8
        });
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove(&net("2001:db8::/32")), Some(3));
        assert_eq!(m.keys().collect::<Vec<_>>(), vec![net("192.0.2.0/24")]);
        assert_eq!(m.values().sum::<i32>(), 6);
    }

    /// What the split is for: an IPv4 key takes 5 bytes, not 18.
    #[test]
    fn an_ipv4_key_takes_5_bytes() {
        assert_eq!(std::mem::size_of::<Ipv4Net>(), 5);
        assert_eq!(std::mem::size_of::<Ipv6Net>(), 17);
        assert_eq!(std::mem::size_of::<IpNet>(), 18);
    }
}
