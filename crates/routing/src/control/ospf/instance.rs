//! `[ospf]` as a [`Protocol`] instance: one raw IP socket (protocol 89)
//! per `[[ospf.interface]]`, asked of the event loop; datagrams in,
//! packets out; SPF after a hold-down whenever the router or network
//! LSAs changed, its routes as source `ospf`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net};
use serde_json::Value;

use super::external::{beyond_area_routes, OspfRoute};
use super::interface::{InterfaceConfig, NetworkType};
use super::plumbing::Plumbing;
use super::routes::to_linkstate;
use super::speaker::{ExternalRoute, Speaker};
use super::wire::{Authentication, ALL_D_ROUTERS, ALL_SPF_ROUTERS, IP_PROTOCOL};
use crate::control::protocol::{
    Protocol, ProtocolConfig, ProtocolInput, Reconfigured, Registration, ReloadStyle, RibView,
    RouteOutput, SocketEvent, SocketId, SocketRequest, Transmit,
};
use crate::control::rib::notify::{BestRouteChange, SourceFilter};
use crate::control::rib::route::RouteSource;
use crate::fib::PortId;
use crate::wire::Ipv4Packet;

/// The protocol's name and configuration key.
pub const NAME: &str = "ospf";
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
    /// Sockets, SPF and routes out (bad datagrams: no OSPF packet over
    /// IPv4).
    io: Plumbing,
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
            io: Plumbing::new(raw_socket),
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
        self.io.note_changes(now, self.speaker.as_ref());
    }

    /// SPF, then the inter-area and external routes on its result.
    fn run_spf(&mut self, now: Instant) {
        let Some(s) = &self.speaker else { return };
        let lsdb = to_linkstate(s, now);
        let beyond = &mut self.beyond;
        self.io
            .run_spf(now, &lsdb, s.router_id(), RouteSource::OSPF, |result| {
                *beyond = beyond_area_routes(s, result, result.routes(), now);
                beyond.iter().map(|r| r.to_rib(RouteSource::OSPF)).collect()
            });
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
                    self.io.bad_datagrams += 1;
                    return Ok(());
                };
                if ip.protocol() != IP_PROTOCOL || ip.is_non_first_fragment() || ip.more_frags() {
                    self.io.bad_datagrams += 1;
                    return Ok(());
                }
                let Some(interface) = self.io.interface_of(socket) else {
                    return Ok(()); // a socket closed meanwhile
                };
                speaker.receive(now, interface, ip.src(), ip.dst(), ip.payload());
            }
            SocketEvent::Closed { socket, error } => self.io.socket_closed(socket, error),
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
        if self.io.spf_due(now) {
            self.run_spf(now);
        }
    }

    fn handle_link(&mut self, now: Instant, port: PortId, up: bool, _rib: &dyn RibView) {
        if let Some(s) = self.speaker.as_mut() {
            for i in self.io.interfaces_on(port) {
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
        self.io.command(
            NAME,
            "OSPF",
            command,
            self.speaker.as_ref(),
            &self.beyond,
            now,
        )
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
        self.io.port_names = config.ports.iter().map(|p| p.name.clone()).collect();
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
        self.io.assign(ports, &kept);
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
        self.io.poll_socket_request()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let out = self.speaker.as_mut()?.poll_transmit()?;
        self.io.transmit(out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.io.deadline(self.speaker.as_ref(), self.reread_due)
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.io.poll_route()
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
