//! The BGP decision process of RFC 4271 §9.1.2: among the routes for one
//! prefix (one per peer), pick the best, and say for every other one at which
//! step it lost.
//!
//! Routes are eliminated step by step, as §9.1.2.2 describes, rather than
//! compared pairwise: the MED rule compares only routes from the same
//! neighbour AS, so "better than" is not transitive and a pairwise sort could
//! depend on the order routes arrive in. Elimination does not: every step
//! keeps the routes with the best value of one key among those still in, and
//! the last step (peer address, unique per peer) leaves exactly one.
//!
//! Steps, in order (a route removed at a step carries that step as its
//! [`RejectReason`]):
//! 1. next hop resolvable through non-BGP routes (§9.1.2.1), else unusable;
//! 2. highest LOCAL_PREF (missing: [`DecisionConfig::default_local_pref`]);
//! 3. shortest AS_PATH (an AS_SET counts 1, confederation segments 0);
//! 4. lowest ORIGIN (IGP < EGP < INCOMPLETE);
//! 5. lowest MED among routes from the same neighbour AS (the leftmost AS of
//!    the AS_PATH), or among all routes with
//!    [`DecisionConfig::always_compare_med`]; a missing MED is 0 (RFC 4271
//!    §9.1.2.2 (c); some vendors treat it as the worst value instead);
//! 6. eBGP over iBGP;
//! 7. lowest IGP cost to the next hop ([`NextHopResolver::igp_cost`]);
//!    with [`DecisionConfig::multipath`], all routes left here are used;
//! 8. lowest router id (BGP identifier of the peer);
//! 9. lowest peer address.

use std::cmp::Reverse;

use serde::Serialize;

use super::attrs::PathAttrs;
use super::peer::{Peer, PeerKind};
use crate::control::rib::route::NextHopResolver;

/// The knobs of the decision process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DecisionConfig {
    /// Compare MED between routes from different neighbour ASes too (Cisco's
    /// `bgp always-compare-med`). Default off, as in RFC 4271.
    pub always_compare_med: bool,
    /// Install every route that ties through the IGP-cost step (ECMP); the
    /// router-id and peer-address steps then only pick which one is "best"
    /// for display. Default off.
    pub multipath: bool,
    /// LOCAL_PREF assumed when a route carries none (eBGP routes, MRT dumps
    /// of eBGP sessions). Default 100, the common vendor default.
    pub default_local_pref: u32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            always_compare_med: false,
            multipath: false,
            default_local_pref: 100,
        }
    }
}

/// Why a route is not the best one: the step of the decision process at
/// which it was eliminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectReason {
    NextHopUnresolvable,
    LocalPref,
    AsPathLength,
    Origin,
    Med,
    EbgpOverIbgp,
    IgpCost,
    RouterId,
    PeerAddress,
}

impl RejectReason {
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::NextHopUnresolvable => "next hop unresolvable",
            RejectReason::LocalPref => "lower local-pref",
            RejectReason::AsPathLength => "longer AS path",
            RejectReason::Origin => "worse origin",
            RejectReason::Med => "higher MED",
            RejectReason::EbgpOverIbgp => "iBGP, an eBGP route exists",
            RejectReason::IgpCost => "higher IGP cost to next hop",
            RejectReason::RouterId => "higher router id",
            RejectReason::PeerAddress => "higher peer address",
        }
    }
}

/// What became of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "kebab-case")]
pub enum RouteStatus {
    Best,
    /// Not the best, but installed alongside it (multipath).
    Multipath,
    Rejected(RejectReason),
}

/// One route offered to the decision process.
#[derive(Debug, Clone, Copy)]
pub struct Contender<'a> {
    pub peer: &'a Peer,
    pub attrs: &'a PathAttrs,
}

/// Runs the decision process, reusing its buffers from one prefix to the next
/// (no allocation per decision once they have grown).
#[derive(Debug, Default)]
pub struct DecisionProcess {
    config: DecisionConfig,
    /// `None` while the route is still in; else the step that removed it.
    out: Vec<Option<RejectReason>>,
    igp: Vec<u32>,
    med_loser: Vec<bool>,
    best: Option<usize>,
    /// Routes still in: the steps stop once one is left.
    left: usize,
    /// Runs so far.
    runs: u64,
}

impl DecisionProcess {
    pub fn new(config: DecisionConfig) -> Self {
        DecisionProcess {
            config,
            ..Default::default()
        }
    }

    pub fn config(&self) -> &DecisionConfig {
        &self.config
    }

    /// Decides among `n` routes, route `i` being `route(i)`. Afterwards
    /// [`best`](Self::best), [`status`](Self::status) and
    /// [`igp_cost`](Self::igp_cost) describe the result.
    pub fn run<'a>(
        &mut self,
        n: usize,
        route: impl Fn(usize) -> Contender<'a>,
        resolver: &dyn NextHopResolver,
    ) -> Option<usize> {
        self.runs += 1;
        self.out.clear();
        self.out.resize(n, None);
        self.igp.clear();
        self.igp.resize(n, u32::MAX);
        self.left = n;
        for i in 0..n {
            match resolver.igp_cost(route(i).attrs.next_hop) {
                Some(c) => self.igp[i] = c,
                None => {
                    self.out[i] = Some(RejectReason::NextHopUnresolvable);
                    self.left -= 1;
                }
            }
        }
        let lp = self.config.default_local_pref;
        self.keep_min(
            |i| Reverse(route(i).attrs.local_pref.unwrap_or(lp)),
            RejectReason::LocalPref,
        );
        self.keep_min(
            |i| route(i).attrs.as_path.length(),
            RejectReason::AsPathLength,
        );
        self.keep_min(|i| route(i).attrs.origin, RejectReason::Origin);
        self.remove_med_losers(&route);
        self.keep_min(
            |i| match route(i).peer.kind {
                PeerKind::Ebgp => 0u8,
                PeerKind::Ibgp => 1,
            },
            RejectReason::EbgpOverIbgp,
        );
        let igp = std::mem::take(&mut self.igp);
        self.keep_min(|i| igp[i], RejectReason::IgpCost);
        self.igp = igp;
        self.keep_min(|i| route(i).peer.router_id, RejectReason::RouterId);
        self.keep_min(|i| route(i).peer.address, RejectReason::PeerAddress);
        self.best = self.out.iter().position(Option::is_none);
        self.best
    }

    /// Removes the routes whose key is above the minimum among those still in.
    fn keep_min<K: Ord>(&mut self, key: impl Fn(usize) -> K, reason: RejectReason) {
        if self.left <= 1 {
            return;
        }
        let min = (0..self.out.len())
            .filter(|&i| self.out[i].is_none())
            .map(&key)
            .min();
        let Some(min) = min else { return };
        for i in 0..self.out.len() {
            if self.out[i].is_none() && key(i) > min {
                self.out[i] = Some(reason);
                self.left -= 1;
            }
        }
    }

    /// §9.1.2.2 (c): remove every route whose MED is above the lowest MED
    /// among the routes still in from the same neighbour AS (all routes with
    /// `always_compare_med`). All removals are decided before any is made.
    fn remove_med_losers<'a>(&mut self, route: &impl Fn(usize) -> Contender<'a>) {
        if self.left <= 1 {
            return;
        }
        let n = self.out.len();
        self.med_loser.clear();
        self.med_loser.resize(n, false);
        let med = |i: usize| route(i).attrs.med.unwrap_or(0);
        for i in 0..n {
            if self.out[i].is_some() {
                continue;
            }
            let group = route(i).attrs.as_path.neighbor_as();
            self.med_loser[i] = (0..n).any(|j| {
                self.out[j].is_none()
                    && med(j) < med(i)
                    && (self.config.always_compare_med
                        || route(j).attrs.as_path.neighbor_as() == group)
            });
        }
        for i in 0..n {
            if self.med_loser[i] {
                self.out[i] = Some(RejectReason::Med);
                self.left -= 1;
            }
        }
    }

    /// How many times [`run`](Self::run) ran.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The winner of the last run (`None` if no route was usable).
    pub fn best(&self) -> Option<usize> {
        self.best
    }

    /// What became of route `i` in the last run.
    pub fn status(&self, i: usize) -> RouteStatus {
        match self.out[i] {
            None => RouteStatus::Best,
            Some(RejectReason::RouterId | RejectReason::PeerAddress) if self.config.multipath => {
                RouteStatus::Multipath
            }
            Some(r) => RouteStatus::Rejected(r),
        }
    }

    /// Whether route `i` is installed (best or multipath).
    pub fn is_selected(&self, i: usize) -> bool {
        !matches!(self.status(i), RouteStatus::Rejected(_))
    }

    /// The IGP cost to route `i`'s next hop (`None`: unresolvable).
    pub fn igp_cost(&self, i: usize) -> Option<u32> {
        (self.out[i] != Some(RejectReason::NextHopUnresolvable)).then(|| self.igp[i])
    }
}
