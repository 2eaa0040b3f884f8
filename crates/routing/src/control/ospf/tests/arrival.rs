//! A newer instance within MinLSArrival (§13 step 5a) is taken in once
//! MinLSArrival has passed, not left to the neighbour's retransmission.

use std::time::Duration;

use super::exchange::One;
use super::flooding::{full, update};
use super::*;
use crate::control::ospf::database::INITIAL_SEQUENCE;
use crate::control::ospf::wire::body::OPTION_E;
use crate::control::ospf::wire::lsa::{build, LsaBody, LsaKey, LsaType};
use crate::control::ospf::wire::{Body, OspfPacket, RouterLink, RouterLinkType};

const D_LAN: &str = "100.70.0.0/24";

/// Neighbour 9's router LSA at `seq`: D's LAN as a stub and, once it
/// counts us as adjacent, its link to us.
fn neighbour_lsa(seq: i32, age: u16, adjacent: bool) -> Vec<u8> {
    let mut links = vec![RouterLink {
        kind: RouterLinkType::Stub,
        id: Ipv4Addr::new(100, 70, 0, 0),
        data: Ipv4Addr::new(255, 255, 255, 0),
        metric: 10,
    }];
    if adjacent {
        links.push(RouterLink {
            kind: RouterLinkType::PointToPoint,
            id: rid(5),
            data: Ipv4Addr::new(10, 0, 0, 2),
            metric: 10,
        });
    }
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(9),
        adv_router: rid(9),
    };
    build(
        key,
        age,
        OPTION_E,
        seq,
        &LsaBody::Router { flags: 0, links },
    )
}

/// Neighbour 9 floods its router LSA number `n` (after the initial one).
fn offer(one: &mut One, n: i32, age: u16, adjacent: bool) {
    update(one, &[&neighbour_lsa(INITIAL_SEQUENCE + n, age, adjacent)]);
}

/// Full with neighbour 9, its LSA 1 installed and LSA 2 (with its link to
/// us if `adjacent`) kept within MinLSArrival.
fn one_kept(adjacent: bool) -> One {
    let mut one = full();
    offer(&mut one, 1, 1, false);
    offer(&mut one, 2, 1, adjacent);
    one
}

fn held_sequence(one: &One) -> Option<i32> {
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(9),
        adv_router: rid(9),
    };
    one.s.database().get(&key).map(|e| e.sequence())
}

fn routes_to_d(one: &One) -> Vec<crate::control::rib::route::Via> {
    let prefix: ipnet::IpNet = D_LAN.parse().unwrap();
    speaker_spf(&one.s, one.now)
        .routes()
        .iter()
        .find(|r| r.prefix == prefix)
        .map(|r| r.paths.clone())
        .unwrap_or_default()
}

/// The LSA headers (sequence numbers) acknowledged among `sent`.
fn acked(sent: &[Vec<u8>]) -> Vec<i32> {
    sent.iter()
        .filter_map(
            |b| match OspfPacket::new_checked(&b[..]).ok()?.parse_body().ok()? {
                Body::LsAck(h) => Some(h.iter().map(|h| h.sequence()).collect::<Vec<_>>()),
                _ => None,
            },
        )
        .flatten()
        .collect()
}

#[test]
fn an_instance_within_min_ls_arrival_is_taken_in_when_it_has_passed() {
    // What FRR sent in the two-path lab when its adjacency with ferroute
    // formed: its router LSA 0x80000004 (without the link to us yet) and,
    // 0.2 ms later, 0x80000005 (with it); the second was dropped within
    // MinLSArrival and FRR retransmitted it 10 s later. Meanwhile the path
    // through FRR failed the two-way check: a failover onto it in those
    // 10 s found no route at all.
    let mut one = full();
    let without = neighbour_lsa(INITIAL_SEQUENCE + 3, 1, false);
    let with = neighbour_lsa(INITIAL_SEQUENCE + 4, 1, true);
    update(&mut one, &[&without]);
    one.now += Duration::from_micros(200);
    update(&mut one, &[&with]);
    assert_eq!(one.s.counters()["LSU: within MinLSArrival"], 1);
    // The rate limit holds: not installed yet.
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 3));
    assert!(routes_to_d(&one).is_empty());
    one.sent();

    // Once MinLSArrival has passed since the first was installed, the
    // second is in (at the deadline the speaker asks for), and acked.
    let due = one.s.poll_timeout().unwrap();
    assert!(due <= one.now + Duration::from_secs(1), "{due:?}");
    one.now += Duration::from_secs(1);
    one.s.handle_timeout(one.now);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 4));
    assert_eq!(routes_to_d(&one), vec![gw(0, [10, 0, 0, 2])]);
    one.now += Duration::from_secs(1);
    one.s.handle_timeout(one.now);
    assert!(
        acked(&one.sent()).contains(&(INITIAL_SEQUENCE + 4)),
        "acknowledged, so the neighbour stops retransmitting"
    );

    // FRR's retransmission, 10 s after the first: a duplicate, acked.
    one.now += Duration::from_secs(8);
    offer(&mut one, 4, 10, true);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 4));
    assert!(acked(&one.sent()).contains(&(INITIAL_SEQUENCE + 4)));
}

#[test]
fn a_kept_instance_overtaken_by_a_newer_one_is_not_taken_in() {
    let mut one = one_kept(false);
    // A newer instance still within MinLSArrival replaces the kept one.
    one.now += Duration::from_millis(500);
    offer(&mut one, 3, 1, true);
    // An older one does not.
    offer(&mut one, 2, 1, false);
    one.now += Duration::from_millis(500);
    one.s.handle_timeout(one.now);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 3));
    // Installed at most once per MinLSArrival: a newer one right away waits.
    offer(&mut one, 4, 1, false);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 3));
    // The neighbour's own later copy arrives first: the kept one is moot.
    one.now += Duration::from_secs(1);
    offer(&mut one, 5, 2, true);
    one.s.handle_timeout(one.now);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 5));
    assert_eq!(one.s.counters()["LSU: taken in after MinLSArrival"], 1);
}

#[test]
fn a_kept_instance_from_a_neighbour_gone_since_is_dropped() {
    let mut one = one_kept(true);
    // Dead interval (40 s) without a hello: the neighbour goes.
    one.now += Duration::from_secs(41);
    one.s.handle_timeout(one.now);
    assert_eq!(one.state(), None);
    assert_eq!(held_sequence(&one), Some(INITIAL_SEQUENCE + 1));
    assert!(one
        .s
        .counters()
        .get("LSU: taken in after MinLSArrival")
        .is_none());
}
