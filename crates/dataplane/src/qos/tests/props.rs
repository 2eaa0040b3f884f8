//! Property tests: whatever the mix of traffic and settings, no frame is
//! lost or duplicated and the limits hold.

use std::collections::HashSet;

use proptest::prelude::*;

use super::frames::{three_class_config, tuple_of, udp_frame, v4_frame, V4Spec};
use super::sim::{SimFrame, SimStore};
use crate::qos::{ClassConfig, CodelParams, FlowTuple, PortQueues, QosConfig, SchedulerKind};

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        flow: u16,
        dscp: u8,
        ecn: u8,
        payload: u16,
    },
    Dequeue {
        advance_us: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u16..40, prop_oneof![Just(0u8), Just(46), Just(10)], 0u8..4, 0u16..1472)
            .prop_map(|(flow, dscp, ecn, payload)| Op::Enqueue { flow, dscp, ecn, payload }),
        2 => (0u32..20_000).prop_map(|advance_us| Op::Dequeue { advance_us }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frames_are_conserved_and_bounded(
        kind in prop_oneof![Just(SchedulerKind::Drr), Just(SchedulerKind::Wfq), Just(SchedulerKind::Fifo)],
        queue_limit in 1u32..64,
        flow_limit in 1u32..64,
        flows in 1u32..64,
        shaped in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..600),
    ) {
        let cfg = QosConfig {
            scheduler: kind,
            queue_limit,
            flow_limit,
            flows,
            rate: shaped.then_some(1_000_000),
            codel: CodelParams { target_ns: 1_000_000, interval_ns: 10_000_000 },
            classes: vec![
                ClassConfig { name: "ef".into(), dscp: vec![46], weight: 5 },
                ClassConfig { name: "af".into(), dscp: vec![10], weight: 2 },
            ],
            ..QosConfig::default()
        };
        let mut q = PortQueues::new(&cfg, [11, 13]);
        let mut store = SimStore::default();
        let mut now = 0u64;
        let mut offered = 0u64;
        let mut sent = HashSet::new();
        for op in ops {
            match op {
                Op::Enqueue { flow, dscp, ecn, payload } => {
                    let mut s = V4Spec::tcp(flow, 80);
                    s.dscp = dscp;
                    s.ecn = ecn;
                    s.payload = payload as usize;
                    offered += 1;
                    q.enqueue(SimFrame { id: offered, source: 0, bytes: v4_frame(&s) }, now, &mut store);
                }
                Op::Dequeue { advance_us } => {
                    now += advance_us as u64 * 1000;
                    while let Some(f) = q.dequeue(now, &mut store) {
                        prop_assert!(sent.insert(f.id), "frame {} sent twice", f.id);
                    }
                }
            }
            prop_assert!(q.backlog() <= queue_limit);
        }
        let released: HashSet<u64> = store.released.iter().map(|f| f.id).collect();
        prop_assert_eq!(released.len(), store.released.len(), "a frame dropped twice");
        prop_assert!(released.is_disjoint(&sent));
        let backlog = q.backlog() as u64;
        prop_assert_eq!(offered, sent.len() as u64 + released.len() as u64 + backlog);
        // The counters tell the same story.
        let mut total = crate::qos::ClassCounters::default();
        for k in q.counters() {
            total.merge(k);
        }
        prop_assert_eq!(total.sent, sent.len() as u64);
        prop_assert_eq!(total.dropped(), released.len() as u64);
        prop_assert_eq!(total.backlog, backlog);
        // Full queues drop from a head, never the arriving frame.
        prop_assert_eq!(total.enqueued, offered);
        // Draining an unshaped copy of the state empties it completely.
        now += 10_000_000_000;
        while let Some(f) = q.dequeue(now, &mut store) {
            prop_assert!(sent.insert(f.id));
            now += 10_000_000_000;
        }
        prop_assert_eq!(q.backlog(), 0);
        prop_assert_eq!(offered, sent.len() as u64 + store.released.len() as u64);
    }
}

/// One frame of a batch: its flow, class (by DSCP), ECN bits and size.
fn batch_frame() -> impl Strategy<Value = (u16, u8, u8, u16)> {
    (
        0u16..48,
        prop_oneof![Just(0u8), Just(46), Just(10)],
        0u8..4,
        0u16..1472,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Batched enqueue and burst dequeue are optimisations only: the same
    /// frames sent in the same order, the same drops, counters and sojourn
    /// histograms as enqueueing and dequeueing the frames one by one
    /// (batches longer than a chunk included, full queues that drop
    /// mid-batch, shaped ports, and bursts the transmit side cuts short).
    #[test]
    fn batched_enqueue_and_burst_dequeue_equal_one_by_one(
        kind in prop_oneof![Just(SchedulerKind::Drr), Just(SchedulerKind::Wfq), Just(SchedulerKind::Fifo)],
        queue_limit in 1u32..96,
        flow_limit in 1u32..96,
        flows in 1u32..64,
        shaped in any::<bool>(),
        rounds in proptest::collection::vec(
            (proptest::collection::vec(batch_frame(), 0..150), 0u32..40, 0u32..20_000, 0u32..40),
            1..40,
        ),
    ) {
        let cfg = three_class_config(kind, queue_limit, flow_limit, flows, shaped);
        let mut batched = PortQueues::new(&cfg, [5, 7]);
        let mut single = PortQueues::new(&cfg, [5, 7]);
        let (mut batched_store, mut single_store) = (SimStore::default(), SimStore::default());
        let mut now = 0u64;
        let mut id = 0u64;
        let mut batch = Vec::new();
        // Flow fields for some of the batched frames (as the worker has
        // the common case's), up to a random frame: the others and those
        // past the end are classified by their bytes.
        let mut tuples = Vec::new();
        for (frames, dequeues, advance_us, refuse_after) in rounds {
            for (flow, dscp, ecn, payload) in frames {
                id += 1;
                let bytes = udp_frame(flow, dscp, ecn, payload);
                single.enqueue(SimFrame { id, source: 0, bytes: bytes.clone() }, now, &mut single_store);
                tuples.push(if id.is_multiple_of(5) { FlowTuple::UNKNOWN } else { tuple_of(&bytes) });
                batch.push(SimFrame { id, source: 0, bytes });
            }
            tuples.truncate(tuples.len() - (id as usize % 7).min(tuples.len()));
            batched.enqueue_batch(&mut batch, &tuples, now, &mut batched_store);
            tuples.clear();
            prop_assert!(batch.is_empty());
            now += advance_us as u64 * 1000;
            // One burst of up to `dequeues` frames whose taker refuses the
            // frame after `refuse_after` (dropped, as a full transmit batch
            // would), against as many single dequeues.
            let mut burst = Vec::new();
            let taken = batched.dequeue_burst(now, dequeues as usize, &mut batched_store, |f| {
                if burst.len() as u32 == refuse_after {
                    return Err(f);
                }
                burst.push(f.id);
                Ok(())
            });
            prop_assert_eq!(taken, burst.len());
            let mut one_by_one = Vec::new();
            while one_by_one.len() < dequeues as usize {
                let Some(f) = single.dequeue(now, &mut single_store) else {
                    break;
                };
                if one_by_one.len() as u32 == refuse_after {
                    single_store.released.push(f);
                    break;
                }
                one_by_one.push(f.id);
            }
            prop_assert_eq!(burst, one_by_one);
            now += 10_000;
            let dropped = |s: &SimStore| s.released.iter().map(|f| f.id).collect::<Vec<_>>();
            prop_assert_eq!(dropped(&batched_store), dropped(&single_store));
            prop_assert_eq!(batched.counters(), single.counters());
            prop_assert_eq!(batched.backlog(), single.backlog());
            prop_assert_eq!(batched.flow_collisions(), single.flow_collisions());
        }
        prop_assert_eq!(batched.report("p"), single.report("p"));
        prop_assert_eq!(batched.sojourn_mut(), single.sojourn_mut());
    }
}
