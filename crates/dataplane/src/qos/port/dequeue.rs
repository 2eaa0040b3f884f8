//! The dequeue side of [`PortQueues`]: bursts, DRR++ and STFQ among
//! classes and flows, and CoDel at the head of a flow.

use super::{frame_cost, PortQueues};
use crate::qos::ecn;
use crate::qos::flows::{prefetch, Linked, NIL};
use crate::qos::sched::VSCALE;
use crate::qos::{FrameStore, SchedulerKind};

impl<T> PortQueues<T> {
    /// Up to `max` frames to transmit, each handed to `out` in order: the
    /// frames, drops, marks and counters of as many [`PortQueues::dequeue`]
    /// calls, with the checks each call makes first (backlog, shaper,
    /// scheduler) made once per burst on an unshaped port. A frame `out`
    /// gives back is released to `frames` and ends the burst. Returns how
    /// many frames `out` took.
    pub fn dequeue_burst<S: FrameStore<T>>(
        &mut self,
        now: u64,
        max: usize,
        frames: &mut S,
        mut out: impl FnMut(T) -> Result<(), T>,
    ) -> usize {
        if self.shaper.is_none() && self.kind == SchedulerKind::Drr {
            // DRR unshaped (the default) inlined here; the rest through
            // `dequeue`.
            return self.burst_drr(now, max, frames, out);
        }
        let mut taken = 0;
        while taken < max && self.store.used > 0 {
            let Some(frame) = self.dequeue(now, frames) else {
                break;
            };
            if let Err(frame) = out(frame) {
                frames.release(frame);
                break;
            }
            taken += 1;
        }
        taken
    }

    /// [`PortQueues::dequeue_burst`] of an unshaped DRR port: the steps of
    /// as many [`PortQueues::dequeue_drr`] calls, except that a call which
    /// would find the class it served last still first in turn (it still
    /// has frames and deficit: neither the cursor nor the active classes
    /// moved since) goes to its flows at once instead of asking the class
    /// level again, and a flow that call would only retire (emptied, with
    /// deficit left) is retired at once. Departures, drops and counters
    /// are `dequeue`'s (a property test holds them together).
    #[inline(always)]
    fn burst_drr<S: FrameStore<T>>(
        &mut self,
        now: u64,
        max: usize,
        frames: &mut S,
        mut out: impl FnMut(T) -> Result<(), T>,
    ) -> usize {
        let mut taken = 0;
        if max == 0 || self.store.used == 0 {
            return 0;
        }
        // The class the next step serves without the class-level steps.
        let mut stay = None;
        loop {
            // One step of `dequeue_drr`'s loop.
            let c = match stay.take() {
                Some(c) => c,
                None => {
                    let Some(c) = self.class_in_turn() else {
                        return taken;
                    };
                    c
                }
            };
            let Some(((frame, len, _), f)) = self.dequeue_flows_drr(c, now, frames) else {
                self.deactivate(c);
                continue;
            };
            self.classes[c].deficit -= len as i64;
            if let Err(frame) = out(frame) {
                frames.release(frame);
                return taken;
            }
            taken += 1;
            // Where `dequeue_burst`'s loop would stop; else the next call.
            if taken >= max || self.store.used == 0 {
                return taken;
            }
            let cl = &self.classes[c];
            if cl.packets > 0 && cl.deficit > 0 {
                stay = Some(c);
                // That call's first visit is to flow `f`, still first on
                // its list; when `f` sent its last frame with deficit left,
                // the visit only retires it (CoDel's empty step, off the
                // list): done here at once, on the flow at hand.
                let flow = &mut self.store.flows[f as usize];
                if flow.packets == 0 && flow.deficit > 0 {
                    flow.codel.on_empty();
                    // It came from the new list if that is not empty.
                    let from_new = !self.classes[c].new_flows.is_empty();
                    self.retire_head(c, f, from_new);
                }
            }
        }
    }

    fn deactivate(&mut self, c: usize) {
        self.active.mask &= !(1u8 << c);
        self.classes[c].deficit = 0;
    }

    /// Class-level DRR: the active class whose turn it is and which has
    /// frames and deficit, after retiring the empty classes and topping up
    /// (and passing) the ones without deficit on the way.
    #[inline(always)]
    fn class_in_turn(&mut self) -> Option<usize> {
        loop {
            let c = self.active.current()?;
            if self.classes[c].packets == 0 {
                self.deactivate(c);
                continue;
            }
            if self.classes[c].deficit <= 0 {
                let cl = &mut self.classes[c];
                cl.deficit += self.quantum as i64 * cl.weight as i64;
                self.active.advance(c);
                continue;
            }
            return Some(c);
        }
    }

    /// Class-level DRR (weighted quanta), flow-level DRR++. Inlined: a
    /// call per frame cost more than the work (register saves, the answer
    /// returned through memory).
    #[inline(always)]
    pub(super) fn dequeue_drr<S: FrameStore<T>>(
        &mut self,
        now: u64,
        frames: &mut S,
    ) -> Option<(T, u32, u64)> {
        loop {
            let c = self.class_in_turn()?;
            match self.dequeue_flows_drr(c, now, frames) {
                Some((sent, _)) => {
                    self.classes[c].deficit -= sent.1 as i64;
                    return Some(sent);
                }
                None => self.deactivate(c),
            }
        }
    }

    /// DRR++ among the flows of class `c`: the frame sent and its flow.
    #[inline(always)]
    fn dequeue_flows_drr<S: FrameStore<T>>(
        &mut self,
        c: usize,
        now: u64,
        frames: &mut S,
    ) -> Option<((T, u32, u64), u32)> {
        loop {
            let cl = &mut self.classes[c];
            let flows = &mut self.store.flows;
            let (from_new, f) = match cl.new_flows.head() {
                Some(f) => (true, f),
                None => (false, cl.old_flows.head()?),
            };
            // The flow served after this one: its state is on the way by
            // the time it is needed (at 64k flows every flow is a miss).
            let next = flows[f as usize].next;
            if next != NIL {
                prefetch(flows.as_ptr().wrapping_add(next as usize));
            }
            if flows[f as usize].deficit <= 0 {
                flows[f as usize].deficit += self.quantum as i32;
                if from_new {
                    cl.new_flows.pop_front(flows);
                } else {
                    cl.old_flows.pop_front(flows);
                }
                cl.old_flows.push_back(flows, f);
                flows[f as usize].linked = Linked::Old;
                continue;
            }
            let sent = if self.store.flows[f as usize].packets == 0 {
                // What `pop_with_codel` does for an emptied flow, without
                // the call: at one packet per flow, every other visit.
                self.store.flows[f as usize].codel.on_empty();
                None
            } else {
                self.pop_with_codel(f, now, frames)
            };
            match sent {
                Some(sent) => {
                    self.store.flows[f as usize].deficit -= frame_cost(sent.1);
                    return Some((sent, f));
                }
                None => self.retire_head(c, f, from_new),
            }
        }
    }

    /// Takes flow `f`, empty and first on class `c`'s new list
    /// (`from_new`) or its old one, off that list.
    #[inline(always)]
    fn retire_head(&mut self, c: usize, f: u32, from_new: bool) {
        let cl = &mut self.classes[c];
        let flows = &mut self.store.flows;
        if from_new {
            cl.new_flows.pop_front(flows);
        } else {
            cl.old_flows.pop_front(flows);
        }
        // A flow that emptied while new goes to the old list once, so it
        // cannot jump the queue again at once by sending one packet at a
        // time (fq_codel).
        if from_new && !cl.old_flows.is_empty() {
            cl.old_flows.push_back(flows, f);
            flows[f as usize].linked = Linked::Old;
        } else {
            flows[f as usize].linked = Linked::No;
        }
    }

    /// Class-level and flow-level STFQ.
    pub(super) fn dequeue_wfq<S: FrameStore<T>>(
        &mut self,
        now: u64,
        frames: &mut S,
    ) -> Option<(T, u32, u64)> {
        loop {
            let mut best: Option<usize> = None;
            for c in 0..self.classes.len() {
                if self.active.mask & (1 << c) != 0
                    && best.is_none_or(|b| self.classes[c].start < self.classes[b].start)
                {
                    best = Some(c);
                }
            }
            let c = best?;
            if self.classes[c].packets == 0 {
                self.deactivate(c);
                continue;
            }
            let Some(sent) = self.dequeue_flows_wfq(c, now, frames) else {
                self.deactivate(c);
                continue;
            };
            let cl = &mut self.classes[c];
            self.active.vtime = self.active.vtime.max(cl.start);
            cl.finish = cl.start + sent.1 as u64 * VSCALE / cl.weight as u64;
            cl.start = cl.finish;
            return Some(sent);
        }
    }

    /// STFQ among the flows of class `c` (equal weights).
    fn dequeue_flows_wfq<S: FrameStore<T>>(
        &mut self,
        c: usize,
        now: u64,
        frames: &mut S,
    ) -> Option<(T, u32, u64)> {
        loop {
            let f = self.classes[c]
                .buckets
                .pop_min(&mut self.store.flows, &self.store.tags)?;
            let Some(sent) = self.pop_with_codel(f, now, frames) else {
                continue;
            };
            let cl = &mut self.classes[c];
            let tags = &mut self.store.tags[f as usize];
            tags.finish = tags.start + (sent.1 as u64).min(cl.buckets.max_step());
            if self.store.flows[f as usize].packets > 0 {
                tags.start = tags.finish;
                cl.buckets
                    .insert(&mut self.store.flows, &self.store.tags, f, false);
            }
            return Some(sent);
        }
    }

    /// The head frame of flow `f` after CoDel: frames CoDel signals on are
    /// marked CE when ECN-capable, else dropped (returned to `frames`) and the
    /// next head frame is tried. Returns (frame, length, sojourn).
    #[inline(always)]
    fn pop_with_codel<S: FrameStore<T>>(
        &mut self,
        f: u32,
        now: u64,
        frames: &mut S,
    ) -> Option<(T, u32, u64)> {
        let mut again = false;
        loop {
            let Some((mut frame, len, enqueued)) = self.store.pop(f) else {
                self.store.flows[f as usize].codel.on_empty();
                return None;
            };
            let flow = &mut self.store.flows[f as usize];
            let class = flow.class as usize;
            self.classes[class].packets -= 1;
            let k = &mut self.counters[class];
            k.backlog -= 1;
            k.backlog_bytes -= len as u64;
            let sojourn = now.saturating_sub(enqueued);
            let signal = flow.codel.should_signal(
                &self.codel,
                now,
                sojourn,
                flow.bytes,
                self.quantum as u64,
                again,
            );
            if signal {
                if ecn::mark_ce(frames.bytes(&mut frame)).signalled() {
                    k.marks += 1;
                } else {
                    k.aqm_drops += 1;
                    frames.release(frame);
                    again = true;
                    continue;
                }
            }
            k.sent += 1;
            k.sent_bytes += len as u64;
            self.record_sojourn(class, sojourn);
            return Some((frame, len, sojourn));
        }
    }
}
