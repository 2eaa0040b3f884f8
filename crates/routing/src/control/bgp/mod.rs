//! BGP: routes per peer (Adj-RIBs-In), the decision process of RFC 4271
//! §9.1.2 and the Loc-RIB it selects, fed from MRT RIB dumps, pfx2as tables
//! and update traces (and, later, live sessions through the same
//! [`BgpRib::apply`]).
//!
//! The RIB integrator owns a [`BgpRib`] and a [`NextHopResolver`] over its
//! non-BGP routes; every [`BgpRib::apply`] returns the [`RouteChange`] to push
//! into the RIB (`RibRoute { source: Ebgp|Ibgp, paths: [Via::Recursive] }`).
//! BGP next hops are resolved recursively by the RIB: the decision process
//! only asks the resolver whether a next hop is reachable and at what IGP
//! cost, and routes whose next hop is not are never selected. The RIB must
//! call [`BgpRib::rerun_all`] when its non-BGP routes change (reachability
//! and IGP costs of next hops), and push the changes it reports.
//!
//! `RibRoute::metric` of a BGP route is the best path's MED (0 if absent);
//! with multipath, `paths` holds the distinct next hops of every route that
//! tied through the IGP-cost step.
//!
//! Inputs: [`mrt::read_mrt`] + [`BgpRib::load_mrt`] (RIB dumps, one peer per
//! dump peer), [`table::table_updates`] (pfx2as/CIDR tables as one synthetic
//! peer), [`table::trace_update`] (`time a|w prefix next-hop` traces).

pub mod adj_rib_in;
pub mod attrs;
mod bulk;
mod candidates;
pub mod decision;
pub mod file_input;
pub mod mrt;
mod nexthops;
pub mod peer;
pub mod policy;
mod rerun;
pub mod session;
pub mod show;
pub mod speaker;
pub mod table;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

pub use adj_rib_in::{BgpError, BgpRib, BgpUpdate, RouteChange};
pub use attrs::{AsPath, AsSegment, AttrInterner, Origin, PathAttrs};
pub use decision::{Contender, DecisionConfig, DecisionProcess, RejectReason, RouteStatus};
pub use peer::{Peer, PeerId, PeerKind};
pub use show::{BgpSummary, CandidateExplanation, PeerSummary, PrefixExplanation};

use crate::control::rib::notify::RibView;
use crate::control::rib::route::NextHopResolver;

/// A [`NextHopResolver`] from a function: for tests, benchmarks and offline
/// tools that have no RIB.
pub struct ResolveWith<F>(pub F);

impl<F: Fn(IpAddr) -> Option<u32>> NextHopResolver for ResolveWith<F> {
    fn igp_cost(&self, address: IpAddr) -> Option<u32> {
        (self.0)(address)
    }
}

impl<F: Fn(IpAddr) -> Option<u32>> RibView for ResolveWith<F> {
    fn next_hops(&self) -> &dyn NextHopResolver {
        self
    }
}
