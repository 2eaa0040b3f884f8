//! Differential tests: the compressed tables against the plain reference
//! trie over every real table in the shared data directory. Probes: every
//! prefix's first and last address and their neighbours ±1, plus random
//! addresses; single and batched lookups; then a round of real-table
//! updates (and the LINX update trace over the full CAIDA table).
//!
//! Tests run unoptimised by default; the random sample is sized so that a
//! table takes a few seconds there (set LPM_RANDOM_PROBES to change it).

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroute::lpm::reference_trie::BitTrie;
use ferroute::lpm::{Ipv4Table, Ipv6Table, MaybeNextHop, NextHopId};
use ferroute::tables::{load_routes, load_updates, LoadOptions};
use ferroute::testkit::data::names::*;
use ferroute::testkit::data_file;
use ferroute::testkit::Rng;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

fn random_probes() -> usize {
    std::env::var("LPM_RANDOM_PROBES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20)
}

fn v4_key(a: Ipv4Addr) -> u128 {
    u128::from(u32::from(a)) << 96
}

fn v4_probes(routes: &[(Ipv4Net, NextHopId)], rng: &mut Rng) -> Vec<Ipv4Addr> {
    let mut v = Vec::with_capacity(routes.len() * 4 + random_probes());
    for (p, _) in routes {
        let (first, last) = (u32::from(p.network()), u32::from(p.broadcast()));
        for a in [first, last, first.wrapping_sub(1), last.wrapping_add(1)] {
            v.push(Ipv4Addr::from(a));
        }
    }
    v.extend((0..random_probes()).map(|_| Ipv4Addr::from(rng.next_u64() as u32)));
    v
}

fn v6_probes(routes: &[(Ipv6Net, NextHopId)], rng: &mut Rng) -> Vec<Ipv6Addr> {
    let mut v = Vec::with_capacity(routes.len() * 4 + random_probes());
    for (p, _) in routes {
        let (first, last) = (u128::from(p.network()), u128::from(p.broadcast()));
        for a in [first, last, first.wrapping_sub(1), last.wrapping_add(1)] {
            v.push(Ipv6Addr::from(a));
        }
    }
    // Random addresses inside 2000::/3 (where routes are) and anywhere.
    v.extend((0..random_probes()).map(|i| {
        let a = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        let a = if i % 4 == 0 { a } else { (a >> 3) | (1 << 125) };
        Ipv6Addr::from(a)
    }));
    v
}

/// What a batch's output holds before the batch: no id the tables here
/// hold, so an answer the batch leaves unwritten fails.
const UNSET: MaybeNextHop = MaybeNextHop::some(0xdead_beef);

fn check_v4(t: &Ipv4Table, r: &BitTrie, probes: &[Ipv4Addr], what: &str) {
    for chunk in probes.chunks(64) {
        let mut out = [UNSET; 64];
        t.lookup_batch(chunk, &mut out);
        for (a, got) in chunk.iter().zip(out) {
            let want = r.lookup(v4_key(*a)).map(|x| x.0);
            assert_eq!(got.get(), want, "{what}: batch lookup {a}");
            assert_eq!(t.lookup(*a), want, "{what}: lookup {a}");
        }
    }
}

fn check_v6(t: &Ipv6Table, r: &BitTrie, probes: &[Ipv6Addr], what: &str) {
    for chunk in probes.chunks(64) {
        let mut out = [UNSET; 64];
        t.lookup_batch(chunk, &mut out);
        for (a, got) in chunk.iter().zip(out) {
            let want = r.lookup(u128::from(*a)).map(|x| x.0);
            assert_eq!(got.get(), want, "{what}: batch lookup {a}");
            assert_eq!(t.lookup(*a), want, "{what}: lookup {a}");
        }
    }
}

/// Build both, compare; then change every 40th route (remove, or move to
/// another next hop) in both and compare again.
fn differential_v4(name: &str, routes: &[(Ipv4Net, NextHopId)]) {
    let mut rng = Rng::new(0x9e37_79b9 ^ routes.len() as u64);
    let mut t: Ipv4Table = routes.iter().copied().collect();
    let mut r = BitTrie::new();
    for (p, nh) in routes {
        r.insert(v4_key(p.network()), p.prefix_len(), *nh);
    }
    assert_eq!(t.len(), routes.len(), "{name}");
    let probes = v4_probes(routes, &mut rng);
    check_v4(&t, &r, &probes, name);
    for (i, (p, nh)) in routes.iter().enumerate().step_by(40) {
        if i % 80 == 0 {
            assert_eq!(t.remove(*p), Some(*nh));
            r.remove(v4_key(p.network()), p.prefix_len());
        } else {
            assert_eq!(t.insert(*p, nh + 1000), Some(*nh));
            r.insert(v4_key(p.network()), p.prefix_len(), nh + 1000);
        }
    }
    assert_eq!(t.len(), r.len(), "{name} after updates");
    check_v4(&t, &r, &probes, &format!("{name} after updates"));
}

fn differential_v6(name: &str, routes: &[(Ipv6Net, NextHopId)]) {
    let mut rng = Rng::new(0x51ed_2701 ^ routes.len() as u64);
    let mut t: Ipv6Table = routes.iter().copied().collect();
    let mut r = BitTrie::new();
    for (p, nh) in routes {
        r.insert(u128::from(p.network()), p.prefix_len(), *nh);
    }
    assert_eq!(t.len(), routes.len(), "{name}");
    let probes = v6_probes(routes, &mut rng);
    check_v6(&t, &r, &probes, name);
    for (i, (p, nh)) in routes.iter().enumerate().step_by(40) {
        if i % 80 == 0 {
            assert_eq!(t.remove(*p), Some(*nh));
            r.remove(u128::from(p.network()), p.prefix_len());
        } else {
            assert_eq!(t.insert(*p, nh + 1000), Some(*nh));
            r.insert(u128::from(p.network()), p.prefix_len(), nh + 1000);
        }
    }
    assert_eq!(t.len(), r.len(), "{name} after updates");
    check_v6(&t, &r, &probes, &format!("{name} after updates"));
}

fn load(name: &str, opts: LoadOptions) -> Option<ferroute::tables::Routes> {
    let path = data_file(name)?;
    Some(load_routes(path, &opts).unwrap_or_else(|e| panic!("{e}")))
}

/// Bytes the Poptrie C reference's lookups can touch on this table
/// (`scripts/bench-lpm-poptrie`: 2.84 MiB with 64 next hops).
const POPTRIE_CAIDA_2024_BYTES: usize = 2_977_955;

#[test]
fn caida_2024_v4() {
    if let Some(r) = load(CAIDA_2024, LoadOptions::default()) {
        // Issue 17's memory goal: no more than Poptrie on the same table
        // (16-bit leaves in nodes without children keep it there).
        let t: Ipv4Table = r.v4.iter().copied().collect();
        assert!(
            t.lookup_memory_bytes() <= POPTRIE_CAIDA_2024_BYTES,
            "{} bytes",
            t.lookup_memory_bytes()
        );
        differential_v4(CAIDA_2024, &r.v4);
    }
}

/// The packed lookup-only copy the control plane publishes (README,
/// twenty-fourth session) is made from every real IPv4 table with 64 next
/// hops, as the benchmarks number them, and answers single and batched
/// lookups as the table does; so does the measurement tool's `lnxv` copy,
/// its layout (twenty-third session).
#[test]
fn packed_copy_of_every_real_v4_table() {
    use ferroute::lpm::frozen::FrozenVariant;
    for name in [CAIDA_2024, CAIDA_2017, TIER1, MRT_2002] {
        let Some(r) = load(name, LoadOptions::default()) else {
            continue;
        };
        let routes: Vec<(Ipv4Net, NextHopId)> = r.v4.iter().map(|&(p, nh)| (p, nh % 64)).collect();
        let t: Ipv4Table = routes.iter().copied().collect();
        let packed = t.lookup_copy();
        assert!(packed.is_packed(), "{name}: not packed");
        let f = t.frozen_copy().unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = f.stats().arena_bytes_lnxv {
            panic!("{name}: no lnxv copy: {e}");
        }
        let mut rng = Rng::new(0x17 ^ routes.len() as u64);
        let probes = v4_probes(&routes, &mut rng);
        let mut batched = vec![MaybeNextHop::some(7); probes.len()];
        packed.lookup_batch(&probes, &mut batched);
        for (&a, got) in probes.iter().zip(&batched) {
            let want = t.lookup(a);
            assert_eq!(packed.lookup(a), want, "{name}: {a}");
            assert_eq!(got.get(), want, "{name}: batch {a}");
            let tool = f.lookup(FrozenVariant::D16N8LeafNodesLinearValues, u32::from(a));
            assert_eq!(tool, want, "{name}: lnxv {a}");
        }
    }
}

#[test]
fn caida_2017_v4() {
    if let Some(r) = load(CAIDA_2017, LoadOptions::default()) {
        differential_v4(CAIDA_2017, &r.v4);
    }
}

#[test]
fn tier1_v4_and_v6() {
    if let Some(r) = load(TIER1, LoadOptions::default()) {
        differential_v4(TIER1, &r.v4);
        differential_v6(TIER1, &r.v6);
    }
}

#[test]
fn ris_v6_all_prefixes() {
    // Unfiltered: includes ::/0, /128s and everything in between.
    if let Some(r) = load(RIS_V6, LoadOptions::default()) {
        assert!(r.v6.iter().any(|(p, _)| p.prefix_len() == 0));
        assert!(r.v6.iter().any(|(p, _)| p.prefix_len() == 128));
        differential_v6(RIS_V6, &r.v6);
    }
}

#[test]
fn small_v6_fibs_and_mrt_v4() {
    for name in [AS293_V6, LINX_V6] {
        if let Some(r) = load(name, LoadOptions::default()) {
            differential_v6(name, &r.v6);
        }
    }
    if let Some(r) = load(MRT_2002, LoadOptions::default()) {
        differential_v4(MRT_2002, &r.v4);
    }
}

/// The real one-hour LINX update trace applied over the full CAIDA table,
/// next hops numbered by first appearance.
#[test]
fn linx_update_trace_over_caida() {
    let (Some(table), Some(trace)) = (
        load(CAIDA_2024, LoadOptions::default()),
        data_file(LINX_UPDATES),
    ) else {
        return;
    };
    let updates = load_updates(trace).unwrap();
    let mut t: Ipv4Table = table.v4.iter().copied().collect();
    let mut r = BitTrie::new();
    for (p, nh) in &table.v4 {
        r.insert(v4_key(p.network()), p.prefix_len(), *nh);
    }
    let mut ids = std::collections::HashMap::new();
    let mut touched = Vec::new();
    for u in &updates {
        let IpNet::V4(p) = u.prefix else { continue };
        touched.push(p);
        let k = v4_key(p.network());
        match u.next_hop {
            Some(nh) => {
                let next = 64 + ids.len() as NextHopId;
                let id = *ids.entry(nh).or_insert(next);
                assert_eq!(t.insert(p, id), r.insert(k, p.prefix_len(), id));
            }
            None => assert_eq!(t.remove(p), r.remove(k, p.prefix_len())),
        }
    }
    assert_eq!(t.len(), r.len());
    let mut probes = Vec::new();
    for p in touched {
        let (first, last) = (u32::from(p.network()), u32::from(p.broadcast()));
        for a in [first, last, first.wrapping_sub(1), last.wrapping_add(1)] {
            probes.push(Ipv4Addr::from(a));
        }
    }
    let mut rng = Rng::new(99);
    probes.extend((0..random_probes() / 4).map(|_| Ipv4Addr::from(rng.next_u64() as u32)));
    check_v4(&t, &r, &probes, "caida + linx updates");
    // The updated table equals a fresh build of the same routes.
    let fresh: Ipv4Table = t.iter().collect();
    assert_eq!(fresh.stats().nodes, t.stats().nodes);
    assert_eq!(
        fresh.stats().node_bytes,
        t.stats().node_bytes - t.stats().free_bytes
    );
}
