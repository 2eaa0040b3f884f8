//! What `ferroute show linkstate` prints: the LSDB as this router sees it
//! after the last SPF run.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use super::lsdb::{Lsdb, RouterId};
use super::spf::{SpfResult, SpfTimings, UnusableLink};
use crate::control::rib::route::Via;
use crate::fib::PortId;

/// The `--json` form; the text form is [`LinkStateSummary::to_text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStateSummary {
    /// This router's id (the SPF root).
    pub router_id: RouterId,
    /// The LSDB's change counter.
    pub generation: u64,
    pub routers: Vec<RouterSummary>,
    /// `None` before the first SPF run.
    pub last_spf: Option<SpfRunSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterSummary {
    pub id: RouterId,
    pub sequence: u64,
    pub links: Vec<LinkSummary>,
    pub stubs: Vec<StubSummary>,
    /// Cost from this router at the last SPF run; `None` when unreachable.
    pub cost: Option<u64>,
    pub first_hops: Vec<Via>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkSummary {
    pub neighbor: RouterId,
    pub cost: u32,
    /// Both ends list each other (only such links are used).
    pub two_way: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StubSummary {
    pub prefix: IpNet,
    pub cost: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfRunSummary {
    /// Wall time of the whole run, in microseconds.
    pub duration_us: u64,
    pub graph_us: u64,
    pub dijkstra_us: u64,
    pub routes_us: u64,
    /// Reachable routers, this one excluded.
    pub reachable: usize,
    pub routes: usize,
    /// Stubs without a first hop of their family.
    pub unroutable: Vec<IpNet>,
    pub unusable_links: Vec<UnusableLink>,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SpfRunSummary {
    fn new(spf: &SpfResult) -> Self {
        let t: SpfTimings = spf.timings();
        SpfRunSummary {
            duration_us: micros(t.total()),
            graph_us: micros(t.graph),
            dijkstra_us: micros(t.dijkstra),
            routes_us: micros(t.routes),
            reachable: spf.reachable().count(),
            routes: spf.routes().len(),
            unroutable: spf.unroutable().to_vec(),
            unusable_links: spf.unusable_links().to_vec(),
        }
    }
}

impl LinkStateSummary {
    /// `spf` is the last run (over this LSDB or an earlier one: costs then
    /// describe that run; `generation` tells whether one is pending).
    pub fn new(lsdb: &Lsdb, router_id: RouterId, spf: Option<&SpfResult>) -> Self {
        let routers = lsdb
            .iter()
            .map(|lsa| RouterSummary {
                id: lsa.router_id,
                sequence: lsa.sequence,
                links: lsa
                    .links
                    .iter()
                    .map(|l| LinkSummary {
                        neighbor: l.neighbor,
                        cost: l.cost,
                        two_way: lsdb.is_two_way(lsa.router_id, l.neighbor),
                        via: l.next_hops.clone(),
                        port: l.port.clone(),
                    })
                    .collect(),
                stubs: lsa
                    .stubs
                    .iter()
                    .map(|s| StubSummary {
                        prefix: s.prefix,
                        cost: s.cost,
                    })
                    .collect(),
                cost: spf.and_then(|s| s.cost(lsa.router_id)),
                first_hops: spf.map(|s| s.first_hops(lsa.router_id)).unwrap_or_default(),
            })
            .collect();
        LinkStateSummary {
            router_id,
            generation: lsdb.generation(),
            routers,
            last_spf: spf.map(SpfRunSummary::new),
        }
    }

    /// For people: one block per router. `port_name` turns port ids back
    /// into the config's names.
    pub fn to_text(&self, port_name: impl Fn(PortId) -> Option<String>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "link-state: router {}, {} routers in the LSDB (generation {})",
            self.router_id,
            self.routers.len(),
            self.generation
        );
        match &self.last_spf {
            None => out.push_str("last SPF: not run yet\n"),
            Some(s) => {
                let _ = writeln!(
                    out,
                    "last SPF: {} us (graph {}, dijkstra {}, routes {}), {} routers reachable, {} routes",
                    s.duration_us, s.graph_us, s.dijkstra_us, s.routes_us, s.reachable, s.routes
                );
                for p in &s.unroutable {
                    let _ = writeln!(out, "  unroutable {p}: no first hop of its family");
                }
                for u in &s.unusable_links {
                    let _ = writeln!(out, "  unusable link to {}: {}", u.neighbor, u.reason);
                }
            }
        }
        let hop = |v: &Via| match v {
            Via::Gateway { port, gateway } => match port_name(*port) {
                Some(name) => format!("{gateway} on {name}"),
                None => format!("{gateway} on port {port}"),
            },
            other => format!("{other:?}"),
        };
        for r in &self.routers {
            let me = if r.id == self.router_id {
                " (this router)"
            } else {
                ""
            };
            let reach = match r.cost {
                Some(c) if r.id == self.router_id => format!("cost {c}"),
                Some(c) => {
                    let hops: Vec<String> = r.first_hops.iter().map(hop).collect();
                    format!("cost {c} via {}", hops.join(", "))
                }
                None => "unreachable".to_string(),
            };
            let _ = writeln!(out, "\nrouter {}{me} seq {}: {reach}", r.id, r.sequence);
            for l in &r.links {
                let way = if l.two_way {
                    ""
                } else {
                    "  [one-way: not used]"
                };
                let first = match &l.port {
                    Some(port) if !l.via.is_empty() => {
                        let via: Vec<String> = l.via.iter().map(IpAddr::to_string).collect();
                        format!(" via {} port {port}", via.join(", "))
                    }
                    _ => String::new(),
                };
                let _ = writeln!(out, "  link {:<15} cost {}{first}{way}", l.neighbor, l.cost);
            }
            for s in &r.stubs {
                let _ = writeln!(out, "  stub {:<18} cost {}", s.prefix.to_string(), s.cost);
            }
        }
        out
    }
}
