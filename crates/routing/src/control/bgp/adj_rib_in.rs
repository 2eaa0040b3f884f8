//! The Adj-RIBs-In of all peers and the Loc-RIB built from them.
//!
//! One map from prefix to the routes received for it, one per peer (the
//! Adj-RIBs-In, stored by prefix rather than by peer so that a change from
//! one peer re-runs the decision process over that prefix's routes without a
//! second lookup per peer), each marked with what the decision made of it
//! (best, multipath, or not selected) — which is the Loc-RIB.
//!
//! Every change ([`BgpRib::apply`]) re-runs the decision for its prefix only
//! and returns what the RIB has to do: install a new [`RibRoute`], withdraw
//! the prefix, or nothing (the selected next hops, source and metric are the
//! same even if the best path changed, e.g. an AS_PATH-only change).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::{AttrInterner, PathAttrs};
pub(super) use super::candidates::{Candidate, Candidates, Mark};
use super::decision::{Contender, DecisionConfig, DecisionProcess, RouteStatus};
use super::nexthops::{Checked, NextHops};
use super::peer::{Peer, PeerId, PeerKind};
use crate::control::hash::FastMap;
pub(super) use crate::control::prefix_map::PrefixMap;
use crate::control::rib::route::{NextHopResolver, RibRoute, Via};
use crate::fib::Discard;

/// What a change means for the RIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// Nothing the RIB sees changed.
    Unchanged,
    /// Install (or replace) BGP's route for the prefix.
    Installed(RibRoute),
    /// BGP has no usable route for the prefix any more.
    Withdrawn(IpNet),
}

/// One announcement (`attrs: Some`) or withdrawal (`None`) from a peer: what
/// MRT dumps, update traces and (later) live sessions all produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpUpdate {
    pub peer: PeerId,
    pub prefix: IpNet,
    pub attrs: Option<Arc<PathAttrs>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BgpError {
    #[error("no peer with id {0}")]
    UnknownPeer(u32),
    #[error("peer {0} is already configured")]
    DuplicatePeer(IpAddr),
}

#[derive(Debug, Clone)]
pub(super) struct PeerState {
    pub(super) peer: Peer,
    /// Prefixes in this peer's Adj-RIB-In.
    pub(super) received: u64,
    /// Of those, the ones where this peer's route is the best.
    pub(super) best: u64,
}

/// Whether a prefix of `routes` still has a route through next hop `hop`
/// (for [`NextHops::clean`]).
pub(super) fn routes_through(
    routes: &PrefixMap<Candidates>,
    hop: IpAddr,
) -> impl Fn(&IpNet) -> bool + '_ {
    move |p| {
        routes
            .get(p)
            .is_some_and(|c| c.iter().any(|c| c.attrs.next_hop == hop))
    }
}

/// What the RIB sees of a prefix's selection: source, metric, next hops
/// (sorted, deduplicated, in `BgpRib::hops`).
type Fingerprint = Option<(PeerKind, u32)>;

/// All peers' Adj-RIBs-In and the Loc-RIB.
#[derive(Debug)]
pub struct BgpRib {
    pub(super) peers: Vec<PeerState>,
    by_address: FastMap<IpAddr, PeerId>,
    pub(super) routes: PrefixMap<Candidates>,
    interner: AttrInterner,
    pub(super) decision: DecisionProcess,
    /// Routes over all Adj-RIBs-In.
    pub(super) paths: u64,
    pub(super) next_hops: NextHops,
    pub(super) old_hops: Vec<IpAddr>,
    pub(super) new_hops: Vec<IpAddr>,
}

impl BgpRib {
    /// See [`PrefixMap::compact`] and [`AttrInterner::compact`].
    pub fn compact(&mut self) {
        self.routes.compact();
        self.interner.compact();
    }

    pub fn new(config: DecisionConfig) -> Self {
        BgpRib {
            peers: Vec::new(),
            by_address: FastMap::default(),
            routes: PrefixMap::default(),
            interner: AttrInterner::default(),
            decision: DecisionProcess::new(config),
            paths: 0,
            next_hops: NextHops::default(),
            old_hops: Vec::new(),
            new_hops: Vec::new(),
        }
    }

    pub fn config(&self) -> &DecisionConfig {
        self.decision.config()
    }

    /// Decisions run so far (one per prefix decided).
    pub fn decisions(&self) -> u64 {
        self.decision.runs()
    }

    /// Registers a peer (its address must be new).
    pub fn add_peer(&mut self, peer: Peer) -> Result<PeerId, BgpError> {
        if self.by_address.contains_key(&peer.address) {
            return Err(BgpError::DuplicatePeer(peer.address));
        }
        let id = PeerId(self.peers.len() as u32);
        self.peers.push(PeerState {
            peer,
            received: 0,
            best: 0,
        });
        self.by_address.insert(peer.address, id);
        Ok(id)
    }

    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id.0 as usize).map(|p| &p.peer)
    }

    pub fn peer_by_address(&self, address: IpAddr) -> Option<PeerId> {
        self.by_address.get(&address).copied()
    }

    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.peers
            .iter()
            .enumerate()
            .map(|(i, p)| (PeerId(i as u32), &p.peer))
    }

    /// The shared copy of an attribute set (equal sets share memory).
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        self.interner.intern(attrs)
    }

    /// Forgets the attribute sets nothing uses any more (interning
    /// collects on its own only once the sets have doubled).
    pub fn collect_attrs(&mut self) {
        self.interner.collect();
    }

    /// Prefixes with at least one received route.
    pub fn prefix_count(&self) -> usize {
        self.routes.len()
    }

    /// Routes over all Adj-RIBs-In.
    pub fn path_count(&self) -> u64 {
        self.paths
    }

    /// Distinct attribute sets held.
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    /// The routes received for `prefix`, with the peer that sent each.
    pub fn candidates(&self, prefix: &IpNet) -> impl Iterator<Item = (PeerId, &Arc<PathAttrs>)> {
        self.routes
            .get(&prefix.trunc())
            .into_iter()
            .flat_map(|c| c.iter())
            .map(|c| (c.peer, &c.attrs))
    }

    /// One peer's Adj-RIB-In (a scan over all prefixes).
    pub fn adj_rib_in(&self, peer: PeerId) -> impl Iterator<Item = (IpNet, &Arc<PathAttrs>)> {
        self.routes.iter().filter_map(move |(p, cands)| {
            cands
                .iter()
                .find(|c| c.peer == peer)
                .map(move |c| (p, &c.attrs))
        })
    }

    /// The peer whose route is the best for `prefix`, and that route.
    pub fn best(&self, prefix: &IpNet) -> Option<(PeerId, &Arc<PathAttrs>)> {
        self.routes
            .get(&prefix.trunc())?
            .iter()
            .find(|c| c.mark == Mark::Best)
            .map(|c| (c.peer, &c.attrs))
    }

    /// The longest BGP prefix (with a selected route) covering `address`.
    pub fn lookup(&self, address: IpAddr) -> Option<IpNet> {
        let max = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (0..=max).rev().find_map(|len| {
            let net = IpNet::new(address, len).ok()?.trunc();
            self.best(&net).map(|_| net)
        })
    }

    /// Applies one announcement or withdrawal and re-runs the decision for
    /// its prefix. An announcement replaces the peer's previous route for the
    /// prefix (implicit withdrawal); withdrawing an unknown route is a no-op.
    pub fn apply(
        &mut self,
        update: BgpUpdate,
        resolver: &dyn NextHopResolver,
    ) -> Result<RouteChange, BgpError> {
        let BgpUpdate {
            peer,
            prefix,
            attrs,
        } = update;
        if peer.0 as usize >= self.peers.len() {
            return Err(BgpError::UnknownPeer(peer.0));
        }
        let prefix = prefix.trunc();
        let Self {
            peers,
            routes,
            decision,
            paths,
            next_hops,
            old_hops,
            new_hops,
            ..
        } = self;
        let cands = match attrs {
            Some(_) => routes.get_or_insert_with(prefix, Candidates::default),
            None => match routes.get_mut(&prefix) {
                Some(c) => c,
                None => return Ok(RouteChange::Unchanged),
            },
        };
        let pos = cands.iter().position(|c| c.peer == peer);
        match (&attrs, pos) {
            (Some(a), Some(i)) if Arc::ptr_eq(&cands[i].attrs, a) => {
                return Ok(RouteChange::Unchanged)
            }
            (None, None) => return Ok(RouteChange::Unchanged),
            _ => {}
        }
        let old = fingerprint(cands, peers, old_hops);
        let state = &mut peers[peer.0 as usize];
        let added_hop = attrs.as_ref().map(|a| a.next_hop);
        if let Some(hop) = added_hop {
            let listed = cands.iter().any(|c| c.attrs.next_hop == hop);
            next_hops.add(hop, prefix, listed, || Some(resolver.igp_cost(hop)));
        }
        match (attrs, pos) {
            (Some(a), Some(i)) => {
                next_hops.remove(cands[i].attrs.next_hop);
                cands[i].attrs = a;
            }
            (Some(attrs), None) => {
                cands.push(Candidate {
                    peer,
                    attrs,
                    mark: Mark::NotSelected,
                });
                state.received += 1;
                *paths += 1;
            }
            (None, Some(i)) => {
                if let Some(gone) = cands.swap_remove(i) {
                    next_hops.remove(gone.attrs.next_hop);
                    if gone.mark == Mark::Best {
                        state.best -= 1;
                    }
                    state.received -= 1;
                    *paths -= 1;
                }
            }
            (None, None) => {}
        }
        let new = mark_live(cands, peers, decision, next_hops, resolver, new_hops);
        if cands.is_empty() {
            routes.remove(&prefix);
        }
        if let Some(hop) = added_hop.filter(|&h| next_hops.needs_cleaning(h)) {
            next_hops.clean(hop, routes_through(routes, hop));
        }
        Ok(change(prefix, old, old_hops, new, new_hops))
    }

    /// Re-runs the decision for every prefix (after the IGP or connected
    /// routes changed: next-hop reachability and costs; after a bulk load),
    /// passing each change to `sink`. The resolver is asked once per
    /// distinct next hop. [`BgpRib::rerun`] re-decides only what a change
    /// concerns.
    pub fn rerun_all(&mut self, resolver: &dyn NextHopResolver, mut sink: impl FnMut(RouteChange)) {
        self.next_hops.refresh(resolver);
        self.redecide(None, |_| true, &mut sink);
    }

    /// Empties a peer's Adj-RIB-In (session down, or a new dump replaces the
    /// peer's table), re-deciding the prefixes it had routes for.
    pub fn clear_peer(
        &mut self,
        peer: PeerId,
        resolver: &dyn NextHopResolver,
        mut sink: impl FnMut(RouteChange),
    ) -> Result<(), BgpError> {
        if peer.0 as usize >= self.peers.len() {
            return Err(BgpError::UnknownPeer(peer.0));
        }
        let Self {
            peers,
            routes,
            decision,
            paths,
            next_hops,
            old_hops,
            new_hops,
            ..
        } = self;
        for (prefix, cands) in routes.iter_mut() {
            let Some(i) = cands.iter().position(|c| c.peer == peer) else {
                continue;
            };
            let old = fingerprint(cands, peers, old_hops);
            let state = &mut peers[peer.0 as usize];
            if let Some(gone) = cands.swap_remove(i) {
                next_hops.remove(gone.attrs.next_hop);
                if gone.mark == Mark::Best {
                    state.best -= 1;
                }
                state.received -= 1;
                *paths -= 1;
            }
            let new = mark_live(cands, peers, decision, next_hops, resolver, new_hops);
            match change(prefix, old, old_hops, new, new_hops) {
                RouteChange::Unchanged => {}
                c => sink(c),
            }
        }
        routes.retain(|_, c| !c.is_empty());
        Ok(())
    }

    /// BGP's route for every prefix that has a usable one: what the RIB
    /// installs for a first publication.
    pub fn selected_routes(&self) -> impl Iterator<Item = RibRoute> + '_ {
        let mut hops = Vec::new();
        self.routes.iter().filter_map(move |(prefix, cands)| {
            let (kind, metric) = fingerprint(cands, &self.peers, &mut hops)?;
            Some(rib_route(prefix, kind, metric, &hops))
        })
    }
}

/// The RIB's view of the current selection of `cands`; next hops into `hops`.
pub(super) fn fingerprint(
    cands: &[Candidate],
    peers: &[PeerState],
    hops: &mut Vec<IpAddr>,
) -> Fingerprint {
    hops.clear();
    let mut head = None;
    let mut blackhole = false;
    for c in cands {
        match c.mark {
            Mark::NotSelected => continue,
            Mark::Best => {
                head = Some((peers[c.peer.0 as usize].peer.kind, c.attrs.med.unwrap_or(0)));
                blackhole = c.attrs.blackhole;
            }
            Mark::Multipath => {}
        }
        hops.push(c.attrs.next_hop);
    }
    hops.sort_unstable();
    hops.dedup();
    if blackhole {
        // A blackhole route (RFC 7999, by import policy) has no next hop.
        hops.clear();
    }
    head
}

/// The RIB's paths for a selection's next hops: none means a blackhole.
pub(super) fn paths(hops: &[IpAddr]) -> Vec<Via> {
    if hops.is_empty() {
        return vec![Via::Discard {
            action: Discard::Blackhole,
        }];
    }
    hops.iter()
        .map(|&address| Via::Recursive { address })
        .collect()
}

/// What re-deciding a prefix needs besides its routes.
pub(super) struct Decide<'a> {
    pub(super) peers: &'a mut [PeerState],
    pub(super) decision: &'a mut DecisionProcess,
    pub(super) resolver: &'a dyn NextHopResolver,
    pub(super) old_hops: &'a mut Vec<IpAddr>,
    pub(super) new_hops: &'a mut Vec<IpAddr>,
}

impl Decide<'_> {
    /// Runs the decision for `prefix` again and passes what changed for the
    /// RIB, if anything, to `sink`.
    pub(super) fn report(
        &mut self,
        prefix: IpNet,
        cands: &mut [Candidate],
        sink: &mut impl FnMut(RouteChange),
    ) {
        let old = fingerprint(cands, self.peers, self.old_hops);
        let new = mark(
            cands,
            self.peers,
            self.decision,
            self.resolver,
            self.new_hops,
        );
        match change(prefix, old, self.old_hops, new, self.new_hops) {
            RouteChange::Unchanged => {}
            c => sink(c),
        }
    }
}

/// [`mark`] with the live resolver (single-prefix changes): a next hop it
/// resolves otherwise than the cache is marked stale, so that the next
/// [`BgpRib::rerun`] re-decides the prefixes decided with the old answer.
fn mark_live(
    cands: &mut [Candidate],
    peers: &mut [PeerState],
    decision: &mut DecisionProcess,
    next_hops: &mut NextHops,
    resolver: &dyn NextHopResolver,
    hops: &mut Vec<IpAddr>,
) -> Fingerprint {
    let checked = Checked {
        live: resolver,
        hops: next_hops,
        disagreed: std::cell::Cell::new(false),
    };
    let new = mark(cands, peers, decision, &checked, hops);
    if checked.disagreed.get() {
        for c in cands.iter() {
            let hop = c.attrs.next_hop;
            if next_hops.cached(hop) != Some(resolver.igp_cost(hop)) {
                next_hops.mark_stale(hop);
            }
        }
    }
    new
}

/// Runs the decision over `cands` and records it in their marks and the
/// peers' best counters; returns the new fingerprint (next hops in `hops`).
pub(super) fn mark(
    cands: &mut [Candidate],
    peers: &mut [PeerState],
    decision: &mut DecisionProcess,
    resolver: &dyn NextHopResolver,
    hops: &mut Vec<IpAddr>,
) -> Fingerprint {
    {
        let peers: &[PeerState] = peers;
        let cands: &[Candidate] = cands;
        decision.run(
            cands.len(),
            |i| Contender {
                peer: &peers[cands[i].peer.0 as usize].peer,
                attrs: &cands[i].attrs,
            },
            resolver,
        );
    }
    for (i, c) in cands.iter_mut().enumerate() {
        let mark = match decision.status(i) {
            RouteStatus::Best => Mark::Best,
            RouteStatus::Multipath => Mark::Multipath,
            RouteStatus::Rejected(_) => Mark::NotSelected,
        };
        let state = &mut peers[c.peer.0 as usize];
        if c.mark == Mark::Best && mark != Mark::Best {
            state.best -= 1;
        } else if c.mark != Mark::Best && mark == Mark::Best {
            state.best += 1;
        }
        c.mark = mark;
    }
    fingerprint(cands, peers, hops)
}

/// The change from one selection to the next.
pub(super) fn change(
    prefix: IpNet,
    old: Fingerprint,
    old_hops: &[IpAddr],
    new: Fingerprint,
    new_hops: &[IpAddr],
) -> RouteChange {
    match (old, new) {
        (None, None) => RouteChange::Unchanged,
        (Some(_), None) => RouteChange::Withdrawn(prefix),
        (old, Some((kind, metric))) => {
            if old == new && old_hops == new_hops {
                RouteChange::Unchanged
            } else {
                RouteChange::Installed(rib_route(prefix, kind, metric, new_hops))
            }
        }
    }
}

pub(super) fn rib_route(prefix: IpNet, kind: PeerKind, metric: u32, hops: &[IpAddr]) -> RibRoute {
    RibRoute {
        prefix,
        source: kind.source(),
        metric,
        paths: paths(hops),
    }
}
