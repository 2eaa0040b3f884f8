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

use common::{data_file, v4_destinations, Rng, POOL};
use ferroute::dataplane::{Worker, RX_BATCH};
use ferroute::fib::{
    build_static, ConnectedPort, Fib, FibHandle, NextHop, StaticNeighbor, StaticRoute,
};
use ferroute::forward::{Forwarder, ForwarderConfig, Port};
use ferroute::io::LoopbackIo;
use ferroute::lpm::load::{load_routes, LoadOptions};
use ferroute::wire::ethernet::{emit_header, ethertype};
use ferroute::wire::ipv4::{protocol, Ipv4Repr};
use ferroute::wire::MacAddr;

const P0: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const P1: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);

fn worker(fib: Option<Fib>) -> Worker<LoopbackIo> {
    let ports = vec![
        Port {
            name: "p0".into(),
            mac: P0,
            mtu: 1500,
            ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ipv6: None,
        },
        Port {
            name: "p1".into(),
            mac: P1,
            mtu: 1500,
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 1)),
            ipv6: None,
        },
    ];
    let connected = vec![
        ConnectedPort {
            id: 0,
            addresses: vec!["192.0.2.1/24".parse().unwrap()],
        },
        ConnectedPort {
            id: 1,
            addresses: vec!["203.0.113.1/24".parse().unwrap()],
        },
    ];
    let routes = vec![StaticRoute {
        prefix: "198.51.100.0/24".parse().unwrap(),
        via: "203.0.113.2".parse().unwrap(),
    }];
    let neighbors = vec![StaticNeighbor {
        address: "203.0.113.2".parse().unwrap(),
        mac: MacAddr([2, 0, 0, 0, 1, 2]),
        port: 1,
    }];
    let fib = FibHandle::new(
        fib.unwrap_or_else(|| build_static(&connected, &routes, &neighbors).unwrap()),
    );
    let (mut io, pool) = LoopbackIo::new(2, 4096, 256);
    io.keep_transmitted = false;
    let fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 1000,
        icmp_burst: 50,
        accept_source_route: false,
    });
    Worker::new(io, pool, fwd, fib)
}

/// A 60-byte (64 on the wire) UDP frame to `dst`.
fn frame(dst: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    emit_header(&mut f, P0, MacAddr([2, 0, 0, 0, 0, 9]), ethertype::IPV4);
    Ipv4Repr {
        src: Ipv4Addr::new(192, 0, 2, 10),
        dst,
        protocol: protocol::UDP,
        ttl: 64,
        dscp_ecn: 0,
        ident: 1,
        payload_len: 26,
    }
    .emit(&mut f[14..]);
    f
}

/// The full IPv4 table, every prefix through one of 64 adjacencies on p1.
fn full_table() -> Option<(Fib, Vec<Ipv4Addr>)> {
    let path = data_file("caida-routeviews-rv2-20240406.pfx2as.gz")?;
    let opts = LoadOptions {
        nexthops: 64,
        min_peers: 1,
    };
    let routes = load_routes(&path, &opts).expect("load IPv4 table").v4;
    let hops = (0..64u8)
        .map(|i| NextHop::Adjacency {
            port: 1,
            mac: MacAddr([2, 0, 0, 1, 0, i]),
        })
        .collect();
    let mut fib = Fib::with_next_hops(hops);
    for &(net, nh) in &routes {
        fib.v4.insert(net, nh);
    }
    Some((fib, v4_destinations(&routes, &mut Rng(0x5eed))))
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
    bench_loop(&mut c, "forward_64B_batch64", worker(None), &frames);
    if let Some((fib, destinations)) = full_table() {
        let frames: Vec<Vec<u8>> = destinations[..POOL].iter().map(|&d| frame(d)).collect();
        bench_loop(
            &mut c,
            "forward_64B_batch64_full_table",
            worker(Some(fib)),
            &frames,
        );
    }
    c.final_summary();
}
