//! The kernel's per-socket counters (`XDP_STATISTICS`) and what they mean
//! for the frames the XDP program redirected.
//!
//! In copy mode (veth, drivers without zero-copy) the kernel copies each
//! redirected frame into a frame from the socket's fill ring and puts its
//! descriptor on the receive ring (`__xsk_rcv` in net/xdp/xsk.c). A frame it
//! cannot place is dropped and counted exactly once: in `rx_ring_full` when
//! the receive ring has no room, in `rx_dropped` otherwise (no frame in the
//! fill ring, which also counts in `rx_fill_ring_empty_descs`, or longer
//! than a frame). So every redirected frame is received, counted in
//! `rx_ring_full + rx_dropped`, or still in the receive ring.

use crate::io::SocketDrops;

/// Kernel-side statistics of one socket (`XDP_STATISTICS`, version 2).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct XskStatistics {
    /// Redirected frames dropped for want of a fill-ring frame or room in
    /// one (not a full receive ring).
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    /// Dropped because the rx ring was full (the worker is too slow).
    pub rx_ring_full: u64,
    /// Receives that found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

impl XskStatistics {
    /// The socket's drops by reason. A fill-ring-empty event is a drop only
    /// where it is also in `rx_dropped` (copy mode); a zero-copy driver
    /// counts failed refills there that never reached the XDP program.
    pub fn drops(&self) -> SocketDrops {
        let fill_ring_empty = self.rx_fill_ring_empty_descs.min(self.rx_dropped);
        SocketDrops {
            rx_ring_full: self.rx_ring_full,
            fill_ring_empty,
            rx_other: self.rx_dropped - fill_ring_empty,
            tx_invalid: self.tx_invalid_descs,
            tx_ring_empty: self.tx_ring_empty_descs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dropped_frame_is_counted_once_by_reason() {
        // Copy mode: 7 frames found the fill ring empty, 2 were too long,
        // 5 found the receive ring full.
        let s = XskStatistics {
            rx_dropped: 9,
            rx_ring_full: 5,
            rx_fill_ring_empty_descs: 7,
            tx_invalid_descs: 1,
            tx_ring_empty_descs: 40,
            rx_invalid_descs: 0,
        };
        let d = s.drops();
        assert_eq!(d.fill_ring_empty, 7);
        assert_eq!(d.rx_other, 2);
        assert_eq!(d.rx_ring_full, 5);
        assert_eq!(d.rx_dropped(), s.rx_dropped + s.rx_ring_full);
        assert_eq!(d.total(), 15);
        assert_eq!(d.tx_ring_empty, 40, "kept, but not a drop");
        // Zero copy: empty-fill-ring events the driver saw are not drops of
        // redirected frames.
        let zc = XskStatistics {
            rx_fill_ring_empty_descs: 1000,
            ..XskStatistics::default()
        };
        assert_eq!(zc.drops().rx_dropped(), 0);
    }

    #[test]
    fn drops_of_several_sockets_add_up() {
        let a = XskStatistics {
            rx_dropped: 3,
            rx_fill_ring_empty_descs: 3,
            rx_ring_full: 1,
            ..XskStatistics::default()
        };
        let b = XskStatistics {
            rx_ring_full: 10,
            ..XskStatistics::default()
        };
        let mut sum = a.drops();
        sum.merge(&b.drops());
        assert_eq!(sum.rx_ring_full, 11);
        assert_eq!(sum.fill_ring_empty, 3);
        assert_eq!(sum.rx_dropped(), 14);
        let names: Vec<_> = sum.by_reason().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "xsk_rx_ring_full",
                "xsk_fill_ring_empty",
                "xsk_rx_other",
                "xsk_tx_invalid"
            ]
        );
    }
}
