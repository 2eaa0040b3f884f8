//! Link-state routing: a database of router LSAs, Dijkstra SPF from this
//! router with equal-cost multipath, and the routes to stub prefixes it
//! yields (as [`RibRoute`]s of source [`RouteSource::LINK_STATE`]).
//!
//! # The LSDB file
//!
//! TOML, one `[[router]]` table per router LSA (see `examples/lsdb.toml`):
//!
//! ```toml
//! [[router]]
//! id = "10.0.0.1"           # router id (IPv4 notation), unique in the file
//! sequence = 7              # 0..=2^63-1; higher is newer
//!
//! [[router.link]]           # a link to a neighbour router
//! neighbor = "10.0.0.2"
//! cost = 10                 # 1..=16777214
//! via = "192.0.2.2"         # the neighbour's address on the link (or one
//!                           # per family: ["192.0.2.2", "2001:db8::2"]) and
//! port = "p0"               # the port it is reached by: on this router's own
//!                           # links they are the first hop (both or neither)
//!
//! [[router.stub]]           # a prefix the router reaches directly
//! prefix = "198.51.100.0/24"  # host bits clear
//! cost = 1                  # 0..=16777214, added to the path cost
//!
//! [[router]]
//! id = "10.0.0.2"
//! sequence = 3
//! [[router.link]]
//! neighbor = "10.0.0.1"
//! cost = 10
//! ```
//!
//! The same file can serve every router of the domain: each takes its own
//! `[router] id` from its config as the SPF root, and only the root's links
//! need `via` and `port`.
//!
//! A router may list several links to one neighbour (parallel links); each
//! counts, and on this router's own links each is a possible first hop.
//!
//! Unknown keys, duplicate routers or stubs, and bad values reject
//! the whole file with its name, line and field
//! (`lsdb.toml:14: router[1].link[0].cost: 0 is out of range (1..=16777214)`);
//! nothing of a rejected file is applied.
//!
//! # Rules
//!
//! * **Sequence numbers.** An LSA replaces the held one only with a higher
//!   sequence; a lower one is ignored (`Older`), an equal one with other
//!   contents too (`Conflict`: bump the sequence to change an LSA). Loading
//!   a file replaces the database router by router under this rule, and
//!   removes routers the file no longer lists.
//! * **Two-way check.** As in OSPF, a link is used only if both ends list
//!   each other (in either direction each end's own cost counts, so costs
//!   may be asymmetric). A router without an LSA, or a link only one side
//!   lists, carries nothing; `show linkstate` marks such links.
//! * **Routes.** Each stub of a reachable router other than this one becomes
//!   a route with metric path cost + stub cost; a prefix announced by several
//!   routers takes the lowest total, with the first hops of all routers
//!   tied at it. This router's own stubs are connected routes, not ours.
//! * **First hops** are this router's two-way links with a `via` and a
//!   configured `port`, as [`Via::Gateway`]; equal-cost paths keep all of
//!   them. A prefix is reached through the `via` of its own family; a stub
//!   whose shortest paths offer none is reported, not routed.
//! * **When SPF runs.** [`SpfScheduler`] holds a change back for a short
//!   hold-down so that a burst of changes costs one run.

pub mod file;
pub mod file_input;
pub mod lsdb;
pub mod schedule;
pub mod show;
pub mod spf;

#[cfg(test)]
mod tests;

pub use file::LsdbFileError;
pub use lsdb::{
    InstallOutcome, Link, Lsdb, NetworkLsa, ReplaceReport, RouterId, RouterLsa, Stub, TransitLink,
    MAX_COST,
};
pub use schedule::SpfScheduler;
pub use show::LinkStateSummary;
pub use spf::{SpfResult, SpfTimings, UnusableLink};

#[cfg(doc)]
use crate::control::rib::route::{RibRoute, RouteSource, Via};

use std::path::Path;
use std::time::Instant;

use crate::fib::PortId;

/// This router's link-state process: the LSDB, when to run SPF, and the last
/// result. The control thread owns one, feeds it changes, and asks it for
/// routes when SPF is due.
#[derive(Debug, Clone)]
pub struct LinkState {
    router_id: RouterId,
    lsdb: Lsdb,
    scheduler: SpfScheduler,
    last: Option<SpfResult>,
    /// Times SPF's phases (`show linkstate`); none in tests.
    clock: Option<fn() -> Instant>,
}

impl LinkState {
    pub fn new(router_id: RouterId, scheduler: SpfScheduler) -> Self {
        LinkState {
            router_id,
            lsdb: Lsdb::new(),
            scheduler,
            last: None,
            clock: None,
        }
    }

    /// Times SPF's phases with `clock` from now on.
    pub fn set_clock(&mut self, clock: Option<fn() -> Instant>) {
        self.clock = clock;
    }

    /// Replaces the database with the file at `path` (all or nothing) and,
    /// if that changed anything, schedules SPF.
    pub fn load_file(&mut self, path: &Path, now: Instant) -> Result<ReplaceReport, LsdbFileError> {
        let lsas = file::load(path)?;
        Ok(self.replace_all(lsas, now))
    }

    /// [`Lsdb::replace_all`], scheduling SPF on a change.
    pub fn replace_all(&mut self, lsas: Vec<RouterLsa>, now: Instant) -> ReplaceReport {
        let report = self.lsdb.replace_all(lsas);
        if report.changed() {
            self.scheduler.note_change(now);
        }
        report
    }

    /// [`Lsdb::install`], scheduling SPF on a change.
    pub fn install(&mut self, lsa: RouterLsa, now: Instant) -> InstallOutcome {
        let outcome = self.lsdb.install(lsa);
        if outcome == InstallOutcome::Installed {
            self.scheduler.note_change(now);
        }
        outcome
    }

    /// Runs SPF if it is due; the new result when it ran. Its
    /// [`routes`](SpfResult::routes) replace all earlier link-state routes.
    pub fn run_if_due(
        &mut self,
        now: Instant,
        port_of: impl Fn(&str) -> Option<PortId>,
    ) -> Option<&SpfResult> {
        if !self.scheduler.due(now) {
            return None;
        }
        self.last = Some(spf::run_timed(
            &self.lsdb,
            self.router_id,
            port_of,
            self.clock,
        ));
        self.last.as_ref()
    }

    /// Runs SPF now (at start-up, or when the port names changed with a
    /// config reload while the LSDB did not). A change still pending runs
    /// once more when due: redundant, never wrong.
    pub fn run_now(&mut self, port_of: impl Fn(&str) -> Option<PortId>) -> &SpfResult {
        self.last.insert(spf::run_timed(
            &self.lsdb,
            self.router_id,
            port_of,
            self.clock,
        ))
    }

    /// When a pending SPF run falls due (for the control loop's wait).
    pub fn deadline(&self) -> Option<Instant> {
        self.scheduler.deadline()
    }

    pub fn router_id(&self) -> RouterId {
        self.router_id
    }

    pub fn lsdb(&self) -> &Lsdb {
        &self.lsdb
    }

    pub fn last_spf(&self) -> Option<&SpfResult> {
        self.last.as_ref()
    }

    /// What `show linkstate` prints.
    pub fn summary(&self) -> LinkStateSummary {
        LinkStateSummary::new(&self.lsdb, self.router_id, self.last.as_ref())
    }
}
