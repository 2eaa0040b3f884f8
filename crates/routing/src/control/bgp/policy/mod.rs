//! Named import and export policies (`[[bgp.policy]]`), compiled from the
//! configuration and evaluated per route, sans IO: ordered terms, each
//! with conditions (all must hold; a list holds if any entry does) and
//! changes, ending in accept, reject or continue; what no term decides
//! gets the policy's default (reject unless said, in the spirit of RFC
//! 8212). Modelled on BIRD filters and FRR route-maps. [`role`] holds the
//! RFC 9234 rules applied beside any policy.

pub mod role;
pub mod syntax;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::control::bgp::attrs::{AsSegment, LargeCommunity, PathAttrs, NO_EXPORT};

pub use role::Role;

/// What a peer's routes may do: all pass, none, or what a named policy
/// (`[[bgp.policy]]`) says. Two `Named` are equal when the policies are,
/// so a reload sees a changed policy under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    All,
    None,
    Named(Arc<RoutePolicy>),
}

impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A prefix-list entry: `prefix` covers the route and its length is in
/// `lengths` (FRR's `ge`/`le`; without them, the exact length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixEntry {
    pub prefix: IpNet,
    pub min_len: u8,
    pub max_len: u8,
}

impl PrefixEntry {
    /// `prefix` with optional `ge`/`le`; `None` unless `len(prefix) <= ge
    /// <= le <= the family's width`.
    pub fn new(prefix: IpNet, ge: Option<u8>, le: Option<u8>) -> Option<Self> {
        let (len, max) = (prefix.prefix_len(), prefix.max_prefix_len());
        let (min_len, max_len) = match (ge, le) {
            (None, None) => (len, len),
            (Some(g), None) => (g, max),
            (None, Some(l)) => (len, l),
            (Some(g), Some(l)) => (g, l),
        };
        (len <= min_len && min_len <= max_len && max_len <= max).then_some(PrefixEntry {
            prefix: prefix.trunc(),
            min_len,
            max_len,
        })
    }

    pub fn matches(&self, route: &IpNet) -> bool {
        let len = route.prefix_len();
        self.min_len <= len
            && len <= self.max_len
            && same_family(&self.prefix, route)
            && self.prefix.contains(route)
    }
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    a.addr().is_ipv4() == b.addr().is_ipv4()
}

/// What a term looks at; `None`/empty: no condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub prefix: Vec<PrefixEntry>,
    /// Any of these ASes anywhere on the AS path.
    pub as_path_contains: Vec<u32>,
    /// The origin AS (the last of the path's final AS_SEQUENCE) is one of
    /// these.
    pub origin_as: Vec<u32>,
    /// The path length (as the decision process counts it) in this range.
    pub as_path_length: Option<(u32, u32)>,
    pub community: Vec<u32>,
    pub large_community: Vec<LargeCommunity>,
    /// The next hop is inside one of these.
    pub next_hop: Vec<IpNet>,
}

/// What a term changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub local_pref: Option<u32>,
    pub med: Option<u32>,
    pub add_community: Vec<u32>,
    pub remove_community: Vec<u32>,
    pub add_large_community: Vec<LargeCommunity>,
    pub remove_large_community: Vec<LargeCommunity>,
    /// Our AS this many times in front of the path.
    pub prepend: u8,
    /// Install the route as a blackhole (RFC 7999; import only).
    pub blackhole: bool,
}

/// How a term ends when its conditions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    /// Its changes stay; the next term looks at the changed route.
    Continue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub conditions: Conditions,
    pub changes: Changes,
    pub action: Action,
}

/// A compiled named policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    pub name: String,
    pub terms: Vec<Term>,
    /// What a route no term accepted or rejected gets.
    pub default_accept: bool,
}

impl Conditions {
    pub fn hold(&self, prefix: &IpNet, attrs: &PathAttrs) -> bool {
        let any =
            |list: &[u32], f: &dyn Fn(u32) -> bool| list.is_empty() || list.iter().any(|&v| f(v));
        (self.prefix.is_empty() || self.prefix.iter().any(|e| e.matches(prefix)))
            && any(&self.as_path_contains, &|asn| attrs.as_path.contains(asn))
            && any(&self.origin_as, &|asn| origin_as(attrs) == Some(asn))
            && self
                .as_path_length
                .is_none_or(|(lo, hi)| (lo..=hi).contains(&attrs.as_path.length()))
            && any(&self.community, &|c| attrs.communities.contains(&c))
            && (self.large_community.is_empty()
                || self
                    .large_community
                    .iter()
                    .any(|c| attrs.large_communities.contains(c)))
            && (self.next_hop.is_empty()
                || self.next_hop.iter().any(|n| contains(n, attrs.next_hop)))
    }
}

fn contains(net: &IpNet, address: IpAddr) -> bool {
    net.contains(&address)
}

/// The AS that originated the route: the last AS of a path ending in an
/// AS_SEQUENCE (a path ending in an AS_SET has none, as in BIRD).
pub fn origin_as(attrs: &PathAttrs) -> Option<u32> {
    match attrs.as_path.segments().last()? {
        AsSegment::Sequence(a) => a.last().copied(),
        _ => None,
    }
}

impl Changes {
    fn apply(&self, attrs: &mut PathAttrs, local_as: u32) {
        if let Some(v) = self.local_pref {
            attrs.local_pref = Some(v);
        }
        if let Some(v) = self.med {
            attrs.med = Some(v);
        }
        if !self.add_community.is_empty() || !self.remove_community.is_empty() {
            attrs.communities = edit(
                &attrs.communities,
                &self.add_community,
                &self.remove_community,
            );
        }
        if !self.add_large_community.is_empty() || !self.remove_large_community.is_empty() {
            attrs.large_communities = edit(
                &attrs.large_communities,
                &self.add_large_community,
                &self.remove_large_community,
            );
        }
        for _ in 0..self.prepend {
            attrs.as_path = attrs.as_path.prepend(local_as);
        }
        attrs.blackhole |= self.blackhole;
    }
}

/// `have` without `remove`, then `add`'s new values, in order.
fn edit<T: Copy + PartialEq>(have: &[T], add: &[T], remove: &[T]) -> Box<[T]> {
    let mut out: Vec<T> = have
        .iter()
        .copied()
        .filter(|c| !remove.contains(c))
        .collect();
    for c in add {
        if !out.contains(c) {
            out.push(*c);
        }
    }
    out.into_boxed_slice()
}

impl RoutePolicy {
    /// Runs the policy over a route: `Some` with the changed attributes if
    /// it is accepted, `None` if rejected. `local_as` is what `prepend`
    /// adds.
    pub fn evaluate(&self, prefix: &IpNet, attrs: PathAttrs, local_as: u32) -> Option<PathAttrs> {
        let mut out = attrs;
        for term in &self.terms {
            if !term.conditions.hold(prefix, &out) {
                continue;
            }
            term.changes.apply(&mut out, local_as);
            match term.action {
                Action::Accept => return Some(out),
                Action::Reject => return None,
                Action::Continue => {}
            }
        }
        self.default_accept.then_some(out)
    }

    /// Whether any term matches on the prefix or its length (otherwise
    /// one evaluation serves every prefix of an UPDATE).
    pub fn looks_at_prefix(&self) -> bool {
        self.terms.iter().any(|t| !t.conditions.prefix.is_empty())
    }
}

impl Policy {
    /// How the configuration writes it.
    pub fn name(&self) -> &str {
        match self {
            Policy::All => "all",
            Policy::None => "none",
            Policy::Named(p) => &p.name,
        }
    }

    /// The route as this policy passes it, or `None`.
    pub fn apply(&self, prefix: &IpNet, attrs: PathAttrs, local_as: u32) -> Option<PathAttrs> {
        match self {
            Policy::All => Some(attrs),
            Policy::None => None,
            Policy::Named(p) => p.evaluate(prefix, attrs, local_as),
        }
    }

    /// Whether the result may differ between prefixes of one UPDATE.
    pub fn per_prefix(&self) -> bool {
        matches!(self, Policy::Named(p) if p.looks_at_prefix())
    }
}

/// What one peer's configuration says about its routes, in and out.
#[derive(Debug, Clone, Copy)]
pub struct PeerRules<'a> {
    pub policy: &'a Policy,
    /// Our role towards it, if it is eBGP and has one.
    pub role: Option<Role>,
    pub local_as: u32,
    pub remote_as: u32,
}

impl PeerRules<'_> {
    fn ebgp(&self) -> bool {
        self.local_as != self.remote_as
    }

    /// A received route through the RFC 9234 ingress rules and the import
    /// policy; `None`: not accepted (a leak, rejected, or through our own
    /// AS).
    pub fn import(&self, prefix: &IpNet, attrs: &PathAttrs) -> Option<PathAttrs> {
        // RFC 4271 §9.1.2: a path through our own AS is not used.
        if attrs.as_path.contains(self.local_as) || *self.policy == Policy::None {
            return None;
        }
        let mut attrs = attrs.clone();
        if let Some(role) = self.role {
            if !role::ingress(role, self.remote_as, &mut attrs) {
                return None;
            }
        }
        self.policy.apply(prefix, attrs, self.local_as)
    }

    /// A route about to be sent through the export policy and the RFC
    /// 9234 egress rules. A blackhole route stays in the AS (RFC 7999
    /// §3.2: NO_EXPORT to iBGP, nothing to eBGP).
    pub fn export(&self, prefix: &IpNet, attrs: PathAttrs) -> Option<PathAttrs> {
        if attrs.blackhole && self.ebgp() {
            return None;
        }
        let mut out = self.policy.apply(prefix, attrs, self.local_as)?;
        if out.blackhole {
            out.blackhole = false;
            if !out.communities.contains(&NO_EXPORT) {
                out.communities = out.communities.iter().copied().chain([NO_EXPORT]).collect();
            }
        }
        match self.role {
            Some(role) => role::egress(role, self.local_as, &mut out).then_some(out),
            None => Some(out),
        }
    }
}
