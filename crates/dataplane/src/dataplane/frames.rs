//! Where a worker's frames go between the pipeline and the queues: the
//! emitter for frames the pipeline creates, the per-port hold in front of
//! the output queues, and the views of UMEM frames the queues and the
//! pipeline's common-case pass read.

use crate::fib::PortId;
use crate::forward::{Emit, Forwarded, MAX_HINT_BATCH};
use crate::io::{Frame, FrameBatch, FramePool, Umem};
use crate::qos::port::ENQUEUE_CHUNK;
use crate::qos::{FlowTuple, FrameSink, FrameStore, PortQueues};

/// The frame's data (its first `frame.len()` bytes) in the UMEM.
#[inline]
fn frame_bytes<'a>(umem: &'a Umem, frame: &'a mut Frame) -> &'a mut [u8] {
    let len = frame.len();
    let data = umem.data(frame);
    let len = len.min(data.len());
    &mut data[..len]
}

/// Sends frames the pipeline creates through the worker's pool.
pub(super) struct PoolEmit<'a> {
    pub(super) umem: &'a Umem,
    pub(super) pool: &'a mut FramePool,
    /// Created frames join the egress port's output queues like forwarded
    /// ones, through the same hold: a fragment or ICMP error must not
    /// overtake frames queued before it (a flow whose large packets are
    /// fragmented would be reordered).
    pub(super) queues: Enqueuer<'a>,
}

impl Emit for PoolEmit<'_> {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if port as usize >= self.queues.qos.len() {
            return false;
        }
        let Some(mut frame) = self.pool.alloc() else {
            return false;
        };
        let written = build(self.umem.data(&mut frame));
        if written == 0 {
            self.pool.free(frame);
            return false;
        }
        frame.set_len(written);
        let mut frames = UmemFrames {
            umem: self.umem,
            pool: self.pool,
        };
        // A full port drops by its own rules (and counts it).
        self.queues
            .hold(port, frame, FlowTuple::UNKNOWN, &mut frames);
        true
    }
}

/// Feeds one receive batch's frames to the egress ports' queues: each port
/// holds up to [`ENQUEUE_CHUNK`] frames and queues them together
/// ([`PortQueues::enqueue_batch`], which fetches flow state ahead), in the
/// order the pipeline produced them, so a port's queues see the same
/// frames in the same order, with the same (per-batch) time, as if each
/// were queued at once. Only the moment a dropped frame returns to the pool
/// moves, by at most one pass. What is left held at the end of a pass's
/// receive batches the worker's `schedule` queues (and sends).
pub(super) struct Enqueuer<'a> {
    pub(super) qos: &'a mut [PortQueues<Frame>],
    pub(super) held: &'a mut [Held],
    pub(super) now_ns: u64,
}

/// The frames held for one port's queues, each with the flow fields the
/// pipeline read from it ([`FlowTuple`]; unknown for frames it did not).
pub(super) struct Held {
    pub(super) frames: Vec<Frame>,
    /// `tuples[i]` belongs to `frames[i]`.
    pub(super) tuples: [FlowTuple; ENQUEUE_CHUNK],
}

impl Held {
    pub(super) fn new() -> Held {
        Held {
            frames: Vec::with_capacity(ENQUEUE_CHUNK),
            tuples: [FlowTuple::UNKNOWN; ENQUEUE_CHUNK],
        }
    }
}

impl Enqueuer<'_> {
    /// Holds `frame`, whose flow fields are `tuple`, for port `port`'s
    /// queues (a full hold is queued first). Always inlined: left as a
    /// call (it has two callers), its entry and exit cost ~17 instructions
    /// per packet (callgrind, worker loop).
    #[inline(always)]
    pub(super) fn hold(
        &mut self,
        port: PortId,
        frame: Frame,
        tuple: FlowTuple,
        frames: &mut UmemFrames<'_>,
    ) {
        let (Some(queues), Some(held)) = (
            self.qos.get_mut(port as usize),
            self.held.get_mut(port as usize),
        ) else {
            frames.release(frame);
            return;
        };
        if held.frames.len() >= ENQUEUE_CHUNK {
            queues.enqueue_batch(&mut held.frames, &held.tuples, self.now_ns, frames);
        }
        held.tuples[held.frames.len() % ENQUEUE_CHUNK] = tuple;
        held.frames.push(frame);
    }
}

/// The queues' view of the worker's frames: bytes in the UMEM, drops back to
/// the pool.
pub(super) struct UmemFrames<'a> {
    pub(super) umem: &'a Umem,
    pub(super) pool: &'a mut FramePool,
}

impl FrameStore<Frame> for UmemFrames<'_> {
    #[inline]
    fn bytes<'a>(&'a mut self, frame: &'a mut Frame) -> &'a mut [u8] {
        frame_bytes(self.umem, frame)
    }

    #[inline]
    fn release(&mut self, frame: Frame) {
        self.pool.free(frame);
    }
}

/// The bytes of a receive batch's first [`MAX_HINT_BATCH`] frames (empty
/// slices past its end), reached once for the route pre-pass and the
/// common-case pass (each reached them itself before: ~11 instructions
/// per frame, callgrind).
#[inline(always)]
pub(super) fn batch_views<'a>(
    umem: &'a Umem,
    frames: &'a mut [Frame],
) -> [&'a mut [u8]; MAX_HINT_BATCH] {
    let mut frames = frames.iter_mut();
    std::array::from_fn(|_| {
        frames
            .next()
            .map_or(Default::default(), |f| frame_bytes(umem, f))
    })
}

/// Holds every frame of the batch `rx` for its egress port's queues at
/// once when the common case forwarded them all through one port whose
/// hold has room for them (as VPP hands a whole vector to one next node):
/// the same frames, lengths, tuples and order as holding them one by one,
/// without the per-frame tests (~45 instructions per packet, callgrind,
/// worker loop). Returns whether it did (else nothing changed).
pub(super) fn hold_whole_batch(
    rx: &mut FrameBatch,
    common: &Forwarded,
    qos: &[PortQueues<Frame>],
    held: &mut [Held],
) -> bool {
    let n = rx.len();
    let Some(port) = common.single_port(n) else {
        return false;
    };
    let Some(held) = held
        .get_mut(port as usize)
        .filter(|_| (port as usize) < qos.len())
    else {
        return false;
    };
    let at = held.frames.len();
    if at + n > ENQUEUE_CHUNK {
        return false;
    }
    held.tuples[at..at + n].copy_from_slice(&common.tuples[..n]);
    // The lengths set in place, then the frames moved in one block (the
    // hold has room: checked above, so nothing allocates). Moved one by
    // one through an iterator, this file's share of the worker loop was
    // 25.4 instead of 14.8 instructions per packet (callgrind).
    for (frame, &(_, len)) in rx.as_mut_slice().iter_mut().zip(&common.out[..n]) {
        frame.set_len(len as usize);
    }
    rx.append_to(&mut held.frames);
    true
}

/// A port's transmit batch as the output queues' sink: a frame it refuses
/// (never for lack of room: the burst is bounded by it) goes back to the
/// pool and counts as dropped; a whole express batch moves in one block.
pub(super) struct TxSink<'a> {
    pub(super) tx: &'a mut FrameBatch,
    pub(super) dropped: &'a mut u64,
}

impl FrameSink<Frame> for TxSink<'_> {
    #[inline(always)]
    fn put(&mut self, frame: Frame) -> Result<(), Frame> {
        self.tx.push(frame).inspect_err(|_| *self.dropped += 1)
    }

    #[inline(always)]
    fn put_all(&mut self, frames: &mut Vec<Frame>) -> bool {
        self.tx.append_all(frames)
    }
}
