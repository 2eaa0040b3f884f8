//! Longest-prefix match for IPv4 and IPv6.
//!
//! [`Ipv4Table`] and [`Ipv6Table`] are the interface the FIB uses. Both sit
//! on a compressed multibit trie of the Poptrie family (see the `trie`
//! module's documentation for the layout): direct pointing on the top 18
//! bits, then 6-bit popcount-compressed nodes whose child pointers and
//! run-compressed leaves are stored inline (16-bit leaves in IPv4 nodes
//! without children). IPv6 walks take their first five node levels without
//! branching (`trie/v6.rs`).
//!
//! Updates are applied in place by rebuilding only the slots the changed
//! prefix covers. The data plane never sees a table change: the control
//! plane updates its own table and publishes a lookup-only copy of it
//! through `FibHandle` (ferroute-dataplane) (RCU style). An IPv4 copy is
//! *packed* when the table allows (next-hop ids up to [`PACKED_MAX_ID`]):
//! a 16-bit direct array, byte-wide nodes and leaves holding next-hop ids,
//! made from the trie at each publication (`trie/frozen/packed.rs`);
//! otherwise, and for IPv6, the copy is the trie's compiled arrays without
//! the route record.

mod reference;
pub mod sorted_arrays;
mod trie;

pub use trie::{LpmError, TrieStats, MAX_NEXT_HOPS, PACKED_MAX_ID};

/// Measurement tool (issue 17): lookup-only IPv4 copies with a smaller
/// direct array, timed by `examples/lpm_poptrie.rs`. Not for the fast path
/// (the data plane's packed copies share the `lnxv` layout and builder).
#[doc(hidden)]
pub mod frozen {
    pub use super::trie::{FrozenStats, FrozenV4, FrozenVariant};
}

/// The plain binary trie the tests check the compressed one against.
/// **Not for the fast path**: it is slow and large on purpose.
#[doc(hidden)]
pub mod reference_trie {
    pub use super::reference::BitTrie;
}

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

use trie::{Key, Packed, Trie};

#[cfg(test)]
use ferroute_testkit as testkit;

/// Index into the FIB's next-hop table. Any value but `u32::MAX` works
/// (that one is [`MaybeNextHop::NONE`]: `insert` and `try_insert` refuse
/// it with [`LpmError::ReservedNextHop`]); one table holds at most
/// [`MAX_NEXT_HOPS`] distinct ids at a time.
pub type NextHopId = u32;

/// A batch lookup's answer: a next-hop id, or [`Self::NONE`] for "no
/// route", in 4 bytes (`u32::MAX`, the id no table accepts, is "no route").
///
/// What [`Ipv4Table::lookup_batch`] and [`Ipv6Table::lookup_batch`] write:
/// the trie's code table already holds next-hop ids with `u32::MAX` for no
/// route, so a batch stores the value it reads, with no conversion per
/// address; an `Option<NextHopId>` is 8 bytes with a tag to write and test,
/// and writing and reading back 64 of them cost single lookups 9-11
/// instructions each (README, "Same run as the Poptrie C reference").
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaybeNextHop(NextHopId);

impl MaybeNextHop {
    /// No route.
    pub const NONE: MaybeNextHop = MaybeNextHop(NextHopId::MAX);

    /// The answer `id`. `u32::MAX`, which no table accepts as a next hop,
    /// is [`Self::NONE`].
    #[inline(always)]
    pub const fn some(id: NextHopId) -> Self {
        MaybeNextHop(id)
    }

    /// The next hop, `None` for no route.
    #[inline(always)]
    pub fn get(self) -> Option<NextHopId> {
        // Selected, not branched on: whether an address has a route is
        // data (see `trie::lookup::resolve_unchecked`).
        std::hint::select_unpredictable(self.is_none(), None, Some(self.0))
    }

    #[inline(always)]
    pub const fn is_none(self) -> bool {
        self.0 == NextHopId::MAX
    }
}

impl Default for MaybeNextHop {
    /// No route.
    fn default() -> Self {
        Self::NONE
    }
}

impl From<Option<NextHopId>> for MaybeNextHop {
    #[inline(always)]
    fn from(id: Option<NextHopId>) -> Self {
        match id {
            Some(id) => Self::some(id),
            None => Self::NONE,
        }
    }
}

impl std::fmt::Debug for MaybeNextHop {
    /// As the `Option` it stands for (`Some(3)`, `None`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $net:ty, $addr:ty, $key:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name {
            /// The control side's trie; in a lookup-only copy with a packed
            /// copy, without its compiled arrays unless the default route
            /// shares its next hop (see [`Self::lookup_copy`]).
            trie: Trie<$key>,
            /// What a lookup-only copy's lookups read when the table can be
            /// held so (IPv4: `PackedV4`); `None` in a whole table, and
            /// then the trie answers. Invariant: `None`, or the trie has
            /// no arrays only where nothing but this answers.
            packed: Option<<$key as Key>::Packed>,
            /// Why a lookup-only copy is not packed (`None` otherwise, and
            /// in a whole table).
            unpacked_because: Option<Box<str>>,
        }

        impl $name {
            pub fn new() -> Self {
                Self::default()
            }

            /// Builds a table from routes; a prefix given twice keeps its last next hop.
            pub fn try_from_routes(
                routes: impl IntoIterator<Item = ($net, NextHopId)>,
            ) -> Result<Self, LpmError> {
                let trie = Trie::from_routes(
                    routes
                        .into_iter()
                        .map(|(p, nh)| (<$key>::from(p.network()), p.prefix_len(), nh)),
                )?;
                Ok($name {
                    trie,
                    packed: None,
                    unpacked_because: None,
                })
            }

            /// Adds or replaces `prefix` (host bits ignored); returns the next hop it replaced.
            ///
            /// # Panics
            /// If `next_hop` is `u32::MAX` or would be the table's
            /// `MAX_NEXT_HOPS + 1`-th distinct id; [`Self::try_insert`] returns
            /// those as errors instead.
            pub fn insert(&mut self, prefix: $net, next_hop: NextHopId) -> Option<NextHopId> {
                match self.try_insert(prefix, next_hop) {
                    Ok(old) => old,
                    Err(e) => panic!("{}::insert({prefix}, {next_hop}): {e}", stringify!($name)),
                }
            }

            /// [`Self::insert`] that reports an unusable next hop as an error.
            pub fn try_insert(
                &mut self,
                prefix: $net,
                next_hop: NextHopId,
            ) -> Result<Option<NextHopId>, LpmError> {
                self.trie
                    .insert(<$key>::from(prefix.network()), prefix.prefix_len(), next_hop)
            }

            /// Removes `prefix`; returns its next hop if it was present.
            pub fn remove(&mut self, prefix: $net) -> Option<NextHopId> {
                self.trie.remove(<$key>::from(prefix.network()), prefix.prefix_len())
            }

            /// The next hop of exactly `prefix`, if it is in the table.
            pub fn get(&self, prefix: $net) -> Option<NextHopId> {
                self.trie.get(<$key>::from(prefix.network()), prefix.prefix_len())
            }

            /// The next hop of the longest prefix covering `addr`.
            // Always inlined: left to LLVM, IPv6's (five unrolled levels)
            // became a call, +15 instructions on every lookup (callgrind).
            #[inline(always)]
            pub fn lookup(&self, addr: $addr) -> Option<NextHopId> {
                let a = <$key>::from(addr);
                match &self.packed {
                    Some(p) => {
                        let id = p.id_of(a);
                        std::hint::select_unpredictable(id != MaybeNextHop::NONE.0, Some(id), None)
                    }
                    None => self.trie.lookup(a),
                }
            }

            /// The longest matching prefix and its next hop (for operators: it
            /// reads the control-side record, not the fast structure).
            pub fn lookup_prefix(&self, addr: $addr) -> Option<($net, NextHopId)> {
                let (nh, len) = self.trie.lookup_with_len(<$key>::from(addr))?;
                let net = <$net>::new(addr, len).ok()?.trunc();
                Some((net, nh))
            }

            /// The default route's (`/0`) next hop, and whether any other
            /// route has the same next hop: if not, a lookup answering it
            /// matched the default route (uRPF's loose mode asks this);
            /// if so, [`Self::matched_default`] tells.
            #[inline]
            pub fn default_route(&self) -> Option<(NextHopId, bool)> {
                self.trie.default_route()
            }

            /// Whether the longest prefix covering `addr` is the default
            /// route (one more lookup; works on lookup-only copies too).
            #[inline]
            pub fn matched_default(&self, addr: $addr) -> bool {
                let a = <$key>::from(addr);
                match &self.packed {
                    // A packed copy left the trie's arrays out only when
                    // the default route has no route's id but its own
                    // (or there is none): answering it is matching it.
                    Some(p) if !self.trie.has_arrays() => {
                        self.trie.default_route().is_some_and(|(id, _)| p.id_of(a) == id)
                    }
                    _ => self.trie.matched_default(a),
                }
            }

            /// A copy for lookups only, without the record updates need:
            /// what the control plane publishes to the workers. It refuses
            /// changes (`try_insert` fails with [`LpmError::LookupOnly`],
            /// `remove` finds nothing) and has no routes to list (`get`,
            /// `iter`, `lookup_prefix` find none); `len` still counts them.
            ///
            /// An IPv4 copy is packed when the table allows
            /// ([`Self::is_packed`]: next-hop ids up to [`PACKED_MAX_ID`]
            /// and a layout that fits; README, "Twenty-fourth session"),
            /// and then leaves the trie's compiled arrays out unless the
            /// default route shares its next hop with another route
            /// ([`Self::matched_default`] then walks the trie).
            pub fn lookup_copy(&self) -> Self {
                if self.packed.is_some() {
                    return self.clone();
                }
                let (packed, unpacked_because) =
                    match <<$key as Key>::Packed as Packed<$key>>::new(&self.trie) {
                        Ok(p) => (Some(p), None),
                        Err(why) => (None, Some(why.into_boxed_str())),
                    };
                let arrays =
                    packed.is_none() || matches!(self.trie.default_route(), Some((_, true)));
                $name {
                    trie: self.trie.lookup_copy_with(arrays),
                    packed,
                    unpacked_because,
                }
            }

            /// Whether lookups read a packed copy (see [`Self::lookup_copy`]).
            pub fn is_packed(&self) -> bool {
                self.packed.is_some()
            }

            /// Why this lookup-only copy could not be packed (a next-hop
            /// id past [`PACKED_MAX_ID`], a layout that does not fit; for
            /// IPv6, always: it has no packed form); `None` when it is
            /// packed or is not a copy.
            pub fn unpacked_because(&self) -> Option<&str> {
                self.unpacked_because.as_deref()
            }

            /// Whether this is a [`Self::lookup_copy`].
            pub fn is_lookup_only(&self) -> bool {
                self.trie.is_lookup_only()
            }

            /// Looks up every address of `addrs` into the same index of `out`
            /// (up to the shorter of the two), many addresses in lockstep;
            /// each answer is what [`Self::lookup`] gives, as a
            /// [`MaybeNextHop`] (4 bytes, no conversion per address).
            ///
            /// Inlined into callers (the data plane's batch, the benches), so
            /// that the packed copy's loop is compiled there with its fields
            /// read once; the trie's loop stays out of line. As a call from
            /// another crate, each batch of 64 paid a prologue and setup
            /// worth 3 % of uniform lookups and 18-21 % of sequential ones
            /// (README, "Twenty-sixth session").
            #[inline]
            pub fn lookup_batch(&self, addrs: &[$addr], out: &mut [MaybeNextHop]) {
                match &self.packed {
                    Some(p) => p.lookup_batch(addrs, out),
                    None => self.lookup_batch_unpacked(addrs, out),
                }
            }

            /// [`Self::lookup_batch`] through the trie's arrays (IPv6, and
            /// IPv4 tables that cannot be packed).
            #[inline(never)]
            fn lookup_batch_unpacked(&self, addrs: &[$addr], out: &mut [MaybeNextHop]) {
                self.trie.lookup_batch(addrs, out)
            }

            /// Number of prefixes.
            pub fn len(&self) -> usize {
                self.trie.len()
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Heap bytes of the whole table: the lookup structure plus the
            /// control-side route record it is updated from (estimated).
            pub fn memory_bytes(&self) -> usize {
                self.trie.memory_bytes() + self.packed.as_ref().map_or(0, |p| p.memory_bytes())
            }

            /// Bytes lookups can touch (what Poptrie's memory figures count):
            /// the packed copy's and whatever the trie keeps of its arrays.
            pub fn lookup_memory_bytes(&self) -> usize {
                self.trie.lookup_memory_bytes()
                    + self.packed.as_ref().map_or(0, |p| p.memory_bytes())
            }

            /// Node counts and sizes of the lookup structure.
            pub fn stats(&self) -> TrieStats {
                self.trie.stats()
            }

            /// Recompiles the lookup structure from the routes, reclaiming
            /// the holes updates leave (`stats().free_bytes`).
            pub fn compact(&mut self) {
                self.trie.rebuild()
            }

            /// Folds the routes' recent changes into their packed record
            /// (no recompilation: see `Trie::compact_record`).
            pub fn compact_record(&mut self) {
                self.trie.compact_record()
            }

            /// All routes, sorted by (network, length).
            pub fn iter(&self) -> impl Iterator<Item = ($net, NextHopId)> + '_ {
                self.trie.iter().filter_map(|(k, len, nh)| {
                    Some((<$net>::new(<$addr>::from(k), len).ok()?, nh))
                })
            }
        }

        impl FromIterator<($net, NextHopId)> for $name {
            /// # Panics
            /// As [`Self::insert`]; use [`Self::try_from_routes`] to get an error instead.
            fn from_iter<I: IntoIterator<Item = ($net, NextHopId)>>(iter: I) -> Self {
                match Self::try_from_routes(iter) {
                    Ok(t) => t,
                    Err(e) => panic!("{}::from_iter: {e}", stringify!($name)),
                }
            }
        }
    };
}

table!(
    /// An IPv4 longest-prefix-match table.
    Ipv4Table, Ipv4Net, Ipv4Addr, u32
);
table!(
    /// An IPv6 longest-prefix-match table.
    Ipv6Table, Ipv6Net, Ipv6Addr, u128
);
impl Ipv4Table {
    /// A [`frozen::FrozenV4`] copy of this table (measurement tool).
    #[doc(hidden)]
    pub fn frozen_copy(&self) -> Result<frozen::FrozenV4, String> {
        frozen::FrozenV4::new(&self.trie)
    }
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
        let mut out = [MaybeNextHop::some(7); 2];
        t.lookup_batch(
            &["2001:db8:1::1".parse().unwrap(), "::1".parse().unwrap()],
            &mut out,
        );
        assert_eq!(out.map(MaybeNextHop::get), [Some(3), None]);
    }

    /// `u32::MAX` is the batches' "no route": no table takes it as a next
    /// hop, so no answer of a route can read as none.
    #[test]
    fn the_none_sentinel_is_refused_as_a_next_hop() {
        assert!(MaybeNextHop::NONE.is_none());
        assert_eq!(MaybeNextHop::NONE.get(), None);
        assert_eq!(MaybeNextHop::some(u32::MAX - 1).get(), Some(u32::MAX - 1));
        assert_eq!(MaybeNextHop::default(), MaybeNextHop::NONE);
        assert_eq!(MaybeNextHop::from(Some(0)).get(), Some(0));
        assert_eq!(format!("{:?}", MaybeNextHop::some(3)), "Some(3)");
        let reserved = MaybeNextHop::NONE.0;
        let mut v4 = Ipv4Table::new();
        assert_eq!(
            v4.try_insert("10.0.0.0/8".parse().unwrap(), reserved),
            Err(LpmError::ReservedNextHop(reserved))
        );
        let mut v6 = Ipv6Table::new();
        assert_eq!(
            v6.try_insert("2001:db8::/32".parse().unwrap(), reserved),
            Err(LpmError::ReservedNextHop(reserved))
        );
        assert!(Ipv4Table::try_from_routes([("0.0.0.0/0".parse().unwrap(), reserved)]).is_err());
        assert!(std::panic::catch_unwind(|| {
            Ipv4Table::new().insert("0.0.0.0/0".parse().unwrap(), reserved)
        })
        .is_err());
        // The largest id a table takes answers as itself.
        v4.insert("10.0.0.0/8".parse().unwrap(), reserved - 1);
        let mut out = [MaybeNextHop::NONE; 2];
        v4.lookup_batch(
            &["10.1.2.3".parse().unwrap(), "11.0.0.1".parse().unwrap()],
            &mut out,
        );
        assert_eq!(out.map(MaybeNextHop::get), [Some(reserved - 1), None]);
    }
}
