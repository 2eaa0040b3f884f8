//! The whole forwarding pipeline per packet, beside the bare FIB lookup it
//! contains, on a full real table (CAIDA 2024 for IPv4, RIS 2024 ≥ 10 peers for
//! IPv6). Both are measured in the same run on the same destinations, so their
//! ratio is the pipeline's overhead over the lookup.
//!
//! Needs `$FERROUTE_DATA/data` (default `../shared/data`); skips with a message
//! without it, fails under `CI=true`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

mod common;

use criterion::{Criterion, Throughput};

use common::{as_published, timed_batches, v4_destinations, v6_destinations, POOL};
use ferroute::fib::{Fib, NextHop};
use ferroute::forward::{set_header_lanes, Forwarded, Forwarder, FrameHint, RouteHints, Verdict};
use ferroute::lpm::MaybeNextHop;
use ferroute::tables::{load_routes, LoadOptions};
use ferroute::testkit::frames::{V4Frame, V6Frame};
use ferroute::testkit::rig::{adjacency_fib, forwarder, ports, NoEmit};
use ferroute::testkit::{data_file, Rng};

const BATCH: usize = 64;
const NEXT_HOPS: u32 = 64;

/// A minimum-size frame: 60 bytes (64 on the wire with the FCS).
fn v4_frame(dst: Ipv4Addr) -> Vec<u8> {
    V4Frame::minimum(dst).build()
}

/// The smallest IPv6 UDP frame: 62 bytes.
fn v6_frame(dst: Ipv6Addr) -> Vec<u8> {
    V6Frame {
        payload: vec![0; 8],
        ..V6Frame::udp(dst)
    }
    .build()
}

/// Benchmarks one family: bare lookups of a batch of destinations, and the
/// same destinations as frames through the pipeline.
fn bench_family<A: Copy>(
    c: &mut Criterion,
    name: &str,
    fib: &Fib,
    destinations: &[A],
    frame: impl Fn(A) -> Vec<u8>,
    lookup: impl Fn(&Fib, A) -> Option<&NextHop>,
    lookup_batch: impl Fn(&Fib, &[A], &mut [MaybeNextHop]),
) {
    let frames: Vec<Vec<u8>> = destinations.iter().map(|&d| frame(d)).collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut at = 0usize;
    group.bench_function("lookup", |b| {
        b.iter(|| {
            at = (at + BATCH) % POOL;
            for &d in &destinations[at..at + BATCH] {
                black_box(lookup(fib, black_box(d)));
            }
        })
    });
    // The same lookups as one batch (what the worker's pre-pass runs,
    // `forward::RouteHints`): the bare cost the batched pipeline compares to.
    let mut at = 0usize;
    let mut ids = [MaybeNextHop::NONE; BATCH];
    group.bench_function("lookup_batch", |b| {
        b.iter(|| {
            at = (at + BATCH) % POOL;
            lookup_batch(fib, black_box(&destinations[at..at + BATCH]), &mut ids);
            black_box(&ids);
        })
    });
    // The same lookups with the frames refilled (untimed) before each batch
    // and the clock read around it, as for the pipelines below: the
    // lookup's cost under the pipeline's conditions (the refill brings 64
    // frames from a 5 MiB pool through the caches, evicting some of the
    // table's lines: 4.3-4.5 -> 5.1-5.4 ns an IPv4 address, 8 runs).
    let mut at = 0usize;
    let mut batch: Vec<Vec<u8>> = frames[..BATCH].to_vec();
    group.bench_function("lookup_batch_refilled", |b| {
        b.iter_custom(|iters| {
            // The refilled frames' first index (as `timed_batches` moves
            // `at`): the lookups are their destinations.
            let mut first = at;
            timed_batches(iters, &frames, &mut batch, &mut at, |_| {
                first = (first + BATCH) % POOL;
                let a = &destinations[first..first + BATCH];
                lookup_batch(fib, black_box(a), &mut ids);
                black_box(&ids);
            })
        })
    });
    let mut fwd = forwarder(ports(), 0, 0);
    let mut at = 0usize;
    // The batch lives in buffers reused across iterations, refilled (untimed)
    // just before each pass, as a NIC's DMA leaves frames in the cache (DDIO);
    // the timed part is only the pipeline over 64 frames.
    let mut batch: Vec<Vec<u8>> = frames[..BATCH].to_vec();
    let mut hints = RouteHints::new();
    let mut common = Forwarded::default();
    // "pipeline": one lookup per frame inside the pipeline; "pipeline_batched":
    // what the worker runs: the batch's routes looked up together first
    // (forward::batch), the common case forwarded over the whole batch
    // (forward::common), the other frames one by one.
    if std::env::var("FORWARD_AB").as_deref() == Ok("lanes") {
        header_lanes_ab(
            name,
            &mut fwd,
            fib,
            &frames,
            &mut batch,
            &mut hints,
            &mut common,
        );
    }
    for batched in [false, true] {
        let name = if batched {
            "pipeline_batched"
        } else {
            "pipeline"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed_batches(iters, &frames, &mut batch, &mut at, |batch| {
                    if batched {
                        pipeline_batched(&mut fwd, fib, batch, &mut hints, &mut common);
                        return;
                    }
                    for f in batch.iter_mut() {
                        let v = fwd.process_hinted(fib, 0, f, 0, &mut NoEmit, FrameHint::NONE);
                        debug_assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
                        black_box(v);
                    }
                })
            })
        });
    }
    group.finish();
    let c = &fwd.counters;
    assert_eq!(
        c.forwarded, c.rx_frames,
        "every benchmark frame must be forwarded: {c:?}"
    );
}

/// One batch as the worker runs it: the batch's routes looked up together
/// first (forward::batch), the common case forwarded over the whole batch
/// (forward::common), the other frames one by one.
fn pipeline_batched(
    fwd: &mut Forwarder,
    fib: &Fib,
    batch: &mut [Vec<u8>],
    hints: &mut RouteHints,
    common: &mut Forwarded,
) {
    fwd.prepare_batch(fib, 0, batch.iter().map(|f| &f[..]), hints);
    fwd.forward_common(fib, 0, batch, hints, common);
    for (i, f) in batch.iter_mut().enumerate() {
        if let Some(out) = common.get(i) {
            black_box(out);
            continue;
        }
        let v = fwd.process_hinted(fib, 0, f, 0, &mut NoEmit, hints.get(i));
        debug_assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        black_box(v);
    }
}

/// `FORWARD_AB=lanes`: the batched pipeline with the header tests in
/// lanes (`forward::header_lanes`) and without, in one process, 80 rounds
/// of 2,000 batches alternating which goes first; prints each's ns per
/// packet and the median of the rounds' ratios (a machine whose speed
/// drifts between runs moves both alike). Without AVX-512 both are the
/// per-frame tests.
fn header_lanes_ab(
    name: &str,
    fwd: &mut Forwarder,
    fib: &Fib,
    frames: &[Vec<u8>],
    batch: &mut [Vec<u8>],
    hints: &mut RouteHints,
    common: &mut Forwarded,
) {
    const ROUNDS: usize = 80;
    const BATCHES: u64 = 2000;
    let mut at = 0usize;
    let mut ns = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for lanes in [round % 2 == 0, round % 2 == 1] {
            set_header_lanes(lanes);
            let t = timed_batches(BATCHES, frames, batch, &mut at, |batch| {
                pipeline_batched(fwd, fib, batch, hints, common)
            });
            ns[usize::from(lanes)].push(t.as_secs_f64() * 1e9 / (BATCHES * BATCH as u64) as f64);
        }
    }
    set_header_lanes(true);
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let ratios = sorted(ns[1].iter().zip(&ns[0]).map(|(l, p)| l / p).collect());
    let q = |v: &[f64], k: usize| v[k * (v.len() - 1) / 4];
    eprintln!(
        "{name}/pipeline_batched lanes / per-frame tests: median ratio {:.3} (quartiles {:.3}, {:.3})",
        q(&ratios, 2),
        q(&ratios, 1),
        q(&ratios, 3)
    );
    for (what, v) in [("per-frame tests", &ns[0]), ("lanes", &ns[1])] {
        let v = sorted(v.clone());
        eprintln!(
            "{name}/pipeline_batched {what}: min {:.2}, median {:.2} ns per packet",
            v[0],
            q(&v, 2)
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let opts = LoadOptions {
        nexthops: NEXT_HOPS,
        min_peers: 10,
    };
    let mut rng = Rng::new(0x5eed);
    if let Some(path) = data_file("caida-routeviews-rv2-20240406.pfx2as.gz") {
        let routes = load_routes(&path, &opts).expect("load IPv4 table").v4;
        let mut fib = adjacency_fib(NEXT_HOPS);
        for &(net, nh) in &routes {
            fib.v4.insert(net, nh);
        }
        as_published(&mut fib);
        eprintln!(
            "IPv4 table: {} prefixes, {} bytes",
            fib.v4.len(),
            fib.v4.memory_bytes()
        );
        let dst = v4_destinations(&routes, &mut rng);
        bench_family(
            &mut c,
            "forward_v4",
            &fib,
            &dst,
            v4_frame,
            |f, a| f.lookup_v4(a),
            |f, a, out| f.v4.lookup_batch(a, out),
        );
    }
    if let Some(path) = data_file("ripe-ris-riswhoisdump-IPv6-20241220.gz") {
        let routes = load_routes(&path, &opts).expect("load IPv6 table").v6;
        let mut fib = adjacency_fib(NEXT_HOPS);
        for &(net, nh) in &routes {
            fib.v6.insert(net, nh);
        }
        as_published(&mut fib);
        eprintln!(
            "IPv6 table: {} prefixes, {} bytes",
            fib.v6.len(),
            fib.v6.memory_bytes()
        );
        let dst = v6_destinations(&routes, &mut rng);
        bench_family(
            &mut c,
            "forward_v6",
            &fib,
            &dst,
            v6_frame,
            |f, a| f.lookup_v6(a),
            |f, a, out| f.v6.lookup_batch(a, out),
        );
    }
    c.final_summary();
}
