//! The million-entry maps keyed by prefix (the RIB's, BGP's Adj-RIBs-In
//! and -Out): one [`SortedMap`] per key size, so an IPv4 key takes the 5
//! bytes of an `Ipv4Net` rather than the 18 of an `IpNet` (whose IPv6
//! variant sets its size), and an IPv6 prefix of 64 bits or fewer (nearly
//! every route of a full table: RIS's longest are /48s and /64s) the 9
//! bytes of its upper half and length rather than the 17 of an `Ipv6Net`.
//! Longer IPv6 prefixes (and ones with host bits set) keep a map of their
//! own. Keys come out by value (`IpNet`), since no `IpNet` is stored to
//! lend.

use std::net::Ipv6Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::sorted_map::{BucketKey, SortedMap};
use crate::lpm::sorted_arrays::{merge_changes, BUCKET_BITS};

/// An IPv6 prefix of at most 64 bits without host bits: its network's
/// upper 64 bits (big-endian, so that the byte order is the numeric one)
/// and its length. Ordered as its `Ipv6Net`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct Ipv6Short {
    upper: [u8; 8],
    len: u8,
}

impl Ipv6Short {
    fn of(net: &Ipv6Net) -> Option<Self> {
        let bits = u128::from(net.addr());
        (net.prefix_len() <= 64 && bits as u64 == 0).then(|| Ipv6Short {
            upper: ((bits >> 64) as u64).to_be_bytes(),
            len: net.prefix_len(),
        })
    }

    fn net(self) -> Ipv6Net {
        let addr = Ipv6Addr::from(u128::from(u64::from_be_bytes(self.upper)) << 64);
        Ipv6Net::new(addr, self.len).expect("at most 64 bits")
    }
}

impl BucketKey for Ipv6Short {
    fn bucket(&self) -> usize {
        (u64::from_be_bytes(self.upper) >> (64 - BUCKET_BITS)) as usize
    }
}

/// Which map holds a prefix.
enum Slot {
    V4(Ipv4Net),
    Short(Ipv6Short),
    Long(Ipv6Net),
}

fn slot(key: &IpNet) -> Slot {
    match key {
        IpNet::V4(k) => Slot::V4(*k),
        IpNet::V6(k) => Ipv6Short::of(k).map_or(Slot::Long(*k), Slot::Short),
    }
}

#[derive(Clone)]
pub struct PrefixMap<V> {
    v4: SortedMap<Ipv4Net, V>,
    v6: SortedMap<Ipv6Short, V>,
    v6_long: SortedMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: SortedMap::default(),
            v6: SortedMap::default(),
            v6_long: SortedMap::default(),
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
        self.v4.len() + self.v6.len() + self.v6_long.len()
    }

    /// Entries per family: (IPv4, IPv6).
    pub fn family_lens(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len() + self.v6_long.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        *self = PrefixMap::default();
    }

    pub fn get(&self, key: &IpNet) -> Option<&V> {
        match slot(key) {
            Slot::V4(k) => self.v4.get(&k),
            Slot::Short(k) => self.v6.get(&k),
            Slot::Long(k) => self.v6_long.get(&k),
        }
    }

    pub fn get_mut(&mut self, key: &IpNet) -> Option<&mut V> {
        match slot(key) {
            Slot::V4(k) => self.v4.get_mut(&k),
            Slot::Short(k) => self.v6.get_mut(&k),
            Slot::Long(k) => self.v6_long.get_mut(&k),
        }
    }

    pub fn contains_key(&self, key: &IpNet) -> bool {
        self.get(key).is_some()
    }

    /// The value for `key`, inserted by `make` if there was none.
    pub fn get_or_insert_with(&mut self, key: IpNet, make: impl FnOnce() -> V) -> &mut V {
        match slot(&key) {
            Slot::V4(k) => self.v4.get_or_insert_with(k, make),
            Slot::Short(k) => self.v6.get_or_insert_with(k, make),
            Slot::Long(k) => self.v6_long.get_or_insert_with(k, make),
        }
    }

    /// Inserts `make()` under each of `keys` the map lacks, in one merge
    /// per map (see [`SortedMap::insert_absent`]).
    pub fn insert_absent(&mut self, keys: impl IntoIterator<Item = IpNet>, make: impl Fn() -> V) {
        let (mut v4, mut v6, mut v6_long) = (Vec::new(), Vec::new(), Vec::new());
        for key in keys {
            match slot(&key) {
                Slot::V4(k) => v4.push(k),
                Slot::Short(k) => v6.push(k),
                Slot::Long(k) => v6_long.push(k),
            }
        }
        self.v4.insert_absent(v4, &make);
        self.v6.insert_absent(v6, &make);
        self.v6_long.insert_absent(v6_long, &make);
    }

    /// Sets `key`'s value; the old one, if any.
    pub fn insert(&mut self, key: IpNet, value: V) -> Option<V> {
        match slot(&key) {
            Slot::V4(k) => self.v4.insert(k, value),
            Slot::Short(k) => self.v6.insert(k, value),
            Slot::Long(k) => self.v6_long.insert(k, value),
        }
    }

    /// Removes `key`; its value, if it was there.
    pub fn remove(&mut self, key: &IpNet) -> Option<V> {
        match slot(key) {
            Slot::V4(k) => self.v4.remove(&k),
            Slot::Short(k) => self.v6.remove(&k),
            Slot::Long(k) => self.v6_long.remove(&k),
        }
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(IpNet, &mut V) -> bool) {
        self.v4.retain(|k, v| keep(IpNet::V4(*k), v));
        self.v6.retain(|k, v| keep(IpNet::V6(k.net()), v));
        self.v6_long.retain(|k, v| keep(IpNet::V6(*k), v));
    }

    /// Heap bytes of the maps ([`SortedMap::memory_bytes`]).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes() + self.v6_long.memory_bytes()
    }

    /// See [`SortedMap::compact`].
    pub fn compact(&mut self) {
        self.v4.compact();
        self.v6.compact();
        self.v6_long.compact();
    }

    /// IPv4 prefixes first, each family in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> + '_ {
        let v4 = self.v4.iter().map(|(k, v)| (IpNet::V4(*k), v));
        let short = self.v6.iter().map(|(k, v)| (k.net(), v));
        let long = self.v6_long.iter().map(|(k, v)| (*k, v));
        v4.chain(in_order(short, long).map(|(k, v)| (IpNet::V6(k), v)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> + '_ {
        let v4 = self.v4.iter_mut().map(|(k, v)| (IpNet::V4(*k), v));
        let short = self.v6.iter_mut().map(|(k, v)| (k.net(), v));
        let long = self.v6_long.iter_mut().map(|(k, v)| (*k, v));
        v4.chain(in_order(short, long).map(|(k, v)| (IpNet::V6(k), v)))
    }

    pub fn keys(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

/// The IPv6 maps' entries in prefix order (no prefix is in both).
fn in_order<T>(
    short: impl Iterator<Item = (Ipv6Net, T)>,
    long: impl Iterator<Item = (Ipv6Net, T)>,
) -> impl Iterator<Item = (Ipv6Net, T)> {
    merge_changes(
        short.map(|(k, v)| (k, Some(v))),
        long.map(|(k, v)| (k, Some(v))),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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

    /// What the split is for: an IPv4 key takes 5 bytes, not 18, and
    /// most IPv6 ones 9, not 17.
    #[test]
    fn an_ipv4_key_takes_5_bytes() {
        assert_eq!(std::mem::size_of::<Ipv4Net>(), 5);
        assert_eq!(std::mem::size_of::<Ipv6Short>(), 9);
        assert_eq!(std::mem::size_of::<Ipv6Net>(), 17);
        assert_eq!(std::mem::size_of::<IpNet>(), 18);
    }

    /// Prefixes of every kind: IPv4, short IPv6 (a /64's upper half and
    /// its length), long IPv6 and IPv6 with host bits set (both in the
    /// long map), drawn from a small space so that operations collide.
    fn prefix() -> impl Strategy<Value = IpNet> {
        let v4 = (0u32..64, 0u8..=32)
            .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new((a << 26).into(), l).unwrap().trunc()));
        let v6 = (0u128..64, 0u8..=128, any::<bool>()).prop_map(|(a, l, host)| {
            let bits = (a << 122) | (a << 60) | u128::from(host);
            let net = Ipv6Net::new(Ipv6Addr::from(bits), l).unwrap();
            IpNet::V6(if host { net } else { net.trunc() })
        });
        prop_oneof![v4, v6]
    }

    proptest! {
        /// Against a `BTreeMap`, whose order (IPv4 first, then by network
        /// and length) `iter` must give too.
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec((prefix(), 0u8..4, any::<u16>()), 1..400)) {
            let mut map = PrefixMap::default();
            let mut model = std::collections::BTreeMap::new();
            for (key, op, value) in ops {
                match op {
                    0 => prop_assert_eq!(map.insert(key, value), model.insert(key, value)),
                    1 => prop_assert_eq!(map.remove(&key), model.remove(&key)),
                    2 => {
                        *map.get_or_insert_with(key, || 0) ^= value;
                        *model.entry(key).or_insert(0) ^= value;
                    }
                    _ => map.compact(),
                }
                prop_assert_eq!(map.get(&key), model.get(&key));
            }
            prop_assert_eq!(map.len(), model.len());
            let all: Vec<(IpNet, u16)> = map.iter().map(|(k, v)| (k, *v)).collect();
            let want: Vec<(IpNet, u16)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&all, &want);
            let mutated: Vec<IpNet> = map.iter_mut().map(|(k, _)| k).collect();
            prop_assert_eq!(mutated, model.keys().copied().collect::<Vec<_>>());
            let v6 = model.keys().filter(|k| matches!(k, IpNet::V6(_))).count();
            prop_assert_eq!(map.family_lens(), (model.len() - v6, v6));
        }
    }
}
