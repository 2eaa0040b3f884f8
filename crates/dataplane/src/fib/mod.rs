//! The forwarding information base: LPM tables plus the next-hop group
//! table, and the handle through which workers read the current FIB while
//! the control side swaps in new ones.
//!
//! The three parts are shared between publications ([`CowArc`]): a new FIB
//! that changes only next hops reuses both tries, one that changes only
//! prefixes reuses the group table.

mod build;
mod groups;

pub use build::{build_static, ConnectedPort, FibError, RouteTarget, StaticNeighbor, StaticRoute};
pub use groups::{CowArc, NextHopTable};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::lpm::{Ipv4Table, Ipv6Table, NextHopId};
use crate::wire::MacAddr;

/// A port's index in the router's port table.
pub type PortId = u16;

/// What to do with a packet whose destination matched a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// A complete adjacency: rewrite the destination MAC and send on `port`.
    Adjacency { port: PortId, mac: MacAddr },
    /// A connected subnet whose host has no neighbour entry yet (ARP/ND is the
    /// host stack's job; the packet is counted as `neighbor_unresolved`).
    Glean { port: PortId },
    /// Reached through `gateway`, whose MAC address is not known.
    Unresolved { port: PortId, gateway: IpAddr },
    /// An address of the router itself (or a connected subnet's broadcast):
    /// delivered to the host stack.
    Local,
    /// A route that says "drop this" (`action` on a `[[route]]`).
    Discard(Discard),
}

/// What a discard route does with the packets it matches, as Linux's
/// `blackhole`, `unreachable` and `prohibit` route types do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    /// Dropped silently.
    Blackhole,
    /// Dropped with ICMP destination unreachable, host (code 1) / ICMPv6
    /// no route (code 0, which Linux's `ip6_pkt_discard` sends).
    Unreachable,
    /// Dropped with ICMP communication administratively prohibited (code
    /// 13) / ICMPv6 administratively prohibited (code 1).
    Prohibit,
}

impl Discard {
    /// Every action, as the config and `show routes` spell it.
    pub const ALL: [Discard; 3] = [Discard::Blackhole, Discard::Unreachable, Discard::Prohibit];

    pub fn name(self) -> &'static str {
        match self {
            Discard::Blackhole => "blackhole",
            Discard::Unreachable => "unreachable",
            Discard::Prohibit => "prohibit",
        }
    }
}

/// One immutable forwarding table. Workers never see it change: the control
/// side builds a new one and publishes it through a [`FibHandle`].
///
/// A trie maps a prefix to a group id ([`NextHopId`]); the group table maps
/// the id to its members. Writing through `v4`, `v6` or [`Fib::groups_mut`]
/// copies that part first if another FIB still shares it.
#[derive(Debug, Clone, Default)]
pub struct Fib {
    pub v4: CowArc<Ipv4Table>,
    pub v6: CowArc<Ipv6Table>,
    groups: CowArc<NextHopTable>,
    /// Increases with every publication; shown to operators.
    pub version: u64,
}

impl Fib {
    /// An empty table whose group `i` is the single next hop `next_hops[i]`.
    pub fn with_next_hops(next_hops: Vec<NextHop>) -> Self {
        let mut fib = Fib::default();
        for nh in next_hops {
            fib.add_next_hop(nh);
        }
        fib
    }

    /// Adds a one-member group and returns its id.
    pub fn add_next_hop(&mut self, nh: NextHop) -> NextHopId {
        self.groups.add(&[nh])
    }

    /// The first member of group `id`.
    #[inline]
    pub fn next_hop(&self, id: NextHopId) -> Option<&NextHop> {
        self.groups.first(id)
    }

    /// The member of group `id` that carries the flow hashing to
    /// `flow_hash` (ECMP; a one-member group ignores the hash).
    #[inline]
    pub fn select(&self, group: NextHopId, flow_hash: u32) -> Option<&NextHop> {
        self.groups.select(group, flow_hash)
    }

    /// [`select`](Self::select), hashing the flow only for groups of
    /// several members.
    #[inline]
    pub fn select_with(
        &self,
        group: NextHopId,
        flow_hash: impl FnOnce() -> u32,
    ) -> Option<&NextHop> {
        self.groups.select_with(group, flow_hash)
    }

    pub fn groups(&self) -> &NextHopTable {
        &self.groups
    }

    /// The group table for writing (copied first if shared).
    pub fn groups_mut(&mut self) -> &mut NextHopTable {
        &mut self.groups
    }

    /// Replaces the group table (without copying the old one first).
    pub fn set_groups(&mut self, groups: NextHopTable) {
        self.groups = CowArc::new(groups);
    }

    /// The shared group table, for checking what two FIBs share.
    pub fn groups_shared(&self) -> &CowArc<NextHopTable> {
        &self.groups
    }

    /// The first member of the group of the longest prefix matching `dst`.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<&NextHop> {
        self.v4.lookup(dst).and_then(|id| self.next_hop(id))
    }

    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<&NextHop> {
        self.v6.lookup(dst).and_then(|id| self.next_hop(id))
    }

    /// Heap bytes of the tables (operators' `fib-stats`).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes() + self.groups.memory_bytes()
    }
}

/// Shared, atomically replaceable pointer to the current [`Fib`] (RCU style):
/// readers take a snapshot once per batch; the old table is freed when its
/// last reader drops it.
///
/// A replaced table that a reader still holds is kept on a retired list and
/// freed by a later publication (or [`FibHandle::collect`]) once no reader
/// holds it, so workers never pay for freeing a table.
#[derive(Debug, Clone)]
pub struct FibHandle {
    current: Arc<ArcSwap<Fib>>,
    /// Only the publishing side touches this lock.
    retired: Arc<Mutex<Vec<Arc<Fib>>>>,
}

impl FibHandle {
    pub fn new(fib: Fib) -> Self {
        FibHandle {
            current: Arc::new(ArcSwap::from_pointee(fib)),
            retired: Arc::default(),
        }
    }

    /// The table to use for the next batch.
    #[inline]
    pub fn load(&self) -> Arc<Fib> {
        self.current.load_full()
    }

    /// A cheap read guard for one batch (no reference-count traffic on the
    /// shared pointer in the common case).
    #[inline]
    pub fn read(&self) -> arc_swap::Guard<Arc<Fib>> {
        self.current.load()
    }

    /// Publishes `fib` with one pointer swap; returns the version it got.
    pub fn publish(&self, mut fib: Fib) -> u64 {
        let version = self.current.load().version + 1;
        fib.version = version;
        let old = self.current.swap(Arc::new(fib));
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.push(old);
        Self::free_unread(&mut retired);
        version
    }

    /// Frees the replaced tables no reader holds any more; returns how many
    /// are still held.
    pub fn collect(&self) -> usize {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        Self::free_unread(&mut retired);
        retired.len()
    }

    /// Replaced tables not freed yet (held by a reader, or not collected
    /// since their last reader let go).
    pub fn retired_len(&self) -> usize {
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// A replaced table can gain no new reader (arc-swap settles the
    /// readers' borrowed references into counted ones when it swaps), so a
    /// count of one means only this list holds it.
    fn free_unread(retired: &mut Vec<Arc<Fib>>) {
        retired.retain(|f| Arc::strong_count(f) > 1);
    }
}
