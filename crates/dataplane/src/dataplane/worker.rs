//! One worker: the batch loop tying a [`PacketIo`] backend, the forwarding
//! pipeline and the transmit queues together.
//!
//! Per loop: receive a batch per port, read the clock and the FIB once, look
//! the batch's routes up together, forward its common-case frames in one
//! pass ([`Forwarder::forward_common`]) and run the others through
//! [`Forwarder::process_at`] in batch order, queue forwarded frames (same
//! UMEM chunk, no copy) on their egress port's output queues ([`crate::qos`]:
//! classes, flows, CoDel/ECN, shaper), let each port's scheduler fill its
//! transmit batch up to the room its ring has, send, and let the backend
//! recycle completions. Frames the pipeline creates (ICMP errors, fragments)
//! join the egress port's queues in order with the forwarded ones
//! (`frames.rs`). Nothing here allocates, locks or makes
//! a system call per packet.

use std::net::IpAddr;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use std::time::Instant;

use hdrhistogram::Histogram;

use super::frames::{batch_views, hold_whole_batch, Enqueuer, Held, PoolEmit, TxSink, UmemFrames};
use super::stats::{
    latency_histogram, wake_late_histogram, WorkerExtra, WorkerStats, HISTOGRAM_PUBLISH_INTERVAL,
};
use crate::fib::{Fib, FibHandle, PortId};
use crate::forward::{
    Arrival, Forwarded, Forwarder, RouteHints, StagesHandle, Verdict, MAX_HINT_BATCH,
};
use crate::io::{Frame, FrameBatch, FramePool, PacketIo, Umem};
use crate::qos::port::ENQUEUE_CHUNK;
use crate::qos::{FlowTuple, PortQueues, QosConfig};

/// Frames taken from one port per loop (VPP's vector size is 256; AF_XDP
/// rings work well with 32–64).
pub const RX_BATCH: usize = 64;
const _: () = assert!(
    RX_BATCH <= MAX_HINT_BATCH,
    "every received frame gets a route hint"
);
/// Room per egress port per loop: every port's batch may go to one port,
/// plus frames the pipeline creates (fragments, ICMP errors).
const TX_ROOM_PER_INGRESS: usize = RX_BATCH * 2;

/// The worker's time origin: the pipeline's clock is nanoseconds since then,
/// read once per busy loop.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

/// A worker over backend `I`.
pub struct Worker<I: PacketIo> {
    io: I,
    umem: Arc<Umem>,
    pool: FramePool,
    forwarder: Forwarder,
    fib: FibHandle,
    /// Where reloaded stages and ACLs come from, if they can change.
    stages: Option<StagesHandle>,
    rx: FrameBatch,
    tx: Vec<FrameBatch>,
    /// Output queues per egress port.
    qos: Vec<PortQueues<Frame>>,
    /// Frames of the current receive batch bound for each port's queues
    /// (see [`Enqueuer`]); empty between batches.
    held: Vec<Held>,
    /// Frames the schedulers moved to transmit batches in the last pass.
    scheduled: usize,
    stats: Arc<WorkerStats>,
    clock: Clock,
    /// Frames the transmit rings could not take.
    tx_dropped: u64,
    /// Frames the pipeline judged `Local` (the XDP program passes those to
    /// the kernel; one reaching us means the program's map lags).
    local_in_worker: u64,
    batches: u64,
    /// Where unresolved next hops go (the control thread resolves them).
    glean_sink: Option<Arc<ArrayQueue<(PortId, IpAddr)>>>,
    latency: Histogram<u64>,
    last_latency_publish: Instant,
    /// Routes of the current receive batch, looked up together.
    hints: RouteHints,
    /// The frames of the current batch the common-case pass forwarded.
    common: Forwarded,
    /// How late sleeps timed for a shaper ended (published by `run`).
    wake_late: Histogram<u64>,
    last_wake_publish: Instant,
    /// When the kernel's socket drops were last read and published.
    last_socket_publish: Instant,
}

impl<I: PacketIo> Worker<I> {
    /// A worker whose ports have the default output queues (DRR++, CoDel,
    /// unshaped); [`Worker::set_qos`] configures them.
    pub fn new(io: I, pool: FramePool, forwarder: Forwarder, fib: FibHandle) -> Self {
        // Links have sockets and transmit batches; every port (VLAN
        // sub-interfaces too) has output queues.
        let links = io.port_count();
        let ports = forwarder.ports().len().max(links);
        let umem = io.umem().clone();
        let qos = (0..ports)
            .map(|_| {
                PortQueues::new(
                    &Self::bounded(&umem, ports, &QosConfig::default()),
                    crate::qos::random_key(),
                )
            })
            .collect();
        Worker {
            qos,
            held: (0..ports).map(|_| Held::new()).collect(),
            scheduled: 0,
            io,
            umem,
            pool,
            forwarder,
            fib,
            stages: None,
            rx: FrameBatch::with_capacity(RX_BATCH),
            tx: (0..links)
                .map(|_| FrameBatch::with_capacity(TX_ROOM_PER_INGRESS * links.max(1)))
                .collect(),
            stats: Arc::new(WorkerStats::default()),
            clock: Clock(Instant::now()),
            tx_dropped: 0,
            local_in_worker: 0,
            batches: 0,
            glean_sink: None,
            latency: latency_histogram(),
            last_latency_publish: Instant::now(),
            hints: RouteHints::new(),
            // The queues take the common case's flow fields.
            common: Forwarded {
                want_tuples: true,
                ..Forwarded::default()
            },
            wake_late: wake_late_histogram(),
            last_wake_publish: Instant::now(),
            last_socket_publish: Instant::now(),
        }
    }

    /// A port's queue settings with the limit bounded by the UMEM: the
    /// queues of all ports together hold about a quarter of its frames, so
    /// the receive rings are not starved of frames by full queues (which
    /// would move the drops from the AQM to the NIC); but never less than
    /// one pass can bring in (every port's receive batch), or a burst would
    /// overflow a queue its ring could have drained.
    fn bounded(umem: &Umem, ports: usize, cfg: &QosConfig) -> QosConfig {
        let ports = ports.max(1);
        let share = (umem.frame_count() as usize / (4 * ports)).max(2 * RX_BATCH * ports) as u32;
        let mut cfg = cfg.clone();
        cfg.queue_limit = cfg.queue_limit.min(share);
        cfg.flow_limit = cfg.flow_limit.min(cfg.queue_limit);
        cfg
    }

    /// Configures port `i`'s output queues from `configs[i]` (ports without
    /// an entry keep theirs). Frames already queued are dropped.
    pub fn set_qos(&mut self, configs: &[QosConfig]) {
        let ports = self.qos.len();
        for (i, cfg) in configs.iter().enumerate().take(ports) {
            let mut frames = UmemFrames {
                umem: &self.umem,
                pool: &mut self.pool,
            };
            self.qos[i].flush(&mut frames);
            self.qos[i] = PortQueues::new(
                &Self::bounded(&self.umem, ports, cfg),
                crate::qos::random_key(),
            );
        }
    }

    /// Frames waiting in the output queues of every port.
    pub fn queued(&self) -> usize {
        self.qos.iter().map(|q| q.backlog() as usize).sum()
    }

    /// The output queues of port `port`.
    pub fn queues(&self, port: PortId) -> Option<&PortQueues<Frame>> {
        self.qos.get(port as usize)
    }

    /// The counters this worker publishes (for the control thread / `stats`).
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    pub fn io(&self) -> &I {
        &self.io
    }

    pub fn io_mut(&mut self) -> &mut I {
        &mut self.io
    }

    /// Sends unresolved next hops to `sink` (bounded; full means dropped,
    /// the next packet to the same host asks again).
    pub fn set_glean_sink(&mut self, sink: Arc<ArrayQueue<(PortId, IpAddr)>>) {
        self.glean_sink = Some(sink);
    }

    /// Free frames in the worker's own pool.
    pub fn pool_available(&self) -> usize {
        self.pool.available()
    }

    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// Takes the ports' stages and the ACLs from `handle` from the next
    /// pass on, and whenever a reload publishes new ones.
    pub fn set_stages(&mut self, handle: StagesHandle) {
        self.stages = Some(handle);
    }

    /// Takes a newly published stage table (checked once per pass: one
    /// atomic load) and publishes the re-shaped counters at once, so
    /// `show acl` sees the new lists without waiting for traffic.
    fn take_published_stages(&mut self) {
        let Some(handle) = &self.stages else {
            return;
        };
        if handle.version() == self.forwarder.stages_version() {
            return;
        }
        let table = handle.load();
        if self.forwarder.install_stages(&table) {
            self.stats.publish_stages(&self.forwarder);
        }
    }

    /// One pass over every port. Returns how many frames were received.
    pub fn poll_once(&mut self) -> usize {
        self.take_published_stages();
        // Loaded lazily: an idle pass touches neither the clock nor the FIB
        // pointer (the benchmark's profile showed the load on empty passes).
        let mut fib = None;
        let mut received = 0;
        let mut started: Option<(Instant, u64)> = None;
        for port in 0..self.io.port_count() as PortId {
            self.io.recv(port, &mut self.rx);
            if self.rx.is_empty() {
                continue;
            }
            received += self.rx.len();
            let (_, now_ns) = *started.get_or_insert_with(|| {
                let now = Instant::now();
                (now, now.duration_since(self.clock.0).as_nanos() as u64)
            });
            let fib = fib.get_or_insert_with(|| self.fib.read());
            self.forward_batch(fib, port, now_ns);
        }
        let sent = self.schedule(started.map(|(_, ns)| ns));
        self.scheduled = sent;
        for port in 0..self.tx.len() {
            if !self.tx[port].is_empty() {
                self.tx_dropped += self
                    .io
                    .send(port as PortId, &mut self.tx[port], &mut self.pool)
                    as u64;
            }
        }
        self.io.service(&mut self.pool);
        if !self.forwarder.glean.is_empty() {
            match &self.glean_sink {
                Some(sink) => self.forwarder.glean.drain(|port, addr| {
                    let _ = sink.push((port, addr));
                }),
                None => self.forwarder.glean.drain(|_, _| {}),
            }
        }
        if let Some((start, _)) = started {
            self.batches += 1;
            let end = Instant::now();
            let spent = end.duration_since(start).as_nanos() as u64;
            // Clamped into range, so recording cannot fail.
            let _ = self
                .latency
                .record_n(spent.clamp(1, 10_000_000_000), received as u64);
            let extra = WorkerExtra {
                tx_dropped: self.tx_dropped,
                local_in_worker: self.local_in_worker,
                batches: self.batches,
                fib_version: fib.as_ref().map_or(0, |f| f.version),
            };
            self.stats.publish(&self.forwarder.counters, extra);
            if end.duration_since(self.last_latency_publish) >= HISTOGRAM_PUBLISH_INTERVAL {
                self.stats.publish_latency(&mut self.latency);
                self.publish_qos();
                self.last_latency_publish = end;
            }
            self.publish_socket_drops_if_due(end);
        } else if sent > 0 {
            // Frames leaving a shaped queue while nothing arrives: the
            // counters still move.
            let now = Instant::now();
            if now.duration_since(self.last_latency_publish) >= HISTOGRAM_PUBLISH_INTERVAL {
                self.publish_qos();
                self.last_latency_publish = now;
            }
        }
        received
    }

    /// Reads the kernel's drops at the sockets (system calls) and publishes
    /// them, at most every [`HISTOGRAM_PUBLISH_INTERVAL`].
    fn publish_socket_drops_if_due(&mut self, now: Instant) {
        if now.duration_since(self.last_socket_publish) >= HISTOGRAM_PUBLISH_INTERVAL {
            self.publish_socket_drops();
            self.last_socket_publish = now;
        }
    }

    /// Reads the kernel's drops at the sockets and publishes them now.
    fn publish_socket_drops(&mut self) {
        let drops = self.io.socket_drops();
        self.stats.publish_socket_drops(&drops);
    }

    /// Copies the queues' counters to the shared stats (allocates only the
    /// first time).
    fn publish_qos(&self) {
        self.stats.publish_stages(&self.forwarder);
        let names = self.forwarder.ports();
        self.stats.publish_qos(|shared| {
            if shared.len() != self.qos.len() {
                *shared = self
                    .qos
                    .iter()
                    .enumerate()
                    .map(|(i, q)| q.snapshot(names.get(i).map_or("", |p| p.name.as_str())))
                    .collect();
            } else {
                for (q, snap) in self.qos.iter().zip(shared.iter_mut()) {
                    q.snapshot_into(snap);
                }
            }
        });
    }

    /// Moves frames from each port's output queues to its transmit batch, as
    /// many as the ring and the shaper allow. Returns how many.
    /// The frames the last receive batches left held for a port (see
    /// [`Enqueuer`]) are queued here first, with the time they arrived
    /// (`now_ns`, set whenever frames were received): queueing them and
    /// filling the port's batch is one step, which sends an idle port's
    /// frames without linking each into its queues
    /// ([`PortQueues::enqueue_then_burst`]).
    fn schedule(&mut self, now_ns: Option<u64>) -> usize {
        if self.qos.iter().all(|q| q.is_empty()) && self.held.iter().all(|h| h.frames.is_empty()) {
            return 0;
        }
        let now_ns = now_ns.unwrap_or_else(|| self.clock.0.elapsed().as_nanos() as u64);
        let mut moved = 0;
        let mut frames = UmemFrames {
            umem: &self.umem,
            pool: &mut self.pool,
        };
        for (port, (q, held)) in self.qos.iter_mut().zip(self.held.iter_mut()).enumerate() {
            if q.is_empty() && held.frames.is_empty() {
                continue;
            }
            let Held {
                frames: batch,
                tuples,
            } = held;
            let tuples = &tuples[..batch.len().min(ENQUEUE_CHUNK)];
            // A sub-interface's frames leave through its link's ring.
            let link = self.forwarder.link_of(port as PortId);
            let Some(tx) = self.tx.get_mut(link as usize) else {
                q.enqueue_batch(batch, tuples, now_ns, &mut frames);
                continue;
            };
            let room = tx.room().min(self.io.tx_room(link));
            let mut out = TxSink {
                tx,
                dropped: &mut self.tx_dropped,
            };
            moved += q.enqueue_then_burst(batch, tuples, now_ns, room, &mut frames, &mut out);
        }
        moved
    }

    fn forward_batch(&mut self, fib: &Fib, ingress: PortId, now_ns: u64) {
        let Worker {
            umem,
            pool,
            forwarder,
            rx,
            qos,
            held,
            local_in_worker,
            hints,
            common,
            ..
        } = self;
        // The batch's routes first, in one batched lookup (see forward::batch),
        // sources too when the port runs uRPF (see forward::urpf), cached
        // flows' routes and acl-in answers from the flow cache (see
        // forward::flow_cache).
        let n = rx.len().min(MAX_HINT_BATCH);
        let mut views = batch_views(umem, rx.as_mut_slice());
        forwarder.prepare_batch(fib, ingress, views[..n].iter().map(|v| &**v), hints);
        // The common case over the whole batch first (forward::common); the
        // rest frame by frame below, in batch order.
        forwarder.forward_common(fib, ingress, &mut views[..n], hints, common);
        if hold_whole_batch(rx, common, qos, held) {
            return;
        }
        // One emitter for the batch: its pool and queues also take the
        // frames the pipeline is done with.
        let mut emit = PoolEmit {
            umem,
            pool,
            queues: Enqueuer {
                qos: &mut qos[..],
                held: &mut held[..],
                now_ns,
            },
        };
        for (i, mut frame) in rx.drain().enumerate() {
            if let Some((port, len)) = common.get(i) {
                frame.set_len(len);
                let pool = &mut *emit.pool;
                let tuple = common.tuple(i);
                emit.queues
                    .hold(port, frame, tuple, &mut UmemFrames { umem, pool });
                continue;
            }
            let len = frame.len();
            let verdict = {
                let (chunk, start) = umem.chunk(&mut frame);
                let Some(bytes) = chunk.get_mut(..start + len) else {
                    emit.pool.free(frame);
                    continue;
                };
                let arrival = Arrival {
                    link: ingress,
                    start,
                    now_ns,
                    hint: hints.get(i),
                };
                forwarder.process_at(fib, bytes, arrival, &mut emit)
            };
            match verdict {
                Verdict::Forward { port, start, len } => {
                    umem.set_range(&mut frame, start, len);
                    let pool = &mut *emit.pool;
                    let unknown = FlowTuple::UNKNOWN;
                    emit.queues
                        .hold(port, frame, unknown, &mut UmemFrames { umem, pool });
                }
                Verdict::Local => {
                    *local_in_worker += 1;
                    emit.pool.free(frame);
                }
                Verdict::Fragmented { .. } | Verdict::Drop(_) => emit.pool.free(frame),
            }
        }
        // The frames still held are queued by `schedule`, which sends them.
    }

    /// Runs until `stop` is set: busy while traffic flows, waiting on the
    /// backend after `IDLE_SPINS` empty passes so an idle router sleeps, and
    /// a shaped port's backlog is sent by waking when its shaper is ready.
    pub fn run(&mut self, stop: &std::sync::atomic::AtomicBool) {
        // Few: on a core shared with the NIC's receive thread (veth, or a NIC whose
        // interrupts land here) spinning starves the thread that feeds us
        // (measured: 8 instead of 1024 doubled packets/s on the veth lab).
        const IDLE_SPINS: u32 = 8;
        // Shorter shaper waits are spun: a sleep and its wake-up cost about
        // as much, and the shaper's burst covers the difference.
        const MIN_SLEEP: std::time::Duration = std::time::Duration::from_micros(50);
        let mut idle = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if self.poll_once() == 0 && self.scheduled == 0 {
                idle += 1;
                if idle >= IDLE_SPINS {
                    let wait = self.idle_wait();
                    if wait < MIN_SLEEP {
                        std::hint::spin_loop();
                        continue;
                    }
                    let for_shaper = self.qos.iter().any(|q| !q.is_empty());
                    if !for_shaper {
                        // The last busy pass may have fallen inside a
                        // publishing interval: bring the queue counters up
                        // to date before a long sleep (not before each
                        // shaper wait: that copies the histograms, at
                        // thousands of waits a second).
                        self.publish_qos();
                    }
                    self.publish_socket_drops_if_due(Instant::now());
                    let asleep = Instant::now();
                    self.io.wait(wait);
                    if for_shaper {
                        self.record_wake(asleep, wait);
                    }
                    idle = 0;
                }
            } else {
                idle = 0;
            }
        }
        self.stats.publish_wake_late(&mut self.wake_late);
        self.publish_socket_drops();
        self.stats.publish_stages(&self.forwarder);
        let mut frames = UmemFrames {
            umem: &self.umem,
            pool: &mut self.pool,
        };
        for q in &mut self.qos {
            q.flush(&mut frames);
        }
    }

    /// Counts how much later than `wait` after `asleep` the worker runs
    /// again (0 when a frame woke it early): the host's scheduling delay,
    /// which the queues' sojourn times include but cannot tell apart.
    fn record_wake(&mut self, asleep: Instant, wait: std::time::Duration) {
        let now = Instant::now();
        let late = now.duration_since(asleep).saturating_sub(wait);
        // Clamped into range, so recording cannot fail.
        let _ = self
            .wake_late
            .record((late.as_nanos() as u64).clamp(1, 10_000_000_000));
        if now.duration_since(self.last_wake_publish) >= HISTOGRAM_PUBLISH_INTERVAL {
            self.stats.publish_wake_late(&mut self.wake_late);
            self.last_wake_publish = now;
        }
    }

    /// How long an idle pass may sleep: 10 ms with empty queues; with frames
    /// queued, until the earliest shaper is ready (no sleep when the ring,
    /// not a shaper, is what holds them).
    fn idle_wait(&self) -> std::time::Duration {
        const IDLE: std::time::Duration = std::time::Duration::from_millis(10);
        let now = self.clock.0.elapsed().as_nanos() as u64;
        let mut wait = IDLE;
        for q in self.qos.iter().filter(|q| !q.is_empty()) {
            let until = match q.next_ready_ns() {
                Some(ready) => ready.saturating_sub(now),
                None => 0,
            };
            wait = wait.min(std::time::Duration::from_nanos(until));
        }
        wait
    }
}
