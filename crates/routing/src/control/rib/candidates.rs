//! A prefix's state in the RIB: its candidate routes (at most one per
//! source, kept in source order) and what was chosen of them, in 12 bytes.
//!
//! Nearly every prefix of a full table has one route, and then the chosen
//! routes can only be that one: the state holds it inline with two flags
//! (installed, resolving). Prefixes with several routes keep them, and the
//! chosen path sets, in the RIB's [`SeveralStore`], by a 4-byte id: a
//! pointer would make the state 8-aligned, 16 bytes (5 MB more for a full
//! table with RIS's IPv6 routes).

use super::route::RouteSource;
use super::PathSetId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Candidate {
    pub source: RouteSource,
    pub metric: u32,
    pub paths: PathSetId,
}

/// A prefix's routes and what was chosen of them.
#[derive(Debug, Clone, Default)]
pub(super) enum PrefixState {
    #[default]
    Empty,
    /// One route (its fields inline, not a [`Candidate`], whose padding
    /// the flags could not use); the flags say whether it is the installed
    /// one and the resolving one (with one route there is no other to
    /// choose).
    One {
        source: RouteSource,
        installed: bool,
        resolving: bool,
        metric: u32,
        paths: PathSetId,
    },
    Many(SeveralId),
}

/// Where a prefix's routes are in the [`SeveralStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SeveralId(u32);

/// Two routes or more, and the path sets chosen of them.
#[derive(Debug, Clone, Default)]
pub(super) struct Several {
    routes: Vec<Candidate>,
    /// The winner's path set (its FIB group), if any route is usable.
    installed: MaybeId,
    /// The best non-BGP, non-recursive route's path set (resolves others).
    resolving: MaybeId,
}

/// The states of the prefixes with several routes, by id; ids of states
/// gone are reused.
#[derive(Debug, Clone, Default)]
pub(super) struct SeveralStore {
    slots: Vec<Several>,
    free: Vec<u32>,
}

impl SeveralStore {
    fn add(&mut self, several: Several) -> SeveralId {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = several;
                SeveralId(i)
            }
            None => {
                self.slots.push(several);
                SeveralId(self.slots.len() as u32 - 1)
            }
        }
    }

    fn take(&mut self, id: SeveralId) -> Several {
        self.free.push(id.0);
        std::mem::take(&mut self.slots[id.0 as usize])
    }

    fn get(&self, id: SeveralId) -> &Several {
        &self.slots[id.0 as usize]
    }

    fn get_mut(&mut self, id: SeveralId) -> &mut Several {
        &mut self.slots[id.0 as usize]
    }

    /// States held (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// A prefix's candidates, borrowed from the store or (one route) copied
/// out of the state; derefs to the slice.
pub(super) enum Candidates<'a> {
    One(Candidate),
    Many(&'a [Candidate]),
}

impl std::ops::Deref for Candidates<'_> {
    type Target = [Candidate];
    fn deref(&self) -> &[Candidate] {
        match self {
            Candidates::One(c) => std::slice::from_ref(c),
            Candidates::Many(all) => all,
        }
    }
}

impl PrefixState {
    pub(super) fn candidates<'a>(&self, store: &'a SeveralStore) -> Candidates<'a> {
        match *self {
            PrefixState::Empty => Candidates::Many(&[]),
            PrefixState::One {
                source,
                metric,
                paths,
                ..
            } => Candidates::One(Candidate {
                source,
                metric,
                paths,
            }),
            PrefixState::Many(id) => Candidates::Many(&store.get(id).routes),
        }
    }

    pub(super) fn get(&self, source: RouteSource, store: &SeveralStore) -> Option<Candidate> {
        self.candidates(store)
            .iter()
            .find(|c| c.source == source)
            .copied()
    }

    /// The installed route's path set.
    pub(super) fn installed(&self, store: &SeveralStore) -> Option<PathSetId> {
        match *self {
            PrefixState::Empty => None,
            PrefixState::One {
                installed, paths, ..
            } => installed.then_some(paths),
            PrefixState::Many(id) => store.get(id).installed.get(),
        }
    }

    /// The resolving route's path set.
    pub(super) fn resolving(&self, store: &SeveralStore) -> Option<PathSetId> {
        match *self {
            PrefixState::Empty => None,
            PrefixState::One {
                resolving, paths, ..
            } => resolving.then_some(paths),
            PrefixState::Many(id) => store.get(id).resolving.get(),
        }
    }

    /// Records what was chosen: path sets of this prefix's routes (or
    /// none).
    pub(super) fn set_chosen(
        &mut self,
        chosen: Option<PathSetId>,
        resolves: Option<PathSetId>,
        store: &mut SeveralStore,
    ) {
        match self {
            PrefixState::Empty => debug_assert!(chosen.is_none() && resolves.is_none()),
            PrefixState::One {
                installed,
                resolving,
                paths,
                ..
            } => {
                debug_assert!(chosen.is_none_or(|id| id == *paths));
                debug_assert!(resolves.is_none_or(|id| id == *paths));
                *installed = chosen.is_some();
                *resolving = resolves.is_some();
            }
            PrefixState::Many(id) => {
                let several = store.get_mut(*id);
                several.installed = chosen.into();
                several.resolving = resolves.into();
            }
        }
    }

    /// Sets (or removes) `source`'s route. What was chosen is reset: the
    /// caller chooses again.
    pub(super) fn set(
        &mut self,
        source: RouteSource,
        new: Option<Candidate>,
        store: &mut SeveralStore,
    ) {
        let one = |c: Candidate| PrefixState::One {
            source: c.source,
            installed: false,
            resolving: false,
            metric: c.metric,
            paths: c.paths,
        };
        *self = match (std::mem::take(self), new) {
            (PrefixState::Empty, None) => PrefixState::Empty,
            (PrefixState::Empty, Some(c)) => one(c),
            (PrefixState::One { source: s, .. }, new) if s == source => {
                new.map_or(PrefixState::Empty, one)
            }
            (old @ PrefixState::One { .. }, None) => {
                let route = old.candidates(store)[0];
                one(route)
            }
            (old, new) => {
                let mut all: Vec<Candidate> = match old {
                    PrefixState::Many(id) => store.take(id).routes,
                    other => other.candidates(store).to_vec(),
                };
                all.retain(|c| c.source != source);
                all.extend(new);
                all.sort_unstable_by_key(|c| c.source);
                match all.as_slice() {
                    [] => PrefixState::Empty,
                    [c] => one(*c),
                    _ => PrefixState::Many(store.add(Several {
                        routes: all,
                        installed: MaybeId::NONE,
                        resolving: MaybeId::NONE,
                    })),
                }
            }
        };
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, PrefixState::Empty)
    }
}

/// An `Option<PathSetId>` in 4 bytes (`Option<u32>` takes 8): path set ids
/// are FIB group ids, which never take the value the tries reserve for "no
/// route".
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct MaybeId(PathSetId);

impl MaybeId {
    pub(super) const NONE: MaybeId = MaybeId(PathSetId::MAX);

    pub(super) fn get(self) -> Option<PathSetId> {
        (self != Self::NONE).then_some(self.0)
    }
}

impl Default for MaybeId {
    fn default() -> Self {
        Self::NONE
    }
}

impl From<Option<PathSetId>> for MaybeId {
    fn from(id: Option<PathSetId>) -> Self {
        id.map_or(Self::NONE, MaybeId)
    }
}

impl std::fmt::Debug for MaybeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}
