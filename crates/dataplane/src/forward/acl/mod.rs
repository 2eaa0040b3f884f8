//! Access control lists: named, ordered rule lists attached to ports per
//! direction, compiled off the fast path into a classifier whose cost per
//! packet barely grows with the number of rules (see [`classifier`]).
//!
//! A rule matches on source and destination prefixes, the protocol and
//! source/destination port ranges; the first matching rule's action
//! applies, the list's default when none does. Ports are known only for TCP
//! and UDP in an unfragmented packet or a first fragment whose payload
//! holds them: a rule with a port condition never matches anything else
//! (non-first fragments match on addresses and protocol only).

mod cache;
mod classifier;
mod counts;
mod intervals;
mod show;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

pub use cache::{
    AclCache, AclCacheCounts, Answer, FlowAnswer, FlowKeyV4, FlowKeyV6, KeysV4, PreparedV4,
};
use classifier::Classifier;
pub use counts::AclCounts;
pub use show::{show, AclShow, AclView, PortUse, RuleView};

/// An ACL's index in the [`AclTable`].
pub type AclId = u16;

/// What a rule (or a list's default) does with a packet it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    /// (The default of a list that names none.)
    #[default]
    Permit,
    /// Dropped silently.
    Deny,
    /// Dropped with ICMP administratively prohibited (3/13; ICMPv6 1/1).
    Reject,
}

impl AclAction {
    pub const ALL: [AclAction; 3] = [AclAction::Permit, AclAction::Deny, AclAction::Reject];

    pub fn name(self) -> &'static str {
        match self {
            AclAction::Permit => "permit",
            AclAction::Deny => "deny",
            AclAction::Reject => "reject",
        }
    }
}

/// An inclusive range of TCP/UDP ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// One rule; every condition left out matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AclRule {
    pub action: AclAction,
    /// Host bits clear; both prefixes, when given, of one family.
    pub source: Option<IpNet>,
    pub destination: Option<IpNet>,
    pub protocol: Option<u8>,
    pub source_port: Option<PortRange>,
    pub destination_port: Option<PortRange>,
}

impl AclRule {
    /// A rule that matches everything with `action`.
    pub fn any(action: AclAction) -> AclRule {
        AclRule {
            action,
            source: None,
            destination: None,
            protocol: None,
            source_port: None,
            destination_port: None,
        }
    }

    /// The family the rule is limited to by its prefixes (`Some(true)` for
    /// IPv4), or `None` for both.
    fn family_v4(&self) -> Option<bool> {
        self.source.or(self.destination).map(|n| n.addr().is_ipv4())
    }

    /// Does the rule match `key`? The plain definition, which the compiled
    /// classifier is tested against.
    pub fn matches(&self, key: &AclKey) -> bool {
        let net = |n: &Option<IpNet>, a: IpAddr| n.is_none_or(|n| n.contains(&a));
        let port = |r: Option<PortRange>, p: Option<u16>| match r {
            None => true,
            Some(r) => p.is_some_and(|p| r.contains(p)),
        };
        key.src.is_ipv4() == key.dst.is_ipv4()
            && self.family_v4().is_none_or(|v4| v4 == key.src.is_ipv4())
            && net(&self.source, key.src)
            && net(&self.destination, key.dst)
            && self.protocol.is_none_or(|p| p == key.protocol)
            && port(self.source_port, key.ports.map(|p| p.0))
            && port(self.destination_port, key.ports.map(|p| p.1))
    }
}

/// The header fields a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 protocol, or IPv6's upper-layer protocol after extension headers.
    pub protocol: u8,
    /// (source, destination) ports when known (see the module comment).
    pub ports: Option<(u16, u16)>,
}

/// The fields of [`AclKey`] with the addresses as numbers (`u32` for
/// IPv4, `u128` for IPv6): what the classifier reads, built straight from
/// a header without going through `IpAddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowFields<A> {
    pub src: A,
    pub dst: A,
    pub protocol: u8,
    pub ports: Option<(u16, u16)>,
}

/// An IPv4 packet's [`FlowFields`].
pub type AclKeyV4 = FlowFields<u32>;

/// An IPv6 packet's [`FlowFields`].
pub type AclKeyV6 = FlowFields<u128>;

/// A named list as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclSpec {
    pub name: String,
    pub default: AclAction,
    pub rules: Vec<AclRule>,
}

impl AclSpec {
    /// The index of the first rule matching `key` by a linear scan (the
    /// reference the classifier is tested against), `None` for the default.
    pub fn first_match(&self, key: &AclKey) -> Option<usize> {
        self.rules.iter().position(|r| r.matches(key))
    }
}

/// One compiled list: the classifier of each family.
#[derive(Debug, Clone)]
pub struct Acl {
    spec: AclSpec,
    /// Each rule's action, apart from the (much larger) rules.
    actions: Box<[AclAction]>,
    v4: Classifier<u32>,
    v6: Classifier<u128>,
    /// Where the list's counters start in its table's [`AclCounts`] (0
    /// for a list compiled alone).
    counter_base: usize,
}

impl Acl {
    pub fn compile(spec: AclSpec) -> Acl {
        let rules_of = |v4: bool| {
            spec.rules
                .iter()
                .enumerate()
                .filter(move |(_, r)| r.family_v4().is_none_or(|f| f == v4))
        };
        let v4 = Classifier::build(rules_of(true));
        let v6 = Classifier::build(rules_of(false));
        let actions = spec.rules.iter().map(|r| r.action).collect();
        Acl {
            spec,
            actions,
            v4,
            v6,
            counter_base: 0,
        }
    }

    /// Where the list's counters start in its table's [`AclCounts`].
    pub fn counter_base(&self) -> usize {
        self.counter_base
    }

    pub fn spec(&self) -> &AclSpec {
        &self.spec
    }

    /// A list without rules: every packet gets the default, and the stage
    /// needs neither its fields nor the classifier.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spec.rules.is_empty()
    }

    /// The index of the first rule matching `key`, `None` for the default.
    #[inline(always)]
    pub fn classify(&self, key: &AclKey) -> Option<usize> {
        match (key.src, key.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.classify(&FlowFields {
                src: u32::from(s),
                dst: u32::from(d),
                protocol: key.protocol,
                ports: key.ports,
            }),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.v6.classify(&FlowFields {
                src: u128::from(s),
                dst: u128::from(d),
                protocol: key.protocol,
                ports: key.ports,
            }),
            _ => None,
        }
    }

    /// The counter slot of `key` (see [`slot_of`](Self::slot_of)).
    #[inline(always)]
    pub fn slot(&self, key: &AclKey) -> usize {
        self.slot_of(self.classify(key))
    }

    /// The counter slot of an IPv4 packet's fields.
    #[inline(always)]
    pub fn slot_v4(&self, key: &AclKeyV4) -> usize {
        self.slot_of(self.v4.classify(key))
    }

    /// The counter slot of an IPv6 packet's fields.
    #[inline(always)]
    pub fn slot_v6(&self, key: &AclKeyV6) -> usize {
        self.slot_of(self.v6.classify(key))
    }

    /// The counter slot of a classification: the rule's index, or the
    /// number of rules for the default.
    #[inline(always)]
    fn slot_of(&self, first: Option<usize>) -> usize {
        first.unwrap_or(self.spec.rules.len())
    }

    /// The action of counter slot `slot` (a rule, or past them the default).
    #[inline(always)]
    pub fn action_at(&self, slot: usize) -> AclAction {
        self.actions.get(slot).copied().unwrap_or(self.spec.default)
    }

    /// The answer of counter slot `slot`: its index in the table's
    /// [`AclCounts`] and its action.
    #[inline(always)]
    pub fn answer(&self, slot: usize) -> Answer {
        (self.counter_base + slot, self.action_at(slot))
    }

    /// The action for `key` and the counter slot it counts in (the rule's
    /// index, or the number of rules for the default).
    #[inline(always)]
    pub fn decide(&self, key: &AclKey) -> (AclAction, usize) {
        let slot = self.slot(key);
        (self.action_at(slot), slot)
    }

    /// Bytes the compiled classifiers take.
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes() + self.actions.len()
    }
}

/// Every configured ACL, compiled; ports refer to them by [`AclId`].
#[derive(Debug, Clone, Default)]
pub struct AclTable {
    acls: Vec<Acl>,
}

impl AclTable {
    pub fn compile(specs: impl IntoIterator<Item = AclSpec>) -> AclTable {
        let mut base = 0;
        let acls = specs
            .into_iter()
            .map(|spec| {
                let mut acl = Acl::compile(spec);
                acl.counter_base = base;
                base += acl.spec.rules.len() + 1;
                acl
            })
            .collect();
        AclTable { acls }
    }

    pub fn get(&self, id: AclId) -> Option<&Acl> {
        self.acls.get(id as usize)
    }

    pub fn acls(&self) -> &[Acl] {
        &self.acls
    }

    /// Zeroed hit counters: per ACL one per rule plus one for the default.
    pub fn counters(&self) -> AclCounts {
        AclCounts::for_table(self)
    }
}

/// Hit counts of one ACL for operators: per rule, then the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AclHits {
    pub name: String,
    pub rules: Vec<u64>,
    pub default: u64,
}

impl std::fmt::Display for AclHits {
    /// `edge-in: rule 0 12, rule 1 0, default 3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.name)?;
        for (i, n) in self.rules.iter().enumerate() {
            write!(f, " rule {i} {n},")?;
        }
        write!(f, " default {}", self.default)
    }
}

/// [`AclHits`] of every ACL from per-worker counters (already summed).
pub fn hits(table: &AclTable, counters: &[Vec<u64>]) -> Vec<AclHits> {
    table
        .acls
        .iter()
        .zip(counters)
        .map(|(acl, c)| {
            let n = acl.spec.rules.len();
            AclHits {
                name: acl.spec.name.clone(),
                rules: c[..n.min(c.len())].to_vec(),
                default: c.get(n).copied().unwrap_or(0),
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
