//! `[ospfv3]` as a [`Protocol`] instance: one raw IPv6 socket (protocol
//! 89, the kernel keeping the checksum) per `[[ospfv3.interface]]`, asked
//! of the event loop; datagrams in, packets out; SPF after a hold-down
//! whenever what it reads changed, its routes as source `ospfv3`. The
//! speaker is OSPFv2's, run with [`Version::V3`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipnet::IpNet;
use serde_json::Value;

use super::routes::to_linkstate;
use super::wire::{ALL_D_ROUTERS, ALL_SPF_ROUTERS, CHECKSUM_OFFSET};
use crate::control::ospf::external::{beyond_area_routes, OspfRoute};
use crate::control::ospf::interface::{InterfaceConfig, V3Link};
use crate::control::ospf::plumbing::Plumbing;
use crate::control::ospf::speaker::Speaker;
use crate::control::ospf::wire::{Authentication, IP_PROTOCOL};
use crate::control::ospf::OspfInterfaceConfig;
use crate::control::protocol::{
    Protocol, ProtocolConfig, ProtocolInput, Reconfigured, Registration, ReloadStyle, RibView,
    RouteOutput, SocketEvent, SocketId, SocketRequest, Transmit,
};
use crate::control::rib::notify::{BestRouteChange, SourceFilter};
use crate::control::rib::route::RouteSource;
use crate::fib::PortId;
use crate::wire::Ipv6Packet;

/// The protocol's name and configuration key.
pub const NAME: &str = "ospfv3";
/// Traffic class of what OSPFv3 sends (CS6, network control).
const DSCP_CS6: u8 = 48;

pub const REGISTRATION: Registration = Registration {
    name: NAME,
    title: "OSPFv3",
    section: "[ospfv3]",
    sources: &[RouteSource::OSPFV3],
    reload: ReloadStyle::InPlace,
    create: |config| {
        let section = config.section::<Ospfv3Config>(NAME)?;
        Some(Box::new(Ospfv3Instance::new(section.clone())))
    },
};

/// `[ospfv3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ospfv3Config {
    /// Its own router id (default: `[router] id`).
    pub router_id: Option<Ipv4Addr>,
    /// Only the backbone (0.0.0.0) is supported.
    pub area: Ipv4Addr,
    pub instance_id: u8,
    /// As `[[ospf.interface]]`, authentication excepted (OSPFv3 has none).
    pub interfaces: Vec<OspfInterfaceConfig>,
}

/// The running protocol.
pub struct Ospfv3Instance {
    config: Ospfv3Config,
    speaker: Option<Speaker>,
    /// The inter-area and external routes of the last SPF run.
    beyond: Vec<OspfRoute>,
    /// Sockets, SPF and routes out (bad datagrams: no OSPFv3 packet over
    /// IPv6 from a link-local address).
    io: Plumbing,
}

impl Ospfv3Instance {
    pub fn new(config: Ospfv3Config) -> Self {
        Ospfv3Instance {
            config,
            speaker: None,
            beyond: Vec::new(),
            io: Plumbing::new(raw_socket),
        }
    }

    pub fn speaker(&self) -> Option<&Speaker> {
        self.speaker.as_ref()
    }

    /// The interfaces of `config` on `ports`, checked. The Interface ID is
    /// the port's id plus one; the link-local address comes from the
    /// socket ([`SocketEvent::Bound`]) and is unspecified until then.
    fn interfaces(
        config: &Ospfv3Config,
        ports: &ProtocolConfig,
        link_locals: &[(PortId, Ipv6Addr)],
    ) -> Result<Vec<InterfaceConfig>, String> {
        let mut out: Vec<InterfaceConfig> = Vec::with_capacity(config.interfaces.len());
        for c in &config.interfaces {
            let Some(port) = ports.ports.iter().find(|p| p.name == c.port) else {
                return Err(format!("ospfv3.interface: no port is called {:?}", c.port));
            };
            if out.iter().any(|o| o.port == port.id) {
                return Err(format!("ospfv3.interface: port {:?} listed twice", c.port));
            }
            if c.authentication != Authentication::Null {
                return Err("ospfv3.interface: OSPFv3 has no authentication".to_string());
            }
            let prefixes = port
                .addresses
                .iter()
                .filter_map(|a| match a {
                    IpNet::V6(v6) if !is_link_local(v6.addr()) => Some(v6.trunc()),
                    _ => None,
                })
                .collect();
            let link_local = link_locals
                .iter()
                .find(|(p, _)| *p == port.id)
                .map_or(Ipv6Addr::UNSPECIFIED, |(_, a)| *a);
            out.push(InterfaceConfig {
                port: port.id,
                name: port.name.clone(),
                address: ipnet::Ipv4Net::default(),
                network: c.network,
                cost: c.cost,
                hello_interval: c.hello_interval,
                dead_interval: c.dead_interval,
                priority: c.priority,
                retransmit_interval: c.retransmit_interval,
                mtu: port.mtu,
                authentication: Authentication::Null,
                v3: Some(V3Link {
                    interface_id: u32::from(port.id) + 1,
                    link_local,
                    prefixes,
                }),
            });
        }
        Ok(out)
    }

    fn note_changes(&mut self, now: Instant) {
        self.io.note_changes(now, self.speaker.as_ref());
    }

    fn run_spf(&mut self, now: Instant) {
        let Some(s) = &self.speaker else { return };
        let lsdb = to_linkstate(s, now);
        let beyond = &mut self.beyond;
        self.io
            .run_spf(now, &lsdb, s.router_id(), RouteSource::OSPFV3, |result| {
                *beyond = beyond_area_routes(s, result, result.routes(), now);
                beyond
                    .iter()
                    .map(|r| r.to_rib(RouteSource::OSPFV3))
                    .collect()
            });
    }

    fn receive(&mut self, now: Instant, socket: SocketId, packet: &[u8]) {
        let Some(speaker) = self.speaker.as_mut() else {
            return;
        };
        let Ok(ip) = Ipv6Packet::new_checked(packet) else {
            self.io.bad_datagrams += 1;
            return;
        };
        // OSPFv3 speaks from link-local addresses (RFC 5340 §2.5).
        if ip.next_header() != IP_PROTOCOL || !is_link_local(ip.src()) {
            self.io.bad_datagrams += 1;
            return;
        }
        let Some(interface) = self.io.interface_of(socket) else {
            return; // a socket closed meanwhile
        };
        speaker.receive(now, interface, ip.src(), ip.dst(), ip.payload());
    }
}

/// fe80::/10.
fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl Protocol for Ospfv3Instance {
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
            return Err("ospfv3: no file input".to_string());
        };
        match event {
            SocketEvent::Datagram { socket, packet } => self.receive(now, socket, packet),
            SocketEvent::Bound {
                socket,
                local: IpAddr::V6(local),
            } => {
                let i = self.io.interface_of(socket);
                if let (Some(i), Some(s)) = (i, self.speaker.as_mut()) {
                    s.set_link_local(now, i, local);
                }
            }
            SocketEvent::Closed { socket, error } => self.io.socket_closed(socket, error),
            _ => {}
        }
        self.note_changes(now);
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant, _rib: &dyn RibView) {
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

    fn handle_command(
        &mut self,
        now: Instant,
        command: &str,
        _rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        self.io.command(
            NAME,
            "OSPFv3",
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
            .section::<Ospfv3Config>(NAME)
            .cloned()
            .unwrap_or_else(|| self.config.clone());
        if section.area != Ipv4Addr::UNSPECIFIED {
            return Err(format!(
                "ospfv3.area: only the backbone (0.0.0.0) is supported, not {}",
                section.area
            ));
        }
        let router_id = section.router_id.unwrap_or(config.router_id);
        // Link-local addresses already learnt stay with their ports.
        let known: Vec<(PortId, Ipv6Addr)> = self
            .speaker
            .iter()
            .flat_map(|s| s.interfaces())
            .filter_map(|f| Some((f.config.port, f.config.v3.as_ref()?.link_local)))
            .collect();
        let interfaces = Self::interfaces(&section, config, &known)?;
        self.io.port_names = config.ports.iter().map(|p| p.name.clone()).collect();
        let ports: Vec<PortId> = interfaces.iter().map(|c| c.port).collect();
        let kept = match self.speaker.as_mut() {
            Some(s)
                if s.router_id() == router_id && self.config.instance_id == section.instance_id =>
            {
                s.reconfigure_interfaces(now, interfaces)
            }
            _ => {
                self.speaker = Some(Speaker::new_v3(
                    router_id,
                    section.area,
                    section.instance_id,
                    interfaces,
                    now,
                ));
                vec![None; ports.len()]
            }
        };
        self.io.assign(ports, &kept);
        self.config = section;
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
        self.io.deadline(self.speaker.as_ref(), None)
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.io.poll_route()
    }

    /// No redistribution yet: no RIB changes wanted.
    fn handle_rib_changes(&mut self, _: Instant, _: &[BestRouteChange], _: &dyn RibView) {}

    fn subscription(&self) -> SourceFilter {
        SourceFilter::NONE
    }
}

/// The socket of the interface on `port`: both groups joined (packets to
/// AllDRouters are dropped by the speaker unless it is DR or BDR there).
fn raw_socket(socket: SocketId, port: PortId) -> SocketRequest {
    SocketRequest::RawIpv6 {
        socket,
        protocol: IP_PROTOCOL,
        port,
        groups: vec![ALL_SPF_ROUTERS, ALL_D_ROUTERS],
        dscp: Some(DSCP_CS6),
        checksum_offset: Some(CHECKSUM_OFFSET as u16),
    }
}
