//! Path sets: interned lists of [`Via`]s, each with its next-hop group.
//!
//! Every prefix whose route has the same paths shares one path set, and the
//! path set's id is the FIB group id of those prefixes. Re-resolving a path
//! set (its gateway's MAC changed, the IGP route to its BGP next hop moved)
//! rewrites one group, never the prefixes pointing at it.

use std::borrow::Cow;
use std::net::IpAddr;

use super::route::Via;
use crate::control::hash::FastMap as HashMap;
use crate::fib::{NextHop, PortId};
use crate::lpm::NextHopId;
use crate::wire::MacAddr;

/// A path set's id, which is also its group's id in the FIB.
pub type PathSetId = NextHopId;

#[derive(Debug, Clone)]
pub(super) struct PathSet {
    pub paths: Box<[Via]>,
    /// Candidate routes (prefix, source) using it.
    pub refs: u32,
    /// Resolved members; empty means unresolvable (only possible with a
    /// recursive path).
    pub members: Vec<NextHop>,
    /// Holds a [`Via::Recursive`]: resolved through other routes, so it can
    /// never resolve another path set (no resolution loops).
    pub recursive: bool,
    /// Neighbour addresses the members were resolved with.
    pub neighbor_deps: Vec<IpAddr>,
}

impl PathSet {
    pub fn resolvable(&self) -> bool {
        !self.members.is_empty()
    }
}

/// The interned path sets.
#[derive(Debug, Default, Clone)]
pub(super) struct PathSets {
    slots: Vec<Option<PathSet>>,
    free: Vec<PathSetId>,
    by_paths: HashMap<Box<[Via]>, PathSetId>,
}

/// Paths in one canonical order without duplicates, so equal sets intern
/// to one id (borrowed when already so: the common single path).
pub(super) fn canonical(paths: &[Via]) -> Cow<'_, [Via]> {
    if paths.windows(2).all(|w| w[0] < w[1]) {
        return Cow::Borrowed(paths);
    }
    let mut v = paths.to_vec();
    v.sort_unstable();
    v.dedup();
    Cow::Owned(v)
}

impl PathSets {
    pub fn get(&self, id: PathSetId) -> Option<&PathSet> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: PathSetId) -> Option<&mut PathSet> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The id of `paths` (canonical) if interned.
    pub fn find(&self, paths: &[Via]) -> Option<PathSetId> {
        self.by_paths.get(paths).copied()
    }

    /// Interns a new set (the caller checked [`Self::find`]) with one reference.
    pub fn insert(&mut self, paths: Box<[Via]>) -> PathSetId {
        let set = PathSet {
            recursive: paths.iter().any(|v| matches!(v, Via::Recursive { .. })),
            paths: paths.clone(),
            refs: 1,
            members: Vec::new(),
            neighbor_deps: Vec::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(set);
                id
            }
            None => {
                self.slots.push(Some(set));
                (self.slots.len() - 1) as PathSetId
            }
        };
        self.by_paths.insert(paths, id);
        id
    }

    /// Drops one reference; returns the set when that was the last.
    pub fn release(&mut self, id: PathSetId) -> Option<PathSet> {
        let set = self.get_mut(id)?;
        set.refs -= 1;
        if set.refs > 0 {
            return None;
        }
        let set = self.slots[id as usize].take()?;
        self.by_paths.remove(&set.paths);
        self.free.push(id);
        Some(set)
    }

    pub fn iter(&self) -> impl Iterator<Item = (PathSetId, &PathSet)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as PathSetId, s)))
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// What resolution needs to know about the rest of the RIB.
pub(super) trait ResolveContext {
    /// The resolved neighbour with this address: its port and MAC.
    fn neighbor(&self, address: IpAddr) -> Option<(PortId, MacAddr)>;
    /// The paths of the best non-BGP, non-recursive route covering
    /// `address`.
    fn resolving_paths(&self, address: IpAddr) -> Option<&[Via]>;
}

/// The adjacency towards neighbour `address` on `port`, or the marker that
/// its MAC is not known yet.
fn toward(
    ctx: &dyn ResolveContext,
    port: PortId,
    address: IpAddr,
    deps: &mut Vec<IpAddr>,
) -> NextHop {
    deps.push(address);
    match ctx.neighbor(address) {
        Some((port, mac)) => NextHop::Adjacency { port, mac },
        None => NextHop::Unresolved {
            port,
            gateway: address,
        },
    }
}

/// Resolves `paths` into group members (no duplicates, in path order) and
/// the neighbour addresses they depend on.
pub(super) fn resolve(ctx: &dyn ResolveContext, paths: &[Via]) -> (Vec<NextHop>, Vec<IpAddr>) {
    let mut members = Vec::with_capacity(paths.len());
    let mut deps = Vec::new();
    fn push(nh: NextHop, members: &mut Vec<NextHop>) {
        if !members.contains(&nh) {
            members.push(nh);
        }
    }
    for via in paths {
        match *via {
            Via::Attached { port } => push(NextHop::Glean { port }, &mut members),
            Via::Gateway { port, gateway } => {
                push(toward(ctx, port, gateway, &mut deps), &mut members)
            }
            Via::Local => push(NextHop::Local, &mut members),
            Via::Discard { action } => push(NextHop::Discard(action), &mut members),
            Via::Recursive { address } => {
                for through in ctx.resolving_paths(address).unwrap_or(&[]) {
                    match *through {
                        // The next hop is on this link: it is the neighbour.
                        Via::Attached { port } => {
                            push(toward(ctx, port, address, &mut deps), &mut members)
                        }
                        Via::Gateway { port, gateway } => {
                            push(toward(ctx, port, gateway, &mut deps), &mut members)
                        }
                        // A BGP next hop routed to a discard route is
                        // discarded the same way (remotely triggered
                        // blackholing, RFC 5635 §2).
                        Via::Discard { action } => push(NextHop::Discard(action), &mut members),
                        // A next hop that is the router itself, or one that
                        // would need a second recursion: unusable.
                        Via::Local | Via::Recursive { .. } => {}
                    }
                }
            }
        }
    }
    deps.sort_unstable();
    deps.dedup();
    (members, deps)
}
