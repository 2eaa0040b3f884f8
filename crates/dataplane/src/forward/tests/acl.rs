//! ACLs in the pipeline: in on the ingress port, out on the egress port,
//! deny silent, reject answered, every decision counted by its rule.

use std::sync::Arc;

use super::v4::check_icmp_v4;
use super::*;
use crate::forward::acl::{AclRule, AclSpec, PortRange};
use crate::wire::icmp;
use crate::wire::ipv6::next_header;
use crate::wire::Ipv4Packet;

/// ACL 0 "in": reject UDP to port 22, deny 192.0.2.66, permit the rest;
/// ACL 1 "out": deny UDP to 2001:db8:2::/48, permit the rest.
fn acl_rig(in_on_p0: bool, out_on_p1: bool) -> (Forwarder, Fib) {
    let (fwd, fib) = rig(100, 10);
    let table = AclTable::compile([
        AclSpec {
            name: "in".into(),
            default: AclAction::Permit,
            rules: vec![
                AclRule {
                    protocol: Some(17),
                    destination_port: Some(PortRange {
                        first: 22,
                        last: 22,
                    }),
                    ..AclRule::any(AclAction::Reject)
                },
                AclRule {
                    source: Some("192.0.2.66/32".parse().unwrap()),
                    ..AclRule::any(AclAction::Deny)
                },
            ],
        },
        AclSpec {
            name: "out".into(),
            default: AclAction::Permit,
            rules: vec![AclRule {
                destination: Some("2001:db8:2::/48".parse().unwrap()),
                protocol: Some(next_header::UDP),
                ..AclRule::any(AclAction::Deny)
            }],
        },
    ]);
    let mut ports = fwd.ports().to_vec();
    ports[0].features.acl_in = in_on_p0.then_some(0);
    ports[1].features.acl_out = out_on_p1.then_some(1);
    let fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 100,
        icmp_burst: 10,
        accept_source_route: false,
        acls: Arc::new(table),
    });
    (fwd, fib)
}

#[test]
fn acl_in_rejects_with_icmp_denies_silently_and_counts_each_rule() {
    let (mut fwd, fib) = acl_rig(true, false);
    let mut ssh = udp_to("192.0.2.10", 22);
    let original = ssh.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut ssh);
    assert_eq!(v, Verdict::Drop(DropReason::AclInReject));
    assert_eq!(emit.frames.len(), 1);
    check_icmp_v4(
        &emit.frames[0].1,
        icmp::v4::DEST_UNREACHABLE,
        icmp::v4::CODE_ADMIN_PROHIBITED,
        0,
        &original,
    );
    let (v, emit) = run(&mut fwd, &fib, &mut udp_to("192.0.2.66", 53));
    assert_eq!(
        (v, emit.frames.len()),
        (Verdict::Drop(DropReason::AclInDeny), 0)
    );
    for _ in 0..3 {
        let v = run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 53)).0;
        assert!(matches!(v, Verdict::Forward { port: 1, .. }));
    }
    assert_eq!(fwd.acl_hits, vec![vec![1, 1, 3], vec![0, 0]]);
    assert_eq!(fwd.port_counters[0].acl_in_dropped, 2);
    assert_eq!(fwd.counters.total_dropped(), 2);
}

#[test]
fn non_first_fragments_skip_port_rules_but_not_address_rules() {
    let (mut fwd, fib) = acl_rig(true, false);
    let mut fragment = udp_to("192.0.2.10", 22);
    Ipv4Packet::new_unchecked(&mut fragment[14..]).set_fragment(false, 100);
    Ipv4Packet::new_unchecked(&mut fragment[14..]).fill_checksum();
    let v = run(&mut fwd, &fib, &mut fragment).0;
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let mut fragment = udp_to("192.0.2.66", 22);
    Ipv4Packet::new_unchecked(&mut fragment[14..]).set_fragment(false, 100);
    Ipv4Packet::new_unchecked(&mut fragment[14..]).fill_checksum();
    let v = run(&mut fwd, &fib, &mut fragment).0;
    assert_eq!(v, Verdict::Drop(DropReason::AclInDeny));
}

#[test]
fn acl_out_is_the_egress_ports_and_other_ports_pay_nothing() {
    let (mut fwd, fib) = acl_rig(false, true);
    let mut udp6 = udp6_to_db8_2();
    let (v, emit) = run(&mut fwd, &fib, &mut udp6);
    assert_eq!(
        (v, emit.frames.len()),
        (Verdict::Drop(DropReason::AclOutDeny), 0)
    );
    assert_eq!(fwd.port_counters[1].acl_out_dropped, 1);
    // ICMPv6 to the same place, and SSH from anyone (no ACL in on p0).
    let mut ping = v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        next_header::ICMPV6,
        &[128, 0, 0, 0],
    );
    assert!(matches!(
        run(&mut fwd, &fib, &mut ping).0,
        Verdict::Forward { .. }
    ));
    assert!(matches!(
        run(&mut fwd, &fib, &mut udp_to("192.0.2.66", 22)).0,
        Verdict::Forward { .. }
    ));
    // Counted once each by the out list (IPv4 counts as its default).
    assert_eq!(fwd.acl_hits, vec![vec![0, 0, 0], vec![1, 2]]);
}

#[test]
fn each_list_answers_for_itself_on_the_same_flow() {
    // A flow that crosses "in" on p0 and "out" on p1, twice: the second
    // time both answers come from the worker's ACL cache, which must keep
    // the lists apart (the list id is part of its key).
    let (mut fwd, fib) = acl_rig(true, true);
    for _ in 0..2 {
        let mut udp6 = udp6_to_db8_2();
        let v = run(&mut fwd, &fib, &mut udp6).0;
        assert_eq!(v, Verdict::Drop(DropReason::AclOutDeny));
        let v = run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 53)).0;
        assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
    }
    // "in": both families by its default; "out": IPv6 by its rule, IPv4
    // by its default.
    assert_eq!(fwd.acl_hits, vec![vec![0, 0, 4], vec![2, 2]]);
}
