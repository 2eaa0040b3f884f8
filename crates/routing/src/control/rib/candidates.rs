//! A prefix's state in the RIB: its candidate routes (at most one per
//! source, kept in source order) and what was chosen of them, in 16 bytes.
//!
//! Nearly every prefix of a full table has one route, and then the chosen
//! routes can only be that one: the state holds it inline with two flags
//! (installed, resolving). Prefixes with several routes keep them, and the
//! chosen path sets, behind a thin pointer.

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
    /// One route; the flags say whether it is the installed one and the
    /// resolving one (with one route there is no other to choose).
    One {
        route: Candidate,
        installed: bool,
        resolving: bool,
    },
    // A thin pointer: the prefix map holds one state per prefix, nearly
    // always `One`.
    Many(Box<Several>),
}

/// Two routes or more, and the path sets chosen of them.
#[derive(Debug, Clone)]
pub(super) struct Several {
    routes: Vec<Candidate>,
    /// The winner's path set (its FIB group), if any route is usable.
    installed: MaybeId,
    /// The best non-BGP, non-recursive route's path set (resolves others).
    resolving: MaybeId,
}

impl PrefixState {
    pub(super) fn candidates(&self) -> &[Candidate] {
        match self {
            PrefixState::Empty => &[],
            PrefixState::One { route, .. } => std::slice::from_ref(route),
            PrefixState::Many(several) => &several.routes,
        }
    }

    pub(super) fn get(&self, source: RouteSource) -> Option<Candidate> {
        self.candidates()
            .iter()
            .find(|c| c.source == source)
            .copied()
    }

    /// The installed route's path set.
    pub(super) fn installed(&self) -> Option<PathSetId> {
        match self {
            PrefixState::Empty => None,
            PrefixState::One {
                route, installed, ..
            } => installed.then_some(route.paths),
            PrefixState::Many(several) => several.installed.get(),
        }
    }

    /// The resolving route's path set.
    pub(super) fn resolving(&self) -> Option<PathSetId> {
        match self {
            PrefixState::Empty => None,
            PrefixState::One {
                route, resolving, ..
            } => resolving.then_some(route.paths),
            PrefixState::Many(several) => several.resolving.get(),
        }
    }

    /// Records what was chosen: path sets of this prefix's routes (or
    /// none).
    pub(super) fn set_chosen(&mut self, chosen: Option<PathSetId>, resolves: Option<PathSetId>) {
        match self {
            PrefixState::Empty => debug_assert!(chosen.is_none() && resolves.is_none()),
            PrefixState::One {
                route,
                installed,
                resolving,
            } => {
                debug_assert!(chosen.is_none_or(|id| id == route.paths));
                debug_assert!(resolves.is_none_or(|id| id == route.paths));
                *installed = chosen.is_some();
                *resolving = resolves.is_some();
            }
            PrefixState::Many(several) => {
                several.installed = chosen.into();
                several.resolving = resolves.into();
            }
        }
    }

    /// Sets (or removes) `source`'s route. What was chosen is reset: the
    /// caller chooses again.
    pub(super) fn set(&mut self, source: RouteSource, new: Option<Candidate>) {
        let one = |route| PrefixState::One {
            route,
            installed: false,
            resolving: false,
        };
        *self = match (std::mem::take(self), new) {
            (PrefixState::Empty, None) => PrefixState::Empty,
            (PrefixState::Empty, Some(c)) => one(c),
            (PrefixState::One { route, .. }, new) if route.source == source => {
                new.map_or(PrefixState::Empty, one)
            }
            (PrefixState::One { route, .. }, None) => one(route),
            (old, new) => {
                let mut all: Vec<Candidate> = old
                    .candidates()
                    .iter()
                    .filter(|c| c.source != source)
                    .copied()
                    .chain(new)
                    .collect();
                all.sort_unstable_by_key(|c| c.source);
                match all.as_slice() {
                    [] => PrefixState::Empty,
                    [c] => one(*c),
                    _ => PrefixState::Many(Box::new(Several {
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
