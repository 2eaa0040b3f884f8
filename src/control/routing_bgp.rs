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

use ipnet::IpNet;
use serde::Serialize;

use crate::config::BgpConfig;
use crate::control::bgp::mrt::read_mrt;
use crate::control::bgp::{
    AsPath, BgpRib, BgpUpdate, DecisionConfig, Origin, PathAttrs, Peer, RouteChange,
};
use crate::control::rib::Rib;
use crate::control::route::{NextHopResolver, RouteSource};
use crate::lpm::load::{load_routes, LoadOptions};

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

/// The BGP table and where its routes came from.
pub struct BgpState {
    pub rib: BgpRib,
    pub inputs: Vec<BgpInputLoad>,
}

impl BgpState {
    /// Reads every input of `config` into a fresh BGP table; the first
    /// unreadable or malformed file fails the whole load (with its name
    /// and position). `resolver` only seeds the decision: the caller
    /// re-runs it against the RIB the routes will go to.
    pub fn load(config: &BgpConfig, resolver: &dyn NextHopResolver) -> Result<Self, String> {
        let mut rib = BgpRib::new(DecisionConfig {
            always_compare_med: config.always_compare_med,
            multipath: config.multipath,
            ..DecisionConfig::default()
        });
        let mut inputs = Vec::new();
        for file in &config.mrt {
            let dump = read_mrt(file).map_err(|e| format!("bgp.mrt: {e}"))?;
            let skipped = dump.skipped;
            let load = rib
                .load_mrt(dump, config.local_as, resolver, |_| {})
                .map_err(|e| format!("bgp.mrt: {}: {e}", file.display()))?;
            inputs.push(BgpInputLoad {
                file: file.clone(),
                kind: "mrt",
                peers: load.peers.len(),
                routes: load.routes,
                skipped,
            });
        }
        for table in &config.tables {
            let routes = load_routes(&table.file, &LoadOptions::default())
                .map_err(|e| format!("bgp.table: {e}"))?;
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
            let prefixes: Vec<IpNet> = match table.peer {
                IpAddr::V4(_) => routes.v4.iter().map(|&(n, _)| IpNet::V4(n)).collect(),
                IpAddr::V6(_) => routes.v6.iter().map(|&(n, _)| IpNet::V6(n)).collect(),
            };
            let total = (routes.v4.len() + routes.v6.len()) as u64;
            for &prefix in &prefixes {
                let update = BgpUpdate {
                    peer,
                    prefix,
                    attrs: Some(attrs.clone()),
                };
                rib.apply(update, resolver).map_err(|e| e.to_string())?;
            }
            inputs.push(BgpInputLoad {
                file: table.file.clone(),
                kind: "table",
                peers: 1,
                routes: prefixes.len() as u64,
                skipped: total - prefixes.len() as u64,
            });
        }
        Ok(BgpState { rib, inputs })
    }

    /// Re-decides every prefix against `rib` and makes the RIB's eBGP and
    /// iBGP routes exactly BGP's selection (after a load or a reload).
    pub fn push_all(&mut self, rib: &mut Rib) {
        self.rib.rerun_all(&*rib, |_| {});
        let (ebgp, ibgp) = self
            .rib
            .selected_routes()
            .partition(|r| r.source == RouteSource::Ebgp);
        rib.replace_source(RouteSource::Ebgp, ebgp);
        rib.replace_source(RouteSource::Ibgp, ibgp);
    }

    /// Re-decides every prefix against `rib` after its non-BGP routes
    /// changed (next hops reachable or not, IGP costs) and applies what
    /// changed; returns the number of prefixes whose BGP route changed.
    pub fn rerun(&mut self, rib: &mut Rib) -> usize {
        let mut changes = Vec::new();
        self.rib.rerun_all(&*rib, |c| changes.push(c));
        if changes.len() > INCREMENTAL_LIMIT {
            self.push_all(rib);
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
