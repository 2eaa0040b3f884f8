//! OSPF at scale, sans IO: a neighbour holds a database of N router LSAs
//! (a 100 x 100 grid for N = 10,000: four point-to-point links and a stub
//! each, as a large area floods them) and a fresh speaker forms an
//! adjacency with it over a point-to-point link. Measured: the CPU time
//! from the first hello to Full with the whole database installed (hellos,
//! the DD exchange, requests and updates both ways, every LSA checksummed
//! and installed), with the simulated clock jumping to each next deadline
//! so no waiting is counted. Printed once per size: how many packets it
//! took and the bytes of LSAs the new speaker holds.
//!
//! SPF over such a database is `benches/spf.rs` (10k routers: 1.6–2.6 ms);
//! here the planted routers are not reachable from the new speaker (only
//! its neighbour could link to them), so its SPF is not part of the time.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

use ferroute::control::ospf::interface::{InterfaceConfig, NetworkType};
use ferroute::control::ospf::neighbor::NeighborState;
use ferroute::control::ospf::speaker::Speaker;
use ferroute::control::ospf::wire::lsa::{self, LsaBody, LsaKey, LsaType};
use ferroute::control::ospf::wire::{Authentication, RouterLink, RouterLinkType};

const NEW: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const HOLDER: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);

fn iface(address: &str) -> InterfaceConfig {
    InterfaceConfig {
        port: 0,
        name: "p0".into(),
        address: address.parse().unwrap(),
        network: NetworkType::PointToPoint,
        cost: 10,
        hello_interval: 10,
        dead_interval: 40,
        priority: 1,
        retransmit_interval: 5,
        mtu: 1500,
        authentication: Authentication::Null,
        v3: None,
    }
}

/// The router LSAs of a `side` x `side` grid (router ids 10.0.0.0 up).
fn grid(side: usize) -> Vec<Vec<u8>> {
    let id = |r: usize, c: usize| Ipv4Addr::from(0x0a00_0000 + (r * side + c) as u32);
    let mut out = Vec::with_capacity(side * side);
    for r in 0..side {
        for c in 0..side {
            let mut links = Vec::new();
            let neighbours = [
                (r.wrapping_sub(1), c),
                (r + 1, c),
                (r, c.wrapping_sub(1)),
                (r, c + 1),
            ];
            for (nr, nc) in neighbours {
                if nr < side && nc < side {
                    links.push(RouterLink {
                        kind: RouterLinkType::PointToPoint,
                        id: id(nr, nc),
                        data: id(r, c),
                        metric: 10,
                    });
                }
            }
            links.push(RouterLink {
                kind: RouterLinkType::Stub,
                id: Ipv4Addr::from(0x6400_0000 + ((r * side + c) as u32) * 256),
                data: Ipv4Addr::new(255, 255, 255, 0),
                metric: 1,
            });
            let key = LsaKey {
                ls_type: LsaType::Router,
                ls_id: id(r, c),
                adv_router: id(r, c),
            };
            out.push(lsa::build(
                key,
                1,
                0x02,
                i32::MIN + 1,
                &LsaBody::Router { flags: 0, links },
            ));
        }
    }
    out
}

/// The neighbour holding `lsas`, as of `now`.
fn holder(lsas: &[Vec<u8>], now: Instant) -> Speaker {
    let mut s = Speaker::new(
        HOLDER,
        Ipv4Addr::UNSPECIFIED,
        vec![iface("10.0.0.2/30")],
        now,
    );
    for l in lsas {
        assert!(s.database_mut().install(l.clone(), now));
    }
    s
}

/// Runs the two speakers until the new one is Full with the holder;
/// returns the packets exchanged.
fn to_full(new: &mut Speaker, holder: &mut Speaker, mut now: Instant) -> usize {
    let addresses = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
    let mut packets = 0;
    for _ in 0..100_000 {
        let full = new.interfaces()[0].neighbor_state(HOLDER) == Some(NeighborState::Full);
        if full {
            return packets;
        }
        let mut moved = false;
        for (turn, &source) in addresses.iter().enumerate() {
            let (from, to) = if turn == 0 {
                (&mut *new, &mut *holder)
            } else {
                (&mut *holder, &mut *new)
            };
            while let Some(out) = from.poll_transmit() {
                moved = true;
                packets += 1;
                to.receive(now, 0, source, out.destination, &out.bytes);
            }
        }
        if !moved {
            let next = [new.poll_timeout(), holder.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a timer");
            now = now.max(next);
            new.handle_timeout(now);
            holder.handle_timeout(now);
        }
    }
    panic!("never Full");
}

fn exchange(c: &mut Criterion) {
    let mut group = c.benchmark_group("ospf-exchange");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for side in [32usize, 100] {
        let lsas = grid(side);
        let n = lsas.len();
        // Once, for the record.
        let now = Instant::now();
        let mut h = holder(&lsas, now);
        let mut s = Speaker::new(NEW, Ipv4Addr::UNSPECIFIED, vec![iface("10.0.0.1/30")], now);
        let packets = to_full(&mut s, &mut h, now);
        let bytes: usize = s.database().iter().map(|(_, e)| e.bytes.len()).sum();
        println!(
            "ospf-exchange/{n}: Full after {packets} packets; the new speaker holds {} LSAs, {bytes} bytes of them",
            s.database().len()
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &lsas, |b, lsas| {
            b.iter_batched(
                || {
                    let now = Instant::now();
                    let h = holder(lsas, now);
                    let s =
                        Speaker::new(NEW, Ipv4Addr::UNSPECIFIED, vec![iface("10.0.0.1/30")], now);
                    (s, h, now)
                },
                |(mut s, mut h, now)| black_box(to_full(&mut s, &mut h, now)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, exchange);
criterion_main!(benches);
