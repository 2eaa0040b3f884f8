//! Helpers shared by the benches beyond `ferroute::testkit` (data files,
//! the seeded RNG, frames, the two-port rig): destination traces.

#![allow(dead_code)] // each bench uses a part

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroute::testkit::Rng;
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
