//! One port's output queues: classify, enqueue with hard limits, and
//! dequeue through the schedulers, CoDel and the shaper.

use hdrhistogram::Histogram;

use super::classify::{Classifier, FlowMeta, FlowTuple};
use super::codel::CodelParams;
use super::counters::{sojourn_histogram, ClassCounters, PortQosReport, PortQosSnapshot};
use super::flows::{Linked, Store, MAX_QUANTUM, NIL, UNSEEN};
use super::sched::{ActiveClasses, ClassSched};
use super::shaper::Shaper;
use super::{FrameStore, QosConfig, SchedulerKind, MAX_CLASSES};

mod dequeue;
mod express;
mod express_tuples;

/// Frames dropped at most per overflow from the fattest queue (fq_codel's
/// batch: one scan of the flows pays for many drops).
const OVERFLOW_BATCH: u32 = 64;

/// What a frame of `len` bytes takes from a flow's DRR deficit (saturated:
/// no frame comes near 2 GiB, but the arithmetic must not overflow).
#[inline]
fn frame_cost(len: u32) -> i32 {
    len.min(i32::MAX as u32) as i32
}

/// Largest sojourn time the histograms take (their upper bound).
const MAX_SOJOURN_NS: u64 = 100_000_000_000;

/// A run of equal sojourn samples of one class, recorded with one
/// `record_n` when the run ends or the histograms are read: the frames of a
/// dequeue burst often waited exactly as long (queued and sent in the same
/// pass of a worker, which reads the clock once), and recording each one
/// was a visible share of the 1k-flow benchmark. Exact: the histograms
/// receive the same samples.
#[derive(Debug, Clone, Copy, Default)]
struct SojournRun {
    class: usize,
    value: u64,
    count: u64,
}

impl SojournRun {
    /// Adds the run to `histograms` (which must be the port's, or copies).
    fn record_into(&self, histograms: &mut [Histogram<u64>]) {
        if self.count > 0 {
            if let Some(h) = histograms.get_mut(self.class) {
                // Clamped into the histogram's range: recording cannot fail.
                let _ = h.record_n(self.value, self.count);
            }
        }
    }
}

/// Frames [`PortQueues::enqueue_batch`] prepares per pass (a receive batch).
pub const ENQUEUE_CHUNK: usize = 64;

/// One frame of a batch, classified ahead of its enqueue.
#[derive(Debug, Clone, Copy)]
struct Prepared {
    meta: FlowMeta,
    len: u32,
    /// First way of its flow's set ([`Store::set_base`], computed once).
    base: u32,
    /// The way already holding its flow when classified ([`NIL`] or
    /// [`UNSEEN`]: none yet).
    flow: u32,
}

impl Default for Prepared {
    fn default() -> Self {
        Prepared {
            meta: FlowMeta { hash: 0, class: 0 },
            len: 0,
            base: 0,
            flow: NIL,
        }
    }
}

/// A chunk of frames [`PortQueues::prepare`] went over.
struct PreparedChunk {
    /// The first `n` describe the chunk's frames, in order.
    prepared: [Prepared; ENQUEUE_CHUNK],
    /// Bit `c`: some frame is of class `c`.
    classes: u8,
    /// The longest frame's length.
    longest: u32,
}

/// The queues of one egress port, holding frames of type `T` (descriptors:
/// the worker's UMEM frame tokens).
#[derive(Debug, Clone)]
pub struct PortQueues<T> {
    kind: SchedulerKind,
    classifier: Classifier,
    store: Store<T>,
    classes: Vec<ClassSched>,
    names: Vec<String>,
    counters: Vec<ClassCounters>,
    sojourn: Vec<Histogram<u64>>,
    /// Sojourn samples not yet in `sojourn` (see [`SojournRun`]).
    pending: SojournRun,
    active: ActiveClasses,
    codel: CodelParams,
    shaper: Option<Shaper>,
    quantum: u32,
    flow_limit: u32,
    /// The flow the express paths left listed, by its flow words.
    listed: express_tuples::ListedFlow,
    /// Batches the express path sent, and those it handed to the general
    /// way after looking flows up (tests: both paths are exercised).
    #[cfg(test)]
    express_counts: (u64, u64, u64),
}

/// The class table of a config: class 0 is "default" (weight 1, or the
/// weight of a configured class named "default"), then the others in order.
fn class_table(cfg: &QosConfig) -> (Vec<(String, u32)>, [u8; 64]) {
    let mut classes = vec![("default".to_string(), 1)];
    let mut map = [0u8; 64];
    if cfg.scheduler == SchedulerKind::Fifo {
        return (classes, map);
    }
    for c in &cfg.classes {
        let index = if c.name == "default" {
            classes[0].1 = c.weight.max(1);
            0
        } else if classes.len() < MAX_CLASSES {
            classes.push((c.name.clone(), c.weight.max(1)));
            classes.len() - 1
        } else {
            continue;
        };
        for &d in &c.dscp {
            map[(d & 0x3f) as usize] = index as u8;
        }
    }
    (classes, map)
}

impl<T> PortQueues<T> {
    /// Queues for `cfg`, hashing flows with `key` (draw it once per router
    /// start, e.g. from [`Classifier::new`]'s source).
    pub fn new(cfg: &QosConfig, key: [u64; 2]) -> PortQueues<T> {
        let (table, map) = class_table(cfg);
        let quantum = cfg.quantum.clamp(64, MAX_QUANTUM);
        let flows = if cfg.scheduler == SchedulerKind::Fifo {
            1
        } else {
            cfg.flows
        };
        PortQueues {
            kind: cfg.scheduler,
            classifier: Classifier::with_key(key, map),
            store: Store::new(cfg.queue_limit, flows),
            classes: table
                .iter()
                .map(|(_, w)| ClassSched::new(*w, quantum))
                .collect(),
            names: table.iter().map(|(n, _)| n.clone()).collect(),
            counters: vec![ClassCounters::default(); table.len()],
            sojourn: table.iter().map(|_| sojourn_histogram()).collect(),
            pending: SojournRun::default(),
            active: ActiveClasses::default(),
            codel: cfg.codel,
            shaper: cfg.rate.map(|r| Shaper::new(r, cfg.overhead)),
            quantum,
            flow_limit: cfg.flow_limit.max(1),
            listed: express_tuples::ListedFlow::default(),
            #[cfg(test)]
            express_counts: (0, 0, 0),
        }
    }

    pub fn kind(&self) -> SchedulerKind {
        self.kind
    }

    /// Frames queued.
    #[inline]
    pub fn backlog(&self) -> u32 {
        self.store.used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.store.used == 0
    }

    pub fn class_names(&self) -> &[String] {
        &self.names
    }

    pub fn counters(&self) -> &[ClassCounters] {
        &self.counters
    }

    /// The per-class sojourn histograms (the worker merges and clears them).
    pub fn sojourn_mut(&mut self) -> &mut [Histogram<u64>] {
        self.flush_sojourn();
        &mut self.sojourn
    }

    pub fn flow_collisions(&self) -> u64 {
        self.store.collisions
    }

    /// When the shaper next lets a frame go (`None`: unshaped).
    pub fn next_ready_ns(&self) -> Option<u64> {
        self.shaper.map(|s| s.next_ready_ns())
    }

    /// Flow and class of a frame as this port sees it.
    #[inline(always)]
    pub fn classify(&self, frame: &[u8]) -> FlowMeta {
        if self.kind == SchedulerKind::Fifo {
            return FlowMeta { hash: 0, class: 0 };
        }
        self.classifier.classify(frame)
    }

    /// Queues `frame` (its bytes reached through `frames`). When its flow
    /// queue or the port is full, frames are dropped from the head of that
    /// flow or of the fattest flow (returned to `frames`), never the buffer
    /// grown.
    pub fn enqueue<S: FrameStore<T>>(&mut self, mut frame: T, now: u64, frames: &mut S) {
        let (meta, len) = {
            let bytes = frames.bytes(&mut frame);
            (self.classify(bytes), bytes.len() as u32)
        };
        let p = Prepared {
            meta,
            len,
            base: self.store.set_base(meta.hash) as u32,
            flow: NIL,
        };
        self.enqueue_classified(frame, p, now, frames);
    }

    /// Queues every frame of `batch` in order (the batch is left empty):
    /// the same queues, order, drops and counters as calling
    /// [`PortQueues::enqueue`] on each in turn, only faster on many flows.
    /// As VPP does with its vectors, the work goes in passes over up to
    /// [`ENQUEUE_CHUNK`] frames, each pass starting the memory fetches the
    /// next one needs: classify and hash every frame (fetching its flow set's
    /// tags), find the flows already holding a way (fetching their state;
    /// for a new flow, the way it will probably claim), fetch the tail slots
    /// new frames will be linked behind, then enqueue one by one.
    /// Classifying ahead is exact: it reads only the frame, which queueing
    /// another frame does not touch. `tuples[i]`, where known, holds the
    /// flow fields of `batch[i]` as the pipeline read them (see
    /// [`FlowTuple`]; frames past its end are classified by their bytes).
    pub fn enqueue_batch<S: FrameStore<T>>(
        &mut self,
        batch: &mut Vec<T>,
        mut tuples: &[FlowTuple],
        now: u64,
        frames: &mut S,
    ) {
        if self.kind == SchedulerKind::Fifo {
            // One queue: nothing to classify or fetch ahead.
            for frame in batch.drain(..) {
                self.enqueue(frame, now, frames);
            }
            return;
        }
        while !batch.is_empty() {
            let n = batch.len().min(ENQUEUE_CHUNK);
            let chunk = self.prepare(&mut batch[..n], tuples, frames);
            tuples = tuples.get(n..).unwrap_or(&[]);
            self.prefetch_tails(&chunk.prepared[..n]);
            for (frame, p) in batch.drain(..n).zip(chunk.prepared.iter()) {
                self.enqueue_classified(frame, *p, now, frames);
            }
        }
    }

    /// Starts fetching the tail slots the prepared frames will be linked
    /// behind (the last pass before a chunk is queued; the express path,
    /// whose flows have no frames, skips it).
    #[inline(always)]
    fn prefetch_tails(&self, prepared: &[Prepared]) {
        for p in prepared {
            self.store.prefetch_tail(p.flow);
        }
    }

    /// The passes [`PortQueues::enqueue_batch`] makes over a chunk of at
    /// most [`ENQUEUE_CHUNK`] frames before queueing them: classify and
    /// hash every frame (fetching its flow set's tags), find the flows
    /// already holding a way (fetching their state; for a new flow, the way
    /// it will probably claim). Read-only but for the fetches:
    /// `prepared[i]` describes `chunk[i]`, whose flow fields `tuples[i]`
    /// gives where known.
    #[inline(always)]
    fn prepare<S: FrameStore<T>>(
        &self,
        chunk: &mut [T],
        tuples: &[FlowTuple],
        frames: &mut S,
    ) -> PreparedChunk {
        let n = chunk.len().min(ENQUEUE_CHUNK);
        let (mut classes, mut longest) = (0u8, 0u32);
        // Each element written once (a default array first cost ~5
        // instructions per packet).
        let mut prepared: [Prepared; ENQUEUE_CHUNK] = std::array::from_fn(|i| {
            let Some(frame) = chunk.get_mut(i) else {
                return Prepared::default();
            };
            // The flow fields and length as the pipeline read them, where
            // it did (the frame's bytes are not reached then).
            let (meta, len) = match tuples.get(i) {
                Some(&t) if t.is_known() && self.kind != SchedulerKind::Fifo => {
                    (self.classifier.classify_tuple(t), t.frame_len())
                }
                _ => {
                    let bytes = frames.bytes(frame);
                    (self.classify(bytes), bytes.len() as u32)
                }
            };
            let base = self.store.set_base(meta.hash);
            self.store.prefetch_set(base);
            Prepared {
                meta,
                len,
                base: base as u32,
                flow: NIL,
            }
        });
        // Hash bits of the new flows seen so far in this chunk: a new
        // flow's set is scanned again at its enqueue only when an earlier
        // frame of the chunk may be of the same flow (and claim a way
        // for it first); the others claim at once (`UNSEEN`). Equal
        // flows have equal hashes, so a clear bit proves it; a set bit
        // may be another flow's (a scan too many, never one too few).
        // 1024 bits: with 256, one frame in nine of a chunk of 64 new
        // flows scanned again (~80 instructions each).
        let mut seen = [0u64; 16];
        for p in prepared[..n].iter_mut() {
            // (Gathered here, not in the loop above, which is a call: its
            // captured sums went through memory.)
            classes |= 1 << (p.meta.class & 7);
            longest = longest.max(p.len);
            p.flow = self.store.peek(p.base as usize, p.meta.hash, p.meta.class);
            if p.flow == NIL {
                let bit = (p.meta.hash >> 8) as usize & 1023;
                let (word, mask) = (bit >> 6, 1u64 << (bit & 63));
                if seen[word] & mask == 0 {
                    p.flow = UNSEEN;
                }
                seen[word] |= mask;
                self.store.prefetch_claim(p.base as usize);
            } else {
                self.store.prefetch_flow(p.flow);
            }
        }
        PreparedChunk {
            prepared,
            classes,
            longest,
        }
    }

    /// [`PortQueues::enqueue`] once the frame is classified (`p`); its
    /// `flow` is what [`Store::peek`] found for it ahead (a way, [`NIL`]:
    /// none, or [`UNSEEN`]: none, and no frame since can have claimed one
    /// for it; see [`Store::lookup_peeked`]).
    #[inline(always)]
    fn enqueue_classified<S: FrameStore<T>>(
        &mut self,
        frame: T,
        p: Prepared,
        now: u64,
        frames: &mut S,
    ) {
        let Prepared {
            meta,
            len,
            base,
            flow: peeked,
        } = p;
        let f = self
            .store
            .lookup_peeked(base as usize, meta.hash, meta.class, peeked);
        self.enqueue_to_flow(frame, f, len, now, frames);
    }

    /// The rest of [`PortQueues::enqueue`] once the frame's flow queue is
    /// found (`f`, what [`Store::lookup`] gave): limits, push, counters and
    /// scheduling.
    #[inline(always)]
    fn enqueue_to_flow<S: FrameStore<T>>(
        &mut self,
        frame: T,
        f: u32,
        len: u32,
        now: u64,
        frames: &mut S,
    ) {
        if self.store.flows[f as usize].packets >= self.flow_limit {
            self.drop_head(f, 1, frames);
        } else if self.store.is_full() {
            if let Some(fat) = self.store.fattest() {
                let n = (self.store.flows[fat as usize].packets / 2).clamp(1, OVERFLOW_BATCH);
                self.drop_head(fat, n, frames);
            }
        }
        let class = self.store.flows[f as usize].class as usize;
        if let Err(frame) = self.store.push(f, frame, len, now) {
            self.counters[class].overflow_drops += 1;
            frames.release(frame);
            return;
        }
        let k = &mut self.counters[class];
        k.enqueued += 1;
        k.backlog += 1;
        k.backlog_bytes += len as u64;
        let cl = &mut self.classes[class];
        cl.packets += 1;
        let flow = &mut self.store.flows[f as usize];
        if flow.linked == Linked::No {
            if self.kind == SchedulerKind::Wfq {
                let tags = &mut self.store.tags[f as usize];
                tags.start = tags.finish.max(cl.buckets.vtime);
                cl.buckets
                    .insert(&mut self.store.flows, &self.store.tags, f, true);
            } else {
                flow.deficit = self.quantum as i32;
                flow.linked = Linked::New;
                cl.new_flows.push_back(&mut self.store.flows, f);
            }
        }
        let bit = 1u8 << class;
        if self.active.mask & bit == 0 {
            self.active.mask |= bit;
            cl.deficit = 0;
            cl.start = cl.finish.max(self.active.vtime);
        }
    }

    /// Drops up to `n` frames from the head of flow `f` (overflow).
    fn drop_head<S: FrameStore<T>>(&mut self, f: u32, n: u32, frames: &mut S) {
        for _ in 0..n {
            let Some((frame, len, _)) = self.store.pop(f) else {
                break;
            };
            let class = self.store.flows[f as usize].class as usize;
            self.classes[class].packets -= 1;
            let k = &mut self.counters[class];
            k.overflow_drops += 1;
            k.backlog -= 1;
            k.backlog_bytes -= len as u64;
            frames.release(frame);
        }
    }

    /// The next frame to transmit, if any is queued and the shaper allows.
    pub fn dequeue<S: FrameStore<T>>(&mut self, now: u64, frames: &mut S) -> Option<T> {
        if self.store.used == 0 {
            return None;
        }
        if let Some(s) = &self.shaper {
            if !s.ready(now) {
                return None;
            }
        }
        let (frame, len, _sojourn) = match self.kind {
            SchedulerKind::Wfq => self.dequeue_wfq(now, frames)?,
            SchedulerKind::Drr | SchedulerKind::Fifo => self.dequeue_drr(now, frames)?,
        };
        if let Some(s) = &mut self.shaper {
            s.charge(now, len);
        }
        Some(frame)
    }

    /// Counts one frame's sojourn in class `class`'s histogram.
    #[inline]
    fn record_sojourn(&mut self, class: usize, sojourn: u64) {
        self.record_sojourn_n(class, sojourn, 1);
    }

    /// Counts `n` frames' equal sojourn in class `class`'s histogram:
    /// equal samples in a row are kept as one pending run.
    #[inline]
    fn record_sojourn_n(&mut self, class: usize, sojourn: u64, n: u64) {
        let value = sojourn.clamp(1, MAX_SOJOURN_NS);
        let run = &mut self.pending;
        if run.count > 0 && run.value == value && run.class == class {
            run.count += n;
        } else if n > 0 {
            self.flush_sojourn();
            self.pending = SojournRun {
                class,
                value,
                count: n,
            };
        }
    }

    /// Moves the pending run of sojourn samples into the histograms.
    fn flush_sojourn(&mut self) {
        self.pending.record_into(&mut self.sojourn);
        self.pending.count = 0;
    }

    /// Drops every queued frame (returned to `frames`), e.g. at shutdown.
    pub fn flush<S: FrameStore<T>>(&mut self, frames: &mut S) {
        for f in 0..self.store.flows.len() as u32 {
            let n = self.store.flows[f as usize].packets;
            self.drop_head(f, n, frames);
        }
    }

    /// A copy of the counters and histograms for publishing (allocates:
    /// call it every so often, not per packet).
    pub fn snapshot(&self, port: &str) -> PortQosSnapshot {
        PortQosSnapshot {
            port: port.to_string(),
            scheduler: self.kind.name().to_string(),
            rate: self.shaper.map_or(0, |s| s.rate()),
            names: self.names.clone(),
            weights: self.classes.iter().map(|c| c.weight).collect(),
            counters: self.counters.clone(),
            sojourn: {
                let mut sojourn = self.sojourn.clone();
                self.pending.record_into(&mut sojourn);
                sojourn
            },
            collisions: self.store.collisions,
        }
    }

    /// Refreshes a snapshot taken from these queues without allocating.
    pub fn snapshot_into(&self, snap: &mut PortQosSnapshot) {
        snap.counters.copy_from_slice(&self.counters);
        for (to, from) in snap.sojourn.iter_mut().zip(&self.sojourn) {
            let _ = to.set_to(from);
        }
        self.pending.record_into(&mut snap.sojourn);
        snap.collisions = self.store.collisions;
    }

    /// The operator's view of this port's queues.
    pub fn report(&self, port: &str) -> PortQosReport {
        self.snapshot(port).report()
    }
}
