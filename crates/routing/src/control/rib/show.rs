//! What operators see of the RIB: per-prefix explanations (every source's
//! route, which one won and why the others lost) and a summary.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::route::SOURCE_COUNT;
use super::route::{RouteSource, Via};
use super::{Candidate, Rib};
use crate::fib::NextHop;

/// One source's route for a prefix.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub source: RouteSource,
    pub distance: u8,
    pub metric: u32,
    pub paths: Vec<Via>,
    /// The resolved next hops (empty: unresolvable).
    pub next_hops: Vec<String>,
    /// The FIB group these paths use.
    pub group: u32,
    pub selected: bool,
    /// Why it won, or why it lost.
    pub reason: String,
}

/// Every route for one prefix, the winner first.
#[derive(Debug, Clone, Serialize)]
pub struct RouteExplanation {
    pub prefix: IpNet,
    /// The address asked about, when the prefix was found by longest match.
    pub address: Option<IpAddr>,
    pub selected: Option<RouteSource>,
    pub routes: Vec<CandidateView>,
}

/// Counts for `show routes` without an argument.
#[derive(Debug, Clone, Serialize)]
pub struct RibSummary {
    pub prefixes: usize,
    pub installed: usize,
    pub by_source: Vec<(RouteSource, usize)>,
    pub selected_by_source: Vec<(RouteSource, usize)>,
    pub path_sets: usize,
    pub unresolvable_path_sets: usize,
}

/// A next hop in words.
pub fn describe(nh: &NextHop) -> String {
    match nh {
        NextHop::Adjacency { port, mac } => format!("port {port} lladdr {mac}"),
        NextHop::Glean { port } => format!("port {port} attached (glean)"),
        NextHop::Unresolved { port, gateway } => {
            format!("via {gateway} port {port} (MAC unresolved)")
        }
        NextHop::Local => "local".to_string(),
        NextHop::Discard(action) => action.name().to_string(),
    }
}

fn describe_via(v: &Via) -> String {
    match v {
        Via::Attached { port } => format!("attached port {port}"),
        Via::Gateway { port, gateway } => format!("via {gateway} port {port}"),
        Via::Recursive { address } => format!("via {address} (recursive)"),
        Via::Local => "local".to_string(),
        Via::Discard { action } => action.name().to_string(),
    }
}

impl Rib {
    /// The routes for exactly `prefix`.
    pub fn explain(&self, prefix: IpNet) -> Option<RouteExplanation> {
        let prefix = prefix.trunc();
        let state = self.prefixes.get(&prefix)?;
        let key = |c: &Candidate| (self.distances.of(c.source), c.metric, c.source.index());
        let mut cands: Vec<Candidate> = state.candidates(&self.several).to_vec();
        cands.sort_by_key(|c| key(c));
        let winner = cands
            .iter()
            .find(|c| Some(c.paths) == state.installed(&self.several))
            .copied();
        let routes = cands
            .iter()
            .map(|c| {
                let set = self.paths.get(c.paths);
                let resolvable = set.is_some_and(|s| s.resolvable());
                let selected = Some(*c) == winner;
                let reason = match (selected, winner) {
                    (true, _) => {
                        if cands.len() == 1 {
                            "only route".to_string()
                        } else {
                            "lowest distance, then metric, of the usable routes".to_string()
                        }
                    }
                    _ if !resolvable => {
                        let addrs: Vec<String> = set
                            .map(|s| {
                                s.paths
                                    .iter()
                                    .filter_map(|v| match v {
                                        Via::Recursive { address } => Some(address.to_string()),
                                        _ => None,
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        format!(
                            "unusable: no non-BGP route resolves next hop {}",
                            addrs.join(", ")
                        )
                    }
                    (false, Some(w)) => {
                        let (d, wd) = (self.distances.of(c.source), self.distances.of(w.source));
                        if d != wd {
                            format!("distance {d} > {wd} ({})", w.source.name())
                        } else if c.metric != w.metric {
                            format!("metric {} > {} ({})", c.metric, w.metric, w.source.name())
                        } else {
                            format!("same distance and metric; {} is preferred", w.source.name())
                        }
                    }
                    (false, None) => "unusable".to_string(),
                };
                CandidateView {
                    source: c.source,
                    distance: self.distances.of(c.source),
                    metric: c.metric,
                    paths: set.map(|s| s.paths.to_vec()).unwrap_or_default(),
                    next_hops: set
                        .map(|s| s.members.iter().map(describe).collect())
                        .unwrap_or_default(),
                    group: c.paths,
                    selected,
                    reason,
                }
            })
            .collect();
        Some(RouteExplanation {
            prefix,
            address: None,
            selected: winner.map(|w| w.source),
            routes,
        })
    }

    /// The routes for the longest installed prefix covering `address` (or,
    /// if none is installed, the longest prefix with any route).
    pub fn explain_address(&self, address: IpAddr) -> Option<RouteExplanation> {
        let max = if address.is_ipv4() { 32 } else { 128 };
        let candidates = || {
            (0..=max)
                .rev()
                .filter_map(move |len| IpNet::new(address, len).ok().map(|n| n.trunc()))
        };
        let found = candidates()
            .find(|p| self.installed(*p).is_some())
            .or_else(|| candidates().find(|p| self.prefixes.contains_key(p)))?;
        let mut e = self.explain(found)?;
        e.address = Some(address);
        Some(e)
    }

    /// The neighbour addresses routes go through (gateways of static and
    /// link-state routes, the on-link neighbours BGP next hops resolve to),
    /// resolved or not, in no order: what the FIB needs resolved. A
    /// resolved neighbour's own host route (a connected route through
    /// itself) does not count, or every host once resolved would stay a
    /// gateway forever.
    pub fn gateway_addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.neighbor_deps.iter().filter_map(|(address, sets)| {
            let routes: u64 = sets
                .iter()
                .filter_map(|&id| self.paths.get(id))
                .map(|set| u64::from(set.refs))
                .sum();
            let own_host_route = u64::from(self.neighbors.contains_key(address));
            (routes > own_host_route).then_some(*address)
        })
    }

    pub fn summary(&self) -> RibSummary {
        let mut selected = [0usize; SOURCE_COUNT];
        let mut installed = 0;
        for s in self.prefixes.values() {
            if let Some(id) = s.installed(&self.several) {
                installed += 1;
                let candidates = s.candidates(&self.several);
                let winner = candidates
                    .iter()
                    .filter(|c| c.paths == id)
                    .min_by_key(|c| (self.distances.of(c.source), c.metric, c.source.index()));
                if let Some(w) = winner {
                    selected[w.source.index()] += 1;
                }
            }
        }
        RibSummary {
            prefixes: self.prefixes.len(),
            installed,
            by_source: RouteSource::all()
                .map(|s| (s, self.source_routes[s.index()]))
                .collect(),
            selected_by_source: RouteSource::all()
                .map(|s| (s, selected[s.index()]))
                .collect(),
            path_sets: self.paths.len(),
            unresolvable_path_sets: self.paths.iter().filter(|(_, p)| !p.resolvable()).count(),
        }
    }
}

impl fmt::Display for RouteExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(a) => writeln!(f, "{a}: longest match {}", self.prefix)?,
            None => writeln!(f, "{}", self.prefix)?,
        }
        if self.selected.is_none() {
            writeln!(f, "  not installed: no usable route")?;
        }
        for r in &self.routes {
            let mut line = String::new();
            let _ = write!(
                line,
                "  {} {} distance {} metric {} group {}",
                if r.selected { "*" } else { " " },
                r.source.name(),
                r.distance,
                r.metric,
                r.group
            );
            writeln!(f, "{line}: {}", r.reason)?;
            for p in &r.paths {
                writeln!(f, "      path {}", describe_via(p))?;
            }
            for nh in &r.next_hops {
                writeln!(f, "      -> {nh}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for RibSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} prefixes, {} installed, {} path sets ({} unresolvable)",
            self.prefixes, self.installed, self.path_sets, self.unresolvable_path_sets
        )?;
        for ((s, n), (_, sel)) in self.by_source.iter().zip(&self.selected_by_source) {
            writeln!(f, "  {:<10} {n:>9} routes {sel:>9} selected", s.name())?;
        }
        Ok(())
    }
}
