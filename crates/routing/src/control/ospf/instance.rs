//! `[ospf]` as a [`Protocol`] instance: one raw IP socket (protocol 89)
//! per `[[ospf.interface]]`, asked of the event loop; datagrams in,
//! packets out; SPF after a hold-down whenever the router or network
//! LSAs changed, its routes as source `ospf`.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use super::external::{beyond_area_routes, OspfRoute};
use super::interface::{InterfaceConfig, NetworkType};
use super::routes::to_linkstate;
use super::show;
use super::speaker::{ExternalRoute, Speaker};
use super::wire::{Authentication, ALL_D_ROUTERS, ALL_SPF_ROUTERS, IP_PROTOCOL};
use crate::control::linkstate::{spf, SpfScheduler};
use crate::control::protocol::{
    Protocol, ProtocolConfig, ProtocolInput, Reconfigured, Registration, ReloadStyle, RibView,
    RouteOutput, SocketEvent, SocketId, SocketRequest, Transmit,
};
use crate::control::rib::notify::{BestRouteChange, SourceFilter};
use crate::control::rib::route::{RibRoute, RouteSource};
use crate::fib::PortId;
use crate::wire::Ipv4Packet;

/// The protocol's name and configuration key.
pub const NAME: &str = "ospf";
/// Hold-down between a database change and its SPF run.
const SPF_HOLD_DOWN: Duration = Duration::from_millis(50);
/// DSCP of what OSPF sends (CS6, network control).
const DSCP_CS6: u8 = 48;

pub const REGISTRATION: Registration = Registration {
    name: NAME,
    title: "OSPF",
    section: "[ospf]",
    sources: &[RouteSource::OSPF],
    reload: ReloadStyle::InPlace,
    create: |config| {
        let section = config.section::<OspfConfig>(NAME)?;
        Some(Box::new(OspfInstance::new(section.clone())))
    },
};

/// `[ospf]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OspfConfig {
    /// Only the backbone (0.0.0.0) is supported.
    pub area: Ipv4Addr,
    pub interfaces: Vec<OspfInterfaceConfig>,
    /// Routes of these sources are announced as AS-external (type 5).
    pub redistribute: Vec<RouteSource>,
    /// Their metric, and whether it is type 2 (the default) or type 1.
    pub external_metric: u32,
    pub external_type2: bool,
}

impl OspfConfig {
    /// The backbone on `interfaces`, redistributing nothing.
    pub fn new(interfaces: Vec<OspfInterfaceConfig>) -> Self {
        OspfConfig {
            area: Ipv4Addr::UNSPECIFIED,
            interfaces,
            redistribute: Vec::new(),
            external_metric: 20,
            external_type2: true,
        }
    }
}

/// `[[ospf.interface]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OspfInterfaceConfig {
    /// The port's name.
    pub port: String,
    pub network: NetworkType,
    pub cost: u16,
    pub hello_interval: u16,
    pub dead_interval: u32,
    pub priority: u8,
    pub retransmit_interval: u16,
    pub authentication: Authentication,
}

/// The running protocol.
pub struct OspfInstance {
    config: OspfConfig,
    speaker: Option<Speaker>,
    /// The port of each interface, and the socket it has (ids are never
    /// reused, so a socket closed on reload and one opened at the same
    /// time cannot be confused).
    ports: Vec<PortId>,
    sockets: Vec<SocketId>,
    next_socket: u32,
    port_names: Vec<String>,
    /// Sockets to open or close.
    requests: VecDeque<SocketRequest>,
    spf: SpfScheduler,
    spf_generation: u64,
    last_spf: Option<spf::SpfResult>,
    routes: VecDeque<RouteOutput>,
    /// Datagrams that were no OSPF packet over IPv4.
    bad_datagrams: u64,
    /// Sockets lost (and asked for again), and the last error.
    socket_losses: u64,
    last_socket_error: Option<String>,
    /// IPv4 routes of the redistributed RIB sources, and the subnets of
    /// ports OSPF does not run on (for `connected`).
    redistributed: BTreeMap<Ipv4Net, RouteSource>,
    connected: Vec<Ipv4Net>,
    /// When the redistributed sources' routes are read from the RIB again
    /// (after a reconfiguration: a new journal starts empty).
    reread_due: Option<Instant>,
    /// The inter-area and external routes of the last SPF run.
    beyond: Vec<OspfRoute>,
}

impl OspfInstance {
    pub fn new(config: OspfConfig) -> Self {
        OspfInstance {
            config,
            speaker: None,
            ports: Vec::new(),
            sockets: Vec::new(),
            next_socket: 0,
            port_names: Vec::new(),
            requests: VecDeque::new(),
            spf: SpfScheduler::new(SPF_HOLD_DOWN),
            spf_generation: 0,
            last_spf: None,
            routes: VecDeque::new(),
            bad_datagrams: 0,
            socket_losses: 0,
            last_socket_error: None,
            redistributed: BTreeMap::new(),
            connected: Vec::new(),
            reread_due: None,
            beyond: Vec::new(),
        }
    }

    /// The RIB sources whose routes are redistributed (connected ones
    /// come from the ports, not the RIB: it holds host routes too).
    fn rib_sources(&self) -> Vec<RouteSource> {
        self.config
            .redistribute
            .iter()
            .copied()
            .filter(|s| *s != RouteSource::CONNECTED)
            .collect()
    }

    /// Hands the speaker what is redistributed now. A prefix OSPF already
    /// carries as an interface's subnet is left out.
    fn announce_externals(&mut self, now: Instant) {
        let Some(speaker) = self.speaker.as_mut() else {
            return;
        };
        let route = ExternalRoute {
            metric: self.config.external_metric,
            type2: self.config.external_type2,
        };
        let own: Vec<Ipv4Net> = speaker
            .interfaces()
            .iter()
            .map(|f| f.config.address.trunc())
            .collect();
        let externals = self
            .redistributed
            .keys()
            .chain(&self.connected)
            .filter(|p| !own.contains(p))
            .map(|p| (*p, route))
            .collect();
        speaker.set_externals(now, externals);
    }

    /// Reads the redistributed sources' routes from the RIB anew.
    fn reread(&mut self, now: Instant, rib: &dyn RibView) {
        self.redistributed.clear();
        for source in self.rib_sources() {
            for prefix in rib.source_prefixes(source) {
                if let IpNet::V4(p) = prefix {
                    self.redistributed.entry(p).or_insert(source);
                }
            }
        }
        self.reread_due = None;
        self.announce_externals(now);
    }

    pub fn speaker(&self) -> Option<&Speaker> {
        self.speaker.as_ref()
    }

    /// The interfaces of `config` on `ports`, checked.
    fn interfaces(
        config: &OspfConfig,
        ports: &ProtocolConfig,
    ) -> Result<Vec<InterfaceConfig>, String> {
        let mut out: Vec<InterfaceConfig> = Vec::with_capacity(config.interfaces.len());
        for c in &config.interfaces {
            let Some(port) = ports.ports.iter().find(|p| p.name == c.port) else {
                return Err(format!("ospf.interface: no port is called {:?}", c.port));
            };
            if out.iter().any(|o| o.port == port.id) {
                return Err(format!("ospf.interface: port {:?} listed twice", c.port));
            }
            let Some(address) = port.addresses.iter().find_map(|a| match a {
                ipnet::IpNet::V4(v4) => Some(*v4),
                ipnet::IpNet::V6(_) => None,
            }) else {
                return Err(format!(
                    "ospf.interface: port {:?} has no IPv4 address",
                    c.port
                ));
            };
            out.push(InterfaceConfig {
                port: port.id,
                name: port.name.clone(),
                address,
                network: c.network,
                cost: c.cost,
                hello_interval: c.hello_interval,
                dead_interval: c.dead_interval,
                priority: c.priority,
                retransmit_interval: c.retransmit_interval,
                mtu: port.mtu,
                authentication: c.authentication.clone(),
                v3: None,
            });
        }
        Ok(out)
    }

    /// After every event: SPF is due when the LSAs it reads changed.
    fn note_changes(&mut self, now: Instant) {
        if let Some(s) = &self.speaker {
            let g = s.routing_generation();
            if g != self.spf_generation {
                self.spf_generation = g;
                self.spf.note_change(now);
            }
        }
    }

    fn run_spf(&mut self, now: Instant) {
        let Some(s) = &self.speaker else { return };
        let lsdb = to_linkstate(s, now);
        let names = &self.port_names;
        let port_of = |name: &str| names.iter().position(|n| n == name).map(|i| i as PortId);
        let result = spf::run(&lsdb, s.router_id(), port_of);
        self.beyond = beyond_area_routes(s, &result, result.routes(), now);
        let routes: Vec<RibRoute> = result
            .routes()
            .iter()
            .map(|r| RibRoute {
                source: RouteSource::OSPF,
                ..r.clone()
            })
            .chain(self.beyond.iter().map(OspfRoute::to_rib))
            .collect();
        self.routes.push_back(RouteOutput::ReplaceSource {
            source: RouteSource::OSPF,
            routes,
        });
        self.last_spf = Some(result);
    }
}

impl Protocol for OspfInstance {
    fn name(&self) -> &str {
        NAME
    }

    fn handle_input(
        &mut self,
        now: Instant,
        input: ProtocolInput<'_>,
        _rib: &dyn RibView,
    ) -> Result<(), String> {
        let ProtocolInput::Socket(event) = input else {
            return Err("ospf: no file input".to_string());
        };
        let Some(speaker) = self.speaker.as_mut() else {
            return Ok(());
        };
        match event {
            SocketEvent::Datagram { socket, packet } => {
                let Ok(ip) = Ipv4Packet::new_checked(packet) else {
                    self.bad_datagrams += 1;
                    return Ok(());
                };
                if ip.protocol() != IP_PROTOCOL || ip.is_non_first_fragment() || ip.more_frags() {
                    self.bad_datagrams += 1;
                    return Ok(());
                }
                let Some(interface) = self.sockets.iter().position(|s| *s == socket) else {
                    return Ok(()); // a socket closed meanwhile
                };
                speaker.receive(now, interface, ip.src(), ip.dst(), ip.payload());
            }
            SocketEvent::Closed { socket, error } => {
                // Lost: ask again (a port going away and coming back).
                self.socket_losses += 1;
                self.last_socket_error = error.map(|e| format!("socket {}: {e}", socket.0));
                if let Some(i) = self.sockets.iter().position(|s| *s == socket) {
                    self.requests.push_back(raw_socket(socket, self.ports[i]));
                }
            }
            _ => {}
        }
        self.note_changes(now);
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant, rib: &dyn RibView) {
        if self.reread_due.is_some_and(|t| t <= now) {
            self.reread(now, rib);
        }
        if let Some(s) = self.speaker.as_mut() {
            s.handle_timeout(now);
        }
        self.note_changes(now);
        if self.spf.due(now) {
            self.run_spf(now);
        }
    }

    fn handle_link(&mut self, now: Instant, port: PortId, up: bool, _rib: &dyn RibView) {
        if let Some(s) = self.speaker.as_mut() {
            for i in (0..self.ports.len()).filter(|&i| self.ports[i] == port) {
                s.set_interface_up(now, i, up);
            }
        }
        self.note_changes(now);
    }

    fn handle_rib_changes(&mut self, now: Instant, changes: &[BestRouteChange], rib: &dyn RibView) {
        let sources = self.rib_sources();
        for change in changes {
            match change {
                BestRouteChange::Prefix {
                    prefix: IpNet::V4(p),
                    new,
                    ..
                } => match new.as_ref().filter(|b| sources.contains(&b.source)) {
                    Some(b) => {
                        self.redistributed.insert(*p, b.source);
                    }
                    None => {
                        self.redistributed.remove(p);
                    }
                },
                BestRouteChange::Prefix { .. } => {}
                BestRouteChange::SourceReplaced { .. } => {
                    self.reread(now, rib);
                    return;
                }
            }
        }
        self.announce_externals(now);
        self.note_changes(now);
    }

    fn handle_command(
        &mut self,
        now: Instant,
        command: &str,
        _rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        let mut words = command.split_whitespace();
        if words.next() != Some(NAME) {
            return None;
        }
        let what = words.next();
        if words.next().is_some() {
            return Some(Err(format!("show ospf: unexpected {command:?}")));
        }
        let speaker = self.speaker.as_ref()?;
        let mut answer = show::show(speaker, self.last_spf.as_ref(), &self.beyond, now, what);
        if let (Ok(v), None) = (&mut answer, what) {
            v["bad_datagrams"] = self.bad_datagrams.into();
            v["socket_losses"] = self.socket_losses.into();
            v["last_socket_error"] = self.last_socket_error.clone().into();
            if let (Some(text), Some(e)) = (v["text"].as_str(), &self.last_socket_error) {
                let text = format!(
                    "{text}Sockets lost: {} (last: {e}); datagrams not OSPF: {}\n",
                    self.socket_losses, self.bad_datagrams
                );
                v["text"] = text.into();
            }
        }
        Some(answer)
    }

    fn reconfigure(
        &mut self,
        now: Instant,
        config: &ProtocolConfig,
    ) -> Result<Reconfigured, String> {
        let section = config
            .section::<OspfConfig>(NAME)
            .cloned()
            .unwrap_or_else(|| self.config.clone());
        if section.area != Ipv4Addr::UNSPECIFIED {
            return Err(format!(
                "ospf.area: only the backbone (0.0.0.0) is supported, not {}",
                section.area
            ));
        }
        let interfaces = Self::interfaces(&section, config)?;
        self.port_names = config.ports.iter().map(|p| p.name.clone()).collect();
        let ports: Vec<PortId> = interfaces.iter().map(|c| c.port).collect();
        let kept = match self.speaker.as_mut() {
            // Same router: interfaces are added, removed or changed one by
            // one; the others keep their adjacencies.
            Some(s) if s.router_id() == config.router_id => {
                s.reconfigure_interfaces(now, interfaces)
            }
            _ => {
                self.speaker = Some(Speaker::new(
                    config.router_id,
                    section.area,
                    interfaces,
                    now,
                ));
                vec![None; ports.len()]
            }
        };
        let mut sockets = Vec::with_capacity(ports.len());
        for (k, from) in kept.iter().enumerate() {
            match from {
                Some(j) => sockets.push(self.sockets[*j]),
                None => {
                    let socket = SocketId(self.next_socket);
                    self.next_socket += 1;
                    self.requests.push_back(raw_socket(socket, ports[k]));
                    sockets.push(socket);
                }
            }
        }
        for old in &self.sockets {
            if !sockets.contains(old) {
                self.requests
                    .push_back(SocketRequest::Close { socket: *old });
            }
        }
        self.ports = ports;
        self.sockets = sockets;
        self.config = section;
        self.connected = if self.config.redistribute.contains(&RouteSource::CONNECTED) {
            config
                .ports
                .iter()
                .flat_map(|p| &p.addresses)
                .filter_map(|a| match a {
                    IpNet::V4(v4) => Some(v4.trunc()),
                    IpNet::V6(_) => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.reread_due = Some(now);
        self.announce_externals(now);
        self.note_changes(now);
        Ok(Reconfigured::default())
    }

    fn poll_socket_request(&mut self) -> Option<SocketRequest> {
        self.requests.pop_front()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let out = self.speaker.as_mut()?.poll_transmit()?;
        Some(Transmit {
            socket: *self.sockets.get(out.interface)?,
            destination: Some(out.destination),
            bytes: out.bytes,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let speaker = self.speaker.as_ref().and_then(|s| s.poll_timeout());
        [speaker, self.spf.deadline(), self.reread_due]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.routes.pop_front()
    }

    fn subscription(&self) -> SourceFilter {
        SourceFilter::only(&self.rib_sources())
    }
}

/// The socket of the interface on `port`: both groups are joined, and
/// packets to AllDRouters are dropped by the speaker unless it is DR or
/// BDR there (a role change needs no new socket).
fn raw_socket(socket: SocketId, port: PortId) -> SocketRequest {
    SocketRequest::RawIpv4 {
        socket,
        protocol: IP_PROTOCOL,
        port,
        groups: vec![ALL_SPF_ROUTERS, ALL_D_ROUTERS],
        dscp: Some(DSCP_CS6),
    }
}
