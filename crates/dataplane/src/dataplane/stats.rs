//! What a worker publishes for operators: its counters as relaxed atomics
//! (one writer, stored once per busy loop: plain stores on x86, no lock) and
//! a latency histogram merged into a shared one every so often.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::forward::{Counters, DropReason, Forwarder, StagesSnapshot};
use crate::io::SocketDrops;
use crate::qos::PortQosSnapshot;

/// Counters before the drop reasons, in [`WorkerStats::publish`] order.
const FIXED: usize = 19;
const SLOTS: usize = FIXED + DropReason::COUNT;

/// How often a worker merges its local histogram into the shared one.
pub const HISTOGRAM_PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// Creates a latency histogram: 1 ns to 10 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 10_000_000_000, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

/// Creates a histogram of how late a worker woke for a shaper: 1 ns to
/// 10 s, 2 significant digits (1 % is plenty for lateness).
pub fn wake_late_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 10_000_000_000, 2) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds are valid: {e}"),
    }
}

/// Worker-side state besides the pipeline's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerExtra {
    /// Frames the transmit rings could not take.
    pub tx_dropped: u64,
    /// Frames the pipeline judged local after the XDP program redirected them.
    pub local_in_worker: u64,
    /// Busy loops (passes that received at least one frame).
    pub batches: u64,
    /// Version of the FIB last used.
    pub fib_version: u64,
}

/// Shared between one worker (writer) and any number of readers.
#[derive(Debug)]
pub struct WorkerStats {
    slots: [AtomicU64; SLOTS],
    /// The kernel's drops at the worker's sockets, in
    /// [`WorkerStats::publish_socket_drops`] order.
    socket: [AtomicU64; 5],
    latency: Mutex<Histogram<u64>>,
    /// How late the worker woke from sleeps that waited for a shaper.
    wake_late: Mutex<Histogram<u64>>,
    /// Output queues per egress port, refreshed with the latency histogram.
    qos: Mutex<Vec<PortQosSnapshot>>,
    /// uRPF and ACL counters, refreshed with the queues.
    stages: Mutex<StagesSnapshot>,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            socket: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: Mutex::new(latency_histogram()),
            wake_late: Mutex::new(wake_late_histogram()),
            qos: Mutex::new(Vec::new()),
            stages: Mutex::new(StagesSnapshot::default()),
        }
    }
}

/// A reader's copy of one worker's (or the sum of all workers') state.
#[derive(Debug, Clone)]
pub struct StatsSnapshot {
    pub counters: Counters,
    pub extra: WorkerExtra,
    /// Time per packet through the worker: each busy loop's processing time,
    /// recorded once per frame it handled.
    pub latency_ns: Histogram<u64>,
    /// How late the worker woke after sleeping until a shaper let a frame
    /// go (ppoll's own delay, plus any time the thread waited for a core):
    /// scheduling delay, as opposed to the queues' sojourn time.
    pub wake_late_ns: Histogram<u64>,
    /// Output queues per egress port.
    pub qos: Vec<PortQosSnapshot>,
    /// Frames the kernel dropped at the sockets (never seen by the worker).
    pub socket_drops: SocketDrops,
    /// What uRPF and the ACLs did, per port and per rule.
    pub stages: StagesSnapshot,
}

impl Default for StatsSnapshot {
    fn default() -> Self {
        StatsSnapshot {
            counters: Counters::default(),
            extra: WorkerExtra::default(),
            latency_ns: latency_histogram(),
            wake_late_ns: wake_late_histogram(),
            qos: Vec::new(),
            socket_drops: SocketDrops::default(),
            stages: StagesSnapshot::default(),
        }
    }
}

impl StatsSnapshot {
    /// Adds `other` (another worker) into `self`.
    pub fn merge(&mut self, other: &StatsSnapshot) {
        self.counters.merge(&other.counters);
        self.extra.tx_dropped += other.extra.tx_dropped;
        self.extra.local_in_worker += other.extra.local_in_worker;
        self.extra.batches += other.extra.batches;
        self.extra.fib_version = self.extra.fib_version.max(other.extra.fib_version);
        self.socket_drops.merge(&other.socket_drops);
        self.stages.merge(&other.stages);
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
        let _ = self.wake_late_ns.add(&other.wake_late_ns);
        if self.qos.is_empty() {
            self.qos = other.qos.clone();
        } else {
            for (a, b) in self.qos.iter_mut().zip(&other.qos) {
                a.merge(b);
            }
        }
    }
}

impl WorkerStats {
    /// Stores the worker's current counters (called by that worker only).
    pub fn publish(&self, c: &Counters, extra: WorkerExtra) {
        let fixed: [u64; FIXED] = [
            c.rx_frames,
            c.rx_bytes,
            c.forwarded,
            c.forwarded_bytes,
            c.fragmented,
            c.fragments_sent,
            c.local,
            c.icmp_sent,
            c.icmp_rate_limited,
            c.icmp_suppressed,
            c.icmp_no_buffer,
            extra.tx_dropped,
            extra.local_in_worker,
            extra.batches,
            extra.fib_version,
            c.router_alert,
            c.record_route,
            c.timestamp,
            c.timestamp_overflow,
        ];
        // Two plain loops, not one over a chained iterator: the chain's
        // per-item test was most of this per-batch cost.
        let (fixed_slots, drop_slots) = self.slots.split_at(FIXED);
        for (slot, v) in fixed_slots.iter().zip(fixed) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in drop_slots.iter().zip(&c.drops) {
            slot.store(*v, Ordering::Relaxed);
        }
    }

    /// Stores what the kernel dropped at the worker's sockets so far (the
    /// worker reads them every [`HISTOGRAM_PUBLISH_INTERVAL`], not per batch).
    pub fn publish_socket_drops(&self, d: &SocketDrops) {
        let values = [
            d.rx_ring_full,
            d.fill_ring_empty,
            d.rx_other,
            d.tx_invalid,
            d.tx_ring_empty,
        ];
        for (slot, v) in self.socket.iter().zip(values) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// Merges a worker's recent latencies into the shared histogram and
    /// clears them (the worker calls this every [`HISTOGRAM_PUBLISH_INTERVAL`]).
    pub fn publish_latency(&self, local: &mut Histogram<u64>) {
        if let Ok(mut shared) = self.latency.try_lock() {
            let _ = shared.add(&*local);
            local.reset();
        }
    }

    /// Merges the worker's recent shaper wake-up delays into the shared
    /// histogram and clears them (skipped while a reader holds the lock).
    pub fn publish_wake_late(&self, local: &mut Histogram<u64>) {
        if let Ok(mut shared) = self.wake_late.try_lock() {
            let _ = shared.add(&*local);
            local.reset();
        }
    }

    /// Lets the worker refresh its queue snapshots (skipped when a reader
    /// holds the lock; the next interval catches up).
    pub fn publish_qos(&self, refresh: impl FnOnce(&mut Vec<PortQosSnapshot>)) {
        if let Ok(mut shared) = self.qos.try_lock() {
            refresh(&mut shared);
        }
    }

    /// Copies the worker's stage counters (skipped when a reader holds
    /// the lock; the next interval catches up).
    pub fn publish_stages(&self, forwarder: &Forwarder) {
        if let Ok(mut shared) = self.stages.try_lock() {
            forwarder.stages_into(&mut shared);
        }
    }

    /// A consistent-enough copy for display (each counter is exact; counters
    /// read a few nanoseconds apart may differ by a batch).
    pub fn snapshot(&self) -> StatsSnapshot {
        let v: Vec<u64> = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect();
        let mut counters = Counters {
            rx_frames: v[0],
            rx_bytes: v[1],
            forwarded: v[2],
            forwarded_bytes: v[3],
            fragmented: v[4],
            fragments_sent: v[5],
            local: v[6],
            icmp_sent: v[7],
            icmp_rate_limited: v[8],
            icmp_suppressed: v[9],
            icmp_no_buffer: v[10],
            router_alert: v[15],
            record_route: v[16],
            timestamp: v[17],
            timestamp_overflow: v[18],
            ..Counters::default()
        };
        counters.drops.copy_from_slice(&v[FIXED..]);
        let latency_ns = match self.latency.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let wake_late_ns = match self.wake_late.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let qos = match self.qos.lock() {
            Ok(q) => q.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let stages = match self.stages.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let d: [u64; 5] = std::array::from_fn(|i| self.socket[i].load(Ordering::Relaxed));
        StatsSnapshot {
            qos,
            stages,
            counters,
            socket_drops: SocketDrops {
                rx_ring_full: d[0],
                fill_ring_empty: d[1],
                rx_other: d[2],
                tx_invalid: d[3],
                tx_ring_empty: d[4],
            },
            extra: WorkerExtra {
                tx_dropped: v[11],
                local_in_worker: v[12],
                batches: v[13],
                fib_version: v[14],
            },
            latency_ns,
            wake_late_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_and_snapshot_round_trip() {
        let stats = WorkerStats::default();
        let mut c = Counters {
            rx_frames: 10,
            forwarded: 7,
            local: 1,
            icmp_sent: 2,
            ..Counters::default()
        };
        c.drop(DropReason::TtlExpired);
        c.drop(DropReason::NoRoute);
        let extra = WorkerExtra {
            tx_dropped: 3,
            local_in_worker: 4,
            batches: 5,
            fib_version: 6,
        };
        stats.publish(&c, extra);
        let drops = SocketDrops {
            rx_ring_full: 11,
            fill_ring_empty: 12,
            rx_other: 13,
            tx_invalid: 14,
            tx_ring_empty: 15,
        };
        stats.publish_socket_drops(&drops);
        let mut local = latency_histogram();
        local.record_n(1000, 10).unwrap();
        stats.publish_latency(&mut local);
        assert_eq!(local.len(), 0, "local histogram cleared after publishing");
        let mut late = wake_late_histogram();
        late.record_n(40_000, 3).unwrap();
        stats.publish_wake_late(&mut late);
        assert_eq!(late.len(), 0);
        let snap = stats.snapshot();
        assert_eq!(snap.counters, c);
        assert_eq!(snap.extra, extra);
        assert_eq!(snap.socket_drops, drops);
        assert_eq!(snap.latency_ns.len(), 10);
        assert_eq!(snap.wake_late_ns.len(), 3);
        let mut sum = StatsSnapshot::default();
        sum.merge(&snap);
        sum.merge(&snap);
        assert_eq!(sum.counters.forwarded, 14);
        assert_eq!(sum.extra.fib_version, 6);
        assert_eq!(sum.socket_drops.rx_dropped(), 2 * (11 + 12 + 13));
        assert_eq!(sum.latency_ns.len(), 20);
        assert_eq!(sum.wake_late_ns.len(), 6);
    }
}
