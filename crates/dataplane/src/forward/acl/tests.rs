//! The classifier against the plain first-match definition: rule by rule,
//! then over random lists and packets.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn net(s: &str) -> Option<IpNet> {
    Some(s.parse().unwrap())
}

fn ports(first: u16, last: u16) -> Option<PortRange> {
    Some(PortRange { first, last })
}

fn key(src: &str, dst: &str, protocol: u8, ports: Option<(u16, u16)>) -> AclKey {
    AclKey {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol,
        ports,
    }
}

/// The list and its compiled form answer alike for `key`; returns the answer.
fn decide(spec: &AclSpec, key: &AclKey) -> Option<usize> {
    let acl = Acl::compile(spec.clone());
    assert_eq!(acl.classify(key), spec.first_match(key), "{key:?}");
    acl.classify(key)
}

fn edge() -> AclSpec {
    AclSpec {
        name: "edge".into(),
        default: AclAction::Deny,
        rules: vec![
            AclRule {
                protocol: Some(6),
                destination_port: ports(22, 22),
                ..AclRule::any(AclAction::Reject)
            },
            AclRule {
                source: net("192.0.2.0/24"),
                destination: net("198.51.100.0/24"),
                ..AclRule::any(AclAction::Permit)
            },
            AclRule {
                source: net("2001:db8::/32"),
                protocol: Some(17),
                source_port: ports(1000, 2000),
                ..AclRule::any(AclAction::Permit)
            },
            AclRule {
                protocol: Some(1),
                ..AclRule::any(AclAction::Permit)
            },
        ],
    }
}

#[test]
fn first_matching_rule_wins_and_the_default_takes_the_rest() {
    let spec = edge();
    // SSH is rejected even from the permitted subnet: rule 0 comes first.
    let ssh = key("192.0.2.7", "198.51.100.1", 6, Some((40000, 22)));
    assert_eq!(decide(&spec, &ssh), Some(0));
    let web = key("192.0.2.7", "198.51.100.1", 6, Some((40000, 443)));
    assert_eq!(decide(&spec, &web), Some(1));
    let elsewhere = key("192.0.2.7", "203.0.113.1", 6, Some((40000, 443)));
    assert_eq!(decide(&spec, &elsewhere), None);
    let acl = Acl::compile(spec.clone());
    assert_eq!(acl.decide(&elsewhere), (AclAction::Deny, 4));
    assert_eq!(acl.decide(&ssh), (AclAction::Reject, 0));
    // ICMP of either family.
    assert_eq!(
        decide(&spec, &key("203.0.113.9", "8.8.8.8", 1, None)),
        Some(3)
    );
    assert_eq!(
        decide(&spec, &key("2001:db9::1", "2001:db8::2", 1, None)),
        Some(3)
    );
}

#[test]
fn ports_match_only_when_known_and_in_range() {
    let spec = edge();
    let udp = |sport| key("2001:db8:5::1", "2001:db8:9::1", 17, Some((sport, 53)));
    assert_eq!(decide(&spec, &udp(1000)), Some(2));
    assert_eq!(decide(&spec, &udp(2000)), Some(2));
    assert_eq!(decide(&spec, &udp(999)), None);
    assert_eq!(decide(&spec, &udp(2001)), None);
    // A non-first fragment (ports unknown) never matches a port rule.
    let fragment = key("2001:db8:5::1", "2001:db8:9::1", 17, None);
    assert_eq!(decide(&spec, &fragment), None);
    let ssh_fragment = key("192.0.2.7", "198.51.100.1", 6, None);
    assert_eq!(
        decide(&spec, &ssh_fragment),
        Some(1),
        "addresses still match"
    );
}

#[test]
fn prefixes_keep_to_their_family() {
    let spec = AclSpec {
        name: "v6".into(),
        default: AclAction::Permit,
        rules: vec![AclRule {
            destination: net("::/0"),
            ..AclRule::any(AclAction::Deny)
        }],
    };
    assert_eq!(decide(&spec, &key("192.0.2.1", "192.0.2.2", 6, None)), None);
    assert_eq!(decide(&spec, &key("::1", "2001:db8::2", 6, None)), Some(0));
}

#[test]
fn nested_prefixes_each_find_their_rules() {
    let rule = |s: &str, action| AclRule {
        source: net(s),
        ..AclRule::any(action)
    };
    let spec = AclSpec {
        name: "nested".into(),
        default: AclAction::Permit,
        rules: vec![
            rule("10.1.2.0/24", AclAction::Reject),
            rule("10.0.0.0/8", AclAction::Deny),
            rule("10.1.0.0/16", AclAction::Permit),
            rule("0.0.0.0/0", AclAction::Permit),
        ],
    };
    assert_eq!(decide(&spec, &key("10.1.2.3", "1.1.1.1", 6, None)), Some(0));
    assert_eq!(decide(&spec, &key("10.1.3.3", "1.1.1.1", 6, None)), Some(1));
    assert_eq!(decide(&spec, &key("10.2.3.3", "1.1.1.1", 6, None)), Some(1));
    assert_eq!(decide(&spec, &key("11.0.0.1", "1.1.1.1", 6, None)), Some(3));
}

#[test]
fn an_empty_list_answers_its_default_and_counts_it() {
    let table = AclTable::compile([AclSpec {
        name: "empty".into(),
        default: AclAction::Reject,
        rules: vec![],
    }]);
    let acl = table.get(0).unwrap();
    let k = key("192.0.2.1", "192.0.2.2", 6, Some((1, 2)));
    assert_eq!(acl.decide(&k), (AclAction::Reject, 0));
    assert_eq!(table.counters(), vec![vec![0]]);
    let summary = hits(&table, &[vec![7]]);
    assert_eq!(summary[0].default, 7);
    assert!(summary[0].rules.is_empty());
}

/// Prefixes from a small pool, so random rules nest and overlap and random
/// packets land in them.
fn arb_net(v4: bool) -> impl Strategy<Value = Option<IpNet>> {
    let base = prop_oneof![Just(0u8), Just(10), Just(192)];
    prop_oneof![
        1 => Just(None),
        3 => (base, 0u8..4, 0u8..=24).prop_map(move |(a, b, len)| {
            let net: IpNet = if v4 {
                format!("{a}.{b}.0.0/{}", len.min(16)).parse().unwrap()
            } else {
                format!("2001:db8:{a:x}:{b:x}::/{}", 16 + len * 2).parse().unwrap()
            };
            Some(net.trunc())
        }),
    ]
}

fn arb_ports() -> impl Strategy<Value = Option<PortRange>> {
    prop_oneof![
        2 => Just(None),
        1 => (0u16..30, 0u16..10).prop_map(|(a, w)| Some(PortRange { first: a, last: a + w })),
        1 => Just(Some(PortRange { first: 20, last: 65535 })),
    ]
}

/// A random rule over the pools of [`arb_net`] (also the batch path's
/// test's, `forward/tests/acl_batch.rs`).
pub(crate) fn arb_rule() -> impl Strategy<Value = AclRule> {
    (
        any::<bool>(),
        prop::sample::select(&AclAction::ALL[..]),
        prop_oneof![
            Just(None),
            Just(Some(6u8)),
            Just(Some(17u8)),
            Just(Some(1u8))
        ],
        arb_ports(),
        arb_ports(),
    )
        .prop_flat_map(|(v4, action, protocol, sp, dp)| {
            (arb_net(v4), arb_net(v4)).prop_map(move |(source, destination)| {
                // Ports only with TCP/UDP, as the configuration insists.
                let tcp_udp = matches!(protocol, Some(6 | 17));
                AclRule {
                    action,
                    source,
                    destination,
                    protocol,
                    source_port: sp.filter(|_| tcp_udp),
                    destination_port: dp.filter(|_| tcp_udp),
                }
            })
        })
}

pub(crate) fn arb_addr(v4: bool) -> impl Strategy<Value = IpAddr> {
    (
        prop_oneof![Just(0u8), Just(10), Just(192), Just(77)],
        0u8..5,
        any::<u16>(),
    )
        .prop_map(move |(a, b, low)| {
            if v4 {
                format!("{a}.{b}.{}.{}", low >> 8, low & 0xff)
                    .parse()
                    .unwrap()
            } else {
                format!("2001:db8:{a:x}:{b:x}::{low:x}").parse().unwrap()
            }
        })
}

fn arb_key() -> impl Strategy<Value = AclKey> {
    any::<bool>().prop_flat_map(|v4| {
        (
            arb_addr(v4),
            arb_addr(v4),
            prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()],
            prop::option::of((0u16..40, 0u16..40)),
        )
            .prop_map(|(src, dst, protocol, ports)| AclKey {
                src,
                dst,
                protocol,
                ports,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Over random lists (up to 150 rules: several 64-rule words) and
    /// packets, the classifier finds exactly the first matching rule; for
    /// IPv4 also from the key as numbers (the pipeline's path, no `IpAddr`).
    #[test]
    fn classifier_equals_a_linear_scan(
        rules in prop::collection::vec(arb_rule(), 0..150),
        keys in prop::collection::vec(arb_key(), 1..40),
    ) {
        let spec = AclSpec { name: "random".into(), default: AclAction::Deny, rules };
        let acl = Acl::compile(spec.clone());
        for k in &keys {
            let first = spec.first_match(k);
            prop_assert_eq!(acl.classify(k), first, "{:?}", k);
            if let (IpAddr::V4(src), IpAddr::V4(dst)) = (k.src, k.dst) {
                let numeric = AclKeyV4 {
                    src: src.into(),
                    dst: dst.into(),
                    protocol: k.protocol,
                    ports: k.ports,
                };
                let slot = first.unwrap_or(spec.rules.len());
                prop_assert_eq!(acl.slot_v4(&numeric), slot, "{:?}", k);
            }
        }
    }
}

/// `k`'s fields with the addresses as numbers.
fn numeric<A>(k: &AclKey, src: A, dst: A) -> FlowFields<A> {
    FlowFields {
        src,
        dst,
        protocol: k.protocol,
        ports: k.ports,
    }
}

/// `k` through `cache` as the pipeline asks: the counter slot within the
/// list (the cached action checked against the slot's).
fn cached_slot(cache: &mut AclCache, acl: &Acl, id: AclId, k: &AclKey) -> usize {
    let answer = match (k.src, k.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let key = numeric(k, s.into(), d.into());
            cache.answer_v4(FlowKeyV4::of(&key, id), || acl.answer(acl.slot_v4(&key)))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let key = numeric(k, s.into(), d.into());
            cache.answer_v6(FlowKeyV6::of(&key, id), || acl.answer(acl.slot_v6(&key)))
        }
        _ => return acl.slot(k),
    };
    let slot = answer.0 - acl.counter_base();
    assert_eq!(answer.1, acl.action_at(slot));
    slot
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Through a small cache (4 sets: collisions and evictions), two lists
    /// asked in random order over a pool of flows that repeat, and one of
    /// them replaced half-way (the cache invalidated as a reload does),
    /// every answer is the linear scan's of the list asked.
    #[test]
    fn cached_answers_equal_a_linear_scan(
        lists in prop::collection::vec(prop::collection::vec(arb_rule(), 1..40), 3),
        pool in prop::collection::vec(arb_key(), 1..12),
        asks in prop::collection::vec((0usize..2, any::<prop::sample::Index>()), 1..120),
    ) {
        let spec = |i: usize| AclSpec {
            name: format!("l{i}"),
            default: AclAction::Deny,
            rules: lists[i].clone(),
        };
        let mut specs = vec![spec(0), spec(1)];
        let mut table = AclTable::compile(specs.clone());
        let mut cache = AclCache::with_sets(4, 4);
        for (n, (id, which)) in asks.iter().enumerate() {
            if n == asks.len() / 2 {
                specs[0] = spec(2);
                table = AclTable::compile(specs.clone());
                cache.invalidate(&table);
            }
            let k = which.get(&pool);
            let acl = table.get(*id as AclId).unwrap();
            let expected = specs[*id].first_match(k).unwrap_or(specs[*id].rules.len());
            prop_assert_eq!(cached_slot(&mut cache, acl, *id as AclId, k), expected, "{:?}", k);
        }
        prop_assert_eq!(cache.counts.hits + cache.counts.misses, asks.len() as u64);
    }
}
