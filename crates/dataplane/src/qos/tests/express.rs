//! The express path of `enqueue_then_burst` against the general way
//! (`enqueue_batch`, then `dequeue_burst`), round after round, so that any
//! state it left different shows in a later round's frames or counters.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;

use super::frames::{three_class_config, tuple_of, udp_frame};
use super::sim::{SimFrame, SimStore};
use crate::qos::{PortQueues, QosConfig, SchedulerKind};

/// One frame of a batch: its flow (source port), class (by DSCP), ECN
/// bits and size; mostly distinct small frames of the default class, the
/// express path's case, with the others mixed in.
fn batch_frame() -> impl Strategy<Value = (u16, u8, u8, u16)> {
    (
        prop_oneof![4 => 0u16..4000, 1 => 0u16..8],
        prop_oneof![8 => Just(0u8), 1 => Just(46), 1 => Just(10)],
        0u8..4,
        prop_oneof![4 => 0u16..64, 1 => 0u16..1472],
    )
}

/// One round: a batch, the burst's room, after how many frames the taker
/// refuses one, and how far the clock moves before the next round.
type Round = (Vec<(u16, u8, u8, u16)>, u32, u32, u32);

fn round() -> impl Strategy<Value = Round> {
    (
        prop_oneof![
            // Plain rounds: the default class, small frames.
            3 => proptest::collection::vec(batch_frame(), 0..80).prop_map(|frames| {
                frames.into_iter().map(|(flow, _, ecn, payload)| (flow, 0, ecn, payload % 64)).collect()
            }),
            1 => proptest::collection::vec(batch_frame(), 0..80),
        ],
        prop_oneof![4 => 64u32..200, 1 => 0u32..64],
        prop_oneof![4 => 200u32..201, 1 => 0u32..64],
        prop_oneof![Just(0u32), 0u32..20_000],
    )
}

/// Batches the express path sent and handed to the general way over all
/// cases (read by `both_paths_run`).
static EXPRESS_SENT: AtomicU64 = AtomicU64::new(0);
static EXPRESS_HANDED: AtomicU64 = AtomicU64::new(0);

/// A transmit side that takes frames (recording them) until it has
/// `refuse_after`, then refuses one.
fn taker(
    sent: &mut Vec<u64>,
    refuse_after: u32,
) -> impl FnMut(SimFrame) -> Result<(), SimFrame> + '_ {
    move |f| {
        if sent.len() as u32 == refuse_after {
            return Err(f);
        }
        sent.push(f.id);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Same frames in the same order, same drops, counters, collisions,
    /// backlog and sojourn histograms, every round.
    #[test]
    fn enqueue_then_burst_equals_enqueue_and_burst(
        kind in prop_oneof![4 => Just(SchedulerKind::Drr), 1 => Just(SchedulerKind::Wfq), 1 => Just(SchedulerKind::Fifo)],
        queue_limit in prop_oneof![4 => 64u32..512, 1 => 1u32..64],
        flow_limit in 1u32..96,
        flows in prop_oneof![1 => 1u32..16, 3 => 64u32..1024],
        quantum in prop_oneof![Just(1514u32), 64u32..160, 64u32..1600],
        shaped in prop_oneof![4 => Just(false), 1 => Just(true)],
        rounds in proptest::collection::vec(round(), 1..40),
    ) {
        let cfg = QosConfig {
            quantum,
            ..three_class_config(kind, queue_limit, flow_limit, flows, shaped)
        };
        let (sent, handed) = compare_rounds(&cfg, rounds)?;
        EXPRESS_SENT.fetch_add(sent, Ordering::Relaxed);
        EXPRESS_HANDED.fetch_add(handed, Ordering::Relaxed);
    }
}

/// Runs `rounds` through two queues of `cfg`, one by `enqueue_then_burst`,
/// one by `enqueue_batch` and `dequeue_burst`, comparing them after every
/// round. Returns the express path's counts (sent, handed over).
fn compare_rounds(cfg: &QosConfig, rounds: Vec<Round>) -> Result<(u64, u64), TestCaseError> {
    let mut express = PortQueues::new(cfg, [5, 7]);
    let mut general = PortQueues::new(cfg, [5, 7]);
    let (mut express_store, mut general_store) = (SimStore::default(), SimStore::default());
    let (mut express_batch, mut general_batch) = (Vec::new(), Vec::new());
    // The express side's frames with their flow fields, as the worker
    // passes the common case's (the general side classifies the bytes).
    let mut tuples = Vec::new();
    let mut now = 0u64;
    let mut id = 0u64;
    for (batch, room, refuse_after, advance_us) in rounds {
        for (flow, dscp, ecn, payload) in batch {
            id += 1;
            let bytes = udp_frame(flow, dscp, ecn, payload);
            tuples.push(tuple_of(&bytes));
            general_batch.push(SimFrame {
                id,
                source: 0,
                bytes: bytes.clone(),
            });
            express_batch.push(SimFrame {
                id,
                source: 0,
                bytes,
            });
        }
        let (mut express_sent, mut general_sent) = (Vec::new(), Vec::new());
        let express_taken = express.enqueue_then_burst(
            &mut express_batch,
            &tuples,
            now,
            room as usize,
            &mut express_store,
            taker(&mut express_sent, refuse_after),
        );
        tuples.clear();
        general.enqueue_batch(&mut general_batch, &[], now, &mut general_store);
        let general_taken = general.dequeue_burst(
            now,
            room as usize,
            &mut general_store,
            taker(&mut general_sent, refuse_after),
        );
        prop_assert!(express_batch.is_empty());
        prop_assert_eq!(express_taken, general_taken);
        prop_assert_eq!(express_sent, general_sent);
        let dropped = |s: &SimStore| s.released.iter().map(|f| f.id).collect::<Vec<_>>();
        prop_assert_eq!(dropped(&express_store), dropped(&general_store));
        prop_assert_eq!(express.counters(), general.counters());
        prop_assert_eq!(express.backlog(), general.backlog());
        prop_assert_eq!(express.flow_collisions(), general.flow_collisions());
        prop_assert_eq!(express.scheduler_state(), general.scheduler_state());
        now += advance_us as u64 * 1000;
    }
    prop_assert_eq!(express.report("p"), general.report("p"));
    prop_assert_eq!(express.sojourn_mut(), general.sojourn_mut());
    Ok(express.express_counts())
}

/// A flow left listed with its deficit spent (two frames over a small
/// quantum, the second the last one sent) is not the express path's: its
/// next visit moves it to the old list, where the batch's flows then
/// follow it.
#[test]
fn a_spent_flow_left_listed_takes_the_general_way() {
    let cfg = QosConfig {
        quantum: 100,
        ..three_class_config(SchedulerKind::Drr, 256, 64, 256, false)
    };
    let rounds = vec![
        (vec![(7, 0, 0, 18), (7, 0, 0, 18)], 64, 200, 0),
        (vec![(8, 0, 0, 18), (9, 0, 0, 18)], 64, 200, 0),
        (vec![(7, 0, 0, 18), (10, 0, 0, 18)], 64, 200, 0),
    ];
    if let Err(e) = compare_rounds(&cfg, rounds) {
        panic!("{e}");
    }
}

/// The property test above exercises the express path and its hand-over
/// (run after it: the counts are its cases').
#[test]
fn both_paths_run() {
    enqueue_then_burst_equals_enqueue_and_burst();
    assert!(EXPRESS_SENT.load(Ordering::Relaxed) > 10);
    assert!(EXPRESS_HANDED.load(Ordering::Relaxed) > 10);
}
