//! The flow cache's routes (`forward/flow_cache.rs`): used once kept, and
//! never after the FIB changed, in place or by a new table.

use super::*;
use crate::fib::NextHop;

/// Another gateway's MAC on p1: a frame forwarded by a stale route leaves
/// with [`GW_MAC`] instead, which the tests see.
pub(super) const OTHER_GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x77, 7]);

/// Rewrites `fib` in place (as the tests' tables may be, without a
/// publication): the routed IPv4 destinations of [`frame`] and the
/// tests below now leave through another gateway.
pub(super) fn reroute(fib: &mut Fib) {
    let other = fib.add_next_hop(NextHop::Adjacency {
        port: 1,
        mac: OTHER_GW_MAC,
    });
    for prefix in ["198.51.100.0/25", "100.64.0.0/10", "128.0.0.0/1"] {
        fib.v4.insert(prefix.parse().unwrap(), other);
    }
}

/// A copy of `frames` received on p0 through the worker's first two steps:
/// the pre-pass (its lookups in the hints) and the common case (what it
/// took in `Forwarded`); the frames it left are the pipeline's to take.
pub(super) fn common_pass(
    fwd: &mut Forwarder,
    fib: &Fib,
    frames: &[Vec<u8>],
) -> (Vec<Vec<u8>>, RouteHints, Forwarded) {
    let mut batch = frames.to_vec();
    let mut hints = RouteHints::new();
    let mut common = Forwarded::default();
    fwd.prepare_batch(fib, 0, batch.iter().map(|f| &f[..]), &mut hints);
    fwd.forward_common(fib, 0, &mut batch[..], &hints, &mut common);
    (batch, hints, common)
}

/// One batch of `frames` received on p0 as the worker runs it, each frame
/// forwarded through p1: how many destinations the walk looked up, how
/// many frames the common case took, and the MACs they left with.
pub(super) fn round(
    fwd: &mut Forwarder,
    fib: &Fib,
    frames: &[Vec<u8>],
) -> (usize, u32, Vec<MacAddr>) {
    let (mut batch, hints, common) = common_pass(fwd, fib, frames);
    let looked_up = (0..batch.len())
        .filter(|&i| hints.looked_up_v4(i).is_some())
        .count();
    for (i, f) in batch.iter_mut().enumerate() {
        if common.get(i).is_none() {
            let v = fwd.process_hinted(fib, 0, f, 0, &mut VecEmit::default(), hints.get(i));
            assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
        }
    }
    let macs = batch
        .iter()
        .map(|f| MacAddr(f[..6].try_into().unwrap()))
        .collect();
    (looked_up, common.mask.count_ones(), macs)
}

/// Four UDP flows from 192.0.2.10 to 198.51.100.1..4 (routed, permitted).
pub(super) fn four_flows() -> Vec<Vec<u8>> {
    (1..=4)
        .map(|i| v4_frame("192.0.2.10", &format!("198.51.100.{i}"), 64, 18, false))
        .collect()
}

/// A permitted flow on a port with an acl-in: its first packet goes
/// through the pipeline (which caches the list's answer), the second is
/// looked up and its route kept, the third takes the kept route without a
/// lookup; after the FIB changes, the next is looked up again and leaves
/// by the new route.
#[test]
fn kept_routes_skip_the_walk_until_the_fib_changes() {
    let (mut fwd, mut fib) = setup(Setup::AclIn);
    let frames = four_flows();
    let round = |fwd: &mut Forwarder, fib: &Fib| round(fwd, fib, &frames);
    let gw = vec![GW_MAC; 4];
    assert_eq!(round(&mut fwd, &fib), (4, 0, gw.clone()), "first: pipeline");
    assert_eq!(
        round(&mut fwd, &fib),
        (4, 4, gw.clone()),
        "second: looked up, kept"
    );
    assert_eq!(
        round(&mut fwd, &fib),
        (0, 4, gw.clone()),
        "third: kept routes"
    );
    reroute(&mut fib);
    // 198.51.100.1..4 are in the new /25.
    let other = vec![OTHER_GW_MAC; 4];
    assert_eq!(
        round(&mut fwd, &fib),
        (4, 4, other.clone()),
        "in place: again"
    );
    assert_eq!(round(&mut fwd, &fib), (0, 4, other), "kept again");
    let (_, fresh) = setup(Setup::AclIn);
    assert_eq!(round(&mut fwd, &fresh), (4, 4, gw), "another table: again");
}

/// When the cache's number for its FIB wraps, it starts over empty, so a
/// route kept under the number before the wrap never answers again.
#[test]
fn the_route_generation_wraps_to_an_empty_cache() {
    let (mut fwd, mut fib) = setup(Setup::AclIn);
    let frame = v4_frame("192.0.2.10", "198.51.100.1", 64, 18, false);
    let mut hints = RouteHints::new();
    let mut common = Forwarded::default();
    let mut run = |fwd: &mut Forwarder, fib: &Fib| {
        let mut batch = [frame.clone()];
        fwd.prepare_batch(fib, 0, batch.iter().map(|f| &f[..]), &mut hints);
        fwd.forward_common(fib, 0, &mut batch[..], &hints, &mut common);
        if common.mask == 0 {
            fwd.process_hinted(
                fib,
                0,
                &mut batch[0],
                0,
                &mut VecEmit::default(),
                hints.get(0),
            );
        }
        hints.looked_up_v4(0).is_some()
    };
    fwd.acl_cache.set_route_generation(u32::MAX - 1);
    for _ in 0..3 {
        run(&mut fwd, &fib);
    }
    assert!(!run(&mut fwd, &fib), "kept at generation u32::MAX");
    reroute(&mut fib);
    // The wrap cleared the sets: the flow's ACL answer is gone too.
    let misses = fwd.acl_cache.counts.misses;
    assert!(run(&mut fwd, &fib));
    assert_eq!(fwd.acl_cache.counts.misses, misses + 1, "classified again");
}

/// A link one of whose VLANs runs uRPF looks up sources with every batch:
/// its acl-in's cached permits still keep its flows on the common case
/// (as before routes were kept), but no route is kept or used.
#[test]
fn a_link_looking_up_sources_keeps_acl_answers_but_no_routes() {
    let (mut fwd, fib) = setup(Setup::AclInUrpfVlan);
    assert!(fwd.wants_sources(0));
    let frames = four_flows();
    let gw = vec![GW_MAC; 4];
    assert_eq!(
        round(&mut fwd, &fib, &frames),
        (4, 0, gw.clone()),
        "pipeline"
    );
    for _ in 0..2 {
        assert_eq!(
            round(&mut fwd, &fib, &frames),
            (4, 4, gw.clone()),
            "common case, walked"
        );
    }
}
