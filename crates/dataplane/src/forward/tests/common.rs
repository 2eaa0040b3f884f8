//! The common-case pass over a batch changes nothing but speed: with it in
//! front of the frame-by-frame pipeline, every frame's verdict, bytes,
//! emitted frames and counters are those of the pipeline alone; and it does
//! take the plain frames (or it would be untested dead weight).

use std::sync::Arc;

use proptest::prelude::*;

use super::batch::frame_from;
use super::*;
use crate::forward::acl::{AclRule, AclSpec};
use crate::testkit::rig::{vlan_connected, vlan_ports};

/// The ingress and egress settings the common case must notice.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Plain,
    /// uRPF on the ingress port.
    Urpf,
    /// An ACL on the ingress port, or on the egress port, denying
    /// 198.51.100.7 (to tell from a permit).
    AclIn,
    AclOut,
    /// Both: that list in on p0, one denying TCP out on p1.
    AclBoth,
    /// Lists without rules (answered per batch, not per frame): permit in
    /// on p0 and out on p1, or deny in on p0.
    AclEmptyPermit,
    AclEmptyDeny,
    /// p1's MTU small enough for some frames to need fragments.
    SmallMtu,
    /// VLAN sub-interfaces: 100.66.0.0/16 leaves through p1.200.
    Vlans,
}

const SETUPS: [Setup; 9] = [
    Setup::Plain,
    Setup::Urpf,
    Setup::AclIn,
    Setup::AclOut,
    Setup::AclBoth,
    Setup::AclEmptyPermit,
    Setup::AclEmptyDeny,
    Setup::SmallMtu,
    Setup::Vlans,
];

fn setup(s: Setup) -> (Forwarder, Fib) {
    let (fwd, fib) = rig(1000, 1000);
    let mut ports = fwd.ports().to_vec();
    let mut acls = AclTable::default();
    match s {
        Setup::Plain => {}
        Setup::Urpf => ports[0].features.urpf = Some(Urpf::Strict),
        Setup::AclIn | Setup::AclOut | Setup::AclBoth => {
            let deny_7 = AclRule {
                destination: Some("198.51.100.7/32".parse().unwrap()),
                ..AclRule::any(AclAction::Deny)
            };
            let deny_tcp = AclRule {
                protocol: Some(6),
                ..AclRule::any(AclAction::Deny)
            };
            acls = AclTable::compile([
                list("deny-7", AclAction::Permit, vec![deny_7]),
                list("deny-tcp", AclAction::Permit, vec![deny_tcp]),
            ]);
            match s {
                Setup::AclIn => ports[0].features.acl_in = Some(0),
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
                ],
                &[("203.0.113.2", GW_MAC, 1), ("100.65.0.2", GW_MAC, 3)],
            );
            return (rig::forwarder(vlan_ports(), 1000, 1000), fib);
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

/// The batch tests' frames, plus plain frames to 198.51.100.x and
/// 100.66.0.x (a VLAN's route in [`Setup::Vlans`]) with random IP options,
/// ECN bits and Ethernet padding.
fn frame(kind: u8, pick: usize, ttl: u8, len: usize, noise: &[u8]) -> Vec<u8> {
    match kind % 6 {
        4 | 5 => {
            let dst = if kind % 6 == 4 {
                "198.51.100.7"
            } else {
                "100.66.0.9"
            };
            let mut f = V4Frame {
                src: "192.0.2.10".parse().unwrap(),
                ttl,
                dscp_ecn: pick as u8,
                dont_fragment: pick.is_multiple_of(3),
                option_words: usize::from(pick % 5 == 2),
                payload: counting(len),
                ..V4Frame::udp(dst.parse().unwrap())
            }
            .build();
            if pick % 7 == 1 {
                // Ethernet padding after the IP packet.
                f.extend_from_slice(&[0; 9]);
            }
            f
        }
        k => frame_from(k, pick, ttl, len, noise),
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
    hints.prepare(fib, b.iter().map(|f| &f[..]));
    let mut common = Forwarded::default();
    batched.forward_common(fib, 0, &mut b[..], &hints, &mut common);
    let (mut emit_a, mut emit_b) = (VecEmit::default(), VecEmit::default());
    for (i, (fa, fb)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
        let va = plain.process(fib, 0, fa, 5_000, &mut emit_a);
        let vb = match common.get(i) {
            Some((port, len)) => Verdict::Forward {
                port,
                start: 0,
                len,
            },
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
        let (mut plain, fib) = setup(SETUPS[which]);
        let (mut batched, _) = setup(SETUPS[which]);
        let frames: Vec<Vec<u8>> = specs
            .iter()
            .map(|(kind, pick, ttl, len, noise)| frame(*kind, *pick, *ttl, *len, noise))
            .collect();
        // Twice: the second batch finds the flows' ACL answers cached.
        common_equals_frame_by_frame(&mut plain, &mut batched, &fib, &frames)?;
        common_equals_frame_by_frame(&mut plain, &mut batched, &fib, &frames)?;
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
    for (name, frame, taken) in cases {
        let (mut plain_fwd, fib) = setup(Setup::Plain);
        let (mut fwd, _) = setup(Setup::Plain);
        let frames = vec![frame.clone(), frame];
        let took = common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, &frames)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(took, if taken { 2 } else { 0 }, "{name}");
    }
    // Every plain frame of a full batch, and none on a port with uRPF.
    let frames = vec![plain(); MAX_HINT_BATCH];
    for (s, expected) in [(Setup::Plain, MAX_HINT_BATCH), (Setup::Urpf, 0)] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let took = common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, &frames).unwrap();
        assert_eq!(took, expected, "{s:?}");
    }
}

/// With an ACL on either port, a flow takes the common case once the
/// worker's ACL cache holds its permit (after its first packet went
/// through the pipeline), never while it does not, and never when denied;
/// the counts are the pipeline's.
#[test]
fn acl_flows_take_the_common_case_once_their_permit_is_cached() {
    let permitted = vec![v4_frame("192.0.2.10", "198.51.100.8", 64, 18, false); 4];
    let denied = vec![v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false); 4];
    for s in [Setup::AclIn, Setup::AclOut] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let mut run = |frames: &[Vec<u8>]| {
            common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, frames).unwrap()
        };
        assert_eq!(run(&permitted), 0, "{s:?}: a cold cache");
        assert_eq!(run(&permitted), 4, "{s:?}: cached");
        assert_eq!(run(&denied), 0, "{s:?}: denied");
        assert_eq!(run(&denied), 0, "{s:?}: denied, cached");
        assert_eq!(fwd.acl_hits, vec![vec![8, 8], vec![0, 0]], "{s:?}");
        // Each flow's first packet misses; every later one hits, counted
        // once whichever path answered it.
        assert_eq!(fwd.acl_cache.counts.hits, 3 + 4 + 3 + 4, "{s:?}");
        assert_eq!(fwd.acl_cache.counts.misses, 2, "{s:?}");
    }
}

/// Lists without rules answer without the cache: their permitted flows
/// take the common case from the first packet, counted on the default;
/// their denied ones never do.
#[test]
fn empty_lists_answer_the_common_case_at_once() {
    let frames = vec![v4_frame("192.0.2.10", "198.51.100.8", 64, 18, false); 4];
    for (s, common) in [(Setup::AclEmptyPermit, 4), (Setup::AclEmptyDeny, 0)] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let mut run = |frames: &[Vec<u8>]| {
            common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, frames).unwrap()
        };
        assert_eq!(run(&frames), common, "{s:?}");
        assert_eq!(run(&frames), common, "{s:?}");
        // acl-in and acl-out (the same list) each count every packet.
        let per_packet = if common > 0 { 2 } else { 1 };
        assert_eq!(fwd.acl_hits, vec![vec![8 * per_packet]], "{s:?}");
        assert_eq!(fwd.acl_cache.counts, Default::default(), "{s:?}");
    }
}

/// Hints prepared over other frames (another destination's route) are not
/// used: the frames go to the pipeline, which finds their own route.
#[test]
fn the_common_case_ignores_hints_for_other_destinations() {
    let (mut fwd, fib) = setup(Setup::Plain);
    let routed = vec![v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false); 2];
    let mut unresolved = vec![v4_frame("192.0.2.10", "10.1.2.3", 64, 18, false); 2];
    let mut hints = RouteHints::new();
    hints.prepare(&fib, routed.iter().map(|f| &f[..]));
    let mut common = Forwarded::default();
    fwd.forward_common(&fib, 0, &mut unresolved[..], &hints, &mut common);
    assert_eq!(common.mask, 0);
    assert_eq!(
        unresolved[0],
        v4_frame("192.0.2.10", "10.1.2.3", 64, 18, false)
    );
    assert_eq!(fwd.counters.rx_frames, 0);
}
