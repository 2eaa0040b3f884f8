//! Adjacencies, origination and routes.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{hops, lab, router, spf_of, via};
use crate::control::ospf::interface::InterfaceState;
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::tests::{rid, LAN, P2P};
use crate::control::ospf::v3::wire::lsa::Lsa3Body;
use crate::control::ospf::v3::wire::{INTRA_AREA_PREFIX_LSA, LINK_LSA, NETWORK_LSA, ROUTER_LSA};
use crate::control::ospf::wire::lsa::LsaKey;

fn key(ls_type: crate::control::ospf::wire::LsaType, id: u32, adv: u8) -> LsaKey {
    LsaKey {
        ls_type,
        ls_id: Ipv4Addr::from(id),
        adv_router: rid(adv),
    }
}

#[test]
fn point_to_point_pair_goes_full_and_routes_each_others_prefixes() {
    let mut lab = lab();
    let a = router(
        &mut lab,
        1,
        &[
            (&["2001:db8:12::/64"], P2P, 1),
            (&["2001:db8:1::/64"], LAN, 1),
        ],
    );
    let b = router(
        &mut lab,
        2,
        &[
            (&["2001:db8:12::/64"], P2P, 1),
            (&["2001:db8:2::/64"], LAN, 1),
        ],
    );
    lab.connect(&[(a, 0), (b, 0)]);
    let took = lab.run_until(Duration::from_secs(60), |l| {
        l.state(a, 0, rid(2)) == Some(NeighborState::Full)
            && l.state(b, 0, rid(1)) == Some(NeighborState::Full)
    });
    assert!(took.is_some(), "never Full");
    lab.run_for(Duration::from_secs(10));
    let db = lab.speakers[a].database();
    // Area scope: b's Router- and Intra-Area-Prefix-LSAs. Link scope: b's
    // Link-LSA for the shared link (interface id 1), not for its other one.
    assert!(db.get(&key(ROUTER_LSA, 0, 2)).is_some());
    assert!(db.get(&key(INTRA_AREA_PREFIX_LSA, 0, 2)).is_some());
    assert!(db.get(&key(LINK_LSA, 1, 2)).is_some());
    assert!(db.get(&key(LINK_LSA, 2, 2)).is_none());
    let Lsa3Body::Router { interfaces, .. } = Lsa3Body::parse(
        ROUTER_LSA,
        db.get(&key(ROUTER_LSA, 0, 2)).unwrap().header().body(),
    )
    .unwrap() else {
        panic!("not a router LSA");
    };
    assert_eq!(interfaces.len(), 1);
    assert_eq!(interfaces[0].neighbor_router_id, rid(1));
    assert_eq!(interfaces[0].neighbor_interface_id, 1);

    let from_a = spf_of(&lab, a);
    assert_eq!(hops(&from_a, "2001:db8:2::/64"), Some(vec![via(0, 2, 0)]));
    let from_b = spf_of(&lab, b);
    assert_eq!(hops(&from_b, "2001:db8:1::/64"), Some(vec![via(0, 1, 0)]));
}

/// Three routers on a LAN, each with a stub LAN of its own.
fn lan_of_three() -> (crate::control::ospf::tests::Lab, [usize; 3]) {
    let mut lab = lab();
    let mut ids = [0; 3];
    for (k, n) in [1u8, 2, 3].into_iter().enumerate() {
        let own = format!("2001:db8:{n}::/64");
        ids[k] = router(
            &mut lab,
            n,
            &[(&["2001:db8:100::/64"], LAN, 1), (&[own.as_str()], LAN, 1)],
        );
    }
    lab.connect(&[(ids[0], 0), (ids[1], 0), (ids[2], 0)]);
    let all_full = |l: &crate::control::ospf::tests::Lab| {
        // Everyone is adjacent to the DR (3) and BDR (2).
        [(0, 3), (0, 2), (1, 3), (2, 2)].iter().all(|&(s, n)| {
            s != n as usize - 1 && l.state(ids[s], 0, rid(n)) == Some(NeighborState::Full)
        }) && l.state(ids[2], 0, rid(1)) == Some(NeighborState::Full)
    };
    assert!(
        lab.run_until(Duration::from_secs(120), all_full).is_some(),
        "never Full"
    );
    lab.run_for(Duration::from_secs(10));
    (lab, ids)
}

#[test]
fn lan_elects_by_router_id_and_the_dr_describes_the_link() {
    let (lab, [r1, r2, r3]) = lan_of_three();
    let f = &lab.speakers[r1].interfaces()[0];
    // v3 names DR and BDR by router id.
    assert_eq!((f.dr, f.bdr), (rid(3), rid(2)));
    assert_eq!(f.state, InterfaceState::DrOther);
    assert_eq!(lab.speakers[r3].interfaces()[0].state, InterfaceState::Dr);
    assert_eq!(
        lab.speakers[r2].interfaces()[0].state,
        InterfaceState::Backup
    );
    // The DROther is adjacent to both DR and BDR.
    assert_eq!(lab.state(r1, 0, rid(2)), Some(NeighborState::Full));

    let db = lab.speakers[r1].database();
    let network = db
        .get(&key(NETWORK_LSA, 1, 3))
        .expect("the DR's network LSA");
    let Lsa3Body::Network { mut attached, .. } =
        Lsa3Body::parse(NETWORK_LSA, network.header().body()).unwrap()
    else {
        panic!("not a network LSA");
    };
    attached.sort();
    assert_eq!(attached, vec![rid(1), rid(2), rid(3)]);
    let iap = db
        .get(&key(INTRA_AREA_PREFIX_LSA, 1, 3))
        .expect("the link's prefixes");
    let Lsa3Body::IntraAreaPrefix {
        referenced_type,
        prefixes,
        ..
    } = Lsa3Body::parse(INTRA_AREA_PREFIX_LSA, iap.header().body()).unwrap()
    else {
        panic!("not an intra-area-prefix LSA");
    };
    assert_eq!(referenced_type, NETWORK_LSA.code());
    let listed: Vec<String> = prefixes.iter().map(|p| p.prefix.to_string()).collect();
    assert_eq!(listed, vec!["2001:db8:100::/64"]);

    let from_1 = spf_of(&lab, r1);
    assert_eq!(hops(&from_1, "2001:db8:3::/64"), Some(vec![via(0, 3, 0)]));
    assert_eq!(hops(&from_1, "2001:db8:2::/64"), Some(vec![via(0, 2, 0)]));
    assert_eq!(hops(&from_1, "2001:db8:100::/64"), None);
    let from_3 = spf_of(&lab, r3);
    assert_eq!(hops(&from_3, "2001:db8:1::/64"), Some(vec![via(0, 1, 0)]));
}

#[test]
fn a_dead_neighbours_prefix_goes_after_the_dead_interval() {
    let (mut lab, [r1, _, r3]) = lan_of_three();
    assert!(hops(&spf_of(&lab, r1), "2001:db8:3::/64").is_some());
    lab.silenced[r3] = true;
    let gone = lab.run_until(Duration::from_secs(120), |l| {
        hops(&spf_of(l, r1), "2001:db8:3::/64").is_none()
    });
    let took = gone.expect("router 3's prefix never went");
    assert!(
        took >= Duration::from_secs(30),
        "gone after {took:?}, before the dead interval"
    );
    // The BDR took over as DR; router 2's prefix is still reached.
    assert_eq!(lab.speakers[r1].interfaces()[0].dr, rid(2));
    assert_eq!(
        hops(&spf_of(&lab, r1), "2001:db8:2::/64"),
        Some(vec![via(0, 2, 0)])
    );
}
