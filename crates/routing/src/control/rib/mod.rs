//! The routing information base: every source's routes per prefix, merged
//! by administrative distance, resolved into shared next-hop groups, and
//! handed to the FIB as incremental changes.
//!
//! * A source replaces its own routes ([`Rib::replace_source`] for whole
//!   tables: config, SPF results, a reload) or changes one prefix
//!   ([`Rib::update`]: BGP increments).
//! * Per prefix the usable route with the lowest (distance, metric, source
//!   order) wins. A route is usable when its paths resolve.
//! * Paths are interned as path sets ([`paths`]); a path set's id is its
//!   FIB group id, so prefixes with equal paths share one group.
//! * [`Via::Recursive`] resolves through the best *non-BGP, non-recursive*
//!   route covering the address (the resolving table), so resolution never
//!   loops and BGP never resolves through BGP.
//! * Dependencies are tracked per path set (the neighbours it was resolved
//!   with, the recursive addresses it holds): a MAC change or an IGP change
//!   re-resolves the path sets concerned and rewrites their groups. Only
//!   when a path set becomes resolvable or unresolvable are the prefixes
//!   using it re-selected (one scan of the table; rare).

mod candidates;
mod changes;
mod paths;
mod replace;
mod show;
#[cfg(test)]
mod tests;

pub mod inputs;
pub mod notify;
pub mod publish;
pub mod route;

pub use paths::PathSetId;
pub use publish::{FibChanges, FibPublisher, PublishStats};
pub use show::{CandidateView, RibSummary, RouteExplanation};

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::control::hash::{FastMap as HashMap, FastSet as HashSet};
use crate::control::prefix_map::PrefixMap;
use crate::fib::{NextHop, PortId, StaticNeighbor};
use crate::lpm::{Ipv4Table, Ipv6Table};
use crate::wire::MacAddr;
use candidates::{Candidate, PrefixState, SeveralStore};
use notify::{BestRouteChange, Journals, SourceFilter, SubscriberId};
use paths::{canonical, resolve, PathSets, ResolveContext};
use route::{AdminDistances, NextHopResolver, RibRoute, RouteSource, Via, SOURCE_COUNT};

/// The routing information base.
#[derive(Debug, Clone, Default)]
pub struct Rib {
    distances: AdminDistances,
    prefixes: PrefixMap<PrefixState>,
    /// The states of prefixes with several routes.
    several: SeveralStore,
    /// Number of routes per source (by [`RouteSource::index`]).
    source_routes: [usize; SOURCE_COUNT],
    paths: PathSets,
    resolving_v4: Ipv4Table,
    resolving_v6: Ipv6Table,
    neighbors: HashMap<IpAddr, (PortId, MacAddr)>,
    /// Path sets resolved with a neighbour, by its address.
    neighbor_deps: HashMap<IpAddr, HashSet<PathSetId>>,
    /// Path sets holding `Via::Recursive { address }`, by address.
    recursive: HashMap<IpAddr, HashSet<PathSetId>>,
    dirty_prefixes: HashSet<IpNet>,
    /// Every prefix counts as changed (a bulk load touched most of them):
    /// the next changes are the whole table, and `dirty_prefixes` is not
    /// kept (a million inserts into it were a fifth of a full load).
    all_dirty: bool,
    dirty_groups: HashSet<PathSetId>,
    reresolve: HashSet<PathSetId>,
    /// Best-route changes per subscriber.
    journals: Journals,
}

/// Resolution's view of the RIB (borrowed fields, so path sets can be
/// written while it is alive).
struct View<'a> {
    neighbors: &'a HashMap<IpAddr, (PortId, MacAddr)>,
    resolving_v4: &'a Ipv4Table,
    resolving_v6: &'a Ipv6Table,
    paths: &'a PathSets,
}

impl ResolveContext for View<'_> {
    fn neighbor(&self, address: IpAddr) -> Option<(PortId, MacAddr)> {
        self.neighbors.get(&address).copied()
    }

    fn resolving_paths(&self, address: IpAddr) -> Option<&[Via]> {
        let id = match address {
            IpAddr::V4(a) => self.resolving_v4.lookup(a),
            IpAddr::V6(a) => self.resolving_v6.lookup(a),
        }?;
        self.paths.get(id).map(|p| &*p.paths)
    }
}

impl Rib {
    pub fn new(distances: AdminDistances) -> Self {
        Rib {
            distances,
            ..Rib::default()
        }
    }

    /// See [`PrefixMap::compact`]; the room the set of changed prefixes
    /// keeps for churn (up to 1.4 MB) is given back too, until it is
    /// needed again.
    pub fn compact(&mut self) {
        self.prefixes.compact();
        self.dirty_prefixes.shrink_to_fit();
    }

    pub fn distances(&self) -> AdminDistances {
        self.distances
    }

    /// Changes the distances and re-selects every prefix.
    pub fn set_distances(&mut self, distances: AdminDistances) {
        if distances == self.distances {
            return;
        }
        self.distances = distances;
        // Any prefix's best route may have changed source.
        self.journals.replaced(SourceFilter::all_except(&[]));
        let all: Vec<IpNet> = self.prefixes.keys().collect();
        for p in all {
            self.reconsider(p);
        }
        self.settle();
    }

    /// Sets (`Some`) or withdraws (`None`) `source`'s route for `prefix`.
    pub fn update(&mut self, source: RouteSource, prefix: IpNet, route: Option<&RibRoute>) {
        let route = route
            .filter(|r| !r.paths.is_empty())
            .map(|r| (r.metric, r.paths.as_slice()));
        self.set_candidate(prefix.trunc(), source, route);
        self.settle();
    }

    /// Replaces the resolved neighbours (static ones already merged in, as
    /// `NeighborTable::resolved` (the daemon's kernel glue) gives them; of
    /// two entries with one address the first counts). Rewrites the groups
    /// resolved with a neighbour that appeared, vanished or changed MAC.
    pub fn set_neighbors(&mut self, neighbors: &[StaticNeighbor]) {
        let mut fresh: HashMap<IpAddr, (PortId, MacAddr)> = HashMap::default();
        for n in neighbors {
            fresh.entry(n.address).or_insert((n.port, n.mac));
        }
        let changed: Vec<IpAddr> = fresh
            .iter()
            .filter(|(a, v)| self.neighbors.get(a) != Some(v))
            .map(|(a, _)| *a)
            .chain(
                self.neighbors
                    .keys()
                    .filter(|a| !fresh.contains_key(a))
                    .copied(),
            )
            .collect();
        self.neighbors = fresh;
        for a in changed {
            if let Some(sets) = self.neighbor_deps.get(&a) {
                self.reresolve.extend(sets.iter().copied());
            }
        }
        self.settle();
    }

    /// Sets one source's candidate for a prefix (not yet settled).
    fn set_candidate(&mut self, prefix: IpNet, source: RouteSource, route: Option<(u32, &[Via])>) {
        // The path set first (a small map), then one probe of the big
        // prefix map: on a full-table load that map is what costs.
        let new = route.map(|(metric, paths)| Candidate {
            source,
            metric,
            paths: self.acquire(canonical(paths)),
        });
        self.set_acquired(prefix, source, new, false);
    }

    /// Sets one source's candidate for a prefix, the caller having taken a
    /// reference to its path set (not yet settled). `keep_better`: a
    /// candidate of that source already there with a lower or equal metric
    /// stays (a bulk table repeating a prefix keeps its first best route).
    fn set_acquired(
        &mut self,
        prefix: IpNet,
        source: RouteSource,
        new: Option<Candidate>,
        keep_better: bool,
    ) {
        let state = match new {
            Some(_) => self
                .prefixes
                .get_or_insert_with(prefix, PrefixState::default),
            None => match self.prefixes.get_mut(&prefix) {
                Some(state) => state,
                None => return,
            },
        };
        let current = state.get(source, &self.several);
        let better_there =
            keep_better && matches!((current, new), (Some(c), Some(n)) if c.metric <= n.metric);
        if current == new || better_there {
            // Unchanged (equal paths intern to one id): drop the extra
            // reference taken above.
            if let Some(c) = new {
                self.release(c.paths);
            }
            return;
        }
        let chosen = (
            state.installed(&self.several),
            state.resolving(&self.several),
        );
        let before =
            (self.journals.records(source)).then(|| state.candidates(&self.several).to_vec());
        state.set(source, new, &mut self.several);
        if let Some(before) = before {
            let (distances, paths) = (&self.distances, &self.paths);
            self.journals.record(
                prefix,
                source,
                &before,
                &state.candidates(&self.several),
                |c| rank(distances, c),
                |c| {
                    paths
                        .get(c.paths)
                        .map(|p| p.paths.clone())
                        .unwrap_or_default()
                },
            );
        }
        let outcome = select(
            state,
            chosen,
            &mut self.several,
            &self.paths,
            &self.distances,
        );
        let count = &mut self.source_routes[source.index()];
        *count = *count + usize::from(new.is_some()) - usize::from(current.is_some());
        self.selected(prefix, outcome);
        if let Some(old) = current {
            self.release(old.paths);
        }
    }

    /// One more reference to `paths`, interning and resolving it if new.
    fn acquire(&mut self, paths: Cow<'_, [Via]>) -> PathSetId {
        if let Some(id) = self.paths.find(&paths) {
            if let Some(p) = self.paths.get_mut(id) {
                p.refs += 1;
            }
            return id;
        }
        let id = self
            .paths
            .insert(paths.clone().into_owned().into_boxed_slice());
        for via in paths.iter() {
            if let Via::Recursive { address } = via {
                self.recursive.entry(*address).or_default().insert(id);
            }
        }
        self.resolve_set(id);
        self.dirty_groups.insert(id);
        id
    }

    fn release(&mut self, id: PathSetId) {
        let Some(set) = self.paths.release(id) else {
            return;
        };
        for a in &set.neighbor_deps {
            remove_dep(&mut self.neighbor_deps, *a, id);
        }
        for via in set.paths.iter() {
            if let Via::Recursive { address } = via {
                remove_dep(&mut self.recursive, *address, id);
            }
        }
        self.dirty_groups.insert(id);
        self.reresolve.remove(&id);
    }

    /// Resolves path set `id` again; returns whether its members changed
    /// and whether it became (un)resolvable.
    fn resolve_set(&mut self, id: PathSetId) -> (bool, bool) {
        let Some(paths) = self.paths.get(id).map(|p| p.paths.clone()) else {
            return (false, false);
        };
        let view = View {
            neighbors: &self.neighbors,
            resolving_v4: &self.resolving_v4,
            resolving_v6: &self.resolving_v6,
            paths: &self.paths,
        };
        let (members, deps) = resolve(&view, &paths);
        let Some(set) = self.paths.get_mut(id) else {
            return (false, false);
        };
        let changed = set.members != members;
        let flipped = set.members.is_empty() != members.is_empty();
        set.members = members;
        let old_deps = std::mem::replace(&mut set.neighbor_deps, deps.clone());
        for a in old_deps.iter().filter(|a| !deps.contains(a)) {
            remove_dep(&mut self.neighbor_deps, *a, id);
        }
        for a in deps {
            self.neighbor_deps.entry(a).or_default().insert(id);
        }
        (changed, flipped)
    }

    /// Re-selects `prefix`: its installed route and its resolving route.
    fn reconsider(&mut self, prefix: IpNet) {
        let Some(state) = self.prefixes.get_mut(&prefix) else {
            return;
        };
        let chosen = (
            state.installed(&self.several),
            state.resolving(&self.several),
        );
        let outcome = select(
            state,
            chosen,
            &mut self.several,
            &self.paths,
            &self.distances,
        );
        self.selected(prefix, outcome);
    }

    /// Follows up a selection: the prefix's FIB entry, an emptied prefix,
    /// a moved resolving route.
    fn selected(&mut self, prefix: IpNet, outcome: Selection) {
        if outcome.installed_changed && !self.all_dirty {
            self.dirty_prefixes.insert(prefix);
        }
        if outcome.empty {
            self.prefixes.remove(&prefix);
        }
        if let Some(resolving) = outcome.resolving_changed {
            self.set_resolving(prefix, resolving);
        }
    }

    fn set_resolving(&mut self, prefix: IpNet, id: Option<PathSetId>) {
        // The resolving table holds a few thousand IGP routes at most, far
        // below the trie's limit of distinct ids; an overflow would only
        // leave that prefix out of resolution.
        match (prefix, id) {
            (IpNet::V4(p), Some(id)) => {
                let _ = self.resolving_v4.try_insert(p, id);
            }
            (IpNet::V6(p), Some(id)) => {
                let _ = self.resolving_v6.try_insert(p, id);
            }
            (IpNet::V4(p), None) => {
                self.resolving_v4.remove(p);
            }
            (IpNet::V6(p), None) => {
                self.resolving_v6.remove(p);
            }
        }
        for (address, sets) in &self.recursive {
            if prefix.contains(address) {
                self.reresolve.extend(sets.iter().copied());
            }
        }
    }

    /// Re-resolves what changes left pending, and re-selects the prefixes
    /// whose candidates became usable or unusable.
    fn settle(&mut self) {
        while !self.reresolve.is_empty() {
            let ids: Vec<PathSetId> = self.reresolve.drain().collect();
            let mut flipped = HashSet::default();
            for id in ids {
                let (changed, flip) = self.resolve_set(id);
                if changed {
                    self.dirty_groups.insert(id);
                }
                if flip {
                    flipped.insert(id);
                }
            }
            if flipped.is_empty() {
                continue;
            }
            let affected: Vec<IpNet> = self
                .prefixes
                .iter()
                .filter(|(_, s)| {
                    (s.candidates(&self.several).iter()).any(|c| flipped.contains(&c.paths))
                })
                .map(|(p, _)| p)
                .collect();
            for p in affected {
                self.reconsider(p);
            }
        }
    }

    /// Starts a journal of the best-route changes of `filter`'s sources.
    pub fn subscribe(&mut self, filter: SourceFilter) -> SubscriberId {
        self.journals.subscribe(filter)
    }

    pub fn unsubscribe(&mut self, id: SubscriberId) {
        self.journals.unsubscribe(id);
    }

    /// Subscriber `id`'s best-route changes since the last call.
    pub fn take_journal(&mut self, id: SubscriberId) -> Vec<BestRouteChange> {
        self.journals.take(id)
    }

    /// Number of prefixes with at least one route.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The members of group `id` as the RIB resolved them.
    pub fn group_members(&self, id: PathSetId) -> Option<&[NextHop]> {
        self.paths.get(id).map(|p| p.members.as_slice())
    }

    /// The installed group of `prefix`.
    pub fn installed(&self, prefix: IpNet) -> Option<PathSetId> {
        self.prefixes
            .get(&prefix.trunc())
            .and_then(|s| s.installed(&self.several))
    }

    /// The best non-BGP, non-recursive route covering `address`: its prefix
    /// and metric.
    fn resolving_route(&self, address: IpAddr) -> Option<(IpNet, u32)> {
        let (prefix, id) = match address {
            IpAddr::V4(a) => self
                .resolving_v4
                .lookup_prefix(a)
                .map(|(p, id)| (IpNet::V4(p), id)),
            IpAddr::V6(a) => self
                .resolving_v6
                .lookup_prefix(a)
                .map(|(p, id)| (IpNet::V6(p), id)),
        }?;
        let state = self.prefixes.get(&prefix)?;
        let candidates = state.candidates(&self.several);
        let c = candidates
            .iter()
            .filter(|c| c.paths == id && !c.source.is_bgp())
            .min_by_key(|c| (self.distances.of(c.source), c.metric))?;
        Some((prefix, c.metric))
    }
}

impl notify::RibView for Rib {
    fn next_hops(&self) -> &dyn NextHopResolver {
        self
    }

    fn source_prefixes(&self, source: RouteSource) -> Vec<IpNet> {
        self.prefixes
            .iter()
            .filter(|(_, state)| state.get(source, &self.several).is_some())
            .map(|(prefix, _)| prefix)
            .collect()
    }
}

impl NextHopResolver for Rib {
    fn igp_cost(&self, address: IpAddr) -> Option<u32> {
        let (prefix, metric) = self.resolving_route(address)?;
        // A next hop that is one of the router's own addresses is no next hop.
        let id = self.prefixes.get(&prefix)?.resolving(&self.several)?;
        let usable = self
            .paths
            .get(id)
            .is_some_and(|p| p.paths.iter().any(|v| !matches!(v, Via::Local)));
        usable.then_some(metric)
    }
}

/// What re-selecting one prefix changed.
struct Selection {
    installed_changed: bool,
    /// The new resolving path set, when it changed.
    resolving_changed: Option<Option<PathSetId>>,
    /// No route left: the prefix goes.
    empty: bool,
}

/// Picks the prefix's installed route (the usable one with the lowest
/// distance, metric, source order) and its resolving route (the same among
/// non-BGP, non-recursive ones), records both in `state`, and compares
/// them with what was chosen before (`before`: installed, resolving).
fn select(
    state: &mut PrefixState,
    before: (Option<PathSetId>, Option<PathSetId>),
    several: &mut SeveralStore,
    paths: &PathSets,
    distances: &AdminDistances,
) -> Selection {
    let key = |c: &Candidate| rank(distances, c);
    let installed = state
        .candidates(several)
        .iter()
        .filter(|c| paths.get(c.paths).is_some_and(|p| p.resolvable()))
        .min_by_key(|c| key(c))
        .map(|c| c.paths);
    let resolving = state
        .candidates(several)
        .iter()
        .filter(|c| !c.source.is_bgp() && paths.get(c.paths).is_some_and(|p| !p.recursive))
        .min_by_key(|c| key(c))
        .map(|c| c.paths);
    state.set_chosen(installed, resolving, several);
    Selection {
        installed_changed: installed != before.0,
        resolving_changed: (resolving != before.1).then_some(resolving),
        empty: state.is_empty(),
    }
}

/// How candidates compare: distance, then metric, then source order.
fn rank(distances: &AdminDistances, c: &Candidate) -> (u8, u32, usize) {
    (distances.of(c.source), c.metric, c.source.index())
}

fn remove_dep(map: &mut HashMap<IpAddr, HashSet<PathSetId>>, address: IpAddr, id: PathSetId) {
    if let Some(set) = map.get_mut(&address) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(&address);
        }
    }
}
