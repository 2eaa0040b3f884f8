//! What the RIB tells the protocols: best-route changes per prefix, for
//! the sources each subscriber wants (BIRD's `rt_notify`), and the read
//! side protocols may use.

use ipnet::IpNet;

use super::candidates::Candidate;
use super::route::{NextHopResolver, RouteSource, Via};

/// What a protocol may read of the RIB.
pub trait RibView {
    /// Reachability and IGP cost of next hops, through non-BGP routes.
    fn next_hops(&self) -> &dyn NextHopResolver;

    /// The prefixes `source` has a route for (a protocol redistributing
    /// the routes that were there before it subscribed; none by default).
    fn source_prefixes(&self, _source: RouteSource) -> Vec<IpNet> {
        Vec::new()
    }
}

/// A set of route sources: whose best-route changes a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceFilter(u64);

impl SourceFilter {
    pub const NONE: SourceFilter = SourceFilter(0);

    pub fn only(sources: &[RouteSource]) -> Self {
        SourceFilter(sources.iter().fold(0, |bits, s| bits | bit(*s)))
    }

    pub fn all_except(sources: &[RouteSource]) -> Self {
        SourceFilter(!Self::only(sources).0)
    }

    pub fn wants(self, source: RouteSource) -> bool {
        self.0 & bit(source) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The sources in either.
    pub fn union(self, other: SourceFilter) -> Self {
        SourceFilter(self.0 | other.0)
    }

    /// The sources in both.
    pub fn intersect(self, other: SourceFilter) -> Self {
        SourceFilter(self.0 & other.0)
    }

    /// The sources of the set, in source order.
    pub fn sources(self) -> impl Iterator<Item = RouteSource> {
        RouteSource::all().filter(move |s| self.wants(*s))
    }
}

fn bit(source: RouteSource) -> u64 {
    1 << source.index()
}

/// A prefix's best route among a subscriber's sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestRoute {
    pub source: RouteSource,
    pub metric: u32,
    pub paths: Box<[Via]>,
}

/// One entry of a subscriber's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BestRouteChange {
    /// The best route of `prefix` among the subscriber's sources went from
    /// `old` to `new` (`None`: none).
    Prefix {
        prefix: IpNet,
        old: Option<BestRoute>,
        new: Option<BestRoute>,
    },
    /// `source`'s routes were replaced in bulk: too many changes to list,
    /// read what you need from the RIB.
    SourceReplaced { source: RouteSource },
}

/// A subscriber to the RIB's best-route changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberId(usize);

/// At most this many entries wait in one journal; past it, the journal
/// says "every wanted source replaced" instead (the subscriber re-reads).
const JOURNAL_LIMIT: usize = 1 << 16;

#[derive(Debug, Clone, Default)]
struct Subscriber {
    filter: SourceFilter,
    journal: Vec<BestRouteChange>,
    /// Sources to report as [`BestRouteChange::SourceReplaced`].
    replaced: SourceFilter,
}

/// Every subscriber's journal.
#[derive(Debug, Clone, Default)]
pub(super) struct Journals {
    subscribers: Vec<Option<Subscriber>>,
    /// The sources some subscriber wants.
    watched: SourceFilter,
    /// Sources whose changes are being replaced in bulk (reported once, as
    /// replaced, not prefix by prefix).
    bulk: SourceFilter,
}

impl Journals {
    pub fn subscribe(&mut self, filter: SourceFilter) -> SubscriberId {
        let subscriber = Some(Subscriber {
            filter,
            ..Subscriber::default()
        });
        let id = match self.subscribers.iter().position(Option::is_none) {
            Some(i) => {
                self.subscribers[i] = subscriber;
                i
            }
            None => {
                self.subscribers.push(subscriber);
                self.subscribers.len() - 1
            }
        };
        self.rewatch();
        SubscriberId(id)
    }

    pub fn unsubscribe(&mut self, id: SubscriberId) {
        if let Some(slot) = self.subscribers.get_mut(id.0) {
            *slot = None;
        }
        self.rewatch();
    }

    fn rewatch(&mut self) {
        self.watched = self
            .subscribers
            .iter()
            .flatten()
            .fold(SourceFilter::NONE, |w, s| w.union(s.filter));
    }

    /// Whether a change of `source`'s routes is written prefix by prefix.
    #[inline]
    pub fn records(&self, source: RouteSource) -> bool {
        self.watched.wants(source) && !self.bulk.wants(source)
    }

    /// Writes the change of one prefix's `source` route: every subscriber
    /// wanting `source` gets its best wanted route before and after.
    pub fn record(
        &mut self,
        prefix: IpNet,
        source: RouteSource,
        before: &[Candidate],
        after: &[Candidate],
        rank: impl Fn(&Candidate) -> (u8, u32, usize),
        paths: impl Fn(&Candidate) -> Box<[Via]>,
    ) {
        for s in self.subscribers.iter_mut().flatten() {
            if !s.filter.wants(source) || s.replaced.wants(source) {
                continue;
            }
            if s.journal.len() >= JOURNAL_LIMIT {
                s.journal.clear();
                s.replaced = s.filter;
                continue;
            }
            let best = |cands: &[Candidate]| {
                cands
                    .iter()
                    .filter(|c| s.filter.wants(c.source))
                    .min_by_key(|c| rank(c))
                    .map(|c| BestRoute {
                        source: c.source,
                        metric: c.metric,
                        paths: paths(c),
                    })
            };
            s.journal.push(BestRouteChange::Prefix {
                prefix,
                old: best(before),
                new: best(after),
            });
        }
    }

    /// `sources` changed in a way not written prefix by prefix.
    pub fn replaced(&mut self, sources: SourceFilter) {
        for s in self.subscribers.iter_mut().flatten() {
            let hit = s.filter.intersect(sources);
            s.replaced = s.replaced.union(hit);
        }
    }

    /// Starts (`true`) or ends a bulk replacement of `source`.
    pub fn set_bulk(&mut self, source: RouteSource, bulk: bool) {
        self.bulk = match bulk {
            true => self.bulk.union(SourceFilter::only(&[source])),
            false => self.bulk.intersect(SourceFilter::all_except(&[source])),
        };
    }

    /// Subscriber `id`'s journal since the last call: the replaced sources
    /// first, then the prefixes in the order they changed.
    pub fn take(&mut self, id: SubscriberId) -> Vec<BestRouteChange> {
        let Some(Some(s)) = self.subscribers.get_mut(id.0) else {
            return Vec::new();
        };
        let mut out: Vec<BestRouteChange> = std::mem::take(&mut s.replaced)
            .sources()
            .map(|source| BestRouteChange::SourceReplaced { source })
            .collect();
        out.append(&mut s.journal);
        out
    }
}

#[cfg(test)]
mod tests;
