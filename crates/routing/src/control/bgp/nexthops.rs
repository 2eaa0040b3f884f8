//! BGP next hops as the decisions used them: each next hop's resolution
//! (reachable or not, and at what IGP cost), cached, and the prefixes with a
//! route through it.
//!
//! Two things follow. A decision over the whole table asks the RIB once per
//! next hop instead of once per route (a full table has a handful of next
//! hops). And after an IGP or connected change, `BgpRib::rerun` (`rerun.rs`) re-decides
//! only the prefixes with a route through a next hop whose resolution
//! changed, instead of the whole table.
//!
//! A next hop carrying much of the table (a full-table peer's) keeps no
//! list: a re-run over it passes over the whole table anyway (see
//! `rerun.rs`), and a list of a million prefixes cost 22 MB.
//!
//! Invariant: every prefix was last decided with the cached resolution of
//! each of its next hops, unless that next hop is marked stale (a decision
//! through `BgpRib::apply` saw the resolver answer otherwise, i.e. the RIB
//! changed without a re-run yet); a re-run treats stale next hops as changed.

use std::cell::Cell;
use std::net::IpAddr;

use ipnet::IpNet;

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
    /// none any more. `None` once more than [`LIST_LIMIT`] routes went
    /// through it (until it has none): who uses it is then found by a pass
    /// over the table.
    prefixes: Option<Vec<IpNet>>,
}

/// Routes through one next hop beyond which it keeps no prefix list. A
/// re-run passes over the whole table once the next hops it concerns carry
/// more than an eighth of it, so for a full table (~1.2 M prefixes) a list
/// this long saves at most a pass costing about as much as 150 k probes.
pub(super) const LIST_LIMIT: usize = 65_536;

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
                prefixes: Some(Vec::new()),
            }
        });
        state.routes += 1;
        if state.routes > LIST_LIMIT {
            state.prefixes = None;
        } else if let Some(list) = state.prefixes.as_mut().filter(|_| !listed) {
            list.push(prefix);
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
            .and_then(|s| Some((s.prefixes.as_ref()?.len(), s.routes)))
            .is_some_and(|(listed, routes)| listed > 2 * routes + 64)
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
    /// longer have a route through it (`through` says which still do);
    /// returns the list, or `None` if `hop` keeps none (too many routes).
    pub(super) fn clean(
        &mut self,
        hop: IpAddr,
        through: impl Fn(&IpNet) -> bool,
    ) -> Option<&[IpNet]> {
        let Some(s) = self.map.get_mut(&hop) else {
            return Some(&[]);
        };
        let list = s.prefixes.as_mut()?;
        list.sort_unstable();
        list.dedup();
        list.retain(|p| through(p));
        list.shrink_to_fit();
        Some(list)
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
