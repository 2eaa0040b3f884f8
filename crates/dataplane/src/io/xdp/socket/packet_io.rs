//! [`PacketIo`] over the worker's AF_XDP sockets: receive and transmit
//! batches through the rings, the wait for work, the kernel's socket drop
//! counts, and the fill and completion rings' upkeep (see the parent
//! module for the sockets' layout).

use super::*;

impl PacketIo for XdpIo {
    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Ring slots not holding frames the kernel has yet to complete.
    #[inline]
    fn tx_room(&self, port: PortId) -> usize {
        self.socket(port)
            .map_or(0, |p| p.tx_size.saturating_sub(p.in_tx) as usize)
    }

    #[inline]
    fn recv(&mut self, port: PortId, batch: &mut FrameBatch) {
        let Some(Some(p)) = self.ports.get_mut(port as usize) else {
            return;
        };
        // xdpilone hands out only what it has cached unless that is nothing,
        // so a second round picks up what the kernel added meanwhile.
        let mut received = 0;
        while batch.room() > 0 {
            let mut reader = p.rx.receive(batch.room() as u32);
            if reader.capacity() == 0 {
                break;
            }
            while let Some(desc) = reader.read() {
                // SAFETY: the kernel hands this chunk back through the rx
                // ring; its token was given up when the chunk went to the
                // fill ring, so this is the only token for it.
                let frame = unsafe { Frame::from_raw(desc.addr, desc.len) };
                if let Err(frame) = batch.push(frame) {
                    self.spill.free(frame);
                }
                received += 1;
            }
            reader.release();
        }
        p.in_fill = p.in_fill.saturating_sub(received);
    }

    #[inline]
    fn send(&mut self, port: PortId, batch: &mut FrameBatch, pool: &mut FramePool) -> usize {
        let Some(Some(p)) = self.ports.get_mut(port as usize) else {
            let dropped = batch.len();
            for frame in batch.drain() {
                pool.free(frame);
            }
            return dropped;
        };
        if batch.is_empty() {
            return 0;
        }
        let mut frames = batch.drain();
        let mut left = frames.len() as u32;
        let mut queued = 0;
        // As in `recv`: a second reservation sees the kernel's progress.
        while left > 0 {
            let mut writer = p.tx.transmit(left);
            let slots = writer.capacity();
            if slots == 0 {
                break;
            }
            for frame in frames.by_ref().take(slots as usize) {
                let (addr, len) = frame.into_raw();
                writer.insert_once(XdpDesc {
                    addr,
                    len,
                    options: 0,
                });
            }
            writer.commit();
            left -= slots;
            queued += slots;
        }
        let mut dropped = 0;
        for frame in frames {
            pool.free(frame);
            dropped += 1;
        }
        p.in_tx += queued;
        if queued > 0 && p.tx.needs_wakeup() {
            p.tx.wake();
        }
        dropped
    }

    /// Sleeps in ppoll(2) until a socket has frames to receive (or a ring
    /// error) or `timeout` passes, to the microsecond (see [`super::wait`]),
    /// so an idle worker costs no CPU and a shaped one wakes on time.
    fn wait(&mut self, timeout: std::time::Duration) {
        const MAX_PORTS: usize = 64;
        let mut fds = [-1; MAX_PORTS];
        let mut n = 0;
        for (slot, p) in fds.iter_mut().zip(self.ports.iter().flatten()) {
            *slot = p.fd;
            n += 1;
        }
        self.sleeper.wait_readable(&fds[..n], timeout);
    }

    /// Reads every socket's `XDP_STATISTICS` (one getsockopt per port).
    fn socket_drops(&mut self) -> SocketDrops {
        let mut total = SocketDrops::default();
        for port in 0..self.ports.len() {
            if let Ok(now) = self.statistics(port as PortId) {
                if let Some(p) = self.ports[port].as_mut() {
                    p.last_statistics = now;
                }
            }
            if let Some(p) = &self.ports[port] {
                total.merge(&p.last_statistics.drops());
            }
        }
        total
    }

    fn service(&mut self, pool: &mut FramePool) {
        while let Some(frame) = self.spill.alloc() {
            pool.free(frame);
        }
        for p in self.ports.iter_mut().flatten() {
            while p.in_tx > 0 {
                let mut reader = p.completion.complete(p.in_tx);
                let completed = reader.capacity();
                if completed == 0 {
                    break;
                }
                while let Some(addr) = reader.read() {
                    // SAFETY: a chunk whose token went to the tx ring comes
                    // back exactly once through the completion ring.
                    pool.free(unsafe { Frame::from_raw(addr, 0) });
                }
                reader.release();
                p.in_tx = p.in_tx.saturating_sub(completed);
            }
            loop {
                let want = p
                    .fill_target
                    .saturating_sub(p.in_fill)
                    .min(pool.available() as u32);
                if want == 0 {
                    break;
                }
                // The ring may grant fewer slots than asked.
                let mut writer = p.fill.fill(want);
                let slots = writer.capacity();
                if slots == 0 {
                    break;
                }
                let mut filled = 0;
                while filled < slots {
                    let Some(frame) = pool.alloc() else { break };
                    let (addr, _) = frame.into_raw();
                    writer.insert_once(addr);
                    filled += 1;
                }
                // Commits only the slots written; the rest are given back.
                writer.commit();
                p.in_fill += filled;
                if filled < slots {
                    break;
                }
            }
            if p.fill.needs_wakeup() {
                p.fill.wake();
            }
            // Copy mode transmits only inside sendto: keep kicking while the
            // kernel has not taken everything off the tx ring.
            if p.tx.pending() > 0 && p.tx.needs_wakeup() {
                p.tx.wake();
            }
        }
    }
}
