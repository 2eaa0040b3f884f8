//! Property test: a RIB changed step by step, published as it goes, gives
//! the same FIB as a fresh RIB given the final routes at once.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use super::{gw, neighbor, net, rec, two_ports};
use crate::control::rib::inputs::connected_routes;
use crate::control::rib::route::{AdminDistances, RibRoute, RouteSource, Via, SOURCE_COUNT};
use crate::fib::{Fib, FibHandle, NextHop, NextHopTable};
use crate::lpm::{Ipv4Table, Ipv6Table};

/// One operation of the property test.
#[derive(Debug, Clone)]
enum Op {
    Route {
        source: usize,
        prefix: usize,
        paths: Option<usize>,
    },
    Neighbors(Vec<(usize, u8)>),
    Publish,
}

const PREFIXES: [&str; 8] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3/32",
    "192.0.2.0/24",
    "2001:db8::/32",
    "2001:db8:1::/48",
];
const GATEWAYS: [&str; 4] = ["10.0.1.9", "10.0.2.9", "10.0.1.10", "10.0.2.10"];

fn paths_of(i: usize) -> Vec<Via> {
    match i % 7 {
        0 => vec![gw(0, GATEWAYS[0])],
        1 => vec![gw(1, GATEWAYS[1]), gw(0, GATEWAYS[2])],
        2 => vec![rec("10.1.2.3")],
        3 => vec![rec("192.0.2.77"), rec("10.200.0.1")],
        4 => vec![Via::Attached { port: 1 }],
        5 => vec![rec("2001:db8:1::5")],
        _ => vec![rec(GATEWAYS[3])],
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SOURCE_COUNT, 0..PREFIXES.len(), proptest::option::of(0..7usize))
            .prop_map(|(source, prefix, paths)| Op::Route { source, prefix, paths }),
        1 => proptest::collection::vec((0..GATEWAYS.len(), 1..4u8), 0..4).prop_map(Op::Neighbors),
        1 => Just(Op::Publish),
    ]
}

/// Every prefix of a FIB with its members, sorted.
/// Every route of tries that keep their record, with its group's members.
fn contents(v4: &Ipv4Table, v6: &Ipv6Table, groups: &NextHopTable) -> Vec<(IpNet, Vec<NextHop>)> {
    let mut all: Vec<(IpNet, Vec<NextHop>)> = v4
        .iter()
        .map(|(p, id)| (IpNet::V4(p), groups.members(id).to_vec()))
        .chain(
            v6.iter()
                .map(|(p, id)| (IpNet::V6(p), groups.members(id).to_vec())),
        )
        .collect();
    all.sort_by_key(|(p, _)| *p);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn incremental_updates_equal_a_build_from_scratch(ops in proptest::collection::vec(op(), 1..60)) {
        let (mut rib, ports) = two_ports();
        let handle = FibHandle::new(Fib::default());
        let mut publisher = FibPublisher::new(handle.clone(), Duration::ZERO);
        let mut routes: BTreeMap<(usize, usize), usize> = Default::default();
        let mut neighbors = vec![];
        for op in ops {
            match op {
                Op::Route { source, prefix, paths } => {
                    let source = RouteSource::all().nth(source).unwrap();
                    let p = net(PREFIXES[prefix]);
                    match paths {
                        Some(i) => {
                            let r = RibRoute { prefix: p, source, metric: i as u32 % 3, paths: paths_of(i) };
                            rib.update(source, p, Some(&r));
                            routes.insert((source.index(), prefix), i);
                        }
                        None => {
                            rib.update(source, p, None);
                            routes.remove(&(source.index(), prefix));
                        }
                    }
                }
                Op::Neighbors(list) => {
                    neighbors = list
                        .iter()
                        .map(|&(g, m)| neighbor(GATEWAYS[g], (g % 2) as u16, m))
                        .collect();
                    rib.set_neighbors(&neighbors);
                }
                Op::Publish => {
                    publisher.publish_now(&mut rib);
                }
            }
        }
        publisher.publish_now(&mut rib);
        let incremental = handle.load();

        let mut fresh = Rib::new(AdminDistances::default());
        fresh.set_neighbors(&neighbors);
        fresh.replace_source(RouteSource::CONNECTED, connected_routes(&ports, &[]));
        for source in RouteSource::all() {
            let list = routes
                .iter()
                .filter(|((s, _), _)| *s == source.index())
                .filter(|_| source != RouteSource::CONNECTED)
                .map(|((_, p), &i)| RibRoute { prefix: net(PREFIXES[*p]), source, metric: i as u32 % 3, paths: paths_of(i) })
                .collect();
            if source != RouteSource::CONNECTED {
                fresh.replace_source(source, list);
            }
        }
        for ((s, p), &i) in routes.iter().filter(|((s, _), _)| *s == RouteSource::CONNECTED.index()) {
            let _ = s;
            let r = RibRoute { prefix: net(PREFIXES[*p]), source: RouteSource::CONNECTED, metric: i as u32 % 3, paths: paths_of(i) };
            fresh.update(RouteSource::CONNECTED, r.prefix, Some(&r));
        }
        let scratch = fresh.snapshot().build();
        let (v4, v6) = publisher.tables();
        let want = contents(&scratch.v4, &scratch.v6, scratch.groups());
        prop_assert_eq!(contents(v4, v6, incremental.groups()), want.clone());
        // The published lookup-only copies answer as the scratch build does.
        for (prefix, _) in &want {
            let (got, expected) = match prefix {
                IpNet::V4(p) => (incremental.v4.lookup(p.network()), scratch.v4.lookup(p.network())),
                IpNet::V6(p) => (incremental.v6.lookup(p.network()), scratch.v6.lookup(p.network())),
            };
            let members = |fib: &Fib, id: Option<u32>| id.map(|id| fib.groups().members(id).to_vec());
            prop_assert_eq!(members(&incremental, got), members(&scratch, expected), "{}", prefix);
        }
    }
}
