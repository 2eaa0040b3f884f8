//! A prefix's received routes, one per peer, each marked with what the last
//! decision made of it: the element type of the Adj-RIBs-In's prefix map.

use std::sync::Arc;

use super::attrs::PathAttrs;
use super::peer::PeerId;

/// Marks on a received route: what the last decision made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    NotSelected,
    Best,
    Multipath,
}

#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) peer: PeerId,
    pub(super) attrs: Arc<PathAttrs>,
    pub(super) mark: Mark,
}

/// A prefix's routes. Most prefixes of a full table have one route (one
/// peer, or the others' routes differ): it is held inline, saving an
/// allocation and a cache miss per prefix; more go to the heap behind a
/// thin pointer, so the whole is 16 bytes.
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

impl std::ops::Deref for Candidates {
    type Target = [Candidate];
    fn deref(&self) -> &[Candidate] {
        match self {
            Candidates::Empty => &[],
            Candidates::One(c) => std::slice::from_ref(c),
            Candidates::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Candidates {
    fn deref_mut(&mut self) -> &mut [Candidate] {
        match self {
            Candidates::Empty => &mut [],
            Candidates::One(c) => std::slice::from_mut(c),
            Candidates::Many(v) => v,
        }
    }
}

impl Candidates {
    pub(super) fn push(&mut self, c: Candidate) {
        *self = match std::mem::take(self) {
            Candidates::Empty => Candidates::One(c),
            Candidates::One(a) => Candidates::Many(Box::new(vec![a, c])),
            Candidates::Many(mut v) => {
                v.push(c);
                Candidates::Many(v)
            }
        }
    }

    /// Removes route `i` (the last one takes its place); `None` if there is
    /// no route `i`.
    pub(super) fn swap_remove(&mut self, i: usize) -> Option<Candidate> {
        match std::mem::take(self) {
            Candidates::One(a) if i == 0 => Some(a),
            Candidates::Many(mut v) if i < v.len() => {
                let gone = v.swap_remove(i);
                *self = match v.len() {
                    1 => v.pop().map_or(Candidates::Empty, Candidates::One),
                    _ => Candidates::Many(v),
                };
                Some(gone)
            }
            other => {
                *self = other;
                None
            }
        }
    }
}
