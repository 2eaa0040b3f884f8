//! From the SPF outcome to routes: each stub prefix (and each transit
//! network's prefix) gets the lowest total cost over the routers announcing
//! it and the union of their first hops at that cost.

use ipnet::IpNet;

use super::{Graph, UNREACHABLE};
use crate::control::rib::route::{RibRoute, RouteSource, Via};

/// What turning stub prefixes into routes needs of the SPF outcome.
pub(super) struct StubRoutes<'a> {
    pub(super) root: Option<u32>,
    pub(super) cost: &'a [u64],
    pub(super) hops: &'a [u64],
    pub(super) words: usize,
    pub(super) first_hops: &'a [Via],
}

impl StubRoutes<'_> {
    /// Per prefix: the lowest total cost over the routers announcing it, and
    /// the union of their first hops at that cost. Rather than a hash table
    /// of prefixes, every (prefix, total cost, router) goes into a flat
    /// vector sorted by prefix: a prefix's announcements are then adjacent,
    /// and the routes come out in prefix order (IPv4 before IPv6, as
    /// `IpNet` orders them) without sorting the routes themselves.
    pub(super) fn build(&self, graph: &Graph<'_>) -> (Vec<RibRoute>, Vec<IpNet>) {
        let lsas = &graph.lsas;
        let mut v4: Vec<(u64, u64, u32)> = Vec::new();
        let mut v6: Vec<((u128, u8), u64, u32)> = Vec::new();
        let stubs: usize = lsas.iter().map(|l| l.stubs.len()).sum();
        v4.reserve(stubs);
        for (u, lsa) in lsas.iter().enumerate() {
            if self.cost[u] == UNREACHABLE || Some(u as u32) == self.root {
                continue;
            }
            for stub in &lsa.stubs {
                let total = self.cost[u] + u64::from(stub.cost);
                // Keys that order as `Ipv4Net`/`Ipv6Net` do: address, then
                // length (the address as stored, host bits and all).
                match stub.prefix {
                    IpNet::V4(p) => v4.push((
                        u64::from(u32::from(p.addr())) << 8 | u64::from(p.prefix_len()),
                        total,
                        u as u32,
                    )),
                    IpNet::V6(p) => {
                        v6.push(((u128::from(p.addr()), p.prefix_len()), total, u as u32))
                    }
                }
            }
        }
        // A transit network's prefix, unless it is one of this router's
        // own (reached with no first hop: connected).
        for (i, network) in graph.networks.iter().enumerate() {
            let u = graph.ids.len() + i;
            let held = &self.hops[u * self.words..][..self.words];
            if self.cost[u] == UNREACHABLE || held.iter().all(|&w| w == 0) {
                continue;
            }
            for prefix in &network.prefixes {
                match prefix.trunc() {
                    IpNet::V4(p) => v4.push((
                        u64::from(u32::from(p.addr())) << 8 | u64::from(p.prefix_len()),
                        self.cost[u],
                        u as u32,
                    )),
                    IpNet::V6(p) => v6.push((
                        (u128::from(p.addr()), p.prefix_len()),
                        self.cost[u],
                        u as u32,
                    )),
                }
            }
        }
        let mut out = Routes {
            routes: Vec::with_capacity(v4.len() + v6.len()),
            unroutable: Vec::new(),
            set: vec![0; self.words],
        };
        let v4_mask = self.family_mask(true);
        self.merge(&mut v4, &v4_mask, &mut out, |key| {
            let len = (key & 0xff) as u8;
            let addr = std::net::Ipv4Addr::from((key >> 8) as u32);
            ipnet::Ipv4Net::new(addr, len).map(IpNet::V4).ok()
        });
        let v6_mask = self.family_mask(false);
        self.merge(&mut v6, &v6_mask, &mut out, |(addr, len)| {
            ipnet::Ipv6Net::new(addr.into(), len).map(IpNet::V6).ok()
        });
        (out.routes, out.unroutable)
    }

    /// The first-hop bits whose gateway is of the family (IPv4 or not).
    fn family_mask(&self, v4: bool) -> Vec<u64> {
        let mut mask = vec![0u64; self.words];
        for (bit, via) in self.first_hops.iter().enumerate() {
            if matches!(via, Via::Gateway { gateway, .. } if gateway.is_ipv4() == v4) {
                mask[bit / 64] |= 1 << (bit % 64);
            }
        }
        mask
    }

    /// Sorts one family's announcements by prefix and makes a route (or an
    /// unroutable prefix) of each run of equal prefixes. `prefix_of` turns
    /// a key back into its prefix; the keys come from valid prefixes, so it
    /// always succeeds.
    fn merge<K: Ord + Copy>(
        &self,
        entries: &mut [(K, u64, u32)],
        mask: &[u64],
        out: &mut Routes,
        prefix_of: impl Fn(K) -> Option<IpNet>,
    ) {
        let words = self.words;
        entries.sort_unstable_by_key(|e| e.0);
        for group in entries.chunk_by(|a, b| a.0 == b.0) {
            let Some(prefix) = prefix_of(group[0].0) else {
                continue;
            };
            let best = group.iter().map(|e| e.1).min().unwrap_or(UNREACHABLE);
            out.set.fill(0);
            for &(_, total, u) in group {
                if total == best {
                    let held = &self.hops[u as usize * words..][..words];
                    out.set.iter_mut().zip(held).for_each(|(s, h)| *s |= h);
                }
            }
            out.set.iter_mut().zip(mask).for_each(|(s, m)| *s &= m);
            let count: u32 = out.set.iter().map(|w| w.count_ones()).sum();
            if count == 0 {
                out.unroutable.push(prefix);
                continue;
            }
            // Exactly sized, and already in `Via` order (bits are numbered
            // so): one allocation per route, which `RibRoute` owns.
            let mut paths = Vec::with_capacity(count as usize);
            for (w, &word) in out.set.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    paths.push(self.first_hops[w * 64 + b]);
                }
            }
            out.routes.push(RibRoute {
                prefix,
                source: RouteSource::LINK_STATE,
                // Costs are at most 24 bits per hop; a path longer than u32
                // allows is still a route, at the largest metric.
                metric: u32::try_from(best).unwrap_or(u32::MAX),
                paths,
            });
        }
    }
}

/// The routes and unroutable prefixes found so far, and a scratch set.
struct Routes {
    routes: Vec<RibRoute>,
    unroutable: Vec<IpNet>,
    set: Vec<u64>,
}
