//! `ferroute reload` of the stages: a new [`StageTable`] taken between
//! batches changes verdicts at once, keeps the hit counts of lists that did
//! not change and zeroes changed ones; the handle frees replaced ACL tables
//! only once no forwarder holds them.

use std::sync::Arc;

use super::*;
use crate::forward::acl::{AclRule, AclSpec, PortRange};
use crate::forward::{StageTable, StagesHandle};
use crate::wire::ipv6::next_header;

fn udp_port(port: u16) -> AclRule {
    AclRule {
        protocol: Some(17),
        destination_port: Some(PortRange {
            first: port,
            last: port,
        }),
        ..AclRule::any(AclAction::Deny)
    }
}

/// "ssh": deny UDP to `port`; "v6-out": deny UDP to 2001:db8:2::/48.
fn lists(port: u16) -> (AclSpec, AclSpec) {
    let ssh = AclSpec {
        name: "ssh".into(),
        default: AclAction::Permit,
        rules: vec![udp_port(port)],
    };
    let v6_out = AclSpec {
        name: "v6-out".into(),
        default: AclAction::Permit,
        rules: vec![AclRule {
            destination: Some("2001:db8:2::/48".parse().unwrap()),
            protocol: Some(next_header::UDP),
            ..AclRule::any(AclAction::Deny)
        }],
    };
    (ssh, v6_out)
}

/// The running table: ssh (port 22) in on p0, v6-out out on p1.
fn running() -> StageTable {
    let (ssh, v6_out) = lists(22);
    let mut features = vec![PortFeatures::default(); 2];
    features[0].acl_in = Some(0);
    features[1].acl_out = Some(1);
    StageTable {
        version: 0,
        features,
        acls: Arc::new(AclTable::compile([ssh, v6_out])),
    }
}

#[test]
fn reload_changes_verdicts_and_keeps_counts_only_of_unchanged_lists() {
    let (mut fwd, fib) = rig(100, 10);
    let handle = StagesHandle::new(running());
    assert!(fwd.install_stages(&handle.load()));
    assert_eq!(fwd.stages_version(), 1);
    for _ in 0..2 {
        let v = run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 22)).0;
        assert_eq!(v, Verdict::Drop(DropReason::AclInDeny));
    }
    let v = run(&mut fwd, &fib, &mut udp6_to_db8_2()).0;
    assert_eq!(v, Verdict::Drop(DropReason::AclOutDeny));
    // (The IPv6 packet arrived on p0 too: ssh's default counted it.)
    assert_eq!(fwd.acl_hits, vec![vec![2, 1], vec![1, 0]]);

    // The reload: ssh now denies port 23, the lists swap places (ids
    // change), p0 gains uRPF strict; v6-out is unchanged.
    let (ssh, v6_out) = lists(23);
    let mut features = vec![PortFeatures::default(); 2];
    features[0].acl_in = Some(1);
    features[0].urpf = Some(Urpf::Strict);
    features[1].acl_out = Some(0);
    let version = handle.publish(StageTable {
        version: 0,
        features,
        acls: Arc::new(AclTable::compile([v6_out, ssh])),
    });
    assert_eq!((version, handle.version()), (2, 2));
    // Until the forwarder takes it, the old table acts.
    let v = run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 22)).0;
    assert_eq!(v, Verdict::Drop(DropReason::AclInDeny));
    assert!(fwd.install_stages(&handle.load()));
    assert!(!fwd.install_stages(&handle.load()), "taken once");
    assert_eq!(fwd.stages_version(), 2);
    // v6-out kept its count (now list 0); ssh changed: zero.
    assert_eq!(fwd.acl_hits, vec![vec![1, 0], vec![0, 0]]);
    assert_eq!(fwd.acls().acls()[0].spec().name, "v6-out");

    assert!(matches!(
        run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 22)).0,
        Verdict::Forward { port: 1, .. }
    ));
    let v = run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 23)).0;
    assert_eq!(v, Verdict::Drop(DropReason::AclInDeny));
    let v = run(&mut fwd, &fib, &mut udp6_to_db8_2()).0;
    assert_eq!(v, Verdict::Drop(DropReason::AclOutDeny));
    // uRPF strict on p0 now: a source routed through p1 is dropped.
    let v = run(&mut fwd, &fib, &mut udp_to("198.51.100.9", 53)).0;
    assert_eq!(v, Verdict::Drop(DropReason::UrpfStrict));
    assert!(fwd.wants_sources(0));
    // acl-in runs before uRPF: the spoofed packet counts in ssh's default;
    // the forwarded port-22 packet left through p1 (v6-out's default).
    assert_eq!(fwd.acl_hits, vec![vec![2, 1], vec![1, 3]]);
    // Port counters are per port, not per list: they carry on.
    assert_eq!(fwd.port_counters[0].acl_in_dropped, 4);
    assert_eq!(fwd.port_counters[0].urpf_dropped, 1);
}

#[test]
fn reload_turning_stages_off_and_a_list_renamed_starts_at_zero() {
    let (mut fwd, fib) = rig(100, 10);
    let handle = StagesHandle::new(running());
    fwd.install_stages(&handle.load());
    run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 22));
    let (mut ssh, _) = lists(22);
    ssh.name = "ssh-renamed".into();
    let mut features = vec![PortFeatures::default(); 2];
    features[1].acl_in = Some(0);
    handle.publish(StageTable {
        version: 0,
        features,
        acls: Arc::new(AclTable::compile([ssh])),
    });
    fwd.install_stages(&handle.load());
    assert_eq!(fwd.acl_hits, vec![vec![0, 0]]);
    // p0 has no ACL any more.
    assert!(matches!(
        run(&mut fwd, &fib, &mut udp_to("192.0.2.10", 22)).0,
        Verdict::Forward { port: 1, .. }
    ));
    assert_eq!(fwd.acl_hits, vec![vec![0, 0]]);
}

#[test]
fn replaced_acl_tables_are_freed_by_the_publisher_once_no_forwarder_holds_them() {
    let (mut fwd, _) = rig(100, 10);
    let handle = StagesHandle::new(running());
    fwd.install_stages(&handle.load());
    let first = Arc::downgrade(&handle.load().acls);
    // A reload that changes only features reuses the compiled lists: nothing
    // is retired.
    let same = StageTable {
        features: vec![PortFeatures::default(); 2],
        ..(*handle.load()).clone()
    };
    handle.publish(same);
    assert_eq!(handle.collect(), 0);
    fwd.install_stages(&handle.load());
    assert!(first.upgrade().is_some());
    // New lists: the old ones wait for the forwarder, which never frees them.
    let (ssh, _) = lists(23);
    handle.publish(StageTable {
        version: 0,
        features: vec![PortFeatures::default(); 2],
        acls: Arc::new(AclTable::compile([ssh])),
    });
    assert_eq!(
        handle.collect(),
        1,
        "the forwarder still holds the old lists"
    );
    fwd.install_stages(&handle.load());
    assert!(
        first.upgrade().is_some(),
        "dropped by the forwarder, not freed"
    );
    assert_eq!(handle.collect(), 0);
    assert!(first.upgrade().is_none(), "freed by the publisher");
}

#[test]
fn summed_counts_are_those_of_workers_on_the_newest_lists() {
    use crate::forward::acl::{AclCacheCounts, AclHits};
    let worker = |version: u64, rule: u64| StagesSnapshot {
        ports: vec![PortStages {
            name: "p0".into(),
            counters: PortFeatureCounters {
                acl_in_dropped: rule,
                ..Default::default()
            },
        }],
        acl: vec![AclHits {
            name: "ssh".into(),
            rules: vec![rule],
            default: 0,
        }],
        version,
        oldest_version: version,
        acl_cache: AclCacheCounts {
            hits: rule,
            misses: 1,
        },
    };
    for order in [[2, 1, 2], [1, 2, 2], [2, 2, 1]] {
        let mut sum = StagesSnapshot::default();
        for (i, v) in order.into_iter().enumerate() {
            // Workers on version 1 counted 100 each, on version 2: 1 and 2.
            sum.merge(&worker(v, if v == 1 { 100 } else { i as u64 + 1 }));
        }
        assert_eq!((sum.version, sum.oldest_version), (2, 1), "{order:?}");
        let expected: u64 = order
            .iter()
            .enumerate()
            .filter(|(_, v)| **v == 2)
            .map(|(i, _)| i as u64 + 1)
            .sum();
        assert_eq!(sum.acl[0].rules, [expected], "{order:?}");
        // Port counters and the caches' counts are every worker's.
        assert_eq!(sum.ports[0].counters.acl_in_dropped, 100 + expected);
        let cache = AclCacheCounts {
            hits: 100 + expected,
            misses: 3,
        };
        assert_eq!(sum.acl_cache, cache, "{order:?}");
    }
}
