//! A worker's cache of ACL answers by exact flow, in front of the
//! classifier (the idea of Open vSwitch's exact-match cache in front of its
//! megaflow classifier, and of VPP's ACL plugin sessions).
//!
//! Classifying a packet against a long list costs four interval lookups and
//! an AND of five bit vectors (~270 instructions at 10 rules, ~330 at
//! 10,000: see README, "Data-plane features"); a flow's packets all get the
//! same answer. The cache keeps, per (list, source, destination, protocol,
//! ports), the counter the classifier gave the flow's first packet:
//! later packets pay a hash and one cache-line compare. The entry holds
//! the action too, and for IPv4 the flow's route once looked up, which
//! makes the cache a flow cache (`forward/flow_cache.rs`).
//!
//! * Exact: the key holds every field a rule can match (ports "not known"
//!   apart from port 0), and the list's id, so an entry answers only for
//!   what the classifier answered. Hit counts per rule are kept as before
//!   (the counter is the rule's, at its flat index).
//! * Invalidated whole when the worker takes a new ACL table: the keys
//!   carry the generation their entry was made in (7 bits of the key's
//!   spare word, so a hit compares the key and nothing else), O(1) on a
//!   reload; every 127th reload the sets are cleared instead.
//! * Bounded: a fixed number of four-way sets (two cache lines each for
//!   IPv4, the first holding the two ways a set mostly uses), least
//!   recently inserted way evicted; a flood of new flows (or
//!   flows an attacker makes collide) costs the classifier plus one store
//!   each, never more. The hash is keyed per worker ([`crate::qos::random_key`]).
//! * Per worker: no sharing, no locks.

use super::{AclAction, AclId, AclKeyV6, AclTable};
use crate::lpm::NextHopId;
use crate::qos::classify::fold_mul as mix;
use crate::qos::prefetch;

/// Sets per family (powers of two): 2,048 × 4 ways of 32 bytes for IPv4,
/// 1,024 × 4 ways of 64 bytes for IPv6: 256 KiB each, allocated only when
/// some list has rules. Four ways rather than twice the sets of two: with
/// two, 1,024 flows over 4,096 sets left ~9 sets holding a third flow,
/// whose flows kept evicting each other (1.4 % of packets missed the
/// cache in the stages bench and paid the classifier and the
/// frame-by-frame pipeline); a set of four overflows only with a fifth.
const V4_SETS: usize = 2048;
const V6_SETS: usize = 1024;
/// Ways per set.
const WAYS: usize = 4;

/// What the cache did, for operators (`ferroute stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AclCacheCounts {
    pub hits: u64,
    pub misses: u64,
}

impl AclCacheCounts {
    pub fn merge(&mut self, other: &AclCacheCounts) {
        self.hits += other.hits;
        self.misses += other.misses;
    }
}

/// A list's answer for a packet: where it counts (the index in the
/// table's [`AclCounts`](super::AclCounts): the list's counter base plus
/// the rule's index, or plus the number of rules for the default) and what
/// to do.
pub type Answer = (usize, AclAction);

/// One cached answer; a key of generation 0 is never current (an empty
/// way). An IPv4 entry also keeps its destination's route (the FIB
/// lookup's answer) once the common case has looked it up, valid while
/// `route_generation` is the cache's (see [`AclCache::follow_fib`]).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
struct Entry<K> {
    key: K,
    counter: u32,
    route: NextHopId,
    /// 0: no route kept.
    route_generation: u32,
    action: AclAction,
}

// An IPv4 entry in half a line, an IPv6 one in a line, routes and all.
const _: () = assert!(std::mem::size_of::<Entry<FlowKeyV4>>() == 32);
const _: () = assert!(std::mem::size_of::<Entry<FlowKeyV6>>() == 64);

/// Where the generation sits in a key's `rest` word (bits 41..48: between
/// "ports known" and the list id), and the largest before the sets are
/// cleared.
const GENERATION_SHIFT: u32 = 41;
const MAX_GENERATION: u32 = 127;

/// [`WAYS`] ways, newest first; for IPv4 two cache lines.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set<K> {
    ways: [Entry<K>; WAYS],
}

/// An IPv4 flow's cache key: the addresses and the rest (ports, protocol,
/// "ports known", list id; the cache adds its generation) as
/// [`FlowKeyV4::new`] packs them. Built from the
/// header's bytes as they are (only equality matters, not their values as
/// numbers), so a hit never converts a field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowKeyV4 {
    addrs: u64,
    rest: u64,
}

impl FlowKeyV4 {
    /// `addrs`: the source and destination as they sit in the header;
    /// `ports`: the first four payload bytes of TCP and UDP as a
    /// native-endian word when `known`, 0 when not (a word, so the caller
    /// can choose without a branch).
    #[inline(always)]
    pub fn new(addrs: [u8; 8], ports: u32, known: bool, protocol: u8, id: AclId) -> FlowKeyV4 {
        debug_assert!(known || ports == 0);
        FlowKeyV4 {
            addrs: u64::from_ne_bytes(addrs),
            rest: packed_rest(ports, known, protocol, id),
        }
    }

    /// The key of fields already taken apart: the same key the header's
    /// bytes give (tests ask the cache this way).
    #[cfg(test)]
    pub(crate) fn of(key: &super::AclKeyV4, id: AclId) -> FlowKeyV4 {
        let mut addrs = [0; 8];
        addrs[..4].copy_from_slice(&key.src.to_be_bytes());
        addrs[4..].copy_from_slice(&key.dst.to_be_bytes());
        let (ports, known) = raw_ports(key.ports);
        FlowKeyV4::new(addrs, ports, known, key.protocol, id)
    }
}

/// An IPv6 flow's cache key, likewise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowKeyV6 {
    src: u128,
    dst: u128,
    rest: u64,
}

impl FlowKeyV6 {
    #[inline(always)]
    pub fn of(key: &AclKeyV6, id: AclId) -> FlowKeyV6 {
        let (ports, known) = raw_ports(key.ports);
        FlowKeyV6 {
            src: key.src,
            dst: key.dst,
            rest: packed_rest(ports, known, key.protocol, id),
        }
    }
}

/// Ports as the payload's first four bytes read as a native-endian word,
/// and whether they are known.
#[inline(always)]
fn raw_ports(ports: Option<(u16, u16)>) -> (u32, bool) {
    match ports {
        Some((s, d)) => {
            let [s0, s1] = s.to_be_bytes();
            let [d0, d1] = d.to_be_bytes();
            (u32::from_ne_bytes([s0, s1, d0, d1]), true)
        }
        None => (0, false),
    }
}

/// A key the sets compare.
trait CacheKey: Copy + Default + Eq {
    /// `self == other`, as one test of the words' differences (a key
    /// compared field by field branches per word).
    fn same(&self, other: &Self) -> bool;
}

impl CacheKey for FlowKeyV4 {
    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        (self.addrs ^ other.addrs) | (self.rest ^ other.rest) == 0
    }
}

impl CacheKey for FlowKeyV6 {
    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        let addrs = (self.src ^ other.src) | (self.dst ^ other.dst);
        (addrs as u64) | (addrs >> 64) as u64 | (self.rest ^ other.rest) == 0
    }
}

/// A key of the current generation and its hash
/// ([`KeysV4::prepare`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PreparedV4 {
    key: FlowKeyV4,
    hash: u64,
}

/// A batch's view of the cache for making its IPv4 keys
/// ([`AclCache::keys_v4`]).
#[derive(Debug, Clone, Copy)]
pub struct KeysV4<'a> {
    generation_bits: u64,
    key: [u64; 2],
    mask: u64,
    sets: &'a [Set<FlowKeyV4>],
}

impl KeysV4<'_> {
    /// `key` made current and hashed, its set being fetched: a batch
    /// prepares all its frames' keys before probing any
    /// ([`AclCache::probe_prepared_v4`]), so the probes find their sets
    /// in the first-level cache rather than wait for each in turn.
    #[inline(always)]
    pub fn prepare(&self, key: FlowKeyV4) -> PreparedV4 {
        let (key, hash) = self.current(key);
        let set = (hash & self.mask) as usize;
        prefetch(self.sets.as_ptr().wrapping_add(set));
        PreparedV4 { key, hash }
    }

    /// `key` with the current generation, and its hash.
    #[inline(always)]
    fn current(&self, mut key: FlowKeyV4) -> (FlowKeyV4, u64) {
        key.rest |= self.generation_bits;
        let hash = mix(key.addrs ^ self.key[0], key.rest ^ self.key[1]);
        (key, hash)
    }
}

impl PreparedV4 {
    /// The key of a frame too short for the common case, which never
    /// probes with it (an empty way would answer it).
    pub const EMPTY: PreparedV4 = PreparedV4 {
        key: FlowKeyV4 { addrs: 0, rest: 0 },
        hash: 0,
    };
}

/// What the cache holds for a flow ([`AclCache::probe_flow_v4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowAnswer {
    pub answer: Answer,
    /// The destination's route in the FIB the cache follows, if kept.
    pub route: Option<NextHopId>,
}

/// The cache of one family.
#[derive(Debug, Clone, Default)]
struct Sets<K> {
    sets: Box<[Set<K>]>,
    /// Sets − 1 (0 when empty: the one index tried is then out of range).
    mask: u64,
}

impl<K: CacheKey> Sets<K> {
    fn new(sets: usize) -> Sets<K> {
        debug_assert!(sets.is_power_of_two());
        Sets {
            sets: vec![Set::default(); sets].into_boxed_slice(),
            mask: sets as u64 - 1,
        }
    }

    /// The answer cached for `key` (which holds the current generation),
    /// or `classify`'s, then cached; and whether it was a hit.
    #[inline(always)]
    fn answer(&mut self, key: K, hash: u64, classify: impl FnOnce() -> Answer) -> (Answer, bool) {
        let Some(set) = self.sets.get_mut((hash & self.mask) as usize) else {
            return (classify(), false);
        };
        if let Some(way) = set.ways.iter().find(|w| w.key.same(&key)) {
            return ((way.counter as usize, way.action), true);
        }
        let (counter, action) = classify();
        set.ways.copy_within(..WAYS - 1, 1);
        set.ways[0] = Entry {
            key,
            counter: counter as u32,
            action,
            ..Entry::default()
        };
        ((counter, action), false)
    }

    /// The answer cached for `key`, if any.
    #[inline(always)]
    fn probe(&self, key: K, hash: u64) -> Option<Answer> {
        let set = self.sets.get((hash & self.mask) as usize)?;
        let way = set.ways.iter().find(|w| w.key.same(&key))?;
        Some((way.counter as usize, way.action))
    }

    /// The answer and the route (if one of `route_generation` is kept)
    /// cached for `key`, if any.
    #[inline(always)]
    fn probe_flow(&self, key: K, hash: u64, route_generation: u32) -> Option<FlowAnswer> {
        let set = self.sets.get((hash & self.mask) as usize)?;
        let way = set.ways.iter().find(|w| w.key.same(&key))?;
        let route = (way.route_generation == route_generation).then_some(way.route);
        Some(FlowAnswer {
            answer: (way.counter as usize, way.action),
            route,
        })
    }

    /// Keeps `route` (of `route_generation`) in `key`'s entry, if the
    /// cache still holds one.
    #[inline(always)]
    fn keep_route(&mut self, key: K, hash: u64, route: NextHopId, route_generation: u32) {
        let Some(set) = self.sets.get_mut((hash & self.mask) as usize) else {
            return;
        };
        if let Some(way) = set.ways.iter_mut().find(|w| w.key.same(&key)) {
            way.route = route;
            way.route_generation = route_generation;
        }
    }

    fn clear(&mut self) {
        self.sets.fill(Set::default());
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.sets)
    }
}

/// One worker's cache of ACL answers (see the module comment).
#[derive(Debug, Clone)]
pub struct AclCache {
    v4: Sets<FlowKeyV4>,
    v6: Sets<FlowKeyV6>,
    /// The generation current keys carry (1..=[`MAX_GENERATION`]), and
    /// the same shifted into place.
    generation: u32,
    generation_bits: u64,
    /// Bit `id` set: list `id` (< 64) has no rules, so the stage answers
    /// its default without reading the packet or asking the cache.
    empty_lists: u64,
    key: [u64; 2],
    /// The FIB routes kept in entries belong to: the stamp of its IPv4
    /// trie and this cache's number for it (1.., 0 never current).
    fib_stamp: u64,
    route_generation: u32,
    pub counts: AclCacheCounts,
}

impl Default for AclCache {
    fn default() -> Self {
        AclCache {
            v4: Sets::default(),
            v6: Sets::default(),
            generation: 1,
            generation_bits: 1 << GENERATION_SHIFT,
            empty_lists: 0,
            key: crate::qos::random_key(),
            fib_stamp: 0,
            route_generation: 1,
            counts: AclCacheCounts::default(),
        }
    }
}

/// Ports (as bytes), protocol, "ports known" and the list id in one word
/// (bits 41..48 left for the generation).
#[inline(always)]
fn packed_rest(ports: u32, known: bool, protocol: u8, id: AclId) -> u64 {
    ports as u64 | (protocol as u64) << 32 | (known as u64) << 40 | (id as u64) << 48
}

impl AclCache {
    /// A cache sized for `table`: empty (nothing allocated) when no list
    /// has rules, since then the classifier is never asked.
    pub fn for_table(table: &AclTable) -> AclCache {
        let mut cache = AclCache::default();
        cache.fit(table);
        cache
    }

    /// A cache of `v4` and `v6` sets (powers of two), for tests that want
    /// collisions.
    #[cfg(test)]
    pub(super) fn with_sets(v4: usize, v6: usize) -> AclCache {
        AclCache {
            v4: Sets::new(v4),
            v6: Sets::new(v6),
            ..AclCache::default()
        }
    }

    /// Forgets every answer (a new table: the same list id and fields may
    /// now mean another rule) and allocates the sets if `table` is the
    /// first with rules.
    pub fn invalidate(&mut self, table: &AclTable) {
        self.generation += 1;
        if self.generation > MAX_GENERATION {
            // Old generations would come round again: clear them first.
            self.v4.clear();
            self.v6.clear();
            self.generation = 1;
        }
        self.generation_bits = (self.generation as u64) << GENERATION_SHIFT;
        self.fit(table);
    }

    fn fit(&mut self, table: &AclTable) {
        let rules = table.acls().iter().any(|a| !a.is_empty());
        if rules && self.v4.sets.is_empty() {
            self.v4 = Sets::new(V4_SETS);
            self.v6 = Sets::new(V6_SETS);
        }
        self.empty_lists = table
            .acls()
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, a)| a.is_empty())
            .fold(0, |mask, (id, _)| mask | 1 << id);
    }

    /// Whether list `id` of the table last fitted is known to have no
    /// rules (one bit test; lists past the 64th are asked like the others:
    /// their classifier answers the default).
    #[inline(always)]
    pub fn is_empty_list(&self, id: AclId) -> bool {
        id < 64 && self.empty_lists >> id & 1 != 0
    }

    /// The answer cached for `key`, or `classify`'s (the list's
    /// classifier on the packet's fields), then cached.
    #[inline(always)]
    pub fn answer_v4(&mut self, key: FlowKeyV4, classify: impl FnOnce() -> Answer) -> Answer {
        let (key, hash) = self.current_v4(key);
        let (answer, hit) = self.v4.answer(key, hash, classify);
        self.count(hit);
        answer
    }

    /// The answer cached for `key`, if any, without classifying, caching
    /// or counting (the batch's common case asks this way and leaves a
    /// frame without an answer to the pipeline, which asks again).
    #[inline(always)]
    pub fn probe_v4(&self, key: FlowKeyV4) -> Option<Answer> {
        let (key, hash) = self.current_v4(key);
        self.v4.probe(key, hash)
    }

    /// What making IPv4 keys current and fetching their sets reads of the
    /// cache, copied out once for a batch ([`KeysV4::prepare`]): in a loop
    /// over frames, the cache's fields were loaded again for each.
    #[inline(always)]
    pub fn keys_v4(&self) -> KeysV4<'_> {
        KeysV4 {
            generation_bits: self.generation_bits,
            key: self.key,
            mask: self.v4.mask,
            sets: &self.v4.sets,
        }
    }

    /// [`probe_v4`](Self::probe_v4) for a key [`KeysV4::prepare`] made.
    #[inline(always)]
    pub fn probe_prepared_v4(&self, prepared: &PreparedV4) -> Option<Answer> {
        self.v4.probe(prepared.key, prepared.hash)
    }

    /// The answer and the kept route for a key [`KeysV4::prepare`] made,
    /// if the cache has its flow (nothing classified, cached or counted).
    #[inline(always)]
    pub fn probe_flow_v4(&self, prepared: &PreparedV4) -> Option<FlowAnswer> {
        let generation = self.route_generation;
        self.v4.probe_flow(prepared.key, prepared.hash, generation)
    }

    /// Keeps `route`, the route of the destination of the flow whose key
    /// [`KeysV4::prepare`] made, looked up in the FIB last followed, in
    /// the flow's entry if the cache holds one.
    #[inline(always)]
    pub fn keep_route_v4(&mut self, prepared: &PreparedV4, route: NextHopId) {
        let generation = self.route_generation;
        self.v4
            .keep_route(prepared.key, prepared.hash, route, generation);
    }

    /// Makes the kept routes answer for the FIB whose IPv4 trie has stamp
    /// `fib_stamp` ([`CowArc::stamp`](crate::fib::CowArc::stamp)): once per
    /// batch, one compare; a new trie makes every kept route stale at once
    /// (a new generation), and on the rare wrap of the generation the sets
    /// are cleared first, so an old one never comes round again.
    #[inline(always)]
    pub fn follow_fib(&mut self, fib_stamp: u64) {
        if fib_stamp == self.fib_stamp {
            return;
        }
        self.fib_stamp = fib_stamp;
        self.route_generation = self.route_generation.wrapping_add(1);
        if self.route_generation == 0 {
            // Only IPv4 entries keep routes.
            self.v4.clear();
            self.route_generation = 1;
        }
    }

    /// The cache's number of the FIB it follows (tests set it near the wrap).
    #[cfg(test)]
    pub(crate) fn set_route_generation(&mut self, generation: u32) {
        self.route_generation = generation;
    }

    /// `key` with the current generation, and its hash.
    #[inline(always)]
    fn current_v4(&self, key: FlowKeyV4) -> (FlowKeyV4, u64) {
        self.keys_v4().current(key)
    }

    /// The same for IPv6.
    #[inline(always)]
    pub fn answer_v6(&mut self, key: FlowKeyV6, classify: impl FnOnce() -> Answer) -> Answer {
        let (key, hash) = self.current_v6(key);
        let (answer, hit) = self.v6.answer(key, hash, classify);
        self.count(hit);
        answer
    }

    /// [`probe_v4`](Self::probe_v4) for IPv6 (the common case asks this
    /// way for IPv6 frames on ports with ACLs).
    #[inline(always)]
    pub fn probe_v6(&self, key: FlowKeyV6) -> Option<Answer> {
        let (key, hash) = self.current_v6(key);
        self.v6.probe(key, hash)
    }

    /// `key` with the current generation, and its hash.
    #[inline(always)]
    fn current_v6(&self, mut key: FlowKeyV6) -> (FlowKeyV6, u64) {
        key.rest |= self.generation_bits;
        let halves = |a: u128| (a as u64, (a >> 64) as u64);
        let ((s0, s1), (d0, d1)) = (halves(key.src), halves(key.dst));
        let h = mix(s0 ^ self.key[0], s1 ^ self.key[1]);
        let h = mix(h ^ d0, d1 ^ self.key[0]);
        (key, mix(h ^ key.rest, self.key[1]))
    }

    #[inline(always)]
    fn count(&mut self, hit: bool) {
        if hit {
            self.counts.hits += 1;
        } else {
            self.counts.misses += 1;
        }
    }

    /// Bytes the sets take.
    pub fn memory_bytes(&self) -> usize {
        self.v4.bytes() + self.v6.bytes()
    }
}

#[cfg(test)]
mod tests;
