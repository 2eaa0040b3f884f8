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

use crate::fib::{Discard, PortId};

/// What the RIB knows of a route source: declared once, in [`SOURCES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    /// How operators see it (`show routes`, JSON).
    pub name: &'static str,
    /// Its key in `[distance]`.
    pub distance_key: &'static str,
    /// Administrative distance unless `[distance]` says otherwise.
    pub default_distance: u8,
    /// BGP-like: its next hops resolve recursively through the other
    /// sources' routes, and no route resolves through its routes.
    pub bgp_like: bool,
}

/// Every route source, in tie-break order (of two routes with the same
/// distance and metric, the source listed first wins). A new source (OSPF
/// intra-area, inter-area, E1, E2, ...) is a new line here and a constant
/// below. The defaults are the distances of Cisco IOS and FRR, which
/// operators know.
pub const SOURCES: &[SourceInfo] = &[
    source("connected", "connected", 0, false),
    source("static", "static", 1, false),
    source("ebgp", "ebgp", 20, true),
    source("link-state", "linkstate", 110, false),
    source("ibgp", "ibgp", 200, true),
    source("ospf", "ospf", 110, false),
    source("ospfv3", "ospfv3", 110, false),
];

/// How many sources there are.
pub const SOURCE_COUNT: usize = SOURCES.len();

const fn source(
    name: &'static str,
    distance_key: &'static str,
    default_distance: u8,
    bgp_like: bool,
) -> SourceInfo {
    SourceInfo {
        name,
        distance_key,
        default_distance,
        bgp_like,
    }
}

/// Where a route was learnt: an index into [`SOURCES`]. The order is no
/// preference: that is [`AdminDistances`]' job (the order breaks ties only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSource(u8);

impl RouteSource {
    /// A port's own subnet (and the router's addresses, neighbour host routes).
    pub const CONNECTED: RouteSource = RouteSource(0);
    /// `[[route]]` in the config.
    pub const STATIC: RouteSource = RouteSource(1);
    /// BGP from a peer in another AS.
    pub const EBGP: RouteSource = RouteSource(2);
    /// Link-state SPF.
    pub const LINK_STATE: RouteSource = RouteSource(3);
    /// BGP from a peer in our own AS.
    pub const IBGP: RouteSource = RouteSource(4);
    /// OSPF intra-area routes (SPF over the speaker's router and network
    /// LSAs).
    pub const OSPF: RouteSource = RouteSource(5);
    /// OSPFv3 intra-area routes (IPv6).
    pub const OSPFV3: RouteSource = RouteSource(6);

    /// Every source, in [`SOURCES`] order.
    pub fn all() -> impl Iterator<Item = RouteSource> + Clone {
        (0..SOURCE_COUNT as u8).map(RouteSource)
    }

    /// The source whose `[distance]` key is `key`.
    pub fn by_distance_key(key: &str) -> Option<RouteSource> {
        SOURCES
            .iter()
            .position(|s| s.distance_key == key)
            .map(|i| RouteSource(i as u8))
    }

    /// The position in [`SOURCES`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn info(self) -> &'static SourceInfo {
        &SOURCES[self.index()]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// See [`SourceInfo::bgp_like`].
    pub fn is_bgp(self) -> bool {
        self.info().bgp_like
    }
}

impl Serialize for RouteSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for RouteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Administrative distance per source: among routes for the same prefix from
/// different sources, the lowest distance wins (ties: the source listed first
/// in [`SOURCES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminDistances([u8; SOURCE_COUNT]);

impl Default for AdminDistances {
    fn default() -> Self {
        let mut d = [0; SOURCE_COUNT];
        for (slot, s) in d.iter_mut().zip(SOURCES) {
            *slot = s.default_distance;
        }
        AdminDistances(d)
    }
}

impl AdminDistances {
    pub fn of(&self, source: RouteSource) -> u8 {
        self.0[source.index()]
    }

    pub fn set(&mut self, source: RouteSource, distance: u8) {
        self.0[source.index()] = distance;
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
    /// A discard route (blackhole, unreachable, prohibit): competes by
    /// distance and longest match like any other path, and drops what it wins.
    Discard { action: Discard },
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
