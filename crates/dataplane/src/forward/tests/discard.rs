//! Discard routes: blackhole (silent), unreachable and prohibit (ICMP errors),
//! each with its own drop reason, under longest match.

use super::v4::check_icmp_v4;
use super::v6::check_icmp_v6;
use super::*;
use crate::fib::{build_static, Discard, RouteTarget, StaticNeighbor, StaticRoute};
use crate::wire::icmp;
use crate::wire::ipv6::next_header;

/// The rig's ports with discard routes for 10/8 and 2001:db8:a::/48 of
/// `action`, and forwarding routes for 10.1.2.0/24 and 2001:db8:a:1::/64
/// inside them.
fn discard_rig(action: Discard, icmp_rate: u32, icmp_burst: u32) -> (Forwarder, Fib) {
    let route = |prefix: &str, target| StaticRoute {
        prefix: prefix.parse().unwrap(),
        target,
    };
    let gateway = |a: &str| RouteTarget::Via(a.parse().unwrap());
    let routes = [
        route("10.0.0.0/8", RouteTarget::Discard(action)),
        route("10.1.2.0/24", gateway("203.0.113.2")),
        route("2001:db8:a::/48", RouteTarget::Discard(action)),
        route("2001:db8:a:1::/64", gateway("2001:db8:1::2")),
    ];
    let neighbors = ["203.0.113.2", "2001:db8:1::2"].map(|a| StaticNeighbor {
        address: a.parse().unwrap(),
        mac: GW_MAC,
        port: 1,
    });
    let fib = build_static(&rig::connected(), &routes, &neighbors).unwrap();
    (rig::forwarder(rig::ports(), icmp_rate, icmp_burst), fib)
}

const V4_CAUGHT: &str = "10.9.9.9";
const V6_CAUGHT: &str = "2001:db8:a:2::9";

#[test]
fn a_more_specific_route_inside_a_discard_route_still_forwards() {
    for action in Discard::ALL {
        let (mut fwd, fib) = discard_rig(action, 100, 10);
        let mut f = v4_frame("192.0.2.10", "10.1.2.3", 64, 20, false);
        assert!(matches!(
            run(&mut fwd, &fib, &mut f).0,
            Verdict::Forward { port: 1, .. }
        ));
        let mut f = v6_frame(
            "2001:db8::10",
            "2001:db8:a:1::3",
            64,
            next_header::UDP,
            &[0; 8],
        );
        assert!(matches!(
            run(&mut fwd, &fib, &mut f).0,
            Verdict::Forward { port: 1, .. }
        ));
        assert_eq!(fwd.counters.total_dropped(), 0, "{action:?}");
    }
}

#[test]
fn blackhole_drops_silently_with_its_reason() {
    let (mut fwd, fib) = discard_rig(Discard::Blackhole, 100, 10);
    let mut f = v4_frame("192.0.2.10", V4_CAUGHT, 64, 20, false);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::BlackholeRoute));
    assert!(emit.frames.is_empty());
    assert_eq!(f, original, "a dropped frame is left as received");
    let mut f = v6_frame("2001:db8::10", V6_CAUGHT, 64, next_header::UDP, &[0; 8]);
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::BlackholeRoute));
    assert!(emit.frames.is_empty());
    assert_eq!(fwd.counters.dropped(DropReason::BlackholeRoute), 2);
    assert_eq!(fwd.counters.icmp_sent, 0);
}

#[test]
fn blackhole_is_silent_even_when_the_ttl_runs_out() {
    let (mut fwd, fib) = discard_rig(Discard::Blackhole, 100, 10);
    let mut f = v4_frame("192.0.2.10", V4_CAUGHT, 1, 20, false);
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::BlackholeRoute));
    assert!(emit.frames.is_empty());
}

/// Sends one IPv4 and one IPv6 packet into a discard route of `action`
/// (TTL 1 for IPv4: the route answers before the TTL check, as Linux does)
/// and checks the error's type and code.
fn answers_with(action: Discard, reason: DropReason, v4_code: u8, v6_code: u8) {
    let (mut fwd, fib) = discard_rig(action, 100, 10);
    let mut f = v4_frame("192.0.2.10", V4_CAUGHT, 1, 20, false);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(reason));
    assert_eq!(emit.frames.len(), 1);
    assert_eq!(emit.frames[0].0, 0, "sent back out of the ingress port");
    check_icmp_v4(
        &emit.frames[0].1,
        icmp::v4::DEST_UNREACHABLE,
        v4_code,
        0,
        &original,
    );
    let mut f = v6_frame("2001:db8::10", V6_CAUGHT, 64, next_header::UDP, &[7; 8]);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(reason));
    assert_eq!(emit.frames.len(), 1);
    check_icmp_v6(
        &emit.frames[0].1,
        icmp::v6::DEST_UNREACHABLE,
        v6_code,
        0,
        &original,
    );
    assert_eq!(fwd.counters.dropped(reason), 2);
    assert_eq!(fwd.counters.icmp_sent, 2);
}

#[test]
fn unreachable_answers_host_unreachable_and_no_route() {
    // ICMPv6 code 0 (no route), the code Linux's ip6_pkt_discard sends.
    answers_with(Discard::Unreachable, DropReason::UnreachableRoute, 1, 0);
}

#[test]
fn prohibit_answers_administratively_prohibited() {
    answers_with(Discard::Prohibit, DropReason::ProhibitRoute, 13, 1);
}

#[test]
fn discard_errors_are_rate_limited_and_still_counted() {
    let (mut fwd, fib) = discard_rig(Discard::Prohibit, 10, 2);
    let mut sent = 0;
    for i in 0..5u64 {
        let mut f = v4_frame("192.0.2.10", V4_CAUGHT, 64, 8, false);
        let mut emit = VecEmit::default();
        let v = fwd.process(&fib, 0, &mut f, 1_000_000_000 + i, &mut emit);
        assert_eq!(v, Verdict::Drop(DropReason::ProhibitRoute));
        sent += emit.frames.len();
    }
    assert_eq!(sent, 2, "burst of 2");
    assert_eq!(fwd.counters.icmp_rate_limited, 3);
    assert_eq!(fwd.counters.dropped(DropReason::ProhibitRoute), 5);
}
