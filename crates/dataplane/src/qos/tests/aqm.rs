//! CoDel with ECN and the shaper on a virtual clock: when marks and drops
//! start, what they touch, and how a responsive sender's queue settles.

use super::frames::{v4_frame, v6_frame, V4Spec, V6Spec};
use super::sim::{SimFrame, SimStore, MS};
use crate::qos::ecn::{ecn_of, CE, ECT0, ECT1, NOT_ECT};
use crate::qos::{CodelParams, PortQueues, QosConfig};
use crate::wire::Ipv4Packet;

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
        if now > 2_000 * MS && now.is_multiple_of(MS) {
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
