//! The kept egresses (`forward/egress.rs`): used only with the group table
//! and the ports' stages they were resolved with.

use super::flow_cache::{common_pass, four_flows, round, OTHER_GW_MAC};
use super::*;
use crate::fib::NextHop;
use crate::forward::{StageTable, StagesHandle};

/// A group's next hop rewritten in place between two batches on one
/// forwarder (a neighbour's new MAC): the next batch leaves with the new
/// MAC, not the kept one.
#[test]
fn kept_egresses_follow_the_group_table() {
    let (mut fwd, mut fib) = setup(Setup::Plain);
    let frames = four_flows();
    for _ in 0..2 {
        assert_eq!(round(&mut fwd, &fib, &frames), (4, 4, vec![GW_MAC; 4]));
    }
    let group = fib.v4.lookup("198.51.100.1".parse().unwrap()).unwrap();
    let moved = NextHop::Adjacency {
        port: 1,
        mac: OTHER_GW_MAC,
    };
    fib.groups_mut().set(group, &[moved]);
    for _ in 0..2 {
        let other = vec![OTHER_GW_MAC; 4];
        assert_eq!(round(&mut fwd, &fib, &frames), (4, 4, other));
    }
}

/// An outbound ACL put on the egress port by a reload: the kept egress
/// (resolved without one) no longer answers, and the list drops the
/// frames it denies.
#[test]
fn kept_egresses_are_dropped_when_the_stages_change() {
    let (mut fwd, fib) = setup(Setup::Plain);
    let frames = four_flows();
    assert_eq!(round(&mut fwd, &fib, &frames), (4, 4, vec![GW_MAC; 4]));
    let mut features = vec![PortFeatures::default(); fwd.ports().len()];
    features[1].acl_out = Some(0);
    let deny = AclRule {
        destination: Some("198.51.100.0/24".parse().unwrap()),
        ..AclRule::any(AclAction::Deny)
    };
    let handle = StagesHandle::new(StageTable {
        version: 0,
        features,
        acls: Arc::new(AclTable::compile([list(
            "out",
            AclAction::Permit,
            vec![deny],
        )])),
    });
    assert!(fwd.install_stages(&handle.load()));
    let (mut batch, hints, common) = common_pass(&mut fwd, &fib, &frames);
    assert_eq!(common.mask, 0, "the common case took denied frames");
    for (i, f) in batch.iter_mut().enumerate() {
        let v = fwd.process_hinted(&fib, 0, f, 0, &mut VecEmit::default(), hints.get(i));
        assert_eq!(v, Verdict::Drop(DropReason::AclOutDeny));
    }
}

/// Two groups whose ids share a slot of the direct-mapped table (ids 256
/// apart) in one batch, alternating: each frame leaves with its own
/// group's MAC, batch after batch, whichever of the two the slot holds.
#[test]
fn groups_sharing_a_slot_each_keep_their_own_egress() {
    let (mut fwd, mut fib) = setup(Setup::Plain);
    let hop = |last: u8| NextHop::Adjacency {
        port: 1,
        mac: MacAddr([2, 0, 0, 0, 0x66, last]),
    };
    let first = fib.add_next_hop(hop(1));
    let mut second = first;
    while second != first + 256 {
        second = fib.add_next_hop(hop(2));
    }
    fib.v4.insert("198.51.100.1/32".parse().unwrap(), first);
    fib.v4.insert("198.51.100.2/32".parse().unwrap(), second);
    let frames: Vec<Vec<u8>> = [1, 2, 1, 2, 2, 1]
        .iter()
        .map(|i| v4_frame("192.0.2.10", &format!("198.51.100.{i}"), 64, 18, false))
        .collect();
    let want: Vec<MacAddr> = [1, 2, 1, 2, 2, 1]
        .iter()
        .map(|&i| MacAddr([2, 0, 0, 0, 0x66, i]))
        .collect();
    for _ in 0..3 {
        assert_eq!(round(&mut fwd, &fib, &frames), (6, 6, want.clone()));
    }
}

/// Frames larger than a kept group's port MTU, between frames that fit:
/// the common case leaves them to the pipeline (fragments without DF, a
/// drop with DF), batch after batch, and keeps taking the ones that fit.
#[test]
fn frames_over_a_kept_groups_mtu_go_to_the_pipeline() {
    let (mut fwd, fib) = setup(Setup::SmallMtu);
    let to = |payload, df| v4_frame("192.0.2.10", "198.51.100.1", 64, payload, df);
    let frames = [to(18, false), to(400, false), to(18, false), to(400, true)];
    for _ in 0..3 {
        let (mut batch, hints, common) = common_pass(&mut fwd, &fib, &frames);
        assert_eq!(common.mask, 0b0101, "the common case took what fits, only");
        let mut emit = VecEmit::default();
        let big = fwd.process_hinted(&fib, 0, &mut batch[1], 0, &mut emit, hints.get(1));
        assert!(
            matches!(
                big,
                Verdict::Fragmented {
                    port: 1,
                    fragments: 3
                }
            ),
            "{big:?}"
        );
        let df = fwd.process_hinted(&fib, 0, &mut batch[3], 0, &mut emit, hints.get(3));
        assert_eq!(df, Verdict::Drop(DropReason::MtuDf));
    }
}
