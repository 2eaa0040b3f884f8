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
//! property test holds the two together.

use super::{frame_cost, PortQueues, Prepared, ENQUEUE_CHUNK};
use crate::qos::flows::{Linked, NIL};
use crate::qos::{FlowTuple, FrameStore, SchedulerKind};

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
        out: impl FnMut(T) -> Result<(), T>,
    ) -> usize {
        let n = batch.len();
        if n == 0 || n > ENQUEUE_CHUNK || n > max || !self.express_port_ready(n) {
            self.enqueue_batch(batch, tuples, now, frames);
            return self.dequeue_burst(now, max, frames, out);
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
            return self.dequeue_burst(now, max, frames, out);
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
                return self.dequeue_burst(now, max, frames, out);
            }
            flow.linked = Linked::New;
            prepared[i].flow = f;
        }
        #[cfg(test)]
        {
            self.express_counts.0 += 1;
        }
        self.express_send(batch, prepared, c, now, frames, out)
    }

    /// What the express path needs of the port whatever the batch: unshaped
    /// DRR, nothing queued, room in the arena for `n` frames.
    #[inline]
    fn express_port_ready(&self, n: usize) -> bool {
        self.shaper.is_none()
            && self.kind == SchedulerKind::Drr
            && self.store.used == 0
            && self.store.slots.len() >= n
    }

    /// What it needs of the batch's class `c`: no other class active, no
    /// flow on its old list, and on its new list at most one flow, emptied
    /// with deficit left (its next visit only retires it).
    #[inline]
    fn express_class_ready(&self, c: usize) -> bool {
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
    #[inline(always)]
    fn express_send<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        prepared: &[Prepared],
        c: usize,
        now: u64,
        frames: &mut S,
        mut out: impl FnMut(T) -> Result<(), T>,
    ) -> usize {
        let PortQueues {
            classes,
            store,
            active,
            ..
        } = self;
        let cl = &mut classes[c];
        // The class becomes active with the first frame's enqueue.
        let bit = 1u8 << c;
        if active.mask & bit == 0 {
            active.mask |= bit;
            cl.deficit = 0;
            cl.start = cl.finish.max(active.vtime);
        }
        // The first visit goes to the emptied flow left listed, which it
        // retires (CoDel's empty step; the old list is empty: unlinked).
        if let Some(f) = cl.new_flows.pop_front(&mut store.flows) {
            let flow = &mut store.flows[f as usize];
            flow.codel.on_empty();
            flow.linked = Linked::No;
        }
        let quantum = self.quantum as i32;
        let class_quantum = self.quantum as i64 * cl.weight as i64;
        let mut sent_bytes = 0u64;
        let mut taken = 0;
        let mut refused = false;
        let mut frames_left = batch.drain(..);
        for (frame, p) in frames_left.by_ref().zip(prepared) {
            // Class level: topped up (and passed, back to itself: the only
            // active class) while it has no deficit.
            if cl.deficit <= 0 {
                while cl.deficit <= 0 {
                    cl.deficit += class_quantum;
                }
                active.advance(c);
            }
            cl.deficit -= p.len as i64;
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
        // The flow served last stays first on the new list.
        let f = prepared[taken - 1].flow;
        store.flows[f as usize].linked = Linked::New;
        cl.new_flows.push_back(&mut store.flows, f);
        // Counted as the general way counts them: each frame taken from
        // the queues (the refused one too) enqueued, sent, and a sojourn of
        // 0 (recorded as 1, the histograms' floor).
        let k = &mut self.counters[c];
        k.enqueued += taken as u64;
        k.sent += taken as u64;
        k.sent_bytes += sent_bytes;
        self.record_sojourn_n(c, 0, taken as u64);
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

    /// Batches sent by the express path, and batches it handed over.
    #[cfg(test)]
    pub(crate) fn express_counts(&self) -> (u64, u64) {
        self.express_counts
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
