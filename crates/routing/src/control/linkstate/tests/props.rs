//! SPF against a plain Bellman–Ford reference on random graphs: costs,
//! first-hop sets and routes must agree exactly.
//!
//! The graphs are small and dense in ties (costs 1..=4, now and then the
//! largest cost), with one-way links, links to routers without an LSA,
//! parallel links, first hops on unknown ports or of one family only, and
//! prefixes announced by several routers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::*;

use super::super::*;
use crate::control::rib::route::{RibRoute, RouteSource, Via};

/// Router `i` has an LSA when `i < n`; ids up to `n + 2` appear as neighbours.
fn rid(i: usize) -> RouterId {
    Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)
}

/// p0..p2 are configured, p3 is not.
fn port_of(name: &str) -> Option<PortId> {
    match name {
        "p0" => Some(0),
        "p1" => Some(1),
        "p2" => Some(2),
        _ => None,
    }
}

const PREFIXES: [&str; 6] = [
    "10.1.0.0/16",
    "10.2.0.0/16",
    "10.3.0.0/24",
    "2001:db8:1::/48",
    "2001:db8:2::/48",
    "192.0.2.0/24",
];

#[derive(Debug, Clone)]
struct EdgeSpec {
    from: usize,
    to: usize,
    cost: u32,
    port: u8,
    /// 0: IPv4 via, 1: IPv6 via, 2: both, 3: none.
    families: u8,
}

#[derive(Debug, Clone)]
struct Topology {
    n: usize,
    root: usize,
    edges: Vec<EdgeSpec>,
    /// (router, prefix index, cost)
    stubs: Vec<(usize, usize, u32)>,
}

fn topology() -> impl Strategy<Value = Topology> {
    (1usize..=24).prop_flat_map(|n| {
        let cost = prop_oneof![8 => 1u32..=4, 1 => Just(MAX_COST)];
        let edge =
            (0..n, 0..n + 2, cost, 0u8..4, 0u8..4).prop_map(|(from, to, cost, port, families)| {
                EdgeSpec {
                    from,
                    to,
                    cost,
                    port,
                    families,
                }
            });
        (
            Just(n),
            prop_oneof![4 => Just(0usize), 1 => 0..n + 1],
            proptest::collection::vec(edge, 0..n * 5),
            proptest::collection::vec((0..n, 0..PREFIXES.len(), 0u32..4), 0..n * 2),
        )
            .prop_map(|(n, root, edges, stubs)| Topology {
                n,
                root,
                edges,
                stubs,
            })
    })
}

fn build(t: &Topology) -> Vec<RouterLsa> {
    (0..t.n)
        .map(|u| RouterLsa {
            router_id: rid(u),
            sequence: 1,
            links: t
                .edges
                .iter()
                .filter(|e| e.from == u && e.to != u)
                .map(|e| {
                    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, e.to as u8 + 1));
                    let v6 =
                        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, e.to as u16 + 1));
                    let next_hops = match e.families {
                        0 => vec![v4],
                        1 => vec![v6],
                        2 => vec![v4, v6],
                        _ => vec![],
                    };
                    Link {
                        neighbor: rid(e.to),
                        cost: e.cost,
                        port: (!next_hops.is_empty()).then(|| format!("p{}", e.port)),
                        next_hops,
                    }
                })
                .collect(),
            stubs: t
                .stubs
                .iter()
                .filter(|s| s.0 == u)
                .map(|&(_, p, cost)| Stub {
                    prefix: PREFIXES[p].parse().unwrap(),
                    cost,
                })
                .collect(),
            transits: vec![],
        })
        .collect()
}

struct Reference {
    cost: Vec<Option<u64>>,
    hops: Vec<BTreeSet<Via>>,
    routes: Vec<RibRoute>,
    unroutable: Vec<IpNet>,
}

/// Bellman–Ford over the two-way edges (the root's only with a usable first
/// hop), then first hops by propagation along
/// tight edges until nothing changes, then routes by brute force.
fn reference(lsas: &[RouterLsa], root: usize, ids: usize) -> Reference {
    let n = lsas.len();
    let lists = |a: usize, b: usize| a < n && lsas[a].links.iter().any(|l| l.neighbor == rid(b));
    let index = |id: RouterId| (0..ids).find(|&i| rid(i) == id).unwrap();
    let mut edges = Vec::new(); // (u, v, cost, link)
    for (u, lsa) in lsas.iter().enumerate() {
        for link in &lsa.links {
            let v = index(link.neighbor);
            // The root's links count only as usable first hops.
            let usable = u != root
                || !link.next_hops.is_empty() && link.port.as_deref().and_then(port_of).is_some();
            if v < n && v != u && lists(v, u) && usable {
                edges.push((u, v, u64::from(link.cost), link));
            }
        }
    }
    let mut dist = vec![u64::MAX; ids];
    if root < n {
        dist[root] = 0;
    }
    for _ in 0..ids {
        for &(u, v, c, _) in &edges {
            if dist[u] != u64::MAX && dist[u] + c < dist[v] {
                dist[v] = dist[u] + c;
            }
        }
    }
    let mut hops = vec![BTreeSet::new(); ids];
    for &(u, v, c, link) in &edges {
        if u != root || c != dist[v] {
            continue;
        }
        if let Some(port) = link.port.as_deref().and_then(port_of) {
            for &gateway in &link.next_hops {
                hops[v].insert(Via::Gateway { port, gateway });
            }
        }
    }
    loop {
        let mut changed = false;
        for &(u, v, c, _) in &edges {
            if u != root && v != root && dist[u] != u64::MAX && dist[u] + c == dist[v] {
                let from: Vec<Via> = hops[u].iter().copied().collect();
                for h in from {
                    changed |= hops[v].insert(h);
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut best: BTreeMap<IpNet, (u64, BTreeSet<Via>)> = BTreeMap::new();
    for (u, lsa) in lsas.iter().enumerate() {
        if u == root || dist[u] == u64::MAX {
            continue;
        }
        for s in &lsa.stubs {
            let total = dist[u] + u64::from(s.cost);
            let entry = best.entry(s.prefix).or_insert((total, BTreeSet::new()));
            if total < entry.0 {
                *entry = (total, BTreeSet::new());
            }
            if total == entry.0 {
                entry.1.extend(hops[u].iter().copied());
            }
        }
    }
    let mut routes = Vec::new();
    let mut unroutable = Vec::new();
    for (prefix, (total, set)) in best {
        let paths: Vec<Via> = set
            .into_iter()
            .filter(|v| match v {
                Via::Gateway { gateway, .. } => gateway.is_ipv4() == matches!(prefix, IpNet::V4(_)),
                _ => false,
            })
            .collect();
        if paths.is_empty() {
            unroutable.push(prefix);
        } else {
            routes.push(RibRoute {
                prefix,
                source: RouteSource::LINK_STATE,
                metric: u32::try_from(total).unwrap_or(u32::MAX),
                paths,
            });
        }
    }
    Reference {
        cost: dist.iter().map(|&d| (d != u64::MAX).then_some(d)).collect(),
        hops,
        routes,
        unroutable,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn spf_agrees_with_bellman_ford(t in topology()) {
        let lsas = build(&t);
        let ids = t.n + 2;
        let want = reference(&lsas, t.root, ids);
        let mut lsdb = Lsdb::new();
        lsdb.replace_all(lsas);
        let got = spf::run(&lsdb, rid(t.root), port_of);
        for i in 0..ids {
            prop_assert_eq!(got.cost(rid(i)), want.cost[i], "cost of router {}", i);
            let hops: Vec<Via> = want.hops[i].iter().copied().collect();
            prop_assert_eq!(got.first_hops(rid(i)), hops, "first hops of router {}", i);
        }
        prop_assert_eq!(got.routes(), &want.routes[..]);
        prop_assert_eq!(got.unroutable(), &want.unroutable[..]);
    }
}
