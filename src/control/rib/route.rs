//! The vocabulary shared by the routing information base and its inputs
//! (connected/static routes from the config, link-state SPF, BGP): what a
//! route says before it is resolved into the FIB's next hops.
//!
//! Inputs produce [`RibRoute`]s; the RIB merges them by administrative
//! distance, resolves [`Via::Recursive`] next hops through the other routes,
//! and turns the winners into shared next-hop groups in a `Fib`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::fib::PortId;

/// Where a route was learnt. The order of variants is no preference: that is
/// [`AdminDistances`]' job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteSource {
    /// A port's own subnet.
    Connected,
    /// `[[route]]` in the config.
    Static,
    /// BGP from a peer in another AS.
    Ebgp,
    /// Link-state SPF.
    LinkState,
    /// BGP from a peer in our own AS.
    Ibgp,
}

impl RouteSource {
    pub const ALL: [RouteSource; 5] = [
        RouteSource::Connected,
        RouteSource::Static,
        RouteSource::Ebgp,
        RouteSource::LinkState,
        RouteSource::Ibgp,
    ];

    /// The position in [`RouteSource::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            RouteSource::Connected => "connected",
            RouteSource::Static => "static",
            RouteSource::Ebgp => "ebgp",
            RouteSource::LinkState => "link-state",
            RouteSource::Ibgp => "ibgp",
        }
    }
}

/// Administrative distance per source: among routes for the same prefix from
/// different sources, the lowest distance wins (ties: the source listed first
/// in [`RouteSource::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AdminDistances {
    pub connected: u8,
    pub static_route: u8,
    pub ebgp: u8,
    pub link_state: u8,
    pub ibgp: u8,
}

impl Default for AdminDistances {
    /// The distances of Cisco IOS and FRR, which operators know: connected 0,
    /// static 1, eBGP 20, OSPF 110, iBGP 200.
    fn default() -> Self {
        AdminDistances {
            connected: 0,
            static_route: 1,
            ebgp: 20,
            link_state: 110,
            ibgp: 200,
        }
    }
}

impl AdminDistances {
    pub fn of(&self, source: RouteSource) -> u8 {
        match source {
            RouteSource::Connected => self.connected,
            RouteSource::Static => self.static_route,
            RouteSource::Ebgp => self.ebgp,
            RouteSource::LinkState => self.link_state,
            RouteSource::Ibgp => self.ibgp,
        }
    }
}

/// How a route reaches its prefix, before resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Via {
    /// The prefix is on the link of `port` (a connected subnet): the packet's
    /// own destination is the neighbour to resolve.
    Attached { port: PortId },
    /// Through `gateway`, a neighbour on `port`'s link (static routes whose
    /// gateway is on a connected subnet; link-state first hops).
    Gateway { port: PortId, gateway: IpAddr },
    /// Through `address`, which is resolved through the other routes of the
    /// RIB (BGP next hops; static routes whose gateway is not on a connected
    /// subnet). Unresolvable means unusable: the route is not installed.
    Recursive { address: IpAddr },
    /// An address of the router itself: delivered to the host stack.
    Local,
}

/// One route from one source, as that source selected it. `paths` holds all
/// equal-cost ways to reach the prefix (ECMP); it is never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RibRoute {
    pub prefix: IpNet,
    pub source: RouteSource,
    /// The source's own metric (SPF cost, MED-free BGP has 0, connected 0);
    /// compared only between routes of the same source.
    pub metric: u32,
    pub paths: Vec<Via>,
}

/// How the BGP decision process learns the IGP cost to a next hop
/// (RFC 4271 §9.1.2.2 (e)) and whether it is reachable at all (§9.1.2.1):
/// implemented by the RIB over its non-BGP routes.
pub trait NextHopResolver {
    /// The cost of the best non-BGP route covering `address` (connected 0,
    /// static 0, link-state its SPF cost), or `None` if nothing but BGP
    /// routes (or nothing at all) covers it.
    fn igp_cost(&self, address: IpAddr) -> Option<u32>;
}

/// One source's whole set of routes in bulk form, for
/// [`super::Rib::replace_table`]: each distinct path list
/// once, each route pointing at one by index. A million BGP routes through
/// a handful of next hops carry a handful of path lists, not a million.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub source: RouteSource,
    pub path_lists: Vec<Vec<Via>>,
    pub routes: Vec<TableRoute>,
}

/// A route of a [`RouteTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRoute {
    pub prefix: IpNet,
    pub metric: u32,
    /// Index into [`RouteTable::path_lists`].
    pub paths: u32,
}

impl RouteTable {
    pub fn new(source: RouteSource) -> Self {
        RouteTable {
            source,
            path_lists: Vec::new(),
            routes: Vec::new(),
        }
    }
}
