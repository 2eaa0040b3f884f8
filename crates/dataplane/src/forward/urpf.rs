//! Unicast reverse-path forwarding (RFC 3704): is the source of a packet
//! one the router would route back, and (strict) through the port the
//! packet came in on?
//!
//! The source's route is looked up in the same FIB as destinations, batched
//! with them when the worker prepares a batch for a port with uRPF on
//! ([`RouteHints::prepare`](super::RouteHints::prepare)); frames of other
//! ports pay nothing.
//!
//! Loose mode must tell a source that matched only the default route. The
//! trie answers a next-hop group, not a prefix length, so the answer is
//! compared with the default route's group: when no other route shares that
//! group the answer is exact; when some do, the prefix length is read from
//! the control-side record (slower: up to 33 / 129 probes of a B-tree), a
//! cost paid only by sources whose route shares the default's next hop.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::features::Urpf;
use crate::fib::{Fib, NextHop, PortId};
use crate::lpm::NextHopId;

/// Whether a source whose route is `group` passes `mode` on `ingress`.
/// `default` is the table's default route (asked only in loose mode);
/// `matched_default` says whether the lookup's answer came from the default
/// route (asked only in loose mode, only when `group` is the default's).
#[inline]
fn passes(
    fib: &Fib,
    mode: Urpf,
    ingress: PortId,
    group: Option<NextHopId>,
    default: impl FnOnce() -> Option<(NextHopId, bool)>,
    matched_default: impl FnOnce() -> bool,
) -> bool {
    let Some(group) = group else {
        return false;
    };
    let members = fib.groups().members(group);
    match mode {
        Urpf::Strict => members.iter().any(|nh| port_of(nh) == Some(ingress)),
        Urpf::Loose => {
            let routable = members.first().is_some_and(|nh| port_of(nh).is_some());
            routable
                && match default() {
                    Some((d, shared)) if d == group => shared && !matched_default(),
                    _ => true,
                }
        }
    }
}

/// The port a next hop leaves through; none for the router's own addresses
/// and discard routes (a source routed there fails either mode).
#[inline]
fn port_of(nh: &NextHop) -> Option<PortId> {
    match *nh {
        NextHop::Adjacency { port, .. } | NextHop::Glean { port } => Some(port),
        NextHop::Unresolved { port, .. } => Some(port),
        NextHop::Local | NextHop::Discard(_) => None,
    }
}

/// uRPF for an IPv4 source whose route `group` was looked up already.
#[inline]
pub(super) fn check_v4(
    fib: &Fib,
    mode: Urpf,
    ingress: PortId,
    src: Ipv4Addr,
    group: Option<NextHopId>,
) -> bool {
    passes(
        fib,
        mode,
        ingress,
        group,
        || fib.v4.default_route(),
        || fib.v4.matched_default(src),
    )
}

/// uRPF for an IPv6 source whose route `group` was looked up already.
#[inline]
pub(super) fn check_v6(
    fib: &Fib,
    mode: Urpf,
    ingress: PortId,
    src: Ipv6Addr,
    group: Option<NextHopId>,
) -> bool {
    passes(
        fib,
        mode,
        ingress,
        group,
        || fib.v6.default_route(),
        || fib.v6.matched_default(src),
    )
}
