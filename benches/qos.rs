//! Cost of output queueing per packet: one enqueue plus one dequeue of a
//! 64-byte frame, for a plain FIFO, DRR++ and STFQ (WFQ), with 1, 1k and 64k
//! flows backlogged (every flow holds frames the whole time), in one run so
//! the three are comparable. CoDel runs (its target is never reached here,
//! so every packet takes the "no signal" path the common case takes).
//!
//! Frames are queued the way the worker queues them, a batch at a time
//! (`PortQueues::enqueue_batch`); with `QOS_SINGLE` set in the environment
//! they are queued one by one instead, to compare the two.
//!
//! `whole_path` adds the worker: receive 64 frames of 1k flows on the
//! in-memory backend, forward them, queue them on the egress port, schedule
//! and transmit (the number to hold against 10 Mpps per core = 100 ns/packet).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use ferroute::dataplane::RX_BATCH;
use ferroute::qos::{CodelParams, FrameStore, PortQueues, QosConfig, SchedulerKind};
use ferroute::testkit::frames::V4Frame;
use ferroute::testkit::rig::{bench_worker, gateway_fib};
use ferroute::wire::MacAddr;

/// Frames as 64-byte buffers addressed by index (the UMEM's role).
struct Frames {
    bufs: Vec<[u8; 64]>,
}

impl FrameStore<u32> for Frames {
    fn bytes<'a>(&'a mut self, frame: &'a mut u32) -> &'a mut [u8] {
        match self.bufs.get_mut(*frame as usize) {
            Some(b) => &mut b[..],
            None => &mut [],
        }
    }
    fn release(&mut self, _frame: u32) {}
}

/// A 64-byte UDP/IPv4 frame of flow `flow` (source port and address vary).
fn frame(flow: u32) -> [u8; 64] {
    let f = V4Frame {
        dst_mac: MacAddr::ZERO,
        src_mac: MacAddr::ZERO,
        src: Ipv4Addr::new(10, (flow >> 16) as u8, 0, 1),
        ident: 0,
        ports: Some((flow as u16, 53)),
        payload: vec![0; 22],
        ..V4Frame::udp(Ipv4Addr::new(198, 51, 100, 1))
    };
    f.build().try_into().expect("64 bytes")
}

const BATCH: usize = 64;

fn queues(c: &mut Criterion) {
    let mut group = c.benchmark_group("qos");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(BATCH as u64));
    for flows in [1u32, 1024, 65_536] {
        // Two frames per flow stay queued (at least 128 for one flow).
        let depth = (2 * flows).max(128);
        for kind in [SchedulerKind::Fifo, SchedulerKind::Drr, SchedulerKind::Wfq] {
            let cfg = QosConfig {
                scheduler: kind,
                queue_limit: depth + BATCH as u32,
                flow_limit: depth + BATCH as u32,
                flows: (2 * flows).next_power_of_two().max(1024),
                codel: CodelParams {
                    target_ns: u64::MAX / 4,
                    interval_ns: u64::MAX / 2,
                },
                ..QosConfig::default()
            };
            let mut q: PortQueues<u32> = PortQueues::new(&cfg, [0x1234_5678, 0x9abc_def0]);
            let total = depth as usize + BATCH;
            let mut store = Frames {
                bufs: (0..total as u32).map(|i| frame(i % flows)).collect(),
            };
            let mut now = 0u64;
            for i in 0..depth {
                q.enqueue(i, now, &mut store);
            }
            let mut free: Vec<u32> = (depth..total as u32).collect();
            let mut batch: Vec<u32> = Vec::with_capacity(BATCH);
            let mut next_flow = 0u32;
            let single = std::env::var_os("QOS_SINGLE").is_some();
            group.bench_with_input(BenchmarkId::new(kind.name(), flows), &flows, |b, &flows| {
                b.iter(|| {
                    now += 1000;
                    while let Some(h) = free.pop() {
                        // Reuse the buffer for the next flow in turn.
                        let f = next_flow;
                        next_flow = (next_flow + 1) % flows;
                        let buf = &mut store.bufs[h as usize];
                        buf[14 + 12 + 1] = (f >> 16) as u8;
                        buf[14 + 20..14 + 22].copy_from_slice(&(f as u16).to_be_bytes());
                        batch.push(h);
                    }
                    if single {
                        for h in batch.drain(..) {
                            q.enqueue(h, now, &mut store);
                        }
                    } else {
                        q.enqueue_batch(&mut batch, &[], now, &mut store);
                    }
                    for _ in 0..BATCH {
                        match q.dequeue(now, &mut store) {
                            Some(h) => free.push(black_box(h)),
                            None => break,
                        }
                    }
                })
            });
            assert_eq!(q.backlog(), depth, "steady backlog");
        }
    }
    group.finish();
}

/// The whole worker path (receive, forward, queue, schedule, transmit) for
/// 64-byte frames of 1024 UDP flows, per queueing discipline.
fn whole_path(c: &mut Criterion) {
    let frames: Vec<Vec<u8>> = (0..1024u32)
        .map(|i| {
            V4Frame {
                ident: 0,
                ports: Some((i as u16, 53)),
                payload: vec![0; 22],
                ..V4Frame::udp(Ipv4Addr::new(198, 51, 100, 1))
            }
            .build()
        })
        .collect();
    let mut group = c.benchmark_group("worker_path_1k_flows");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(RX_BATCH as u64));
    for kind in [SchedulerKind::Fifo, SchedulerKind::Drr, SchedulerKind::Wfq] {
        let mut w = bench_worker(gateway_fib());
        let cfg = QosConfig {
            scheduler: kind,
            ..QosConfig::default()
        };
        w.set_qos(&[cfg.clone(), cfg]);
        let mut next = 0usize;
        group.bench_function(kind.name(), |b| {
            // Injection (the NIC's copy into the UMEM) is not timed.
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    for _ in 0..RX_BATCH {
                        w.io_mut().inject(0, &frames[next]);
                        next = (next + 1) % frames.len();
                    }
                    let start = Instant::now();
                    black_box(w.poll_once());
                    spent += start.elapsed();
                }
                spent
            })
        });
        let c = &w.forwarder().counters;
        assert_eq!(c.forwarded, c.rx_frames, "all frames forwarded");
        assert_eq!(w.io().tx_count[1], c.forwarded, "all frames sent");
    }
    group.finish();
}

criterion_group!(benches, queues, whole_path);
criterion_main!(benches);
