//! What the RIB tells the protocols: best-route changes per prefix, for
//! the sources each subscriber wants (BIRD's `rt_notify`), and the read
//! side protocols may use.

use ipnet::IpNet;

use super::route::{NextHopResolver, RouteSource, Via};

/// What a protocol may read of the RIB.
pub trait RibView {
    /// Reachability and IGP cost of next hops, through non-BGP routes.
    fn next_hops(&self) -> &dyn NextHopResolver;
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

    /// `self` and `source`.
    pub fn with(self, source: RouteSource) -> Self {
        SourceFilter(self.0 | bit(source))
    }

    /// The sources in both.
    pub fn intersect(self, other: SourceFilter) -> Self {
        SourceFilter(self.0 & other.0)
    }

    /// The sources of the set, in source order.
    pub fn sources(self) -> impl Iterator<Item = RouteSource> {
        RouteSource::ALL.into_iter().filter(move |s| self.wants(*s))
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
