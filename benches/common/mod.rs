//! Helpers shared by the benches: the real tables, a fixed pseudo-random
//! sequence and destination traces.

#![allow(dead_code)] // each bench uses a part

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

pub mod lpm;

/// Distinct destinations cycled through, so the lookup is not served from a
/// handful of hot cache lines.
pub const POOL: usize = 1 << 16;

/// `$FERROUTE_DATA/data/NAME` (default `../shared/data`), or `None` with a
/// skip message; under `CI=true` a missing table is a failure.
pub fn data_file(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("FERROUTE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let path = root.join("data").join(name);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("benchmark table missing: {} (CI=true)", path.display());
    }
    eprintln!(
        "skipping benchmark: {} not found (set FERROUTE_DATA)",
        path.display()
    );
    None
}

/// splitmix64: a fixed, dependency-free pseudo-random sequence.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Addresses inside random table prefixes (the "inside prefixes" trace).
pub fn v4_destinations(routes: &[(Ipv4Net, u32)], rng: &mut Rng) -> Vec<Ipv4Addr> {
    (0..POOL)
        .map(|_| {
            let (net, _) = routes[(rng.next() % routes.len() as u64) as usize];
            let host_bits = 32 - net.prefix_len() as u32;
            let host = if host_bits == 0 {
                0
            } else {
                (rng.next() as u32) & (u32::MAX >> (32 - host_bits))
            };
            Ipv4Addr::from(u32::from(net.network()) | host)
        })
        .collect()
}

pub fn v6_destinations(routes: &[(Ipv6Net, u32)], rng: &mut Rng) -> Vec<Ipv6Addr> {
    (0..POOL)
        .map(|_| {
            let (net, _) = routes[(rng.next() % routes.len() as u64) as usize];
            let host_bits = 128 - net.prefix_len() as u32;
            let random = ((rng.next() as u128) << 64) | rng.next() as u128;
            let host = if host_bits == 0 {
                0
            } else {
                random & (u128::MAX >> (128 - host_bits))
            };
            Ipv6Addr::from(u128::from(net.network()) | host)
        })
        .collect()
}
