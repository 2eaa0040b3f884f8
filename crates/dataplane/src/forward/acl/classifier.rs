//! The compiled form of one ACL for one address family: bit-vector
//! classification with aggregation (Lakshman & Stiliadis 1998; Baboescu &
//! Varghese's aggregated bit vectors, 2001), the family VPP's ACL plugin
//! and nftables sets come from.
//!
//! Each field of a packet maps in one step to an *equivalence class*: the
//! addresses through the intervals the rules' prefixes cut the address
//! space into (the longest rule prefix containing the address; its class
//! holds every rule whose prefix contains it), the protocol through a
//! direct table and both ports through the intervals the rules' bounds
//! make (equal ranges sharing a class); see [`super::intervals`]. A class
//! is a bit vector over the rules in list order. The rules a packet
//! matches are the AND of its five classes' vectors, and the first one is
//! the lowest set bit.
//!
//! Per packet that is four small interval lookups, a table read and an AND
//! over the vectors; an aggregate bit per 64-rule word lets the AND skip
//! words that are zero in any field, so a 10,000-rule list reads 3
//! aggregate words per field plus the few words where all five fields have
//! rules.

use std::collections::HashMap;

use ipnet::IpNet;

use super::intervals::{prefix_intervals, IntervalKey, Intervals, PrefixEnd};
use super::{AclRule, FlowFields, PortRange};

/// An address as a number.
pub(super) trait AddrKey: IntervalKey + PrefixEnd {
    /// The rule prefix as (network, length), if of this family.
    fn of(net: &IpNet) -> Option<(Self, u8)>;
    /// The last address of the prefix `net`/`len`.
    fn last(net: Self, len: u8) -> Self;
    /// Whether the first `len` bits of `a` and `b` agree.
    fn same_prefix(a: Self, b: Self, len: u8) -> bool;
}

impl AddrKey for u32 {
    fn of(net: &IpNet) -> Option<(u32, u8)> {
        match net {
            IpNet::V4(n) => Some((u32::from(n.network()), n.prefix_len())),
            IpNet::V6(_) => None,
        }
    }
    fn last(net: u32, len: u8) -> u32 {
        net | u32::MAX.checked_shr(len as u32).unwrap_or(0)
    }
    fn same_prefix(a: u32, b: u32, len: u8) -> bool {
        len == 0 || (a ^ b) >> (32 - len as u32) == 0
    }
}

impl AddrKey for u128 {
    fn of(net: &IpNet) -> Option<(u128, u8)> {
        match net {
            IpNet::V6(n) => Some((u128::from(n.network()), n.prefix_len())),
            IpNet::V4(_) => None,
        }
    }
    fn last(net: u128, len: u8) -> u128 {
        net | u128::MAX.checked_shr(len as u32).unwrap_or(0)
    }
    fn same_prefix(a: u128, b: u128, len: u8) -> bool {
        len == 0 || (a ^ b) >> (128 - len as u32) == 0
    }
}

/// The class vectors of one field: `words` 64-bit words per class, and an
/// aggregate bit per word.
#[derive(Debug, Clone, Default)]
struct Vectors {
    words: usize,
    agg_words: usize,
    bits: Vec<u64>,
    agg: Vec<u64>,
}

impl Vectors {
    /// `classes` vectors, each starting as `base`.
    fn new(classes: usize, base: &[u64]) -> Vectors {
        let words = base.len();
        Vectors {
            words,
            agg_words: words.div_ceil(64),
            bits: base.repeat(classes),
            agg: Vec::new(),
        }
    }

    fn set(&mut self, class: usize, rule: usize) {
        self.bits[class * self.words + rule / 64] |= 1 << (rule % 64);
    }

    /// Computes the aggregate bits (after the last `set`).
    fn finish(mut self) -> Vectors {
        let classes = self.bits.len().checked_div(self.words).unwrap_or(0);
        self.agg = vec![0; classes * self.agg_words];
        for c in 0..classes {
            for k in 0..self.words {
                if self.bits[c * self.words + k] != 0 {
                    self.agg[c * self.agg_words + k / 64] |= 1 << (k % 64);
                }
            }
        }
        self
    }

    #[inline]
    fn bits(&self, class: usize) -> &[u64] {
        &self.bits[class * self.words..(class + 1) * self.words]
    }

    fn bytes(&self) -> usize {
        (self.bits.len() + self.agg.len()) * 8
    }
}

/// Most index bits for an address field (16,384 blocks: 64 KiB) and a
/// port field (4,096 blocks: 16 KiB); see [`Intervals::new`].
const ADDR_INDEX_BITS: u32 = 14;
const PORT_INDEX_BITS: u32 = 12;

/// The class of each port: one load from a direct table where the field
/// has more than one class and they fit 16 bits (any list of fewer than
/// 32,768 port ranges), else the interval index (which answers a field
/// no rule constrains with one test). The table is 128 KiB; the interval
/// lookup it replaces ran ~35 instructions per port (callgrind).
#[derive(Debug, Clone)]
enum PortClasses {
    Direct(Box<[u16; 1 << 16]>),
    Intervals(Intervals<u16>),
}

impl PortClasses {
    /// From `(start, class)` pairs as [`Intervals::new`] takes them.
    fn new(segments: &[(u16, u32)]) -> PortClasses {
        let fits = segments.iter().all(|s| s.1 <= u16::MAX as u32);
        if segments.len() == 1 || !fits {
            return PortClasses::Intervals(Intervals::new(segments, PORT_INDEX_BITS));
        }
        let mut table: Box<[u16; 1 << 16]> = vec![0u16; 1 << 16]
            .into_boxed_slice()
            .try_into()
            .expect("65,536 entries");
        for (i, &(start, class)) in segments.iter().enumerate() {
            let end = segments.get(i + 1).map_or(1 << 16, |s| s.0 as usize);
            table[start as usize..end].fill(class as u16);
        }
        PortClasses::Direct(table)
    }

    #[inline(always)]
    fn class(&self, port: u16) -> u32 {
        match self {
            PortClasses::Direct(table) => table[port as usize] as u32,
            PortClasses::Intervals(index) => index.class(port),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            PortClasses::Direct(table) => table.len() * 2,
            PortClasses::Intervals(index) => index.bytes(),
        }
    }
}

/// One ACL's rules of one family, compiled.
#[derive(Debug, Clone)]
pub(super) struct Classifier<K: AddrKey> {
    /// The list index of each rule here, in list order (bit `i` = `rules[i]`).
    rules: Vec<u32>,
    src_class: Intervals<K>,
    dst_class: Intervals<K>,
    /// Class per protocol number.
    proto_class: Box<[u32]>,
    /// Class per port (class 0 is also "not known", asked apart).
    sport_class: PortClasses,
    dport_class: PortClasses,
    /// Vectors of: source, destination, protocol, source port, destination port.
    fields: [Vectors; 5],
}

impl<K: AddrKey> Classifier<K> {
    /// Compiles `rules` (list index, rule), in list order, all of this
    /// family or of both.
    pub(super) fn build<'a>(rules: impl Iterator<Item = (usize, &'a AclRule)>) -> Self {
        let rules: Vec<(usize, &AclRule)> = rules.collect();
        let words = rules.len().div_ceil(64);
        let (src_class, src) = address_field::<K>(&rules, words, |r| r.source);
        let (dst_class, dst) = address_field::<K>(&rules, words, |r| r.destination);
        let (proto_class, proto) = protocol_field(&rules, words);
        let (sport_class, sport) = port_field(&rules, words, |r| r.source_port);
        let (dport_class, dport) = port_field(&rules, words, |r| r.destination_port);
        Classifier {
            rules: rules.iter().map(|&(i, _)| i as u32).collect(),
            src_class,
            dst_class,
            proto_class,
            sport_class,
            dport_class,
            fields: [src, dst, proto, sport, dport],
        }
    }

    /// The list index of the first rule matching `key`, if any.
    #[inline]
    pub(super) fn classify(&self, key: &FlowFields<K>) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        self.first(self.classes(key))
    }

    /// The class of each field of `key`.
    #[inline(always)]
    fn classes(&self, key: &FlowFields<K>) -> [u32; 5] {
        // Class 0 when the ports are not known (a `match`: `map_or`'s
        // closures were left as calls).
        let (sport, dport) = match key.ports {
            Some((s, d)) => (self.sport_class.class(s), self.dport_class.class(d)),
            None => (0, 0),
        };
        [
            self.src_class.class(key.src),
            self.dst_class.class(key.dst),
            self.proto_class[key.protocol as usize],
            sport,
            dport,
        ]
    }

    /// The list index of the first rule in every class of `classes`.
    #[inline(always)]
    fn first(&self, classes: [u32; 5]) -> Option<usize> {
        let classes = classes.map(|c| c as usize);
        let fields = &self.fields;
        let (words, agg_words) = (fields[0].words, fields[0].agg_words);
        debug_assert!(fields.iter().zip(classes).all(|(f, c)| {
            (f.words, f.agg_words) == (words, agg_words)
                && (c + 1) * words <= f.bits.len()
                && (c + 1) * agg_words <= f.agg.len()
        }));
        // Raw rows: the checked slices and indexing this replaced cost ~130
        // instructions per packet at 10,000 rules (callgrind), more than
        // the AND itself.
        // SAFETY: every lookup answers a class the build made a vector for
        // (`address_field`, `protocol_field`, `port_field`), and every
        // field has one bit per rule, so row `class` (`words` long in
        // `bits`, `agg_words` in `agg`) lies inside each field's vectors.
        let bits: [*const u64; 5] =
            std::array::from_fn(|i| unsafe { fields[i].bits.as_ptr().add(classes[i] * words) });
        // SAFETY: callers pass `k < words` (a word of the rows above).
        let and = |k: usize| unsafe {
            *bits[0].add(k) & *bits[1].add(k) & *bits[2].add(k) & *bits[3].add(k) & *bits[4].add(k)
        };
        if words == 1 {
            // Up to 64 rules: one word per class, no aggregates to consult.
            let m = and(0);
            return (m != 0).then(|| self.rules[m.trailing_zeros() as usize] as usize);
        }
        // SAFETY: as for `bits`, with the aggregate rows.
        let agg: [*const u64; 5] =
            std::array::from_fn(|i| unsafe { fields[i].agg.as_ptr().add(classes[i] * agg_words) });
        for aw in 0..agg_words {
            // SAFETY: `aw < agg_words`, the rows' length.
            let mut a = unsafe {
                *agg[0].add(aw)
                    & *agg[1].add(aw)
                    & *agg[2].add(aw)
                    & *agg[3].add(aw)
                    & *agg[4].add(aw)
            };
            while a != 0 {
                // Below `words`: `Vectors::finish` sets aggregate bits only
                // for words that exist.
                let k = aw * 64 + a.trailing_zeros() as usize;
                let m = and(k);
                if m != 0 {
                    return Some(self.rules[k * 64 + m.trailing_zeros() as usize] as usize);
                }
                a &= a - 1;
            }
        }
        None
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.src_class.bytes()
            + self.dst_class.bytes()
            + self.sport_class.bytes()
            + self.dport_class.bytes()
            + self.proto_class.len() * 4
            + self.fields.iter().map(Vectors::bytes).sum::<usize>()
            + self.rules.len() * 4
    }
}

/// The bit vector of the rules for which `wild` holds.
fn wildcard(
    rules: &[(usize, &AclRule)],
    words: usize,
    wild: impl Fn(&AclRule) -> bool,
) -> Vec<u64> {
    let mut v = vec![0u64; words];
    for (i, (_, r)) in rules.iter().enumerate() {
        if wild(r) {
            v[i / 64] |= 1 << (i % 64);
        }
    }
    v
}

/// Classes of an address field: 0 for addresses no rule prefix contains,
/// `1 + i` for the `i`th distinct prefix (sorted), which the interval
/// index answers for addresses whose longest containing rule prefix it is.
fn address_field<K: AddrKey>(
    rules: &[(usize, &AclRule)],
    words: usize,
    field: impl Fn(&AclRule) -> Option<IpNet>,
) -> (Intervals<K>, Vectors) {
    let mut prefixes: Vec<(K, u8)> = rules
        .iter()
        .filter_map(|(_, r)| field(r).as_ref().and_then(K::of))
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    let base = wildcard(rules, words, |r| field(r).is_none());
    let mut vectors = Vectors::new(prefixes.len() + 1, &base);
    for (i, (_, r)) in rules.iter().enumerate() {
        let Some((key, len)) = field(r).as_ref().and_then(K::of) else {
            continue;
        };
        // The prefixes inside key/len follow it in sorted order.
        let start = prefixes.partition_point(|&p| p < (key, len));
        // (Sorted by network then length, they are contiguous.)
        for (j, &(k, _)) in prefixes[start..].iter().enumerate() {
            if !K::same_prefix(k, key, len) {
                break;
            }
            vectors.set(start + j + 1, i);
        }
    }
    let segments = prefix_intervals(
        prefixes
            .iter()
            .enumerate()
            .map(|(j, &(k, len))| (k, K::last(k, len), j as u32 + 1)),
    );
    let lookup = Intervals::new(&segments, ADDR_INDEX_BITS);
    (lookup, vectors.finish())
}

/// Classes of the protocol: 0 for numbers no rule names, one per named number.
fn protocol_field(rules: &[(usize, &AclRule)], words: usize) -> (Box<[u32]>, Vectors) {
    let mut named: Vec<u8> = rules.iter().filter_map(|(_, r)| r.protocol).collect();
    named.sort_unstable();
    named.dedup();
    let base = wildcard(rules, words, |r| r.protocol.is_none());
    let mut vectors = Vectors::new(named.len() + 1, &base);
    let mut class = vec![0u32; 256].into_boxed_slice();
    for (j, &p) in named.iter().enumerate() {
        class[p as usize] = j as u32 + 1;
    }
    for (i, (_, r)) in rules.iter().enumerate() {
        if let Some(p) = r.protocol {
            vectors.set(class[p as usize] as usize, i);
        }
    }
    (class, vectors.finish())
}

/// Classes of a port field: the elementary ranges the rules' bounds cut
/// 0..=65535 into (equal rule sets merged), and one for "not known" that
/// holds only the rules without a condition on this port.
fn port_field(
    rules: &[(usize, &AclRule)],
    words: usize,
    field: impl Fn(&AclRule) -> Option<PortRange>,
) -> (PortClasses, Vectors) {
    let mut bounds: Vec<u32> = vec![0, 65_536];
    for (_, r) in rules {
        if let Some(range) = field(r) {
            bounds.push(range.first as u32);
            bounds.push(range.last as u32 + 1);
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    let base = wildcard(rules, words, |r| field(r).is_none());
    let segments = bounds.len() - 1;
    let mut seg = Vectors::new(segments, &base);
    for (i, (_, r)) in rules.iter().enumerate() {
        if let Some(range) = field(r) {
            let first = bounds.partition_point(|&b| b < range.first as u32);
            let end = bounds.partition_point(|&b| b < range.last as u32 + 1);
            for s in first..end {
                seg.set(s, i);
            }
        }
    }
    // Merge segments with equal rule sets; the unknown-port class is the base.
    let mut class_of: HashMap<&[u64], u32> = HashMap::new();
    let mut classes: Vec<u64> = base.clone();
    class_of.insert(&base, 0);
    let mut intervals: Vec<(u16, u32)> = Vec::with_capacity(segments);
    for (s, &start) in bounds[..segments].iter().enumerate() {
        let v = seg.bits(s);
        let next = class_of.len() as u32;
        let c = *class_of.entry(v).or_insert_with(|| {
            classes.extend_from_slice(v);
            next
        });
        if intervals.last().is_none_or(|&(_, last)| last != c) {
            intervals.push((start as u16, c));
        }
    }
    let lookup = PortClasses::new(&intervals);
    // Class 0 is "not known" even when a segment has the same set: the
    // base vector is the same either way.
    let vectors = Vectors {
        words,
        agg_words: words.div_ceil(64),
        bits: classes,
        agg: Vec::new(),
    };
    (lookup, vectors.finish())
}
