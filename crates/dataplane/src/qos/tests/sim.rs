//! The schedulers on a virtual clock: fairness, weights, DRR's bound,
//! sparse flows, and the hard limits (CoDel and the shaper: `aqm.rs`).
//! Deterministic and offline.

use std::collections::HashMap;

use super::frames::{v4_frame, V4Spec};
use crate::qos::{ClassConfig, CodelParams, FrameStore, PortQueues, QosConfig, SchedulerKind};

/// A frame in the simulation: its bytes plus who sent it.
#[derive(Debug, Clone)]
pub struct SimFrame {
    pub id: u64,
    pub source: usize,
    pub bytes: Vec<u8>,
}

/// Keeps the frames the queues drop.
#[derive(Default)]
pub struct SimStore {
    pub released: Vec<SimFrame>,
}

impl FrameStore<SimFrame> for SimStore {
    fn bytes<'a>(&'a mut self, frame: &'a mut SimFrame) -> &'a mut [u8] {
        &mut frame.bytes
    }
    fn release(&mut self, frame: SimFrame) {
        self.released.push(frame);
    }
}

pub const MS: u64 = 1_000_000;

/// Jain's fairness index of `x`.
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * sq)
}

/// No AQM in the way of scheduler measurements.
pub fn no_aqm() -> CodelParams {
    CodelParams {
        target_ns: 1_000_000 * MS,
        interval_ns: 1_000_000 * MS,
    }
}

fn config(kind: SchedulerKind) -> QosConfig {
    QosConfig {
        scheduler: kind,
        codel: no_aqm(),
        ..QosConfig::default()
    }
}

/// A source that keeps `depth` frames queued, each built by `make(seq)`.
struct Backlogged {
    make: Box<dyn Fn(u64) -> Vec<u8>>,
    queued: usize,
    seq: u64,
}

/// Runs backlogged sources through the queues for `packets` dequeues on a
/// link of `bytes_per_us` (the clock advances by each frame's line time).
/// Returns bytes sent per source, and calls `each(source, bytes_by_source)`
/// after every dequeue.
fn run_backlogged(
    q: &mut PortQueues<SimFrame>,
    sources: &mut [Backlogged],
    depth: usize,
    packets: usize,
    mut each: impl FnMut(usize, &[u64]),
) -> Vec<u64> {
    let mut store = SimStore::default();
    let mut sent = vec![0u64; sources.len()];
    let mut now = 0u64;
    let mut id = 0;
    for _ in 0..packets {
        for (i, s) in sources.iter_mut().enumerate() {
            while s.queued < depth {
                let bytes = (s.make)(s.seq);
                s.seq += 1;
                s.queued += 1;
                id += 1;
                q.enqueue(
                    SimFrame {
                        id,
                        source: i,
                        bytes,
                    },
                    now,
                    &mut store,
                );
            }
        }
        let f = q.dequeue(now, &mut store).expect("backlogged queues send");
        sources[f.source].queued -= 1;
        sent[f.source] += f.bytes.len() as u64;
        now += f.bytes.len() as u64 * 8; // 1 Gbit/s
        each(f.source, &sent);
    }
    assert!(store.released.is_empty(), "nothing dropped without AQM");
    sent
}

fn tcp_source(sport: u16, size: usize, dscp: u8) -> Backlogged {
    Backlogged {
        make: Box::new(move |_| {
            let mut s = V4Spec::tcp(sport, 80);
            s.payload = size - 14 - 20 - 8;
            s.dscp = dscp;
            v4_frame(&s)
        }),
        queued: 0,
        seq: 0,
    }
}

#[test]
fn equal_backlogged_flows_share_fairly() {
    for kind in [SchedulerKind::Drr, SchedulerKind::Wfq] {
        let mut q = PortQueues::new(&config(kind), [7, 9]);
        // 32 flows with packet sizes from 64 to 1514 bytes: fairness is in
        // bytes, not packets.
        let mut sources: Vec<Backlogged> = (0..32)
            .map(|i| tcp_source(1000 + i as u16, 64 + (i * 467) % 1451, 0))
            .collect();
        let sent = run_backlogged(&mut q, &mut sources, 8, 60_000, |_, _| {});
        let x: Vec<f64> = sent.iter().map(|&b| b as f64).collect();
        let j = jain(&x);
        eprintln!("{kind:?}: Jain {j:.5} over {} flows", x.len());
        assert!(j >= 0.99, "{kind:?}: Jain {j}");
    }
}

#[test]
fn weighted_classes_get_their_weights() {
    for kind in [SchedulerKind::Drr, SchedulerKind::Wfq] {
        let mut cfg = config(kind);
        cfg.classes = vec![
            ClassConfig {
                name: "voice".into(),
                dscp: vec![46],
                weight: 4,
            },
            ClassConfig {
                name: "video".into(),
                dscp: vec![34, 36],
                weight: 2,
            },
        ];
        let mut q = PortQueues::new(&cfg, [1, 2]);
        // Classes with 1, 3 and 6 flows: the class share must not depend on
        // how many flows a class has.
        let mut sources = vec![tcp_source(1, 1514, 0)];
        sources.extend((0..3).map(|i| tcp_source(10 + i, 700 + 200 * i as usize, 46)));
        sources.extend(
            (0..6).map(|i| tcp_source(20 + i, 100 + 230 * i as usize, 34 + 2 * (i % 2) as u8)),
        );
        let sent = run_backlogged(&mut q, &mut sources, 8, 60_000, |_, _| {});
        let class_bytes = [sent[0], sent[1..4].iter().sum(), sent[4..].iter().sum()];
        let total: u64 = class_bytes.iter().sum();
        for (c, w) in [(0, 1.0), (1, 4.0), (2, 2.0)] {
            let share = class_bytes[c] as f64 / total as f64;
            let want = w / 7.0;
            eprintln!("{kind:?}: class {c} share {share:.4} want {want:.4}");
            assert!(
                (share - want).abs() / want <= 0.02,
                "{kind:?} class {c}: {share} vs {want}"
            );
        }
        let counters = q.counters();
        assert_eq!(counters.len(), 3);
        assert!(counters.iter().all(|k| k.sent > 0));
    }
}

#[test]
fn drr_service_difference_stays_within_its_bound() {
    let cfg = config(SchedulerKind::Drr);
    let quantum = cfg.quantum as i64;
    let mut q = PortQueues::new(&cfg, [3, 4]);
    let max_packet = 1514i64;
    // Packet sizes varying per packet, differently per flow.
    let mut sources: Vec<Backlogged> = (0..4u16)
        .map(|i| Backlogged {
            make: Box::new(move |seq| {
                let mut s = V4Spec::udp(100 + i, 53);
                s.payload = ((seq * 7919 + i as u64 * 104_729) % 1472) as usize;
                v4_frame(&s)
            }),
            queued: 0,
            seq: 0,
        })
        .collect();
    let mut worst = 0i64;
    run_backlogged(&mut q, &mut sources, 16, 40_000, |_, sent| {
        let max = *sent.iter().max().unwrap_or(&0) as i64;
        let min = *sent.iter().min().unwrap_or(&0) as i64;
        worst = worst.max(max - min);
    });
    eprintln!("DRR: worst service difference {worst} bytes (quantum {quantum})");
    // Shreedhar & Varghese: two backlogged flows differ by less than one
    // quantum plus two maximum packets over any interval.
    assert!(worst <= quantum + 2 * max_packet, "{worst}");
}

#[test]
fn a_sparse_flow_waits_less_than_one_round() {
    for kind in [SchedulerKind::Drr, SchedulerKind::Wfq] {
        let mut q = PortQueues::new(&config(kind), [5, 6]);
        let mut store = SimStore::default();
        let flows = 50;
        let mut queued = vec![0usize; flows];
        let mut id = 0;
        let mut now = 0u64;
        let mut next_sparse = 5 * MS;
        let mut sparse_waits = Vec::new();
        let round_ns = flows as u64 * 1514 * 8;
        while now < 500 * MS {
            for (i, n) in queued.iter_mut().enumerate() {
                while *n < 4 {
                    let mut s = V4Spec::tcp(2000 + i as u16, 80);
                    s.payload = 1514 - 42;
                    id += 1;
                    q.enqueue(
                        SimFrame {
                            id,
                            source: i,
                            bytes: v4_frame(&s),
                        },
                        now,
                        &mut store,
                    );
                    *n += 1;
                }
            }
            if now >= next_sparse {
                id += 1;
                let mut s = V4Spec::udp(5060, 5060);
                s.payload = 160;
                q.enqueue(
                    SimFrame {
                        id,
                        source: usize::MAX,
                        bytes: v4_frame(&s),
                    },
                    now,
                    &mut store,
                );
                next_sparse += 20 * MS;
            }
            let f = q.dequeue(now, &mut store).expect("backlogged");
            now += f.bytes.len() as u64 * 8;
            if f.source == usize::MAX {
                sparse_waits.push(now - (next_sparse - 20 * MS));
            } else {
                queued[f.source] -= 1;
            }
        }
        let worst = *sparse_waits.iter().max().unwrap_or(&u64::MAX);
        eprintln!(
            "{kind:?}: {} sparse packets, worst wait {worst} ns, one round {round_ns} ns",
            sparse_waits.len()
        );
        assert!(sparse_waits.len() >= 20);
        // Within the time of two full-size packets (the one on the wire and
        // at most one more), far below a round of 50 flows.
        assert!(
            worst < round_ns / 10,
            "{kind:?}: {worst} vs round {round_ns}"
        );
    }
}

#[test]
fn overflow_drops_from_the_fattest_flow() {
    let cfg = QosConfig {
        queue_limit: 100,
        codel: no_aqm(),
        ..QosConfig::default()
    };
    let mut q = PortQueues::new(&cfg, [9, 9]);
    let mut store = SimStore::default();
    let mut id = 0;
    // Thin flows: 5 frames each; then one fat flow floods.
    for f in 0..10u16 {
        for _ in 0..5 {
            id += 1;
            let bytes = v4_frame(&V4Spec::udp(f, 1));
            q.enqueue(
                SimFrame {
                    id,
                    source: f as usize,
                    bytes,
                },
                0,
                &mut store,
            );
        }
    }
    for _ in 0..500 {
        id += 1;
        let mut s = V4Spec::udp(999, 1);
        s.payload = 1000;
        q.enqueue(
            SimFrame {
                id,
                source: 999,
                bytes: v4_frame(&s),
            },
            0,
            &mut store,
        );
        assert!(q.backlog() <= 100);
    }
    assert!(!store.released.is_empty());
    assert!(
        store.released.iter().all(|f| f.source == 999),
        "only the fat flow loses"
    );
    // The fat flow lost its oldest frames (head drop), not its newest.
    let newest = store.released.iter().map(|f| f.id).max().unwrap_or(0);
    assert!(newest < id);
    let mut by_source: HashMap<usize, usize> = HashMap::new();
    while let Some(f) = q.dequeue(0, &mut store) {
        *by_source.entry(f.source).or_default() += 1;
    }
    for f in 0..10 {
        assert_eq!(by_source.get(&f), Some(&5));
    }
    assert_eq!(
        q.counters()[0].overflow_drops as usize,
        store.released.len()
    );
}

#[test]
fn per_flow_limit_drops_that_flows_head() {
    let cfg = QosConfig {
        flow_limit: 10,
        codel: no_aqm(),
        ..QosConfig::default()
    };
    let mut q = PortQueues::new(&cfg, [9, 9]);
    let mut store = SimStore::default();
    for id in 0..30 {
        q.enqueue(
            SimFrame {
                id,
                source: 0,
                bytes: v4_frame(&V4Spec::udp(1, 1)),
            },
            0,
            &mut store,
        );
    }
    assert_eq!(q.backlog(), 10);
    let dropped: Vec<u64> = store.released.iter().map(|f| f.id).collect();
    assert_eq!(dropped, (0..20).collect::<Vec<_>>());
}
