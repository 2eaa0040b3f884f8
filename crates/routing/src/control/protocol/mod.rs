//! The sans-IO interface every routing protocol instance implements, in the
//! style of quinn-proto: events go in through `handle_*` (bytes from a
//! socket, the contents of an input file, timer expiry, best-route changes
//! of the RIB, operator commands, configuration), actions come out through
//! `poll_*` (bytes to transmit, the next deadline, route changes for the
//! RIB). An instance never opens a socket or a file and never reads the
//! clock: the event loop does both and hands it `now`.
//!
//! Adding a protocol is adding a folder with an instance and one line in
//! [`REGISTRY`].

use std::any::Any;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

mod sockets;

pub use crate::control::rib::notify::{BestRouteChange, RibView, SourceFilter};
use crate::control::rib::route::{RibRoute, RouteSource, RouteTable};
use crate::control::rib::Rib;
use crate::fib::PortId;
pub use sockets::{
    ListenPeer, Md5Key, SocketEvent, SocketId, SocketRequest, TcpOptions, Transmit,
    STREAM_BUFFER_HIGH, STREAM_BUFFER_LIMIT,
};

/// What the event loop hands an instance.
#[derive(Debug, Clone, Copy)]
pub enum ProtocolInput<'a> {
    /// Something happened on one of its sockets.
    Socket(SocketEvent<'a>),
    /// The contents of an input file the instance asked for (on start and on
    /// every reload; decompressed if it was gzip).
    File { path: &'a Path, bytes: &'a [u8] },
}

/// A change an instance asks of the RIB (BIRD's `rte_update`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutput {
    /// Sets (`Some`) or withdraws (`None`) `source`'s route for `prefix`.
    Update {
        source: RouteSource,
        prefix: IpNet,
        route: Option<RibRoute>,
    },
    /// Makes `routes` the whole set of `source`'s routes.
    ReplaceSource {
        source: RouteSource,
        routes: Vec<RibRoute>,
    },
    /// The same for a whole table in bulk form (a million BGP routes).
    ReplaceTable(RouteTable),
    /// Withdraws every one of `sources`' routes for each of `prefixes`: a
    /// lost full-table session's withdrawals in ~18 bytes a prefix, where
    /// an `Update` each (72 bytes, one per source) queued 180 MB at once.
    Withdraw {
        sources: &'static [RouteSource],
        prefixes: Vec<IpNet>,
    },
}

impl RouteOutput {
    /// Carries the change out in `rib` (the engine's one way of applying
    /// an instance's outputs; tests driving a protocol by hand use it too).
    pub fn apply(self, rib: &mut Rib) {
        match self {
            RouteOutput::Update {
                source,
                prefix,
                route,
            } => rib.update(source, prefix, route.as_ref()),
            RouteOutput::ReplaceSource { source, routes } => rib.replace_source(source, routes),
            RouteOutput::ReplaceTable(table) => rib.replace_table(table),
            RouteOutput::Withdraw { sources, prefixes } => {
                for prefix in prefixes {
                    for &source in sources {
                        rib.update(source, prefix, None);
                    }
                }
            }
        }
    }
}

/// What the configuration says to a protocol instance: the router-wide
/// settings every instance may need, and each protocol's own section (a
/// plain struct built by the configuration layer), by protocol name.
#[derive(Clone)]
pub struct ProtocolConfig {
    pub router_id: Ipv4Addr,
    /// The ports in port order (a port's id is its index).
    pub ports: Vec<ProtocolPort>,
    /// A clock for timing diagnostics only (load phases), if any: events
    /// carry their own `now`. The engine sets its host's.
    pub clock: Option<fn() -> Instant>,
    sections: BTreeMap<&'static str, Arc<dyn Any + Send + Sync>>,
}

/// A port as protocols see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolPort {
    pub id: PortId,
    /// Its name in the configuration (`[[port]] name`).
    pub name: String,
    /// Its addresses with their prefix lengths, in configuration order.
    pub addresses: Vec<IpNet>,
    /// Its IP MTU.
    pub mtu: u16,
}

impl ProtocolPort {
    /// A port with only a name (tests of protocols that need no more).
    pub fn named(id: PortId, name: &str) -> Self {
        ProtocolPort {
            id,
            name: name.to_string(),
            addresses: Vec::new(),
            mtu: 1500,
        }
    }
}

impl ProtocolConfig {
    pub fn new(router_id: Ipv4Addr, ports: Vec<ProtocolPort>) -> Self {
        ProtocolConfig {
            router_id,
            ports,
            clock: None,
            sections: BTreeMap::new(),
        }
    }

    /// Adds protocol `name`'s section.
    pub fn with_section<T: Any + Send + Sync>(mut self, name: &'static str, section: T) -> Self {
        self.sections.insert(name, Arc::new(section));
        self
    }

    /// Protocol `name`'s section, if configured (and of type `T`).
    pub fn section<T: Any>(&self, name: &str) -> Option<&T> {
        self.sections.get(name).and_then(|s| s.downcast_ref())
    }

    /// Whether protocol `name` has a section.
    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }
}

impl std::fmt::Debug for ProtocolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolConfig")
            .field("router_id", &self.router_id)
            .field("ports", &self.ports)
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What an instance needs after a (re)configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Input files the event loop reads and hands in
    /// ([`ProtocolInput::File`]), in this order, now and on every reload.
    pub files: Vec<PathBuf>,
}

/// A routing protocol instance (sans-IO).
pub trait Protocol: Send {
    fn name(&self) -> &str;

    /// A socket's bytes or an input file's contents. An error rejects the
    /// input (a reload is then rejected whole).
    fn handle_input(
        &mut self,
        now: Instant,
        input: ProtocolInput<'_>,
        rib: &dyn RibView,
    ) -> Result<(), String>;

    /// The deadline from [`Protocol::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant, rib: &dyn RibView);

    /// Best-route changes of the sources [`Protocol::subscription`] wants
    /// (BIRD's `rt_notify`).
    fn handle_rib_changes(&mut self, now: Instant, changes: &[BestRouteChange], rib: &dyn RibView);

    /// The link of port `port` lost (`up == false`) or regained its
    /// carrier, as the kernel reports it. Most protocols need not care
    /// (their sessions time out); a link-state protocol reacts at once.
    fn handle_link(&mut self, _now: Instant, _port: PortId, _up: bool, _rib: &dyn RibView) {}

    /// An operator command (`show` arguments, such as `bgp` or
    /// `routes 192.0.2.1`); `None` when it is not this instance's.
    /// Deviation from the design note: `rib` is handed in, since explaining a
    /// BGP decision needs the IGP costs of next hops.
    fn handle_command(
        &mut self,
        now: Instant,
        command: &str,
        rib: &dyn RibView,
    ) -> Option<Result<serde_json::Value, String>>;

    /// An operator action that changes state (`bgp reset 192.0.2.2 soft
    /// in`), unlike [`Protocol::handle_command`], which only reads; `None`
    /// when it is not this instance's. What it asks for (bytes, sockets,
    /// routes) is polled as after any other event.
    fn handle_action(
        &mut self,
        _now: Instant,
        _action: &str,
        _rib: &dyn RibView,
    ) -> Option<Result<serde_json::Value, String>> {
        None
    }

    /// Applies a configuration; says which input files to hand in.
    fn reconfigure(
        &mut self,
        now: Instant,
        config: &ProtocolConfig,
    ) -> Result<Reconfigured, String>;

    /// The next socket to open or close. The event loop asks after every
    /// event handed in.
    fn poll_socket_request(&mut self) -> Option<SocketRequest> {
        None
    }

    /// The next bytes to send on one of its sockets.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    /// When [`Protocol::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next route change for the RIB.
    fn poll_route(&mut self) -> Option<RouteOutput>;

    /// Whose best-route changes this instance wants (possibly none).
    fn subscription(&self) -> SourceFilter;

    /// Its routes have stopped changing after a mass change: fold pending
    /// changes of large tables into their compact form (see
    /// `Engine::poll_compacted`).
    fn compact(&mut self) {}
}

/// How a protocol is made from the configuration.
pub struct Registration {
    /// The protocol's name, which is also its configuration section's key
    /// in [`ProtocolConfig`].
    pub name: &'static str,
    /// What operators call it ("BGP").
    pub title: &'static str,
    /// How operators enable it (for "not configured" answers).
    pub section: &'static str,
    /// The route sources its instances feed (cleared when it is removed).
    pub sources: &'static [RouteSource],
    /// An instance when `config` has the protocol's section.
    pub create: fn(&ProtocolConfig) -> Option<Box<dyn Protocol>>,
    /// How `reload` treats a running instance.
    pub reload: ReloadStyle,
}

/// How `reload` treats a running instance of a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadStyle {
    /// A fresh instance reads the inputs; it replaces the running one only
    /// if every instance's inputs were good, so a bad file rejects the
    /// reload whole (file inputs).
    Fresh,
    /// The running instance is [`Protocol::reconfigure`]d in place, keeping
    /// its sessions and sockets (live speakers); an error rejects the
    /// reload for it.
    InPlace,
}

/// Every protocol, in the order instances are started and their deadlines
/// run (link-state before BGP: BGP resolves through link-state routes).
pub const REGISTRY: &[Registration] = &[
    crate::control::linkstate::file_input::REGISTRATION,
    crate::control::ospf::REGISTRATION,
    crate::control::ospf::v3::instance::REGISTRATION,
    crate::control::bgp::speaker::REGISTRATION,
];

/// A clock that never moves, for tests: instances are driven by the `now`
/// they are handed, and their diagnostics read this.
#[doc(hidden)]
pub fn frozen_clock() -> Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T.get_or_init(Instant::now)
}
