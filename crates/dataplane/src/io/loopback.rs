//! An in-memory [`PacketIo`]: tests and benchmarks inject frames on a port
//! and read back what the worker transmitted, with the same UMEM, tokens and
//! batching as the AF_XDP backend.

use std::sync::Arc;

use super::packet::{PacketIo, SocketDrops};
use super::umem::{Frame, FrameBatch, FramePool, Umem};
use crate::fib::PortId;

const FRAME_SIZE: u32 = 4096;

/// Room before a received frame, as AF_XDP leaves it (XDP_PACKET_HEADROOM).
pub const RX_HEADROOM: usize = 256;

/// Ports whose wires end in queues. Like an AF_XDP fill ring, the backend
/// keeps a reserve of free frames to receive into, topped up from the
/// worker's pool in [`PacketIo::service`].
#[derive(Debug)]
pub struct LoopbackIo {
    umem: Arc<Umem>,
    reserve: FramePool,
    reserve_target: usize,
    /// Frames waiting to be received per port, oldest first (a `Vec`, not
    /// a `VecDeque`: taking a batch from its front is one block move; the
    /// rest, rarely any, move up).
    rx: Vec<Vec<Frame>>,
    /// What each port transmitted, copied out (this backend is for tests).
    pub transmitted: Vec<Vec<Vec<u8>>>,
    /// Frames transmitted per port (counted even when not kept).
    pub tx_count: Vec<u64>,
    /// Keep copies of transmitted frames (off for benchmarks, which only
    /// count, so the backend adds no allocation to what is measured).
    pub keep_transmitted: bool,
    /// Frames accepted per `send` call at most (models a full tx ring).
    pub tx_room: usize,
    /// Frames `inject` refused, by the reason AF_XDP's kernel side would
    /// give: no free frame in the reserve (its fill ring) or too long.
    drops: SocketDrops,
}

impl LoopbackIo {
    /// A backend with `ports` ports whose UMEM holds `worker_frames` for the
    /// worker's pool (returned) plus `reserve_frames` to receive into.
    pub fn new(ports: usize, worker_frames: u32, reserve_frames: u32) -> (LoopbackIo, FramePool) {
        let umem = Arc::new(Umem::new_heap(FRAME_SIZE, worker_frames + reserve_frames));
        // SAFETY: the UMEM is new; the two pools split its chunks without overlap.
        let (pool, reserve) = unsafe {
            (
                FramePool::new(&umem, 0, worker_frames),
                FramePool::new(&umem, worker_frames, reserve_frames),
            )
        };
        let io = LoopbackIo {
            umem,
            reserve,
            reserve_target: reserve_frames as usize,
            rx: (0..ports).map(|_| Vec::new()).collect(),
            transmitted: vec![Vec::new(); ports],
            tx_count: vec![0; ports],
            keep_transmitted: true,
            tx_room: usize::MAX,
            drops: SocketDrops::default(),
        };
        (io, pool)
    }

    /// Puts `bytes` on `port`'s receive queue, [`RX_HEADROOM`] bytes into a
    /// frame. False (the frame is lost, as
    /// on a NIC with an empty fill ring) when no free frame is left, the
    /// frame does not fit a chunk, or the port does not exist. Out of line:
    /// the NIC's work, which the worker-loop benchmark's callgrind count
    /// leaves out by this function's name.
    #[inline(never)]
    pub fn inject(&mut self, port: PortId, bytes: &[u8]) -> bool {
        let Some(queue) = self.rx.get_mut(port as usize) else {
            return false;
        };
        let Some(mut frame) = self.reserve.alloc() else {
            self.drops.fill_ring_empty += 1;
            return false;
        };
        // After the headroom AF_XDP leaves (XDP_PACKET_HEADROOM), where a
        // VLAN tag can be pushed.
        self.umem.set_range(&mut frame, RX_HEADROOM, bytes.len());
        if frame.len() < bytes.len() {
            self.reserve.free(frame);
            self.drops.rx_other += 1;
            return false;
        }
        self.umem.data(&mut frame)[..bytes.len()].copy_from_slice(bytes);
        queue.push(frame);
        true
    }

    /// Frames injected but not yet received by the worker.
    pub fn pending_rx(&self) -> usize {
        self.rx.iter().map(Vec::len).sum()
    }

    /// Free frames the backend holds to receive into.
    pub fn reserve_available(&self) -> usize {
        self.reserve.available()
    }
}

impl PacketIo for LoopbackIo {
    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    fn port_count(&self) -> usize {
        self.rx.len()
    }

    fn socket_drops(&mut self) -> SocketDrops {
        self.drops
    }

    fn recv(&mut self, port: PortId, batch: &mut FrameBatch) {
        if let Some(queue) = self.rx.get_mut(port as usize) {
            batch.take_from(queue);
        }
    }

    fn tx_room(&self, _port: PortId) -> usize {
        self.tx_room
    }

    fn send(&mut self, port: PortId, batch: &mut FrameBatch, pool: &mut FramePool) -> usize {
        // The first `tx_room` frames go (none to a port that does not
        // exist), the rest are dropped.
        let sent = match self.transmitted.get_mut(port as usize) {
            Some(out) => {
                let sent = batch.len().min(self.tx_room);
                self.tx_count[port as usize] += sent as u64;
                if self.keep_transmitted {
                    for frame in batch.iter().take(sent) {
                        out.push(self.umem.bytes(frame).to_vec());
                    }
                }
                sent
            }
            None => 0,
        };
        let dropped = batch.len() - sent;
        // Transmission is immediate here: the frames are free again at once.
        pool.free_all(batch.drain());
        dropped
    }

    fn service(&mut self, pool: &mut FramePool) {
        let want = self.reserve_target.saturating_sub(self.reserve.available());
        pool.move_to(&mut self.reserve, want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_frames_come_back_out() {
        let (mut io, mut pool) = LoopbackIo::new(2, 8, 4);
        assert!(io.inject(0, &[1, 2, 3]));
        assert!(!io.inject(5, &[1]), "no such port");
        assert!(!io.inject(0, &[0u8; 5000]), "larger than a chunk");
        let mut batch = FrameBatch::with_capacity(4);
        io.recv(0, &mut batch);
        assert_eq!(batch.len(), 1);
        io.send(1, &mut batch, &mut pool);
        assert_eq!(io.transmitted[1], vec![vec![1, 2, 3]]);
        // The reserve chunk went to the worker's pool; service tops the reserve up.
        assert_eq!(io.reserve_available(), 3);
        io.service(&mut pool);
        assert_eq!(io.reserve_available(), 4);
        assert_eq!(pool.available(), 8);
        // A full transmit ring drops and returns frames to the pool.
        io.tx_room = 0;
        assert!(io.inject(0, &[9]));
        io.recv(0, &mut batch);
        assert_eq!(io.send(1, &mut batch, &mut pool), 1);
        assert!(batch.is_empty());
    }

    /// A ring with room for part of a batch sends its first frames in
    /// order and drops the rest; every frame returns to the pool.
    #[test]
    fn partly_full_ring_sends_the_first_frames() {
        let (mut io, mut pool) = LoopbackIo::new(2, 8, 4);
        for b in 1..=4u8 {
            assert!(io.inject(0, &[b; 3]));
        }
        let mut batch = FrameBatch::with_capacity(3);
        io.recv(0, &mut batch);
        assert_eq!(batch.len(), 3, "as many as the batch holds");
        assert_eq!(io.pending_rx(), 1);
        io.tx_room = 2;
        assert_eq!(io.send(1, &mut batch, &mut pool), 1);
        assert_eq!(io.transmitted[1], vec![vec![1; 3], vec![2; 3]]);
        assert_eq!(io.tx_count[1], 2);
        assert_eq!(pool.available(), 11);
        io.recv(0, &mut batch);
        assert_eq!(io.send(7, &mut batch, &mut pool), 1, "no such port");
        assert_eq!(pool.available(), 12);
        io.service(&mut pool);
        assert_eq!((io.reserve_available(), pool.available()), (4, 8));
    }
}
