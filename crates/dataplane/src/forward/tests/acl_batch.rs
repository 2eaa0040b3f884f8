//! The batch path with inbound ACLs (routes, and sources for uRPF, looked
//! up for the whole batch ahead, as the workers and the bench run it)
//! changes nothing: every frame's verdict, bytes, emitted frames, counters
//! and rule hits are those of the frame-by-frame pipeline (replay's), over
//! random lists and packets, on a port and on a VLAN sub-interface with
//! lists of their own.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use proptest::prelude::*;

use super::batch::batch_equals_frame_by_frame;
use super::*;
use crate::forward::acl::tests::{arb_addr, arb_rule};
use crate::forward::acl::{AclRule, AclSpec};
use crate::testkit::frames::tagged;

/// The VLAN on p0 whose sub-interface (port 2) has an ACL of its own.
const VID: u16 = 100;

/// `rig` with ACL 0 (`rules`, default deny) in on p0 and ACL 1 (its
/// rules reversed, default permit) in on p0's VLAN [`VID`].
fn batch_rig(rules: &[AclRule]) -> (Forwarder, Fib) {
    let (fwd, fib) = rig(1000, 1000);
    let mut ports = fwd.ports().to_vec();
    ports[0].features.acl_in = Some(0);
    ports[0].features.urpf = Some(Urpf::Loose);
    let mut sub = ports[0].clone();
    sub.name = "p0.100".into();
    sub.vlan = Some(Vlan { parent: 0, id: VID });
    sub.features.acl_in = Some(1);
    ports.push(sub);
    let table = AclTable::compile([
        AclSpec {
            name: "p0".into(),
            default: AclAction::Deny,
            rules: rules.to_vec(),
        },
        AclSpec {
            name: "p0.100".into(),
            default: AclAction::Permit,
            rules: rules.iter().rev().copied().collect(),
        },
    ]);
    let fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 1000,
        icmp_burst: 1000,
        accept_source_route: false,
        acls: Arc::new(table),
    });
    (fwd, fib)
}

/// What a random frame is made of: source, destination, protocol, ports,
/// fragment offset, tagged, bytes flipped in the IP header.
type FrameSpec = (IpAddr, IpAddr, u8, Option<(u16, u16)>, u16, bool, Vec<u8>);

fn arb_frame() -> impl Strategy<Value = FrameSpec> {
    (
        arb_addr(true),
        prop_oneof![
            arb_addr(true),
            Just(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
        ],
        prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()],
        prop::option::of((0u16..40, 0u16..40)),
        prop_oneof![3 => Just(0u16), 1 => 1u16..100],
        any::<bool>(),
        // Mostly clean; some with header bytes flipped.
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(any::<u8>(), 0..24)],
    )
}

fn build(spec: &FrameSpec) -> Vec<u8> {
    let (src, dst, protocol, ports, offset, vlan, noise) = spec;
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(a) => *a,
        IpAddr::V6(_) => unreachable!("IPv4 pool"),
    };
    let mut f = V4Frame {
        src: v4(src),
        protocol: *protocol,
        fragment_offset: *offset,
        ports: *ports,
        payload: vec![5; 12],
        ..V4Frame::udp(v4(dst))
    }
    .build();
    for (b, n) in f[14..34].iter_mut().zip(noise) {
        *b ^= n;
    }
    if *vlan {
        f = tagged(&f, VID);
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn batch_with_acls_equals_frame_by_frame(
        rules in prop::collection::vec(arb_rule(), 1..150),
        specs in prop::collection::vec(arb_frame(), 1..80),
    ) {
        let (mut plain, fib) = batch_rig(&rules);
        let (mut hinted, _) = batch_rig(&rules);
        let frames: Vec<Vec<u8>> = specs.iter().map(build).collect();
        let mut hints = RouteHints::new();
        let sources = hinted.wants_sources(0);
        prop_assert!(sources);
        hints.prepare_with_sources(&fib, frames.iter().map(|f| &f[..]), sources);
        batch_equals_frame_by_frame(&mut plain, &mut hinted, &fib, &frames, &hints)?;
    }
}
