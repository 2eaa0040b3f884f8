//! The compressed multibit trie behind [`Ipv4Table`](super::Ipv4Table) and
//! [`Ipv6Table`](super::Ipv6Table): Poptrie's scheme (direct pointing on the
//! top bits, 6-bit strides whose 64 slots are popcount-compressed, runs of
//! equal leaves stored once) with two changes that shorten a level:
//!
//! * A node's entries are stored *inline*, right after its 8-byte bitmap,
//!   instead of in two global arrays reached through base indices: reading a
//!   node and the entry it selects is, in the common case, one cache line,
//!   where Poptrie needs the node's line and then a line of the leaf array.
//! * Children and leaves share one run-compressed entry list and one bitmap:
//!   bit s of `runs` is set where slot s's entry differs from slot s-1's
//!   (always for slot 0 and for a child, which no other slot shares), so a
//!   level is one popcount and one load with no branch between child and
//!   leaf, where Poptrie tests the slot, then counts one of two bitmaps.
//! * Two entry widths: an IPv4 node with no child (nearly all of them: the
//!   /19-/24 nodes) stores 16-bit leaf codes, a node with a child (and
//!   every IPv6 node) 32-bit entries (`LEAF|code` or child pointer; IPv6
//!   stores them without flags, see `Trie::to_stored`). The pointer to a node
//!   says which (`WIDE`), so a level reads 32 bits at
//!   `entries + (rank - 1) << wide` and keeps the low half of a narrow
//!   entry: still no branch. The price of one list is a leaf stored again
//!   after a child that splits its run.
//!
//! Layout (all in one `Vec<u16>` arena, offsets in 16-bit units, nodes
//! aligned to 8 bytes, 32-bit values little-endian over two units):
//!
//! ```text
//! direct[top D bits] : LEAF|code  or  node pointer (WIDE if wide | offset)
//! node at offset o   : [runs: u64][entry: u16 or u32 × popcnt(runs)]
//! entry of slot s    : the (popcnt(runs << (63 - s)) - 1)-th entry
//!                      (narrow: a code; wide: LEAF|code or node pointer)
//! ```
//!
//! Leaves carry 16-bit codes indexing `codes` (code 0 = no route), so any
//! `u32` next-hop id works while a table uses at most 65,535 distinct ones.
//! The arena ends with `GUARD` zero units, so reading 32 bits at any
//! node's last narrow entry stays inside it. An IPv6 arena starts with
//! `LEAF_REGION`, where steps from leaves land (see there), stores its
//! entries without flags (`Trie::to_stored`), and after a build holds its
//! depth-18 nodes, each in a block of whole lines with its top index
//! (`top.rs`), after all the other nodes.
//!
//! The control side keeps the routes in packed sorted arrays (the record,
//! `record.rs`) and updates the compiled form in place by rebuilding only the slots a changed
//! prefix covers (see `update.rs`).

mod arena;
mod build;
mod codes;
mod frozen;
mod lookup;
mod record;
mod top;
mod update;
mod v4;
mod v6;

use std::collections::HashMap;

use super::NextHopId;
pub use frozen::{FrozenStats, FrozenV4, FrozenVariant, PackedV4, PACKED_MAX_ID};
use record::Record;

/// Top bits used by direct pointing and the stride of every node below it.
pub(crate) trait Key: Copy + Ord + Eq + Default + std::fmt::Debug + 'static {
    /// Address width.
    const BITS: u8;
    /// Bits resolved by the direct-pointing array.
    const DIRECT: u8;
    /// Units of `JUNK_UNIT` the arena starts with once it holds a node
    /// (see `LEAF_REGION`): 0 where no walk steps from a leaf.
    const RESERVED: usize;
    /// The packed lookup copy a published table may carry beside (or in
    /// place of) the trie's arrays: IPv4's `PackedV4`, none for IPv6.
    type Packed: Packed<Self>;
    /// The address left-aligned in 128 bits (what the builder works on).
    fn to_left(self) -> u128;
    fn from_left(v: u128) -> Self;
}

impl Key for u32 {
    const BITS: u8 = 32;
    const DIRECT: u8 = 18;
    const RESERVED: usize = 0;
    type Packed = std::sync::Arc<PackedV4>;
    #[inline]
    fn to_left(self) -> u128 {
        u128::from(self) << 96
    }
    #[inline]
    fn from_left(v: u128) -> Self {
        (v >> 96) as u32
    }
}

/// IPv6 resolves 18 bits directly (a 1 MiB array): a /48, the most common
/// length, then ends five node levels down (18, 24, 30, 36, 42), as with 20
/// bits (a 4 MiB array, which kept the table at twice Poptrie's memory),
/// where 16 bits would need six.
impl Key for u128 {
    const BITS: u8 = 128;
    const DIRECT: u8 = 18;
    const RESERVED: usize = LEAF_REGION;
    type Packed = NotPacked;
    #[inline]
    fn to_left(self) -> u128 {
        self
    }
    #[inline]
    fn from_left(v: u128) -> Self {
        v
    }
}

/// A lookup-only structure made from a finished trie (see `Key::Packed`).
pub(crate) trait Packed<K: Key>: Clone + std::fmt::Debug + Send + Sync + Sized {
    /// The copy of `t`, or why its table cannot be held so.
    fn new(t: &Trie<K>) -> Result<Self, String>;
    /// The next-hop id of `a`'s longest match, `NONE_ID` for none.
    fn id_of(&self, a: K) -> NextHopId;
    /// As `Trie::lookup_batch`.
    fn lookup_batch<T: Copy + Into<K>>(&self, addrs: &[T], out: &mut [crate::MaybeNextHop]);
    /// Bytes lookups can touch.
    fn memory_bytes(&self) -> usize;
}

impl Packed<u32> for std::sync::Arc<PackedV4> {
    fn new(t: &Trie<u32>) -> Result<Self, String> {
        PackedV4::new(t).map(std::sync::Arc::new)
    }
    #[inline(always)]
    fn id_of(&self, a: u32) -> NextHopId {
        PackedV4::id_of(self, a)
    }
    #[inline]
    fn lookup_batch<T: Copy + Into<u32>>(&self, addrs: &[T], out: &mut [crate::MaybeNextHop]) {
        PackedV4::lookup_batch(self, addrs, out)
    }
    fn memory_bytes(&self) -> usize {
        PackedV4::memory_bytes(self)
    }
}

/// IPv6 has no packed copy: a value of this type cannot exist, so an
/// `Option<NotPacked>` is always `None` and costs lookups nothing.
#[derive(Debug, Clone)]
pub(crate) enum NotPacked {}

impl Packed<u128> for NotPacked {
    fn new(_: &Trie<u128>) -> Result<Self, String> {
        Err("IPv6 tables have no packed copy".into())
    }
    fn id_of(&self, _: u128) -> NextHopId {
        match *self {}
    }
    fn lookup_batch<T: Copy + Into<u128>>(&self, _: &[T], _: &mut [crate::MaybeNextHop]) {
        match *self {}
    }
    fn memory_bytes(&self) -> usize {
        match *self {}
    }
}

/// Bits per node level (64 slots: one `u64` bitmap, one popcount).
const STRIDE: u8 = 6;
/// Marks a direct entry or a slot entry that is a leaf (low 16 bits: code).
const LEAF: u32 = 1 << 31;
/// Marks a node pointer whose node has 32-bit entries (it has a child);
/// without it the node's entries are 16-bit codes.
const WIDE: u32 = 1 << 30;
/// Marks a node pointer (IPv6 direct entries only) whose node has a top
/// index in the units before it (`top.rs`): the slots of the node and of
/// its children in one 12-bit level.
const TOP: u32 = 1 << 29;
/// The arena offset (in 16-bit units) of a node pointer.
const OFFSET: u32 = TOP - 1;
/// Units of a node header (the `runs` bitmap).
const HDR: usize = 4;
/// Node alignment in units: the 8-byte bitmap never straddles a cache line.
const ALIGN: usize = 4;
/// Zero units after the last node (see the layout above).
const GUARD: usize = 2;
/// Units of a 64-byte cache line: top blocks (`top.rs`) start on a
/// multiple of it and take whole ones, so none of their 16-byte pairs
/// straddles a line (relative to the arena's start, which the allocator
/// aligns to 16 bytes).
const LINE: usize = 32;
/// The IPv6 arena's first units, all `JUNK_UNIT` (zeros), where no node
/// lies: a step from a leaf entry (stored as its code, below 2^16:
/// `Trie::to_stored`) or from `JUNK` (0) reads only these (a bitmap of 4
/// zero units, so rank 0 whatever the slot, then the entry 2 units on) and
/// finds `JUNK`. So the single IPv6 walk steps every level without asking
/// whether its entry is still a node (`v6::walk_from`): no select on the
/// chain of dependent loads, and the rank tells it which step left a
/// node (a node's rank is at least 1). 128 KiB, of which a walk touches
/// the lines of the codes in use and of offset 0.
pub(super) const LEAF_REGION: usize = (1 << 16) + 32;
/// IPv6 arena entries below this are leaves (their code), the others
/// node offsets: no node lies in the leaf region, and every code is below
/// 2^16 (`Trie::to_stored`).
pub(super) const STORED_LEAF_BELOW: u32 = LEAF_REGION as u32;
/// Every unit of the leaf region: two of them make `JUNK`.
const JUNK_UNIT: u16 = 0;
/// What a step from a leaf or from `JUNK` reads: 0, the stored leaf of
/// "no route" (code 0), which no node is (none lies at offset 0): a walk
/// that keeps it answers "no route", and a step from it reads it again.
pub(super) const JUNK: u32 = (JUNK_UNIT as u32) << 16 | JUNK_UNIT as u32;
/// Code of "no route".
const NO_ROUTE: u16 = 0;
/// What `codes[NO_ROUTE]` holds: the batches' "no route" as is, so that
/// they store the code table's entries without converting them.
const NONE_ID: NextHopId = crate::MaybeNextHop::NONE.0;
/// Largest number of distinct next hops one table can hold at once.
pub const MAX_NEXT_HOPS: usize = u16::MAX as usize;

/// A route as the builder sees it: left-aligned key, length, leaf code.
type Item = (u128, u8, u16);

/// The key with only its first `len` bits kept.
#[inline]
fn mask(key: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        key & (u128::MAX << (128 - u32::from(len)))
    }
}

/// The `stride` bits of `key` starting at bit `depth` (bits past 128 read as 0).
#[inline]
fn slot_at(key: u128, depth: u8, stride: u8) -> usize {
    ((key << depth) >> (128 - u32::from(stride))) as usize
}

#[inline]
fn leaf(code: u16) -> u32 {
    LEAF | u32::from(code)
}

/// Why a route could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LpmError {
    #[error("next-hop id {0} is reserved (u32::MAX means no route)")]
    ReservedNextHop(NextHopId),
    #[error("more than {MAX_NEXT_HOPS} distinct next-hop ids in one table")]
    TooManyNextHops,
    #[error("a lookup-only copy of a table cannot be changed")]
    LookupOnly,
}

/// The compiled trie plus the control-side record it is rebuilt from.
#[derive(Debug, Clone)]
pub(crate) struct Trie<K: Key> {
    /// `1 << K::DIRECT` entries.
    direct: Vec<u32>,
    /// Nodes, in 16-bit units, then `GUARD` (empty while there is no node).
    arena: Vec<u16>,
    /// Leaf code → next-hop id (`codes[0]` = `NONE_ID`).
    codes: Vec<NextHopId>,

    // Control side only: never read by lookups.
    /// Every route: (key, length) → code.
    record: Record<K>,
    code_of: HashMap<NextHopId, u16>,
    /// Routes per code; a code is recycled when it drops to 0.
    users: Vec<u32>,
    /// Code of the default route (length 0), `NO_ROUTE` without one: kept so
    /// that uRPF can tell "matched only the default" in O(1).
    default_code: u16,
    free_codes: Vec<u16>,
    /// Inherited code of the node at arena offset `ALIGN * i` (the leaf value
    /// its slots take where no prefix of its own covers them).
    meta: Vec<u16>,
    /// Free node blocks by size in `ALIGN` units.
    free: Vec<Vec<u32>>,
    free_words: usize,
    /// Set on a lookup-only copy ([`Trie::lookup_copy_with`]).
    lookup_only: Option<CopyFacts>,
}

/// What a lookup-only copy answers from fields, made once when it is
/// copied: it keeps no record, and the data plane asks for its default
/// route per uRPF-checked packet, where working it out reads `code_of`
/// (a hash map).
#[derive(Debug, Clone, Copy)]
struct CopyFacts {
    routes: usize,
    default_route: Option<(NextHopId, bool)>,
}

impl<K: Key> Default for Trie<K> {
    fn default() -> Self {
        Trie {
            direct: vec![leaf(NO_ROUTE); 1 << K::DIRECT],
            arena: Vec::new(),
            codes: vec![NONE_ID],
            record: Record::default(),
            code_of: HashMap::new(),
            users: vec![0],
            default_code: NO_ROUTE,
            free_codes: Vec::new(),
            meta: Vec::new(),
            free: Vec::new(),
            free_words: 0,
            lookup_only: None,
        }
    }
}

/// Sizes of the compiled structure (what lookups touch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrieStats {
    pub direct_bytes: usize,
    /// Arena bytes, including `free_bytes` of holes left by updates.
    pub node_bytes: usize,
    pub free_bytes: usize,
    pub nodes: usize,
    /// Direct entries that are leaves (the share of uniformly random
    /// addresses answered by the first memory access).
    pub direct_leaves: usize,
    pub next_hops: usize,
}

impl<K: Key> Trie<K> {
    pub fn len(&self) -> usize {
        self.lookup_only.map_or(self.record.len(), |c| c.routes)
    }

    /// A copy that answers lookups (and [`Trie::default_route`]) but keeps
    /// no record: what a published FIB needs, at a fraction of the memory
    /// (the record is the larger part: a B-tree node per few routes) and
    /// of the time a whole clone takes. It refuses changes; the record's
    /// readers (`get`, `iter`, `lookup_with_len`) find nothing in it.
    ///
    /// Without `arrays`, the compiled arrays are left out too (empty), for
    /// a table whose packed copy answers its lookups: such a trie must
    /// never be walked (its walks index the direct array unchecked), only
    /// asked for its default route and length.
    pub fn lookup_copy_with(&self, arrays: bool) -> Self {
        let (direct, arena) = if arrays {
            (self.direct.clone(), self.arena.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        Trie {
            direct,
            arena,
            codes: self.codes.clone(),
            record: Record::default(),
            code_of: self.code_of.clone(),
            users: self.users.clone(),
            default_code: self.default_code,
            free_codes: Vec::new(),
            meta: Vec::new(),
            free: Vec::new(),
            free_words: 0,
            lookup_only: Some(CopyFacts {
                routes: self.len(),
                default_route: self.default_route(),
            }),
        }
    }

    /// Folds the record's recent changes into its packed arrays: a table
    /// that has stopped changing then holds no B-tree nodes for them (up to
    /// an eighth of its routes, 20-40 bytes each). The control plane calls
    /// it once a mass change has settled.
    pub fn compact_record(&mut self) {
        self.record.compact();
    }

    /// Whether the compiled arrays are here (see [`Trie::lookup_copy_with`]).
    pub fn has_arrays(&self) -> bool {
        !self.direct.is_empty()
    }

    pub fn is_lookup_only(&self) -> bool {
        self.lookup_only.is_some()
    }

    /// Bytes lookups can touch: direct array, node arena, code table.
    pub fn lookup_memory_bytes(&self) -> usize {
        self.direct.len() * 4 + self.arena.len() * 2 + self.codes.len() * 4
    }

    /// Everything: the compiled form plus the control-side record.
    pub fn memory_bytes(&self) -> usize {
        self.lookup_memory_bytes()
            + self.record.memory_bytes()
            + self.code_of.capacity() * 8
            + self.users.capacity() * 4
            + self.meta.capacity() * 2
            + self.free.iter().map(|f| f.capacity() * 4).sum::<usize>()
    }

    pub fn stats(&self) -> TrieStats {
        let mut nodes = 0;
        let mut stack: Vec<u32> = self
            .direct
            .iter()
            .copied()
            .filter(|e| e & LEAF == 0)
            .collect();
        while let Some(o) = stack.pop() {
            nodes += 1;
            let entries = self.read_node(o);
            stack.extend(entries.iter().copied().filter(|e| e & LEAF == 0));
        }
        TrieStats {
            direct_bytes: self.direct.len() * 4,
            node_bytes: self.arena.len() * 2,
            free_bytes: self.free_words * 2,
            nodes,
            direct_leaves: self.direct.iter().filter(|&&e| e & LEAF != 0).count(),
            next_hops: self.code_of.len(),
        }
    }

    /// The exact route for `key/len`, if present.
    pub fn get(&self, key: K, len: u8) -> Option<NextHopId> {
        let k = K::from_left(mask(key.to_left(), len));
        self.record.get(&(k, len)).map(|c| self.codes[c as usize])
    }

    /// The default route's next hop, and whether another route shares it
    /// (then a lookup answering that next hop may have matched either:
    /// [`Trie::matched_default`] tells). A lookup-only copy answers from
    /// a field.
    #[inline]
    pub fn default_route(&self) -> Option<(NextHopId, bool)> {
        if let Some(c) = &self.lookup_only {
            return c.default_route;
        }
        let c = self.default_code as usize;
        (self.default_code != NO_ROUTE).then(|| {
            let id = self.codes[c];
            (id, self.code_of.contains_key(&id))
        })
    }

    /// Whether a leaf entry is the default route's: it has a code of its
    /// own (see [`Trie::default_code_for`]), so no record is needed.
    #[inline]
    pub(super) fn is_default_leaf(&self, entry: u32) -> bool {
        self.default_code != NO_ROUTE && entry & LEAF != 0 && entry as u16 == self.default_code
    }

    /// Re-reads the default route's code after the record changed at length 0.
    fn refresh_default(&mut self) {
        self.default_code = self.record.get(&(K::default(), 0)).unwrap_or(NO_ROUTE);
    }

    /// Longest match with its length, from the record (operators' path).
    pub fn lookup_with_len(&self, key: K) -> Option<(NextHopId, u8)> {
        let left = key.to_left();
        (0..=K::BITS).rev().find_map(|len| {
            let k = K::from_left(mask(left, len));
            self.record
                .get(&(k, len))
                .map(|c| (self.codes[c as usize], len))
        })
    }

    /// All routes in (key, length) order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u8, NextHopId)> + '_ {
        self.record
            .iter()
            .map(|((k, l), c)| (k, l, self.codes[c as usize]))
    }
}

#[cfg(test)]
mod tests;
