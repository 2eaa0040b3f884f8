//! Next-hop groups: what a FIB entry points at.
//!
//! A trie leaf holds a group id, not a next hop. A group is one or more
//! members (equal-cost paths); many prefixes share one group (every prefix
//! learnt from one BGP next hop, say), so a neighbour's new MAC or an IGP
//! change rewrites a group, never the prefixes using it (prefix-independent
//! convergence, as VPP's path-lists give).

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::NextHop;
use crate::lpm::NextHopId;

/// An `Arc` that clones its value on the first write while shared
/// (copy-on-write). Consecutive publications share every part that did not
/// change: the tries when only next hops changed, the group table when only
/// prefixes did.
///
/// Each value carries a stamp, unique to it in the process: a new value and
/// every write (`DerefMut`) take a fresh one, a clone keeps its original's.
/// Two handles with the same stamp therefore hold the same contents, which
/// is how a worker's caches of lookup answers know their table did not
/// change (an address or a version number would not do: an allocation is
/// reused, and tests write tables in place without a publication).
#[derive(Debug)]
pub struct CowArc<T> {
    value: Arc<T>,
    stamp: u64,
}

/// The next stamp to hand out (0 is never one: a cache starting at 0 never
/// matches).
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

fn fresh_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, Ordering::Relaxed)
}

impl<T> CowArc<T> {
    pub fn new(value: T) -> Self {
        CowArc {
            value: Arc::new(value),
            stamp: fresh_stamp(),
        }
    }

    /// Whether both point at the same value (nothing was copied).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.value, &b.value)
    }

    /// The value's address (to tell, without holding a reference, whether
    /// a later table reuses this allocation).
    pub fn as_ptr(this: &Self) -> *const T {
        Arc::as_ptr(&this.value)
    }

    /// The contents' stamp (see the type): equal stamps, equal contents.
    #[inline]
    pub fn stamp(this: &Self) -> u64 {
        this.stamp
    }
}

impl<T: Default> Default for CowArc<T> {
    fn default() -> Self {
        CowArc::new(T::default())
    }
}

impl<T> Clone for CowArc<T> {
    fn clone(&self) -> Self {
        CowArc {
            value: Arc::clone(&self.value),
            stamp: self.stamp,
        }
    }
}

impl<T> Deref for CowArc<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Clone> std::ops::DerefMut for CowArc<T> {
    /// Copies the value first if another FIB still shares it; the contents
    /// may change, so they take a fresh stamp.
    fn deref_mut(&mut self) -> &mut T {
        self.stamp = fresh_stamp();
        Arc::make_mut(&mut self.value)
    }
}

/// One group: its first member inline (what `lookup_v4` returns without a
/// second pointer chase) and all members for ECMP selection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GroupEntry {
    first: Option<NextHop>,
    members: Box<[NextHop]>,
}

/// The table of next-hop groups, indexed by [`NextHopId`]. Freed ids are
/// reused; a free slot has no members (a lookup through it finds nothing).
#[derive(Debug, Clone, Default)]
pub struct NextHopTable {
    groups: Vec<GroupEntry>,
    free: Vec<NextHopId>,
}

impl NextHopTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a group with `members` (in the given order) and returns its id.
    pub fn add(&mut self, members: &[NextHop]) -> NextHopId {
        let entry = GroupEntry {
            first: members.first().copied(),
            members: members.into(),
        };
        match self.free.pop() {
            Some(id) => {
                self.groups[id as usize] = entry;
                id
            }
            None => {
                self.groups.push(entry);
                (self.groups.len() - 1) as NextHopId
            }
        }
    }

    /// Replaces the members of group `id`, creating the slot if needed (ids
    /// are chosen by the RIB; slots between are left empty and free).
    pub fn set(&mut self, id: NextHopId, members: &[NextHop]) {
        let index = id as usize;
        if index >= self.groups.len() {
            for free in self.groups.len()..index {
                self.free.push(free as NextHopId);
            }
            self.groups.resize_with(index + 1, GroupEntry::default);
        } else if let Some(pos) = self.free.iter().position(|&f| f == id) {
            self.free.swap_remove(pos);
        }
        self.groups[index] = GroupEntry {
            first: members.first().copied(),
            members: members.into(),
        };
    }

    /// Empties group `id` and makes its id reusable.
    pub fn remove(&mut self, id: NextHopId) {
        if let Some(g) = self.groups.get_mut(id as usize) {
            if g.first.is_some() || !g.members.is_empty() {
                *g = GroupEntry::default();
                self.free.push(id);
            }
        }
    }

    /// The group's first member.
    #[inline]
    pub fn first(&self, id: NextHopId) -> Option<&NextHop> {
        self.groups.get(id as usize).and_then(|g| g.first.as_ref())
    }

    /// Whether every flow through group `id` takes the same member: it has
    /// at most one (no ECMP hash picks among several).
    #[inline]
    pub fn single_path(&self, id: NextHopId) -> bool {
        self.groups
            .get(id as usize)
            .is_some_and(|g| g.members.len() <= 1)
    }

    /// [`select`](Self::select) with the flow hash computed only when the
    /// group has several members (most have one, and hashing costs a read
    /// of the transport header).
    #[inline(always)]
    pub fn select_with(&self, id: NextHopId, flow_hash: impl FnOnce() -> u32) -> Option<&NextHop> {
        let g = self.groups.get(id as usize)?;
        match g.members.len() {
            0 | 1 => g.first.as_ref(),
            _ => Self::select_hashed(&g.members, flow_hash),
        }
    }

    /// The member of several for a flow, out of line: inlined, the hash's
    /// call made the common case's loop keep its values on the stack
    /// (callgrind).
    #[cold]
    #[inline(never)]
    fn select_hashed(members: &[NextHop], flow_hash: impl FnOnce() -> u32) -> Option<&NextHop> {
        let i = ((u64::from(flow_hash()) * members.len() as u64) >> 32) as usize;
        members.get(i)
    }

    /// The member for a flow: `flow_hash` spread over the members
    /// (multiply-shift, no division on the fast path).
    #[inline]
    pub fn select(&self, id: NextHopId, flow_hash: u32) -> Option<&NextHop> {
        let g = self.groups.get(id as usize)?;
        match g.members.len() {
            0 | 1 => g.first.as_ref(),
            n => {
                let i = ((u64::from(flow_hash) * n as u64) >> 32) as usize;
                g.members.get(i)
            }
        }
    }

    /// All members of group `id` (empty for a free or unknown id).
    pub fn members(&self, id: NextHopId) -> &[NextHop] {
        self.groups.get(id as usize).map_or(&[], |g| &g.members)
    }

    /// Slots, used or free (ids run below this).
    pub fn slots(&self) -> usize {
        self.groups.len()
    }

    /// Groups with at least one member.
    pub fn len(&self) -> usize {
        self.groups.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<GroupEntry>()
            + self
                .groups
                .iter()
                .map(|g| g.members.len() * std::mem::size_of::<NextHop>())
                .sum::<usize>()
            + self.free.capacity() * std::mem::size_of::<NextHopId>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;

    fn adj(port: u16) -> NextHop {
        NextHop::Adjacency {
            port,
            mac: MacAddr([2, 0, 0, 0, 0, port as u8]),
        }
    }

    #[test]
    fn groups_add_set_remove_and_reuse() {
        let mut t = NextHopTable::new();
        let a = t.add(&[adj(1)]);
        let b = t.add(&[adj(2), adj(3)]);
        assert_ne!(a, b);
        assert_eq!(t.first(b), Some(&adj(2)));
        assert_eq!(t.members(b), &[adj(2), adj(3)]);
        assert_eq!(t.len(), 2);
        t.remove(a);
        assert_eq!(t.first(a), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.add(&[adj(4)]), a, "a freed id is reused");
        t.set(5, &[adj(5)]);
        assert_eq!(t.first(5), Some(&adj(5)));
        assert_eq!(t.len(), 3, "slots 2..5 are free, not groups");
        t.set(3, &[adj(6)]);
        assert_eq!(t.len(), 4);
        let fresh = t.add(&[adj(7)]);
        assert!(fresh == 2 || fresh == 4, "a free slot, got {fresh}");
    }

    #[test]
    fn select_spreads_flows_over_members() {
        let mut t = NextHopTable::new();
        let g = t.add(&[adj(1), adj(2), adj(3)]);
        let mut seen = [0u32; 3];
        for h in 0..3000u32 {
            let nh = t.select(g, h.wrapping_mul(0x9E37_79B9)).unwrap();
            let NextHop::Adjacency { port, .. } = nh else {
                panic!("{nh:?}")
            };
            seen[*port as usize - 1] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        // The same flow always takes the same member.
        assert_eq!(t.select(g, 12345), t.select(g, 12345));
        let single = t.add(&[adj(9)]);
        assert_eq!(t.select(single, u32::MAX), Some(&adj(9)));
        assert_eq!(t.select(99, 1), None);
    }

    #[test]
    fn cow_arc_copies_only_when_shared() {
        let mut a = CowArc::new(vec![1, 2]);
        let b = a.clone();
        assert!(CowArc::ptr_eq(&a, &b));
        assert_eq!(
            CowArc::stamp(&a),
            CowArc::stamp(&b),
            "a clone: same contents"
        );
        a.push(3);
        assert!(!CowArc::ptr_eq(&a, &b));
        assert_eq!(*b, vec![1, 2]);
        assert_ne!(CowArc::stamp(&a), CowArc::stamp(&b));
        let before = (&*a as *const Vec<i32>, CowArc::stamp(&a));
        a.push(4);
        assert_eq!(
            before.0, &*a as *const Vec<i32>,
            "unshared: written in place"
        );
        assert_ne!(before.1, CowArc::stamp(&a), "written in place: a new stamp");
        let (c, d) = (CowArc::new(vec![1, 2]), CowArc::<Vec<i32>>::default());
        assert_ne!(
            CowArc::stamp(&c),
            CowArc::stamp(&d),
            "every new value its own"
        );
    }
}
