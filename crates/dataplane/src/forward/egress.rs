//! The common case's egress per next-hop group, resolved once and kept.
//!
//! A frame of the common case leaves through its route's group: the group
//! table's entry, its member's adjacency, the egress port's VLAN and MTU
//! and MAC, each a load and a test (~35 instructions a frame with the
//! spills they caused, callgrind, `benches/forward.rs`). A batch has few
//! distinct groups and a table far fewer than frames, so each worker keeps
//! what the common case needs of a group (both MACs as the frame's first 12
//! bytes, the port, its MTU) in a small direct-mapped table by group id, and
//! a frame whose group is there takes one compare of the id and one of its
//! length against the MTU.
//!
//! Only groups whose every flow leaves the same way are kept: one member
//! (no ECMP hash), a complete adjacency on an untagged port without an
//! outbound ACL; the others are resolved per frame as before. The entries
//! hold for the group table they were resolved in: the table's stamp
//! ([`CowArc::stamp`], new with every change of its contents) is compared
//! once per batch and a new one empties them, as does a change of the
//! ports' stages ([`EgressCache::invalidate`]); the ports' MACs, MTUs and
//! VLANs are fixed for a forwarder's life.

use crate::fib::{CowArc, Fib, PortId};
use crate::lpm::NextHopId;

/// Entries: a power of two (the slot is the group id's low bits).
const SLOTS: usize = 256;

/// What a frame of the common case leaving through one group needs.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
pub(super) struct Egress {
    /// The frame's first 12 bytes: the next hop's MAC, then the port's.
    pub macs: [u8; 12],
    /// The group resolved into this slot.
    group: NextHopId,
    pub port: PortId,
    /// The port's MTU: the largest IP packet taken; 0 in an empty slot,
    /// which no packet fits.
    mtu: u16,
}

/// A worker's resolved egresses (see the module).
#[derive(Debug, Clone)]
pub(super) struct EgressCache {
    /// The group table's stamp the entries were resolved in (0: none, no
    /// table has it).
    stamp: u64,
    slots: Box<[Egress; SLOTS]>,
}

impl Default for EgressCache {
    fn default() -> Self {
        EgressCache {
            stamp: 0,
            slots: Box::new([Egress::default(); SLOTS]),
        }
    }
}

impl EgressCache {
    /// Before a batch forwarded with `fib`: empties the entries if they
    /// were resolved in another group table.
    #[inline]
    pub fn follow(&mut self, fib: &Fib) {
        let stamp = CowArc::stamp(fib.groups_shared());
        if stamp != self.stamp {
            self.slots.fill(Egress::default());
            self.stamp = stamp;
        }
    }

    /// Forgets every entry (the ports' stages changed).
    pub fn invalidate(&mut self) {
        self.stamp = 0;
        self.slots.fill(Egress::default());
    }

    /// The egress of `group` for a packet of `total` bytes (IP header
    /// included) if it is kept and the packet fits the port's MTU.
    #[inline(always)]
    pub fn get(&self, group: NextHopId, total: usize) -> Option<&Egress> {
        let e = &self.slots[group as usize % SLOTS];
        (e.group == group && total <= usize::from(e.mtu)).then_some(e)
    }

    /// Whether `group` is kept (asked where [`get`](Self::get) said no:
    /// then the packet is larger than the port's MTU).
    #[inline]
    pub fn keeps(&self, group: NextHopId) -> bool {
        let e = &self.slots[group as usize % SLOTS];
        e.group == group && e.mtu != 0
    }

    /// Keeps `group`'s egress: MACs `macs`, through `port` of MTU `mtu`
    /// (a group whose every flow leaves this way, resolved in the table
    /// last [`follow`](Self::follow)ed).
    #[inline]
    pub fn insert(&mut self, group: NextHopId, macs: [u8; 12], port: PortId, mtu: u16) {
        self.slots[group as usize % SLOTS] = Egress {
            macs,
            group,
            port,
            mtu,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept group answers by the packet's size; its slot's other
    /// groups (256 ids apart) and empty slots are not kept.
    #[test]
    fn kept_groups_answer_by_size() {
        let mut cache = EgressCache::default();
        assert!(
            cache.get(0, 20).is_none() && !cache.keeps(0),
            "an empty slot"
        );
        cache.insert(7, [1; 12], 1, 1500);
        assert!(matches!(cache.get(7, 1500), Some(e) if e.port == 1 && e.macs == [1; 12]));
        assert!(cache.get(7, 1501).is_none() && cache.keeps(7));
        let other = 7 + SLOTS as NextHopId;
        assert!(cache.get(other, 20).is_none() && !cache.keeps(other));
        cache.invalidate();
        assert!(cache.get(7, 20).is_none() && !cache.keeps(7));
    }
}
