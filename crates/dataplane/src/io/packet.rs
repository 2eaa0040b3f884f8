//! The one small interface every live packet backend implements.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::umem::{FrameBatch, FramePool, Umem};
use crate::fib::PortId;

/// Frames the kernel dropped at a backend's sockets, summed over a worker's
/// ports, cumulative since they opened (AF_XDP: `XDP_STATISTICS`). The
/// receive drops are frames the XDP program redirected that never reached
/// the worker, so `redirected = received + rx_dropped() + frames still in
/// the receive rings`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketDrops {
    /// Redirected frames dropped because the socket's receive ring was full
    /// (the worker did not take them off in time).
    pub rx_ring_full: u64,
    /// Redirected frames dropped because the fill ring held no free frame to
    /// copy them into (copy mode; a zero-copy driver drops those before the
    /// XDP program runs).
    pub fill_ring_empty: u64,
    /// Redirected frames dropped for any other reason (longer than a frame).
    pub rx_other: u64,
    /// Transmit descriptors the kernel rejected: forwarded frames that did
    /// not leave.
    pub tx_invalid: u64,
    /// Not a drop: how often the kernel found a transmit ring empty.
    pub tx_ring_empty: u64,
}

impl SocketDrops {
    /// Every receive drop: redirected frames the worker never saw.
    pub fn rx_dropped(&self) -> u64 {
        self.rx_ring_full + self.fill_ring_empty + self.rx_other
    }

    /// Every drop, receive and transmit.
    pub fn total(&self) -> u64 {
        self.rx_dropped() + self.tx_invalid
    }

    /// The drops by name (stable: scripts read them), zero ones included.
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("xsk_rx_ring_full", self.rx_ring_full),
            ("xsk_fill_ring_empty", self.fill_ring_empty),
            ("xsk_rx_other", self.rx_other),
            ("xsk_tx_invalid", self.tx_invalid),
        ]
    }

    /// Adds `other` (another socket or worker) into `self`.
    pub fn merge(&mut self, other: &SocketDrops) {
        self.rx_ring_full += other.rx_ring_full;
        self.fill_ring_empty += other.fill_ring_empty;
        self.rx_other += other.rx_other;
        self.tx_invalid += other.tx_invalid;
        self.tx_ring_empty += other.tx_ring_empty;
    }
}

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

    /// What the kernel dropped at this backend's sockets so far (a system
    /// call per port: call it every so often, never per packet). Backends
    /// whose receive path cannot drop report nothing.
    fn socket_drops(&mut self) -> SocketDrops {
        SocketDrops::default()
    }

    /// Blocks until a port may have frames to receive or `timeout` passes.
    /// Workers call it only after finding every port idle for a while, so an
    /// idle router does not spin its cores; busy ones never call it.
    fn wait(&mut self, timeout: std::time::Duration) {
        let _ = timeout;
        std::thread::yield_now();
    }
}
