//! The LPM benchmarks' tables and address traces, shared by the criterion
//! bench (`benches/lpm.rs`) and the same-run Poptrie comparison
//! (`examples/lpm_poptrie.rs`), so both measure exactly the same addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroute::lpm::NextHopId;
use ferroute::tables::{load_routes, LoadOptions};
use ferroute::testkit::Rng;
use ipnet::{Ipv4Net, Ipv6Net};

use ferroute::testkit::data_file;

/// IPv4: CAIDA pfx2as 2024-04 (998,042 routes).
pub const V4_TABLE: &str = "caida-routeviews-rv2-20240406.pfx2as.gz";
/// IPv6: RIS whois dump 2024-12, kept when seen by ≥ [`V6_MIN_PEERS`] peers (228,726).
pub const V6_TABLE: &str = "ripe-ris-riswhoisdump-IPv6-20241220.gz";
pub const V6_MIN_PEERS: u32 = 10;
/// The LINX one-hour update trace.
pub const UPDATES: &str = "linx-update.20141217.0000-p52.txt.gz";

/// Length of one run of consecutive addresses in the sequential trace.
pub const SEQ_RUN: usize = 4096;

/// The three address traces of one family.
pub struct Traces<A> {
    /// Uniform random addresses (IPv6: inside 2000::/3).
    pub uniform: Vec<A>,
    /// A random address inside a random table prefix.
    pub inside: Vec<A>,
    /// Runs of [`SEQ_RUN`] consecutive addresses from the starts of random table prefixes.
    pub sequential: Vec<A>,
}

impl<A: Copy> Traces<A> {
    pub fn named(&self) -> [(&'static str, &[A]); 3] {
        [
            ("uniform", &self.uniform),
            ("inside", &self.inside),
            ("sequential", &self.sequential),
        ]
    }
}

pub fn v4_traces(routes: &[(Ipv4Net, NextHopId)], n: usize) -> Traces<Ipv4Addr> {
    let mut rng = Rng::new(0x00c0_ffee);
    let uniform = (0..n)
        .map(|_| Ipv4Addr::from(rng.next_u64() as u32))
        .collect();
    let inside = (0..n)
        .map(|_| {
            let (p, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
            let host = rng.next_u64() as u32 & u32::from(p.hostmask());
            Ipv4Addr::from(u32::from(p.network()) | host)
        })
        .collect();
    let sequential = (0..n / SEQ_RUN)
        .flat_map(|_| {
            let (p, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
            let start = u32::from(p.network());
            (0..SEQ_RUN as u32).map(move |i| Ipv4Addr::from(start.wrapping_add(i)))
        })
        .collect();
    Traces {
        uniform,
        inside,
        sequential,
    }
}

pub fn v6_traces(routes: &[(Ipv6Net, NextHopId)], n: usize) -> Traces<Ipv6Addr> {
    let mut rng = Rng::new(0x00c0_ffee);
    let uniform = (0..n)
        .map(|_| Ipv6Addr::from((rng.u128() >> 3) | (1 << 125)))
        .collect();
    let inside = (0..n)
        .map(|_| {
            let (p, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
            let host = rng.u128() & u128::from(p.hostmask());
            Ipv6Addr::from(u128::from(p.network()) | host)
        })
        .collect();
    let sequential = (0..n / SEQ_RUN)
        .flat_map(|_| {
            let (p, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
            let start = u128::from(p.network());
            (0..SEQ_RUN as u128).map(move |i| Ipv6Addr::from(start.wrapping_add(i)))
        })
        .collect();
    Traces {
        uniform,
        inside,
        sequential,
    }
}

pub type V4Routes = Vec<(Ipv4Net, NextHopId)>;
pub type V6Routes = Vec<(Ipv6Net, NextHopId)>;

/// Both benchmark tables (64 next hops: hash of origin AS), or `None` with a
/// skip message when the data is missing.
pub fn load_tables() -> Option<(V4Routes, V6Routes)> {
    let v4 = load_routes(data_file(V4_TABLE)?, &LoadOptions::default()).expect("v4 table");
    let six = LoadOptions {
        min_peers: V6_MIN_PEERS,
        ..LoadOptions::default()
    };
    let v6 = load_routes(data_file(V6_TABLE)?, &six).expect("v6 table");
    Some((v4.v4, v6.v6))
}
