//! Property tests: random tables and random insert/remove sequences, the
//! compressed tables against the reference trie after every sequence.
//! Prefixes are drawn near a few anchors so that nodes nest deeply and
//! updates hit shared subtrees, with /0 and host routes in the mix.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroute::lpm::reference_trie::BitTrie;
use ferroute::lpm::{Ipv4Table, Ipv6Table, MaybeNextHop};

/// What a batch's output holds before the batch: no id these tables hold,
/// so an answer the batch leaves unwritten fails.
const UNSET: MaybeNextHop = MaybeNextHop::some(0xdead_beef);
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op<K> {
    Insert(K, u8, u32),
    Remove(K, u8),
}

const V4_ANCHORS: [u32; 4] = [0x0a00_0000, 0xc0a8_0000, 0x0000_0000, 0xffff_ff00];

fn v4_prefix() -> impl Strategy<Value = (u32, u8)> {
    (0..V4_ANCHORS.len(), any::<u32>(), 0u8..=32, 0u32..32).prop_map(|(a, bits, len, spread)| {
        // Keep most keys within a /16 or so of an anchor.
        (V4_ANCHORS[a] ^ (bits >> spread.max(8)), len)
    })
}

fn v4_op() -> impl Strategy<Value = Op<u32>> {
    prop_oneof![
        3 => (v4_prefix(), 0u32..6).prop_map(|((k, l), nh)| Op::Insert(k, l, nh)),
        2 => v4_prefix().prop_map(|(k, l)| Op::Remove(k, l)),
    ]
}

const V6_ANCHORS: [u128; 3] = [
    0x2001_0db8_0000_0000_0000_0000_0000_0000,
    0x2a00_1450_4000_0000_0000_0000_0000_0000,
    u128::MAX,
];

fn v6_prefix() -> impl Strategy<Value = (u128, u8)> {
    (
        0..V6_ANCHORS.len(),
        any::<u128>(),
        prop_oneof![0u8..=128, 28u8..=64, 120u8..=128],
        16u32..128,
    )
        .prop_map(|(a, bits, len, spread)| (V6_ANCHORS[a] ^ (bits >> spread), len))
}

fn v6_op() -> impl Strategy<Value = Op<u128>> {
    prop_oneof![
        3 => (v6_prefix(), 0u32..6).prop_map(|((k, l), nh)| Op::Insert(k, l, nh)),
        2 => v6_prefix().prop_map(|(k, l)| Op::Remove(k, l)),
    ]
}

fn v4_net(k: u32, l: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(k), l).unwrap()
}

fn v6_net(k: u128, l: u8) -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::from(k), l).unwrap()
}

/// Boundaries of every prefix the ops mention, ±1, plus the extra probes.
fn v4_probes(ops: &[Op<u32>], extra: &[u32]) -> Vec<u32> {
    let mut v = extra.to_vec();
    for op in ops {
        let (Op::Insert(k, l, _) | Op::Remove(k, l)) = *op;
        let n = v4_net(k, l).trunc();
        let (f, b) = (u32::from(n.network()), u32::from(n.broadcast()));
        v.extend([f, b, f.wrapping_sub(1), b.wrapping_add(1)]);
    }
    v
}

fn v6_probes(ops: &[Op<u128>], extra: &[u128]) -> Vec<u128> {
    let mut v = extra.to_vec();
    for op in ops {
        let (Op::Insert(k, l, _) | Op::Remove(k, l)) = *op;
        let n = v6_net(k, l).trunc();
        let (f, b) = (u128::from(n.network()), u128::from(n.broadcast()));
        v.extend([f, b, f.wrapping_sub(1), b.wrapping_add(1)]);
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn v4_updates_match_reference(
        initial in prop::collection::vec((v4_prefix(), 0u32..6), 0..150),
        ops in prop::collection::vec(v4_op(), 0..150),
        extra in prop::collection::vec(any::<u32>(), 0..64),
    ) {
        let mut t: Ipv4Table = initial.iter().map(|&((k, l), nh)| (v4_net(k, l), nh)).collect();
        let mut r = BitTrie::new();
        for &((k, l), nh) in &initial {
            r.insert(u128::from(k) << 96, l, nh);
        }
        for op in &ops {
            match *op {
                Op::Insert(k, l, nh) => prop_assert_eq!(
                    t.insert(v4_net(k, l), nh), r.insert(u128::from(k) << 96, l, nh)),
                Op::Remove(k, l) => prop_assert_eq!(
                    t.remove(v4_net(k, l)), r.remove(u128::from(k) << 96, l)),
            }
        }
        prop_assert_eq!(t.len(), r.len());
        let mut all_ops: Vec<Op<u32>> = initial.iter().map(|&((k, l), nh)| Op::Insert(k, l, nh)).collect();
        all_ops.extend(ops.iter().cloned());
        let probes: Vec<Ipv4Addr> = v4_probes(&all_ops, &extra).into_iter().map(Ipv4Addr::from).collect();
        let mut out = vec![UNSET; probes.len()];
        t.lookup_batch(&probes, &mut out);
        // Batches of 37 as well: rounds cut short and in other places.
        let mut odd = vec![UNSET; probes.len()];
        for (a, o) in probes.chunks(37).zip(odd.chunks_mut(37)) {
            t.lookup_batch(a, o);
        }
        for ((a, got), got_odd) in probes.iter().zip(&out).zip(&odd) {
            let want = r.lookup(u128::from(u32::from(*a)) << 96);
            prop_assert_eq!(t.lookup(*a), want.map(|x| x.0), "lookup {}", a);
            prop_assert_eq!(got.get(), want.map(|x| x.0), "batch {}", a);
            prop_assert_eq!(got_odd.get(), want.map(|x| x.0), "batch of 37 {}", a);
            // The operator path reports the matched prefix itself.
            let want_prefix = want.map(|(nh, len)| (v4_net(u32::from(*a), len).trunc(), nh));
            prop_assert_eq!(t.lookup_prefix(*a), want_prefix);
        }
        // Updated in place = built from scratch, node for node.
        let fresh: Ipv4Table = t.iter().collect();
        prop_assert_eq!(fresh.stats().nodes, t.stats().nodes);
        // (Node bytes, not lookup_memory_bytes: a freed next-hop code keeps its
        // slot in the code table for reuse, which a fresh build does not have.)
        prop_assert_eq!(fresh.stats().node_bytes, t.stats().node_bytes - t.stats().free_bytes);
    }

    #[test]
    fn v6_updates_match_reference(
        initial in prop::collection::vec((v6_prefix(), 0u32..6), 0..100),
        ops in prop::collection::vec(v6_op(), 0..100),
        extra in prop::collection::vec(any::<u128>(), 0..64),
    ) {
        let mut t: Ipv6Table = initial.iter().map(|&((k, l), nh)| (v6_net(k, l), nh)).collect();
        let mut r = BitTrie::new();
        for &((k, l), nh) in &initial {
            r.insert(k, l, nh);
        }
        for op in &ops {
            match *op {
                Op::Insert(k, l, nh) => prop_assert_eq!(t.insert(v6_net(k, l), nh), r.insert(k, l, nh)),
                Op::Remove(k, l) => prop_assert_eq!(t.remove(v6_net(k, l)), r.remove(k, l)),
            }
        }
        prop_assert_eq!(t.len(), r.len());
        let mut all_ops: Vec<Op<u128>> = initial.iter().map(|&((k, l), nh)| Op::Insert(k, l, nh)).collect();
        all_ops.extend(ops.iter().cloned());
        let probes: Vec<Ipv6Addr> = v6_probes(&all_ops, &extra).into_iter().map(Ipv6Addr::from).collect();
        let mut out = vec![UNSET; probes.len()];
        t.lookup_batch(&probes, &mut out);
        // Batches of 37 as well: rounds cut short and in other places.
        let mut odd = vec![UNSET; probes.len()];
        for (a, o) in probes.chunks(37).zip(odd.chunks_mut(37)) {
            t.lookup_batch(a, o);
        }
        for ((a, got), got_odd) in probes.iter().zip(&out).zip(&odd) {
            let want = r.lookup(u128::from(*a)).map(|x| x.0);
            prop_assert_eq!(t.lookup(*a), want, "lookup {}", a);
            prop_assert_eq!(got.get(), want, "batch {}", a);
            prop_assert_eq!(got_odd.get(), want, "batch of 37 {}", a);
        }
        let fresh: Ipv6Table = t.iter().collect();
        prop_assert_eq!(fresh.stats().nodes, t.stats().nodes);
    }

    /// Removing everything leaves an empty table that answers nothing.
    #[test]
    fn remove_all_empties(initial in prop::collection::vec((v4_prefix(), 0u32..6), 1..100)) {
        let mut t: Ipv4Table = initial.iter().map(|&((k, l), nh)| (v4_net(k, l), nh)).collect();
        let routes: Vec<_> = t.iter().collect();
        for (p, nh) in routes {
            prop_assert_eq!(t.remove(p), Some(nh));
        }
        prop_assert!(t.is_empty());
        prop_assert_eq!(t.stats().nodes, 0);
        for &((k, _), _) in &initial {
            prop_assert_eq!(t.lookup(Ipv4Addr::from(k)), None);
        }
    }
}

/// The case proptest found: replacing a route's only next hop recycles its
/// code; lookups and nodes match a fresh build, the code table keeps a slot.
#[test]
fn replaced_next_hop_code_is_recycled() {
    let p = v4_net(0x0a00_0000, 12);
    let mut t = Ipv4Table::new();
    assert_eq!(t.insert(p, 0), None);
    assert_eq!(t.insert(p, 1), Some(0));
    assert_eq!(t.lookup(Ipv4Addr::new(10, 1, 2, 3)), Some(1));
    let fresh: Ipv4Table = t.iter().collect();
    assert_eq!(fresh.stats().node_bytes, t.stats().node_bytes);
    assert_eq!(t.stats().next_hops, 1);
    // The freed code is reused, so the code table does not grow.
    let before = t.lookup_memory_bytes();
    t.insert(v4_net(0x0b00_0000, 8), 2);
    assert_eq!(t.lookup_memory_bytes(), before);
}
