//! `[bgp]`'s file inputs, a part of the one BGP instance
//! ([`crate::control::bgp::speaker`]), which owns them: MRT RIB dumps and
//! pfx2as/CIDR tables loaded into a [`BgpRib`] (all or nothing), decided
//! against the RIB once every file is in, and kept equal to BGP's selection
//! as next-hop reachability changes (the RIB's best-route changes of
//! non-BGP sources drive the re-decision).
//!
//! `[[bgp.table]]` (pfx2as/CIDR) routes do not use
//! [`crate::control::bgp::table::table_updates`]' synthetic next hops
//! (198.18.0.0/15, reachable only in benchmarks): every route of the table
//! has the configured peer address as its next hop, so it resolves through
//! whatever route covers the peer (normally a connected subnet), as a real
//! session's routes would. Routes of the other address family than the
//! peer's are skipped (and counted): an IPv4 next hop for an IPv6 prefix is
//! not something the RIB resolves.
//!
//! Each file may name an import policy (`import`, as a peer's; default
//! "all": a file is what its operator chose to load). It runs on every
//! route as it is loaded, before the Adj-RIB-In, exactly as on a session's
//! routes: a rejected route is counted and left out, and `set.blackhole`
//! installs a route as a blackhole (RFC 7999), so a dump's BLACKHOLE
//! routes act offline as they would from the peer.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};

use crate::control::bgp::mrt::{parse_mrt, MrtDump};
use crate::control::bgp::policy::Policy;
use crate::control::bgp::{AsPath, BgpRib, DecisionConfig, Origin, PathAttrs, Peer, RouteChange};
use crate::control::protocol::{Reconfigured, RibView, RouteOutput};
use crate::control::queue;
use crate::control::rib::notify::BestRouteChange;
use crate::control::rib::route::RouteSource;
use crate::tables::{parse_routes, LoadOptions};

/// Above this many changes from one re-run, the RIB's BGP routes are
/// replaced whole (one pass) rather than one prefix at a time.
const INCREMENTAL_LIMIT: usize = 1024;

/// The protocol's name and configuration key.
pub const NAME: &str = "bgp";

/// `[bgp]`: decision knobs and route inputs; file paths are made relative
/// to the configuration file's directory by `Config::load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    pub local_as: u32,
    pub always_compare_med: bool,
    pub multipath: bool,
    /// `[[bgp.mrt]]` inputs, in file order.
    pub mrt: Vec<BgpMrtConfig>,
    /// `[[bgp.table]]` inputs, in file order.
    pub tables: Vec<BgpTableConfig>,
    /// `[[bgp.peer]]`: live sessions.
    pub peers: Vec<crate::control::bgp::speaker::BgpPeerConfig>,
    /// `redistribute`: the non-BGP sources whose routes are advertised
    /// (connected: the ports' subnets; static: the RIB's static routes).
    pub redistribute: Vec<RouteSource>,
}

/// An MRT RIB dump; its peers come from the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpMrtConfig {
    pub file: PathBuf,
    /// What the dump's routes pass through before the Adj-RIB-In.
    pub import: Policy,
}

/// A pfx2as/CIDR table announced by one peer: every route gets next hop
/// `peer` (so it resolves like the peer's session address would) and
/// AS_PATH `peer_as`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpTableConfig {
    pub file: PathBuf,
    pub peer: IpAddr,
    pub peer_as: u32,
    /// What the table's routes pass through before the Adj-RIB-In.
    pub import: Policy,
}

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
    /// Routes the file's import policy rejected.
    pub rejected: u64,
}

/// Where the time of the last load went: for the load benchmark and
/// `show bgp`. Measured with the diagnostics clock of [`ProtocolConfig`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LoadPhases {
    /// Parsing the input files.
    pub parse: Duration,
    /// Filling the Adj-RIBs-In.
    pub adj_rib_in: Duration,
    /// The decision process over every prefix.
    pub decision: Duration,
    /// Handing the selection to the RIB (merge and next-hop resolution;
    /// measured by whoever applies the routes).
    pub rib: Duration,
}

/// The time from `a` to `b` (zero without a clock).
fn since(a: Option<Instant>, b: Option<Instant>) -> Duration {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    }
}

/// One configured input file.
#[derive(Debug, Clone)]
enum FileKind {
    Mrt(BgpMrtConfig),
    Table(BgpTableConfig),
}

/// BGP fed from files.
pub struct BgpFileInput {
    config: BgpConfig,
    clock: Option<fn() -> Instant>,
    rib: BgpRib,
    /// Every configured file, in order, and whether it has been handed in.
    files: Vec<(PathBuf, FileKind, bool)>,
    inputs: Vec<BgpInputLoad>,
    phases: LoadPhases,
    /// Every file is in and the first decision over the whole table waits.
    decide_at: Option<Instant>,
    routes: VecDeque<RouteOutput>,
}

impl BgpFileInput {
    pub fn new(config: BgpConfig, clock: Option<fn() -> Instant>) -> Self {
        let mut input = BgpFileInput {
            config: config.clone(),
            clock,
            rib: BgpRib::new(DecisionConfig::default()),
            files: Vec::new(),
            inputs: Vec::new(),
            phases: LoadPhases::default(),
            decide_at: None,
            routes: VecDeque::new(),
        };
        input.reset(config);
        input
    }

    /// Starts from an empty table for `config`.
    fn reset(&mut self, config: BgpConfig) {
        self.rib = BgpRib::new(DecisionConfig {
            always_compare_med: config.always_compare_med,
            multipath: config.multipath,
            ..DecisionConfig::default()
        });
        self.files = config
            .mrt
            .iter()
            .map(|m| (m.file.clone(), FileKind::Mrt(m.clone()), false))
            .chain(
                config
                    .tables
                    .iter()
                    .map(|t| (t.file.clone(), FileKind::Table(t.clone()), false)),
            )
            .collect();
        self.config = config;
        self.inputs.clear();
        self.phases = LoadPhases::default();
        self.decide_at = None;
        self.routes.clear();
    }

    /// The diagnostics clock's time, if there is a clock.
    fn tick(&self) -> Option<Instant> {
        self.clock.map(|clock| clock())
    }

    /// The BGP table.
    pub fn bgp_rib(&self) -> &BgpRib {
        &self.rib
    }

    /// Every configured file is in.
    pub(crate) fn complete(&self) -> bool {
        self.decide_at.is_some()
    }

    /// The BGP table, for the live sessions that share it.
    pub(crate) fn bgp_rib_mut(&mut self) -> &mut BgpRib {
        &mut self.rib
    }

    fn load_mrt(
        &mut self,
        path: &Path,
        bytes: &[u8],
        mrt: &BgpMrtConfig,
    ) -> Result<BgpInputLoad, String> {
        let t = self.tick();
        let mut dump = parse_mrt(bytes).map_err(|(record, offset, message)| {
            format!(
                "bgp.mrt: {}: MRT record {record} at byte {offset}: {message}; file rejected",
                path.display()
            )
        })?;
        let t1 = self.tick();
        self.phases.parse += since(t, t1);
        let skipped = dump.skipped;
        let rejected = import_mrt(&mut dump, &mrt.import, self.config.local_as);
        let load = self
            .rib
            .load_mrt_bulk(dump, self.config.local_as)
            .map_err(|e| format!("bgp.mrt: {}: {e}", path.display()))?;
        self.phases.adj_rib_in += since(t1, self.tick());
        Ok(BgpInputLoad {
            file: path.to_owned(),
            kind: "mrt",
            peers: load.peers.len(),
            routes: load.routes,
            skipped,
            rejected,
        })
    }

    fn load_table(
        &mut self,
        path: &Path,
        bytes: &[u8],
        table: &BgpTableConfig,
    ) -> Result<BgpInputLoad, String> {
        let t = self.tick();
        let routes = parse_routes(bytes, &LoadOptions::default())
            .map_err(|e| format!("bgp.table: {}: {e}", path.display()))?;
        let t1 = self.tick();
        self.phases.parse += since(t, t1);
        let router_id = match table.peer {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let rib = &mut self.rib;
        let peer = rib
            .add_peer(Peer::new(
                table.peer,
                table.peer_as,
                router_id,
                self.config.local_as,
            ))
            .map_err(|e| format!("bgp.table: {}: {e}", path.display()))?;
        let attrs = PathAttrs::new(Origin::Igp, AsPath::sequence(&[table.peer_as]), table.peer);
        let total = (routes.v4.len() + routes.v6.len()) as u64;
        // The peer's family only (the other's routes are skipped, counted).
        let v4 = table.peer.is_ipv4();
        let prefixes = (routes.v4.iter().filter(|_| v4).map(|&(n, _)| IpNet::V4(n)))
            .chain(routes.v6.iter().filter(|_| !v4).map(|&(n, _)| IpNet::V6(n)));
        let local_as = self.config.local_as;
        let mut rejected = 0;
        let loaded = match &table.import {
            // Every route shares the one attribute set, streamed into the
            // Adj-RIB-In (a million-route table needs no list of it first).
            Policy::All => {
                let shared = rib.intern(attrs);
                rib.insert_bulk(prefixes.map(|p| (peer, p, shared.clone())))
            }
            policy => {
                let mut accepted = Vec::new();
                for p in prefixes {
                    match policy.apply(&p, attrs.clone(), local_as) {
                        Some(a) => accepted.push((peer, p, rib.intern(a))),
                        None => rejected += 1,
                    }
                }
                rib.insert_bulk(accepted)
            }
        }
        .map_err(|e| e.to_string())?;
        self.phases.adj_rib_in += since(t1, self.tick());
        Ok(BgpInputLoad {
            file: path.to_owned(),
            kind: "table",
            peers: 1,
            routes: loaded,
            skipped: total - loaded - rejected,
            rejected,
        })
    }

    /// Queues the RIB's eBGP and iBGP routes as BGP's whole selection, in
    /// one table per source.
    fn hand_over(&mut self) {
        let [ebgp, ibgp] = self.rib.selected_tables();
        self.routes.push_back(RouteOutput::ReplaceTable(ebgp));
        self.routes.push_back(RouteOutput::ReplaceTable(ibgp));
    }

    /// Queues one decision outcome for the RIB.
    pub(crate) fn push_change(&mut self, change: RouteChange) {
        match change {
            RouteChange::Unchanged => {}
            RouteChange::Installed(route) => {
                // The route may have moved between eBGP and iBGP.
                let other = match route.source {
                    RouteSource::EBGP => RouteSource::IBGP,
                    _ => RouteSource::EBGP,
                };
                self.routes.push_back(RouteOutput::Update {
                    source: other,
                    prefix: route.prefix,
                    route: None,
                });
                self.routes.push_back(RouteOutput::Update {
                    source: route.source,
                    prefix: route.prefix,
                    route: Some(route),
                });
            }
            // Consecutive withdrawals share one output (a lost full
            // table: one list of a million prefixes).
            RouteChange::Withdrawn(prefix) => match self.routes.back_mut() {
                Some(RouteOutput::Withdraw { sources, prefixes }) if *sources == BGP_SOURCES => {
                    prefixes.push(prefix)
                }
                _ => self.routes.push_back(RouteOutput::Withdraw {
                    sources: BGP_SOURCES,
                    prefixes: vec![prefix],
                }),
            },
        }
    }

    /// Re-decides the prefixes whose next hops' resolution changed and
    /// queues what changed; the number of prefixes whose BGP route changed.
    fn rerun(&mut self, rib: &dyn RibView) -> usize {
        let mut changes = Vec::new();
        self.rib.rerun(rib.next_hops(), |c| changes.push(c));
        if changes.len() > INCREMENTAL_LIMIT {
            self.hand_over();
            return changes.len();
        }
        for change in changes.iter().cloned() {
            self.push_change(change);
        }
        changes.len()
    }

    /// `show bgp` text: the summary, then one line per input.
    fn summary_text(&self) -> String {
        let mut text = self.rib.summary().to_string();
        for i in &self.inputs {
            text.push_str(&format!(
                "input {} {}: {} peer(s), {} routes, {} skipped",
                i.kind,
                i.file.display(),
                i.peers,
                i.routes,
                i.skipped
            ));
            if i.rejected > 0 {
                text.push_str(&format!(", {} rejected by import", i.rejected));
            }
            text.push('\n');
        }
        text
    }

    /// `show routes PREFIX|ADDRESS`: BGP's routes for the prefix (for an
    /// address, BGP's own longest match: it may be a prefix the RIB lacks
    /// because no route of it resolves).
    fn explain(&self, arg: &str, rib: &dyn RibView) -> Option<Value> {
        let prefix = match arg.parse::<IpNet>() {
            Ok(p) => p,
            Err(_) => self.rib.lookup(arg.parse::<IpAddr>().ok()?)?,
        };
        let b = self.rib.explain(&prefix, rib.next_hops())?;
        Some(json!({ "bgp": b, "text": b.to_string() }))
    }
}

/// The speaker's calls, one per [`crate::control::protocol::Protocol`] method.
impl BgpFileInput {
    /// Loads one configured file into the Adj-RIBs-In; once every file is
    /// in, the first decision is due.
    pub(crate) fn handle_file(
        &mut self,
        now: Instant,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(), String> {
        let Some(i) = self
            .files
            .iter()
            .position(|(f, _, done)| f == path && !done)
        else {
            return Err(format!("bgp: {} is not an expected input", path.display()));
        };
        let load = match self.files[i].1.clone() {
            FileKind::Mrt(mrt) => self.load_mrt(path, bytes, &mrt)?,
            FileKind::Table(table) => self.load_table(path, bytes, &table)?,
        };
        self.inputs.push(load);
        self.files[i].2 = true;
        if self.files.iter().all(|(_, _, done)| *done) {
            self.decide_at = Some(now);
        }
        Ok(())
    }

    /// The first decision: every prefix decided once against the RIB, the
    /// selection handed over whole (then `true`).
    pub(crate) fn handle_timeout(&mut self, now: Instant, rib: &dyn RibView) -> bool {
        if self.decide_at.is_none_or(|at| now < at) {
            return false;
        }
        self.decide_at = None;
        let t = self.tick();
        self.rib.rerun_all(rib.next_hops(), |_| {});
        self.phases.decision = since(t, self.tick());
        self.hand_over();
        true
    }

    /// Non-BGP routes changed: next hops may have become (un)reachable or
    /// changed IGP cost. The number of prefixes whose route changed.
    pub(crate) fn handle_rib_changes(
        &mut self,
        changes: &[BestRouteChange],
        rib: &dyn RibView,
    ) -> usize {
        // Before the first decision there is nothing to re-decide: it will
        // see the RIB as it is then.
        if changes.is_empty() || self.decide_at.is_some() {
            return 0;
        }
        self.rerun(rib)
    }

    pub(crate) fn handle_command(
        &mut self,
        command: &str,
        rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        let mut words = command.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("bgp"), None, _) => Some(Ok(json!({
                "bgp": self.rib.summary(),
                "inputs": self.inputs,
                "phases": self.phases,
                "text": self.summary_text(),
            }))),
            (Some("routes"), Some(arg), None) => self.explain(arg, rib).map(Ok),
            _ => None,
        }
    }

    /// A new `[bgp]` starts from an empty table: every file is read again.
    pub(crate) fn reconfigure(
        &mut self,
        now: Instant,
        section: &BgpConfig,
        clock: Option<fn() -> Instant>,
    ) -> Result<Reconfigured, String> {
        self.clock = clock;
        self.reset(section.clone());
        if self.files.is_empty() {
            self.decide_at = Some(now);
        }
        Ok(Reconfigured {
            files: self.files.iter().map(|(f, _, _)| f.clone()).collect(),
        })
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.decide_at
    }

    pub(crate) fn poll_route(&mut self) -> Option<RouteOutput> {
        // A session going down queues two outputs per prefix it had (a
        // full table: ~200 MB); that room is not kept once drained.
        queue::pop_front(&mut self.routes)
    }
}

/// Where a BGP route may sit in the RIB: a withdrawal clears both.
const BGP_SOURCES: &[RouteSource] = &[RouteSource::EBGP, RouteSource::IBGP];

/// Runs the dump's routes through `import` (each with its changes, as a
/// session's would be), leaving out the rejected; how many were.
fn import_mrt(dump: &mut MrtDump, import: &Policy, local_as: u32) -> u64 {
    if *import == Policy::All {
        return 0;
    }
    let before = dump.routes.len();
    dump.routes = std::mem::take(&mut dump.routes)
        .into_iter()
        .filter_map(|mut r| {
            r.attrs = import.apply(&r.prefix, r.attrs, local_as)?;
            Some(r)
        })
        .collect();
    (before - dump.routes.len()) as u64
}

#[cfg(test)]
mod tests;
