//! The control thread's routing state: the RIB fed by the configuration
//! (connected and static routes), the resolved neighbours, link-state SPF
//! and BGP (`[bgp]` inputs; next hops resolved through the other routes),
//! published through the coalescing [`FibPublisher`]; and the operator
//! requests about it (`show routes`, `show fib-stats`, `show linkstate`,
//! `show bgp`, `reload`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde_json::{json, Value};

use crate::config::Config;
use crate::control::linkstate::file_input::LinkStateFileInput;
use crate::control::linkstate::RouterId;
use crate::control::rib::inputs::{connected_routes, static_routes};
use crate::control::rib::route::RouteSource;
use crate::control::rib::{FibPublisher, PublishStats, Rib};
use crate::fib::{ConnectedPort, FibHandle, StaticNeighbor, StaticRoute};

pub use crate::control::bgp::file_input::{BgpInputLoad, BgpState, LoadPhases};

/// What the routing side needs of the configuration; `reload` swaps it.
#[derive(Debug, Clone)]
struct Inputs {
    ports: Vec<ConnectedPort>,
    port_names: Vec<String>,
    statics: Vec<StaticRoute>,
    linkstate_file: Option<PathBuf>,
    router_id: RouterId,
}

impl Inputs {
    fn of(config: &Config) -> Self {
        Inputs {
            ports: config.connected_ports(),
            port_names: config.ports.iter().map(|p| p.name.clone()).collect(),
            statics: config.static_routes(),
            linkstate_file: config.linkstate.as_ref().map(|l| l.file.clone()),
            router_id: config.router.id,
        }
    }
}

/// The RIB, its inputs and its publisher (lives on the control thread).
pub struct Engine {
    rib: Rib,
    publisher: FibPublisher,
    inputs: Inputs,
    neighbors: Vec<StaticNeighbor>,
    linkstate: Option<LinkStateFileInput>,
    /// `[bgp]`'s table, if configured.
    bgp: Option<BgpState>,
    /// The connected routes last given to the RIB (BGP re-decides when
    /// they change).
    connected: Vec<crate::control::rib::route::RibRoute>,
    /// Whether this RIB has been published (the first publication is built
    /// from scratch: the handle's table before it came from elsewhere).
    published: bool,
}

impl Engine {
    /// Loads every input (the LSDB file too: an error here stops start-up)
    /// without publishing yet.
    pub fn new(config: &Config, fib: FibHandle, coalesce: Duration) -> Result<Self, String> {
        let inputs = Inputs::of(config);
        let linkstate = Self::load_linkstate(&inputs, Instant::now())?;
        let mut routing = Engine {
            rib: Rib::new(config.distances),
            publisher: FibPublisher::new(fib, coalesce),
            inputs,
            neighbors: Vec::new(),
            linkstate,
            bgp: None,
            connected: Vec::new(),
            published: false,
        };
        routing.apply_config_routes();
        routing.run_spf(Instant::now(), true);
        routing.bgp = match &config.bgp {
            Some(c) => Some(BgpState::load(c)?),
            None => None,
        };
        routing.push_bgp();
        Ok(routing)
    }

    fn load_linkstate(inputs: &Inputs, now: Instant) -> Result<Option<LinkStateFileInput>, String> {
        let Some(file) = &inputs.linkstate_file else {
            return Ok(None);
        };
        LinkStateFileInput::load(file, inputs.router_id, inputs.port_names.clone(), now).map(Some)
    }

    /// Makes the RIB's eBGP/iBGP routes BGP's selection (none without BGP).
    fn push_bgp(&mut self) {
        match &mut self.bgp {
            Some(bgp) => bgp.push_all(&mut self.rib),
            None => {
                self.rib.replace_source(RouteSource::Ebgp, Vec::new());
                self.rib.replace_source(RouteSource::Ibgp, Vec::new());
            }
        }
    }

    /// BGP re-decides after the non-BGP routes changed.
    fn rerun_bgp(&mut self) {
        if let Some(bgp) = &mut self.bgp {
            bgp.rerun(&mut self.rib);
        }
    }

    /// Gives the RIB the connected routes; whether they changed.
    fn apply_connected(&mut self) -> bool {
        let routes = connected_routes(&self.inputs.ports, &self.neighbors);
        if routes == self.connected {
            return false;
        }
        self.connected = routes.clone();
        self.rib.replace_source(RouteSource::Connected, routes);
        true
    }

    fn apply_config_routes(&mut self) {
        self.apply_connected();
        let i = &self.inputs;
        self.rib
            .replace_source(RouteSource::Static, static_routes(&i.ports, &i.statics));
    }

    /// Runs SPF when due (or at once with `force`) and hands its routes to
    /// the RIB; whether it ran.
    fn run_spf(&mut self, now: Instant, force: bool) -> bool {
        let Some(ls) = &mut self.linkstate else {
            return false;
        };
        match ls.run_spf(now, force) {
            Some(routes) => {
                self.rib.replace_source(RouteSource::LinkState, routes);
                true
            }
            None => false,
        }
    }

    /// New resolved neighbours (static ones merged in): host routes and
    /// group members follow.
    pub fn set_neighbors(&mut self, neighbors: Vec<StaticNeighbor>) {
        self.neighbors = neighbors;
        self.rib.set_neighbors(&self.neighbors);
        if self.apply_connected() {
            self.rerun_bgp();
        }
    }

    /// Publishes pending changes now (the whole RIB the first time);
    /// returns the version.
    pub fn publish_now(&mut self) -> u64 {
        if !self.published {
            self.published = true;
            return self.publisher.publish_full(&mut self.rib);
        }
        self.publisher.publish_now(&mut self.rib)
    }

    /// Runs SPF if due and publishes if the coalescing window has passed.
    pub fn poll(&mut self, now: Instant) -> Option<u64> {
        if self.run_spf(now, false) {
            self.rerun_bgp();
        }
        if !self.published {
            return None;
        }
        self.publisher.poll(&mut self.rib, now)
    }

    /// The next moment [`Engine::poll`] has work (SPF or publication).
    pub fn deadline(&self) -> Option<Instant> {
        let spf = self.linkstate.as_ref().and_then(|l| l.deadline());
        match (spf, self.publisher.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The neighbour addresses the RIB's next-hop groups depend on.
    pub fn gateways(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.rib.gateway_addresses()
    }

    /// Where the last BGP load's time went (`None` without `[bgp]`).
    pub fn bgp_phases(&self) -> Option<LoadPhases> {
        self.bgp.as_ref().map(|b| b.phases)
    }

    /// The publisher's counters (what `show fib-stats` prints).
    pub fn publish_stats(&self) -> &PublishStats {
        self.publisher.stats()
    }

    /// Re-reads everything from a validated `config`: static routes,
    /// distances, the LSDB file, the BGP inputs. A bad LSDB or BGP input
    /// rejects the reload whole and the old state stays. Ports cannot change
    /// without a restart (the data plane and the neighbour table are bound
    /// to them); static neighbours are the control thread's (`Control`).
    pub fn reload(&mut self, config: &Config) -> Result<Value, String> {
        let fresh = Inputs::of(config);
        if fresh.ports.iter().map(|p| (&p.id, &p.addresses)).ne(self
            .inputs
            .ports
            .iter()
            .map(|p| (&p.id, &p.addresses)))
            || fresh.port_names != self.inputs.port_names
        {
            return Err("ports changed: restart ferroute to apply".to_string());
        }
        let now = Instant::now();
        let linkstate = Self::load_linkstate(&fresh, now)?;
        let bgp = match &config.bgp {
            Some(c) => Some(BgpState::load(c)?),
            None => None,
        };
        self.inputs = fresh;
        self.linkstate = linkstate;
        self.bgp = bgp;
        self.rib.set_distances(config.distances);
        self.apply_config_routes();
        if self.linkstate.is_none() {
            self.rib.replace_source(RouteSource::LinkState, Vec::new());
        }
        self.run_spf(now, true);
        self.push_bgp();
        let version = self.publish_now();
        let bgp = self.bgp.as_ref().map(|b| b.rib.summary());
        Ok(json!({ "fib_version": version, "summary": self.rib.summary(), "bgp": bgp }))
    }

    /// Answers `show routes [PREFIX|ADDRESS]` (with the BGP decision for the
    /// prefix, if BGP has routes for it), `show fib-stats`, `show linkstate`,
    /// `show bgp` (JSON; the CLI turns it into text).
    pub fn show(&self, what: &str) -> Result<Value, String> {
        let mut words = what.split_whitespace();
        match (words.next(), words.next()) {
            (Some("routes"), None) => {
                let s = self.rib.summary();
                Ok(json!({ "summary": s, "text": s.to_string() }))
            }
            (Some("routes"), Some(arg)) => {
                let (e, bgp_prefix) = if let Ok(prefix) = arg.parse::<IpNet>() {
                    (self.rib.explain(prefix), Some(prefix))
                } else if let Ok(addr) = arg.parse::<IpAddr>() {
                    let e = self.rib.explain_address(addr);
                    // BGP's own longest match may be a prefix the RIB lacks
                    // (no route of it resolves): explain that one first.
                    let p = self.bgp.as_ref().and_then(|b| b.rib.lookup(addr));
                    (e.clone(), p.or(e.map(|e| e.prefix)))
                } else {
                    return Err(format!("{arg:?} is neither a prefix nor an address"));
                };
                let b = match (&self.bgp, bgp_prefix) {
                    (Some(bgp), Some(p)) => bgp.rib.explain(&p, &self.rib),
                    _ => None,
                };
                if e.is_none() && b.is_none() {
                    return Err(format!("no route for {arg}"));
                }
                let mut text = e.as_ref().map(|e| e.to_string()).unwrap_or_default();
                if let Some(b) = &b {
                    text.push_str(&b.to_string());
                }
                Ok(json!({ "route": e, "bgp": b, "text": text }))
            }
            (Some("bgp"), None) => match &self.bgp {
                Some(bgp) => Ok(json!({
                    "bgp": bgp.rib.summary(),
                    "inputs": bgp.inputs,
                    "text": bgp.summary_text(),
                })),
                None => Err("BGP is not configured ([bgp])".to_string()),
            },
            (Some("fib-stats"), None) => {
                let s = self.publisher.stats();
                let text = format!(
                    "FIB version {}: {} IPv4 + {} IPv6 prefixes, {} next-hop groups, {:.1} MB; \
                     last publication built in {} us ({} prefix and {} group changes); {} publications\n",
                    s.version,
                    s.ipv4_prefixes,
                    s.ipv6_prefixes,
                    s.groups,
                    s.memory_bytes as f64 / 1e6,
                    s.last_build_us,
                    s.last_prefix_changes,
                    s.last_group_changes,
                    s.publications
                );
                Ok(json!({ "stats": s, "text": text }))
            }
            (Some("linkstate"), None) => match &self.linkstate {
                Some(ls) => Ok(ls.show()),
                None => Err("link-state is not configured ([linkstate] file)".to_string()),
            },
            _ => Err(format!(
                "unknown `show {what}` (try: routes [PREFIX|ADDRESS], fib-stats, linkstate, bgp)"
            )),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bgp_tests;
