//! A prefix's candidate routes: at most one per source, kept in source
//! order. Nearly every prefix has one route, so one is inline and more go
//! to the heap behind a thin pointer: 16 bytes per prefix whatever the
//! number of sources.

use super::route::RouteSource;
use super::PathSetId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Candidate {
    pub source: RouteSource,
    pub metric: u32,
    pub paths: PathSetId,
}

/// A prefix's routes, at most one per source, in source order: nearly
/// always one, kept inline; more on the heap.
#[derive(Debug, Clone, Default)]
pub(super) enum Candidates {
    #[default]
    Empty,
    One(Candidate),
    // A thin pointer (8 bytes, not a 16-byte slice or 24-byte `Vec`): the
    // prefix map holds one of these per prefix, nearly always `One`.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Candidate>>),
}

impl Candidates {
    pub(super) fn as_slice(&self) -> &[Candidate] {
        match self {
            Candidates::Empty => &[],
            Candidates::One(c) => std::slice::from_ref(c),
            Candidates::Many(all) => all,
        }
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, Candidate> {
        self.as_slice().iter()
    }

    pub(super) fn get(&self, source: RouteSource) -> Option<Candidate> {
        self.iter().find(|c| c.source == source).copied()
    }

    pub(super) fn set(&mut self, source: RouteSource, new: Option<Candidate>) {
        *self = match (std::mem::take(self), new) {
            (Candidates::Empty, None) => Candidates::Empty,
            (Candidates::Empty, Some(c)) => Candidates::One(c),
            (Candidates::One(old), new) if old.source == source => {
                new.map_or(Candidates::Empty, Candidates::One)
            }
            (Candidates::One(old), None) => Candidates::One(old),
            (old, new) => {
                let mut all: Vec<Candidate> = old
                    .as_slice()
                    .iter()
                    .filter(|c| c.source != source)
                    .copied()
                    .chain(new)
                    .collect();
                all.sort_unstable_by_key(|c| c.source);
                match all.as_slice() {
                    [] => Candidates::Empty,
                    [c] => Candidates::One(*c),
                    _ => Candidates::Many(Box::new(all)),
                }
            }
        };
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Candidates::Empty)
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
