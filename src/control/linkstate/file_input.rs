//! `[linkstate] file`: the LSDB read from a file, SPF run after a short
//! hold-down, and the routes it yields for the RIB.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{LinkState, RouterId, SpfScheduler};
use crate::control::rib::route::RibRoute;
use crate::fib::PortId;

/// Hold-down between an LSDB change and its SPF run.
const SPF_HOLD_DOWN: Duration = Duration::from_millis(20);

/// The link-state process fed from an LSDB file.
pub struct LinkStateFileInput {
    state: LinkState,
    /// Port names in port order: LSDB links name their port.
    port_names: Vec<String>,
}

impl LinkStateFileInput {
    /// Reads `file` (all or nothing) and schedules the first SPF run.
    pub fn load(
        file: &Path,
        router_id: RouterId,
        port_names: Vec<String>,
        now: Instant,
    ) -> Result<Self, String> {
        let mut state = LinkState::new(router_id, SpfScheduler::new(SPF_HOLD_DOWN));
        state.load_file(file, now).map_err(|e| e.to_string())?;
        Ok(LinkStateFileInput { state, port_names })
    }

    /// Runs SPF when due (or at once with `force`); the routes that replace
    /// every earlier link-state route when it ran.
    pub fn run_spf(&mut self, now: Instant, force: bool) -> Option<Vec<RibRoute>> {
        let names = &self.port_names;
        let port_of = |name: &str| names.iter().position(|n| n == name).map(|i| i as PortId);
        let at = if force {
            self.state.deadline().unwrap_or(now).max(now)
        } else {
            now
        };
        self.state
            .run_if_due(at, port_of)
            .map(|result| result.routes().to_vec())
    }

    /// When a pending SPF run falls due.
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    /// `show linkstate`: the summary and its text.
    pub fn show(&self) -> Value {
        let s = self.state.summary();
        let names = &self.port_names;
        let text = s.to_text(|p| names.get(p as usize).cloned());
        json!({ "linkstate": s, "text": text })
    }
}
