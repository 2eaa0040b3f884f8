//! BGP next hops as the decisions used them: each next hop's resolution
//! (reachable or not, and at what IGP cost), cached, and the prefixes with a
//! route through it.
//!
//! Two things follow. A decision over the whole table asks the RIB once per
//! next hop instead of once per route (a full table has a handful of next
//! hops). And after an IGP or connected change, [`BgpRib::rerun`] re-decides
//! only the prefixes with a route through a next hop whose resolution
//! changed, instead of the whole table.
//!
//! Invariant: every prefix was last decided with the cached resolution of
//! each of its next hops, unless that next hop is marked stale (a decision
//! through [`BgpRib::apply`] saw the resolver answer otherwise, i.e. the RIB
//! changed without a re-run yet); a re-run treats stale next hops as changed.

use std::cell::Cell;
use std::net::IpAddr;

use ipnet::IpNet;

use super::adj_rib_in::{BgpRib, Candidates, Decide, PrefixMap, RouteChange};
use crate::control::hash::FastMap;
use crate::control::rib::route::NextHopResolver;

type HopMap<V> = FastMap<IpAddr, V>;

/// What BGP knows of one next hop.
#[derive(Debug, Clone)]
pub(super) struct NextHopState {
    /// The resolution the decisions of its prefixes were made with.
    resolution: Option<u32>,
    /// A decision used another resolution (or none is known yet).
    stale: bool,
    /// Routes (candidates) through it.
    routes: usize,
    /// Prefixes that have (or had) a route through it: entries are added
    /// when a prefix gains its first route through it and dropped only when
    /// the list is cleaned, so it may hold repeats and prefixes that have
    /// none any more.
    prefixes: Vec<IpNet>,
}

/// The next hops of all routes of a [`BgpRib`].
#[derive(Debug, Clone, Default)]
pub(super) struct NextHops {
    map: HopMap<NextHopState>,
}

impl NextHops {
    /// Notes one more route through `hop` for `prefix`. `listed`: the prefix
    /// already had a route through `hop`. `resolve`, for a next hop new to
    /// the table: what the resolver says of it now (`None`: not asked; the
    /// next re-run does).
    pub(super) fn add(
        &mut self,
        hop: IpAddr,
        prefix: IpNet,
        listed: bool,
        resolve: impl FnOnce() -> Option<Option<u32>>,
    ) {
        let state = self.map.entry(hop).or_insert_with(|| {
            let resolution = resolve();
            NextHopState {
                resolution: resolution.flatten(),
                stale: resolution.is_none(),
                routes: 0,
                prefixes: Vec::new(),
            }
        });
        state.routes += 1;
        if !listed {
            state.prefixes.push(prefix);
        }
    }

    /// Notes one route less through `hop`.
    pub(super) fn remove(&mut self, hop: IpAddr) {
        if let Some(s) = self.map.get_mut(&hop) {
            s.routes = s.routes.saturating_sub(1);
            if s.routes == 0 {
                self.map.remove(&hop);
            }
        }
    }

    /// Whether `hop`'s prefix list has grown to twice its routes (time to
    /// clean it).
    pub(super) fn needs_cleaning(&self, hop: IpAddr) -> bool {
        self.map
            .get(&hop)
            .is_some_and(|s| s.prefixes.len() > 2 * s.routes + 64)
    }

    /// The cached resolution of `hop`.
    pub(super) fn cached(&self, hop: IpAddr) -> Option<Option<u32>> {
        self.map.get(&hop).map(|s| s.resolution)
    }

    pub(super) fn mark_stale(&mut self, hop: IpAddr) {
        if let Some(s) = self.map.get_mut(&hop) {
            s.stale = true;
        }
    }

    /// Asks `resolver` about every next hop and caches the answers; returns
    /// the next hops whose resolution changed or was stale.
    pub(super) fn refresh(&mut self, resolver: &dyn NextHopResolver) -> Vec<IpAddr> {
        let mut changed = Vec::new();
        for (hop, s) in self.map.iter_mut() {
            let now = resolver.igp_cost(*hop);
            if now != s.resolution || s.stale {
                changed.push(*hop);
            }
            s.resolution = now;
            s.stale = false;
        }
        changed.sort_unstable();
        changed
    }

    /// Routes through `hop`.
    pub(super) fn routes(&self, hop: IpAddr) -> usize {
        self.map.get(&hop).map_or(0, |s| s.routes)
    }

    /// Drops from `hop`'s prefix list the repeats and the prefixes that no
    /// longer have a route through it; returns the list.
    pub(super) fn clean(&mut self, hop: IpAddr, routes: &PrefixMap<Candidates>) -> &[IpNet] {
        let Some(s) = self.map.get_mut(&hop) else {
            return &[];
        };
        let list = &mut s.prefixes;
        list.sort_unstable();
        list.dedup();
        list.retain(|p| {
            routes
                .get(p)
                .is_some_and(|c| c.iter().any(|c| c.attrs.next_hop == hop))
        });
        list.shrink_to_fit();
        list
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

/// The cached resolutions as a resolver (after [`NextHops::refresh`]).
pub(super) struct Cached<'a>(pub(super) &'a NextHops);

impl NextHopResolver for Cached<'_> {
    fn igp_cost(&self, address: IpAddr) -> Option<u32> {
        self.0.cached(address).flatten()
    }
}

/// The live resolver, noting whether it disagreed with the cache.
pub(super) struct Checked<'a> {
    pub(super) live: &'a dyn NextHopResolver,
    pub(super) hops: &'a NextHops,
    pub(super) disagreed: Cell<bool>,
}

impl NextHopResolver for Checked<'_> {
    fn igp_cost(&self, address: IpAddr) -> Option<u32> {
        let now = self.live.igp_cost(address);
        if self.hops.cached(address) != Some(now) {
            self.disagreed.set(true);
        }
        now
    }
}

impl BgpRib {
    /// Distinct next hops over all routes.
    pub fn next_hop_count(&self) -> usize {
        self.next_hops.len()
    }

    /// After the RIB's non-BGP routes changed: re-decides the prefixes with
    /// a route through a next hop whose resolution (reachable, IGP cost)
    /// changed, passing each change to `sink`; returns how many prefixes
    /// were decided again. The outcome is [`BgpRib::rerun_all`]'s.
    pub fn rerun(
        &mut self,
        resolver: &dyn NextHopResolver,
        mut sink: impl FnMut(RouteChange),
    ) -> usize {
        let changed = self.next_hops.refresh(resolver);
        if changed.is_empty() {
            return 0;
        }
        let through: usize = changed.iter().map(|&h| self.next_hops.routes(h)).sum();
        let touched = |cands: &Candidates| {
            cands
                .iter()
                .any(|c| changed.binary_search(&c.attrs.next_hop).is_ok())
        };
        if through > self.routes.len() / 8 {
            // Much of the table: one pass over it beats a probe per prefix.
            return self.redecide(None, touched, &mut sink);
        }
        let mut prefixes = Vec::new();
        for &hop in &changed {
            prefixes.extend_from_slice(self.next_hops.clean(hop, &self.routes));
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        self.redecide(Some(prefixes), |_| true, &mut sink)
    }

    /// Decides again, with the cached next-hop resolutions, the prefixes of
    /// `only` (all prefixes if `None`) whose routes `pick` accepts;
    /// returns how many.
    pub(super) fn redecide(
        &mut self,
        only: Option<Vec<IpNet>>,
        pick: impl Fn(&Candidates) -> bool,
        sink: &mut impl FnMut(RouteChange),
    ) -> usize {
        let Self {
            peers,
            routes,
            decision,
            next_hops,
            old_hops,
            new_hops,
            ..
        } = self;
        let cached = Cached(next_hops);
        let mut d = Decide {
            peers,
            decision,
            resolver: &cached,
            old_hops,
            new_hops,
        };
        let mut decided = 0;
        let mut one = |prefix: IpNet, cands: &mut Candidates| {
            if pick(cands) {
                d.report(prefix, cands, sink);
                decided += 1;
            }
        };
        match only {
            None => routes.iter_mut().for_each(|(p, c)| one(*p, c)),
            Some(list) => {
                for p in list {
                    if let Some(c) = routes.get_mut(&p) {
                        one(p, c);
                    }
                }
            }
        }
        decided
    }
}
