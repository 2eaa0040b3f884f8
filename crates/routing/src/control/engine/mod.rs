//! The control thread's routing state, without I/O: the RIB fed by the
//! configuration (connected and static routes), the resolved neighbours and
//! the protocol instances of [`REGISTRY`] (link-state SPF, BGP), published
//! through the coalescing [`FibPublisher`]; and the operator requests about
//! it (`show ...`, `reload`).
//!
//! The engine never reads a file or the clock itself: the [`Host`] it is
//! given does (the event loop gives the real one, tests a fake).

mod instances;
mod show;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::control::protocol::{Protocol, ProtocolConfig, Registration, SocketRequest, REGISTRY};
use crate::control::rib::inputs::{connected_routes, static_routes};
use crate::control::rib::notify::{SourceFilter, SubscriberId};
use crate::control::rib::route::{RibRoute, RouteSource};
use crate::control::rib::{FibPublisher, PublishStats, Rib};
use crate::control::ControlInputs;
use crate::fib::{ConnectedPort, FibHandle, StaticNeighbor, StaticRoute};

pub use crate::control::bgp::file_input::LoadPhases;

/// At most this many rounds of route changes and notifications follow one
/// event (protocols reacting to each other's routes settle in two or three).
const MAX_ROUNDS: usize = 16;

/// A publication changing this many prefixes (a full table learnt or lost)
/// is a mass change: once it has settled (no publication of
/// [`SETTLING_CHANGES`] or more for [`SETTLE`]), the million-entry maps fold
/// their overlays into their arrays ([`Engine::poll_compacted`]).
pub const MASS_CHANGE: usize = 1 << 16;
/// Publications this large still belong to a mass change (a full table's
/// tail arrives in publications of a few thousand prefixes); churn's
/// smaller ones do not hold the compaction back.
pub(crate) const SETTLING_CHANGES: usize = 1 << 12;
/// How long after a mass change's last publication the maps are compacted.
const SETTLE: Duration = Duration::from_secs(1);

/// What the engine needs of the outside world.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// The time, for timing diagnostics and for events that carry none.
    pub clock: fn() -> Instant,
    /// An input file's contents (decompressed if it was gzip); the error
    /// names the file.
    pub read_file: fn(&Path) -> Result<Vec<u8>, String>,
}

/// What the routing side needs of the configuration; `reload` swaps it.
#[derive(Debug, Clone)]
struct Inputs {
    ports: Vec<ConnectedPort>,
    statics: Vec<StaticRoute>,
    protocols: ProtocolConfig,
}

impl Inputs {
    fn of(inputs: &ControlInputs, host: &Host) -> Self {
        let mut protocols = inputs.protocols.clone();
        protocols.clock = Some(host.clock);
        Inputs {
            ports: inputs.ports.clone(),
            statics: inputs.static_routes.clone(),
            protocols,
        }
    }
}

fn bgp_name() -> &'static str {
    crate::control::bgp::file_input::NAME
}

pub use instances::{InstanceIo, InstanceKey};

/// A running protocol instance.
struct Instance {
    /// Names it for the event loop (its sockets) for as long as it runs.
    key: InstanceKey,
    registration: &'static Registration,
    protocol: Box<dyn Protocol>,
    /// Its journal of the RIB's best-route changes, if it wants one, and
    /// the sources that journal was opened for.
    subscriber: Option<SubscriberId>,
    subscribed: SourceFilter,
    /// How long applying its last batch of route changes took.
    last_apply: Duration,
}

/// The RIB, its inputs, the protocol instances and the publisher (lives on
/// the control thread).
pub struct Engine {
    rib: Rib,
    publisher: FibPublisher,
    host: Host,
    inputs: Inputs,
    neighbors: Vec<StaticNeighbor>,
    instances: Vec<Instance>,
    /// The protocols it can run ([`REGISTRY`]; tests give their own).
    registry: &'static [Registration],
    /// The key the next new instance gets.
    next_key: InstanceKey,
    /// Instances' close requests, held until their transmits are out.
    closes: std::collections::VecDeque<(InstanceKey, SocketRequest)>,
    /// The connected routes last given to the RIB.
    connected: Vec<RibRoute>,
    /// Whether this RIB has been published (the first publication is built
    /// from scratch: the handle's table before it came from elsewhere).
    published: bool,
    /// When to compact the maps, once a mass change has settled.
    compact_at: Option<Instant>,
    /// A compaction happened since [`Engine::poll_compacted`] last asked.
    compacted: bool,
}

impl Engine {
    /// Loads every input (protocol input files too: an error here stops
    /// start-up) and lets the protocols settle, without publishing yet.
    pub fn new(
        inputs: &ControlInputs,
        fib: FibHandle,
        coalesce: Duration,
        host: Host,
    ) -> Result<Self, String> {
        Self::with_registry(inputs, fib, coalesce, host, REGISTRY)
    }

    /// [`Engine::new`] running the protocols of `registry`.
    pub fn with_registry(
        inputs: &ControlInputs,
        fib: FibHandle,
        coalesce: Duration,
        host: Host,
        registry: &'static [Registration],
    ) -> Result<Self, String> {
        let distances = inputs.distances;
        let inputs = Inputs::of(inputs, &host);
        let mut engine = Engine {
            rib: Rib::new(distances),
            publisher: FibPublisher::new(fib, coalesce).with_clock(host.clock),
            host,
            inputs,
            neighbors: Vec::new(),
            instances: Vec::new(),
            registry,
            next_key: 0,
            closes: Default::default(),
            connected: Vec::new(),
            published: false,
            compact_at: None,
            compacted: false,
        };
        engine.apply_config_routes();
        let now = (host.clock)();
        let config = engine.inputs.protocols.clone();
        let instances = engine.start_instances(&config, now)?;
        engine.install(instances);
        engine.settle(now, true);
        Ok(engine)
    }

    /// Runs the instances' due deadlines (with `force` first every pending
    /// one once, whenever due: start-up and reload do not wait for a
    /// hold-down), applies their route changes and tells the subscribers,
    /// until nothing more is due (bounded).
    fn settle(&mut self, now: Instant, force: bool) {
        if force {
            for i in 0..self.instances.len() {
                if let Some(at) = self.instances[i].protocol.poll_timeout() {
                    self.fire(i, at.max(now), now);
                }
            }
        }
        for _ in 0..MAX_ROUNDS {
            let mut ran = false;
            for i in 0..self.instances.len() {
                if self.instances[i]
                    .protocol
                    .poll_timeout()
                    .is_some_and(|at| at <= now)
                {
                    self.fire(i, now, now);
                    ran = true;
                }
            }
            if !ran {
                return;
            }
        }
    }

    /// Instance `i`'s deadline passed (`at`): its route changes go to the
    /// RIB and the subscribers hear of them.
    fn fire(&mut self, i: usize, at: Instant, now: Instant) {
        self.instances[i].protocol.handle_timeout(at, &self.rib);
        self.drain_routes(i);
        self.notify(now);
    }

    /// Port `port`'s link lost or regained its carrier: every instance
    /// hears it, and what they change goes to the RIB and the subscribers.
    pub fn link_changed(&mut self, now: Instant, port: crate::fib::PortId, up: bool) {
        for i in 0..self.instances.len() {
            self.instances[i]
                .protocol
                .handle_link(now, port, up, &self.rib);
            self.drain_routes(i);
        }
        self.notify(now);
    }

    /// Applies instance `i`'s route changes to the RIB.
    fn drain_routes(&mut self, i: usize) {
        let t = (self.host.clock)();
        let mut any = false;
        while let Some(output) = self.instances[i].protocol.poll_route() {
            any = true;
            output.apply(&mut self.rib);
        }
        if any {
            self.instances[i].last_apply = (self.host.clock)() - t;
        }
    }

    /// Hands every subscriber its journal of best-route changes, and
    /// applies what they answer with, until every journal is empty
    /// (bounded).
    fn notify(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut told = false;
            for i in 0..self.instances.len() {
                let Some(id) = self.instances[i].subscriber else {
                    continue;
                };
                let changes = self.rib.take_journal(id);
                if changes.is_empty() {
                    continue;
                }
                told = true;
                let p = &mut self.instances[i].protocol;
                p.handle_rib_changes(now, &changes, &self.rib);
                self.drain_routes(i);
            }
            if !told {
                return;
            }
        }
    }

    /// Gives the RIB the connected routes.
    fn apply_connected(&mut self) {
        let routes = connected_routes(&self.inputs.ports, &self.neighbors);
        if routes == self.connected {
            return;
        }
        self.connected = routes.clone();
        self.rib.replace_source(RouteSource::CONNECTED, routes);
    }

    fn apply_config_routes(&mut self) {
        self.apply_connected();
        let i = &self.inputs;
        self.rib
            .replace_source(RouteSource::STATIC, static_routes(&i.ports, &i.statics));
    }

    /// New resolved neighbours (static ones merged in): host routes and
    /// group members follow.
    pub fn set_neighbors(&mut self, neighbors: Vec<StaticNeighbor>) {
        self.neighbors = neighbors;
        self.rib.set_neighbors(&self.neighbors);
        self.apply_connected();
        self.notify((self.host.clock)());
    }

    /// Publishes pending changes now (the whole RIB the first time);
    /// returns the version.
    pub fn publish_now(&mut self) -> u64 {
        let version = if self.published {
            self.publisher.publish_now(&mut self.rib)
        } else {
            self.published = true;
            self.publisher.publish_full(&mut self.rib)
        };
        self.after_publication((self.host.clock)());
        version
    }

    /// After a mass change, (re)schedules the compaction.
    fn after_publication(&mut self, now: Instant) {
        let changes = self.publisher.stats().last_prefix_changes;
        let settling = self.compact_at.is_some() && changes >= SETTLING_CHANGES;
        if changes >= MASS_CHANGE || settling {
            self.compact_at = Some(now + SETTLE);
        }
    }

    /// Whether the maps were compacted since the last call (the event loop
    /// then hands the freed heap back to the kernel).
    pub fn poll_compacted(&mut self) -> bool {
        std::mem::take(&mut self.compacted)
    }

    /// Folds every million-entry map's pending changes into its arrays: the
    /// RIB's, the protocols' (Adj-RIBs-In and -Out) and the FIB's record.
    /// A full table arrives as a stream of changes, which leaves up to an
    /// eighth of each map in its overlay once it stops, and the replaced
    /// FIB allocated until the next publication.
    fn compact(&mut self) {
        self.rib.compact();
        self.publisher.compact();
        for instance in &mut self.instances {
            instance.protocol.compact();
        }
        self.compacted = true;
    }

    /// Runs the protocols' due deadlines and publishes if the coalescing
    /// window has passed.
    pub fn poll(&mut self, now: Instant) -> Option<u64> {
        self.settle(now, false);
        if !self.published {
            return None;
        }
        let version = self.publisher.poll(&mut self.rib, now);
        if version.is_some() {
            self.after_publication(now);
        }
        if self.compact_at.is_some_and(|at| at <= now) {
            self.compact_at = None;
            self.compact();
        }
        version
    }

    /// The next moment [`Engine::poll`] has work (a protocol's deadline or
    /// publication).
    pub fn deadline(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(|i| i.protocol.poll_timeout())
            .chain(self.publisher.deadline())
            .chain(self.compact_at)
            .min()
    }

    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    /// The neighbour addresses the RIB's next-hop groups depend on.
    pub fn gateways(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.rib.gateway_addresses()
    }

    /// Where the last BGP load's time went (`None` without `[bgp]`).
    pub fn bgp_phases(&mut self) -> Option<LoadPhases> {
        let now = (self.host.clock)();
        let i = self
            .instances
            .iter_mut()
            .find(|i| i.registration.name == bgp_name())?;
        let shown = i.protocol.handle_command(now, "bgp", &self.rib)?.ok()?;
        let mut phases: LoadPhases = serde_json::from_value(shown["phases"].clone()).ok()?;
        phases.rib = i.last_apply;
        Some(phases)
    }

    /// The publisher's counters (what `show fib-stats` prints).
    pub fn publish_stats(&self) -> &PublishStats {
        self.publisher.stats()
    }

    /// Re-reads everything from new `inputs`: static routes,
    /// distances, every protocol's inputs. A bad input file rejects the
    /// reload whole and the old state stays. Ports cannot change without a
    /// restart (the data plane and the neighbour table are bound to them);
    /// static neighbours are the control thread's (`Control`).
    pub fn reload(&mut self, inputs: &ControlInputs) -> Result<Value, String> {
        let fresh = Inputs::of(inputs, &self.host);
        if fresh.ports.iter().map(|p| (&p.id, &p.addresses)).ne(self
            .inputs
            .ports
            .iter()
            .map(|p| (&p.id, &p.addresses)))
            || fresh.protocols.ports != self.inputs.protocols.ports
        {
            return Err("ports changed: restart ferroute to apply".to_string());
        }
        let now = (self.host.clock)();
        let instances = self.start_instances(&fresh.protocols, now)?;
        self.inputs = fresh;
        self.install(instances);
        self.rib.set_distances(inputs.distances);
        self.apply_config_routes();
        for registration in self.registry {
            if !self.inputs.protocols.has_section(registration.name) {
                for &source in registration.sources {
                    self.rib.replace_source(source, Vec::new());
                }
            }
        }
        self.notify(now);
        self.settle(now, true);
        let version = self.publish_now();
        let mut answer = json!({ "fib_version": version, "summary": self.rib.summary() });
        for i in &mut self.instances {
            let name = i.registration.name;
            if let Some(Ok(shown)) = i.protocol.handle_command(now, name, &self.rib) {
                answer[name] = shown[name].clone();
            }
        }
        Ok(answer)
    }
}
