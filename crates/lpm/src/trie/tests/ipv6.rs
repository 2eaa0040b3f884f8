//! IPv6 tries against the reference: walks through updates, full-length
//! prefixes and the default route.

use super::*;

/// Random IPv6 prefixes under a few /16s, with lengths around the flat
/// levels' end (/48) and far below it, so that walks end at every level.
fn random_v6(rng: &mut Rng, n: usize) -> Vec<(u128, u8, u32)> {
    (0..n)
        .map(|_| {
            let top = [0x2001u128, 0x2a02, 0x2400, 0xffff][(rng.next_u64() % 4) as usize] << 112;
            // Few distinct bits below the /16 so that prefixes nest.
            let key = top | (rng.u128() & 0x0000_0003_0c00_00f0_0000_0000_0000_0003);
            let len = [
                0u8, 16, 18, 19, 24, 29, 32, 36, 40, 42, 43, 44, 47, 48, 48, 49, 54, 64, 96, 127,
                128,
            ][(rng.next_u64() % 21) as usize];
            (key, len, (rng.next_u64() % 7) as u32)
        })
        .collect()
}

/// Single and batched (64 at a time and one odd-sized batch) lookups of
/// every probe against the reference.
fn check_v6(t: &Trie<u128>, r: &BitTrie, routes: &[(u128, u8, u32)], rng: &mut Rng) {
    let mut probes = Vec::new();
    // Runs of 16 consecutive addresses (kept from the AVX-512 batch,
    // whose vectors of 16 took one walk when they shared it), 16-aligned:
    // from each prefix's start, across its start and its end with one
    // address on the other side, and its first address 16 times.
    for &(k, l, _) in routes {
        let first = mask(k, l);
        let last = first | u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
        for start in [first, first.wrapping_sub(1), last.wrapping_sub(14)] {
            probes.extend((0..16).map(|i| start.wrapping_add(i)));
        }
        probes.extend([first; 16]);
    }
    for &(k, l, _) in routes {
        let first = mask(k, l);
        let last = first | u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
        probes.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
        probes.push(first | (rng.u128() & u128::MAX.checked_shr(u32::from(l)).unwrap_or(0)));
    }
    probes.extend((0..500).map(|_| rng.u128()));
    // Rounds of 64 (aligned with the batches below) where only some
    // addresses go past the direct array: 0 to 12 route addresses (deep
    // ones too) among random ones, in every position, so that rounds on
    // both sides of `v6::SCALAR_WALKS` (walked one by one, or in levels)
    // are checked.
    probes.resize(probes.len().next_multiple_of(64), 0);
    for b in 0..routes.len().min(200) {
        let n_inside = b % (2 * super::v6::SCALAR_WALKS - 3);
        let mut batch: Vec<u128> = (0..64 - n_inside).map(|_| rng.u128()).collect();
        for j in 0..n_inside {
            let (k, l, _) = routes[(b * 4 + j) % routes.len()];
            let inside =
                mask(k, l) | (rng.u128() & u128::MAX.checked_shr(u32::from(l)).unwrap_or(0));
            batch.insert((b * 7 + j * 13) % (batch.len() + 1), inside);
        }
        probes.extend(batch);
    }
    // Rounds of 64 consecutive addresses (the batch answers a
    // round whose addresses share their upper 64 bits with one walk when
    // its leaf lies at depth 48 or above), from prefixes' starts: short
    // prefixes end there, long ones (past /48) do not.
    for &(k, l, _) in routes.iter().take(200) {
        let first = mask(k, l);
        probes.extend((0..64).map(|i| first.wrapping_add(i)));
    }
    let mut batch = vec![UNSET; probes.len()];
    for (a, o) in probes.chunks(64).zip(batch.chunks_mut(64)) {
        t.lookup_batch(a, o);
    }
    let mut odd = vec![UNSET; probes.len()];
    t.lookup_batch(&probes[..probes.len() - 1], &mut odd);
    // `Ipv6Addr`s (what `Ipv6Table` passes) as well as `u128`s.
    let addrs: Vec<std::net::Ipv6Addr> = probes.iter().map(|&a| a.into()).collect();
    let mut by_addr = vec![UNSET; probes.len()];
    for (a, o) in addrs.chunks(64).zip(by_addr.chunks_mut(64)) {
        t.lookup_batch(a, o);
    }
    for (i, &a) in probes.iter().enumerate() {
        let want = r.lookup(a).map(|x| x.0);
        assert_eq!(t.lookup(a), want, "lookup {a:#x}");
        assert_eq!(batch[i].get(), want, "batch {a:#x}");
        assert_eq!(by_addr[i].get(), want, "batch of Ipv6Addr {a:#x}");
        if i + 1 < probes.len() {
            assert_eq!(odd[i].get(), want, "odd-sized batch {a:#x}");
        }
    }
}

#[test]
fn v6_walks_match_reference_through_updates() {
    let mut rng = Rng::new(23);
    let pool = random_v6(&mut rng, 800);
    let mut t = Trie::<u128>::from_routes(pool[..400].iter().copied()).unwrap();
    let mut r = BitTrie::new();
    for &(k, l, nh) in &pool[..400] {
        r.insert(k, l, nh);
    }
    assert_tops_last(&t);
    check_v6(&t, &r, &pool, &mut rng);
    for step in 0..2000 {
        let (k, l, _) = pool[(rng.next_u64() % pool.len() as u64) as usize];
        if rng.next_u64().is_multiple_of(3) {
            assert_eq!(t.remove(k, l), r.remove(k, l));
        } else {
            let nh = (rng.next_u64() % 5) as u32;
            assert_eq!(t.insert(k, l, nh).unwrap(), r.insert(k, l, nh));
        }
        if step % 100 == 99 {
            // Top indexes rewritten after every change below them, and
            // the same shape as a fresh build's, holes aside.
            assert_well_formed(&t);
            let fresh = Trie::<u128>::from_routes(t.iter()).unwrap();
            assert_eq!(t.stats().nodes, fresh.stats().nodes);
            // (A fresh build's one hole: the padding before its top blocks.)
            assert_eq!(
                t.stats().node_bytes - t.stats().free_bytes,
                fresh.stats().node_bytes - fresh.stats().free_bytes
            );
        }
        if step % 500 == 499 {
            check_v6(&t, &r, &pool, &mut rng);
            check_v6(&t.lookup_copy_with(true), &r, &pool, &mut rng);
        }
    }
    // A rebuild (what `compact` does) lays the arena out again, leaf
    // region first.
    t.rebuild();
    assert_well_formed(&t);
    assert_tops_last(&t);
    check_v6(&t, &r, &pool, &mut rng);
}

#[test]
fn v6_full_length_and_default() {
    let mut t = Trie::<u128>::default();
    let mut r = BitTrie::new();
    let routes: [(u128, u8, u32); 6] = [
        (0, 0, 1),
        (u128::MAX, 128, 2),
        (0x2001_0db8 << 96, 32, 3),
        ((0x2001_0db8 << 96) | 1, 128, 4),
        ((0x2001_0db8 << 96) | (0xffff << 64), 64, 5),
        (u128::MAX - 3, 126, 6),
    ];
    for &(k, l, nh) in &routes {
        t.insert(k, l, nh).unwrap();
        r.insert(k, l, nh);
    }
    let mut probes = vec![];
    for &(k, l, _) in &routes {
        let first = if l == 0 {
            0
        } else {
            k & (u128::MAX << (128 - l))
        };
        let last = first | u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
        probes.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
    }
    for a in probes {
        assert_eq!(t.lookup(a), r.lookup(a).map(|x| x.0), "{a:#x}");
    }
    assert_eq!(t.lookup_with_len(u128::MAX), Some((2, 128)));
    assert_eq!(t.lookup_with_len(u128::MAX - 1), Some((6, 126)));
    assert_eq!(t.remove(u128::MAX, 128), Some(2));
    assert_eq!(t.lookup(u128::MAX), Some(6));
    assert_eq!(t.remove(0, 0), Some(1));
    assert_eq!(t.lookup(1 << 100), None);
}
