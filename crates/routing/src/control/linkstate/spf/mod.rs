//! Dijkstra SPF from this router over the two-way links of the LSDB, with
//! equal-cost multipath, and the routes to the stub prefixes it yields.
//!
//! The LSDB is first flattened into a compact graph: routers are numbered
//! in router-id order, each router's links become a slice of one
//! `(neighbour index, cost)` array sorted by neighbour, so the two-way check
//! of a link is a binary search in the neighbour's slice. The first hops
//! (this router's own usable links, deduplicated by port and gateway) are
//! numbered too, and every router carries the set of first hops of its
//! shortest paths as a bitset in one flat array: following a strictly
//! shorter path copies the predecessor's set, an equal-cost one ORs it in.
//!
//! Transit networks (OSPF network LSAs) are vertices too, numbered after
//! the routers: a router's transit link leads to the network at its cost,
//! the network leads to each attached router at cost 0 (RFC 2328 §16.1).
//! The routers on a network this router is attached to are first hops
//! themselves, through their own address on it.
//!
//! Router-to-anything costs are at least 1 and only network-to-router
//! edges cost 0, and of equal costs networks are settled first: so every
//! vertex on a shortest path to `v` is settled before `v` is, and a
//! vertex's set is complete when it is popped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use super::lsdb::{Lsdb, NetworkLsa, RouterId, RouterLsa};
use crate::control::hash::FastMap;
use crate::control::rib::route::{RibRoute, Via};
use crate::fib::PortId;

mod stubs;
use stubs::StubRoutes;

const UNREACHABLE: u64 = u64::MAX;

/// One of this router's links that SPF could not use as a first hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnusableLink {
    pub neighbor: RouterId,
    pub reason: String,
}

/// Where the time of one SPF run went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpfTimings {
    /// Flattening the LSDB into the compact graph.
    pub graph: Duration,
    /// Dijkstra proper.
    pub dijkstra: Duration,
    /// Stub prefixes to routes.
    pub routes: Duration,
}

impl SpfTimings {
    pub fn total(&self) -> Duration {
        self.graph + self.dijkstra + self.routes
    }
}

/// The outcome of one SPF run.
#[derive(Debug, Clone)]
pub struct SpfResult {
    root: RouterId,
    /// Router ids by index (router-id order).
    ids: Vec<RouterId>,
    cost: Vec<u64>,
    /// `words` bitset words per router: which first hops its shortest paths use.
    hops: Vec<u64>,
    words: usize,
    /// First hops by bit number.
    first_hops: Vec<Via>,
    routes: Vec<RibRoute>,
    unroutable: Vec<IpNet>,
    unusable: Vec<UnusableLink>,
    timings: SpfTimings,
}

impl SpfResult {
    pub fn root(&self) -> RouterId {
        self.root
    }

    /// The cost of the shortest path to `router`; `None` when it is
    /// unreachable or unknown. The root's own cost is 0.
    pub fn cost(&self, router: RouterId) -> Option<u64> {
        let i = self.ids.binary_search(&router).ok()?;
        Some(self.cost[i]).filter(|&c| c != UNREACHABLE)
    }

    /// The first hops of all shortest paths to `router` (empty for the
    /// root itself and for unreachable routers), ordered as [`Via`] is.
    pub fn first_hops(&self, router: RouterId) -> Vec<Via> {
        match self.ids.binary_search(&router) {
            Ok(i) if self.cost[i] != UNREACHABLE => {
                self.hops_of(&self.hops[i * self.words..][..self.words])
            }
            _ => Vec::new(),
        }
    }

    /// Reachable routers other than the root, in router-id order, with their
    /// cost.
    pub fn reachable(&self) -> impl Iterator<Item = (RouterId, u64)> + '_ {
        self.ids
            .iter()
            .zip(&self.cost)
            .filter(|&(&id, &c)| c != UNREACHABLE && id != self.root)
            .map(|(&id, &c)| (id, c))
    }

    /// One route per stub prefix of a reachable router (this router's own
    /// stubs excepted, and [`unroutable`](Self::unroutable) ones), sorted by
    /// prefix.
    pub fn routes(&self) -> &[RibRoute] {
        &self.routes
    }

    pub fn into_routes(self) -> Vec<RibRoute> {
        self.routes
    }

    /// Stub prefixes of reachable routers whose shortest paths have no first
    /// hop of the prefix's family (an IPv6 stub behind links with IPv4 `via`s
    /// only): not routed.
    pub fn unroutable(&self) -> &[IpNet] {
        &self.unroutable
    }

    /// This router's links that could not be first hops, with why.
    pub fn unusable_links(&self) -> &[UnusableLink] {
        &self.unusable
    }

    pub fn timings(&self) -> SpfTimings {
        self.timings
    }

    fn hops_of(&self, set: &[u64]) -> Vec<Via> {
        let mut out = Vec::new();
        for (w, &word) in set.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                out.push(self.first_hops[w * 64 + b]);
            }
        }
        // Already in `Via` order: the bits are numbered so.
        out
    }
}

/// The time from `a` to `b`; zero without a clock.
fn between(a: Option<Instant>, b: Option<Instant>) -> Duration {
    a.zip(b).map_or(Duration::ZERO, |(a, b)| b - a)
}

/// Runs SPF over `lsdb` from `root`. `port_of` maps the port names of the
/// root's links to port ids (the config's `port_id`); a root link whose port
/// is unknown, or that lacks a via/port, is reported in
/// [`SpfResult::unusable_links`] and not used.
pub fn run(lsdb: &Lsdb, root: RouterId, port_of: impl Fn(&str) -> Option<PortId>) -> SpfResult {
    run_timed(lsdb, root, port_of, None)
}

/// [`run`], with its phases timed by `clock` ([`SpfResult::timings`]; zero
/// without one: this layer reads no clock of its own).
pub fn run_timed(
    lsdb: &Lsdb,
    root: RouterId,
    port_of: impl Fn(&str) -> Option<PortId>,
    clock: Option<fn() -> Instant>,
) -> SpfResult {
    let now = || clock.map(|c| c());
    let started = now();
    let graph = Graph::build(lsdb);
    let root_index = graph.index(root);
    let mut unusable = Vec::new();
    // (neighbour index, cost, first hop) of each usable root link.
    let mut root_vias = Vec::new();
    if let (Some(r), Some(lsa)) = (root_index, lsdb.get(root)) {
        for link in &lsa.links {
            let Some(v) = graph.index(link.neighbor) else {
                continue; // no LSA: not two-way, shown as such by `show`.
            };
            if !graph.lists(v, r) {
                continue;
            }
            let port = match &link.port {
                Some(name) if !link.next_hops.is_empty() => match port_of(name) {
                    Some(port) => port,
                    None => {
                        unusable.push(UnusableLink {
                            neighbor: link.neighbor,
                            reason: format!("port {name:?} is not configured"),
                        });
                        continue;
                    }
                },
                _ => {
                    unusable.push(UnusableLink {
                        neighbor: link.neighbor,
                        reason: "no via/port: cannot be a first hop".to_string(),
                    });
                    continue;
                }
            };
            for &gateway in &link.next_hops {
                root_vias.push((v, link.cost, Some(Via::Gateway { port, gateway })));
            }
        }
        root_transit_vias(&graph, r, lsa, &port_of, &mut root_vias, &mut unusable);
    }
    // Bits are numbered in `Via` order, so reading a set's bits in order
    // yields its first hops already sorted: no sort per route.
    let mut first_hops: Vec<Via> = root_vias.iter().filter_map(|&(_, _, via)| via).collect();
    first_hops.sort_unstable();
    first_hops.dedup();
    let root_links: Vec<(u32, u32, Option<usize>)> = root_vias
        .iter()
        .map(|&(v, c, via)| {
            (
                v,
                c,
                via.and_then(|via| first_hops.binary_search(&via).ok()),
            )
        })
        .collect();
    let graph_done = now();
    let words = first_hops.len().div_ceil(64).max(1);
    let n = graph.vertices();
    let mut cost = vec![UNREACHABLE; n];
    let mut hops = vec![0u64; n * words];
    if let Some(r) = root_index {
        dijkstra(&graph, r, &root_links, words, &mut cost, &mut hops);
    }
    let dijkstra_done = now();
    let (routes, unroutable) = StubRoutes {
        root: root_index,
        cost: &cost,
        hops: &hops,
        words,
        first_hops: &first_hops,
    }
    .build(&graph);
    let finished = now();
    SpfResult {
        root,
        ids: graph.ids,
        cost,
        hops,
        words,
        first_hops,
        routes,
        unroutable,
        unusable,
        timings: SpfTimings {
            graph: between(started, graph_done),
            dijkstra: between(graph_done, dijkstra_done),
            routes: between(dijkstra_done, finished),
        },
    }
}

/// The LSDB as index-addressed adjacency slices.
struct Graph<'a> {
    /// The LSAs by router index (walking the LSDB's tree once, not per pass).
    lsas: Vec<&'a RouterLsa>,
    /// Sorted (the LSDB iterates in router-id order).
    ids: Vec<RouterId>,
    /// The transit networks, numbered from `ids.len()` on in id order.
    networks: Vec<&'a NetworkLsa>,
    /// `adj[offsets[u]..offsets[u + 1]]`: u's links to vertices that have
    /// an LSA, as (neighbour index, cost), sorted by neighbour.
    offsets: Vec<u32>,
    adj: Vec<(u32, u32)>,
}

impl<'a> Graph<'a> {
    fn build(lsdb: &'a Lsdb) -> Graph<'a> {
        let lsas: Vec<&RouterLsa> = lsdb.iter().collect();
        let ids: Vec<RouterId> = lsas.iter().map(|l| l.router_id).collect();
        // A hash index rather than a binary search over `ids`: one probe
        // instead of ~14 unpredictable branches per link.
        let mut index: FastMap<RouterId, u32> =
            HashMap::with_capacity_and_hasher(ids.len(), Default::default());
        index.extend(ids.iter().enumerate().map(|(i, &id)| (id, i as u32)));
        let networks: Vec<&NetworkLsa> = lsdb.networks().collect();
        let first_network = ids.len() as u32;
        let network_index = |id: Ipv4Addr| {
            networks
                .binary_search_by_key(&id, |n| n.id)
                .ok()
                .map(|i| first_network + i as u32)
        };
        let links: usize = lsas.iter().map(|l| l.links.len()).sum();
        let mut offsets = Vec::with_capacity(ids.len() + networks.len() + 1);
        let mut adj = Vec::with_capacity(links);
        offsets.push(0);
        for (u, lsa) in lsas.iter().enumerate() {
            let start = adj.len();
            for link in &lsa.links {
                match index.get(&link.neighbor) {
                    Some(&v) if v as usize != u => adj.push((v, link.cost)),
                    _ => {}
                }
            }
            for t in &lsa.transits {
                if let Some(v) = network_index(t.network) {
                    adj.push((v, t.cost));
                }
            }
            adj[start..].sort_unstable();
            offsets.push(adj.len() as u32);
        }
        let mut attached: Vec<(u32, u32)> = Vec::new();
        for network in &networks {
            // Deduplicated within the network's own slice only: the
            // earlier slices' offsets are fixed.
            attached.clear();
            attached.extend(
                network
                    .attached
                    .iter()
                    .filter_map(|r| Some((*index.get(r)?, 0))),
            );
            attached.sort_unstable();
            attached.dedup();
            adj.extend_from_slice(&attached);
            offsets.push(adj.len() as u32);
        }
        Graph {
            lsas,
            ids,
            networks,
            offsets,
            adj,
        }
    }

    /// Routers and networks.
    fn vertices(&self) -> usize {
        self.ids.len() + self.networks.len()
    }

    /// The vertex of transit network `id`.
    fn network(&self, id: Ipv4Addr) -> Option<u32> {
        self.networks
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| (self.ids.len() + i) as u32)
    }

    /// Of equal costs, networks are settled before routers (see the top).
    fn rank(&self, v: u32) -> u8 {
        u8::from((v as usize) < self.ids.len())
    }

    fn index(&self, id: RouterId) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| i as u32)
    }

    fn links(&self, u: u32) -> &[(u32, u32)] {
        &self.adj[self.offsets[u as usize] as usize..self.offsets[u as usize + 1] as usize]
    }

    /// True when router `v` lists a link to router `u` (two-way check).
    fn lists(&self, v: u32, u: u32) -> bool {
        self.links(v).binary_search_by_key(&u, |&(t, _)| t).is_ok()
    }
}

fn dijkstra(
    graph: &Graph<'_>,
    root: u32,
    root_links: &[(u32, u32, Option<usize>)],
    words: usize,
    cost: &mut [u64],
    hops: &mut [u64],
) {
    let mut heap = BinaryHeap::with_capacity(graph.vertices());
    cost[root as usize] = 0;
    for &(v, c, bit) in root_links {
        let rank = graph.rank(v);
        let v = v as usize;
        let c = u64::from(c);
        let set = &mut hops[v * words..][..words];
        if c < cost[v] {
            cost[v] = c;
            set.fill(0);
            heap.push(Reverse((c, rank, v as u32)));
        }
        if let Some(bit) = bit.filter(|_| c == cost[v]) {
            set[bit / 64] |= 1 << (bit % 64);
        }
    }
    while let Some(Reverse((d, _, u))) = heap.pop() {
        if d > cost[u as usize] {
            continue; // a stale entry: u was settled at a lower cost.
        }
        for &(v, c) in graph.links(u) {
            let (vi, ui) = (v as usize, u as usize);
            let nd = d + u64::from(c);
            // The cost test first: it is a load from an array, the two-way
            // check a binary search in another router's links, and most
            // links (every one back towards the root) cannot improve.
            if nd > cost[vi] || v == root || !graph.lists(v, u) {
                continue;
            }
            if nd < cost[vi] {
                cost[vi] = nd;
                hops.copy_within(ui * words..(ui + 1) * words, vi * words);
                heap.push(Reverse((nd, graph.rank(v), v)));
            } else if nd == cost[vi] {
                for w in 0..words {
                    hops[vi * words + w] |= hops[ui * words + w];
                }
            }
        }
    }
}

/// The root's transit links as first hops (RFC 2328 §16.1.1): a network
/// the root is attached to is reached directly (no first hop); each other
/// router attached to it is a first hop through its own address there, at
/// the cost of the root's link. Only two-way attachments count: the
/// network lists the router and the router lists the network.
fn root_transit_vias(
    graph: &Graph<'_>,
    root: u32,
    lsa: &RouterLsa,
    port_of: &impl Fn(&str) -> Option<PortId>,
    out: &mut Vec<(u32, u32, Option<Via>)>,
    unusable: &mut Vec<UnusableLink>,
) {
    for t in &lsa.transits {
        let Some(n) = graph.network(t.network) else {
            continue;
        };
        if !graph.lists(n, root) {
            continue;
        }
        let Some(port) = t.port.as_deref().and_then(port_of) else {
            unusable.push(UnusableLink {
                neighbor: t.network,
                reason: format!("transit network {}: no configured port", t.network),
            });
            continue;
        };
        out.push((n, t.cost, None));
        for &(v, _) in graph.links(n) {
            if v == root || !graph.lists(v, n) {
                continue;
            }
            let neighbor = graph.lsas[v as usize];
            for theirs in neighbor.transits.iter().filter(|x| x.network == t.network) {
                let gateway = theirs.address;
                out.push((v, t.cost, Some(Via::Gateway { port, gateway })));
            }
        }
    }
}
