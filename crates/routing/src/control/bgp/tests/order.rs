//! Order independence: the decision over a prefix's routes does not depend
//! on the order they arrived in.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;

fn arb_route() -> impl Strategy<Value = (u32, u8, PathAttrs, bool, u8)> {
    (
        prop_oneof![Just(None), Just(Some(100u32)), Just(Some(200))],
        prop::collection::vec(1u32..4, 0..4),
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        prop_oneof![Just(None), Just(Some(0u32)), Just(Some(10)), Just(Some(20))],
        0u8..6,
        any::<bool>(),
        0u8..3,
    )
        .prop_map(|(lp, asns, origin, med, nh, ibgp, rid)| {
            let mut a = PathAttrs::new(
                origin,
                AsPath::sequence(&asns),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, nh)),
            );
            a.local_pref = lp;
            a.med = med;
            (0, rid, a, ibgp, nh)
        })
}

proptest! {
    #[test]
    fn decision_does_not_depend_on_arrival_order(
        routes in prop::collection::vec(arb_route(), 1..8),
        always_compare_med in any::<bool>(),
        multipath in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // Unique peer addresses; next hop .0 unresolvable, others cost nh % 3.
        let routes: Vec<(Peer, PathAttrs)> = routes
            .into_iter()
            .enumerate()
            .map(|(i, (_, rid, attrs, ibgp, _))| {
                let asn = if ibgp { LOCAL_AS } else { 64500 + i as u32 };
                let p = Peer::new(
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)),
                    asn,
                    Ipv4Addr::new(1, 1, 1, rid),
                    LOCAL_AS,
                );
                (p, attrs)
            })
            .collect();
        let resolver = ResolveWith(|a: IpAddr| match a {
            IpAddr::V4(v) if v.octets()[3] > 0 => Some(u32::from(v.octets()[3] % 3)),
            _ => None,
        });
        let config = DecisionConfig { always_compare_med, multipath, ..Default::default() };
        let by_peer = |rs: &[(Peer, PathAttrs)]| {
            let (best, status) = decide(rs, &resolver, config);
            let mut s: Vec<_> = rs.iter().map(|r| r.0.address).zip(status).collect();
            s.sort_by_key(|x| x.0);
            (best.map(|b| rs[b].0.address), s)
        };
        let expect = by_peer(&routes);
        // A deterministic shuffle from the seed (Fisher-Yates, xorshift).
        let mut shuffled = routes.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(by_peer(&shuffled), expect);
    }
}
