//! Queueing a batch and sending it in one step: [`PortQueues::enqueue_then_burst`].
//!
//! A worker queues a receive batch and, in the same pass, lets the port's
//! scheduler fill its transmit ring. When the port's queues are idle (no
//! frame queued, no class but the batch's active, at most one emptied flow
//! still listed, unshaped DRR) and the ring has room for the whole batch of
//! one class, each frame of its own flow, the queues would send the batch
//! in arrival order and end in a state known ahead: the batch's flows
//! claimed as `enqueue` claims them, each of them but the last retired
//! with its deficit spent by its frame, the last one left first on the new
//! list (DRR++ retires it at its next visit), CoDel told each flow emptied,
//! the counters and sojourn samples of each frame. The express path writes
//! that state directly instead of linking every frame into the arena and
//! taking it out again (the worker-loop benchmark with the full table:
//! 979 → 765 instructions per packet, callgrind). Anything else, found
//! before a frame is sent, goes the general way; a frame the transmit
//! side refuses leaves the rest queued as the general way would. A
//! property test holds the two together. A batch whose flow tuples the
//! pipeline read is first tried without looking its flows up
//! (`express_tuples.rs`); this path takes the batches it leaves.

use super::{frame_cost, PortQueues, Prepared, ENQUEUE_CHUNK};
use crate::qos::flows::{Linked, NIL};
use crate::qos::sched::{ActiveClasses, ClassSched};
use crate::qos::{FlowTuple, FrameSink, FrameStore, SchedulerKind};

/// The class-level step of an express frame of `len` bytes in class `c`,
/// the only active class: its deficit topped up (and the turn passed,
/// back to itself) while it has none, then charged.
#[inline(always)]
pub(super) fn charge_class(
    cl: &mut ClassSched,
    active: &mut ActiveClasses,
    c: usize,
    class_quantum: i64,
    len: u32,
) {
    if cl.deficit <= 0 {
        while cl.deficit <= 0 {
            cl.deficit += class_quantum;
        }
        active.advance(c);
    }
    cl.deficit -= len as i64;
}

impl<T> PortQueues<T> {
    /// Queues every frame of `batch` (left empty) and hands up to `max`
    /// frames to `out`: exactly [`PortQueues::enqueue_batch`] followed by
    /// [`PortQueues::dequeue_burst`] with the same `now` (the frames, drops,
    /// marks, counters and state after), faster when the port is idle (see
    /// the module). Returns how many frames `out` took. `tuples` as for
    /// [`PortQueues::enqueue_batch`].
    pub fn enqueue_then_burst<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        tuples: &[FlowTuple],
        now: u64,
        max: usize,
        frames: &mut S,
        out: &mut impl FrameSink<T>,
    ) -> usize {
        let n = batch.len();
        if n == 0 || n > ENQUEUE_CHUNK || n > max || !self.express_port_ready(n) {
            self.enqueue_batch(batch, tuples, now, frames);
            return self.dequeue_burst(now, max, frames, |f| out.put(f));
        }
        if let Some(taken) = self.express_by_tuples(batch, tuples, now, frames, out) {
            return taken;
        }
        let mut chunk = self.prepare(&mut batch[..], tuples, frames);
        let prepared = &mut chunk.prepared[..n];
        let c = prepared[0].meta.class as usize;
        // One class, and every frame's deficit left positive: its flow is
        // retired at the next visit, not moved to the old list.
        let eligible = chunk.classes == 1 << (c & 7)
            && frame_cost(chunk.longest) < self.quantum as i32
            && self.express_class_ready(c);
        if !eligible {
            self.prefetch_tails(prepared);
            for (frame, p) in batch.drain(..).zip(prepared.iter()) {
                self.enqueue_classified(frame, *p, now, frames);
            }
            return self.dequeue_burst(now, max, frames, |f| out.put(f));
        }
        // Each frame's flow, looked up as `enqueue` would, in order (kept
        // in its `flow`); a flow taken by an earlier frame is marked
        // listed, as that frame's enqueue would have left it (so no later
        // claim takes its way).
        for i in 0..n {
            let p = prepared[i];
            let f = self
                .store
                .lookup_peeked(p.base as usize, p.meta.hash, p.meta.class, p.flow);
            let flow = &mut self.store.flows[f as usize];
            if flow.packets != 0 || flow.linked != Linked::No {
                // A flow with frames, listed, or taken by this batch
                // already: the general way from here, with the flows found.
                #[cfg(test)]
                {
                    self.express_counts.1 += 1;
                }
                for q in &prepared[..i] {
                    self.store.flows[q.flow as usize].linked = Linked::No;
                }
                prepared[i].flow = f;
                let mut rest = batch.drain(..);
                // The shorter side first: a zip stops without taking one
                // more frame from `rest`.
                for (q, frame) in prepared[..=i].iter().zip(rest.by_ref()) {
                    self.enqueue_to_flow(frame, q.flow, q.len, now, frames);
                }
                for (frame, q) in rest.zip(&prepared[i + 1..]) {
                    self.enqueue_classified(frame, *q, now, frames);
                }
                return self.dequeue_burst(now, max, frames, |f| out.put(f));
            }
            flow.linked = Linked::New;
            prepared[i].flow = f;
        }
        #[cfg(test)]
        {
            self.express_counts.0 += 1;
        }
        self.express_send(batch, prepared, tuples, c, now, frames, |f| out.put(f))
    }

    /// What the express path needs of the port whatever the batch: unshaped
    /// DRR, nothing queued, room in the arena for `n` frames.
    #[inline]
    pub(super) fn express_port_ready(&self, n: usize) -> bool {
        self.shaper.is_none()
            && self.kind == SchedulerKind::Drr
            && self.store.used == 0
            && self.store.slots.len() >= n
    }

    /// What it needs of the batch's class `c`: no other class active, no
    /// flow on its old list, and on its new list at most one flow, emptied
    /// with deficit left (its next visit only retires it).
    #[inline]
    pub(super) fn express_class_ready(&self, c: usize) -> bool {
        if self.active.mask & !(1u8 << c) != 0 {
            return false;
        }
        let Some(cl) = self.classes.get(c) else {
            return false;
        };
        if !cl.old_flows.is_empty() {
            return false;
        }
        match cl.new_flows.head() {
            None => true,
            Some(f) => {
                let flow = &self.store.flows[f as usize];
                flow.next == NIL && flow.packets == 0 && flow.deficit > 0
            }
        }
    }

    /// Sends the batch whose flows were looked up (`prepared[i].flow`,
    /// each its own, idle before) in class `c`, in order, writing the
    /// state the general way ends in (see the module).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn express_send<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        prepared: &[Prepared],
        tuples: &[FlowTuple],
        c: usize,
        now: u64,
        frames: &mut S,
        mut out: impl FnMut(T) -> Result<(), T>,
    ) -> usize {
        self.express_begin(c);
        let PortQueues {
            classes,
            store,
            active,
            ..
        } = self;
        let cl = &mut classes[c];
        let quantum = self.quantum as i32;
        let class_quantum = self.quantum as i64 * cl.weight as i64;
        let mut sent_bytes = 0u64;
        let mut taken = 0;
        let mut refused = false;
        let mut frames_left = batch.drain(..);
        for (frame, p) in frames_left.by_ref().zip(prepared) {
            charge_class(cl, active, c, class_quantum, p.len);
            // Flow level: linked new with a quantum, its one frame sent
            // (CoDel: a sole packet whose sojourn is 0 is never signalled,
            // the call only records that the queue is below target), then
            // retired at the next visit (CoDel's empty step again). Both
            // steps leave CoDel as `on_empty` does.
            let flow = &mut store.flows[p.flow as usize];
            flow.deficit = quantum - frame_cost(p.len);
            flow.codel.on_empty();
            flow.linked = Linked::No;
            sent_bytes += p.len as u64;
            taken += 1;
            if let Err(frame) = out(frame) {
                frames.release(frame);
                refused = true;
                break;
            }
        }
        // The flow served last stays first on the new list (recorded by
        // its words when its tuple is known).
        let last = &prepared[taken - 1];
        let words = tuples
            .get(taken - 1)
            .filter(|t| t.is_known())
            .map(|&t| self.classifier.flow_words(t));
        self.express_list(c, last.flow, frame_cost(last.len), words);
        self.express_count(c, taken, sent_bytes);
        if !refused {
            return taken;
        }
        // A refused frame ends the burst: the rest are queued behind it.
        for (frame, p) in frames_left.zip(&prepared[taken..]) {
            self.store.flows[p.flow as usize].linked = Linked::No;
            self.enqueue_to_flow(frame, p.flow, p.len, now, frames);
        }
        taken - 1
    }

    /// The class-level steps of the first frame's enqueue and the first
    /// visit of an express burst in class `c`: the class made active, the
    /// emptied flow left listed retired (CoDel's empty step; the old list
    /// is empty: unlinked).
    #[inline(always)]
    pub(super) fn express_begin(&mut self, c: usize) {
        let cl = &mut self.classes[c];
        let bit = 1u8 << c;
        if self.active.mask & bit == 0 {
            self.active.mask |= bit;
            cl.deficit = 0;
            cl.start = cl.finish.max(self.active.vtime);
        }
        if let Some(f) = cl.new_flows.pop_front(&mut self.store.flows) {
            let flow = &mut self.store.flows[f as usize];
            flow.codel.on_empty();
            flow.linked = Linked::No;
        }
    }

    /// Counts an express burst of `taken` frames (`bytes`) in class `c` as
    /// the general way counts them: each frame taken from the queues (a
    /// refused one too) enqueued, sent, and a sojourn of 0 (recorded as 1,
    /// the histograms' floor).
    #[inline(always)]
    pub(super) fn express_count(&mut self, c: usize, taken: usize, bytes: u64) {
        let k = &mut self.counters[c];
        k.enqueued += taken as u64;
        k.sent += taken as u64;
        k.sent_bytes += bytes;
        self.record_sojourn_n(c, 0, taken as u64);
    }

    /// Batches sent by the express path (looking flows up), batches it
    /// handed over, and batches sent by tuples.
    #[cfg(test)]
    pub(crate) fn express_counts(&self) -> (u64, u64, u64) {
        self.express_counts
    }

    /// The scheduling state that counts, as text, flows named by their
    /// keys rather than ways (tests: the express path by tuples and the
    /// general way must leave the same): the classes with their lists,
    /// the active classes, the pending sojourns, and every busy flow
    /// (frames queued, or listed); not what idle ways remember (see
    /// `express_tuples.rs`).
    #[cfg(test)]
    pub(crate) fn scheduler_state_by_key(&self) -> String {
        let store = &self.store;
        let list = |head: Option<u32>| {
            let mut keys = Vec::new();
            let mut f = head.unwrap_or(NIL);
            while f != NIL {
                keys.push(store.key_of(f));
                f = store.flows[f as usize].next;
            }
            keys
        };
        let classes: Vec<_> = self
            .classes
            .iter()
            .map(|cl| {
                let lists = (list(cl.new_flows.head()), list(cl.old_flows.head()));
                (
                    cl.weight, cl.deficit, cl.start, cl.finish, cl.packets, lists,
                )
            })
            .collect();
        let mut busy: Vec<_> = (0..store.flows.len() as u32)
            .map(|f| (store.key_of(f), store.flows[f as usize]))
            .filter(|(_, f)| f.packets != 0 || f.linked != Linked::No)
            .map(|(k, f)| (k, f.packets, f.bytes, f.deficit, f.class, f.linked, f.codel))
            .collect();
        busy.sort_by_key(|b| b.0);
        format!(
            "{classes:?} {:?} {:?} {busy:?} {}",
            self.active, self.pending, store.used
        )
    }

    /// The scheduling state as text (tests: the express path and the
    /// general way must leave the same).
    #[cfg(test)]
    pub(crate) fn scheduler_state(&self) -> String {
        format!(
            "{:?} {:?} {:?} {}",
            self.classes,
            self.active,
            self.pending,
            self.store.flows_state()
        )
    }
}
