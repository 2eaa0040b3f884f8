//! Where a worker's frames go between the pipeline and the queues: the
//! emitter for frames the pipeline creates, the per-port hold in front of
//! the output queues, and the views of UMEM frames the queues and the
//! pipeline's common-case pass read.

use crate::fib::PortId;
use crate::forward::{BatchFrames, Emit};
use crate::io::{Frame, FramePool, Umem};
use crate::qos::port::ENQUEUE_CHUNK;
use crate::qos::{FrameStore, PortQueues};

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
        self.queues.hold(port, frame, &mut frames);
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
    pub(super) held: &'a mut [Vec<Frame>],
    pub(super) now_ns: u64,
}

impl Enqueuer<'_> {
    /// Holds `frame` for port `port`'s queues (a full hold is queued first).
    /// Always inlined: left as a call (it has two callers), its entry and
    /// exit cost ~17 instructions per packet (callgrind, worker loop).
    #[inline(always)]
    pub(super) fn hold(&mut self, port: PortId, frame: Frame, frames: &mut UmemFrames<'_>) {
        let (Some(queues), Some(held)) = (
            self.qos.get_mut(port as usize),
            self.held.get_mut(port as usize),
        ) else {
            frames.release(frame);
            return;
        };
        if held.len() >= ENQUEUE_CHUNK {
            queues.enqueue_batch(held, self.now_ns, frames);
        }
        held.push(frame);
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

/// A receive batch's frames in the UMEM, for the pipeline's common-case pass.
pub(super) struct UmemBatch<'a> {
    pub(super) umem: &'a Umem,
    pub(super) frames: &'a mut [Frame],
}

impl BatchFrames for UmemBatch<'_> {
    #[inline]
    fn count(&self) -> usize {
        self.frames.len()
    }

    #[inline]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        frame_bytes(self.umem, &mut self.frames[i])
    }
}
