//! Longest-prefix match for IPv4 and IPv6.
//!
//! [`Ipv4Table`] and [`Ipv6Table`] are the interface the FIB uses. Today they
//! sit on [`BitTrie`], a plain binary trie that is simple enough to be
//! obviously correct; the compressed multibit trie replaces it behind the same
//! methods.

mod bittrie;
pub mod load;

pub use bittrie::BitTrie;

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Index into the FIB's next-hop table.
pub type NextHopId = u32;

/// An IPv4 longest-prefix-match table.
#[derive(Debug, Clone, Default)]
pub struct Ipv4Table {
    trie: BitTrie,
}

impl Ipv4Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `prefix`; returns the next hop it replaced.
    pub fn insert(&mut self, prefix: Ipv4Net, next_hop: NextHopId) -> Option<NextHopId> {
        let p = prefix.trunc();
        self.trie
            .insert(v4_key(p.network()), p.prefix_len(), next_hop)
    }

    /// Removes `prefix`; returns its next hop if it was present.
    pub fn remove(&mut self, prefix: Ipv4Net) -> Option<NextHopId> {
        let p = prefix.trunc();
        self.trie.remove(v4_key(p.network()), p.prefix_len())
    }

    /// The next hop of the longest prefix covering `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHopId> {
        self.trie.lookup(v4_key(addr)).map(|(nh, _)| nh)
    }

    /// The longest matching prefix and its next hop (for operators, not the fast path).
    pub fn lookup_prefix(&self, addr: Ipv4Addr) -> Option<(Ipv4Net, NextHopId)> {
        let (nh, len) = self.trie.lookup(v4_key(addr))?;
        let net = Ipv4Net::new(addr, len).ok()?.trunc();
        Some((net, nh))
    }

    /// Looks up every address of `addrs` into the same index of `out`.
    pub fn lookup_batch(&self, addrs: &[Ipv4Addr], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes used by the structure.
    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }
}

impl FromIterator<(Ipv4Net, NextHopId)> for Ipv4Table {
    fn from_iter<I: IntoIterator<Item = (Ipv4Net, NextHopId)>>(iter: I) -> Self {
        let mut t = Ipv4Table::new();
        for (p, nh) in iter {
            t.insert(p, nh);
        }
        t
    }
}

/// An IPv6 longest-prefix-match table.
#[derive(Debug, Clone, Default)]
pub struct Ipv6Table {
    trie: BitTrie,
}

impl Ipv6Table {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, prefix: Ipv6Net, next_hop: NextHopId) -> Option<NextHopId> {
        let p = prefix.trunc();
        self.trie
            .insert(u128::from(p.network()), p.prefix_len(), next_hop)
    }

    pub fn remove(&mut self, prefix: Ipv6Net) -> Option<NextHopId> {
        let p = prefix.trunc();
        self.trie.remove(u128::from(p.network()), p.prefix_len())
    }

    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHopId> {
        self.trie.lookup(u128::from(addr)).map(|(nh, _)| nh)
    }

    pub fn lookup_prefix(&self, addr: Ipv6Addr) -> Option<(Ipv6Net, NextHopId)> {
        let (nh, len) = self.trie.lookup(u128::from(addr))?;
        let net = Ipv6Net::new(addr, len).ok()?.trunc();
        Some((net, nh))
    }

    pub fn lookup_batch(&self, addrs: &[Ipv6Addr], out: &mut [Option<NextHopId>]) {
        for (a, o) in addrs.iter().zip(out.iter_mut()) {
            *o = self.lookup(*a);
        }
    }

    pub fn len(&self) -> usize {
        self.trie.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }
}

impl FromIterator<(Ipv6Net, NextHopId)> for Ipv6Table {
    fn from_iter<I: IntoIterator<Item = (Ipv6Net, NextHopId)>>(iter: I) -> Self {
        let mut t = Ipv6Table::new();
        for (p, nh) in iter {
            t.insert(p, nh);
        }
        t
    }
}

/// IPv4 addresses live in the top 32 bits of the trie's 128-bit keys.
#[inline]
fn v4_key(addr: Ipv4Addr) -> u128 {
    (u32::from(addr) as u128) << 96
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_longest_match_wins() {
        let mut t = Ipv4Table::new();
        assert_eq!(t.insert("0.0.0.0/0".parse().unwrap(), 1), None);
        t.insert("10.0.0.0/8".parse().unwrap(), 2);
        t.insert("10.1.0.0/16".parse().unwrap(), 3);
        t.insert("10.1.2.3/32".parse().unwrap(), 4);
        assert_eq!(t.lookup("11.0.0.1".parse().unwrap()), Some(1));
        assert_eq!(t.lookup("10.0.0.1".parse().unwrap()), Some(2));
        assert_eq!(t.lookup("10.1.255.255".parse().unwrap()), Some(3));
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()), Some(4));
        assert_eq!(t.lookup("10.1.2.4".parse().unwrap()), Some(3));
        assert_eq!(
            t.lookup_prefix("10.1.9.9".parse().unwrap()),
            Some(("10.1.0.0/16".parse().unwrap(), 3))
        );
        assert_eq!(t.insert("10.1.0.0/16".parse().unwrap(), 5), Some(3));
        assert_eq!(t.remove("10.1.0.0/16".parse().unwrap()), Some(5));
        assert_eq!(t.remove("10.1.0.0/16".parse().unwrap()), None);
        assert_eq!(t.lookup("10.1.255.255".parse().unwrap()), Some(2));
        assert_eq!(t.len(), 3);
        t.remove("0.0.0.0/0".parse().unwrap());
        assert_eq!(t.lookup("11.0.0.1".parse().unwrap()), None);
        // Host bits in the prefix are ignored.
        t.insert("192.0.2.77/24".parse().unwrap(), 9);
        assert_eq!(t.lookup("192.0.2.1".parse().unwrap()), Some(9));
    }

    #[test]
    fn v6_longest_match_wins() {
        let mut t = Ipv6Table::new();
        t.insert("2001:db8::/32".parse().unwrap(), 1);
        t.insert("2001:db8:1::/48".parse().unwrap(), 2);
        t.insert("2001:db8:1::1/128".parse().unwrap(), 3);
        assert_eq!(t.lookup("2001:db8:2::1".parse().unwrap()), Some(1));
        assert_eq!(t.lookup("2001:db8:1::2".parse().unwrap()), Some(2));
        assert_eq!(t.lookup("2001:db8:1::1".parse().unwrap()), Some(3));
        assert_eq!(t.lookup("2001:db9::1".parse().unwrap()), None);
        let mut out = [None; 2];
        t.lookup_batch(
            &["2001:db8:1::1".parse().unwrap(), "::1".parse().unwrap()],
            &mut out,
        );
        assert_eq!(out, [Some(3), None]);
    }
}
