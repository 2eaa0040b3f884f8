//! The decision process step by step (one test per tie-break, each built so
//! that every later step would prefer the loser), the Loc-RIB's change
//! reports, and order independence.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::*;
use crate::control::rib::route::{RibRoute, RouteSource, Via};

mod order;
mod rerun;

const LOCAL_AS: u32 = 65000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(address: &str, asn: u32, router_id: &str) -> Peer {
    Peer::new(ip(address), asn, router_id.parse().unwrap(), LOCAL_AS)
}

fn path(next_hop: &str, asns: &[u32]) -> PathAttrs {
    PathAttrs::new(Origin::Igp, AsPath::sequence(asns), ip(next_hop))
}

/// IGP costs per next hop; anything else is unresolvable.
fn igp(costs: &[(&str, u32)]) -> ResolveWith<impl Fn(IpAddr) -> Option<u32>> {
    let map: HashMap<IpAddr, u32> = costs.iter().map(|&(a, c)| (ip(a), c)).collect();
    ResolveWith(move |a| map.get(&a).copied())
}

fn all_reachable() -> ResolveWith<fn(IpAddr) -> Option<u32>> {
    ResolveWith(|_| Some(0))
}

/// Runs the decision; returns the winner's index and every route's status.
fn decide(
    routes: &[(Peer, PathAttrs)],
    resolver: &dyn NextHopResolver,
    config: DecisionConfig,
) -> (Option<usize>, Vec<RouteStatus>) {
    let mut d = DecisionProcess::new(config);
    let best = d.run(
        routes.len(),
        |i| Contender {
            peer: &routes[i].0,
            attrs: &routes[i].1,
        },
        resolver,
    );
    (best, (0..routes.len()).map(|i| d.status(i)).collect())
}

fn lost(r: RejectReason) -> RouteStatus {
    RouteStatus::Rejected(r)
}

/// Asserts that route 0 wins and route 1 loses for `reason`, in both orders.
fn assert_first_wins(
    routes: [(Peer, PathAttrs); 2],
    resolver: &dyn NextHopResolver,
    reason: RejectReason,
) {
    let config = DecisionConfig::default();
    let (best, status) = decide(&routes, resolver, config);
    assert_eq!(best, Some(0));
    assert_eq!(status, vec![RouteStatus::Best, lost(reason)]);
    let [a, b] = routes;
    let (best, status) = decide(&[b, a], resolver, config);
    assert_eq!(best, Some(1));
    assert_eq!(status, vec![lost(reason), RouteStatus::Best]);
}

#[test]
fn unresolvable_next_hop_is_unusable() {
    // The unresolvable route is better by every later step.
    let mut good = path("192.0.2.1", &[64501]);
    good.local_pref = Some(500);
    let worse = path("192.0.2.2", &[64502, 64503, 64504]);
    let resolver = igp(&[("192.0.2.2", 100)]);
    let routes = [
        (peer("10.0.0.2", 64502, "9.9.9.9"), worse),
        (peer("10.0.0.1", 64501, "1.1.1.1"), good.clone()),
    ];
    assert_first_wins(routes, &resolver, RejectReason::NextHopUnresolvable);
    // With no resolvable next hop at all there is no best route.
    let only = [(peer("10.0.0.1", 64501, "1.1.1.1"), good)];
    let (best, status) = decide(&only, &resolver, DecisionConfig::default());
    assert_eq!(best, None);
    assert_eq!(status, vec![lost(RejectReason::NextHopUnresolvable)]);
}

#[test]
fn highest_local_pref_wins() {
    let mut high = path("192.0.2.1", &[64501, 64502, 64503]);
    high.local_pref = Some(200);
    high.origin = Origin::Incomplete;
    let low = path("192.0.2.2", &[64502]); // no LOCAL_PREF: the default, 100
    let routes = [
        (peer("10.0.0.2", LOCAL_AS, "9.9.9.9"), high),
        (peer("10.0.0.1", 64502, "1.1.1.1"), low),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::LocalPref);
}

#[test]
fn missing_local_pref_is_the_default() {
    let absent = path("192.0.2.1", &[64501, 64509]); // 100 by default
    let mut lower = path("192.0.2.2", &[64502]);
    lower.local_pref = Some(99);
    let routes = [
        (peer("10.0.0.2", 64501, "9.9.9.9"), absent),
        (peer("10.0.0.1", 64502, "1.1.1.1"), lower),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::LocalPref);
}

#[test]
fn shortest_as_path_wins_and_an_as_set_counts_one() {
    let mut with_set = PathAttrs::new(
        Origin::Incomplete,
        AsPath::new(vec![
            AsSegment::Sequence(vec![64501, 64502].into()),
            AsSegment::Set(vec![1, 2, 3, 4, 5].into()),
        ]),
        ip("192.0.2.1"),
    );
    with_set.med = Some(1000);
    assert_eq!(with_set.as_path.length(), 3);
    let longer = path("192.0.2.2", &[64501, 64502, 64503, 64504]);
    let routes = [
        (peer("10.0.0.2", 64501, "9.9.9.9"), with_set),
        (peer("10.0.0.1", 64501, "1.1.1.1"), longer),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::AsPathLength);
}

#[test]
fn lowest_origin_wins() {
    let mut igp_origin = path("192.0.2.1", &[64501, 64502]);
    igp_origin.med = Some(50);
    let mut egp = path("192.0.2.2", &[64501, 64503]);
    egp.origin = Origin::Egp;
    let routes = [
        (peer("10.0.0.2", 64501, "9.9.9.9"), igp_origin),
        (peer("10.0.0.1", 64501, "1.1.1.1"), egp),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::Origin);
}

#[test]
fn lowest_med_wins_within_the_same_neighbour_as() {
    let mut low = path("192.0.2.1", &[64501, 64502]);
    low.med = Some(10);
    let mut high = path("192.0.2.2", &[64501, 64503]);
    high.med = Some(20);
    // The winner is iBGP (a reflected route whose AS_PATH starts with
    // 64501) against an eBGP one: MED comes first.
    let routes = [
        (peer("10.0.0.2", LOCAL_AS, "9.9.9.9"), low.clone()),
        (peer("10.0.0.1", 64501, "1.1.1.1"), high.clone()),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::Med);
    // A missing MED is 0, the best value.
    low.med = None;
    let routes = [
        (peer("10.0.0.2", 64501, "9.9.9.9"), low),
        (peer("10.0.0.1", 64501, "1.1.1.1"), high),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::Med);
}

#[test]
fn med_is_not_compared_across_neighbour_ases_unless_configured() {
    let mut low = path("192.0.2.1", &[64501]);
    low.med = Some(10);
    let mut high = path("192.0.2.2", &[64502]);
    high.med = Some(20);
    let routes = [
        (peer("10.0.0.2", 64501, "9.9.9.9"), low),
        (peer("10.0.0.1", 64502, "1.1.1.1"), high),
    ];
    let (best, status) = decide(&routes, &all_reachable(), DecisionConfig::default());
    assert_eq!(best, Some(1));
    assert_eq!(status[0], lost(RejectReason::RouterId));
    let always = DecisionConfig {
        always_compare_med: true,
        ..Default::default()
    };
    let (best, status) = decide(&routes, &all_reachable(), always);
    assert_eq!(best, Some(0));
    assert_eq!(status[1], lost(RejectReason::Med));
}

#[test]
fn med_elimination_is_per_neighbour_as_as_rfc_4271_says() {
    // Pairwise comparison depends on order here (B beats C on router id, A
    // beats B on MED, C beats A on router id); elimination removes B (MED,
    // same AS as A), then C beats A on router id.
    let mut a = path("192.0.2.1", &[64501]);
    a.med = Some(10);
    let mut b = path("192.0.2.2", &[64501]);
    b.med = Some(20);
    let mut c = path("192.0.2.3", &[64502]);
    c.med = Some(5);
    let routes = [
        (peer("10.0.0.1", 64501, "3.3.3.3"), a),
        (peer("10.0.0.2", 64501, "1.1.1.1"), b),
        (peer("10.0.0.3", 64502, "2.2.2.2"), c),
    ];
    let expect = [
        lost(RejectReason::RouterId),
        lost(RejectReason::Med),
        RouteStatus::Best,
    ];
    for order in [[0, 1, 2], [1, 2, 0], [2, 1, 0], [1, 0, 2]] {
        let shuffled: Vec<_> = order.iter().map(|&i| routes[i].clone()).collect();
        let (best, status) = decide(&shuffled, &all_reachable(), DecisionConfig::default());
        assert_eq!(order[best.unwrap()], 2);
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(status[k], expect[i], "route {i} in order {order:?}");
        }
    }
}

#[test]
fn ebgp_wins_over_ibgp() {
    let resolver = igp(&[("192.0.2.1", 50), ("192.0.2.2", 0)]);
    let routes = [
        (
            peer("10.0.0.2", 64501, "9.9.9.9"),
            path("192.0.2.1", &[64501, 64510]),
        ),
        (
            peer("10.0.0.1", LOCAL_AS, "1.1.1.1"),
            path("192.0.2.2", &[64502, 64510]),
        ),
    ];
    assert_first_wins(routes, &resolver, RejectReason::EbgpOverIbgp);
}

#[test]
fn lowest_igp_cost_wins() {
    let resolver = igp(&[("192.0.2.1", 5), ("192.0.2.2", 10)]);
    let routes = [
        (
            peer("10.0.0.2", LOCAL_AS, "9.9.9.9"),
            path("192.0.2.1", &[64501]),
        ),
        (
            peer("10.0.0.1", LOCAL_AS, "1.1.1.1"),
            path("192.0.2.2", &[64501]),
        ),
    ];
    assert_first_wins(routes, &resolver, RejectReason::IgpCost);
}

#[test]
fn lowest_router_id_wins() {
    let routes = [
        (
            peer("10.0.0.2", 64501, "1.1.1.1"),
            path("192.0.2.1", &[64501]),
        ),
        (
            peer("10.0.0.1", 64502, "2.2.2.2"),
            path("192.0.2.2", &[64502]),
        ),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::RouterId);
}

#[test]
fn lowest_peer_address_wins() {
    let routes = [
        (
            peer("10.0.0.1", 64501, "1.1.1.1"),
            path("192.0.2.1", &[64501]),
        ),
        (
            peer("10.0.0.2", 64501, "1.1.1.1"),
            path("192.0.2.2", &[64501]),
        ),
    ];
    assert_first_wins(routes, &all_reachable(), RejectReason::PeerAddress);
}

#[test]
fn multipath_keeps_every_route_equal_through_igp_cost() {
    let resolver = igp(&[("192.0.2.1", 5), ("192.0.2.2", 5), ("192.0.2.3", 6)]);
    let routes = [
        (
            peer("10.0.0.3", 64503, "3.3.3.3"),
            path("192.0.2.3", &[64503]),
        ),
        (
            peer("10.0.0.2", 64502, "2.2.2.2"),
            path("192.0.2.2", &[64502]),
        ),
        (
            peer("10.0.0.1", 64501, "1.1.1.1"),
            path("192.0.2.1", &[64501]),
        ),
    ];
    let config = DecisionConfig {
        multipath: true,
        ..Default::default()
    };
    let (best, status) = decide(&routes, &resolver, config);
    assert_eq!(best, Some(2));
    assert_eq!(
        status,
        vec![
            lost(RejectReason::IgpCost),
            RouteStatus::Multipath,
            RouteStatus::Best
        ]
    );
}

// ---- Loc-RIB: what apply() reports ----

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn installed(prefix: &str, source: RouteSource, hops: &[&str]) -> RouteChange {
    RouteChange::Installed(RibRoute {
        prefix: net(prefix),
        source,
        metric: 0,
        paths: hops
            .iter()
            .map(|h| Via::Recursive { address: ip(h) })
            .collect(),
    })
}

fn announce(rib: &mut BgpRib, peer: PeerId, prefix: &str, attrs: PathAttrs) -> BgpUpdate {
    BgpUpdate {
        peer,
        prefix: net(prefix),
        attrs: Some(rib.intern(attrs)),
    }
}

fn withdraw(peer: PeerId, prefix: &str) -> BgpUpdate {
    BgpUpdate {
        peer,
        prefix: net(prefix),
        attrs: None,
    }
}

#[test]
fn apply_reports_new_best_withdrawal_and_no_change() {
    let r = all_reachable();
    let mut rib = BgpRib::new(DecisionConfig::default());
    let a = rib.add_peer(peer("10.0.0.1", 64501, "1.1.1.1")).unwrap();
    let b = rib.add_peer(peer("10.0.0.2", LOCAL_AS, "2.2.2.2")).unwrap();
    assert_eq!(
        rib.add_peer(peer("10.0.0.1", 1, "1.1.1.1")),
        Err(BgpError::DuplicatePeer(ip("10.0.0.1")))
    );
    let p = "203.0.113.0/24";
    // iBGP first: installed as iBGP.
    let u = announce(&mut rib, b, p, path("192.0.2.2", &[64510, 64509]));
    assert_eq!(
        rib.apply(u.clone(), &r),
        Ok(installed(p, RouteSource::IBGP, &["192.0.2.2"]))
    );
    // The same announcement again changes nothing.
    assert_eq!(rib.apply(u, &r), Ok(RouteChange::Unchanged));
    // eBGP beats it (host bits in the prefix are ignored).
    let u = announce(
        &mut rib,
        a,
        "203.0.113.7/24",
        path("192.0.2.1", &[64501, 64509]),
    );
    assert_eq!(
        rib.apply(u, &r),
        Ok(installed(p, RouteSource::EBGP, &["192.0.2.1"]))
    );
    // A losing route changing does not show.
    let u = announce(&mut rib, b, p, path("192.0.2.2", &[64508, 64509]));
    assert_eq!(rib.apply(u, &r), Ok(RouteChange::Unchanged));
    let s = rib.summary();
    assert_eq!((s.prefixes, s.paths), (1, 2));
    assert_eq!((s.peers[0].received, s.peers[0].best), (1, 1));
    assert_eq!((s.peers[1].received, s.peers[1].best), (1, 0));
    // Withdrawing the best falls back to the other.
    assert_eq!(
        rib.apply(withdraw(a, p), &r),
        Ok(installed(p, RouteSource::IBGP, &["192.0.2.2"]))
    );
    assert_eq!(rib.apply(withdraw(a, p), &r), Ok(RouteChange::Unchanged));
    assert_eq!(
        rib.apply(withdraw(b, p), &r),
        Ok(RouteChange::Withdrawn(net(p)))
    );
    assert_eq!(rib.prefix_count(), 0);
    assert_eq!(rib.summary().peers[1].best, 0);
    assert_eq!(
        rib.apply(withdraw(PeerId(7), p), &r),
        Err(BgpError::UnknownPeer(7))
    );
}

#[test]
fn unresolvable_routes_are_not_installed_until_the_igp_reaches_them() {
    let mut rib = BgpRib::new(DecisionConfig::default());
    let a = rib.add_peer(peer("10.0.0.1", 64501, "1.1.1.1")).unwrap();
    let p = "2001:db8:1::/48";
    let u = announce(&mut rib, a, p, path("2001:db8::1", &[64501]));
    let nothing = igp(&[]);
    assert_eq!(rib.apply(u, &nothing), Ok(RouteChange::Unchanged));
    assert_eq!(rib.selected_routes().count(), 0);
    let mut changes = Vec::new();
    rib.rerun_all(&igp(&[("2001:db8::1", 3)]), |c| changes.push(c));
    assert_eq!(
        changes,
        vec![installed(p, RouteSource::EBGP, &["2001:db8::1"])]
    );
    assert_eq!(rib.lookup(ip("2001:db8:1::5")), Some(net(p)));
    changes.clear();
    rib.rerun_all(&nothing, |c| changes.push(c));
    assert_eq!(changes, vec![RouteChange::Withdrawn(net(p))]);
    assert_eq!(rib.lookup(ip("2001:db8:1::5")), None);
}

#[test]
fn multipath_route_carries_every_next_hop_and_clear_peer_withdraws() {
    let r = all_reachable();
    let config = DecisionConfig {
        multipath: true,
        ..Default::default()
    };
    let mut rib = BgpRib::new(config);
    let a = rib.add_peer(peer("10.0.0.1", 64501, "1.1.1.1")).unwrap();
    let b = rib.add_peer(peer("10.0.0.2", 64502, "2.2.2.2")).unwrap();
    let p = "198.51.100.0/24";
    let u = announce(&mut rib, b, p, path("192.0.2.2", &[64502]));
    rib.apply(u, &r).unwrap();
    let u = announce(&mut rib, a, p, path("192.0.2.1", &[64501]));
    assert_eq!(
        rib.apply(u, &r),
        Ok(installed(p, RouteSource::EBGP, &["192.0.2.1", "192.0.2.2"]))
    );
    let other = announce(&mut rib, a, "198.51.100.0/25", path("192.0.2.1", &[64501]));
    rib.apply(other, &r).unwrap();
    let mut changes = Vec::new();
    rib.clear_peer(a, &r, |c| changes.push(c)).unwrap();
    changes.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        changes,
        vec![
            installed(p, RouteSource::EBGP, &["192.0.2.2"]),
            RouteChange::Withdrawn(net("198.51.100.0/25")),
        ]
    );
    assert_eq!(rib.prefix_count(), 1);
    assert_eq!(rib.summary().peers[0].received, 0);
}

#[test]
fn explain_lists_the_winner_first_and_why_each_other_lost() {
    let r = igp(&[("192.0.2.1", 1), ("192.0.2.2", 1)]);
    let mut rib = BgpRib::new(DecisionConfig::default());
    let a = rib.add_peer(peer("10.0.0.1", 64501, "1.1.1.1")).unwrap();
    let b = rib.add_peer(peer("10.0.0.2", 64502, "2.2.2.2")).unwrap();
    let c = rib.add_peer(peer("10.0.0.3", 64503, "3.3.3.3")).unwrap();
    let p = "203.0.113.0/24";
    for (peer, nh, asns) in [
        (a, "192.0.2.1", &[64501, 1][..]),
        (b, "192.0.2.2", &[64502][..]),
        (c, "192.0.2.9", &[64503][..]),
    ] {
        let u = announce(&mut rib, peer, p, path(nh, asns));
        rib.apply(u, &r).unwrap();
    }
    let e = rib.explain(&net(p), &r).unwrap();
    let got: Vec<_> = e.candidates.iter().map(|c| (c.peer, c.status)).collect();
    assert_eq!(
        got,
        vec![
            (ip("10.0.0.2"), RouteStatus::Best),
            (ip("10.0.0.1"), lost(RejectReason::AsPathLength)),
            (ip("10.0.0.3"), lost(RejectReason::NextHopUnresolvable)),
        ]
    );
    assert_eq!(e.candidates[2].igp_cost, None);
    let text = e.to_string();
    assert!(text.contains("lost: longer AS path"), "{text}");
    assert!(rib.explain(&net("192.0.2.0/24"), &r).is_none());
}

#[test]
fn interned_attributes_are_shared() {
    let mut rib = BgpRib::new(DecisionConfig::default());
    let x = rib.intern(path("192.0.2.1", &[1, 2]));
    let y = rib.intern(path("192.0.2.1", &[1, 2]));
    assert!(Arc::ptr_eq(&x, &y));
    assert_eq!(rib.attribute_sets(), 1);
    // Collected once nothing holds them (a peer's session went down).
    let z = rib.intern(path("192.0.2.1", &[3]));
    drop((x, y));
    rib.collect_attrs();
    assert_eq!(rib.attribute_sets(), 1, "only the set still held");
    assert!(Arc::ptr_eq(&z, &rib.intern(path("192.0.2.1", &[3]))));
}

/// A full table is a million entries of the prefix map: a prefix's routes
/// stay 16 bytes (one route inline, more behind a thin pointer).
#[test]
fn a_prefixs_routes_take_16_bytes_in_the_map() {
    assert_eq!(std::mem::size_of::<adj_rib_in::Candidates>(), 16);
}

/// Routes arriving one by one wait in the Adj-RIB-In's overlay; compaction
/// folds them into its arrays, which `show bgp` sees as fewer bytes, and
/// the routes and the decision stay as they were.
#[test]
fn compaction_shrinks_the_table_and_keeps_its_routes() {
    let r = all_reachable();
    let mut rib = BgpRib::new(DecisionConfig::default());
    let a = rib.add_peer(peer("10.0.0.1", 64501, "1.1.1.1")).unwrap();
    let prefixes: Vec<String> = (0..500u32)
        .map(|i| format!("10.{}.{}.0/24", i >> 8, i & 0xff))
        .collect();
    for p in &prefixes {
        let u = announce(&mut rib, a, p, path("192.0.2.1", &[64501]));
        rib.apply(u, &r).unwrap();
    }
    let pending = rib.summary().table_bytes;
    rib.compact();
    let compacted = rib.summary();
    assert!(
        compacted.table_bytes < pending,
        "{} bytes after, {pending} before",
        compacted.table_bytes
    );
    assert_eq!((compacted.prefixes, compacted.paths), (500, 500));
    // Every route is still there: withdrawing one withdraws the prefix.
    assert_eq!(
        rib.apply(withdraw(a, &prefixes[7]), &r),
        Ok(RouteChange::Withdrawn(net(&prefixes[7])))
    );
}
