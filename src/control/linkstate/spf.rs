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
//! Link costs are at least 1, so every router on a shortest path to `v` is
//! settled before `v` is: a router's set is complete when it is popped.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use super::lsdb::{Lsdb, RouterId};
use crate::control::route::{RibRoute, RouteSource, Via};
use crate::fib::PortId;

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
        out.sort_unstable();
        out
    }
}

/// Runs SPF over `lsdb` from `root`. `port_of` maps the port names of the
/// root's links to port ids (the config's `port_id`); a root link whose port
/// is unknown, or that lacks a via/port, is reported in
/// [`SpfResult::unusable_links`] and not used.
pub fn run(lsdb: &Lsdb, root: RouterId, port_of: impl Fn(&str) -> Option<PortId>) -> SpfResult {
    let started = Instant::now();
    let graph = Graph::build(lsdb);
    let root_index = graph.index(root);
    let mut unusable = Vec::new();
    let mut first_hops: Vec<Via> = Vec::new();
    // (neighbour index, cost, first-hop bit) of each usable root link.
    let mut root_links = Vec::new();
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
                let via = Via::Gateway { port, gateway };
                let bit = match first_hops.iter().position(|&h| h == via) {
                    Some(bit) => bit,
                    None => {
                        first_hops.push(via);
                        first_hops.len() - 1
                    }
                };
                root_links.push((v, link.cost, bit));
            }
        }
    }
    let graph_done = Instant::now();
    let words = first_hops.len().div_ceil(64).max(1);
    let n = graph.ids.len();
    let mut cost = vec![UNREACHABLE; n];
    let mut hops = vec![0u64; n * words];
    if let Some(r) = root_index {
        dijkstra(&graph, r, &root_links, words, &mut cost, &mut hops);
    }
    let dijkstra_done = Instant::now();
    let (routes, unroutable) = stub_routes(lsdb, root_index, &cost, &hops, words, &first_hops);
    let finished = Instant::now();
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
            graph: graph_done - started,
            dijkstra: dijkstra_done - graph_done,
            routes: finished - dijkstra_done,
        },
    }
}

/// The LSDB as index-addressed adjacency slices.
struct Graph {
    /// Sorted (the LSDB iterates in router-id order).
    ids: Vec<RouterId>,
    /// `adj[offsets[u]..offsets[u + 1]]`: u's links to routers that have an
    /// LSA, as (neighbour index, cost), sorted by neighbour.
    offsets: Vec<u32>,
    adj: Vec<(u32, u32)>,
}

impl Graph {
    fn build(lsdb: &Lsdb) -> Graph {
        let ids: Vec<RouterId> = lsdb.iter().map(|l| l.router_id).collect();
        let links: usize = lsdb.iter().map(|l| l.links.len()).sum();
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut adj = Vec::with_capacity(links);
        offsets.push(0);
        for (u, lsa) in lsdb.iter().enumerate() {
            let start = adj.len();
            for link in &lsa.links {
                match ids.binary_search(&link.neighbor) {
                    Ok(v) if v != u => adj.push((v as u32, link.cost)),
                    _ => {}
                }
            }
            adj[start..].sort_unstable();
            offsets.push(adj.len() as u32);
        }
        Graph { ids, offsets, adj }
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
    graph: &Graph,
    root: u32,
    root_links: &[(u32, u32, usize)],
    words: usize,
    cost: &mut [u64],
    hops: &mut [u64],
) {
    let mut heap = BinaryHeap::with_capacity(graph.ids.len());
    cost[root as usize] = 0;
    for &(v, c, bit) in root_links {
        let v = v as usize;
        let c = u64::from(c);
        let set = &mut hops[v * words..][..words];
        if c < cost[v] {
            cost[v] = c;
            set.fill(0);
            heap.push(Reverse((c, v as u32)));
        }
        if c == cost[v] {
            set[bit / 64] |= 1 << (bit % 64);
        }
    }
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > cost[u as usize] {
            continue; // a stale entry: u was settled at a lower cost.
        }
        for &(v, c) in graph.links(u) {
            if v == root || !graph.lists(v, u) {
                continue;
            }
            let (vi, ui) = (v as usize, u as usize);
            let nd = d + u64::from(c);
            if nd < cost[vi] {
                cost[vi] = nd;
                hops.copy_within(ui * words..(ui + 1) * words, vi * words);
                heap.push(Reverse((nd, v)));
            } else if nd == cost[vi] {
                for w in 0..words {
                    hops[vi * words + w] |= hops[ui * words + w];
                }
            }
        }
    }
}

/// Per prefix: the lowest total cost over the routers announcing it, and
/// the union of their first hops at that cost.
fn stub_routes(
    lsdb: &Lsdb,
    root: Option<u32>,
    cost: &[u64],
    hops: &[u64],
    words: usize,
    first_hops: &[Via],
) -> (Vec<RibRoute>, Vec<IpNet>) {
    let mut best: HashMap<IpNet, usize, BuildHasherDefault<FastHasher>> = HashMap::default();
    // (prefix, total cost, first-hop bitset) by index in `best`.
    let mut found: Vec<(IpNet, u64, Vec<u64>)> = Vec::new();
    for (u, lsa) in lsdb.iter().enumerate() {
        if cost[u] == UNREACHABLE || Some(u as u32) == root {
            continue;
        }
        let set = &hops[u * words..][..words];
        for stub in &lsa.stubs {
            let total = cost[u] + u64::from(stub.cost);
            match best.entry(stub.prefix) {
                Entry::Vacant(e) => {
                    e.insert(found.len());
                    found.push((stub.prefix, total, set.to_vec()));
                }
                Entry::Occupied(e) => {
                    let (_, held, held_set) = &mut found[*e.get()];
                    if total < *held {
                        *held = total;
                        held_set.copy_from_slice(set);
                    } else if total == *held {
                        held_set.iter_mut().zip(set).for_each(|(h, s)| *h |= s);
                    }
                }
            }
        }
    }
    let mut routes = Vec::with_capacity(found.len());
    let mut unroutable = Vec::new();
    for (prefix, total, set) in found {
        let mut paths = Vec::new();
        for (w, &word) in set.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let via = first_hops[w * 64 + b];
                if same_family(&via, &prefix) {
                    paths.push(via);
                }
            }
        }
        if paths.is_empty() {
            unroutable.push(prefix);
            continue;
        }
        paths.sort_unstable();
        routes.push(RibRoute {
            prefix,
            source: RouteSource::LinkState,
            // Costs are at most 24 bits per hop; a path longer than u32
            // allows is still a route, at the largest metric.
            metric: u32::try_from(total).unwrap_or(u32::MAX),
            paths,
        });
    }
    routes.sort_unstable_by_key(|r| r.prefix);
    unroutable.sort_unstable();
    (routes, unroutable)
}

/// A first hop serves a prefix of its gateway's family only.
fn same_family(via: &Via, prefix: &IpNet) -> bool {
    match via {
        Via::Gateway { gateway, .. } => gateway.is_ipv4() == matches!(prefix, IpNet::V4(_)),
        _ => false,
    }
}

/// FxHash's multiply-rotate: the stub table hashes tens of thousands of
/// prefixes per run, which SipHash would make a visible part of SPF. The
/// keys come from our own LSDB file, not from the network.
#[derive(Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
