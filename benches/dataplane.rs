//! The worker loop's user-space cost per packet: one pass of
//! [`Worker::poll_once`] over a batch of 64 received frames (pipeline,
//! transmit batching, frame recycling) on the in-memory backend, so no
//! kernel work is included. On a zero-copy NIC this is what a core pays per
//! packet besides the driver; 100 ns per packet would mean 10 Mpps per core.
//!
//! The FIB is small here (static routes): `benches/forward.rs` measures the
//! pipeline against a full table, and `benches/lpm.rs` the lookup itself.

use std::hint::black_box;
use std::net::Ipv4Addr;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use ferroute::dataplane::{Worker, RX_BATCH};
use ferroute::fib::{build_static, ConnectedPort, FibHandle, StaticNeighbor, StaticRoute};
use ferroute::forward::{Forwarder, ForwarderConfig, Port};
use ferroute::io::LoopbackIo;
use ferroute::wire::ethernet::{emit_header, ethertype};
use ferroute::wire::ipv4::{protocol, Ipv4Repr};
use ferroute::wire::MacAddr;

const P0: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const P1: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);

fn worker() -> Worker<LoopbackIo> {
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
    let fib = FibHandle::new(build_static(&connected, &routes, &neighbors).unwrap());
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

/// A 60-byte (64 on the wire) UDP frame to host `host` of 198.51.100.0/24.
fn frame(host: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    emit_header(&mut f, P0, MacAddr([2, 0, 0, 0, 0, 9]), ethertype::IPV4);
    Ipv4Repr {
        src: Ipv4Addr::new(192, 0, 2, 10),
        dst: Ipv4Addr::new(198, 51, 100, host),
        protocol: protocol::UDP,
        ttl: 64,
        dscp_ecn: 0,
        ident: 1,
        payload_len: 26,
    }
    .emit(&mut f[14..]);
    f
}

fn bench(c: &mut Criterion) {
    let frames: Vec<Vec<u8>> = (0..RX_BATCH as u8)
        .map(|i| frame(i.wrapping_add(1)))
        .collect();
    let mut group = c.benchmark_group("worker_loop");
    group.throughput(Throughput::Elements(RX_BATCH as u64));
    let mut w = worker();
    group.bench_function("forward_64B_batch64", |b| {
        // Injection (a copy into the UMEM, the NIC's job) is kept out of
        // the timed region; one clock read per batch is noise at 64 frames.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                for f in &frames {
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

criterion_group!(benches, bench);
criterion_main!(benches);
