//! The queues on a virtual clock: fairness, weights, DRR's bound, sparse
//! flows, CoDel with ECN, limits and the shaper. Deterministic and offline.

use std::collections::HashMap;

use super::frames::{v4_frame, v6_frame, V4Spec, V6Spec};
use crate::qos::ecn::{ecn_of, CE, ECT0, ECT1, NOT_ECT};
use crate::qos::{ClassConfig, CodelParams, FrameStore, PortQueues, QosConfig, SchedulerKind};
use crate::wire::Ipv4Packet;

/// A frame in the simulation: its bytes plus who sent it.
#[derive(Debug)]
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

const MS: u64 = 1_000_000;

/// Jain's fairness index of `x`.
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * sq)
}

/// No AQM in the way of scheduler measurements.
fn no_aqm() -> CodelParams {
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

/// A frame that left the queues: (dequeue time, id, bytes).
type Delivered = (u64, u64, Vec<u8>);

/// A TCP-like source at `offered` bytes/s into a `rate` bytes/s shaped port:
/// returns the frames delivered (with their dequeue time) and the queues.
fn overload(
    ecn: u8,
    v6: bool,
    offered: u64,
    rate: u64,
    duration_ns: u64,
) -> (Vec<Delivered>, PortQueues<SimFrame>, SimStore) {
    let cfg = QosConfig {
        rate: Some(rate),
        overhead: 0,
        ..QosConfig::default()
    };
    let mut q = PortQueues::new(&cfg, [1, 1]);
    let mut store = SimStore::default();
    let size = 1000u64;
    let gap = size * 1_000_000_000 / offered;
    let mut delivered = Vec::new();
    let mut next_arrival = 0;
    let mut id = 0;
    let mut now = 0;
    while now < duration_ns {
        while next_arrival <= now {
            let bytes = if v6 {
                let mut s = V6Spec::tcp(1, 2);
                s.ecn = ecn;
                s.payload = size as usize - 14 - 40 - 8;
                v6_frame(&s)
            } else {
                let mut s = V4Spec::tcp(1, 2);
                s.ecn = ecn;
                s.payload = size as usize - 14 - 20 - 8;
                v4_frame(&s)
            };
            id += 1;
            q.enqueue(
                SimFrame {
                    id,
                    source: 0,
                    bytes,
                },
                next_arrival,
                &mut store,
            );
            next_arrival += gap;
        }
        while let Some(f) = q.dequeue(now, &mut store) {
            delivered.push((now, f.id, f.bytes));
        }
        now += 100_000; // poll every 100 µs
    }
    (delivered, q, store)
}

#[test]
fn codel_marks_ect_only_after_an_interval_above_target() {
    for (ecn, v6) in [(ECT0, false), (ECT1, false), (ECT0, true)] {
        // 1.25 Mbyte/s offered into 1 Mbyte/s: a standing queue builds.
        let (delivered, q, store) = overload(ecn, v6, 1_250_000, 1_000_000, 3_000 * MS);
        let k = q.counters()[0];
        assert!(
            store.released.is_empty(),
            "ECT frames are marked, never dropped"
        );
        assert_eq!(k.aqm_drops, 0);
        assert!(k.marks > 10, "marks {}", k.marks);
        let marked: Vec<u64> = delivered
            .iter()
            .filter(|(_, _, b)| ecn_of(b) == Some(CE))
            .map(|(t, _, _)| *t)
            .collect();
        assert_eq!(marked.len() as u64, k.marks);
        // Every other frame kept its ECT codepoint.
        assert!(delivered
            .iter()
            .all(|(_, _, b)| ecn_of(b) == Some(CE) || ecn_of(b) == Some(ecn)));
        // The sojourn first passes the target when the backlog exceeds 5 ms
        // of line time: at 1 MB/s in, 1.25 MB/s offered, 0.25 MB/s of
        // growth, 5 kB of queue after 20 ms. The first mark comes no sooner
        // than one interval (100 ms) after that.
        let target_crossed = 20 * MS;
        assert!(
            marked[0] >= target_crossed + 100 * MS,
            "first mark at {}",
            marked[0]
        );
        assert!(
            marked[0] <= target_crossed + 150 * MS,
            "first mark at {}",
            marked[0]
        );
        if !v6 {
            for (_, _, b) in &delivered {
                let ip = Ipv4Packet::new_checked(&b[14..]).unwrap();
                assert!(ip.verify_checksum(), "IPv4 checksum after marking");
            }
        }
        // CoDel keeps the standing queue near target instead of letting it
        // grow with the offered load (in a real TCP the marks slow the
        // sender; this source does not react, so only the order of
        // magnitude matters).
        eprintln!(
            "ecn {ecn:#b} v6 {v6}: {} marks, first at {} ms",
            k.marks,
            marked[0] / MS
        );
    }
}

#[test]
fn codel_drops_not_ect_and_never_clears_ce() {
    let (delivered, q, store) = overload(NOT_ECT, false, 1_250_000, 1_000_000, 2_000 * MS);
    let k = q.counters()[0];
    assert_eq!(k.marks, 0);
    assert!(k.aqm_drops > 10, "drops {}", k.aqm_drops);
    assert_eq!(store.released.len() as u64, k.aqm_drops + k.overflow_drops);
    assert!(delivered.iter().all(|(_, _, b)| ecn_of(b) == Some(NOT_ECT)));
    // The first drop also waits for a full interval above target.
    let first_drop = store.released.iter().map(|f| f.id).min().unwrap_or(0);
    let arrival_gap = 800_000; // ns between 1000-byte frames at 1.25 MB/s
    assert!(
        first_drop * arrival_gap >= 100 * MS,
        "first dropped frame id {first_drop}"
    );

    let (delivered, q, store) = overload(CE, false, 1_250_000, 1_000_000, 2_000 * MS);
    assert!(store.released.is_empty());
    assert!(q.counters()[0].marks > 10);
    assert!(delivered.iter().all(|(_, _, b)| ecn_of(b) == Some(CE)));
}

#[test]
fn the_shaper_holds_the_rate() {
    // 2 Mbyte/s offered, 1 Mbyte/s out for 3 s.
    let (delivered, _, _) = overload(ECT0, false, 2_000_000, 1_000_000, 3_000 * MS);
    let bytes: u64 = delivered.iter().map(|(_, _, b)| b.len() as u64).sum();
    let rate = bytes as f64 / 3.0;
    eprintln!("shaped to {rate:.0} B/s");
    assert!((rate - 1_000_000.0).abs() < 10_000.0, "{rate}");
}

/// A Reno-like sender (window halves once per round trip with a congestion
/// signal, grows by one frame per round trip otherwise) through a shaped
/// port: CoDel keeps the standing queue near its target where a tail-drop
/// buffer would fill.
fn responsive_sender(ecn: u8, codel: CodelParams) -> (Vec<u64>, f64) {
    let cfg = QosConfig {
        rate: Some(1_000_000),
        overhead: 0,
        codel,
        ..QosConfig::default()
    };
    let mut q = PortQueues::new(&cfg, [2, 3]);
    let mut store = SimStore::default();
    let rtt = 20 * MS;
    let size = 1000usize;
    let mut cwnd = 2.0f64;
    let mut in_flight: Vec<(u64, bool)> = Vec::new(); // (ack time, signalled)
    let mut outstanding = 0usize;
    let mut last_cut = 0u64;
    let mut sojourns = Vec::new();
    let mut sent_bytes = 0u64;
    let mut id = 0;
    let mut now = 0u64;
    let end = 6_000 * MS;
    while now < end {
        // Acks (and losses, detected one RTT after the drop) come back.
        let released = std::mem::take(&mut store.released);
        for _ in &released {
            in_flight.push((now + rtt, true));
        }
        in_flight.retain(|&(t, signalled)| {
            if t > now {
                return true;
            }
            outstanding -= 1;
            if signalled && now - last_cut > rtt {
                cwnd = (cwnd / 2.0).max(2.0);
                last_cut = now;
            } else if !signalled {
                cwnd += 1.0 / cwnd;
            }
            false
        });
        while (outstanding as f64) < cwnd {
            let mut s = V4Spec::tcp(40000, 80);
            s.ecn = ecn;
            s.payload = size - 42;
            id += 1;
            q.enqueue(
                SimFrame {
                    id,
                    source: 0,
                    bytes: v4_frame(&s),
                },
                now,
                &mut store,
            );
            outstanding += 1;
        }
        while let Some(f) = q.dequeue(now, &mut store) {
            let ce = ecn_of(&f.bytes) == Some(CE);
            in_flight.push((now + rtt, ce));
            if now > 2_000 * MS {
                sent_bytes += f.bytes.len() as u64;
            }
        }
        now += 50_000;
        if now > 2_000 * MS && now % MS == 0 {
            // Each 1000-byte frame is 1 ms of line time.
            sojourns.push(q.backlog() as u64 * MS);
        }
    }
    let utilisation = sent_bytes as f64 / 4.0 / 1_000_000.0;
    (sojourns, utilisation)
}

#[test]
fn codel_keeps_a_responsive_flow_near_target() {
    for ecn in [ECT0, NOT_ECT] {
        let (mut queue_ns, utilisation) = responsive_sender(ecn, CodelParams::default());
        queue_ns.sort();
        let p50 = queue_ns[queue_ns.len() / 2];
        let p99 = queue_ns[queue_ns.len() * 99 / 100];
        eprintln!(
            "ecn {ecn:#b}: queue delay p50 {} ms p99 {} ms, utilisation {utilisation:.3}",
            p50 / MS,
            p99 / MS
        );
        // Target 5 ms: the median standing queue stays within a few
        // targets, the link stays busy.
        assert!(p50 <= 15 * MS, "p50 {p50}");
        assert!(utilisation > 0.85, "{utilisation}");
        // Without AQM the same sender fills the buffer (10240 frames = 10 s).
        let (mut tail_drop, _) = responsive_sender(
            ecn,
            CodelParams {
                target_ns: 100_000 * MS,
                interval_ns: 200_000 * MS,
            },
        );
        tail_drop.sort();
        let tail_p50 = tail_drop[tail_drop.len() / 2];
        eprintln!("  without AQM: p50 {} ms", tail_p50 / MS);
        assert!(tail_p50 > 3 * p50.max(MS), "{tail_p50}");
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
