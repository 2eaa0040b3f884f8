//! Helpers shared by the benches beyond `ferroute::testkit` (data files,
//! the seeded RNG, frames, the two-port rig): destination traces.

#![allow(dead_code)] // each bench uses a part

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ferroute::fib::Fib;
use ferroute::tables::{load_routes, LoadOptions};
use ferroute::testkit::rig::adjacency_fib;
use ferroute::testkit::{data_file, Rng};
use ipnet::{Ipv4Net, Ipv6Net};

pub mod lpm;

/// Distinct destinations cycled through, so the lookup is not served from a
/// handful of hot cache lines.
pub const POOL: usize = 1 << 16;

/// Addresses inside random table prefixes (the "inside prefixes" trace).
pub fn v4_destinations(routes: &[(Ipv4Net, u32)], rng: &mut Rng) -> Vec<Ipv4Addr> {
    (0..POOL)
        .map(|_| {
            let (net, _) = routes[rng.below(routes.len() as u64) as usize];
            let host_bits = 32 - net.prefix_len() as u32;
            let host = if host_bits == 0 {
                0
            } else {
                (rng.next_u64() as u32) & (u32::MAX >> (32 - host_bits))
            };
            Ipv4Addr::from(u32::from(net.network()) | host)
        })
        .collect()
}

pub fn v6_destinations(routes: &[(Ipv6Net, u32)], rng: &mut Rng) -> Vec<Ipv6Addr> {
    (0..POOL)
        .map(|_| {
            let (net, _) = routes[rng.below(routes.len() as u64) as usize];
            let host_bits = 128 - net.prefix_len() as u32;
            let random = rng.u128();
            let host = if host_bits == 0 {
                0
            } else {
                random & (u128::MAX >> (128 - host_bits))
            };
            Ipv6Addr::from(u128::from(net.network()) | host)
        })
        .collect()
}

/// The CAIDA 2024 IPv4 table (`min_peers` as the loader takes it), every
/// prefix through one of 64 adjacencies on p1; `None` without the data.
pub fn caida_v4(min_peers: u32) -> Option<(Vec<(Ipv4Net, u32)>, Fib)> {
    let path = data_file("caida-routeviews-rv2-20240406.pfx2as.gz")?;
    let opts = LoadOptions {
        nexthops: 64,
        min_peers,
    };
    let routes = load_routes(&path, &opts).expect("load IPv4 table").v4;
    let mut fib = adjacency_fib(64);
    for &(net, nh) in &routes {
        fib.v4.insert(net, nh);
    }
    Some((routes, fib))
}

/// Times `iters` passes of `run` over `batch`, each refilled (untimed,
/// as a NIC's DMA leaves frames in the cache) with the next frames cycled
/// from `frames`, starting after `at`.
pub fn timed_batches(
    iters: u64,
    frames: &[Vec<u8>],
    batch: &mut [Vec<u8>],
    at: &mut usize,
    mut run: impl FnMut(&mut [Vec<u8>]),
) -> Duration {
    let mut spent = Duration::ZERO;
    let n = batch.len();
    for _ in 0..iters {
        *at = (*at + n) % POOL;
        for (buf, src) in batch.iter_mut().zip(&frames[*at..*at + n]) {
            buf.copy_from_slice(src);
        }
        let start = Instant::now();
        run(batch);
        spent += start.elapsed();
    }
    spent
}
