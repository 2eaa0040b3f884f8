//! The express path of `enqueue_then_burst` against the general way
//! (`enqueue_batch`, then `dequeue_burst`), round after round, so that any
//! state it left different shows in a later round's frames or counters.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;

use super::frames::{three_class_config, tuple_of, udp_frame};
use super::sim::{SimFrame, SimStore};
use crate::qos::{FrameSink, PortQueues, QosConfig, SchedulerKind};

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
/// refuses one, how far the clock moves before the next round, and
/// whether the express side is given the frames' flow tuples (the worker
/// gives none for a batch the common case did not read whole).
type Round = (Vec<(u16, u8, u8, u16)>, u32, u32, u32, bool);

fn round() -> impl Strategy<Value = Round> {
    (
        prop_oneof![
            // Plain rounds: the default class, small frames.
            3 => proptest::collection::vec(batch_frame(), 0..80).prop_map(|frames| {
                frames.into_iter().map(|(flow, _, ecn, payload)| (flow, 0, ecn, payload % 64)).collect()
            }),
            1 => proptest::collection::vec(batch_frame(), 0..80),
            // Distinct flows of the default class, as the express path by
            // tuples takes them (flows of earlier rounds come back).
            2 => proptest::collection::vec(batch_frame(), 0..65).prop_map(|frames| {
                frames.into_iter().enumerate().map(|(i, (flow, _, ecn, payload))| {
                    (1000 + i as u16 * 4 + flow % 4, 0, ecn, payload % 64)
                }).collect()
            }),
        ],
        prop_oneof![4 => 64u32..200, 1 => 0u32..64],
        prop_oneof![4 => 200u32..201, 1 => 0u32..64],
        prop_oneof![Just(0u32), 0u32..20_000],
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
}

/// Batches the express path sent looking flows up and handed to the
/// general way, and rounds it sent by tuples and compared, over all cases
/// (read by `both_paths_run`).
static EXPRESS_SENT: AtomicU64 = AtomicU64::new(0);
static EXPRESS_HANDED: AtomicU64 = AtomicU64::new(0);
static EXPRESS_BY_TUPLES: AtomicU64 = AtomicU64::new(0);

/// A transmit side that takes frames (recording them) until it has
/// `refuse_after`, then refuses one; a whole batch only when it would take
/// each of its frames.
struct Taker {
    sent: Vec<u64>,
    refuse_after: u32,
}

impl FrameSink<SimFrame> for Taker {
    fn put(&mut self, f: SimFrame) -> Result<(), SimFrame> {
        if self.sent.len() as u32 == self.refuse_after {
            return Err(f);
        }
        self.sent.push(f.id);
        Ok(())
    }

    fn put_all(&mut self, frames: &mut Vec<SimFrame>) -> bool {
        if self.sent.len() + frames.len() > self.refuse_after as usize {
            return false;
        }
        self.sent.extend(frames.drain(..).map(|f| f.id));
        true
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
        let (sent, handed, by_tuples) = compare_rounds(&cfg, rounds)?;
        EXPRESS_SENT.fetch_add(sent, Ordering::Relaxed);
        EXPRESS_HANDED.fetch_add(handed, Ordering::Relaxed);
        EXPRESS_BY_TUPLES.fetch_add(by_tuples, Ordering::Relaxed);
    }
}

/// A round for the express path by tuples: distinct flows of the default
/// class (flows of earlier rounds, the one left listed among them, come
/// back), now and then a frame of an earlier frame's flow or of another
/// class, room for all, now and then a refusal.
fn tuples_round() -> impl Strategy<Value = Round> {
    let frames = proptest::collection::vec((0u16..8, 0u8..4, 0u16..64), 1..65);
    (
        (frames, 0u8..8, any::<u16>()).prop_map(|(frames, twist, at)| {
            let mut batch: Vec<(u16, u8, u8, u16)> = frames
                .into_iter()
                .enumerate()
                .map(|(i, (flow, ecn, payload))| (1000 + i as u16 * 8 + flow, 0, ecn, payload))
                .collect();
            let i = at as usize % batch.len();
            match twist {
                // A frame of an earlier frame's flow.
                0 if i > 0 => batch[i].0 = batch[at as usize % i].0,
                // A frame of another class.
                1 => batch[i].1 = 46,
                _ => {}
            }
            batch
        }),
        Just(200u32),
        prop_oneof![8 => Just(200u32), 1 => 0u32..64],
        prop_oneof![Just(0u32), 0u32..20_000],
        // Now and then no tuples: the flow left listed is then one the
        // path by tuples cannot tell, and must not send past.
        prop_oneof![7 => Just(true), 1 => Just(false)],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same, on the batches the express path by tuples takes (and
    /// those it must not take: a repeated flow, the listed flow, another
    /// class, a refusal).
    #[test]
    fn express_by_tuples_equals_enqueue_and_burst(
        queue_limit in 64u32..512,
        flow_limit in 1u32..96,
        flows in prop_oneof![1 => 8u32..64, 4 => 64u32..1024],
        quantum in prop_oneof![Just(1514u32), 200u32..1600],
        rounds in proptest::collection::vec(tuples_round(), 1..30),
    ) {
        let cfg = QosConfig {
            quantum,
            ..three_class_config(SchedulerKind::Drr, queue_limit, flow_limit, flows, false)
        };
        let (sent, handed, by_tuples) = compare_rounds(&cfg, rounds)?;
        EXPRESS_SENT.fetch_add(sent, Ordering::Relaxed);
        EXPRESS_HANDED.fetch_add(handed, Ordering::Relaxed);
        EXPRESS_BY_TUPLES.fetch_add(by_tuples, Ordering::Relaxed);
    }
}

/// Runs `rounds` through queues of `cfg` by `enqueue_then_burst`, and
/// each round also through a copy of them taken before it by
/// `enqueue_batch` and `dequeue_burst`, comparing the two after it: each
/// round's step from one state, so that a state the express paths leave
/// is tested by the rounds after it. Returns the express path's counts
/// (sent looking flows up, handed over) and the rounds sent by tuples
/// that were compared.
fn compare_rounds(cfg: &QosConfig, rounds: Vec<Round>) -> Result<(u64, u64, u64), TestCaseError> {
    let mut express = PortQueues::new(cfg, [5, 7]);
    let mut now = 0u64;
    let mut id = 0u64;
    let mut compared_by_tuples = 0;
    for (batch, room, refuse_after, advance_us, known) in rounds {
        // The express side's frames with their flow fields, as the worker
        // passes the common case's (the general side classifies the bytes).
        let (mut express_batch, mut tuples) = (Vec::new(), Vec::new());
        for (flow, dscp, ecn, payload) in batch {
            id += 1;
            let bytes = udp_frame(flow, dscp, ecn, payload);
            tuples.push(tuple_of(&bytes));
            express_batch.push(SimFrame {
                id,
                source: 0,
                bytes,
            });
        }
        let mut general = express.clone();
        let mut general_batch = express_batch.clone();
        let (mut express_store, mut general_store) = (SimStore::default(), SimStore::default());
        let mut express_out = Taker {
            sent: Vec::new(),
            refuse_after,
        };
        let mut general_out = Taker {
            sent: Vec::new(),
            refuse_after,
        };
        let (by_tuples, collisions) = (express.express_counts().2, express.flow_collisions());
        if !known {
            tuples.clear();
        }
        let express_taken = express.enqueue_then_burst(
            &mut express_batch,
            &tuples,
            now,
            room as usize,
            &mut express_store,
            &mut express_out,
        );
        general.enqueue_batch(&mut general_batch, &[], now, &mut general_store);
        let general_taken = general.dequeue_burst(now, room as usize, &mut general_store, |f| {
            general_out.put(f)
        });
        let (express_sent, general_sent) = (express_out.sent, general_out.sent);
        now += advance_us as u64 * 1000;
        prop_assert!(express_batch.is_empty());
        let by_tuples = express.express_counts().2 > by_tuples;
        // Where the general way shared a way between flows, the path by
        // tuples treats them as distinct (see `express_tuples.rs`).
        if by_tuples && general.flow_collisions() != collisions {
            continue;
        }
        prop_assert_eq!(express_taken, general_taken);
        prop_assert_eq!(express_sent, general_sent);
        let dropped = |s: &SimStore| s.released.iter().map(|f| f.id).collect::<Vec<_>>();
        prop_assert_eq!(dropped(&express_store), dropped(&general_store));
        prop_assert_eq!(express.counters(), general.counters());
        prop_assert_eq!(express.backlog(), general.backlog());
        prop_assert_eq!(express.flow_collisions(), general.flow_collisions());
        prop_assert_eq!(express.report("p"), general.report("p"));
        if by_tuples {
            compared_by_tuples += 1;
            prop_assert_eq!(
                express.scheduler_state_by_key(),
                general.scheduler_state_by_key()
            );
        } else {
            prop_assert_eq!(express.scheduler_state(), general.scheduler_state());
        }
    }
    let (sent, handed, _) = express.express_counts();
    Ok((sent, handed, compared_by_tuples))
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
        (vec![(7, 0, 0, 18), (7, 0, 0, 18)], 64, 200, 0, true),
        (vec![(8, 0, 0, 18), (9, 0, 0, 18)], 64, 200, 0, true),
        (vec![(7, 0, 0, 18), (10, 0, 0, 18)], 64, 200, 0, true),
    ];
    if let Err(e) = compare_rounds(&cfg, rounds) {
        panic!("{e}");
    }
}

/// A batch sent without its tuples leaves its last flow (8) listed with
/// no flow words to recognise it by; a later batch holding a frame of it
/// must not go by tuples (that frame joins the listed flow, whose visit
/// comes first: the general way sends it before the flows ahead of it).
#[test]
fn a_flow_listed_without_its_tuple_is_not_sent_past() {
    let cfg = three_class_config(SchedulerKind::Drr, 256, 64, 256, false);
    let rounds = vec![
        (vec![(7, 0, 0, 18), (8, 0, 0, 18)], 64, 200, 0, false),
        (
            vec![(9, 0, 0, 18), (8, 0, 0, 18), (10, 0, 0, 18)],
            64,
            200,
            0,
            true,
        ),
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
    express_by_tuples_equals_enqueue_and_burst();
    eprintln!(
        "express: {} sent, {} handed over, {} sent by tuples and compared",
        EXPRESS_SENT.load(Ordering::Relaxed),
        EXPRESS_HANDED.load(Ordering::Relaxed),
        EXPRESS_BY_TUPLES.load(Ordering::Relaxed)
    );
    assert!(EXPRESS_SENT.load(Ordering::Relaxed) > 10);
    assert!(EXPRESS_HANDED.load(Ordering::Relaxed) > 10);
    assert!(EXPRESS_BY_TUPLES.load(Ordering::Relaxed) > 300);
}
