//! The express path by tuples: an idle port's batch sent without a flow
//! entry per frame.
//!
//! When the express path's conditions hold (see `express.rs`) and the
//! pipeline read every frame's flow fields ([`FlowTuple`]), the batch's
//! flows need not be looked up one by one. Each frame is the only frame of
//! an idle flow, sent at once: DRR++ links its flow new with a quantum,
//! sends the frame and retires the flow at its next visit (CoDel's empty
//! step), which leaves an idle flow idle. What the general way writes into
//! such a flow's entry (its key claimed, CoDel reset or told it emptied,
//! the deficit the frame left) is never read before the flow is linked
//! again, when the deficit is set anew; so it is not written here. Only
//! the batch's last flow keeps a state that counts (first on the new list
//! until its next visit): it alone is looked up, with the keyed hash.
//! What is checked per frame is what the express path needs: one class,
//! each frame of its own flow (told apart by the flow's words, the keyed
//! hash's input, through a per-batch bitmap of a cheap hash), none of it
//! the flow left listed (whose words the express paths recorded when they
//! listed it).
//!
//! What this leaves different from the general way, and why it is the
//! same DRR++/CoDel: (1) idle ways keep the keys they held (the general
//! way would have given some of them to the batch's flows): a flow's
//! CoDel memory (`count`, `lastcount`, `drop_next`, kept for RFC 8289's
//! re-entry) is kept while its way is not reclaimed, longer here; the
//! table's forgetting is its capacity's artefact, not the scheduler's
//! (fq_codel never forgets). (2) Flows that share a set-associative way
//! in the general way (a set full of busy flows, or two tuples of one
//! 32-bit tag) are treated here as the distinct flows they are, each frame
//! sent in arrival order (the whole batch leaves in this burst either
//! way). (3) Which way holds a flow (an index, not behaviour).
//! `tests/express.rs` checks the rest round by round against the general
//! way from the same state: frames, order, drops, counters, histograms,
//! classes and every busy flow by key.

use super::express::charge_class;
use super::{frame_cost, PortQueues, Prepared, ENQUEUE_CHUNK};
use crate::qos::classify::fold_mul;
use crate::qos::flows::{Linked, NIL};
use crate::qos::{FlowTuple, FrameSink, FrameStore};

/// The flow the express paths left first on a class's new list, by its
/// flow words ([`crate::qos::Classifier::flow_words`]): a batch sent by
/// tuples must not hold a frame of it (that frame would join it, not
/// start a flow of its own).
#[derive(Debug, Clone, Copy)]
pub(super) struct ListedFlow {
    /// Its way ([`NIL`]: none recorded) and that way's key then (the way
    /// still holds the flow while it holds the key).
    pub(super) flow: u32,
    key: u64,
    words: (u64, u64),
}

impl Default for ListedFlow {
    fn default() -> Self {
        ListedFlow {
            flow: NIL,
            key: 0,
            words: (0, 0),
        }
    }
}

/// Bits of the per-batch map of flows seen (2048: a batch of 64 distinct
/// flows finds a bit set by another flow about once, then compares marks).
const SEEN_WORDS: usize = 32;

impl<T> PortQueues<T> {
    /// Sends `batch` (each frame with its known tuple in `tuples`) by the
    /// express path without looking its flows up, when it can (see the
    /// module); `None`, with nothing changed, when it cannot. The caller
    /// checked the port ([`PortQueues::express_port_ready`]) and that the
    /// batch fits a chunk and the burst.
    #[inline(always)]
    pub(super) fn express_by_tuples<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        tuples: &[FlowTuple],
        now: u64,
        frames: &mut S,
        out: &mut impl FrameSink<T>,
    ) -> Option<usize> {
        let n = batch.len();
        let tuples = tuples.get(..n)?;
        let last = *tuples.last()?;
        if !last.is_known() {
            return None;
        }
        let last_words = self.classifier.flow_words(last);
        let c = last_words.1 as u8;
        if !self.express_class_ready(c as usize) {
            return None;
        }
        // The flow left listed, if any, must be one the express paths
        // recorded (else its frames cannot be told without the hash).
        let listed = match self.classes[c as usize].new_flows.head() {
            None => None,
            Some(f) if f == self.listed.flow && self.store.key_of(f) == self.listed.key => {
                Some(self.listed.words)
            }
            Some(_) => return None,
        };
        let mut seen = [0u64; SEEN_WORDS];
        let mut marks = [0u64; ENQUEUE_CHUNK];
        let mut longest = 0;
        for (i, t) in tuples.iter().enumerate() {
            if !t.is_known() {
                return None;
            }
            let words = self.classifier.flow_words(*t);
            if words.1 as u8 != c || Some(words) == listed {
                return None;
            }
            longest = longest.max(t.frame_len());
            // Not a keyed hash: it only finds repeats, and a false match
            // only sends the batch the way that looks flows up.
            let mark = fold_mul(
                words.0 ^ 0x243f_6a88_85a3_08d3,
                words.1 ^ 0x1319_8a2e_0370_7344,
            );
            let bit = (mark >> 53) as usize;
            let (word, mask) = (bit >> 6, 1u64 << (bit & 63));
            if seen[word] & mask != 0 && marks[..i].contains(&mark) {
                return None;
            }
            seen[word] |= mask;
            marks[i] = mark;
        }
        if frame_cost(longest) >= self.quantum as i32 {
            return None;
        }
        // The last flow's entry, claimed as `enqueue` would (a way already
        // holding it must be idle: the listed flow's words were excluded,
        // so a busy one is a shared way; the general way takes it then).
        let meta = self.classifier.flow_of_words(last_words.0, last_words.1);
        let base = self.store.set_base(meta.hash);
        let f = match self.store.peek(base, meta.hash, c) {
            NIL => self.store.claim_idle(base, meta.hash, c)?,
            f => f,
        };
        let flow = &self.store.flows[f as usize];
        if flow.packets != 0 || flow.linked != Linked::No {
            return None;
        }
        #[cfg(test)]
        {
            self.express_counts.2 += 1;
        }
        Some(
            self.express_send_by_tuples(batch, tuples, c as usize, f, last_words, now, frames, out),
        )
    }

    /// Sends the batch checked by [`PortQueues::express_by_tuples`] in
    /// class `c`, whose last frame's flow is `last` (`last_words`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn express_send_by_tuples<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        tuples: &[FlowTuple],
        c: usize,
        last: u32,
        last_words: (u64, u64),
        now: u64,
        frames: &mut S,
        out: &mut impl FrameSink<T>,
    ) -> usize {
        self.express_begin(c);
        let cl = &mut self.classes[c];
        let class_quantum = self.quantum as i64 * cl.weight as i64;
        let active = &mut self.active;
        let mut class_step = |len: u32| {
            charge_class(cl, active, c, class_quantum, len);
            len as u64
        };
        let (mut sent_bytes, mut taken, mut refused) = (0u64, 0usize, false);
        // The whole batch in one move when the sink takes it (it then
        // took what one frame at a time would have: every frame).
        let all = out.put_all(batch);
        let mut frames_left = batch.drain(..);
        if all {
            for t in tuples {
                sent_bytes += class_step(t.frame_len());
            }
            taken = tuples.len();
        } else {
            for (frame, t) in frames_left.by_ref().zip(tuples) {
                sent_bytes += class_step(t.frame_len());
                taken += 1;
                if let Err(frame) = out.put(frame) {
                    frames.release(frame);
                    refused = true;
                    break;
                }
            }
        }
        self.express_count(c, taken, sent_bytes);
        if !refused {
            self.express_list(
                c,
                last,
                frame_cost(tuples[taken - 1].frame_len()),
                Some(last_words),
            );
            return taken;
        }
        // A refused frame ends the burst: its flow (looked up now) stays
        // listed as the last one served, the rest are queued behind it.
        let refused_at = taken - 1;
        let words = self.classifier.flow_words(tuples[refused_at]);
        let meta = self.classifier.flow_of_words(words.0, words.1);
        let f = self.store.lookup(meta.hash, meta.class);
        let flow = &self.store.flows[f as usize];
        if flow.packets == 0 && flow.linked == Linked::No {
            self.express_list(
                c,
                f,
                frame_cost(tuples[refused_at].frame_len()),
                Some(words),
            );
        }
        for (frame, &t) in frames_left.zip(&tuples[taken..]) {
            let meta = self.classifier.classify_tuple(t);
            let p = Prepared {
                meta,
                len: t.frame_len(),
                base: self.store.set_base(meta.hash) as u32,
                flow: NIL,
            };
            self.enqueue_classified(frame, p, now, frames);
        }
        refused_at
    }

    /// Records flow `f` (whose one frame of cost `cost` was sent) as the
    /// express paths leave it: first on class `c`'s new list, its deficit
    /// what the frame left, CoDel told it emptied; and remembers it by its
    /// flow `words` (`None`: not known, so no batch is sent by tuples
    /// while it stays listed).
    #[inline(always)]
    pub(super) fn express_list(&mut self, c: usize, f: u32, cost: i32, words: Option<(u64, u64)>) {
        let flow = &mut self.store.flows[f as usize];
        flow.deficit = self.quantum as i32 - cost;
        flow.codel.on_empty();
        flow.linked = Linked::New;
        self.classes[c]
            .new_flows
            .push_back(&mut self.store.flows, f);
        self.listed = match words {
            Some(words) => ListedFlow {
                flow: f,
                key: self.store.key_of(f),
                words,
            },
            None => ListedFlow::default(),
        };
    }
}
