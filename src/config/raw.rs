//! The configuration file as TOML gives it, before any meaning is checked.
//!
//! Every leaf keeps its byte span so that a semantic error can name the line
//! it comes from; leaves are read as strings and integers so that a wrong
//! address or MAC is reported by our checks (with the field's name) rather
//! than by a type error deep inside serde.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub router: Spanned<RawRouter>,
    #[serde(default)]
    pub port: Vec<Spanned<RawPort>>,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub neighbor: Vec<Spanned<RawNeighbor>>,
    pub distance: Option<Spanned<RawDistance>>,
    pub linkstate: Option<Spanned<RawLinkState>>,
    pub bgp: Option<Spanned<RawBgp>>,
    #[serde(default)]
    pub acl: Vec<Spanned<RawAcl>>,
    pub ospf: Option<Spanned<super::ospf::RawOspf>>,
    pub ospfv3: Option<Spanned<super::ospf::v3::RawOspfv3>>,
}

/// `[[acl]]`: a named rule list (see `config/acl.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcl {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawAclRule>>,
}

/// `[[acl.rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAclRule {
    pub action: Spanned<String>,
    pub source: Option<Spanned<String>>,
    pub destination: Option<Spanned<String>>,
    pub protocol: Option<Spanned<RawNumberOrText>>,
    pub source_port: Option<Spanned<RawNumberOrText>>,
    pub destination_port: Option<Spanned<RawNumberOrText>>,
}

/// A value written as a number or a string (`protocol = 6` or `"tcp"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawNumberOrText {
    Number(i64),
    Text(String),
}

/// `[bgp]`: the decision knobs and the route inputs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgp {
    pub local_as: Option<Spanned<i64>>,
    pub always_compare_med: Option<Spanned<bool>>,
    pub multipath: Option<Spanned<bool>>,
    #[serde(default)]
    pub mrt: Vec<Spanned<RawBgpMrt>>,
    #[serde(default)]
    pub table: Vec<Spanned<RawBgpTable>>,
    #[serde(default)]
    pub peer: Vec<Spanned<RawBgpPeer>>,
    #[serde(default)]
    pub redistribute: Vec<Spanned<String>>,
    #[serde(default)]
    pub policy: Vec<Spanned<super::bgp_policy::RawBgpPolicy>>,
}

/// `[[bgp.peer]]`: a live session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpPeer {
    pub address: Spanned<String>,
    pub remote_as: Spanned<i64>,
    pub local_address: Option<Spanned<String>>,
    pub passive: Option<Spanned<bool>>,
    pub hold_time: Option<Spanned<i64>>,
    pub connect_retry: Option<Spanned<i64>>,
    pub multihop: Option<Spanned<i64>>,
    pub import: Option<Spanned<String>>,
    pub export: Option<Spanned<String>>,
    pub graceful_restart: Option<Spanned<bool>>,
    pub password: Option<Spanned<String>>,
    #[serde(alias = "gtsm")]
    pub ttl_security: Option<Spanned<bool>>,
    pub role: Option<Spanned<String>>,
    pub strict_role: Option<Spanned<bool>>,
    pub advertisement_interval: Option<Spanned<i64>>,
}

/// `[[bgp.mrt]]`: an MRT RIB dump.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpMrt {
    pub file: Spanned<String>,
    pub import: Option<Spanned<String>>,
}

/// `[[bgp.table]]`: a pfx2as/CIDR table as one peer's routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpTable {
    pub file: Spanned<String>,
    pub peer: Spanned<String>,
    pub peer_as: Spanned<i64>,
    pub import: Option<Spanned<String>>,
}

/// `[distance]`: administrative distance per route source, by the
/// source's key (checked against the sources the RIB knows).
pub(super) type RawDistance = BTreeMap<String, Spanned<i64>>;

/// `[linkstate]`: where the LSDB comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinkState {
    pub file: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouter {
    pub id: Spanned<String>,
    pub icmp_rate: Option<Spanned<i64>>,
    pub icmp_burst: Option<Spanned<i64>>,
    pub accept_source_route: Option<Spanned<bool>>,
    pub worker_priority: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub name: Spanned<String>,
    pub interface: Option<Spanned<String>>,
    /// Required, except on a VLAN sub-interface (which takes its parent's).
    pub mac: Option<Spanned<String>>,
    /// A VLAN sub-interface: its parent port and VLAN id (see `config/vlan.rs`).
    pub parent: Option<Spanned<String>>,
    pub vlan: Option<Spanned<i64>>,
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    pub mtu: Option<Spanned<i64>>,
    // Output queueing (see `config/qos.rs`).
    pub scheduler: Option<Spanned<String>>,
    pub rate: Option<Spanned<RawRate>>,
    pub overhead: Option<Spanned<i64>>,
    pub codel_target_ms: Option<Spanned<f64>>,
    pub codel_interval_ms: Option<Spanned<f64>>,
    pub queue_limit: Option<Spanned<i64>>,
    pub flow_limit: Option<Spanned<i64>>,
    pub flows: Option<Spanned<i64>>,
    #[serde(default)]
    pub class: Vec<Spanned<RawClass>>,
    // Optional stages (see `config/acl.rs`).
    pub urpf: Option<Spanned<String>>,
    pub acl_in: Option<Spanned<String>>,
    pub acl_out: Option<Spanned<String>>,
}

/// A rate: `"100mbit"` (bits/s with a unit) or an integer of bytes/s.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawRate {
    BytesPerSecond(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClass {
    pub name: Spanned<String>,
    #[serde(default)]
    pub dscp: Vec<Spanned<i64>>,
    pub weight: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: Spanned<String>,
    /// Exactly one of `via` and `action`.
    pub via: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub address: Spanned<String>,
    pub mac: Spanned<String>,
    pub port: Spanned<String>,
}
