//! Storage of one port's queues: a fixed arena of descriptor slots, and the
//! set-associative table of flow queues that link those slots into FIFOs.
//!
//! Both are allocated once; enqueue and dequeue only move indices.

use super::codel::Codel;

/// "No index".
pub(super) const NIL: u32 = u32::MAX;
/// What [`Store::peek`]'s caller records for a flow no way holds when no
/// claim can have added it since (see [`Store::lookup_peeked`]): not an
/// index either (a store has far fewer flows).
pub(super) const UNSEEN: u32 = u32::MAX - 1;
/// Ways per set (CAKE uses 8: collisions stay rare up to thousands of flows
/// while a lookup reads one or two cache lines of tags).
pub(super) const WAYS: usize = 8;

/// One queued frame.
#[derive(Debug, Clone)]
pub(super) struct Slot<T> {
    pub item: Option<T>,
    /// Next slot in the same flow (or in the free list).
    pub next: u32,
    pub len: u32,
    pub enqueued_ns: u64,
}

/// Where a flow is linked for the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Linked {
    No,
    /// DRR++ list of flows that became active this round.
    New,
    /// DRR++ list of flows that used up a quantum.
    Old,
    /// A WFQ bucket.
    Bucket,
}

/// One flow queue: everything DRR and CoDel touch per packet, in one cache
/// line (the 1k-flow benchmark spent its time in misses on this struct when
/// it was 88 bytes with the WFQ tags in it; see [`WfqTags`]).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(super) struct Flow {
    pub head: u32,
    pub tail: u32,
    pub packets: u32,
    /// Next flow in the scheduler list or bucket this flow is linked in.
    pub next: u32,
    /// DRR deficit in bytes (between minus one frame and one quantum; the
    /// quantum is at most [`MAX_QUANTUM`]).
    pub deficit: i32,
    pub class: u8,
    pub linked: Linked,
    pub bytes: u64,
    pub codel: Codel,
}

const _: () = assert!(
    std::mem::size_of::<Flow>() == 64,
    "one flow, one cache line"
);

/// Largest DRR quantum, so that a deficit fits an `i32` (far above any frame).
pub(super) const MAX_QUANTUM: u32 = 1 << 24;

/// A flow's WFQ tags, apart from [`Flow`]: only WFQ reads them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WfqTags {
    /// Virtual start of the head packet, and finish of the last one sent.
    pub start: u64,
    pub finish: u64,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            head: NIL,
            tail: NIL,
            packets: 0,
            next: NIL,
            deficit: 0,
            class: 0,
            linked: Linked::No,
            bytes: 0,
            codel: Codel::default(),
        }
    }
}

/// Starts fetching the cache line at `p` into all cache levels. A hint:
/// it never faults and reads nothing the program can see, so any address
/// (even one past an array's end) is fine.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 dereferences nothing and cannot fault; the
        // pointer is only computed (wrapping), never read through.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The arena and the flow table.
#[derive(Debug, Clone)]
pub(super) struct Store<T> {
    pub slots: Vec<Slot<T>>,
    free: u32,
    pub used: u32,
    pub flows: Vec<Flow>,
    /// WFQ tags, indexed like `flows`.
    pub tags: Vec<WfqTags>,
    /// `tag << 8 | class` of every way, apart from the flows so that one
    /// set's lookup reads one cache line (8 × 8 bytes), not eight flows.
    keys: Vec<u64>,
    /// A byte of each way's key ([`Store::fingerprint`]), a set's eight in
    /// one word: a lookup compares them all at once and reads only the
    /// keys whose byte matches (a new flow, the worker's usual case,
    /// usually none), instead of comparing eight keys (~22 instructions
    /// per packet, callgrind, worker loop).
    fingerprints: Vec<[u8; WAYS]>,
    sets: u32,
    /// Lookups that found their set full of other flows and shared a queue.
    pub collisions: u64,
}

impl<T> Store<T> {
    /// `capacity` slots (at least 1) and `flows` flow queues (rounded up to
    /// whole sets).
    pub fn new(capacity: u32, flows: u32) -> Store<T> {
        let capacity = capacity.max(1);
        let slots = (0..capacity)
            .map(|i| Slot {
                item: None,
                next: if i + 1 < capacity { i + 1 } else { NIL },
                len: 0,
                enqueued_ns: 0,
            })
            .collect();
        let sets = flows.max(1).div_ceil(WAYS as u32);
        assert!(
            (sets as u64) * (WAYS as u64) < UNSEEN as u64,
            "flow indexes stay below UNSEEN"
        );
        Store {
            slots,
            free: 0,
            used: 0,
            flows: vec![Flow::default(); sets as usize * WAYS],
            tags: vec![WfqTags::default(); sets as usize * WAYS],
            keys: vec![0; sets as usize * WAYS],
            fingerprints: vec![[Self::fingerprint(0); WAYS]; sets as usize],
            sets,
            collisions: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.free == NIL
    }

    /// First way of the set `hash` maps to.
    #[inline]
    pub fn set_base(&self, hash: u64) -> usize {
        let set = (((hash >> 32) * self.sets as u64) >> 32) as usize;
        set * WAYS
    }

    /// Starts fetching the tags of the set at `base` (batched enqueue:
    /// the lookup that follows then finds them in cache).
    #[inline]
    pub fn prefetch_set(&self, base: usize) {
        prefetch(self.keys.as_ptr().wrapping_add(base));
    }

    /// The tag of `hash` in `class` as the set's ways record it.
    #[inline]
    fn key(hash: u64, class: u8) -> u64 {
        (((hash as u32) | 1) as u64) << 8 | class as u64
    }

    /// The byte of `key` its way's fingerprint records (hash bits the set
    /// index does not use: a set's keys differ there as often as not).
    #[inline(always)]
    fn fingerprint(key: u64) -> u8 {
        (key >> 8) as u8
    }

    /// The way of the set starting at `base` whose key is `key` (a set's
    /// keys are unique): only the ways whose fingerprint is the key's are
    /// compared (found by a zero-byte test of the set's fingerprints
    /// xored with the key's byte in every lane; the test may also mark
    /// a lane above a true zero, never miss one, and the keys decide).
    /// (Comparing all eight keys, two at a time with SSE4.1, cost as many
    /// instructions as one at a time.)
    #[inline(always)]
    fn find(&self, base: usize, key: u64) -> Option<usize> {
        const LOW: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let ways = &self.keys[base..base + WAYS];
        let lanes = u64::from_le_bytes(self.fingerprints[base / WAYS]);
        let x = lanes ^ (Self::fingerprint(key) as u64 * LOW);
        let mut candidates = x.wrapping_sub(LOW) & !x & HIGH;
        while candidates != 0 {
            let way = candidates.trailing_zeros() as usize / 8;
            if ways[way] == key {
                return Some(base + way);
            }
            candidates &= candidates - 1;
        }
        None
    }

    /// The way already holding `hash` in `class`, without claiming one
    /// (read-only: [`Store::lookup`] decides), or [`NIL`]; `base` is
    /// `hash`'s [`Store::set_base`] (the callers' passes share it).
    #[inline]
    pub fn peek(&self, base: usize, hash: u64, class: u8) -> u32 {
        match self.find(base, Self::key(hash, class)) {
            Some(way) => way as u32,
            None => NIL,
        }
    }

    /// Starts fetching flow `f`'s state ([`NIL`]: nothing).
    #[inline]
    pub fn prefetch_flow(&self, f: u32) {
        if f != NIL {
            prefetch(self.flows.as_ptr().wrapping_add(f as usize));
        }
    }

    /// Starts fetching the flow a new flow of `hash` would most likely
    /// claim (its set's first way: with far fewer busy flows than ways,
    /// the first is usually free).
    #[inline]
    pub fn prefetch_claim(&self, base: usize) {
        self.prefetch_flow(base as u32);
    }

    /// Starts fetching the slot a new frame of flow `f` will be linked
    /// behind (its tail), when `f` has one.
    #[inline]
    pub fn prefetch_tail(&self, f: u32) {
        if let Some(flow) = self.flows.get(f as usize) {
            if flow.tail != NIL {
                prefetch(self.slots.as_ptr().wrapping_add(flow.tail as usize));
            }
        }
    }

    /// [`Store::lookup`] given what [`Store::peek`] found for the same
    /// `hash` and `class` earlier: a way, which is the flow's when it still
    /// holds its key (a set's keys are unique, so it is the one `lookup`
    /// would find, without scanning the set again); [`UNSEEN`], when no way
    /// held the key then and no claim since can have written it (the
    /// caller's promise), so `lookup` would scan the set in vain and claim;
    /// else ([`NIL`]) `lookup`.
    #[inline(always)]
    pub fn lookup_peeked(&mut self, base: usize, hash: u64, class: u8, peeked: u32) -> u32 {
        if peeked == UNSEEN {
            return self.claim(base, hash, class);
        }
        if self.keys.get(peeked as usize) == Some(&Self::key(hash, class)) {
            return peeked;
        }
        self.lookup(hash, class)
    }

    /// The flow queue for `hash` in `class`: the way already holding it, else
    /// a way no one uses (empty and unscheduled), else the hash's home way
    /// (shared, counted as a collision).
    #[inline]
    pub fn lookup(&mut self, hash: u64, class: u8) -> u32 {
        let base = self.set_base(hash);
        if let Some(way) = self.find(base, Self::key(hash, class)) {
            return way as u32;
        }
        self.claim(base, hash, class)
    }

    /// [`Store::lookup`] for a flow no way of its set holds: claims a way
    /// no one uses, else shares one. Inlined: every frame of a new flow
    /// comes here, and as a call its entry and exit cost ~8 instructions
    /// a packet (callgrind, worker loop).
    #[inline(always)]
    fn claim(&mut self, base: usize, hash: u64, class: u8) -> u32 {
        if let Some(f) = self.claim_idle(base, hash, class) {
            return f;
        }
        self.collisions += 1;
        // Share a busy way of the same class (a flow is scheduled inside
        // its class), else the home way; the owner keeps its tag.
        let tag = (hash as u32) | 1;
        let way = self.flows[base..base + WAYS]
            .iter()
            .position(|f| f.class == class)
            .unwrap_or((tag as usize >> 1) % WAYS);
        (base + way) as u32
    }

    /// [`Store::claim`]'s first choice: a way no one uses (empty and
    /// unscheduled), claimed for `hash` in `class`; `None`, with nothing
    /// written, when every way of the set is busy.
    #[inline(always)]
    pub fn claim_idle(&mut self, base: usize, hash: u64, class: u8) -> Option<u32> {
        let key = Self::key(hash, class);
        // A flow not seen (or forgotten): claim a way no one uses.
        let way = self.flows[base..base + WAYS]
            .iter()
            .position(|f| f.packets == 0 && f.linked == Linked::No)?;
        self.keys[base + way] = key;
        self.fingerprints[base / WAYS][way] = Self::fingerprint(key);
        let f = &mut self.flows[base + way];
        f.class = class;
        f.codel = Codel::default();
        self.tags[base + way].finish = 0;
        Some((base + way) as u32)
    }

    /// The key way `f` holds (a flow's identity in the table: equal keys,
    /// one flow).
    #[inline]
    pub fn key_of(&self, f: u32) -> u64 {
        self.keys[f as usize]
    }

    /// Appends a frame to flow `f`; gives it back when the arena is full.
    #[inline]
    pub fn push(&mut self, f: u32, item: T, len: u32, now: u64) -> Result<(), T> {
        let i = self.free;
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return Err(item);
        };
        self.free = slot.next;
        slot.item = Some(item);
        slot.next = NIL;
        slot.len = len;
        slot.enqueued_ns = now;
        self.used += 1;
        let flow = &mut self.flows[f as usize];
        if flow.tail == NIL {
            flow.head = i;
        } else {
            let tail = flow.tail as usize;
            self.slots[tail].next = i;
        }
        flow.tail = i;
        flow.packets += 1;
        flow.bytes += len as u64;
        Ok(())
    }

    /// Takes the head frame of flow `f`: (frame, length, enqueue time).
    #[inline]
    pub fn pop(&mut self, f: u32) -> Option<(T, u32, u64)> {
        let flow = &mut self.flows[f as usize];
        let i = flow.head;
        let slot = self.slots.get_mut(i as usize)?;
        let item = slot.item.take()?;
        flow.head = slot.next;
        if flow.head == NIL {
            flow.tail = NIL;
        }
        flow.packets -= 1;
        flow.bytes -= slot.len as u64;
        slot.next = self.free;
        self.free = i;
        self.used -= 1;
        Some((item, slot.len, slot.enqueued_ns))
    }

    /// The flow table as text (tests: two stores that must have reached
    /// the same state; which arena slots hold a flow's frames is not part
    /// of it, only their number and bytes).
    #[cfg(test)]
    pub fn flows_state(&self) -> String {
        let flows: Vec<_> = self
            .flows
            .iter()
            .map(|f| {
                (
                    f.packets, f.bytes, f.next, f.deficit, f.class, f.linked, f.codel,
                )
            })
            .collect();
        format!("{flows:?} {:?} {:?} {}", self.tags, self.keys, self.used)
    }

    /// The flow holding the most bytes.
    pub fn fattest(&self) -> Option<u32> {
        let mut best = None;
        let mut most = 0;
        for (i, f) in self.flows.iter().enumerate() {
            if f.bytes > most {
                most = f.bytes;
                best = Some(i as u32);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every claimed flow is found again by its key, and only by it: with
    /// one set of eight ways, keys of equal fingerprints (and keys that
    /// differ only in the class) are told apart, a full set shares its
    /// ways, and a key never claimed is never found.
    #[test]
    fn lookups_find_the_ways_their_keys_claimed() {
        let mut store: Store<()> = Store::new(64, WAYS as u32);
        let mut rng = crate::testkit::Rng::new(0xf1a9);
        for round in 0..200 {
            // Hashes whose fingerprint byte is one of two values, so most
            // pairs collide there; the set index (high bits) is one set.
            let hashes: Vec<u64> = (0..WAYS)
                .map(|i| {
                    let low = (rng.next_u64() as u32 & !0xff00) | (i as u32 & 1) << 8;
                    u64::from(low)
                })
                .collect();
            let class = (round % 2) as u8;
            // Each claimed flow kept busy (a frame queued), so that no
            // later claim of the round takes its way.
            let ways: Vec<u32> = hashes
                .iter()
                .map(|&h| {
                    let way = store.lookup(h, class);
                    store.push(way, (), 1, 0).unwrap();
                    way
                })
                .collect();
            for (&h, &way) in hashes.iter().zip(&ways) {
                assert_eq!(store.lookup(h, class), way);
                assert_eq!(store.peek(store.set_base(h), h, class), way);
                assert_eq!(store.peek(store.set_base(h), h, class ^ 1), NIL);
            }
            let stranger = u64::from(rng.next_u64() as u32 | 0x1_0000);
            if !hashes.contains(&stranger) {
                assert_eq!(store.peek(0, stranger, class), NIL);
            }
            for &way in &ways {
                while store.pop(way).is_some() {}
            }
        }
    }
}
