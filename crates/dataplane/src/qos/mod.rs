//! Output queueing: what happens between the forwarding pipeline and a
//! port's transmit ring when the port is the bottleneck.
//!
//! Per port, a [`PortQueues`] holds descriptors of forwarded frames (never
//! copies) in a fixed arena of slots, grouped into flow queues:
//!
//! * [`classify`]: the flow of a frame (5-tuple; fragments and other
//!   protocols by 3-tuple), hashed with a key drawn at start into a
//!   set-associative table of flow queues (as CAKE does), and its class by
//!   DSCP.
//! * [`sched`]: which flow sends next. Two levels: classes share the port by
//!   weight, flows inside a class share their class equally. Either DRR
//!   (deficit round robin with fq_codel's sparse-flow priority, "DRR++") or
//!   WFQ as start-time fair queueing (STFQ; see the module for why), or one
//!   plain FIFO.
//! * [`codel`]: CoDel (RFC 8289) per flow queue at dequeue, marking ECN-capable
//!   packets CE ([`ecn`], RFC 3168) and dropping the others.
//! * [`shaper`]: an optional token bucket (bytes/s plus per-frame overhead)
//!   that makes the scheduler, not a downstream buffer, decide the order.
//! * [`counters`]: per port and class counters and sojourn-time histograms.
//!
//! Sans-IO: every function takes the clock (ns) from the caller and reaches a
//! frame's bytes through a [`FrameStore`]; nothing allocates after
//! [`PortQueues::new`].

pub mod classify;
pub mod codel;
pub mod counters;
pub mod ecn;
mod flows;
pub mod port;
pub mod sched;
pub mod shaper;

#[cfg(test)]
mod tests;

pub use classify::{Classifier, FlowMeta, FlowTuple};
pub use codel::CodelParams;
pub use counters::{ClassCounters, PortQosSnapshot, QosReport};
pub(crate) use flows::prefetch;
pub use port::PortQueues;
pub use shaper::Shaper;

/// A fresh random key for the flow hash (drawn once per worker at start).
pub fn random_key() -> [u64; 2] {
    use std::hash::BuildHasher;
    let s = std::collections::hash_map::RandomState::new();
    [s.hash_one(0x5eed_u64), s.hash_one(0xfeed_u64)]
}

/// Where the frames behind the descriptors live: the queues read and mark a
/// frame's bytes through it and hand back the frames they drop.
pub trait FrameStore<T> {
    /// The frame's data (exactly its length; empty when unreachable).
    fn bytes<'a>(&'a mut self, frame: &'a mut T) -> &'a mut [u8];
    /// Takes back a frame the queues dropped.
    fn release(&mut self, frame: T);
}

/// Where a burst's frames go (a port's transmit batch): one at a time, or
/// a whole batch in one move ([`PortQueues::enqueue_then_burst`]'s
/// express path by tuples, which sends every frame of a batch).
pub trait FrameSink<T> {
    /// Takes `frame`, or gives it back (refused: the burst ends there).
    fn put(&mut self, frame: T) -> Result<(), T>;
    /// Takes every frame of `frames` in order (left empty) when
    /// [`FrameSink::put`] would take each of them: `true`; else `false`,
    /// with nothing taken.
    fn put_all(&mut self, frames: &mut Vec<T>) -> bool {
        let _ = frames;
        false
    }
}

/// Which scheduler serves a port's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    /// Deficit round robin with sparse flows first (fq_codel's DRR++).
    #[default]
    Drr,
    /// Start-time fair queueing (virtual start tags, bucketed priority queue).
    Wfq,
    /// One queue in arrival order (no classes, no flows; CoDel still applies).
    Fifo,
}

impl SchedulerKind {
    pub fn name(self) -> &'static str {
        match self {
            SchedulerKind::Drr => "drr",
            SchedulerKind::Wfq => "wfq",
            SchedulerKind::Fifo => "fifo",
        }
    }

    pub fn parse(s: &str) -> Option<SchedulerKind> {
        match s {
            "drr" => Some(SchedulerKind::Drr),
            "wfq" => Some(SchedulerKind::Wfq),
            "fifo" => Some(SchedulerKind::Fifo),
            _ => None,
        }
    }
}

/// A traffic class: packets whose DSCP is listed share `weight` parts of the
/// port against the other classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassConfig {
    pub name: String,
    pub dscp: Vec<u8>,
    /// 1..=[`MAX_WEIGHT`].
    pub weight: u32,
}

/// Largest class weight (keeps the schedulers' integer arithmetic exact).
pub const MAX_WEIGHT: u32 = 1000;
/// Most classes per port, the default class included.
pub const MAX_CLASSES: usize = 8;
/// Default CoDel target (RFC 8289 §4.4).
pub const DEFAULT_TARGET_NS: u64 = 5_000_000;
/// Default CoDel interval (RFC 8289 §4.3).
pub const DEFAULT_INTERVAL_NS: u64 = 100_000_000;
/// Default packets a port may hold (all its flow queues together).
pub const DEFAULT_QUEUE_LIMIT: u32 = 10_240;
/// Default flow queues per port (CAKE's 1024).
pub const DEFAULT_FLOWS: u32 = 1024;
/// Default framing overhead per frame on the wire: preamble and start
/// delimiter (8), FCS (4) and inter-frame gap (12).
pub const DEFAULT_OVERHEAD: u32 = 24;

/// One port's queueing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QosConfig {
    pub scheduler: SchedulerKind,
    /// Egress rate in bytes per second; `None` leaves the transmit ring as
    /// the bottleneck.
    pub rate: Option<u64>,
    /// Bytes added to each frame's length when charging the shaper.
    pub overhead: u32,
    pub codel: CodelParams,
    /// Packets the port may hold (the descriptor arena's size).
    pub queue_limit: u32,
    /// Packets one flow queue may hold (defaults to the port's limit).
    pub flow_limit: u32,
    /// Flow queues (rounded up to a multiple of the set size).
    pub flows: u32,
    /// DRR quantum in bytes (at least the largest frame).
    pub quantum: u32,
    /// Classes besides the default one (class 0, weight 1, every DSCP not
    /// listed here).
    pub classes: Vec<ClassConfig>,
}

impl Default for QosConfig {
    fn default() -> Self {
        QosConfig {
            scheduler: SchedulerKind::Drr,
            rate: None,
            overhead: DEFAULT_OVERHEAD,
            codel: CodelParams::default(),
            queue_limit: DEFAULT_QUEUE_LIMIT,
            flow_limit: DEFAULT_QUEUE_LIMIT,
            flows: DEFAULT_FLOWS,
            quantum: 1514,
            classes: Vec::new(),
        }
    }
}
