//! BGP inside [`super::routing::Routing`]: loading `[bgp]`'s inputs into a
//! [`BgpRib`] (all or nothing) and keeping the RIB's eBGP/iBGP routes equal
//! to BGP's selection as next-hop reachability changes.
//!
//! `[[bgp.table]]` (pfx2as/CIDR) routes do not use
//! [`crate::control::bgp::table::table_updates`]' synthetic next hops
//! (198.18.0.0/15, reachable only in benchmarks): every route of the table
//! has the configured peer address as its next hop, so it resolves through
//! whatever route covers the peer (normally a connected subnet), as a real
//! session's routes would. Routes of the other address family than the
//! peer's are skipped (and counted): an IPv4 next hop for an IPv6 prefix is
//! not something the RIB resolves.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use crate::config::BgpConfig;
use crate::control::bgp::mrt::read_mrt;
use crate::control::bgp::{AsPath, BgpRib, DecisionConfig, Origin, PathAttrs, Peer, RouteChange};
use crate::control::rib::Rib;
use crate::control::route::RouteSource;
use crate::tables::{load_routes, LoadOptions};

/// Above this many changes from one re-run, the RIB's BGP routes are
/// replaced whole (one pass) rather than one prefix at a time.
const INCREMENTAL_LIMIT: usize = 1024;

/// What one `[[bgp.mrt]]` or `[[bgp.table]]` input gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpInputLoad {
    pub file: PathBuf,
    /// "mrt" or "table".
    pub kind: &'static str,
    pub peers: usize,
    pub routes: u64,
    /// Records or routes left out (malformed, no next hop, wrong family).
    pub skipped: u64,
}

/// Where the time of the last load (and its hand-over to the RIB) went:
/// for the load benchmark and the daemon's start-up line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadPhases {
    /// Reading and parsing the input files.
    pub parse: Duration,
    /// Filling the Adj-RIBs-In.
    pub adj_rib_in: Duration,
    /// The decision process over every prefix.
    pub decision: Duration,
    /// Handing the selection to the RIB (merge and next-hop resolution).
    pub rib: Duration,
}

/// The BGP table and where its routes came from.
pub struct BgpState {
    pub rib: BgpRib,
    pub inputs: Vec<BgpInputLoad>,
    pub phases: LoadPhases,
}

impl BgpState {
    /// Reads every input of `config` into a fresh BGP table; the first
    /// unreadable or malformed file fails the whole load (with its name
    /// and position). Nothing is decided yet: [`BgpState::push_all`]
    /// decides every prefix once, against the RIB the routes go to.
    pub fn load(config: &BgpConfig) -> Result<Self, String> {
        let mut rib = BgpRib::new(DecisionConfig {
            always_compare_med: config.always_compare_med,
            multipath: config.multipath,
            ..DecisionConfig::default()
        });
        let mut inputs = Vec::new();
        let mut phases = LoadPhases::default();
        for file in &config.mrt {
            let t = Instant::now();
            let dump = read_mrt(file).map_err(|e| format!("bgp.mrt: {e}"))?;
            phases.parse += t.elapsed();
            let t = Instant::now();
            let skipped = dump.skipped;
            let load = rib
                .load_mrt_bulk(dump, config.local_as)
                .map_err(|e| format!("bgp.mrt: {}: {e}", file.display()))?;
            inputs.push(BgpInputLoad {
                file: file.clone(),
                kind: "mrt",
                peers: load.peers.len(),
                routes: load.routes,
                skipped,
            });
            phases.adj_rib_in += t.elapsed();
        }
        for table in &config.tables {
            let t = Instant::now();
            let routes = load_routes(&table.file, &LoadOptions::default())
                .map_err(|e| format!("bgp.table: {e}"))?;
            phases.parse += t.elapsed();
            let t = Instant::now();
            let router_id = match table.peer {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let peer = rib
                .add_peer(Peer::new(
                    table.peer,
                    table.peer_as,
                    router_id,
                    config.local_as,
                ))
                .map_err(|e| format!("bgp.table: {}: {e}", table.file.display()))?;
            let attrs = rib.intern(PathAttrs::new(
                Origin::Igp,
                AsPath::sequence(&[table.peer_as]),
                table.peer,
            ));
            let total = (routes.v4.len() + routes.v6.len()) as u64;
            let loaded = match table.peer {
                IpAddr::V4(_) => rib.insert_bulk(
                    routes
                        .v4
                        .iter()
                        .map(|&(n, _)| (peer, IpNet::V4(n), attrs.clone())),
                ),
                IpAddr::V6(_) => rib.insert_bulk(
                    routes
                        .v6
                        .iter()
                        .map(|&(n, _)| (peer, IpNet::V6(n), attrs.clone())),
                ),
            }
            .map_err(|e| e.to_string())?;
            inputs.push(BgpInputLoad {
                file: table.file.clone(),
                kind: "table",
                peers: 1,
                routes: loaded,
                skipped: total - loaded,
            });
            phases.adj_rib_in += t.elapsed();
        }
        Ok(BgpState {
            rib,
            inputs,
            phases,
        })
    }

    /// Decides every prefix against `rib` (once, after a load or a reload)
    /// and makes the RIB's eBGP and iBGP routes exactly BGP's selection.
    pub fn push_all(&mut self, rib: &mut Rib) {
        let t = Instant::now();
        self.rib.rerun_all(&*rib, |_| {});
        self.phases.decision = t.elapsed();
        let t = Instant::now();
        self.hand_over(rib);
        self.phases.rib = t.elapsed();
    }

    /// Makes the RIB's eBGP and iBGP routes BGP's current selection, in one
    /// pass per source.
    fn hand_over(&self, rib: &mut Rib) {
        let [ebgp, ibgp] = self.rib.selected_tables();
        rib.replace_table(ebgp);
        rib.replace_table(ibgp);
    }

    /// After `rib`'s non-BGP routes changed (next hops reachable or not, IGP
    /// costs): re-decides the prefixes whose next hops' resolution changed
    /// and applies what changed; returns the number of prefixes whose BGP
    /// route changed.
    pub fn rerun(&mut self, rib: &mut Rib) -> usize {
        let mut changes = Vec::new();
        self.rib.rerun(&*rib, |c| changes.push(c));
        if changes.len() > INCREMENTAL_LIMIT {
            self.hand_over(rib);
            return changes.len();
        }
        for change in &changes {
            match change {
                RouteChange::Unchanged => {}
                RouteChange::Installed(route) => {
                    // The route may have moved between eBGP and iBGP.
                    let other = match route.source {
                        RouteSource::Ebgp => RouteSource::Ibgp,
                        _ => RouteSource::Ebgp,
                    };
                    rib.update(other, route.prefix, None);
                    rib.update(route.source, route.prefix, Some(route));
                }
                RouteChange::Withdrawn(prefix) => {
                    rib.update(RouteSource::Ebgp, *prefix, None);
                    rib.update(RouteSource::Ibgp, *prefix, None);
                }
            }
        }
        changes.len()
    }

    /// `show bgp` text: the summary, then one line per input.
    pub fn summary_text(&self) -> String {
        let mut text = self.rib.summary().to_string();
        for i in &self.inputs {
            text.push_str(&format!(
                "input {} {}: {} peer(s), {} routes, {} skipped\n",
                i.kind,
                i.file.display(),
                i.peers,
                i.routes,
                i.skipped
            ));
        }
        text
    }
}
