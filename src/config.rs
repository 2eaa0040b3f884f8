//! The router's TOML configuration: ports, static routes, static neighbours
//! and router-wide settings.
//!
//! ```toml
//! [router]
//! id = "192.0.2.1"
//! icmp_rate = 1000          # ICMP errors per second per worker (default 1000)
//! icmp_burst = 50           # optional (default 50, never above icmp_rate, at least 1)
//! accept_source_route = false  # optional: forward IPv4 LSRR/SSRR packets (default false)
//! worker_priority = 10      # optional: run workers SCHED_FIFO at this priority (1..=99)
//!
//! [[port]]
//! name = "p0"               # also the Linux interface unless `interface` is set
//! interface = "veth0"       # optional
//! mac = "02:00:00:00:00:01"
//! addresses = ["192.0.2.1/24", "2001:db8::1/64"]
//! mtu = 1500                # IP MTU, 68..=9000, >= 1280 with an IPv6 address
//! # Output queueing (all optional):
//! scheduler = "drr"         # "drr" (default), "wfq" or "fifo"
//! rate = "100mbit"          # shape egress: bit/kbit/mbit/gbit, or an integer of bytes/s
//! overhead = 24             # bytes of framing per frame charged by the shaper (default 24)
//! codel_target_ms = 5       # CoDel target (default 5)
//! codel_interval_ms = 100   # CoDel interval (default 100)
//! queue_limit = 10240       # frames the port may queue (default 10240)
//!
//! [[port.class]]            # DSCP classes sharing the port by weight (drr/wfq);
//! name = "voice"            # unlisted DSCPs are class "default", weight 1
//! dscp = [46]
//! weight = 4
//!
//! urpf = "strict"           # optional: "strict" or "loose" (RFC 3704; default off)
//! acl_in = "edge-in"        # optional: [[acl]] for arriving packets; acl_out likewise
//!
//! [[port]]                  # an 802.1Q VLAN sub-interface of an earlier port
//! name = "p0.100"           # also the name of its TAP (linux-cp) unless `interface` is set
//! parent = "p0"             # not itself a VLAN
//! vlan = 100                # 1..=4094, once per parent
//! addresses = ["198.51.100.1/24"]   # its own; mtu <= the parent's; mac: the parent's unless set
//!
//! [[acl]]                   # a named, ordered rule list; first match wins
//! name = "edge-in"
//! default = "deny"          # "permit" (default), "deny" or "reject"
//!
//! [[acl.rule]]
//! action = "permit"         # "permit", "deny" (silent) or "reject" (ICMP admin. prohibited)
//! source = "192.0.2.0/24"   # optional prefixes, IPv4 or IPv6 (one family per rule)
//! destination = "198.51.100.0/24"
//! protocol = "tcp"          # optional: "tcp", "udp", "icmp", "icmpv6" or a number
//! destination_port = "22"   # optional (tcp/udp only): a port or "1000-2000"; source_port likewise
//!
//! [[route]]
//! prefix = "198.51.100.0/24"
//! via = "192.0.2.2"         # on a connected subnet
//!
//! [[neighbor]]
//! address = "192.0.2.2"
//! mac = "02:00:00:00:01:02"
//! port = "p0"
//!
//! [distance]                # optional; administrative distances, 0..=255
//! connected = 0             # (these are the defaults)
//! static = 1
//! ebgp = 20
//! linkstate = 110
//! ibgp = 200
//! ospf = 110
//!
//! [linkstate]               # optional: the LSDB (see control::linkstate);
//! file = "lsdb.toml"        # relative to this file's directory
//!
//! [bgp]                     # optional: BGP routes from files and peers
//! local_as = 65000          # required in [bgp]; peers with this AS are iBGP
//! always_compare_med = false
//! multipath = false
//! redistribute = []         # "connected", "static": advertised to peers
//!
//! [[bgp.mrt]]               # an MRT RIB dump (TABLE_DUMP_V2 or v1);
//! file = "rib.mrt.gz"       # its peers come from the dump
//! import = "all"            # optional: "all", "none" or a [[bgp.policy]] name
//!
//! [[bgp.table]]             # a pfx2as/CIDR table as one peer's routes,
//! file = "x.pfx2as.gz"      # every route with next hop `peer` and
//! peer = "192.0.2.2"        # AS_PATH = `peer_as`
//! peer_as = 65001          # (import as in [[bgp.mrt]])
//!
//! [[bgp.peer]]              # a live BGP session (TCP port 179)
//! address = "203.0.113.2"   # the neighbour
//! remote_as = 65001         # our local_as: iBGP
//! import = "all"            # "all", "none" or a [[bgp.policy]] name; eBGP without
//! export = "all"            # a role default "none" (RFC 8212), else "all"
//! # optional: local_address, passive = false, hold_time = 90,
//! # connect_retry = 5 (seconds), multihop = TTL (eBGP default 1),
//! # graceful_restart = true (RFC 4724 helper), role = "provider" | "customer"
//! # | "peer" | "rs-server" | "rs-client" (ours, RFC 9234; eBGP), strict_role = false,
//! # advertisement_interval = seconds (MRAI; eBGP default 1, iBGP 0)
//!
//! [[bgp.policy]]            # a named import/export policy (config/bgp_policy.rs)
//! name = "from-b"
//! default = "reject"        # what no term decides
//! [[bgp.policy.term]]       # in order; match.* all hold, set.* apply, then
//! match.community = ["65001:100"]  # accept, reject or continue
//! set.local_pref = 200
//! action = "accept"
//!
//! [ospf]                    # optional: an OSPFv2 speaker (RFC 2328)
//! area = "0.0.0.0"          # the backbone only
//!
//! [[ospf.interface]]        # one per port that speaks OSPF
//! port = "p0"               # a port with an IPv4 address (its first)
//! network = "broadcast"     # or "point-to-point" (default broadcast)
//! cost = 10                 # 1..=65535 (default 10)
//! hello_interval = 10       # seconds (default 10)
//! dead_interval = 40        # seconds (default 4 x hello_interval)
//! priority = 1              # 0..=255, 0: never DR (default 1)
//! retransmit_interval = 5   # seconds (default 5)
//! ```
//!
//! Unknown keys are errors. Every error names the file, the line and the
//! field: `router.toml:14: port[1].mac: "02:00:zz:00:00:01" is not a MAC address`.

mod acl;
mod bgp;
mod bgp_peer;
mod bgp_policy;
mod context;
mod ospf;
mod qos;
mod raw;
mod redistribute;
mod restart;
mod validate;
mod vlan;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ipnet::IpNet;

pub use crate::control::bgp::file_input::{BgpConfig, BgpMrtConfig, BgpTableConfig};
pub use crate::control::linkstate::file_input::LinkStateConfig;
use crate::control::protocol::{ProtocolConfig, ProtocolPort};
use crate::control::rib::route::AdminDistances;
use crate::control::{
    bgp::file_input as bgp_input, linkstate::file_input as linkstate_input, ControlInputs,
};
use crate::fib::{
    self, ConnectedPort, Fib, FibError, PortId, RouteTarget, StaticNeighbor, StaticRoute,
};
use crate::forward::acl::AclSpec;
use crate::forward::{ForwarderConfig, Port, PortFeatures, StageTable, Vlan};
use crate::position::{locate, one_line, FileError};
use crate::wire::MacAddr;
pub use restart::{RestartOnly, PORTS_CHANGED};

/// Default ICMP errors per second per worker.
pub const DEFAULT_ICMP_RATE: u32 = 1000;
/// Default ICMP burst (capped to the rate).
pub const DEFAULT_ICMP_BURST: u32 = 50;
/// Default IP MTU of a port.
pub const DEFAULT_MTU: u16 = 1500;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub router: RouterSettings,
    /// In file order; a port's index is its [`PortId`].
    pub ports: Vec<PortConfig>,
    pub routes: Vec<RouteConfig>,
    pub neighbors: Vec<NeighborConfig>,
    /// `[distance]` (defaults for keys not given).
    pub distances: AdminDistances,
    /// `[linkstate]`, if the router runs link-state.
    pub linkstate: Option<LinkStateConfig>,
    /// `[bgp]`, if the router takes BGP routes.
    pub bgp: Option<BgpConfig>,
    /// `[[acl]]` lists in file order; a list's index is its [`AclId`](crate::forward::AclId).
    pub acls: Vec<AclSpec>,
    /// `[ospf]`, if the router speaks OSPF.
    pub ospf: Option<crate::control::ospf::OspfConfig>,
    /// `[ospfv3]`, if the router speaks OSPFv3.
    pub ospfv3: Option<crate::control::ospf::v3::instance::Ospfv3Config>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterSettings {
    pub id: Ipv4Addr,
    pub icmp_rate: u32,
    /// Already capped to `icmp_rate` and at least 1.
    pub icmp_burst: u32,
    /// Forward IPv4 packets carrying loose/strict source-route options
    /// (default false, as RFC 7126 §4.3–4.4 recommends).
    pub accept_source_route: bool,
    /// SCHED_FIFO priority (1..=99) of the worker threads; `None` leaves
    /// them in the kernel's time-sharing class.
    pub worker_priority: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Logical name (used in commands, counters and file names).
    pub name: String,
    /// Linux interface name (the logical name unless set).
    pub interface: String,
    pub mac: MacAddr,
    /// Interface addresses with their prefix lengths, in file order.
    pub addresses: Vec<IpNet>,
    /// IP MTU (Ethernet header excluded).
    pub mtu: u16,
    /// Output queueing on this port.
    pub qos: crate::qos::QosConfig,
    /// uRPF and ACLs on this port.
    pub features: PortFeatures,
    /// Set on a VLAN sub-interface: its parent port and VLAN id.
    pub vlan: Option<Vlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// Host bits are guaranteed clear.
    pub prefix: IpNet,
    /// A gateway (`via`) or a discard action (`action`).
    pub target: RouteTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborConfig {
    pub address: IpAddr,
    pub mac: MacAddr,
    pub port: PortId,
}

/// A configuration that cannot be used, with where the problem is.
pub type ConfigError = FileError;

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the configuration: {e}"),
        })?;
        let mut config = Config::parse(&text, &file)?;
        if let (Some(ls), Some(dir)) = (&mut config.linkstate, path.parent()) {
            if ls.file.is_relative() {
                ls.file = dir.join(&ls.file);
            }
        }
        if let (Some(bgp), Some(dir)) = (&mut config.bgp, path.parent()) {
            let files = bgp
                .mrt
                .iter_mut()
                .map(|m| &mut m.file)
                .chain(bgp.tables.iter_mut().map(|t| &mut t.file));
            for file in files.filter(|f| f.is_relative()) {
                *file = dir.join(&*file);
            }
        }
        Ok(config)
    }

    /// Validates `text`; errors name `file`.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            let (line, field) = match e.span() {
                // An error about the document as a whole (a missing top-level
                // table) has an empty span at 0 or spans all of it: there is
                // no line or field to point at.
                Some(span)
                    if span.start == 0
                        && (span.is_empty() || span.end >= text.trim_end().len()) =>
                {
                    (None, String::new())
                }
                Some(span) => {
                    let (line, field) = locate(text, &span);
                    (Some(line), field)
                }
                None => (None, String::new()),
            };
            ConfigError {
                file: file.to_string(),
                line,
                field,
                message: one_line(e.message()),
            }
        })?;
        validate::validate(raw, text, file)
    }

    /// The id of the port called `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| i as PortId)
    }

    /// The name of port `id`.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.ports.get(id as usize).map(|p| p.name.as_str())
    }

    /// The pipeline's settings: ports in file order, each with the first
    /// address of each family as the source of its ICMP errors.
    pub fn forwarder_config(&self) -> ForwarderConfig {
        self.forwarder_config_with(&self.stage_table(None))
    }

    /// The same with the ports' stages and the compiled lists of `stages`
    /// (shared by every worker instead of compiled for each).
    pub fn forwarder_config_with(&self, stages: &StageTable) -> ForwarderConfig {
        let ports = self
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                mac: p.mac,
                mtu: p.mtu,
                ipv4: p.addresses.iter().find_map(|a| match a.addr() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                }),
                ipv6: p.addresses.iter().find_map(|a| match a.addr() {
                    IpAddr::V6(v6) => Some(v6),
                    IpAddr::V4(_) => None,
                }),
                features: p.features,
                vlan: p.vlan,
            })
            .collect();
        ForwarderConfig {
            ports,
            icmp_rate: self.router.icmp_rate,
            icmp_burst: self.router.icmp_burst,
            accept_source_route: self.router.accept_source_route,
            acls: stages.acls.clone(),
        }
    }

    /// The FIB of connected subnets, static routes and static neighbours.
    /// Validation already guarantees every `via` is connected, so an error
    /// here means the two disagree.
    pub fn fib(&self) -> Result<Fib, FibError> {
        fib::build_static(
            &self.connected_ports(),
            &self.static_routes(),
            &self.static_neighbors(),
        )
    }

    /// The ports' addresses, as the FIB builder takes them.
    pub fn connected_ports(&self) -> Vec<ConnectedPort> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| ConnectedPort {
                id: i as PortId,
                addresses: p.addresses.clone(),
            })
            .collect()
    }

    pub fn static_routes(&self) -> Vec<StaticRoute> {
        self.routes
            .iter()
            .map(|r| StaticRoute {
                prefix: r.prefix,
                target: r.target,
            })
            .collect()
    }

    pub fn static_neighbors(&self) -> Vec<StaticNeighbor> {
        self.neighbors
            .iter()
            .map(|n| StaticNeighbor {
                address: n.address,
                mac: n.mac,
                port: n.port,
            })
            .collect()
    }

    /// What the control plane takes: plain values, and each configured
    /// protocol's section under its name (a new protocol adds its line).
    pub fn control_inputs(&self) -> ControlInputs {
        let ports = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| ProtocolPort {
                id: i as PortId,
                name: p.name.clone(),
                addresses: p.addresses.clone(),
                mtu: p.mtu,
            })
            .collect();
        let mut protocols = ProtocolConfig::new(self.router.id, ports);
        if let Some(ls) = &self.linkstate {
            protocols = protocols.with_section(linkstate_input::NAME, ls.clone());
        }
        if let Some(b) = &self.bgp {
            protocols = protocols.with_section(bgp_input::NAME, b.clone());
        }
        if let Some(o) = &self.ospf {
            protocols = protocols.with_section(crate::control::ospf::instance::NAME, o.clone());
        }
        if let Some(o) = &self.ospfv3 {
            protocols = protocols.with_section(crate::control::ospf::v3::instance::NAME, o.clone());
        }
        ControlInputs {
            ports: self.connected_ports(),
            interfaces: self.ports.iter().map(|p| p.interface.clone()).collect(),
            static_routes: self.static_routes(),
            static_neighbors: self.static_neighbors(),
            distances: self.distances,
            protocols,
        }
    }
}
