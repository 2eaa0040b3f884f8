//! What `ferroute show bgp` and `ferroute show routes` print about BGP:
//! serde-serialisable, with a plain-text `Display`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::Serialize;

use super::adj_rib_in::BgpRib;
use super::attrs::{AsPath, Origin};
use super::decision::{Contender, DecisionConfig, DecisionProcess, RouteStatus};
use super::peer::PeerKind;
use super::policy::syntax;
use crate::control::rib::route::NextHopResolver;

/// `show bgp`: the decision knobs, the table's size, and per peer what it
/// sent and how much of it won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpSummary {
    pub config: DecisionConfig,
    /// Prefixes with at least one route.
    pub prefixes: usize,
    /// Routes over all Adj-RIBs-In.
    pub paths: u64,
    /// Heap bytes of the Adj-RIBs-In's prefix map (not the attributes).
    pub table_bytes: usize,
    pub attribute_sets: usize,
    pub peers: Vec<PeerSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerSummary {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub kind: PeerKind,
    /// Prefixes in its Adj-RIB-In.
    pub received: u64,
    /// Prefixes where its route is the best.
    pub best: u64,
}

/// `show routes PREFIX`, BGP part: every route received for the prefix, the
/// selected one(s) first, each with why it lost if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixExplanation {
    pub prefix: IpNet,
    pub candidates: Vec<CandidateExplanation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateExplanation {
    pub peer: IpAddr,
    pub peer_asn: u32,
    pub router_id: Ipv4Addr,
    pub kind: PeerKind,
    pub next_hop: IpAddr,
    /// `None`: the next hop is unresolvable.
    pub igp_cost: Option<u32>,
    /// As received (`None`: absent; the decision used the default).
    pub local_pref: Option<u32>,
    pub as_path: AsPath,
    pub as_path_length: u32,
    pub origin: Origin,
    pub med: Option<u32>,
    /// Communities (RFC 1997) as written in policies (`65001:100`).
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    /// ONLY_TO_CUSTOMER (RFC 9234).
    pub otc: Option<u32>,
    /// Installed as a blackhole (an import policy said so, RFC 7999).
    pub blackhole: bool,
    pub status: RouteStatus,
}

impl BgpRib {
    /// The `show bgp` summary.
    pub fn summary(&self) -> BgpSummary {
        BgpSummary {
            config: *self.config(),
            prefixes: self.prefix_count(),
            paths: self.path_count(),
            table_bytes: self.routes.memory_bytes(),
            attribute_sets: self.attribute_sets(),
            peers: self
                .peers
                .iter()
                .map(|s| PeerSummary {
                    address: s.peer.address,
                    asn: s.peer.asn,
                    router_id: s.peer.router_id,
                    kind: s.peer.kind,
                    received: s.received,
                    best: s.best,
                })
                .collect(),
        }
    }

    /// Re-runs the decision for `prefix` against `resolver` (the RIB's current
    /// view) and explains it; `None` if no peer sent a route for it.
    pub fn explain(
        &self,
        prefix: &IpNet,
        resolver: &dyn NextHopResolver,
    ) -> Option<PrefixExplanation> {
        let prefix = prefix.trunc();
        let cands = self.routes.get(&prefix)?;
        let peer = |i: usize| &self.peers[cands[i].peer.0 as usize].peer;
        let mut decision = DecisionProcess::new(*self.config());
        decision.run(
            cands.len(),
            |i| Contender {
                peer: peer(i),
                attrs: &cands[i].attrs,
            },
            resolver,
        );
        let mut candidates: Vec<CandidateExplanation> = (0..cands.len())
            .map(|i| {
                let (p, a) = (peer(i), &cands[i].attrs);
                CandidateExplanation {
                    peer: p.address,
                    peer_asn: p.asn,
                    router_id: p.router_id,
                    kind: p.kind,
                    next_hop: a.next_hop,
                    igp_cost: decision.igp_cost(i),
                    local_pref: a.local_pref,
                    as_path: a.as_path.clone(),
                    as_path_length: a.as_path.length(),
                    origin: a.origin,
                    med: a.med,
                    communities: a
                        .communities
                        .iter()
                        .map(|&c| syntax::show_community(c))
                        .collect(),
                    large_communities: a
                        .large_communities
                        .iter()
                        .map(|[g, l1, l2]| format!("{g}:{l1}:{l2}"))
                        .collect(),
                    otc: a.otc,
                    blackhole: a.blackhole,
                    status: decision.status(i),
                }
            })
            .collect();
        let rank = |s: &RouteStatus| match s {
            RouteStatus::Best => (0, None),
            RouteStatus::Multipath => (1, None),
            RouteStatus::Rejected(r) => (2, Some(std::cmp::Reverse(*r))),
        };
        candidates.sort_by_key(|c| (rank(&c.status), c.peer));
        Some(PrefixExplanation { prefix, candidates })
    }
}

impl fmt::Display for BgpSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "BGP: {} prefixes, {} paths ({:.1} MB), {} attribute sets; always-compare-med {}, multipath {}, default local-pref {}",
            self.prefixes,
            self.paths,
            self.table_bytes as f64 / 1e6,
            self.attribute_sets,
            self.config.always_compare_med,
            self.config.multipath,
            self.config.default_local_pref
        )?;
        writeln!(
            f,
            "{:<40} {:>10} {:<15} {:<5} {:>10} {:>10}",
            "peer", "AS", "router id", "kind", "received", "best"
        )?;
        for p in &self.peers {
            writeln!(
                f,
                "{:<40} {:>10} {:<15} {:<5} {:>10} {:>10}",
                p.address,
                p.asn,
                p.router_id,
                p.kind.name(),
                p.received,
                p.best
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for PrefixExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} BGP route(s)", self.prefix, self.candidates.len())?;
        for c in &self.candidates {
            let status = match c.status {
                RouteStatus::Best => "best".to_string(),
                RouteStatus::Multipath => "multipath".to_string(),
                RouteStatus::Rejected(r) => format!("lost: {}", r.describe()),
            };
            let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
            writeln!(
                f,
                "  {status:<32} from {} (AS {}, id {}, {}) via {} igp-cost {} local-pref {} as-path [{}] (len {}) origin {} med {}",
                c.peer,
                c.peer_asn,
                c.router_id,
                c.kind.name(),
                c.next_hop,
                opt(c.igp_cost),
                opt(c.local_pref),
                c.as_path,
                c.as_path_length,
                c.origin.name(),
                opt(c.med)
            )?;
            let mut extra = String::new();
            if !c.communities.is_empty() {
                extra += &format!(" communities {}", c.communities.join(" "));
            }
            if !c.large_communities.is_empty() {
                extra += &format!(" large-communities {}", c.large_communities.join(" "));
            }
            if let Some(otc) = c.otc {
                extra += &format!(" otc {otc}");
            }
            if c.blackhole {
                extra += " blackhole";
            }
            if !extra.is_empty() {
                writeln!(f, "  {:<32}{extra}", "")?;
            }
        }
        Ok(())
    }
}
