//! The RIB's journals: what a subscriber hears, and what it does not.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::super::route::{AdminDistances, RouteTable, TableRoute};
use super::super::tests::{gw, net, rec, route, two_ports};
use super::*;

fn best(source: RouteSource, metric: u32, paths: Vec<Via>) -> Option<BestRoute> {
    Some(BestRoute {
        source,
        metric,
        paths: paths.into_boxed_slice(),
    })
}

#[test]
fn a_subscriber_hears_the_best_route_of_its_sources_before_and_after() {
    let (mut rib, _) = two_ports();
    let igp = rib.subscribe(SourceFilter::all_except(&[
        RouteSource::EBGP,
        RouteSource::IBGP,
    ]));
    let all = rib.subscribe(SourceFilter::all_except(&[]));
    let p = "198.51.100.0/24";
    let ls = |metric| route(p, RouteSource::LINK_STATE, metric, vec![gw(1, "10.0.2.9")]);
    rib.update(RouteSource::LINK_STATE, net(p), Some(&ls(20)));
    let lsbest = |metric| best(RouteSource::LINK_STATE, metric, vec![gw(1, "10.0.2.9")]);
    let added = BestRouteChange::Prefix {
        prefix: net(p),
        old: None,
        new: lsbest(20),
    };
    assert_eq!(rib.take_journal(igp), std::slice::from_ref(&added));
    assert_eq!(rib.take_journal(all), [added]);
    assert!(rib.take_journal(igp).is_empty(), "taken means gone");

    // BGP's routes are not the IGP subscriber's business; they are the
    // other's, whose best route for the prefix is now eBGP (distance 20).
    let bgp = route(p, RouteSource::EBGP, 0, vec![rec("10.0.1.7")]);
    rib.update(RouteSource::EBGP, net(p), Some(&bgp));
    assert!(rib.take_journal(igp).is_empty());
    assert_eq!(
        rib.take_journal(all),
        [BestRouteChange::Prefix {
            prefix: net(p),
            old: lsbest(20),
            new: best(RouteSource::EBGP, 0, vec![rec("10.0.1.7")]),
        }]
    );

    // A route that is not the best changed: said, with the best unchanged
    // (what resolves through it may have changed).
    rib.update(RouteSource::LINK_STATE, net(p), Some(&ls(30)));
    let j = rib.take_journal(all);
    assert!(
        matches!(&j[..], [BestRouteChange::Prefix { old, new, .. }] if old == new),
        "{j:?}"
    );
    assert_eq!(
        rib.take_journal(igp),
        [BestRouteChange::Prefix {
            prefix: net(p),
            old: lsbest(20),
            new: lsbest(30),
        }]
    );

    // New distances may change any prefix's best: one marker per source.
    let mut d = AdminDistances::default();
    d.set(RouteSource::LINK_STATE, 5);
    rib.set_distances(d);
    let j = rib.take_journal(igp);
    assert!(j.contains(&BestRouteChange::SourceReplaced {
        source: RouteSource::LINK_STATE
    }));
    assert!(!j
        .iter()
        .any(|c| matches!(c, BestRouteChange::Prefix { .. })));

    rib.unsubscribe(all);
    rib.update(RouteSource::LINK_STATE, net(p), None);
    assert_eq!(rib.take_journal(all), []);
    assert_eq!(rib.take_journal(igp).len(), 1);
}

#[test]
fn a_bulk_table_is_one_marker_and_nothing_for_those_who_do_not_want_it() {
    let (mut rib, _) = two_ports();
    let igp = rib.subscribe(SourceFilter::all_except(&[
        RouteSource::EBGP,
        RouteSource::IBGP,
    ]));
    let bgp = rib.subscribe(SourceFilter::only(&[RouteSource::EBGP]));
    let mut table = RouteTable::new(RouteSource::EBGP);
    table.path_lists.push(vec![rec("10.0.1.7")]);
    table.routes = (0..70_000u32)
        .map(|i| TableRoute {
            prefix: Ipv4Net::new(Ipv4Addr::from(0x6400_0000 + (i << 8)), 24)
                .unwrap()
                .into(),
            metric: 0,
            paths: 0,
        })
        .collect();
    rib.replace_table(table);
    assert_eq!(rib.len(), 70_000 + 6, "the table and the connected routes");
    assert_eq!(rib.take_journal(igp), []);
    assert_eq!(
        rib.take_journal(bgp),
        [BestRouteChange::SourceReplaced {
            source: RouteSource::EBGP
        }]
    );
    // Single changes after the bulk are entries again.
    rib.update(RouteSource::EBGP, net("100.0.0.0/24"), None);
    assert_eq!(rib.take_journal(bgp).len(), 1);
}
