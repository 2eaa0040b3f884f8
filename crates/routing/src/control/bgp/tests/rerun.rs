//! Re-deciding after IGP changes only what they concern (the per-next-hop
//! index), and loading in bulk: both must end where deciding everything
//! one route at a time ends.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use proptest::prelude::*;

use super::super::*;
use crate::control::rib::route::{RibRoute, Via};

const LOCAL_AS: u32 = 65000;

fn hop(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + i))
}

fn prefix(i: u16) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, (i >> 8) as u8, i as u8, 0), 24).unwrap())
}

/// Costs by next-hop index; `None`: unresolvable.
fn resolver(costs: &[Option<u32>]) -> ResolveWith<impl Fn(IpAddr) -> Option<u32>> {
    let map: HashMap<IpAddr, Option<u32>> = costs
        .iter()
        .enumerate()
        .map(|(i, &c)| (hop(i as u8), c))
        .collect();
    ResolveWith(move |a| map.get(&a).copied().flatten())
}

/// A RIB with eBGP peers 10.0.0.1..=n, each from its own AS.
fn rib_with_peers(n: u8) -> (BgpRib, Vec<PeerId>) {
    let mut rib = BgpRib::new(DecisionConfig::default());
    let peers = (1..=n)
        .map(|i| {
            let address = Ipv4Addr::new(10, 0, 0, i);
            rib.add_peer(Peer::new(
                IpAddr::V4(address),
                64500 + u32::from(i),
                address,
                LOCAL_AS,
            ))
            .unwrap()
        })
        .collect();
    (rib, peers)
}

fn announce(rib: &mut BgpRib, peer: PeerId, p: IpNet, next_hop: IpAddr, len: u8) -> BgpUpdate {
    let asns: Vec<u32> = (0..len).map(|i| 64600 + u32::from(i)).collect();
    let attrs = rib.intern(PathAttrs::new(
        Origin::Igp,
        AsPath::sequence(&asns),
        next_hop,
    ));
    BgpUpdate {
        peer,
        prefix: p,
        attrs: Some(attrs),
    }
}

fn selection(rib: &BgpRib) -> Vec<RibRoute> {
    let mut s: Vec<RibRoute> = rib.selected_routes().collect();
    s.sort_by_key(|r| r.prefix);
    s
}

fn sorted(mut changes: Vec<RouteChange>) -> Vec<String> {
    let mut s: Vec<String> = changes.drain(..).map(|c| format!("{c:?}")).collect();
    s.sort();
    s
}

#[test]
fn rerun_redecides_only_prefixes_through_a_changed_next_hop() {
    let (mut rib, peers) = rib_with_peers(2);
    let (x, y) = (hop(0), hop(1));
    let before = resolver(&[Some(2), Some(1)]);
    // 100 prefixes through x only, 10 through y only, 5 through both (y
    // wins on IGP cost).
    for i in 0..100 {
        let u = announce(&mut rib, peers[0], prefix(i), x, 1);
        rib.apply(u, &before).unwrap();
    }
    for i in 100..115 {
        let u = announce(&mut rib, peers[1], prefix(i), y, 1);
        rib.apply(u, &before).unwrap();
    }
    for i in 110..115 {
        let u = announce(&mut rib, peers[0], prefix(i), x, 1);
        rib.apply(u, &before).unwrap();
    }
    assert_eq!(rib.next_hop_count(), 2);
    rib.rerun_all(&before, |_| {});
    let start = rib.decisions();

    // Nothing changed: nothing is decided.
    assert_eq!(rib.rerun(&before, |_| panic!("no change expected")), 0);
    assert_eq!(rib.decisions(), start);

    // y gets dearer: its 15 prefixes are decided again, x's 100 are not;
    // the 5 shared ones move to x.
    let dearer = resolver(&[Some(2), Some(3)]);
    let mut changes = Vec::new();
    assert_eq!(rib.rerun(&dearer, |c| changes.push(c)), 15);
    assert_eq!(rib.decisions() - start, 15);
    assert_eq!(changes.len(), 5);
    for c in &changes {
        match c {
            RouteChange::Installed(r) => {
                assert_eq!(r.paths, vec![Via::Recursive { address: x }]);
                assert!((110..115).any(|i| prefix(i) == r.prefix), "{r:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // y unreachable: its 10 own prefixes are withdrawn.
    let gone = resolver(&[Some(2), None]);
    let mut changes = Vec::new();
    assert_eq!(rib.rerun(&gone, |c| changes.push(c)), 15);
    assert_eq!(changes.len(), 10);
    assert!(changes
        .iter()
        .all(|c| matches!(c, RouteChange::Withdrawn(_))));
    assert_eq!(selection(&rib).len(), 105);
}

#[test]
fn rerun_through_a_next_hop_without_a_list_finds_its_prefixes_in_one_pass() {
    use crate::control::bgp::nexthops::LIST_LIMIT;
    let (mut rib, peers) = rib_with_peers(2);
    let (x, y) = (hop(0), hop(1));
    let before = resolver(&[Some(1), Some(2)]);
    // x carries more routes than a list is kept for; y a few; 5 prefixes
    // have a route through each (x wins on IGP cost).
    let host =
        |i: usize| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0b00_0000 + i as u32), 32).unwrap());
    let many = LIST_LIMIT + 10;
    for i in 0..many {
        let u = announce(&mut rib, peers[0], host(i), x, 1);
        rib.apply(u, &before).unwrap();
    }
    for i in 0..15 {
        let u = announce(&mut rib, peers[1], prefix(i), y, 1);
        rib.apply(u, &before).unwrap();
    }
    for i in 10..15 {
        let u = announce(&mut rib, peers[0], prefix(i), x, 1);
        rib.apply(u, &before).unwrap();
    }
    rib.rerun_all(&before, |_| {});

    // y (listed) gets dearer: only its 15 prefixes are decided again.
    let dearer = resolver(&[Some(1), Some(3)]);
    assert_eq!(rib.rerun(&dearer, |_| {}), 15);

    // x (no list) becomes unreachable: every prefix with a route through
    // it is decided again; its own are withdrawn, the shared 5 move to y.
    let gone = resolver(&[None, Some(3)]);
    let mut changes = Vec::new();
    assert_eq!(rib.rerun(&gone, |c| changes.push(c)), many + 5);
    let withdrawn = changes
        .iter()
        .filter(|c| matches!(c, RouteChange::Withdrawn(_)))
        .count();
    assert_eq!(withdrawn, many);
    let moved: Vec<&RibRoute> = changes
        .iter()
        .filter_map(|c| match c {
            RouteChange::Installed(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(moved.len(), 5);
    assert!(moved
        .iter()
        .all(|r| r.paths == vec![Via::Recursive { address: y }]));
    assert_eq!(selection(&rib).len(), 15);
}

#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: usize,
        prefix: u16,
        hop: u8,
        len: u8,
    },
    Withdraw {
        peer: usize,
        prefix: u16,
    },
    /// The RIB's routes changed: next hop `hop` now resolves to `cost`.
    Igp {
        hop: u8,
        cost: Option<u32>,
    },
    /// BGP re-decides after the changes.
    Rerun,
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, 0u16..12, 0u8..4, 1u8..4)
            .prop_map(|(peer, prefix, hop, len)| Op::Announce { peer, prefix, hop, len }),
        1 => (0usize..3, 0u16..12).prop_map(|(peer, prefix)| Op::Withdraw { peer, prefix }),
        2 => (0u8..4, prop_oneof![Just(None), (0u32..3).prop_map(Some)])
            .prop_map(|(hop, cost)| Op::Igp { hop, cost }),
        2 => Just(Op::Rerun),
    ]
}

proptest! {
    /// Through any sequence of updates and IGP changes (some not followed
    /// by a re-run before the next update), the incremental re-run reports
    /// the changes a full re-run reports and ends in the same selection;
    /// and the same routes loaded in bulk and decided once end there too.
    #[test]
    fn incremental_rerun_and_bulk_load_equal_full_rerun(
        ops in prop::collection::vec(arb_op(), 1..60),
    ) {
        let (mut incremental, peers) = rib_with_peers(3);
        let (mut full, _) = rib_with_peers(3);
        let mut costs = vec![Some(1); 4];
        for op in &ops {
            let r = resolver(&costs);
            match *op {
                Op::Announce { peer, prefix: p, hop: h, len } => {
                    let u = announce(&mut incremental, peers[peer], prefix(p), hop(h), len);
                    let a = incremental.apply(u.clone(), &r).unwrap();
                    let b = full.apply(u, &r).unwrap();
                    prop_assert_eq!(a, b);
                }
                Op::Withdraw { peer, prefix: p } => {
                    let u = BgpUpdate { peer: peers[peer], prefix: prefix(p), attrs: None };
                    let a = incremental.apply(u.clone(), &r).unwrap();
                    let b = full.apply(u, &r).unwrap();
                    prop_assert_eq!(a, b);
                }
                Op::Igp { hop: h, cost } => costs[h as usize] = cost,
                Op::Rerun => {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    incremental.rerun(&r, |c| a.push(c));
                    full.rerun_all(&r, |c| b.push(c));
                    prop_assert_eq!(sorted(a), sorted(b));
                    prop_assert_eq!(selection(&incremental), selection(&full));
                }
            }
        }
        let r = resolver(&costs);
        incremental.rerun(&r, |_| {});
        full.rerun_all(&r, |_| {});
        prop_assert_eq!(selection(&incremental), selection(&full));
        // (Attribute sets are interned in `incremental` only.)
        let (a, b) = (incremental.summary(), full.summary());
        prop_assert_eq!((a.prefixes, a.paths, a.peers), (b.prefixes, b.paths, b.peers));

        // Every route still held, loaded in bulk into a fresh RIB.
        let (mut bulk, _) = rib_with_peers(3);
        let routes: Vec<_> = full
            .peers()
            .flat_map(|(id, _)| full.adj_rib_in(id).map(move |(p, a)| (id, p, a.clone())))
            .collect();
        bulk.insert_bulk(routes).unwrap();
        bulk.rerun_all(&r, |_| {});
        prop_assert_eq!(selection(&bulk), selection(&full));
        prop_assert_eq!(bulk.summary().peers, full.summary().peers);
    }
}

#[test]
fn bulk_insert_replaces_a_peers_earlier_route_and_rejects_unknown_peers() {
    let (mut rib, peers) = rib_with_peers(1);
    let r = resolver(&[Some(1), Some(1)]);
    let a = announce(&mut rib, peers[0], prefix(1), hop(0), 1);
    let b = announce(&mut rib, peers[0], prefix(1), hop(1), 1);
    let routes = [a, b].map(|u| (u.peer, u.prefix, u.attrs.unwrap()));
    assert_eq!(rib.insert_bulk(routes), Ok(2));
    assert_eq!((rib.prefix_count(), rib.path_count()), (1, 1));
    // Nothing is decided until the re-run.
    assert_eq!(rib.selected_routes().count(), 0);
    rib.rerun_all(&r, |_| {});
    assert_eq!(
        selection(&rib)[0].paths,
        vec![Via::Recursive { address: hop(1) }]
    );
    assert_eq!(rib.next_hop_count(), 1);
    let u = announce(&mut rib, peers[0], prefix(2), hop(0), 1);
    assert_eq!(
        rib.insert_bulk([(PeerId(9), u.prefix, u.attrs.unwrap())]),
        Err(BgpError::UnknownPeer(9))
    );
}
