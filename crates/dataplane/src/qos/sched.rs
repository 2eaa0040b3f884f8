//! The two scheduling levels: classes share a port by weight, flows share
//! their class equally.
//!
//! **DRR** (Shreedhar & Varghese 1995), at both levels in fq_codel's style:
//! the deficit may overdraw by one packet and is topped up by a quantum when
//! it is spent, so each step is O(1) and the service of two backlogged queues
//! differs by at most one quantum plus one maximum packet. Inside a class,
//! flows that just became active go on a `new` list served before the `old`
//! one (fq_codel's DRR++), so a sparse flow's packet waits for at most one
//! quantum of each new flow, never a whole round of the backlogged ones. A
//! class's quantum is its weight times the port quantum.
//!
//! **WFQ** as start-time fair queueing (STFQ; Goyal, Vin & Cheng 1996):
//! each backlogged queue carries the virtual start tag of its head packet,
//! `S = max(v, F_previous)`, finish `F = S + len / weight`, the queue with the
//! smallest `S` sends, and the virtual time `v` is the start tag of the
//! packet in service. Why STFQ rather than WF²Q+ or SCFQ: it needs no
//! emulation of the fluid system (WF²Q+ must track GPS virtual time and test
//! eligibility, a second ordered key per queue), its fairness bound equals
//! SCFQ's, and serving by *start* tag gives a newly active (sparse) queue a
//! tag equal to `v`, so it is served within one packet per competing queue,
//! where SCFQ makes it wait for a whole packet of its own first. With equal
//! weights inside a class the live start tags all lie within one maximum
//! packet of `v`, so flows are kept in a ring of 64 byte-granular buckets
//! with a bitmap (find-first-set from the cursor) instead of a heap: O(1) per
//! packet at any number of flows, with ties inside one bucket served in
//! arrival order. Classes (at most 8) are compared by a linear scan.

use super::flows::{Flow, Linked, WfqTags, NIL};

/// Virtual-time units per byte at weight 1 (class level). With weights up
/// to 1000 the per-packet increment stays an exact-enough integer.
pub(super) const VSCALE: u64 = 1 << 16;

/// Buckets in a class's WFQ ring.
const BUCKETS: usize = 64;

/// A singly linked FIFO of flows (through `Flow::next`).
#[derive(Debug, Clone, Copy)]
pub(super) struct FlowList {
    head: u32,
    tail: u32,
}

impl Default for FlowList {
    fn default() -> Self {
        FlowList {
            head: NIL,
            tail: NIL,
        }
    }
}

impl FlowList {
    #[inline]
    pub fn head(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }

    #[inline]
    pub fn push_back(&mut self, flows: &mut [Flow], f: u32) {
        flows[f as usize].next = NIL;
        if self.tail == NIL {
            self.head = f;
        } else {
            flows[self.tail as usize].next = f;
        }
        self.tail = f;
    }

    #[inline]
    pub fn push_front(&mut self, flows: &mut [Flow], f: u32) {
        flows[f as usize].next = self.head;
        if self.head == NIL {
            self.tail = f;
        }
        self.head = f;
    }

    #[inline]
    pub fn pop_front(&mut self, flows: &mut [Flow]) -> Option<u32> {
        let f = self.head()?;
        self.head = flows[f as usize].next;
        if self.head == NIL {
            self.tail = NIL;
        }
        flows[f as usize].next = NIL;
        Some(f)
    }
}

/// Flows of one class kept by WFQ start tag.
#[derive(Debug, Clone)]
pub(super) struct Buckets {
    occupied: u64,
    lists: [FlowList; BUCKETS],
    /// Bytes per bucket (a power of two).
    granularity_shift: u32,
    /// Virtual time of the class (start tag of the flow last served), bytes.
    pub vtime: u64,
}

impl Buckets {
    /// Buckets wide enough that one `quantum`-byte packet spans half the ring.
    pub fn new(quantum: u32) -> Buckets {
        let width = (quantum as u64).div_ceil((BUCKETS / 2) as u64).max(16);
        Buckets {
            occupied: 0,
            lists: [FlowList::default(); BUCKETS],
            granularity_shift: width.next_power_of_two().trailing_zeros(),
            vtime: 0,
        }
    }

    /// Largest tag increment that keeps every live tag inside the ring.
    #[inline]
    pub fn max_step(&self) -> u64 {
        ((BUCKETS as u64 - 2) << self.granularity_shift).max(1)
    }

    #[inline]
    fn index(&self, tag: u64) -> usize {
        ((tag >> self.granularity_shift) as usize) % BUCKETS
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// Links flow `f` at its start tag: behind the flows of equal tag when it
    /// stays backlogged, ahead of them when it just became active (`fresh`).
    /// Any order of equal tags is STFQ; this one serves a sparse flow's
    /// packet next instead of after a round of backlogged flows whose tags
    /// tie with it (DRR++'s sparse-flow priority, by tie-break).
    #[inline]
    pub fn insert(&mut self, flows: &mut [Flow], tags: &[WfqTags], f: u32, fresh: bool) {
        let b = self.index(tags[f as usize].start);
        if fresh {
            self.lists[b].push_front(flows, f);
        } else {
            self.lists[b].push_back(flows, f);
        }
        self.occupied |= 1 << b;
        flows[f as usize].linked = Linked::Bucket;
    }

    /// Unlinks the flow with the smallest start tag (bucket-granular) and
    /// advances the virtual time to it.
    #[inline]
    pub fn pop_min(&mut self, flows: &mut [Flow], tags: &[WfqTags]) -> Option<u32> {
        if self.occupied == 0 {
            return None;
        }
        let cursor = self.index(self.vtime) as u32;
        let b = ((self.occupied.rotate_right(cursor).trailing_zeros() + cursor) as usize) % BUCKETS;
        let f = self.lists[b].pop_front(flows)?;
        if self.lists[b].is_empty() {
            self.occupied &= !(1 << b);
        }
        flows[f as usize].linked = Linked::No;
        self.vtime = self.vtime.max(tags[f as usize].start);
        Some(f)
    }
}

/// One class's scheduling state.
#[derive(Debug, Clone)]
pub(super) struct ClassSched {
    pub weight: u32,
    /// DRR++ lists.
    pub new_flows: FlowList,
    pub old_flows: FlowList,
    /// WFQ flows.
    pub buckets: Buckets,
    /// Class-level DRR deficit (bytes).
    pub deficit: i64,
    /// Class-level STFQ tags (VSCALE units).
    pub start: u64,
    pub finish: u64,
    /// Packets queued in the class.
    pub packets: u32,
}

impl ClassSched {
    pub fn new(weight: u32, quantum: u32) -> ClassSched {
        ClassSched {
            weight: weight.max(1),
            new_flows: FlowList::default(),
            old_flows: FlowList::default(),
            buckets: Buckets::new(quantum),
            deficit: 0,
            start: 0,
            finish: 0,
            packets: 0,
        }
    }
}

/// Classes with backlog, for the class-level choice.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ActiveClasses {
    pub mask: u8,
    /// DRR: the class whose turn it is.
    pub cursor: u8,
    /// WFQ: port virtual time (VSCALE units).
    pub vtime: u64,
}

impl ActiveClasses {
    /// The next active class at or after the cursor (DRR).
    #[inline]
    pub fn current(&self) -> Option<usize> {
        if self.mask == 0 {
            return None;
        }
        let c = self.cursor as u32;
        Some(((self.mask.rotate_right(c).trailing_zeros() + c) % 8) as usize)
    }

    /// Moves the cursor past class `c`.
    #[inline]
    pub fn advance(&mut self, c: usize) {
        self.cursor = ((c + 1) % 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_pop_in_tag_order_across_the_wrap() {
        let mut flows = vec![Flow::default(); 8];
        let mut tags = vec![WfqTags::default(); 8];
        let mut b = Buckets::new(1514);
        // Start near a wrap of the ring.
        let base = (BUCKETS as u64 * 3 - 5) << b.granularity_shift;
        b.vtime = base;
        let starts = [base + 1500, base, base + 800, base + 64 * 10, base + 3000];
        for (i, t) in starts.iter().enumerate() {
            tags[i].start = *t;
            b.insert(&mut flows, &tags, i as u32, false);
        }
        let mut order = Vec::new();
        while let Some(f) = b.pop_min(&mut flows, &tags) {
            order.push(tags[f as usize].start);
        }
        let mut sorted = starts.to_vec();
        sorted.sort();
        assert_eq!(order, sorted);
        assert!(b.is_empty());
    }

    #[test]
    fn active_classes_rotate() {
        let mut a = ActiveClasses {
            mask: 0b1010_0100,
            ..Default::default()
        };
        assert_eq!(a.current(), Some(2));
        a.advance(2);
        assert_eq!(a.current(), Some(5));
        a.advance(5);
        assert_eq!(a.current(), Some(7));
        a.advance(7);
        assert_eq!(a.current(), Some(2));
        a.mask = 0;
        assert_eq!(a.current(), None);
    }
}
