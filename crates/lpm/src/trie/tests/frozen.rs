//! The frozen copies (`trie/frozen/`, a measurement tool) answer as the trie
//! they were copied from, with every variant, after builds and after
//! updates (whose arenas hold holes and nodes out of address order).

use super::*;
use crate::testkit::Rng;

fn check_frozen(t: &Trie<u32>, probes: &[u32]) {
    let f = FrozenV4::new(t).unwrap();
    let mut wrong = 0;
    for &a in probes {
        let want = t.lookup(a);
        for v in [
            FrozenVariant::D16,
            FrozenVariant::D16BranchFree,
            FrozenVariant::D16N8,
            FrozenVariant::D16N8BranchFree,
            FrozenVariant::D16LeafNodes,
            FrozenVariant::D16N8LeafNodes,
            FrozenVariant::D16N8LeafNodesLinear,
            FrozenVariant::D16N8LeafNodesLinearValues,
            FrozenVariant::D16N8LeafNodesByD16,
            FrozenVariant::D8,
        ] {
            assert_eq!(f.lookup(v, a), want, "{v:?} {a:#x}");
        }
        wrong += usize::from(f.lookup(FrozenVariant::D16Wrong, a) != want);
    }
    // The variant that is wrong on purpose is caught by the same comparison.
    assert!(wrong > 0, "D16Wrong answered every probe right");
}

#[test]
fn frozen_copies_answer_as_the_trie() {
    let mut rng = Rng::new(17);
    for round in 0..8 {
        let routes = random_v4(&mut rng, 100 + round * 300);
        let mut t = Trie::<u32>::from_routes(routes.iter().copied()).unwrap();
        check_frozen(&t, &probes_v4(&routes, &mut rng));
        for _ in 0..500 {
            let (k, l, _) = routes[(rng.next_u64() % routes.len() as u64) as usize];
            if rng.next_u64().is_multiple_of(3) {
                t.remove(k, l);
            } else {
                t.insert(k, l, (rng.next_u64() % 9) as u32).unwrap();
            }
        }
        check_frozen(&t, &probes_v4(&routes, &mut rng));
    }
}

#[test]
fn frozen_copies_refuse_or_skip_what_their_entries_cannot_hold() {
    let mut rng = Rng::new(19);
    let routes: Vec<(u32, u8, u32)> = random_v4(&mut rng, 3000)
        .into_iter()
        .enumerate()
        .map(|(i, (k, l, _))| (k, l, i as u32))
        .collect();
    // More than 128 codes: no D8 (answers None); more than 256: no n8.
    let t = Trie::<u32>::from_routes(routes.iter().copied()).unwrap();
    assert!(t.codes.len() > 0x100);
    let f = FrozenV4::new(&t).unwrap();
    assert!(!f.has_d8());
    assert_eq!(f.stats().node_bytes_n8, 0);
    for a in probes_v4(&routes[..200], &mut rng) {
        assert_eq!(f.lookup(FrozenVariant::D16, a), t.lookup(a));
        assert_eq!(f.lookup(FrozenVariant::D16BranchFree, a), t.lookup(a));
        assert_eq!(f.lookup(FrozenVariant::D8, a), None);
        assert_eq!(f.lookup(FrozenVariant::D16N8, a), None);
        assert_eq!(f.lookup(FrozenVariant::D16N8LeafNodesLinearValues, a), None);
    }
    // Few codes but ids past a byte: n8 is made, the id-valued copy not.
    let big: Vec<(u32, u8, u32)> = routes
        .iter()
        .map(|&(k, l, i)| (k, l, 1000 + i % 7))
        .collect();
    let t = Trie::<u32>::from_routes(big.iter().copied()).unwrap();
    let f = FrozenV4::new(&t).unwrap();
    assert_ne!(f.stats().node_bytes_n8, 0);
    for a in probes_v4(&big[..200], &mut rng) {
        assert_eq!(f.lookup(FrozenVariant::D16N8, a), t.lookup(a));
        assert_eq!(f.lookup(FrozenVariant::D16N8LeafNodesLinearValues, a), None);
    }
    // 2^14 codes or more: refused (a leaf holds 14 bits of code).
    let many = (0..(1u32 << 14)).map(|i| (i << 8, 24, i));
    let t = Trie::<u32>::from_routes(many).unwrap();
    assert!(FrozenV4::new(&t).is_err());
}
