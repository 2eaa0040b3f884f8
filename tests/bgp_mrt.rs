//! The real RIS rrc00 RIB dump of 2002-07-22 (TABLE_DUMP, 36 peers) through
//! the MRT import and the decision process, checked prefix by prefix against
//! a deliberately simple implementation of RFC 4271 §9.1.2 written here,
//! which reads the dump through bgpkit-parser's own element iterator rather
//! than our importer. Plus: malformed input is rejected or skipped with its
//! position, never half-applied.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};

use bgpkit_parser::models::{AsPathSegment, ElemType};
use bgpkit_parser::BgpkitParser;
use ferroute::control::bgp::mrt::{parse_mrt, read_mrt};
use ferroute::control::bgp::{BgpRib, DecisionConfig, RejectReason, ResolveWith, RouteStatus};
use ferroute::testkit::data::names::MRT_2002;
use ferroute::testkit::data_file;
use ipnet::IpNet;

/// The collector's AS (RIPE NCC RIS): every peer is eBGP.
const LOCAL_AS: u32 = 12654;

/// A fake IGP: next hops whose last octet is a multiple of 13 are
/// unreachable, the others cost (last octet mod 5).
fn igp_cost(a: IpAddr) -> Option<u32> {
    let last = match a {
        IpAddr::V4(v) => v.octets()[3],
        IpAddr::V6(v) => v.octets()[15],
    };
    (last % 13 != 0).then_some(u32::from(last % 5))
}

/// One route as the reference sees it.
#[derive(Debug, Clone)]
struct Ref {
    peer: IpAddr,
    router_id: Ipv4Addr,
    ibgp: bool,
    local_pref: u32,
    path_len: usize,
    neighbor_as: Option<u32>,
    origin: u8,
    med: u32,
    igp: Option<u32>,
}

/// RFC 4271 §9.1.2 the simple way: drop unresolvable routes, keep the best
/// (local-pref, path length, origin) tuple, remove every route with a higher
/// MED than another remaining route from the same neighbour AS, then take
/// the minimum of (iBGP?, IGP cost, router id, peer address).
fn reference_best(routes: &[Ref]) -> Option<IpAddr> {
    let usable: Vec<&Ref> = routes.iter().filter(|r| r.igp.is_some()).collect();
    let key = |r: &Ref| (std::cmp::Reverse(r.local_pref), r.path_len, r.origin);
    let top = usable.iter().map(|r| key(r)).min()?;
    let first: Vec<&Ref> = usable.into_iter().filter(|r| key(r) == top).collect();
    let after_med: Vec<&Ref> = first
        .iter()
        .filter(|r| {
            !first
                .iter()
                .any(|s| s.neighbor_as == r.neighbor_as && s.med < r.med)
        })
        .copied()
        .collect();
    after_med
        .into_iter()
        .min_by_key(|r| (r.ibgp, r.igp, r.router_id, r.peer))
        .map(|r| r.peer)
}

fn reference_table(path: &std::path::Path) -> BTreeMap<IpNet, HashMap<IpAddr, Ref>> {
    let file = std::fs::File::open(path).unwrap();
    let parser = BgpkitParser::from_reader(flate2::read::GzDecoder::new(file));
    let mut table: BTreeMap<IpNet, HashMap<IpAddr, Ref>> = BTreeMap::new();
    for e in parser {
        assert_eq!(e.elem_type, ElemType::ANNOUNCE);
        let Some(next_hop) = e.next_hop else { continue };
        let path = e.as_path.clone().unwrap_or_default();
        let neighbor_as = match path.iter_segments().next() {
            Some(AsPathSegment::AsSequence(v)) => v.first().map(|a| a.to_u32()),
            _ => None,
        };
        let router_id = match (e.peer_bgp_id, e.peer_ip) {
            (Some(id), _) => id,
            (None, IpAddr::V4(a)) => a,
            (None, IpAddr::V6(_)) => Ipv4Addr::UNSPECIFIED,
        };
        let r = Ref {
            peer: e.peer_ip,
            router_id,
            ibgp: e.peer_asn.to_u32() == LOCAL_AS,
            local_pref: e.local_pref.unwrap_or(100),
            path_len: path.route_len(),
            neighbor_as,
            origin: e.origin.map_or(2, |o| o as u8),
            med: e.med.unwrap_or(0),
            igp: igp_cost(next_hop),
        };
        table
            .entry(e.prefix.prefix.trunc())
            .or_default()
            .insert(e.peer_ip, r);
    }
    table
}

#[test]
fn selected_route_per_prefix_matches_a_reference_implementation() {
    let Some(path) = data_file(MRT_2002) else {
        return;
    };
    let dump = read_mrt(&path).expect("read");
    assert_eq!(dump.records, 115_521);
    assert_eq!(dump.peers.len(), 36);
    assert_eq!(dump.skipped, 0, "{:?}", dump.skip_samples);
    let routes = dump.routes.len() as u64;

    let resolver = ResolveWith(igp_cost);
    let mut rib = BgpRib::new(DecisionConfig::default());
    let mut installed = 0usize;
    let load = rib
        .load_mrt(dump, LOCAL_AS, &resolver, |_| installed += 1)
        .expect("load");
    assert_eq!(load.routes, routes);
    let summary = rib.summary();
    assert_eq!(summary.peers.len(), 36);
    assert_eq!(
        summary.peers.iter().map(|p| p.received).sum::<u64>(),
        summary.paths
    );

    let reference = reference_table(&path);
    assert_eq!(rib.prefix_count(), reference.len());
    assert_eq!(
        rib.path_count(),
        reference.values().map(|m| m.len() as u64).sum::<u64>()
    );
    let (mut checked, mut unusable, mut contested) = (0, 0, 0);
    let mut reasons: BTreeMap<RejectReason, usize> = BTreeMap::new();
    for (prefix, routes) in &reference {
        let routes: Vec<Ref> = routes.values().cloned().collect();
        let want = reference_best(&routes);
        let got = rib
            .best(prefix)
            .map(|(id, _)| rib.peer(id).unwrap().address);
        assert_eq!(got, want, "{prefix}: {routes:?}");
        checked += 1;
        unusable += usize::from(want.is_none());
        if routes.len() > 1 {
            contested += 1;
            for c in rib.explain(prefix, &resolver).unwrap().candidates {
                if let RouteStatus::Rejected(r) = c.status {
                    *reasons.entry(r).or_default() += 1;
                }
            }
        }
    }
    let selected = rib.selected_routes().count();
    assert_eq!(selected, checked - unusable);
    assert_eq!(
        summary.peers.iter().map(|p| p.best).sum::<u64>(),
        selected as u64
    );
    println!(
        "{checked} prefixes checked ({contested} with several routes, {unusable} unusable), \
         {installed} installs while loading; losers by step: {reasons:?}"
    );
    // The dump must exercise the steps it can (RIS peers are all eBGP and
    // send no LOCAL_PREF): otherwise this test would prove little.
    for step in [
        RejectReason::NextHopUnresolvable,
        RejectReason::AsPathLength,
        RejectReason::Origin,
        RejectReason::Med,
        RejectReason::IgpCost,
        RejectReason::RouterId,
    ] {
        assert!(
            reasons.get(&step).copied().unwrap_or(0) > 0,
            "{step:?} never decided"
        );
    }
}

/// The bulk path a first load takes (routes in without a decision, then
/// one decision per prefix) selects what the route-by-route path selects.
#[test]
fn bulk_load_selects_what_route_by_route_load_selects() {
    let Some(path) = data_file(MRT_2002) else {
        return;
    };
    let dump = read_mrt(&path).expect("read");
    let resolver = ResolveWith(igp_cost);
    let mut one_by_one = BgpRib::new(DecisionConfig::default());
    one_by_one
        .load_mrt(dump.clone(), LOCAL_AS, &resolver, |_| {})
        .expect("load");
    let mut bulk = BgpRib::new(DecisionConfig::default());
    let load = bulk.load_mrt_bulk(dump, LOCAL_AS).expect("bulk load");
    assert_eq!(load.routes, one_by_one.path_count());
    assert_eq!(
        bulk.selected_routes().count(),
        0,
        "decided before the re-run"
    );
    bulk.rerun_all(&resolver, |_| {});
    assert_eq!(bulk.decisions(), bulk.prefix_count() as u64);
    assert_eq!(bulk.summary().peers, one_by_one.summary().peers);
    let mut a: Vec<_> = bulk.selected_routes().collect();
    let mut b: Vec<_> = one_by_one.selected_routes().collect();
    a.sort_by_key(|r| r.prefix);
    b.sort_by_key(|r| r.prefix);
    assert_eq!(a.len(), b.len());
    assert!(a == b, "selections differ");
}

fn dump_bytes() -> Option<Vec<u8>> {
    let path = data_file(MRT_2002)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    Some(out)
}

/// Offsets of the first records.
fn record_offsets(data: &[u8], n: usize) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while offsets.len() < n {
        offsets.push(at);
        let len = u32::from_be_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 12 + len;
    }
    offsets
}

#[test]
fn a_truncated_file_is_rejected_whole_with_the_record_position() {
    let Some(data) = dump_bytes() else { return };
    let offsets = record_offsets(&data, 1000);
    let cut = offsets[999] + 20; // inside record 999
    let err = parse_mrt(&data[..cut]).unwrap_err();
    assert_eq!(
        err,
        (999, offsets[999], "record runs past the end of the file")
    );
    let err = parse_mrt(&data[..offsets[999] + 5]).unwrap_err();
    assert_eq!(err, (999, offsets[999], "truncated header"));
    // Cut at a record boundary it is a valid (shorter) dump.
    let dump = parse_mrt(&data[..offsets[999]]).unwrap();
    assert_eq!(
        (dump.records, dump.routes.len(), dump.skipped),
        (999, 999, 0)
    );
}

#[test]
fn a_record_with_a_bad_body_is_skipped_and_counted_at_its_position() {
    let Some(data) = dump_bytes() else { return };
    let offsets = record_offsets(&data, 2001);
    let good = parse_mrt(&data[..offsets[2000]]).unwrap();
    let mut bad = data[..offsets[2000]].to_vec();
    // TABLE_DUMP body: view 2, seq 2, prefix 4, len 1, status 1, time 4,
    // peer 4, peer AS 2, then the attribute length: claim more than is there.
    let at = offsets[1234] + 12 + 20;
    bad[at..at + 2].copy_from_slice(&0xffffu16.to_be_bytes());
    let dump = parse_mrt(&bad).unwrap();
    assert_eq!(dump.records, 2000);
    assert_eq!(dump.skipped, 1);
    assert_eq!(dump.skip_samples[0].record, 1234);
    assert_eq!(dump.skip_samples[0].offset, offsets[1234]);
    assert_eq!(dump.routes.len(), good.routes.len() - 1);
    // Everything else is as in the intact file.
    let mut expect = good.routes.clone();
    expect.remove(1234);
    assert_eq!(dump.routes, expect);
}
