//! The one small interface every live packet backend implements.

use std::sync::Arc;

use super::umem::{FrameBatch, FramePool, Umem};
use crate::fib::PortId;

/// A worker's view of its ports: one receive and one transmit queue per port,
/// all frames in one [`Umem`], so a frame received on one port is sent on
/// another by handing over its token (no copy).
///
/// The worker owns the [`FramePool`]; the backend takes frames from it for
/// its receive (fill) rings and returns transmitted ones to it.
pub trait PacketIo {
    /// The frames' memory.
    fn umem(&self) -> &Arc<Umem>;

    fn port_count(&self) -> usize;

    /// Moves frames received on `port` into `batch`, at most its free room.
    fn recv(&mut self, port: PortId, batch: &mut FrameBatch);

    /// Queues every frame of `batch` for transmission on `port` and empties
    /// it; frames the queue cannot take go back to `pool`. Returns how many
    /// were dropped that way.
    fn send(&mut self, port: PortId, batch: &mut FrameBatch, pool: &mut FramePool) -> usize;

    /// Housekeeping once per loop: reclaim transmitted frames into `pool`,
    /// keep the receive side supplied with free frames, and wake the kernel
    /// only where a ring asks for it.
    fn service(&mut self, pool: &mut FramePool);

    /// Frames `port`'s transmit ring can take now (the output queues hand
    /// the ring no more than this, so they, not the ring, hold the backlog).
    /// Backends without a bounded ring take everything.
    fn tx_room(&self, port: PortId) -> usize {
        let _ = port;
        usize::MAX
    }

    /// Blocks until a port may have frames to receive or `timeout` passes.
    /// Workers call it only after finding every port idle for a while, so an
    /// idle router does not spin its cores; busy ones never call it.
    fn wait(&mut self, timeout: std::time::Duration) {
        let _ = timeout;
        std::thread::yield_now();
    }
}
