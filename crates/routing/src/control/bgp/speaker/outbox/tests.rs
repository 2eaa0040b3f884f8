//! Pacing and the minimum advertisement interval, through the fake
//! network (the test plays the event loop's `Drained`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use super::super::config::EBGP_ADVERTISEMENT_INTERVAL;
use super::super::net::*;
use super::super::*;
use super::OUTSTANDING_LIMIT;
use crate::control::bgp::session::message::MAX_MESSAGE_LEN;
use crate::control::rib::notify::BestRoute;
use crate::control::rib::route::{NextHopResolver, Via};

/// A RIB whose static routes are `0`.
struct Statics(Vec<IpNet>);

impl NextHopResolver for Statics {
    fn igp_cost(&self, _: IpAddr) -> Option<u32> {
        None
    }
}

impl RibView for Statics {
    fn next_hops(&self) -> &dyn NextHopResolver {
        self
    }
    fn source_prefixes(&self, source: RouteSource) -> Vec<IpNet> {
        if source == RouteSource::STATIC {
            self.0.clone()
        } else {
            Vec::new()
        }
    }
}

/// E's view of its session with R.
fn seen_by_e(net: &mut Net, e: usize) -> Value {
    net.routers[e].show(net.now, "bgp peers").unwrap()["peers"][0].clone()
}

#[test]
fn a_million_prefixes_go_out_paced_by_drained_then_end_of_rib() {
    const N: u32 = 1_000_000;
    let base = u32::from(Ipv4Addr::new(16, 0, 0, 0));
    let statics = (0..N)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base + (i << 8)), 24).unwrap()))
        .collect();
    let replaced = [BestRouteChange::SourceReplaced {
        source: RouteSource::STATIC,
    }];
    let (mut net, r, e) = static_pair(Duration::ZERO, true, |net, r| {
        let now = net.now;
        let rib = Statics(statics);
        net.routers[r].bgp.handle_rib_changes(now, &replaced, &rib);
    });
    // About 4 MB of UPDATEs: without Drained, R stops at the limit.
    let held = seen_by_e(&mut net, e);
    let first = held["accepted"].as_u64().unwrap();
    assert!(first > 0 && first < u64::from(N), "{first}");
    assert_eq!(held["end_of_rib"], serde_json::json!([]));
    let mut drains = 0;
    loop {
        // One chunk may pass the limit by up to two messages.
        let handed = net.drain(r);
        assert!(
            handed <= OUTSTANDING_LIMIT + 2 * MAX_MESSAGE_LEN,
            "{handed} bytes out at once"
        );
        if handed == 0 {
            break;
        }
        drains += 1;
        net.settle();
    }
    let rest = net.handed.values().max().copied().unwrap_or(0);
    assert!(rest <= OUTSTANDING_LIMIT + 2 * MAX_MESSAGE_LEN, "{rest}");
    assert!(drains >= 1);
    let done = seen_by_e(&mut net, e);
    assert_eq!(
        done["accepted"],
        u64::from(N) + 1,
        "the table and 192.0.2/24"
    );
    let both = serde_json::json!(["ipv4-unicast", "ipv6-unicast"]);
    assert_eq!(done["end_of_rib"], both, "after the table");
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    assert_eq!(peers["peers"][0]["advertised"], u64::from(N) + 1);
}

/// A change of static route `prefix` (`Some`: now there, `None`: gone).
fn static_change(prefix: &str, there: bool) -> [BestRouteChange; 1] {
    let best = BestRoute {
        source: RouteSource::STATIC,
        metric: 0,
        paths: Box::new([Via::Recursive {
            address: "192.0.2.99".parse().unwrap(),
        }]),
    };
    let (old, new) = if there {
        (None, Some(best))
    } else {
        (Some(best), None)
    };
    [BestRouteChange::Prefix {
        prefix: prefix.parse().unwrap(),
        old,
        new,
    }]
}

#[test]
fn announcements_wait_for_the_advertisement_interval_and_withdrawals_do_not() {
    let (mut net, r, e) = static_pair(EBGP_ADVERTISEMENT_INTERVAL, true, |_, _| {});
    let rib = ResolveWith(|_: IpAddr| None);
    let updates = |net: &mut Net| seen_by_e(net, e)["stats"]["updates_in"].as_u64().unwrap();
    let has = |net: &mut Net, p: &str| {
        net.routers[e]
            .show(net.now, &format!("routes {p}"))
            .is_some()
    };
    let change = |net: &mut Net, prefix: &str, there: bool| {
        let now = net.now;
        let changes = static_change(prefix, there);
        net.routers[r].bgp.handle_rib_changes(now, &changes, &rib);
        net.settle();
    };
    // The initial table went out as the session came up; what follows
    // within the interval (eBGP's default, 1 s) waits, and goes as one
    // UPDATE.
    let before = updates(&mut net);
    change(&mut net, "172.16.0.0/16", true);
    change(&mut net, "172.17.0.0/16", true);
    assert!(!has(&mut net, "172.16.0.0/16") && !has(&mut net, "172.17.0.0/16"));
    assert_eq!(updates(&mut net), before);
    net.advance(1);
    assert!(has(&mut net, "172.16.0.0/16") && has(&mut net, "172.17.0.0/16"));
    assert_eq!(updates(&mut net), before + 1, "one UPDATE for both");
    // A withdrawal right after that round is not held.
    change(&mut net, "172.16.0.0/16", false);
    assert!(!has(&mut net, "172.16.0.0/16"));
    // A prefix announced and withdrawn within the interval: the
    // withdrawal goes (harmless), the announcement never does.
    change(&mut net, "172.18.0.0/16", true);
    change(&mut net, "172.18.0.0/16", false);
    net.advance(1);
    assert!(!has(&mut net, "172.18.0.0/16"));
    assert!(has(&mut net, "172.17.0.0/16"));
}
