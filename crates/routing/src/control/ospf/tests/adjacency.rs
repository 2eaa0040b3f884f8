//! Hellos, DR election and adjacencies among speakers on simulated
//! segments: point-to-point and broadcast, Full, 2-Way between DROthers,
//! the dead interval, and what each router's LSAs say afterwards.

use std::time::{Duration, Instant};

use super::*;
use crate::control::ospf::interface::{elect, Candidate, InterfaceState};
use crate::control::ospf::wire::lsa::{LsaBody, LsaKey, LsaType};
use crate::control::ospf::wire::{RouterLink, RouterLinkType};

fn router_links(s: &Speaker, of: Ipv4Addr) -> Vec<RouterLink> {
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: of,
        adv_router: of,
    };
    let e = s.database().get(&key).expect("router LSA held");
    match LsaBody::parse(LsaType::Router, e.header().body()).unwrap() {
        LsaBody::Router { links, .. } => links,
        _ => unreachable!(),
    }
}

#[test]
fn point_to_point_neighbours_reach_full_and_describe_each_other() {
    let mut lab = Lab::p2p_pair();
    let took = lab
        .run_until(Duration::from_secs(60), |l| {
            l.state(0, 0, rid(2)) == Some(NeighborState::Full)
                && l.state(1, 0, rid(1)) == Some(NeighborState::Full)
        })
        .expect("both Full");
    // Without a Waiting state, p2p adjacencies form at the second round
    // of hellos (the first ones cross, each naming no one).
    assert!(took <= Duration::from_secs(10), "{took:?}");
    lab.run_for(Duration::from_secs(10));
    assert!(lab.databases_agree());
    assert_eq!(lab.speakers[0].database().len(), 2);
    let links = router_links(&lab.speakers[0], rid(1));
    assert_eq!(
        links,
        vec![
            RouterLink {
                kind: RouterLinkType::PointToPoint,
                id: rid(2),
                data: Ipv4Addr::new(10, 0, 12, 1),
                metric: 10
            },
            RouterLink {
                kind: RouterLinkType::Stub,
                id: Ipv4Addr::new(10, 0, 12, 0),
                data: Ipv4Addr::new(255, 255, 255, 252),
                metric: 10
            },
        ]
    );
    // No retransmissions outstanding once everything was acknowledged.
    for s in &lab.speakers {
        let n = s.interfaces()[0].neighbors.values().next().unwrap();
        assert!(n.retransmit.is_empty() && n.requests.is_empty());
    }
}

/// Three routers on one LAN: priorities 1, 2 and 3 (router 3 the DR,
/// router 2 the BDR) plus router 4 with priority 0.
fn lan() -> Lab {
    let mut lab = Lab::new(Instant::now());
    let mut members = Vec::new();
    for (n, pri) in [(1u8, 1u8), (2, 2), (3, 3), (4, 0)] {
        let s = lab.add(
            rid(n),
            vec![iface(
                0,
                &format!("192.0.2.{n}/24"),
                NetworkType::Broadcast,
                pri,
            )],
        );
        members.push((s, 0));
    }
    lab.connect(&members);
    lab
}

#[test]
fn broadcast_segment_elects_dr_and_bdr_after_waiting_and_forms_the_right_adjacencies() {
    let mut lab = lan();
    lab.run_for(Duration::from_secs(20));
    // Still Waiting: no election before the wait timer (the dead interval).
    assert_eq!(
        lab.speakers[0].interfaces()[0].state,
        InterfaceState::Waiting
    );
    assert_eq!(lab.state(0, 0, rid(2)), Some(NeighborState::TwoWay));
    lab.run_until(Duration::from_secs(120), |l| {
        (0..4).all(|s| {
            let f = &l.speakers[s].interfaces()[0];
            f.neighbors.values().all(|n| {
                let adjacent = f.wants_adjacency(n);
                n.state
                    == if adjacent {
                        NeighborState::Full
                    } else {
                        NeighborState::TwoWay
                    }
            }) && f.state != InterfaceState::Waiting
        })
    })
    .expect("converged");
    let states: Vec<InterfaceState> = lab
        .speakers
        .iter()
        .map(|s| s.interfaces()[0].state)
        .collect();
    use InterfaceState::*;
    assert_eq!(states, [DrOther, Backup, Dr, DrOther]);
    for s in &lab.speakers {
        let f = &s.interfaces()[0];
        assert_eq!(
            (f.dr, f.bdr),
            (Ipv4Addr::new(192, 0, 2, 3), Ipv4Addr::new(192, 0, 2, 2))
        );
    }
    // DROthers 1 and 4 are 2-Way with each other, Full with DR and BDR.
    assert_eq!(lab.state(0, 0, rid(4)), Some(NeighborState::TwoWay));
    assert_eq!(lab.state(0, 0, rid(3)), Some(NeighborState::Full));
    assert_eq!(lab.state(3, 0, rid(2)), Some(NeighborState::Full));
    lab.run_for(Duration::from_secs(10));
    assert!(lab.databases_agree());
    // Four router LSAs with a transit link to the DR, one network LSA.
    let db = lab.speakers[0].database();
    assert_eq!(db.len(), 5);
    let net = LsaKey {
        ls_type: LsaType::Network,
        ls_id: Ipv4Addr::new(192, 0, 2, 3),
        adv_router: rid(3),
    };
    let body = LsaBody::parse(LsaType::Network, db.get(&net).unwrap().header().body()).unwrap();
    assert_eq!(
        body,
        LsaBody::Network {
            mask: Ipv4Addr::new(255, 255, 255, 0),
            attached: vec![rid(3), rid(1), rid(2), rid(4)],
        }
    );
    for n in 1..=4 {
        let links = router_links(&lab.speakers[0], rid(n));
        assert_eq!(links.len(), 1);
        assert_eq!(
            (links[0].kind, links[0].id),
            (RouterLinkType::Transit, Ipv4Addr::new(192, 0, 2, 3))
        );
    }
}

#[test]
fn a_silent_neighbour_is_dropped_after_the_dead_interval_and_the_lsas_follow() {
    let mut lab = lan();
    lab.run_for(Duration::from_secs(90));
    assert_eq!(lab.state(0, 0, rid(2)), Some(NeighborState::Full));
    // Router 2 (the BDR) dies.
    lab.silenced[1] = true;
    lab.run_for(Duration::from_secs(30));
    assert_eq!(
        lab.state(0, 0, rid(2)),
        Some(NeighborState::Full),
        "not before the dead interval"
    );
    lab.run_for(Duration::from_secs(15));
    assert_eq!(
        lab.state(0, 0, rid(2)),
        None,
        "gone after 40 s without a hello"
    );
    // A new BDR among the survivors (router 1: priority 1; router 4 has 0).
    lab.run_for(Duration::from_secs(10));
    let f = &lab.speakers[0].interfaces()[0];
    assert_eq!(
        (f.state, f.bdr),
        (InterfaceState::Backup, Ipv4Addr::new(192, 0, 2, 1))
    );
    // The DR's network LSA no longer lists router 2.
    let net = LsaKey {
        ls_type: LsaType::Network,
        ls_id: Ipv4Addr::new(192, 0, 2, 3),
        adv_router: rid(3),
    };
    let e = lab.speakers[0].database().get(&net).unwrap();
    let LsaBody::Network { attached, .. } =
        LsaBody::parse(LsaType::Network, e.header().body()).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(attached, vec![rid(3), rid(1), rid(4)]);
    assert_eq!(lab.speakers[0].counters().get("neighbours dead"), Some(&1));
}

#[test]
fn mismatched_hello_intervals_form_no_neighbour() {
    let mut lab = Lab::new(Instant::now());
    let a = lab.router(1, &[("10.0.0.1/24", LAN, 1)]);
    let mut other = iface(0, "10.0.0.2/24", NetworkType::Broadcast, 1);
    other.hello_interval = 5;
    let b = lab.add(rid(2), vec![other]);
    lab.connect(&[(a, 0), (b, 0)]);
    lab.run_for(Duration::from_secs(30));
    assert!(lab.speakers[0].interfaces()[0].neighbors.is_empty());
    assert!(lab.speakers[0].counters()["hello: interval mismatch"] >= 3);
}

fn cand(n: u8, priority: u8, dr: u8, bdr: u8) -> Candidate {
    let a = |x: u8| {
        if x == 0 {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::new(192, 0, 2, x)
        }
    };
    Candidate {
        router_id: rid(n),
        address: a(n),
        priority,
        dr: a(dr),
        bdr: a(bdr),
    }
}

#[test]
fn election_follows_section_9_4() {
    let a = |x: u8| {
        if x == 0 {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::new(192, 0, 2, x)
        }
    };
    // Alone: DR, no BDR.
    assert_eq!(elect(cand(1, 1, 0, 0), &[]), (a(1), a(0)));
    // Priority 0 is never elected.
    assert_eq!(elect(cand(1, 0, 0, 0), &[cand(2, 1, 0, 0)]), (a(2), a(0)));
    // An existing DR stays even if a higher priority router joins (no preemption).
    assert_eq!(
        elect(cand(9, 200, 0, 0), &[cand(1, 1, 1, 0), cand(2, 1, 1, 0)]),
        (a(1), a(9))
    );
    // Of equal priorities, the higher router id wins: at first router 1
    // sees 3 as DR by default and no BDR; once 3 declares itself DR,
    // the next highest, 2, is BDR.
    assert_eq!(
        elect(cand(1, 1, 0, 0), &[cand(2, 1, 0, 0), cand(3, 1, 0, 0)]),
        (a(3), a(0))
    );
    assert_eq!(
        elect(cand(1, 1, 0, 0), &[cand(2, 1, 0, 0), cand(3, 1, 3, 0)]),
        (a(3), a(2))
    );
    // A declared BDR keeps its role over a higher priority newcomer.
    assert_eq!(
        elect(cand(5, 100, 0, 0), &[cand(1, 1, 1, 2), cand(2, 1, 1, 2)]),
        (a(1), a(2))
    );
}
