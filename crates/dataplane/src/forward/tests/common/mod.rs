//! The common-case pass over a batch changes nothing but speed: with it in
//! front of the frame-by-frame pipeline, every frame's verdict, bytes,
//! emitted frames and counters are those of the pipeline alone; and it does
//! take the plain frames (or it would be untested dead weight).

use std::sync::Arc;

use proptest::prelude::*;

use super::batch::frame_from;
use super::*;
use crate::forward::acl::{AclRule, AclSpec};
use crate::qos::{Classifier, FlowTuple};
use crate::testkit::rig::{vlan_connected, vlan_ports};
use crate::wire::ipv6::next_header;

mod acl;
mod egress;
mod extension_headers;
mod flow_cache;
mod frames;

use frames::*;

/// The ingress and egress settings the common case must notice.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Plain,
    /// uRPF on the ingress port.
    Urpf,
    /// An ACL on the ingress port, or on the egress port, denying
    /// 198.51.100.7 (to tell from a permit).
    AclIn,
    /// That acl-in, and uRPF on a VLAN of p0 (p0's batches look up
    /// sources; p0 itself has no uRPF).
    AclInUrpfVlan,
    AclOut,
    /// Both: that list in on p0, one denying TCP out on p1.
    AclBoth,
    /// Lists without rules (answered per batch, not per frame): permit in
    /// on p0 and out on p1, or deny in on p0.
    AclEmptyPermit,
    AclEmptyDeny,
    /// p1's MTU small enough for some frames to need fragments.
    SmallMtu,
    /// VLAN sub-interfaces: 100.66.0.0/16 leaves through p1.200 and
    /// 2001:db8:66::/48 through p0.100.
    Vlans,
    /// 100.64.0.0/10 and 2001:db8:e::/48 through a two-member group.
    Ecmp,
    /// Default routes through p1's gateway: every address has a route, so
    /// only the address tests keep martian, multicast and link-local
    /// destinations from being forwarded.
    Default,
}

const SETUPS: [Setup; 12] = [
    Setup::Plain,
    Setup::Urpf,
    Setup::AclIn,
    Setup::AclInUrpfVlan,
    Setup::AclOut,
    Setup::AclBoth,
    Setup::AclEmptyPermit,
    Setup::AclEmptyDeny,
    Setup::SmallMtu,
    Setup::Vlans,
    Setup::Ecmp,
    Setup::Default,
];

fn setup(s: Setup) -> (Forwarder, Fib) {
    let (fwd, mut fib) = rig(1000, 1000);
    let mut ports = fwd.ports().to_vec();
    let mut acls = AclTable::default();
    match s {
        Setup::Plain => {}
        Setup::Urpf => ports[0].features.urpf = Some(Urpf::Strict),
        Setup::AclIn | Setup::AclInUrpfVlan | Setup::AclOut | Setup::AclBoth => {
            let deny_7 = AclRule {
                destination: Some("198.51.100.7/32".parse().unwrap()),
                ..AclRule::any(AclAction::Deny)
            };
            let deny_tcp = AclRule {
                protocol: Some(6),
                ..AclRule::any(AclAction::Deny)
            };
            // IPv6 from the second source (`V6_SOURCES`).
            let deny_5_1 = AclRule {
                source: Some("2001:db8:5::1/128".parse().unwrap()),
                ..AclRule::any(AclAction::Deny)
            };
            acls = AclTable::compile([
                list("deny-7", AclAction::Permit, vec![deny_7, deny_5_1]),
                list("deny-tcp", AclAction::Permit, vec![deny_tcp]),
            ]);
            match s {
                Setup::AclIn => ports[0].features.acl_in = Some(0),
                Setup::AclInUrpfVlan => {
                    ports[0].features.acl_in = Some(0);
                    let mut vlan = vlan_ports()[2].clone();
                    vlan.features.urpf = Some(Urpf::Strict);
                    ports.push(vlan);
                }
                Setup::AclOut => ports[1].features.acl_out = Some(0),
                _ => {
                    ports[0].features.acl_in = Some(0);
                    ports[1].features.acl_out = Some(1);
                }
            }
        }
        Setup::AclEmptyPermit | Setup::AclEmptyDeny => {
            let default = match s {
                Setup::AclEmptyPermit => AclAction::Permit,
                _ => AclAction::Deny,
            };
            acls = AclTable::compile([list("empty", default, vec![])]);
            ports[0].features.acl_in = Some(0);
            if default == AclAction::Permit {
                ports[1].features.acl_out = Some(0);
            }
        }
        Setup::SmallMtu => ports[1].mtu = 200,
        Setup::Vlans => {
            let fib = rig::static_fib_on(
                &vlan_connected(),
                &[
                    ("198.51.100.0/24", "203.0.113.2"),
                    ("100.66.0.0/16", "100.65.0.2"),
                    ("2001:db8:2::/48", "2001:db8:1::2"),
                    ("2001:db8:66::/48", "2001:db8:64::2"),
                ],
                &[
                    ("203.0.113.2", GW_MAC, 1),
                    ("100.65.0.2", GW_MAC, 3),
                    ("2001:db8:1::2", GW_MAC, 1),
                    ("2001:db8:64::2", GW_MAC, 2),
                ],
            );
            return (rig::forwarder(vlan_ports(), 1000, 1000), fib);
        }
        Setup::Ecmp => fib = super::ecmp::ecmp_rig().1,
        Setup::Default => {
            fib = rig::static_fib(
                &[
                    ("0.0.0.0/0", "203.0.113.2"),
                    ("::/0", "2001:db8:1::2"),
                    ("10.0.0.0/8", "203.0.113.99"),
                ],
                &[("203.0.113.2", GW_MAC, 1), ("2001:db8:1::2", GW_MAC, 1)],
            )
        }
    }
    let fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 1000,
        icmp_burst: 1000,
        accept_source_route: false,
        acls: Arc::new(acls),
    });
    (fwd, fib)
}

fn list(name: &str, default: AclAction, rules: Vec<AclRule>) -> AclSpec {
    AclSpec {
        name: name.into(),
        default,
        rules,
    }
}

/// Runs `frames` (received on p0) through `plain` one by one, and through
/// `batched` as the worker does: hints, the common case, the rest one by
/// one. Everything observable must agree. Returns how many frames the
/// common case took.
fn common_equals_frame_by_frame(
    plain: &mut Forwarder,
    batched: &mut Forwarder,
    fib: &Fib,
    frames: &[Vec<u8>],
) -> Result<usize, TestCaseError> {
    let mut a = frames.to_vec();
    let mut b = frames.to_vec();
    let mut hints = RouteHints::new();
    batched.prepare_batch(fib, 0, b.iter().map(|f| &f[..]), &mut hints);
    let mut common = Forwarded {
        want_tuples: true,
        ..Forwarded::default()
    };
    batched.forward_common(fib, 0, &mut b[..], &hints, &mut common);
    let (mut emit_a, mut emit_b) = (VecEmit::default(), VecEmit::default());
    for (i, (fa, fb)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
        let va = plain.process(fib, 0, fa, 5_000, &mut emit_a);
        let vb = match common.get(i) {
            Some((port, len)) => {
                queues_see_the_same_flow(&fb[..len], common.tuple(i))?;
                Verdict::Forward {
                    port,
                    start: 0,
                    len,
                }
            }
            None => batched.process_hinted(fib, 0, fb, 5_000, &mut emit_b, hints.get(i)),
        };
        prop_assert_eq!(va, vb, "frame {}", i);
        prop_assert_eq!(&fa, &fb, "frame {} bytes", i);
    }
    prop_assert_eq!(emit_a.frames, emit_b.frames);
    prop_assert_eq!(plain.counters.summary(), batched.counters.summary());
    prop_assert_eq!(&plain.acl_hits, &batched.acl_hits);
    prop_assert_eq!(plain.acl_cache.counts, batched.acl_cache.counts);
    prop_assert_eq!(&plain.port_counters, &batched.port_counters);
    Ok(common.mask.count_ones() as usize)
}

/// The flow fields the common case passes on with a forwarded `frame`
/// (every IPv4 one's; IPv6 frames are classified from their bytes) give
/// the output queues the flow and class they read from its bytes.
fn queues_see_the_same_flow(frame: &[u8], tuple: FlowTuple) -> Result<(), TestCaseError> {
    let ipv4 = frame.get(12..14) == Some(&[0x08, 0x00]);
    prop_assert_eq!(tuple.is_known(), ipv4, "{:?}", frame);
    if ipv4 {
        // Classes by DSCP, keyed: every field the hash takes counts.
        let classifier = Classifier::with_key([3, 9], std::array::from_fn(|d| d as u8 % 5));
        prop_assert_eq!(
            classifier.classify_tuple(tuple),
            classifier.classify(frame),
            "{:?}",
            frame
        );
        prop_assert_eq!(tuple.frame_len() as usize, frame.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn common_case_equals_frame_by_frame(
        which in 0..SETUPS.len(),
        specs in proptest::collection::vec(
            (any::<u8>(), any::<usize>(), 0u8..=4, 0usize..1600,
             proptest::collection::vec(any::<u8>(), 0..80)),
            1..80),
    ) {
        let (mut plain, mut fib) = setup(SETUPS[which]);
        let (mut batched, _) = setup(SETUPS[which]);
        let frames: Vec<Vec<u8>> = specs
            .iter()
            .map(|(kind, pick, ttl, len, noise)| frame(*kind, *pick, *ttl, *len, noise))
            .collect();
        // Three times: the second batch finds the flows' ACL answers
        // cached (and keeps their routes), the third their routes too.
        let first = fib.clone();
        for _ in 0..3 {
            common_equals_frame_by_frame(&mut plain, &mut batched, &fib, &frames)?;
        }
        // The routes rewritten in place, then the first table back (as a
        // publication brings one): kept routes must not answer for either.
        flow_cache::reroute(&mut fib);
        for fib in [&fib, &fib, &first, &first] {
            common_equals_frame_by_frame(&mut plain, &mut batched, fib, &frames)?;
        }
    }
}

/// Each of `cases` (name, frame, whether the common case takes it) twice
/// in a batch on [`Setup::Plain`]: taken both times or neither, and as
/// frame by frame.
fn takes_on_a_plain_port<const N: usize>(cases: [(&str, Vec<u8>, bool); N]) {
    for (name, frame, taken) in cases {
        let (mut plain_fwd, fib) = setup(Setup::Plain);
        let (mut fwd, _) = setup(Setup::Plain);
        let frames = vec![frame.clone(), frame];
        let took = common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, &frames)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(took, if taken { 2 } else { 0 }, "{name}");
    }
}

/// Plain frames take the common case (all of them), frames with any
/// reason to stop or change take the pipeline.
#[test]
fn the_common_case_takes_plain_frames_only() {
    let plain = || v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false);
    let options = V4Frame {
        option_words: 1,
        ..V4Frame::udp("198.51.100.7".parse().unwrap())
    }
    .build();
    let mut bad_sum = plain();
    bad_sum[24] ^= 1;
    let mut other_mac = plain();
    other_mac[5] ^= 1;
    let v4 = |src, dst, ttl, len| v4_frame(src, dst, ttl, len, false);
    let (host, routed) = ("192.0.2.10", "198.51.100.7");
    let cases: [(&str, Vec<u8>, bool); 9] = [
        ("plain", plain(), true),
        ("ttl 1", v4(host, routed, 1, 18), false),
        ("options", options, false),
        ("bad checksum", bad_sum, false),
        ("another MAC", other_mac, false),
        ("martian source", v4("127.0.0.1", routed, 64, 18), false),
        ("unresolved", v4(host, "10.1.2.3", 64, 18), false),
        ("no route", v4(host, "100.64.0.1", 64, 18), false),
        ("over the MTU", v4(host, routed, 64, 1500), false),
    ];
    takes_on_a_plain_port(cases);
    // Every plain frame of a full batch, and none on a port with uRPF.
    let frames = vec![plain(); MAX_HINT_BATCH];
    for (s, expected) in [(Setup::Plain, MAX_HINT_BATCH), (Setup::Urpf, 0)] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let took = common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, &frames).unwrap();
        assert_eq!(took, expected, "{s:?}");
    }
}

/// The same for IPv6: plain frames take the common case, with padding,
/// any traffic class and flow label and through an ECMP group too; frames
/// the IPv6 path stops, answers or walks take the pipeline.
#[test]
fn the_common_case_takes_plain_ipv6_frames_only() {
    let (host, routed) = ("2001:db8::10", "2001:db8:2::7");
    let v6 = |src: &str, dst: &str, hop_limit, next, len| {
        v6_frame(src, dst, hop_limit, next, &counting(len))
    };
    let udp = next_header::UDP;
    let plain = || v6(host, routed, 64, udp, 18);
    let mut padded = plain();
    padded.extend_from_slice(&[0; 6]);
    let labelled = V6Frame {
        traffic_class: 0xff,
        flow_label: 0xfffff,
        payload: counting(18),
        ..V6Frame::udp(routed.parse().unwrap())
    }
    .build();
    let mut other_mac = plain();
    other_mac[5] ^= 1;
    let mut version_4 = plain();
    version_4[14] = 0x40;
    let mut too_long = plain();
    too_long[19] += 1;
    let fragment = V6Frame {
        fragment: Some(0),
        ..V6Frame::udp(routed.parse().unwrap())
    }
    .build();
    let mut hop_by_hop = vec![udp, 0, 1, 4, 0, 0, 0, 0];
    hop_by_hop.extend_from_slice(&[0; 8]);
    let icmp = |icmp_type: u8| {
        let mut payload = vec![0; 24];
        payload[0] = icmp_type;
        v6_frame(host, routed, 64, next_header::ICMPV6, &payload)
    };
    let cases: [(&str, Vec<u8>, bool); 21] = [
        ("plain", plain(), true),
        ("padded", padded, true),
        ("traffic class and flow label", labelled, true),
        ("TCP", v6(host, routed, 64, next_header::TCP, 20), true),
        (
            "no payload",
            v6(host, routed, 64, next_header::NO_NEXT, 0),
            true,
        ),
        ("echo request", icmp(128), true),
        ("hop limit 2", v6(host, routed, 2, udp, 18), true),
        ("hop limit 1", v6(host, routed, 1, udp, 18), false),
        ("another MAC", other_mac, false),
        ("version 4", version_4, false),
        ("payload length past the frame", too_long, false),
        ("fragment header", fragment, false),
        (
            "hop-by-hop header",
            v6_frame(host, routed, 64, next_header::HOP_BY_HOP, &hop_by_hop),
            false,
        ),
        ("neighbour solicitation", icmp(135), false),
        (
            "link-local source",
            v6("fe80::9", routed, 64, udp, 18),
            false,
        ),
        (
            "multicast source",
            v6("ff02::2", routed, 64, udp, 18),
            false,
        ),
        (
            "link-local destination",
            v6(host, "fe80::1", 64, udp, 18),
            false,
        ),
        (
            "multicast destination",
            v6(host, "ff02::1", 64, udp, 18),
            false,
        ),
        ("ours", v6(host, "2001:db8::1", 64, udp, 18), false),
        ("unresolved", v6(host, "2001:db8:1::9", 64, udp, 18), false),
        ("over the MTU", v6(host, routed, 64, udp, 1400), false),
    ];
    takes_on_a_plain_port(cases);
    let no_route = vec![v6(host, "2001:db8:9::1", 64, udp, 18); 2];
    let ecmp = |label| V6Frame {
        flow_label: label,
        ..V6Frame::udp("2001:db8:e::5".parse().unwrap())
    };
    let through_vlan = vec![v6(host, "2001:db8:66::9", 64, udp, 18); 2];
    // A mixed batch: IPv4 and IPv6 alike; ECMP (the members by flow
    // label); a VLAN egress, no route, ports with ACLs or uRPF: none.
    let mixed: Vec<Vec<u8>> = (0..MAX_HINT_BATCH)
        .map(|i| match i % 3 {
            0 => v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false),
            1 => plain(),
            _ => ecmp(i as u32 * 7919).build(),
        })
        .collect();
    let ecmp_batch: Vec<Vec<u8>> = (0..16).map(|i| ecmp(i * 7919).build()).collect();
    // With default routes only the address tests stop these; addresses
    // starting as the stopped ones do but forwarded take the common case.
    let default_cases = |src, dst| vec![v6(src, dst, 64, udp, 18); 2];
    let nat64 = default_cases(host, "64:ff9b::c633:6407");
    let site_local = default_cases("fec0::9", routed);
    let mapped = default_cases("::ffff:192.0.2.10", routed);
    let to_group = default_cases(host, "ff02::1");
    let to_loopback = default_cases(host, "::1");
    let to_link = default_cases(host, "fe80::1");
    let runs: [(Setup, &[Vec<u8>], usize); 12] = [
        (Setup::Default, &nat64, 2),
        (Setup::Default, &site_local, 2),
        (Setup::Default, &mapped, 2),
        (Setup::Default, &to_group, 0),
        (Setup::Default, &to_loopback, 0),
        (Setup::Default, &to_link, 0),
        (Setup::Plain, &no_route, 0),
        (Setup::Vlans, &through_vlan, 0),
        (Setup::Vlans, &[plain(), plain()], 2),
        (Setup::Ecmp, &ecmp_batch, 16),
        (Setup::Ecmp, &mixed, MAX_HINT_BATCH),
        (Setup::Urpf, &mixed, 0),
    ];
    for (s, frames, expected) in runs {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        // Twice: an ACL's answers are cached for the second.
        for _ in 0..2 {
            let took =
                common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, frames).unwrap();
            assert_eq!(took, expected, "{s:?}");
        }
    }
}

/// Hints prepared over other frames (another destination's route) are not
/// used: the frames go to the pipeline, which finds their own route.
#[test]
fn the_common_case_ignores_hints_for_other_destinations() {
    let udp = next_header::UDP;
    let v6 = |dst| v6_frame("2001:db8::10", dst, 64, udp, &[0; 18]);
    let families = [
        (
            v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false),
            v4_frame("192.0.2.10", "10.1.2.3", 64, 18, false),
        ),
        (v6("2001:db8:2::7"), v6("2001:db8:1::9")),
    ];
    for (routed, unresolved) in families {
        let (mut fwd, fib) = setup(Setup::Plain);
        let routed = vec![routed; 2];
        let mut frames = vec![unresolved.clone(); 2];
        let mut hints = RouteHints::new();
        hints.prepare(&fib, routed.iter().map(|f| &f[..]));
        let mut common = Forwarded::default();
        fwd.forward_common(&fib, 0, &mut frames[..], &hints, &mut common);
        assert_eq!(common.mask, 0);
        assert_eq!(frames[0], unresolved);
        assert_eq!(fwd.counters.rx_frames, 0);
    }
}
