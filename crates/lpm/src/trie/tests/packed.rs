//! The packed lookup copies a published IPv4 table carries
//! (`frozen/packed.rs`), checked through `Ipv4Table`, the API the FIB uses.

use super::*;
use crate::Ipv4Table;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

fn net(k: u32, l: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(k), l).unwrap().trunc()
}

/// Every lookup, batch and default match of `copy` as the reference says.
fn check(copy: &Ipv4Table, r: &BitTrie, probes: &[u32], what: &str) {
    let mut want = Vec::new();
    for &a in probes {
        let w = r.lookup(u128::from(a) << 96);
        let addr = Ipv4Addr::from(a);
        assert_eq!(copy.lookup(addr), w.map(|x| x.0), "{what}: lookup {addr}");
        let only_default = w.is_some_and(|x| x.1 == 0);
        assert_eq!(
            copy.matched_default(addr),
            only_default,
            "{what}: default {addr}"
        );
        want.push(MaybeNextHop::from(w.map(|x| x.0)));
    }
    let addrs: Vec<Ipv4Addr> = probes.iter().map(|&a| Ipv4Addr::from(a)).collect();
    let mut got = vec![MaybeNextHop::some(9); addrs.len()];
    copy.lookup_batch(&addrs, &mut got);
    assert_eq!(got, want, "{what}: batch");
}

/// Random tables through updates, with no default route, one through a
/// next hop of its own and one through a next hop other routes use: every
/// copy is packed, answers as the reference, keeps the trie's arrays only
/// for the shared default (which its default match walks), refuses
/// changes, and its own copy is itself.
#[test]
fn packed_copies_agree_with_the_reference_through_updates() {
    let mut rng = Rng::new(24);
    let mut t = Ipv4Table::new();
    let mut r = BitTrie::new();
    for round in 0..12 {
        for &(k, l, nh) in &random_v4(&mut rng, 60) {
            let (k, l) = (k, l.max(1));
            if rng.next_u64().is_multiple_of(4) {
                assert_eq!(t.remove(net(k, l)), r.remove(u128::from(k) << 96, l));
            } else {
                let nh = nh * 36; // ids up to 216: a byte holds id + 1
                assert_eq!(
                    t.insert(net(k, l), nh),
                    r.insert(u128::from(k) << 96, l, nh)
                );
            }
        }
        let default = match round % 3 {
            0 => None,
            1 => Some(254), // the largest id a packed copy holds; no other route has it
            _ => Some(36),  // shared with other routes
        };
        match default {
            Some(nh) => {
                t.insert(net(0, 0), nh);
                r.insert(0, 0, nh);
            }
            None => {
                t.remove(net(0, 0));
                r.remove(0, 0);
            }
        }
        let copy = t.lookup_copy();
        let what = format!("round {round}, default {default:?}");
        assert!(copy.is_packed(), "{what}");
        assert!(copy.is_lookup_only());
        assert_eq!(copy.len(), t.len());
        assert_eq!(copy.default_route(), t.default_route());
        let shared = matches!(t.default_route(), Some((_, true)));
        assert_eq!(shared, default == Some(36), "{what}");
        assert_eq!(
            copy.stats().direct_bytes != 0,
            shared,
            "{what}: trie arrays kept"
        );
        let routes: Vec<(u32, u8, u32)> = t
            .iter()
            .map(|(p, nh)| (u32::from(p.network()), p.prefix_len(), nh))
            .collect();
        let probes = probes_v4(&routes, &mut rng);
        check(&copy, &r, &probes, &what);
        check(
            &copy.lookup_copy(),
            &r,
            &probes,
            &format!("{what}, copy of the copy"),
        );
        let mut copy = copy;
        assert_eq!(copy.try_insert(net(1, 32), 1), Err(LpmError::LookupOnly));
        assert_eq!(copy.remove(net(0, 0)), None);
        // A whole table is never packed: its trie answers.
        assert!(!t.is_packed());
    }
}

/// A table with a next-hop id past a byte's reach is published as the
/// trie's arrays (not packed) and answers as before; the packed copy's
/// memory is what its lookups touch, below the trie's.
#[test]
fn tables_past_the_packed_ids_keep_the_trie() {
    let mut rng = Rng::new(25);
    let mut t = Ipv4Table::new();
    let mut r = BitTrie::new();
    for &(k, l, nh) in &random_v4(&mut rng, 400) {
        t.insert(net(k, l), nh);
        r.insert(u128::from(k) << 96, l, nh);
    }
    let routes: Vec<(u32, u8, u32)> = t
        .iter()
        .map(|(p, nh)| (u32::from(p.network()), p.prefix_len(), nh))
        .collect();
    let probes = probes_v4(&routes, &mut rng);
    let packed = t.lookup_copy();
    assert!(packed.is_packed());
    assert_eq!(packed.unpacked_because(), None);
    check(&packed, &r, &probes, "ids below 7");
    t.insert(net(0x0a00_0000, 8), PACKED_MAX_ID + 1);
    r.insert(0x0a00_0000u128 << 96, 8, PACKED_MAX_ID + 1);
    let copy = t.lookup_copy();
    assert!(!copy.is_packed(), "id {} packed", PACKED_MAX_ID + 1);
    assert_eq!(copy.unpacked_because(), Some("next-hop id 255: past 254"));
    assert_eq!(t.unpacked_because(), None, "a whole table is no copy");
    check(&copy, &r, &probes, "id past a byte");
    assert_eq!(copy.lookup_memory_bytes(), t.lookup_memory_bytes());
    // Freed again, the id no longer stops the packing.
    t.remove(net(0x0a00_0000, 8));
    r.remove(0x0a00_0000u128 << 96, 8);
    let copy = t.lookup_copy();
    assert!(copy.is_packed());
    assert_eq!(copy.unpacked_because(), None);
    check(&copy, &r, &probes, "id freed");
}
