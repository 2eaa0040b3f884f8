//! Link-state SPF (LSDB → compact graph → Dijkstra with ECMP → stub routes)
//! on synthetic topologies of 1k, 10k and 100k routers, generated with a
//! fixed seed so every run measures the same graphs:
//!
//! * `grid`: routers on a square grid, each linked to its 4 neighbours, a
//!   random cost 1..=100 per direction (asymmetric, few ties);
//! * `grid-unit`: the same grid with every cost 1 (ties everywhere: the
//!   worst case for equal-cost first-hop sets);
//! * `ring-chords`: a ring plus one random chord per router (≈ 4 links per
//!   router, short paths, like a meshed backbone), costs 1..=100.
//!
//! Every router announces two stubs (a /32 loopback and a /24), so a run
//! also builds ≈ 2 routes per router. The goal is 10k routers < 5 ms.
//!
//! `lsdb-file` measures a reload of a 10k-router file: parsing and checking
//! it, and replacing the database with it.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

mod common;

use common::thread_cpu_time;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipnet::{IpNet, Ipv4Net};

use ferroute::control::linkstate::{file, spf, Link, Lsdb, RouterId, RouterLsa, Stub};
use ferroute::fib::PortId;
use ferroute::testkit::Rng;

#[derive(Clone, Copy)]
enum Shape {
    Grid,
    GridUnit,
    RingChords,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Grid => "grid",
            Shape::GridUnit => "grid-unit",
            Shape::RingChords => "ring-chords",
        }
    }
}

fn rid(i: usize) -> RouterId {
    Ipv4Addr::from(0x0a00_0000 + i as u32)
}

fn port_of(name: &str) -> Option<PortId> {
    name.strip_prefix('p')?.parse().ok()
}

/// The undirected edges of the shape, then one LSA per router listing both
/// directions (so every link passes the two-way check).
fn topology(shape: Shape, n: usize, seed: u64) -> Lsdb {
    let mut rng = Rng::new(seed);
    let mut edges: Vec<(usize, usize)> = Vec::with_capacity(2 * n);
    match shape {
        Shape::Grid | Shape::GridUnit => {
            let side = (n as f64).sqrt().ceil() as usize;
            for i in 0..n {
                if (i + 1) % side != 0 && i + 1 < n {
                    edges.push((i, i + 1));
                }
                if i + side < n {
                    edges.push((i, i + side));
                }
            }
        }
        Shape::RingChords => {
            for i in 0..n {
                edges.push((i, (i + 1) % n));
                let j = rng.below(n as u64) as usize;
                if j != i {
                    edges.push((i, j));
                }
            }
        }
    }
    let mut links: Vec<Vec<Link>> = vec![Vec::new(); n];
    let cost = |rng: &mut Rng| match shape {
        Shape::GridUnit => 1,
        _ => 1 + rng.below(100) as u32,
    };
    for &(a, b) in &edges {
        for (from, to) in [(a, b), (b, a)] {
            let c = cost(&mut rng);
            links[from].push(Link {
                neighbor: rid(to),
                cost: c,
                next_hops: Vec::new(),
                port: None,
            });
        }
    }
    // The root (router 0) reaches each neighbour through its own gateway.
    for (k, link) in links[0].iter_mut().enumerate() {
        link.next_hops = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, k as u8 + 1))];
        link.port = Some(format!("p{}", k % 4));
    }
    let mut lsdb = Lsdb::new();
    for (i, links) in links.into_iter().enumerate() {
        let loopback = Ipv4Net::new(Ipv4Addr::from(0xac10_0000 + i as u32), 32).unwrap();
        let lan = Ipv4Net::new(Ipv4Addr::from(0x6400_0000 + ((i as u32) << 8)), 24).unwrap();
        lsdb.install(RouterLsa {
            router_id: rid(i),
            sequence: 1,
            links,
            stubs: vec![
                Stub {
                    prefix: IpNet::V4(loopback),
                    cost: 0,
                },
                Stub {
                    prefix: IpNet::V4(lan),
                    cost: 1 + rng.below(10) as u32,
                },
            ],
            transits: vec![],
        });
    }
    lsdb
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("spf");
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for shape in [Shape::Grid, Shape::GridUnit, Shape::RingChords] {
        for n in [1_000, 10_000, 100_000] {
            let lsdb = topology(shape, n, 0x5eed_0000 + n as u64);
            let result = spf::run_timed(&lsdb, rid(0), port_of, Some(Instant::now));
            let t = result.timings();
            let max_hops = result
                .routes()
                .iter()
                .map(|r| r.paths.len())
                .max()
                .unwrap_or(0);
            eprintln!(
                "spf/{}/{n}: {} links, {} reachable, {} routes (up to {max_hops} first hops); \
                 one run: graph {:?}, dijkstra {:?}, routes {:?}",
                shape.name(),
                lsdb.iter().map(|l| l.links.len()).sum::<usize>(),
                result.reachable().count(),
                result.routes().len(),
                t.graph,
                t.dijkstra,
                t.routes,
            );
            assert_eq!(
                result.reachable().count(),
                n - 1,
                "the topology is connected"
            );
            g.bench_with_input(BenchmarkId::new(shape.name(), n), &lsdb, |b, lsdb| {
                b.iter(|| black_box(spf::run(black_box(lsdb), rid(0), port_of)))
            });
        }
    }
    g.finish();

    // The same runs timed by the thread's CPU clock: on a shared machine
    // (the 2-core box these numbers come from runs other builds too), wall
    // time also counts the time the thread waited for a core.
    let mut g = c.benchmark_group("spf-thread-cpu");
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for shape in [Shape::Grid, Shape::GridUnit, Shape::RingChords] {
        for n in [1_000, 10_000, 100_000] {
            let lsdb = topology(shape, n, 0x5eed_0000 + n as u64);
            g.bench_with_input(BenchmarkId::new(shape.name(), n), &lsdb, |b, lsdb| {
                b.iter_custom(|iters| {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(spf::run(black_box(lsdb), rid(0), port_of));
                    }
                    thread_cpu_time() - start
                })
            });
        }
    }
    g.finish();

    // Reloading the LSDB file: parse and check (all or nothing), then
    // replace the database router by router.
    let mut g = c.benchmark_group("lsdb-file");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    let lsdb = topology(Shape::RingChords, 10_000, 0x5eed_0000 + 10_000);
    let text = file::to_toml(lsdb.iter());
    eprintln!(
        "lsdb-file/10000: {} bytes, {} lines",
        text.len(),
        text.lines().count()
    );
    g.bench_function("parse/10000", |b| {
        b.iter(|| black_box(file::parse(black_box(&text), "bench.toml").unwrap()))
    });
    g.bench_function("replace-all/10000", |b| {
        let lsas = file::parse(&text, "bench.toml").unwrap();
        b.iter(|| {
            let mut held = lsdb.clone();
            black_box(held.replace_all(black_box(lsas.clone())))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
