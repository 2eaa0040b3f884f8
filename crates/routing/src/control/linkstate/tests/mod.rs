//! Hand-checked topologies: every expected cost and first hop below was
//! worked out on paper from the drawing next to the test.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::control::rib::route::{RouteSource, Via};

mod file;
mod props;
mod transit;

fn id(n: u8) -> RouterId {
    Ipv4Addr::new(10, 0, 0, n)
}

/// Port `pN` is port id N; anything else is unknown.
fn port_of(name: &str) -> Option<PortId> {
    name.strip_prefix('p')?.parse().ok()
}

fn gw(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

fn hop(port: PortId, n: u8) -> Via {
    Via::Gateway {
        port,
        gateway: gw(n),
    }
}

fn link(to: u8, cost: u32) -> Link {
    Link {
        neighbor: id(to),
        cost,
        next_hops: vec![],
        port: None,
    }
}

/// A link of the root: reached through 192.0.2.<to> on port `port`.
fn first(to: u8, cost: u32, port: PortId) -> Link {
    Link {
        neighbor: id(to),
        cost,
        next_hops: vec![gw(to)],
        port: Some(format!("p{port}")),
    }
}

fn stub(prefix: &str, cost: u32) -> Stub {
    Stub {
        prefix: prefix.parse().unwrap(),
        cost,
    }
}

fn lsa(n: u8, sequence: u64, links: Vec<Link>, stubs: Vec<Stub>) -> RouterLsa {
    RouterLsa {
        router_id: id(n),
        sequence,
        links,
        stubs,
        transits: vec![],
    }
}

fn db(lsas: Vec<RouterLsa>) -> Lsdb {
    let mut db = Lsdb::new();
    for l in lsas {
        assert_eq!(db.install(l), InstallOutcome::Installed);
    }
    db
}

fn route<'a>(spf: &'a SpfResult, prefix: &str) -> Option<&'a crate::control::rib::route::RibRoute> {
    let prefix = prefix.parse().unwrap();
    spf.routes().iter().find(|r| r.prefix == prefix)
}

/// ```text
///        1 ── 2          all costs 1; 4 announces 203.0.113.0/24 at 5
///   (1)  │    │          and 1 its own 198.51.100.0/24
///        3 ── 4
/// ```
fn diamond() -> Vec<RouterLsa> {
    vec![
        lsa(
            1,
            1,
            vec![first(2, 1, 0), first(3, 1, 1)],
            vec![stub("198.51.100.0/24", 0)],
        ),
        lsa(2, 1, vec![link(1, 1), link(4, 1)], vec![]),
        lsa(3, 1, vec![link(1, 1), link(4, 1)], vec![]),
        lsa(
            4,
            1,
            vec![link(2, 1), link(3, 1)],
            vec![stub("203.0.113.0/24", 5)],
        ),
    ]
}

#[test]
fn diamond_has_two_equal_cost_first_hops() {
    let spf = spf::run(&db(diamond()), id(1), port_of);
    assert_eq!(spf.cost(id(1)), Some(0));
    assert_eq!(spf.cost(id(2)), Some(1));
    assert_eq!(spf.first_hops(id(2)), vec![hop(0, 2)]);
    assert_eq!(spf.cost(id(4)), Some(2));
    assert_eq!(spf.first_hops(id(4)), vec![hop(0, 2), hop(1, 3)]);
    let r = route(&spf, "203.0.113.0/24").unwrap();
    assert_eq!(r.source, RouteSource::LINK_STATE);
    assert_eq!(r.metric, 7);
    assert_eq!(r.paths, vec![hop(0, 2), hop(1, 3)]);
    // The root's own stub is connected, not link-state.
    assert!(route(&spf, "198.51.100.0/24").is_none());
    assert_eq!(spf.routes().len(), 1);
    assert!(spf.unusable_links().is_empty());
}

#[test]
fn a_link_going_down_removes_its_paths() {
    let mut lsdb = db(diamond());
    // 2 stops listing 4: the 2–4 link fails the two-way check even though
    // 4 still lists 2.
    let out = lsdb.install(lsa(2, 2, vec![link(1, 1)], vec![]));
    assert_eq!(out, InstallOutcome::Installed);
    assert!(!lsdb.is_two_way(id(4), id(2)));
    let spf = spf::run(&lsdb, id(1), port_of);
    assert_eq!(spf.cost(id(4)), Some(2));
    assert_eq!(spf.first_hops(id(4)), vec![hop(1, 3)]);
    assert_eq!(
        route(&spf, "203.0.113.0/24").unwrap().paths,
        vec![hop(1, 3)]
    );
    // Then 3's side goes too: 4 is cut off and its prefix disappears.
    lsdb.install(lsa(3, 2, vec![link(1, 1)], vec![]));
    let spf = spf::run(&lsdb, id(1), port_of);
    assert_eq!(spf.cost(id(4)), None);
    assert!(spf.first_hops(id(4)).is_empty());
    assert!(spf.routes().is_empty());
}

#[test]
fn unreachable_routers_contribute_nothing() {
    let mut lsas = diamond();
    // 5 and 6 list each other but nobody else.
    lsas.push(lsa(5, 1, vec![link(6, 1)], vec![stub("10.5.0.0/16", 0)]));
    lsas.push(lsa(6, 1, vec![link(5, 1)], vec![stub("10.6.0.0/16", 0)]));
    let spf = spf::run(&db(lsas), id(1), port_of);
    assert_eq!(spf.cost(id(5)), None);
    assert_eq!(spf.cost(id(6)), None);
    assert_eq!(spf.cost(id(99)), None);
    assert!(route(&spf, "10.5.0.0/16").is_none());
    assert!(route(&spf, "10.6.0.0/16").is_none());
    let reachable: Vec<_> = spf.reachable().collect();
    assert_eq!(reachable, vec![(id(2), 1), (id(3), 1), (id(4), 2)]);
}

/// ```text
///   1 → 2: 5   2 → 1: 1
///   1 → 3: 1   3 → 1: 5
///   3 → 2: 1   2 → 3: 5
/// ```
/// Each direction uses its own end's cost: from 1, 2 is cheaper through 3
/// (1 + 1) than direct (5); from 2, 3 is cheaper through 1 (1 + 1) than
/// direct (5).
#[test]
fn asymmetric_costs_are_taken_from_the_sending_end() {
    let lsas = vec![
        lsa(1, 1, vec![first(2, 5, 0), first(3, 1, 1)], vec![]),
        lsa(2, 1, vec![first(1, 1, 0), first(3, 5, 1)], vec![]),
        lsa(3, 1, vec![first(1, 5, 0), first(2, 1, 1)], vec![]),
    ];
    let lsdb = db(lsas);
    let from1 = spf::run(&lsdb, id(1), port_of);
    assert_eq!(from1.cost(id(2)), Some(2));
    assert_eq!(from1.first_hops(id(2)), vec![hop(1, 3)]);
    assert_eq!(from1.cost(id(3)), Some(1));
    let from2 = spf::run(&lsdb, id(2), port_of);
    assert_eq!(from2.cost(id(1)), Some(1));
    assert_eq!(from2.cost(id(3)), Some(2));
    assert_eq!(from2.first_hops(id(3)), vec![hop(0, 1)]);
}

#[test]
fn one_way_links_carry_nothing() {
    // 1 lists 2 but 2 does not list 1; 3 lists 1 but 1 does not list 3;
    // 1 lists 4, which has no LSA at all.
    let lsas = vec![
        lsa(1, 1, vec![first(2, 1, 0), first(4, 1, 2)], vec![]),
        lsa(2, 1, vec![], vec![stub("10.2.0.0/16", 0)]),
        lsa(3, 1, vec![link(1, 1)], vec![stub("10.3.0.0/16", 0)]),
    ];
    let lsdb = db(lsas);
    assert!(!lsdb.is_two_way(id(1), id(2)));
    assert!(!lsdb.is_two_way(id(3), id(1)));
    assert!(!lsdb.is_two_way(id(1), id(4)));
    let spf = spf::run(&lsdb, id(1), port_of);
    assert_eq!(spf.reachable().count(), 0);
    assert!(spf.routes().is_empty());
}

#[test]
fn a_prefix_from_several_routers_takes_the_cheapest_and_unites_ties() {
    // 1 ─1─ 2, 1 ─1─ 3, 1 ─2─ 5. 2 and 3 announce 10.9/16 at total 1 + 4 = 5,
    // 5 at 2 + 3 = 5 too; 10.8/16 is cheaper from 2 (1 + 0) than 3 (1 + 2).
    let lsas = vec![
        lsa(
            1,
            1,
            vec![first(2, 1, 0), first(3, 1, 1), first(5, 2, 2)],
            vec![],
        ),
        lsa(
            2,
            1,
            vec![link(1, 1)],
            vec![stub("10.9.0.0/16", 4), stub("10.8.0.0/16", 0)],
        ),
        lsa(
            3,
            1,
            vec![link(1, 1)],
            vec![stub("10.9.0.0/16", 4), stub("10.8.0.0/16", 2)],
        ),
        lsa(5, 1, vec![link(1, 1)], vec![stub("10.9.0.0/16", 3)]),
    ];
    let spf = spf::run(&db(lsas), id(1), port_of);
    let nine = route(&spf, "10.9.0.0/16").unwrap();
    assert_eq!(nine.metric, 5);
    assert_eq!(nine.paths, vec![hop(0, 2), hop(1, 3), hop(2, 5)]);
    let eight = route(&spf, "10.8.0.0/16").unwrap();
    assert_eq!(eight.metric, 1);
    assert_eq!(eight.paths, vec![hop(0, 2)]);
    // Sorted by prefix.
    let prefixes: Vec<String> = spf.routes().iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(prefixes, ["10.8.0.0/16", "10.9.0.0/16"]);
}

#[test]
fn parallel_links_and_a_shared_gateway() {
    // Two links from 1 to 2 on different ports, equal cost: both first
    // hops. A third, dearer link is not used.
    let mut dear = first(2, 3, 2);
    dear.next_hops = vec![gw(77)];
    let mut second = first(2, 1, 1);
    second.next_hops = vec![gw(22)];
    let lsas = vec![
        lsa(1, 1, vec![first(2, 1, 0), second, dear], vec![]),
        lsa(2, 1, vec![link(1, 1)], vec![stub("10.2.0.0/16", 1)]),
    ];
    let spf = spf::run(&db(lsas), id(1), port_of);
    let r = route(&spf, "10.2.0.0/16").unwrap();
    assert_eq!(r.metric, 2);
    assert_eq!(r.paths, vec![hop(0, 2), hop(1, 22)]);
}

#[test]
fn root_links_without_a_usable_first_hop_are_reported() {
    let mut unknown_port = first(3, 1, 0);
    unknown_port.port = Some("nosuch".into());
    let lsas = vec![
        lsa(1, 1, vec![link(2, 1), unknown_port], vec![]),
        lsa(2, 1, vec![link(1, 1)], vec![stub("10.2.0.0/16", 0)]),
        lsa(3, 1, vec![link(1, 1)], vec![stub("10.3.0.0/16", 0)]),
    ];
    let spf = spf::run(&db(lsas), id(1), port_of);
    assert!(spf.routes().is_empty());
    let reasons: Vec<(RouterId, &str)> = spf
        .unusable_links()
        .iter()
        .map(|u| (u.neighbor, u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (id(2), "no via/port: cannot be a first hop"),
            (id(3), "port \"nosuch\" is not configured"),
        ]
    );
}

#[test]
fn a_root_without_an_lsa_reaches_nothing() {
    let spf = spf::run(&db(diamond()), id(42), port_of);
    assert_eq!(spf.cost(id(42)), None);
    assert_eq!(spf.reachable().count(), 0);
    assert!(spf.routes().is_empty());
}

#[test]
fn sequence_numbers_never_roll_back() {
    let mut lsdb = Lsdb::new();
    let v5 = lsa(1, 5, vec![link(2, 1)], vec![]);
    assert_eq!(lsdb.install(v5.clone()), InstallOutcome::Installed);
    let generation = lsdb.generation();
    assert_eq!(
        lsdb.install(lsa(1, 4, vec![link(3, 1)], vec![])),
        InstallOutcome::Older
    );
    assert_eq!(lsdb.install(v5.clone()), InstallOutcome::Same);
    assert_eq!(
        lsdb.install(lsa(1, 5, vec![link(9, 1)], vec![])),
        InstallOutcome::Conflict
    );
    assert_eq!(lsdb.get(id(1)), Some(&v5));
    assert_eq!(lsdb.generation(), generation);
    assert_eq!(
        lsdb.install(lsa(1, 6, vec![link(3, 1)], vec![])),
        InstallOutcome::Installed
    );
    assert_eq!(lsdb.get(id(1)).unwrap().links[0].neighbor, id(3));
    assert!(lsdb.generation() > generation);
}

#[test]
fn replacing_the_database_compares_router_by_router() {
    let mut lsdb = db(vec![
        lsa(1, 5, vec![link(2, 1)], vec![]),
        lsa(2, 5, vec![link(1, 1)], vec![]),
        lsa(3, 5, vec![], vec![]),
        lsa(4, 5, vec![], vec![]),
    ]);
    let report = lsdb.replace_all(vec![
        lsa(1, 6, vec![], vec![]),           // newer: installed
        lsa(2, 4, vec![], vec![]),           // older: the held 5 stays
        lsa(3, 5, vec![], vec![]),           // same
        lsa(4, 5, vec![link(1, 1)], vec![]), // same sequence, other contents
        lsa(7, 1, vec![], vec![]),           // new
    ]);
    assert_eq!(report.installed, vec![id(1), id(7)]);
    assert_eq!(report.older, vec![id(2)]);
    assert_eq!(report.conflicts, vec![id(4)]);
    assert_eq!(report.unchanged, 1);
    assert!(report.removed.is_empty());
    assert!(report.changed());
    assert_eq!(lsdb.get(id(2)).unwrap().sequence, 5);
    assert!(lsdb.get(id(4)).unwrap().links.is_empty());

    // A file without 3, 4 and 7 removes them.
    let report = lsdb.replace_all(vec![
        lsa(1, 6, vec![], vec![]),
        lsa(2, 5, vec![link(1, 1)], vec![]),
    ]);
    assert_eq!(report.removed, vec![id(3), id(4), id(7)]);
    assert_eq!(report.unchanged, 2);
    assert_eq!(lsdb.len(), 2);
    // Nothing new: nothing changed.
    assert!(!lsdb
        .replace_all(vec![
            lsa(1, 6, vec![], vec![]),
            lsa(2, 5, vec![link(1, 1)], vec![])
        ])
        .changed());
}
