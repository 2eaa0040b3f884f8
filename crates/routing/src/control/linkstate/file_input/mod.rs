//! `[linkstate] file`: the LSDB read from a file (the event loop hands its
//! contents in), SPF run after a short hold-down, and the routes it yields,
//! as a [`Protocol`] instance.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{file, LinkState, RouterId, SpfScheduler};
use crate::control::protocol::{
    Protocol, ProtocolConfig, ProtocolInput, Reconfigured, Registration, ReloadStyle, RibView,
    RouteOutput,
};
use crate::control::rib::notify::{BestRouteChange, SourceFilter};
use crate::control::rib::route::RouteSource;
use crate::fib::PortId;

/// Hold-down between an LSDB change and its SPF run.
const SPF_HOLD_DOWN: Duration = Duration::from_millis(20);

/// The protocol's name and configuration key.
pub const NAME: &str = "linkstate";

pub const REGISTRATION: Registration = Registration {
    name: NAME,
    title: "link-state",
    section: "[linkstate] file",
    sources: &[RouteSource::LINK_STATE],
    reload: ReloadStyle::Fresh,
    create: |config| {
        let section = config.section::<LinkStateConfig>(NAME)?;
        Some(Box::new(LinkStateFileInput::new(
            section.file.clone(),
            config.router_id,
        )))
    },
};

/// `[linkstate]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStateConfig {
    /// The LSDB file; `Config::load` makes a relative path relative to
    /// the configuration file's directory.
    pub file: PathBuf,
}

/// The link-state process fed from an LSDB file.
pub struct LinkStateFileInput {
    file: PathBuf,
    state: LinkState,
    /// Port names in port order: LSDB links name their port.
    port_names: Vec<String>,
    routes: VecDeque<RouteOutput>,
}

impl LinkStateFileInput {
    pub fn new(file: PathBuf, router_id: RouterId) -> Self {
        LinkStateFileInput {
            file,
            state: LinkState::new(router_id, SpfScheduler::new(SPF_HOLD_DOWN)),
            port_names: Vec::new(),
            routes: VecDeque::new(),
        }
    }

    /// `show linkstate`: the summary and its text.
    fn show(&self) -> Value {
        let s = self.state.summary();
        let names = &self.port_names;
        let text = s.to_text(|p| names.get(p as usize).cloned());
        json!({ "linkstate": s, "text": text })
    }
}

impl Protocol for LinkStateFileInput {
    fn name(&self) -> &str {
        NAME
    }

    /// Replaces the LSDB with the file's (all or nothing); a change
    /// schedules SPF.
    fn handle_input(
        &mut self,
        now: Instant,
        input: ProtocolInput<'_>,
        _rib: &dyn RibView,
    ) -> Result<(), String> {
        let ProtocolInput::File { path, bytes } = input else {
            return Err("link-state file input: no socket input".to_string());
        };
        let name = path.display().to_string();
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("{name}: cannot read the link-state database: not UTF-8 ({e})"))?;
        let lsas = file::parse(text, &name).map_err(|e| e.to_string())?;
        self.state.replace_all(lsas, now);
        Ok(())
    }

    /// Runs SPF; its routes replace every earlier link-state route.
    fn handle_timeout(&mut self, now: Instant, _rib: &dyn RibView) {
        let names = &self.port_names;
        let port_of = |name: &str| names.iter().position(|n| n == name).map(|i| i as PortId);
        if let Some(result) = self.state.run_if_due(now, port_of) {
            self.routes.push_back(RouteOutput::ReplaceSource {
                source: RouteSource::LINK_STATE,
                routes: result.routes().to_vec(),
            });
        }
    }

    fn handle_rib_changes(&mut self, _: Instant, _: &[BestRouteChange], _: &dyn RibView) {}

    fn handle_command(
        &mut self,
        _now: Instant,
        command: &str,
        _rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        (command.trim() == NAME).then(|| Ok(self.show()))
    }

    fn reconfigure(
        &mut self,
        _now: Instant,
        config: &ProtocolConfig,
    ) -> Result<Reconfigured, String> {
        if let Some(section) = config.section::<LinkStateConfig>(NAME) {
            self.file = section.file.clone();
        }
        if config.router_id != self.state.router_id() {
            self.state = LinkState::new(config.router_id, SpfScheduler::new(SPF_HOLD_DOWN));
        }
        self.state.set_clock(config.clock);
        self.port_names = config.ports.iter().map(|p| p.name.clone()).collect();
        Ok(Reconfigured {
            files: vec![self.file.clone()],
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.state.deadline()
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.routes.pop_front()
    }

    fn subscription(&self) -> SourceFilter {
        SourceFilter::NONE
    }
}

#[cfg(test)]
mod tests;
