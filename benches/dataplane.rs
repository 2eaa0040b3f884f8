//! The worker loop's user-space cost per packet: one pass of
//! [`Worker::poll_once`] over a batch of 64 received frames (pipeline,
//! transmit batching, frame recycling) on the in-memory backend, so no
//! kernel work is included. On a zero-copy NIC this is what a core pays per
//! packet besides the driver; 100 ns per packet would mean 10 Mpps per core.
//!
//! Two tables: a few static routes (the loop's fixed cost) and the full
//! CAIDA 2024 IPv4 table (998k prefixes) with destinations spread over
//! random prefixes, so the lookups miss the cache as they would on a router
//! with a full table (needs `$FERROUTE_DATA`, skipped without it).

use std::hint::black_box;
use std::net::Ipv4Addr;

use std::time::{Duration, Instant};

mod common;

use criterion::{Criterion, Throughput};

use common::{caida_v4, v4_destinations, POOL};
use ferroute::dataplane::{Worker, RX_BATCH};
use ferroute::fib::Fib;
use ferroute::io::LoopbackIo;
use ferroute::testkit::frames::V4Frame;
use ferroute::testkit::rig::{bench_worker, gateway_fib};
use ferroute::testkit::Rng;

/// A 60-byte (64 on the wire) UDP frame to `dst`.
fn frame(dst: Ipv4Addr) -> Vec<u8> {
    V4Frame::minimum(dst).build()
}

/// The full IPv4 table, every prefix through one of 64 adjacencies on p1.
fn full_table() -> Option<(Fib, Vec<Ipv4Addr>)> {
    let (routes, fib) = caida_v4(1)?;
    Some((fib, v4_destinations(&routes, &mut Rng::new(0x5eed))))
}

/// Times `poll_once` over batches of 64 frames cycled from `frames`.
fn bench_loop(c: &mut Criterion, name: &str, mut w: Worker<LoopbackIo>, frames: &[Vec<u8>]) {
    let mut group = c.benchmark_group("worker_loop");
    group.throughput(Throughput::Elements(RX_BATCH as u64));
    let mut at = 0;
    group.bench_function(name, |b| {
        // Injection (a copy into the UMEM, the NIC's job) is kept out of
        // the timed region; one clock read per batch is noise at 64 frames.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                at = (at + RX_BATCH) % frames.len();
                for f in &frames[at..at + RX_BATCH] {
                    w.io_mut().inject(0, f);
                }
                let start = Instant::now();
                black_box(w.poll_once());
                spent += start.elapsed();
            }
            spent
        })
    });
    group.finish();
    let forwarded = w.forwarder().counters.forwarded;
    assert_eq!(
        forwarded,
        w.forwarder().counters.rx_frames,
        "all frames forwarded"
    );
    assert_eq!(w.io().tx_count[1], forwarded);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    // 128 frames (two batches) to hosts of the one static route.
    let frames: Vec<Vec<u8>> = (0..2 * RX_BATCH)
        .map(|i| frame(Ipv4Addr::new(198, 51, 100, 1 + (i % 250) as u8)))
        .collect();
    bench_loop(
        &mut c,
        "forward_64B_batch64",
        bench_worker(gateway_fib()),
        &frames,
    );
    if let Some((fib, destinations)) = full_table() {
        let frames: Vec<Vec<u8>> = destinations[..POOL].iter().map(|&d| frame(d)).collect();
        bench_loop(
            &mut c,
            "forward_64B_batch64_full_table",
            bench_worker(fib),
            &frames,
        );
    }
    c.final_summary();
}
