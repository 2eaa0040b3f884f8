//! uRPF (RFC 3704) in the pipeline: strict and loose, both families,
//! counted per port, never answered, and the same with batched source
//! lookups; the check itself against a reference over random FIBs.

use proptest::prelude::*;

use super::*;
use crate::fib::{CowArc, Discard};
use crate::forward::urpf;
use crate::wire::ipv6::next_header;

/// The rig with uRPF `mode` on p0 (frames arrive there in `run`).
fn urpf_rig(mode: Urpf) -> (Forwarder, Fib) {
    let (fwd, fib) = rig(100, 10);
    let mut ports = fwd.ports().to_vec();
    ports[0].features.urpf = Some(mode);
    (rig::forwarder(ports, 100, 10), fib)
}

fn verdict(fwd: &mut Forwarder, fib: &Fib, src: &str, dst: &str, ttl: u8) -> (Verdict, usize) {
    let mut f = if src.contains(':') {
        v6_frame(src, dst, ttl, next_header::UDP, &[0; 8])
    } else {
        v4_frame(src, dst, ttl, 20, false)
    };
    let (v, emit) = run(fwd, fib, &mut f);
    (v, emit.frames.len())
}

const FORWARD_P1: fn(Verdict) -> bool = |v| matches!(v, Verdict::Forward { port: 1, .. });

#[test]
fn strict_passes_sources_routed_back_through_the_ingress_port_only() {
    let (mut fwd, fib) = urpf_rig(Urpf::Strict);
    // 192.0.2.0/24 is p0's subnet: passes.
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "192.0.2.10", "198.51.100.7", 64).0
    ));
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "2001:db8::10", "2001:db8:2::7", 64).0
    ));
    // Routed through p1, or not at all: dropped, with no ICMP, even at TTL 1.
    for (src, dst) in [
        ("198.51.100.9", "198.51.100.7"),
        ("8.8.8.8", "198.51.100.7"),
        ("2001:db8:2::9", "2001:db8:2::7"),
        ("2001:db9::9", "2001:db8:2::7"),
    ] {
        for ttl in [64, 1] {
            let (v, emitted) = verdict(&mut fwd, &fib, src, dst, ttl);
            assert_eq!(v, Verdict::Drop(DropReason::UrpfStrict), "{src}");
            assert_eq!(emitted, 0, "{src}: uRPF drops are never answered");
        }
    }
    assert_eq!(fwd.counters.dropped(DropReason::UrpfStrict), 8);
    assert_eq!(fwd.port_counters[0].urpf_dropped, 8);
    assert_eq!(fwd.port_counters[1], PortFeatureCounters::default());
}

#[test]
fn strict_accepts_any_ecmp_member_and_a_default_route_through_the_port() {
    let (mut fwd, mut fib) = urpf_rig(Urpf::Strict);
    let member = |port| NextHop::Adjacency { port, mac: GW_MAC };
    let spread = fib.groups_mut().add(&[member(1), member(0)]);
    fib.v4.insert("100.64.0.0/10".parse().unwrap(), spread);
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "100.64.0.1", "198.51.100.7", 64).0
    ));
    let default = fib.groups_mut().add(&[member(0)]);
    fib.v4.insert("0.0.0.0/0".parse().unwrap(), default);
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "8.8.8.8", "198.51.100.7", 64).0
    ));
    assert_eq!(fwd.counters.total_dropped(), 0);
}

#[test]
fn loose_needs_a_route_other_than_the_default_or_a_discard_route() {
    let (mut fwd, mut fib) = urpf_rig(Urpf::Loose);
    // Any port will do.
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "198.51.100.9", "198.51.100.7", 64).0
    ));
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "2001:db8:2::9", "2001:db8:2::7", 64).0
    ));
    let loose_drop = Verdict::Drop(DropReason::UrpfLoose);
    assert_eq!(
        verdict(&mut fwd, &fib, "8.8.8.8", "198.51.100.7", 64).0,
        loose_drop
    );
    // A default route of its own next hop does not make a source valid ...
    let upstream = fib.groups_mut().add(&[NextHop::Glean { port: 1 }]);
    fib.v4.insert("0.0.0.0/0".parse().unwrap(), upstream);
    assert_eq!(
        verdict(&mut fwd, &fib, "8.8.8.8", "198.51.100.7", 64).0,
        loose_drop
    );
    // ... nor one sharing its next hop with real routes (the slow check).
    let gw = fib.v4.lookup("198.51.100.1".parse().unwrap()).unwrap();
    fib.v4.insert("0.0.0.0/0".parse().unwrap(), gw);
    assert_eq!(fib.v4.default_route(), Some((gw, true)));
    assert_eq!(
        verdict(&mut fwd, &fib, "8.8.8.8", "198.51.100.7", 64).0,
        loose_drop
    );
    assert!(FORWARD_P1(
        verdict(&mut fwd, &fib, "198.51.100.9", "198.51.100.7", 64).0
    ));
    // The same through what workers read: a lookup-only (packed) copy,
    // which keeps the default route's facts as fields.
    let mut published = fib.clone();
    published.v4 = CowArc::new(fib.v4.lookup_copy());
    assert!(published.v4.is_packed());
    assert_eq!(
        verdict(&mut fwd, &published, "8.8.8.8", "198.51.100.7", 64).0,
        loose_drop
    );
    assert!(FORWARD_P1(
        verdict(&mut fwd, &published, "198.51.100.9", "198.51.100.7", 64).0
    ));
    // Sources inside a discard route fail (RFC 5635 source-based RTBH).
    let hole = fib
        .groups_mut()
        .add(&[NextHop::Discard(Discard::Blackhole)]);
    fib.v4.insert("198.51.100.128/25".parse().unwrap(), hole);
    assert_eq!(
        verdict(&mut fwd, &fib, "198.51.100.200", "198.51.100.7", 64).0,
        loose_drop
    );
    assert_eq!(fwd.port_counters[0].urpf_dropped, 5);
}

#[test]
fn urpf_judges_transit_only_and_leaves_link_local_sources_to_their_rule() {
    let (mut fwd, fib) = urpf_rig(Urpf::Strict);
    // For the router itself: the kernel's business (the XDP program passes it).
    assert_eq!(
        verdict(&mut fwd, &fib, "8.8.8.8", "192.0.2.1", 64).0,
        Verdict::Local
    );
    let (v, emitted) = verdict(&mut fwd, &fib, "fe80::1", "2001:db8:2::7", 64);
    assert_eq!((v, emitted), (Verdict::Drop(DropReason::LinkLocal), 1));
    // Unspecified and other martian sources keep their own reason.
    let v = verdict(&mut fwd, &fib, "0.0.0.0", "198.51.100.7", 64).0;
    assert_eq!(v, Verdict::Drop(DropReason::MartianSource));
    assert_eq!(fwd.port_counters[0].urpf_dropped, 0);
}

#[test]
fn batched_source_lookups_give_the_same_verdicts() {
    let (mut plain, fib) = urpf_rig(Urpf::Strict);
    let mut hinted = plain.clone();
    let frames: Vec<Vec<u8>> = [
        ("192.0.2.10", "198.51.100.7"),
        ("198.51.100.9", "198.51.100.7"),
        ("2001:db8::10", "2001:db8:2::7"),
        ("2001:db8:2::9", "2001:db8:2::7"),
    ]
    .iter()
    .map(|(s, d)| match s.contains(':') {
        true => v6_frame(s, d, 64, next_header::UDP, &[0; 8]),
        false => v4_frame(s, d, 64, 20, false),
    })
    .collect();
    let mut hints = RouteHints::new();
    hints.prepare_with_sources(&fib, frames.iter().map(|f| &f[..]), true);
    assert!(matches!(hints.get(1).src, RouteHint::V4(..)));
    assert!(matches!(hints.get(3).src, RouteHint::V6(..)));
    for (i, f) in frames.iter().enumerate() {
        let (mut a, mut b) = (f.clone(), f.clone());
        let va = plain.process(&fib, 0, &mut a, 0, &mut VecEmit::default());
        let vb = hinted.process_hinted(&fib, 0, &mut b, 0, &mut VecEmit::default(), hints.get(i));
        assert_eq!((va, &a), (vb, &b));
    }
    assert_eq!(plain.counters, hinted.counters);
    assert_eq!(hinted.counters.dropped(DropReason::UrpfStrict), 2);
    // Without `sources` no source is looked up.
    hints.prepare(&fib, frames.iter().map(|f| &f[..]));
    assert_eq!(hints.get(1).src, RouteHint::None);
}

/// What RFC 3704 says, from the control-side record's longest match.
fn reference(fib: &Fib, mode: Urpf, ingress: PortId, src: std::net::Ipv4Addr) -> bool {
    let Some((net, group)) = fib.v4.lookup_prefix(src) else {
        return false;
    };
    let port = |nh: &NextHop| match *nh {
        NextHop::Adjacency { port, .. } | NextHop::Glean { port } => Some(port),
        NextHop::Unresolved { port, .. } => Some(port),
        NextHop::Local | NextHop::Discard(_) => None,
    };
    let members = fib.groups().members(group);
    match mode {
        Urpf::Strict => members.iter().any(|nh| port(nh) == Some(ingress)),
        Urpf::Loose => net.prefix_len() > 0 && members.iter().any(|nh| port(nh).is_some()),
    }
}

proptest! {
    /// Random prefixes (a default route among them or not) over a few
    /// groups that routes share: ports, ECMP, discard and local next hops.
    #[test]
    fn urpf_equals_a_reference_lookup(
        routes in prop::collection::vec((any::<u32>(), 0u8..=24, 0usize..5), 1..40),
        sources in prop::collection::vec(any::<u32>(), 1..40),
        ingress in 0u16..3,
    ) {
        let mut fib = Fib::default();
        let adj = |port| NextHop::Adjacency { port, mac: GW_MAC };
        let groups = [
            fib.groups_mut().add(&[adj(0)]),
            fib.groups_mut().add(&[adj(1), adj(2)]),
            fib.groups_mut().add(&[NextHop::Glean { port: 2 }]),
            fib.groups_mut().add(&[NextHop::Discard(Discard::Blackhole)]),
            fib.groups_mut().add(&[NextHop::Local]),
        ];
        for &(addr, len, g) in &routes {
            let net = ipnet::Ipv4Net::new(addr.into(), len).unwrap().trunc();
            fib.v4.insert(net, groups[g]);
        }
        // Sources in and near the routes' prefixes, and anywhere.
        let near = routes.iter().map(|&(a, _, _)| a ^ 0xff);
        for src in sources.into_iter().chain(near).map(std::net::Ipv4Addr::from) {
            let group = fib.v4.lookup(src);
            for mode in Urpf::ALL {
                prop_assert_eq!(
                    urpf::check_v4(&fib, mode, ingress, src, group),
                    reference(&fib, mode, ingress, src),
                    "{:?} {}", mode, src
                );
            }
        }
    }
}
