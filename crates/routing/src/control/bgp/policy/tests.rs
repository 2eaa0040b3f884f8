//! The evaluator, one condition and one change at a time; prefix lists
//! against a bit-by-bit check; the written forms; the RFC 9234 rules.

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;

use super::role::{egress, ingress, Role};
use super::syntax::{community, large_community, prefix_entry};
use super::*;
use crate::control::bgp::attrs::{AsPath, AsSegment, Origin, BLACKHOLE};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn attrs() -> PathAttrs {
    let mut a = PathAttrs::new(
        Origin::Igp,
        AsPath::sequence(&[65001, 65010, 65020]),
        "203.0.113.2".parse().unwrap(),
    );
    a.communities = vec![community("65001:100").unwrap()].into_boxed_slice();
    a.large_communities = vec![[65001, 1, 2]].into_boxed_slice();
    a
}

fn term(conditions: Conditions, changes: Changes, action: Action) -> Term {
    Term {
        conditions,
        changes,
        action,
    }
}

fn policy(terms: Vec<Term>, default_accept: bool) -> RoutePolicy {
    RoutePolicy {
        name: "p".into(),
        terms,
        default_accept,
    }
}

/// Whether a policy of one accepting term with `c` accepts `prefix`.
fn accepts(c: Conditions, prefix: &str) -> bool {
    policy(vec![term(c, Changes::default(), Action::Accept)], false)
        .evaluate(&net(prefix), attrs(), 65000)
        .is_some()
}

#[test]
fn each_condition_selects() {
    let p = "198.51.100.0/24";
    let cases: Vec<(Conditions, bool)> = vec![
        (Conditions::default(), true),
        (
            Conditions {
                prefix: vec![prefix_entry("198.51.0.0/16 le 24").unwrap()],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                prefix: vec![prefix_entry("198.51.0.0/16").unwrap()],
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                as_path_contains: vec![65010],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                as_path_contains: vec![65099],
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                origin_as: vec![65020],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                origin_as: vec![65001],
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                as_path_length: Some((3, 3)),
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                as_path_length: Some((0, 2)),
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                community: vec![
                    community("65002:1").unwrap(),
                    community("65001:100").unwrap(),
                ],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                community: vec![community("65001:101").unwrap()],
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                large_community: vec![[65001, 1, 2]],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                large_community: vec![[65001, 1, 3]],
                ..Default::default()
            },
            false,
        ),
        (
            Conditions {
                next_hop: vec![net("203.0.113.0/24")],
                ..Default::default()
            },
            true,
        ),
        (
            Conditions {
                next_hop: vec![net("203.0.113.3/32")],
                ..Default::default()
            },
            false,
        ),
        // All conditions of a term must hold.
        (
            Conditions {
                origin_as: vec![65020],
                community: vec![community("65001:101").unwrap()],
                ..Default::default()
            },
            false,
        ),
    ];
    for (c, want) in cases {
        assert_eq!(accepts(c.clone(), p), want, "{c:?}");
    }
}

#[test]
fn origin_as_of_a_path_ending_in_a_set_is_none() {
    let mut a = attrs();
    a.as_path = AsPath::new(vec![
        AsSegment::Sequence(Box::new([65001])),
        AsSegment::Set(Box::new([65020, 65021])),
    ]);
    assert_eq!(origin_as(&a), None);
    a.as_path = AsPath::default();
    assert_eq!(origin_as(&a), None);
}

#[test]
fn each_change_applies() {
    let changes = Changes {
        local_pref: Some(200),
        med: Some(5),
        add_community: vec![
            community("65000:1").unwrap(),
            community("65001:100").unwrap(),
        ],
        remove_community: vec![community("65001:100").unwrap()],
        add_large_community: vec![[65000, 7, 7]],
        remove_large_community: vec![[65001, 1, 2]],
        prepend: 2,
        blackhole: true,
    };
    let p = policy(
        vec![term(Conditions::default(), changes, Action::Accept)],
        false,
    );
    let out = p.evaluate(&net("198.51.100.0/24"), attrs(), 65000).unwrap();
    assert_eq!(out.local_pref, Some(200));
    assert_eq!(out.med, Some(5));
    // Removal first, then the additions: 65001:100 is removed and re-added.
    assert_eq!(
        &out.communities[..],
        &[
            community("65000:1").unwrap(),
            community("65001:100").unwrap()
        ]
    );
    assert_eq!(&out.large_communities[..], &[[65000, 7, 7]]);
    assert_eq!(out.as_path.to_string(), "65000 65000 65001 65010 65020");
    assert!(out.blackhole);
}

#[test]
fn terms_run_in_order_and_the_default_decides_the_rest() {
    let tagged = Conditions {
        community: vec![community("65001:100").unwrap()],
        ..Default::default()
    };
    let set_pref = |v| Changes {
        local_pref: Some(v),
        ..Default::default()
    };
    // continue keeps its changes for the next term; the first accept ends.
    let p = policy(
        vec![
            term(Conditions::default(), set_pref(50), Action::Continue),
            term(tagged.clone(), set_pref(300), Action::Accept),
            term(Conditions::default(), set_pref(10), Action::Accept),
        ],
        false,
    );
    let out = p.evaluate(&net("198.51.100.0/24"), attrs(), 65000).unwrap();
    assert_eq!(out.local_pref, Some(300));
    let mut plain = attrs();
    plain.communities = Box::default();
    let out = p
        .evaluate(&net("198.51.100.0/24"), plain.clone(), 65000)
        .unwrap();
    assert_eq!(out.local_pref, Some(10));
    // reject ends too; a route no term decides gets the default.
    let p = policy(
        vec![
            term(tagged.clone(), Changes::default(), Action::Reject),
            term(Conditions::default(), set_pref(50), Action::Continue),
        ],
        false,
    );
    assert!(p
        .evaluate(&net("198.51.100.0/24"), attrs(), 65000)
        .is_none());
    assert!(p
        .evaluate(&net("198.51.100.0/24"), plain.clone(), 65000)
        .is_none());
    let p = RoutePolicy {
        default_accept: true,
        ..p
    };
    let out = p
        .evaluate(&net("198.51.100.0/24"), plain.clone(), 65000)
        .unwrap();
    assert_eq!(out.local_pref, Some(50));
    assert!(!p.looks_at_prefix());
}

#[test]
fn written_forms_are_read_and_bad_ones_refused() {
    assert_eq!(community("65535:666"), Ok(BLACKHOLE));
    assert_eq!(community("blackhole"), Ok(BLACKHOLE));
    assert_eq!(community("no-export"), Ok(0xffff_ff01));
    assert_eq!(community("1:2"), Ok(0x0001_0002));
    for bad in ["65536:1", "1", "a:b", "1:2:3", ""] {
        assert!(community(bad).is_err(), "{bad}");
    }
    assert_eq!(large_community("4200000000:1:2"), Ok([4_200_000_000, 1, 2]));
    for bad in ["1:2", "1:2:3:4", "1:x:3", "4294967296:1:1"] {
        assert!(large_community(bad).is_err(), "{bad}");
    }
    let e = prefix_entry("2001:db8::/32 ge 48 le 64").unwrap();
    assert_eq!((e.min_len, e.max_len), (48, 64));
    let e = prefix_entry("10.0.0.0/8 le 24").unwrap();
    assert_eq!((e.min_len, e.max_len), (8, 24));
    let e = prefix_entry("10.0.0.0/8 ge 16").unwrap();
    assert_eq!((e.min_len, e.max_len), (16, 32));
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/8 ge 4",
        "10.0.0.0/8 ge 24 le 16",
        "10.0.0.0/8 le 33",
        "10.0.0.0/8 le",
        "10.0.0.0/8 le 24 le 25",
        "10.0.0.0/8 eq 9",
        "nonsense",
    ] {
        assert!(prefix_entry(bad).is_err(), "{bad}");
    }
}

/// The reference: bit by bit, nothing shared with [`PrefixEntry::matches`].
fn naive(entry: &PrefixEntry, route: &IpNet) -> bool {
    let bits = |a: IpAddr| -> (u128, u8) {
        match a {
            IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        }
    };
    let (e, ew) = bits(entry.prefix.addr());
    let (r, rw) = bits(route.addr());
    if ew != rw {
        return false;
    }
    let (elen, rlen) = (entry.prefix.prefix_len(), route.prefix_len());
    if rlen < elen || rlen < entry.min_len || rlen > entry.max_len {
        return false;
    }
    (0..elen).all(|i| (e >> (127 - i)) & 1 == (r >> (127 - i)) & 1)
}

fn any_net() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| IpNet::V4(ipnet::Ipv4Net::new(a.into(), l).unwrap().trunc())),
        // Few distinct high bits, so that IPv6 entries and routes overlap.
        (0u128..16, 0u8..=128).prop_map(|(a, l)| IpNet::V6(
            ipnet::Ipv6Net::new((0x2001_0db8u128 << 96 | a << 92).into(), l)
                .unwrap()
                .trunc()
        )),
    ]
}

proptest! {
    #[test]
    fn prefix_lists_match_as_the_bitwise_check(
        entry in any_net(),
        ge in proptest::option::of(0u8..=128),
        le in proptest::option::of(0u8..=128),
        route in any_net(),
        cut in 0u8..=128,
    ) {
        let Some(e) = PrefixEntry::new(entry, ge, le) else {
            // Refused only when the lengths are out of order.
            let max = entry.max_prefix_len();
            let lo = ge.unwrap_or(entry.prefix_len());
            let hi = le.unwrap_or(if ge.is_some() { max } else { entry.prefix_len() });
            prop_assert!(!(entry.prefix_len() <= lo && lo <= hi && hi <= max));
            return Ok(());
        };
        prop_assert_eq!(e.matches(&route), naive(&e, &route));
        // A route inside the entry's prefix, so that matches are common.
        let len = cut.clamp(entry.prefix_len(), entry.max_prefix_len());
        let inside = IpNet::new(entry.addr(), len).unwrap().trunc();
        prop_assert_eq!(e.matches(&inside), naive(&e, &inside));
    }
}

#[test]
fn roles_pair_as_rfc_9234_says() {
    use Role::*;
    let pairs = [
        (Provider, Customer),
        (Customer, Provider),
        (RsServer, RsClient),
        (RsClient, RsServer),
        (Peer, Peer),
    ];
    for local in Role::ALL {
        for remote in Role::ALL {
            let ok = pairs.contains(&(local, remote));
            assert_eq!(
                local.expected_remote() == remote,
                ok,
                "{local:?} {remote:?}"
            );
        }
        assert_eq!(Role::from_value(local as u8), Some(local));
        assert_eq!(Role::from_name(local.name()), Some(local));
    }
    assert_eq!(Role::from_value(5), None);
}

#[test]
fn ingress_marks_routes_from_above_and_drops_leaks() {
    let with_otc = |otc: Option<u32>| {
        let mut a = attrs();
        a.otc = otc;
        a
    };
    let remote = 65001;
    // (our role, OTC received) -> eligible, OTC after.
    let cases = [
        (Role::Provider, None, true, None),
        (Role::Provider, Some(65009), false, Some(65009)),
        (Role::RsServer, Some(65001), false, Some(65001)),
        (Role::Peer, Some(65001), true, Some(65001)),
        (Role::Peer, Some(65009), false, Some(65009)),
        (Role::Peer, None, true, Some(remote)),
        (Role::Customer, None, true, Some(remote)),
        (Role::Customer, Some(65009), true, Some(65009)),
        (Role::RsClient, None, true, Some(remote)),
    ];
    for (role, otc, ok, after) in cases {
        let mut a = with_otc(otc);
        assert_eq!(ingress(role, remote, &mut a), ok, "{role:?} {otc:?}");
        assert_eq!(a.otc, after, "{role:?} {otc:?}");
    }
}

#[test]
fn egress_keeps_marked_routes_going_down_only() {
    let local = 65000;
    // (our role, OTC on the route) -> sent, OTC sent.
    let cases = [
        // To a customer: everything, marked.
        (Role::Provider, None, true, Some(local)),
        (Role::Provider, Some(65001), true, Some(65001)),
        // To a route server client: everything, marked.
        (Role::RsServer, None, true, Some(local)),
        (Role::RsServer, Some(65001), true, Some(65001)),
        // To a lateral peer: unmarked routes only, marked on the way.
        (Role::Peer, None, true, Some(local)),
        (Role::Peer, Some(65001), false, Some(65001)),
        // To a provider or a route server: unmarked routes, unmarked.
        (Role::Customer, None, true, None),
        (Role::Customer, Some(65001), false, Some(65001)),
        (Role::RsClient, None, true, None),
        (Role::RsClient, Some(65001), false, Some(65001)),
    ];
    for (role, otc, ok, after) in cases {
        let mut a = attrs();
        a.otc = otc;
        assert_eq!(egress(role, local, &mut a), ok, "{role:?} {otc:?}");
        assert_eq!(a.otc, after, "{role:?} {otc:?}");
    }
}
