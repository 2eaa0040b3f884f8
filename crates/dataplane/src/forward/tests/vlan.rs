//! VLAN sub-interfaces: tags popped on the way in, pushed on the way out,
//! and every tag the router does not serve dropped with its reason.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::testkit::frames::{tagged, tagged_with};
use crate::testkit::rig::{vlan_connected, vlan_ports, P3_MAC};
use crate::wire::vlan::{Tci, VlanFrame};
use crate::wire::{Ipv4Packet, Ipv6Packet};

/// Room the tests leave before each frame, as AF_XDP does (256 there).
const HEADROOM: usize = 8;
const VLAN_HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x64, 2]);

/// p0, p1, p0.100 (VLAN 100 on p0), p1.200 (VLAN 200 on p1, own MAC, MTU
/// 1400); 198.51.100.0/24 via p1's gateway, 100.64.0.2 a host on p0.100,
/// 100.66.0.0/16 via 100.65.0.2 on p1.200.
fn vlan_rig() -> (Forwarder, Fib) {
    let fib = rig::static_fib_on(
        &vlan_connected(),
        &[
            ("198.51.100.0/24", "203.0.113.2"),
            ("100.66.0.0/16", "100.65.0.2"),
        ],
        &[
            ("203.0.113.2", GW_MAC, 1),
            ("100.64.0.2", VLAN_HOST_MAC, 2),
            ("100.65.0.2", GW_MAC, 3),
        ],
    );
    (rig::forwarder(vlan_ports(), 1000, 50), fib)
}

/// Runs `frame` received on `link` with [`HEADROOM`] before it; returns the
/// verdict and the transmitted bytes when forwarded.
fn run(
    fwd: &mut Forwarder,
    fib: &Fib,
    link: PortId,
    frame: &[u8],
    emit: &mut VecEmit,
) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(frame);
    let arrival = Arrival {
        link,
        start: HEADROOM,
        now_ns: 0,
        hint: FrameHint::NONE,
    };
    let v = fwd.process_at(fib, &mut buf, arrival, emit);
    let out = match v {
        Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
        _ => Vec::new(),
    };
    (v, out)
}

fn to(mac: MacAddr, mut frame: Vec<u8>) -> Vec<u8> {
    frame[..6].copy_from_slice(&mac.0);
    frame
}

/// `frame` with its tag removed, and the tag.
fn untag(frame: &[u8]) -> (Tci, Vec<u8>) {
    let tci = VlanFrame::new_checked(frame).expect("tagged").tci();
    (
        tci,
        frame[..12].iter().chain(&frame[16..]).copied().collect(),
    )
}

#[test]
fn tagged_in_untagged_out() {
    let (mut fwd, fib) = vlan_rig();
    let plain = v4_frame("100.64.0.2", "198.51.100.7", 64, 100, false);
    let (mut reference, _) = vlan_rig();
    let mut want = plain.clone();
    let v = reference.process(&fib, 0, &mut want, 0, &mut VecEmit::default());
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");

    let mut emit = VecEmit::default();
    let (v, out) = run(&mut fwd, &fib, 0, &tagged(&plain, 100), &mut emit);
    assert_eq!(
        v,
        Verdict::Forward {
            port: 1,
            start: HEADROOM + 4,
            len: plain.len()
        }
    );
    assert_eq!(out, want, "the same bytes as the untagged frame forwarded");
    assert!(emit.frames.is_empty());
}

#[test]
fn untagged_in_tagged_out_with_precedence_as_priority() {
    let (mut fwd, fib) = vlan_rig();
    for (dscp_ecn, pcp) in [(0x00, 0), (0x2a, 1), (0xb8, 5), (0xc1, 6)] {
        let mut plain = v4_frame("203.0.113.9", "100.64.0.2", 64, 60, false);
        plain[15] = dscp_ecn;
        plain[24..26].fill(0);
        let sum = crate::wire::checksum::checksum(&plain[14..34]);
        plain[24..26].copy_from_slice(&sum.to_be_bytes());
        let (v, out) = run(
            &mut fwd,
            &fib,
            1,
            &to(P1_MAC, plain.clone()),
            &mut VecEmit::default(),
        );
        assert_eq!(
            v,
            Verdict::Forward {
                port: 2,
                start: HEADROOM - 4,
                len: plain.len() + 4
            }
        );
        let (tci, inner) = untag(&out);
        assert_eq!((tci.vid(), tci.pcp(), tci.dei()), (100, pcp, false));
        assert_eq!(&inner[..6], &VLAN_HOST_MAC.0);
        assert_eq!(&inner[6..12], &P0_MAC.0, "p0.100 has p0's MAC");
        assert_eq!(inner[14 + 8], 63, "TTL");
        assert!(Ipv4Packet::new_checked(&inner[14..])
            .unwrap()
            .verify_checksum());
    }
}

#[test]
fn tagged_in_retagged_out() {
    let (mut fwd, fib) = vlan_rig();
    let plain = v4_frame("100.64.0.2", "100.66.3.4", 64, 80, false);
    let (v, out) = run(
        &mut fwd,
        &fib,
        0,
        &tagged(&plain, 100),
        &mut VecEmit::default(),
    );
    assert_eq!(
        v,
        Verdict::Forward {
            port: 3,
            start: HEADROOM,
            len: plain.len() + 4
        }
    );
    let (tci, inner) = untag(&out);
    assert_eq!(tci.vid(), 200);
    assert_eq!(&inner[6..12], &P3_MAC.0, "p1.200's own MAC");
    assert_eq!(
        &inner[14 + 12..],
        &plain[14 + 12..],
        "addresses and payload"
    );
}

#[test]
fn tag_push_needs_headroom() {
    let (mut fwd, fib) = vlan_rig();
    let mut f = to(P1_MAC, v4_frame("203.0.113.9", "100.64.0.2", 64, 60, false));
    let v = fwd.process(&fib, 1, &mut f, 0, &mut VecEmit::default());
    assert_eq!(v, Verdict::Drop(DropReason::NoHeadroom));
    assert_eq!(fwd.counters.drops[DropReason::NoHeadroom as usize], 1);
}

#[test]
fn tags_the_router_does_not_serve_are_dropped_with_their_reason() {
    let (mut fwd, fib) = vlan_rig();
    let plain = v4_frame("100.64.0.2", "198.51.100.7", 64, 60, false);
    let cases = [
        (tagged(&plain, 101), DropReason::VlanUnknown),
        (tagged(&plain, 200), DropReason::VlanUnknown), // p1's VLAN, not p0's
        (tagged(&plain, 0xfff), DropReason::VlanUnknown),
        (tagged(&tagged(&plain, 100), 100), DropReason::VlanStacked),
        (tagged_with(&plain, 0x88a8, 100), DropReason::VlanStacked),
        (
            tagged(&tagged_with(&plain, 0x88a8, 7), 100),
            DropReason::VlanStacked,
        ),
        (tagged(&plain, 100)[..17].to_vec(), DropReason::Truncated),
        (tagged(&plain, 100)[..20].to_vec(), DropReason::Truncated),
    ];
    for (frame, reason) in cases {
        let mut emit = VecEmit::default();
        let (v, _) = run(&mut fwd, &fib, 0, &frame, &mut emit);
        assert_eq!(v, Verdict::Drop(reason), "{frame:02x?}");
        assert!(emit.frames.is_empty());
    }
}

#[test]
fn priority_tagged_frames_are_the_links_own() {
    let (mut fwd, fib) = vlan_rig();
    let plain = v4_frame("192.0.2.9", "198.51.100.7", 64, 60, false);
    let (v, out) = run(
        &mut fwd,
        &fib,
        0,
        &tagged(&plain, 0x6000),
        &mut VecEmit::default(),
    );
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
    assert_eq!(out.len(), plain.len(), "untagged out of p1");
}

#[test]
fn a_link_with_only_vlans_refuses_untagged_frames() {
    let mut ports = vlan_ports();
    ports[0].ipv4 = None;
    ports[0].ipv6 = None;
    let fib = rig::static_fib_on(
        &vlan_connected(),
        &[("198.51.100.0/24", "203.0.113.2")],
        &[("203.0.113.2", GW_MAC, 1), ("100.64.0.2", VLAN_HOST_MAC, 2)],
    );
    let mut fwd = rig::forwarder(ports, 1000, 50);
    let plain = v4_frame("100.64.0.2", "198.51.100.7", 64, 60, false);
    let mut emit = VecEmit::default();
    for frame in [plain.clone(), tagged(&plain, 0)] {
        let (v, _) = run(&mut fwd, &fib, 0, &frame, &mut emit);
        assert_eq!(v, Verdict::Drop(DropReason::VlanUntagged));
    }
    let (v, _) = run(&mut fwd, &fib, 0, &tagged(&plain, 100), &mut emit);
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
    // p1 has a VLAN too, and addresses: its untagged frames still go.
    let back = to(
        P1_MAC,
        v4_frame("198.51.100.7", "100.64.0.2", 64, 60, false),
    );
    let (v, _) = run(&mut fwd, &fib, 1, &back, &mut emit);
    assert!(matches!(v, Verdict::Forward { port: 2, .. }), "{v:?}");
}

#[test]
fn the_mac_checked_is_the_sub_interfaces() {
    let (mut fwd, fib) = vlan_rig();
    let plain = v4_frame("100.65.0.9", "198.51.100.7", 64, 60, false);
    let mut emit = VecEmit::default();
    let (v, _) = run(
        &mut fwd,
        &fib,
        1,
        &tagged(&to(P1_MAC, plain.clone()), 200),
        &mut emit,
    );
    assert_eq!(
        v,
        Verdict::Drop(DropReason::NotOurMac),
        "p1.200 has its own MAC"
    );
    let (v, _) = run(
        &mut fwd,
        &fib,
        1,
        &tagged(&to(P3_MAC, plain), 200),
        &mut emit,
    );
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
}

#[test]
fn the_sub_interfaces_addresses_are_local() {
    let (mut fwd, fib) = vlan_rig();
    let mut emit = VecEmit::default();
    let ping = v4_frame("100.64.0.2", "100.64.0.1", 64, 60, false);
    let (v, _) = run(&mut fwd, &fib, 0, &tagged(&ping, 100), &mut emit);
    assert_eq!(v, Verdict::Local);
    let v6 = v6_frame("2001:db8:64::2", "2001:db8:64::1", 64, 17, &[0; 8]);
    let (v, _) = run(&mut fwd, &fib, 0, &tagged(&v6, 100), &mut emit);
    assert_eq!(v, Verdict::Local);
}

#[test]
fn icmp_errors_go_back_tagged_from_the_sub_interfaces_address() {
    let (mut fwd, fib) = vlan_rig();
    let mut emit = VecEmit::default();
    let expiring = v4_frame("100.64.0.2", "198.51.100.7", 1, 60, false);
    let (v, _) = run(&mut fwd, &fib, 0, &tagged(&expiring, 100), &mut emit);
    assert_eq!(v, Verdict::Drop(DropReason::TtlExpired));
    assert_eq!(emit.frames.len(), 1);
    let (port, frame) = &emit.frames[0];
    assert_eq!(*port, 2, "out of the sub-interface it came in on");
    let (tci, error) = untag(frame);
    assert_eq!((tci.vid(), tci.pcp()), (100, 6), "ICMP's precedence 6");
    assert_eq!(&error[..6], &HOST_MAC.0, "back to the sender");
    let ip = Ipv4Packet::new_checked(&error[14..]).unwrap();
    assert_eq!(ip.src(), Ipv4Addr::new(100, 64, 0, 1));
    assert_eq!(ip.dst(), Ipv4Addr::new(100, 64, 0, 2));
    assert_eq!(&ip.payload()[8..28], &expiring[14..34], "quotes the packet");

    let v6 = v6_frame("2001:db8:64::2", "2001:db8:99::1", 64, 17, &[0; 8]);
    emit.frames.clear();
    let (v, _) = run(&mut fwd, &fib, 0, &tagged(&v6, 100), &mut emit);
    assert_eq!(v, Verdict::Drop(DropReason::NoRoute));
    let (tci, error) = untag(&emit.frames[0].1);
    assert_eq!(tci.vid(), 100);
    let ip = Ipv6Packet::new_checked(&error[14..]).unwrap();
    assert_eq!(ip.src(), "2001:db8:64::1".parse::<Ipv6Addr>().unwrap());
}

#[test]
fn fragments_leaving_a_sub_interface_are_tagged() {
    let (mut fwd, fib) = vlan_rig();
    let mut emit = VecEmit::default();
    let big = to(
        P1_MAC,
        v4_frame("203.0.113.9", "100.66.3.4", 64, 2000, false),
    );
    let (v, _) = run(&mut fwd, &fib, 1, &big, &mut emit);
    assert_eq!(
        v,
        Verdict::Fragmented {
            port: 3,
            fragments: 2
        }
    );
    for (port, frame) in &emit.frames {
        assert_eq!(*port, 3);
        let (tci, inner) = untag(frame);
        assert_eq!(tci.vid(), 200);
        assert!(inner.len() <= 1400 + 14, "within p1.200's MTU");
        assert!(Ipv4Packet::new_checked(&inner[14..])
            .unwrap()
            .verify_checksum());
    }
}

#[test]
fn tagged_frames_get_batched_lookups() {
    let (_, fib) = vlan_rig();
    let plain = v4_frame("100.64.0.2", "198.51.100.7", 64, 60, false);
    let frames = [tagged(&plain, 100), plain.clone()];
    let mut hints = RouteHints::new();
    hints.prepare(&fib, frames.iter().map(|f| &f[..]));
    let dst = Ipv4Addr::new(198, 51, 100, 7);
    for i in 0..2 {
        assert!(hints.get(i).dst.for_v4(dst).is_some(), "frame {i}");
    }
}
