use super::*;
use crate::reference::BitTrie;
use crate::testkit::Rng;
use crate::MaybeNextHop;

/// What a batch's output holds before the batch: no answer a table gives
/// (the tests' ids are small), so a slot the batch leaves unwritten fails.
pub(super) const UNSET: MaybeNextHop = MaybeNextHop::some(0xdead_beef);

mod frozen;
mod ipv6;
mod packed;

/// Random prefixes clustered under a few /8s so that nodes get deep.
fn random_v4(rng: &mut Rng, n: usize) -> Vec<(u32, u8, u32)> {
    (0..n)
        .map(|_| {
            let hi = [10u32, 192, 0, 255][(rng.next_u64() % 4) as usize] << 24;
            let key = hi | (rng.next_u64() as u32 & 0x00ff_ffff);
            let len = [
                0u8, 4, 8, 12, 16, 18, 19, 20, 22, 24, 24, 24, 25, 28, 30, 31, 32,
            ][(rng.next_u64() % 17) as usize];
            (key, len, (rng.next_u64() % 7) as u32)
        })
        .collect()
}

/// Addresses worth probing: runs of consecutive addresses (which batches
/// answer with one walk when a vector's 16 share it) from each prefix's
/// start and across its end, 16-aligned in the list as vectors take them;
/// every prefix's first and last address ± 1; and random ones.
fn probes_v4(routes: &[(u32, u8, u32)], rng: &mut Rng) -> Vec<u32> {
    let bounds = |k: u32, l: u8| {
        let first = if l == 0 {
            0
        } else {
            k & (u32::MAX << (32 - l))
        };
        (
            first,
            first | u32::MAX.checked_shr(u32::from(l)).unwrap_or(0),
        )
    };
    let mut v = Vec::new();
    for &(k, l, _) in routes {
        let (first, last) = bounds(k, l);
        v.extend((0..32).map(|i| first.wrapping_add(i)));
        v.extend((0..32).map(|i| last.wrapping_sub(15).wrapping_add(i)));
        v.extend([7u32; 16].map(|_| first));
    }
    for &(k, l, _) in routes {
        let (first, last) = bounds(k, l);
        v.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
    }
    v.extend((0..2000).map(|_| rng.next_u64() as u32));
    // Rounds of 64 (aligned with the batches' rounds) where 0 to 64
    // addresses go past the direct array (inside routes longer than the
    // direct index, among random addresses), so that rounds with every
    // count of addresses walked past the direct array (the batch's list
    // of them) are checked.
    let deep: Vec<(u32, u8)> = routes
        .iter()
        .filter(|r| u32::from(r.1) > <u32 as Key>::DIRECT as u32)
        .map(|r| (r.0, r.1))
        .collect();
    v.resize(v.len().next_multiple_of(64), 0);
    for b in 0..if deep.is_empty() { 0 } else { 130 } {
        let n_inside = b % 65;
        let mut round: Vec<u32> = (0..64 - n_inside).map(|_| rng.next_u64() as u32).collect();
        for j in 0..n_inside {
            let (k, l) = deep[(b * 5 + j) % deep.len()];
            let inside = bounds(k, l).0
                | (rng.next_u64() as u32 & u32::MAX.checked_shr(u32::from(l)).unwrap_or(0));
            round.insert((b * 7 + j * 13) % (round.len() + 1), inside);
        }
        v.extend(round);
    }
    v
}

/// The invariants the unchecked reads of single lookups rest on
/// (`v4::id_v4_unchecked`, `v6::walk`): the direct array's length,
/// every reachable node whole inside the arena (32-bit reads of narrow
/// entries included: the guard) and past the IPv6 leaf region, which is
/// intact, the width flag matching the node, every leaf's code inside the
/// code table.
fn assert_well_formed<K: Key>(t: &Trie<K>) {
    assert_eq!(t.direct.len(), 1 << K::DIRECT);
    let leaf_ok = |e: u32| assert!(((e & 0xffff) as usize) < t.codes.len(), "code {e:#x}");
    let mut stack: Vec<u32> = Vec::new();
    for &e in &t.direct {
        if e & LEAF != 0 {
            leaf_ok(e);
        } else {
            stack.push(e);
        }
    }
    if !t.arena.is_empty() {
        assert!(t.arena[t.arena.len() - GUARD..].iter().all(|&u| u == 0));
        // The leaf region single IPv6 walks step through (`LEAF_REGION`).
        assert!(t.arena[..K::RESERVED].iter().all(|&u| u == JUNK_UNIT));
        assert_eq!(JUNK, u32::from(JUNK_UNIT) << 16 | u32::from(JUNK_UNIT));
    }
    // The top index of every IPv6 direct node (and only those) stands for
    // its two levels, slot for slot (`top.rs`).
    let direct_nodes: Vec<u32> = stack.clone();
    for &e in &direct_nodes {
        assert_eq!(e & TOP != 0, Trie::<K>::has_top(), "direct node {e:#x}");
        if e & TOP == 0 {
            continue;
        }
        // Its block starts on a line, and so do its pairs (none straddles).
        let o = (e & OFFSET) as usize;
        assert_eq!((o - t.top_units(o)) % LINE, 0, "top block {e:#x}");
        assert_eq!((o - top::PAIRS) % LINE, 0, "top pairs {e:#x}");
        let upper = t.read_node(e);
        for (s, &x) in upper.iter().enumerate() {
            for (b, &y) in t.slots_below(x).iter().enumerate() {
                assert_eq!(t.top_entry_checked(e, (s * 64 + b) as u32), y, "top {e:#x}");
            }
        }
    }
    while let Some(e) = stack.pop() {
        let o = (e & OFFSET) as usize;
        assert!(e & TOP == 0 || direct_nodes.contains(&e), "top below 18");
        assert_eq!(o % ALIGN, 0);
        assert!(o >= K::RESERVED, "node {e:#x} in the leaf region");
        assert!(o + HDR <= t.arena.len() - GUARD, "node {e:#x}");
        let runs = t.u64_at(o);
        assert_eq!(runs & 1, 1, "node {e:#x}: slot 0 opens a run");
        let wide = e & WIDE != 0;
        let n = runs.count_ones() as usize;
        // Reads reach two units past a narrow node's last entry start.
        assert!(
            o + HDR + n * (1 + usize::from(wide)) < t.arena.len(),
            "node {e:#x}"
        );
        let entries = t.read_node(e);
        // IPv6 nodes are all wide (`Trie::all_wide`).
        let has_child = entries.iter().any(|&c| c & LEAF == 0);
        assert_eq!(wide, K::BITS == 128 || has_child, "node {e:#x}: width");
        for c in entries {
            if c & LEAF != 0 {
                leaf_ok(c);
            } else {
                stack.push(c);
            }
        }
    }
}

/// A fresh build's layout: the top blocks (with their depth-18 nodes)
/// after every other node, one after the other.
fn assert_tops_last(t: &Trie<u128>) {
    let mut tops: Vec<(usize, usize)> = Vec::new();
    let mut deepest_end = 0;
    let mut stack: Vec<u32> = t.direct.iter().copied().filter(|e| e & LEAF == 0).collect();
    while let Some(e) = stack.pop() {
        let o = (e & OFFSET) as usize;
        if e & TOP != 0 {
            let end = (o + t.node_size_at(e)).next_multiple_of(LINE);
            tops.push((o - t.top_units(o), end));
        } else {
            deepest_end = deepest_end.max(o + t.node_size_at(e));
        }
        stack.extend(t.read_node(e).iter().copied().filter(|c| c & LEAF == 0));
    }
    tops.sort_unstable();
    assert!(!tops.is_empty());
    assert!(deepest_end <= tops[0].0, "a node after the first top block");
    assert!(tops[0].0 - deepest_end < LINE, "more than a line's padding");
    for w in tops.windows(2) {
        assert_eq!(w[0].1, w[1].0, "top blocks not contiguous");
    }
}

fn check_v4(t: &Trie<u32>, r: &BitTrie, probes: &[u32]) {
    assert_well_formed(t);
    let mut batch = vec![UNSET; probes.len()];
    t.lookup_batch(probes, &mut batch);
    // Batches of 37 as well: rounds cut short and in other places.
    let mut odd = vec![UNSET; probes.len()];
    for (a, o) in probes.chunks(37).zip(odd.chunks_mut(37)) {
        t.lookup_batch(a, o);
    }
    for ((&a, &b), &p) in probes.iter().zip(&batch).zip(&odd) {
        let want = r.lookup(u128::from(a) << 96).map(|x| x.0);
        assert_eq!(t.lookup(a), want, "lookup {a:#x}");
        assert_eq!(b.get(), want, "batch {a:#x}");
        assert_eq!(p.get(), want, "batch of 37 {a:#x}");
    }
}

#[test]
fn build_matches_reference_v4() {
    let mut rng = Rng::new(7);
    for round in 0..20 {
        let routes = random_v4(&mut rng, 50 + round * 40);
        let t = Trie::<u32>::from_routes(routes.iter().copied()).unwrap();
        let mut r = BitTrie::new();
        for &(k, l, nh) in &routes {
            r.insert(u128::from(k) << 96, l, nh);
        }
        assert_eq!(t.len(), r.len());
        check_v4(&t, &r, &probes_v4(&routes, &mut rng));
    }
}

#[test]
fn updates_match_reference_and_fresh_build_v4() {
    let mut rng = Rng::new(11);
    let mut t = Trie::<u32>::default();
    let mut r = BitTrie::new();
    let pool = random_v4(&mut rng, 600);
    for step in 0..3000 {
        let (k, l, _) = pool[(rng.next_u64() % pool.len() as u64) as usize];
        let nh = (rng.next_u64() % 5) as u32;
        if rng.next_u64().is_multiple_of(3) {
            let want = r.remove(u128::from(k) << 96, l);
            assert_eq!(t.remove(k, l), want);
        } else {
            let want = r.insert(u128::from(k) << 96, l, nh);
            assert_eq!(t.insert(k, l, nh).unwrap(), want);
        }
        if step % 300 == 299 {
            check_v4(&t, &r, &probes_v4(&pool, &mut rng));
            // The in-place result has the same shape as a fresh build.
            let fresh = Trie::<u32>::from_routes(t.iter()).unwrap();
            assert_eq!(t.stats().nodes, fresh.stats().nodes);
            assert_eq!(
                t.stats().node_bytes - t.stats().free_bytes,
                fresh.stats().node_bytes
            );
        }
    }
    // Remove everything: back to an empty structure with only holes.
    let all: Vec<_> = t.iter().collect();
    for (k, l, _) in all {
        t.remove(k, l);
    }
    assert_eq!(t.len(), 0);
    assert_eq!(t.stats().nodes, 0);
    assert!(t.direct.iter().all(|&e| e == leaf(NO_ROUTE)));
    assert_eq!(t.code_of.len(), 0);
}

#[test]
fn next_hop_limits_are_errors() {
    let mut t = Trie::<u32>::default();
    assert_eq!(
        t.insert(0, 0, u32::MAX),
        Err(LpmError::ReservedNextHop(u32::MAX))
    );
    for i in 0..MAX_NEXT_HOPS as u32 {
        t.insert(i << 8, 24, 1_000_000 + i).unwrap();
    }
    assert_eq!(t.insert(1, 32, 7), Err(LpmError::TooManyNextHops));
    // Every code fits a narrow node's 16-bit entries (the /24s sit in
    // nodes at depth 18 with no child), up to the last one (0xffff).
    assert_eq!(t.codes.len(), MAX_NEXT_HOPS + 1);
    let check_all = |t: &Trie<u32>| {
        let addrs: Vec<u32> = (0..MAX_NEXT_HOPS as u32).map(|i| i << 8 | 0x80).collect();
        let mut batch = vec![UNSET; addrs.len()];
        t.lookup_batch(&addrs, &mut batch);
        for (i, &a) in addrs.iter().enumerate() {
            let want = Some(1_000_000 + i as u32);
            assert_eq!(t.lookup(a), want, "{a:#x}");
            assert_eq!(batch[i].get(), want, "batch {a:#x}");
        }
    };
    check_all(&t);
    // A child makes the last node wide (32-bit entries): its high codes
    // still answer, and the child's leaf too.
    let last = (MAX_NEXT_HOPS as u32 - 1) << 8;
    assert_eq!(t.insert(last | 0x40, 26, 1_000_000), Ok(None));
    assert_eq!(t.lookup(last | 0x41), Some(1_000_000));
    assert_ne!(t.direct[(last >> 14) as usize] & (LEAF | WIDE), 0);
    assert_eq!(t.direct[(last >> 14) as usize] & LEAF, 0);
    check_all(&t);
    assert_eq!(t.remove(last | 0x40, 26), Some(1_000_000));
    check_all(&t);
    // Freeing a next hop makes room again; codes are recycled.
    assert_eq!(t.remove(0, 24), Some(1_000_000));
    assert_eq!(t.insert(1, 32, 7), Ok(None));
    assert_eq!(t.lookup(1), Some(7));
    assert_eq!(t.lookup(0x0000_0100), Some(1_000_001));
}

/// The default route has a leaf code of its own, so a lookup tells whether
/// it matched only the default even when other routes share its next hop;
/// a lookup-only copy answers every lookup as the table does, keeps its
/// length and refuses changes. Checked against the reference over random
/// tables (with defaults sharing next hops) through updates.
#[test]
fn lookup_copies_and_the_default_match_agree_with_the_reference() {
    let mut rng = Rng::new(17);
    let mut t = Trie::<u32>::default();
    let mut r = BitTrie::new();
    for round in 0..12 {
        for &(k, l, nh) in &random_v4(&mut rng, 60) {
            if rng.next_u64().is_multiple_of(4) {
                assert_eq!(t.remove(k, l), r.remove(u128::from(k) << 96, l));
            } else {
                assert_eq!(
                    t.insert(k, l, nh).unwrap(),
                    r.insert(u128::from(k) << 96, l, nh)
                );
            }
        }
        // Every other round: a default through a next hop others use too.
        if round % 2 == 0 {
            t.insert(0, 0, 3).unwrap();
            r.insert(0, 0, 3);
        }
        let copy = t.lookup_copy_with(true);
        assert_eq!(copy.len(), t.len());
        assert_eq!(copy.default_route(), t.default_route());
        let routes: Vec<(u32, u8, u32)> = t.iter().collect();
        for a in probes_v4(&routes, &mut rng) {
            let want = r.lookup(u128::from(a) << 96);
            assert_eq!(t.lookup(a), want.map(|x| x.0), "lookup {a:#x}");
            assert_eq!(copy.lookup(a), want.map(|x| x.0), "copy {a:#x}");
            let only_default = want.is_some_and(|x| x.1 == 0);
            assert_eq!(t.matched_default(a), only_default, "default {a:#x}");
            assert_eq!(copy.matched_default(a), only_default, "copy default {a:#x}");
        }
        let mut copy = copy;
        assert_eq!(copy.insert(1, 32, 1), Err(LpmError::LookupOnly));
        assert_eq!(copy.remove(0, 0), None);
        assert_eq!(copy.iter().count(), 0);
    }
}

/// Setting the default route again to the same next hop changes nothing:
/// no repaint (a repaint of /0 rebuilds the whole table, leaving holes),
/// the same leaf code, still the only one with it.
#[test]
fn resetting_the_default_to_the_same_next_hop_is_a_no_op() {
    let mut rng = Rng::new(5);
    let routes: Vec<(u32, u8, u32)> = random_v4(&mut rng, 400)
        .into_iter()
        .filter(|r| r.1 > 0)
        .collect();
    let mut t = Trie::<u32>::from_routes(routes.iter().copied()).unwrap();
    t.insert(0, 0, 3).unwrap();
    let before = (t.stats(), t.default_route(), t.default_code);
    assert_eq!(t.insert(0, 0, 3), Ok(Some(3)));
    assert_eq!((t.stats(), t.default_route(), t.default_code), before);
    assert_eq!(
        t.insert(0, 0, 4),
        Ok(Some(3)),
        "a new next hop still replaces it"
    );
    assert_eq!(t.default_route().map(|d| d.0), Some(4));
}

/// IPv6 batches follow updates that give a /12 its first route or take
/// its last, both through the direct array (a /16) and below it (a /48),
/// in the table and in its lookup-only copy: their direct pass answers
/// leaves from the direct array and walks only the entries that are
/// nodes. (Until the twentieth session this also checked the AVX-512
/// batch's summary of unrouted regions, removed with that batch.)
#[test]
fn batches_follow_updates_that_route_or_empty_a_region() {
    let mut t = Trie::<u128>::from_routes([(0x2001u128 << 112, 16, 1)]).unwrap();
    let r48 = 0x2a02_0000_0001u128 << 80;
    let r16 = 0x2c0f_u128 << 112;
    let probes: Vec<std::net::Ipv6Addr> = (0..64u128)
        .map(|i| match i % 4 {
            0 => r48 | i,
            1 => r16 | i << 40,
            2 => (0x2001u128 << 112) | i,
            _ => (0x3fff_u128 << 112) | i,
        })
        .map(Into::into)
        .collect();
    let batch = |t: &Trie<u128>| {
        let mut out = vec![UNSET; probes.len()];
        t.lookup_batch(&probes, &mut out);
        out.into_iter().map(MaybeNextHop::get).collect::<Vec<_>>()
    };
    let single = |t: &Trie<u128>| {
        let p = probes.iter().map(|&a| t.lookup(a.into()));
        p.collect::<Vec<_>>()
    };
    let steps: [(u128, u8, Option<u32>); 4] = [
        (r48, 48, Some(2)),
        (r16, 16, Some(3)),
        (r48, 48, None),
        (r16, 16, None),
    ];
    for (k, l, nh) in steps {
        match nh {
            Some(nh) => assert_eq!(t.insert(k, l, nh), Ok(None)),
            None => assert!(t.remove(k, l).is_some()),
        }
        assert_well_formed(&t);
        let want = single(&t);
        assert_eq!(
            want.iter().filter(|a| a.is_some()).count(),
            16 * (1
                + usize::from(t.get(r48, 48).is_some())
                + usize::from(t.get(r16, 16).is_some()))
        );
        assert_eq!(batch(&t), want);
        assert_eq!(batch(&t.lookup_copy_with(true)), want);
    }
}

#[test]
fn line_blocks_start_on_lines_whatever_the_holes() {
    let mut t = Trie::<u128>::default();
    let a = t.alloc(12);
    t.alloc(8);
    // The arena's end is 20 units past a line, and a hole of the 12 units
    // that pad it to the next line waits on the free list.
    t.release(a, 12);
    for round in 0..4 {
        let end = t.arena.len() - GUARD;
        let o = t.alloc_lines(600 + round);
        assert_eq!(o % LINE, 0, "round {round}");
        assert!(o >= end, "round {round}: appended");
        for (class, blocks) in t.free.iter().enumerate() {
            for &f in blocks {
                let f = f as usize;
                assert!(f + class * ALIGN <= o, "round {round}: a hole overlaps");
                assert!(
                    f >= K_RESERVED_V6,
                    "round {round}: a hole in the leaf region"
                );
            }
        }
        // Misalign the end again.
        t.append(4 * (round + 1));
    }
}

const K_RESERVED_V6: usize = <u128 as Key>::RESERVED;
