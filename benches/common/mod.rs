//! Helpers shared by the benches beyond `ferroute::testkit` (data files,
//! the seeded RNG, frames, the two-port rig): destination traces.

#![allow(dead_code)] // each bench uses a part

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ferroute::fib::Fib;
use ferroute::tables::{load_routes, LoadOptions};
use ferroute::testkit::rig::adjacency_fib;
pub use ferroute::testkit::thread_cpu_time;
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
    let fib = published_v4(routes.iter().copied());
    Some((routes, fib))
}

/// The FIB workers would read with `routes` through 64 adjacencies on p1
/// (next hop `i` is adjacency `i`), published.
pub fn published_v4(routes: impl IntoIterator<Item = (Ipv4Net, u32)>) -> Fib {
    let mut fib = adjacency_fib(64);
    for (net, nh) in routes {
        fib.v4.insert(net, nh);
    }
    as_published(&mut fib);
    fib
}

/// Makes `fib`'s tables what workers read: the lookup-only copies the
/// control plane publishes (`FibPublisher`; IPv4's packed when the table
/// allows).
pub fn as_published(fib: &mut Fib) {
    let (v4, v6) = (fib.v4.lookup_copy(), fib.v6.lookup_copy());
    (*fib.v4, *fib.v6) = (v4, v6);
}

/// Times `iters` passes of `run` over `batch`, each refilled (untimed,
/// as a NIC's DMA leaves frames in the cache) with the next frames cycled
/// from `frames`, starting after `at`.
pub fn timed_batches(
    iters: u64,
    frames: &[Vec<u8>],
    batch: &mut [Vec<u8>],
    at: &mut usize,
    run: impl FnMut(&mut [Vec<u8>]),
) -> Duration {
    timed_batches_on(Clock::Wall, iters, frames, batch, at, run)
}

/// Which clock a bench reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Elapsed time: on a machine shared with builders it includes the
    /// time the scheduler gave them (a run of `benches/stages` got a third
    /// of a core at load 8).
    Wall,
    /// This thread's CPU time, less the cost of reading the clock: the
    /// code's own time (caches other processes disturbed still count).
    ThreadCpu,
}

impl Clock {
    pub fn now(self) -> Duration {
        match self {
            Clock::Wall => CLOCK_ORIGIN.get_or_init(Instant::now).elapsed(),
            Clock::ThreadCpu => thread_cpu_time(),
        }
    }

    /// Time spent from `start` (an earlier [`Clock::now`]).
    pub fn since(self, start: Duration) -> Duration {
        let spent = self.now().saturating_sub(start);
        match self {
            Clock::Wall => spent,
            Clock::ThreadCpu => spent.saturating_sub(*CPU_READ_COST.get_or_init(cpu_read_cost)),
        }
    }
}

static CLOCK_ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
static CPU_READ_COST: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// What one start/stop pair of thread-CPU reads costs (the least of many).
fn cpu_read_cost() -> Duration {
    (0..10_000)
        .map(|_| {
            let start = thread_cpu_time();
            thread_cpu_time().saturating_sub(start)
        })
        .min()
        .unwrap_or_default()
}

/// [`timed_batches`] on `clock`.
pub fn timed_batches_on(
    clock: Clock,
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
        let start = clock.now();
        run(batch);
        spent += clock.since(start);
    }
    spent
}
