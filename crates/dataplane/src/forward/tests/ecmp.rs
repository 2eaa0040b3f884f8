//! Equal-cost next hops: flows spread over a group's members, and every
//! packet of a flow (fragments included) takes the same one.

use super::*;
use crate::wire::ipv6::next_header;
use crate::wire::Ipv4Packet;

const MEMBER_A: MacAddr = MacAddr([2, 0, 0, 0, 0xa, 1]);
const MEMBER_B: MacAddr = MacAddr([2, 0, 0, 0, 0xb, 1]);

/// `rig` plus 100.64.0.0/10 and 2001:db8:e::/48 through a two-member group
/// on p1 (also the common case's tests').
pub(super) fn ecmp_rig() -> (Forwarder, Fib) {
    let (fwd, mut fib) = rig(100, 10);
    let group = fib.groups_mut().add(&[
        NextHop::Adjacency {
            port: 1,
            mac: MEMBER_A,
        },
        NextHop::Adjacency {
            port: 1,
            mac: MEMBER_B,
        },
    ]);
    fib.v4.insert("100.64.0.0/10".parse().unwrap(), group);
    fib.v6.insert("2001:db8:e::/48".parse().unwrap(), group);
    (fwd, fib)
}

/// The destination MAC a forwarded frame left with.
fn member_of(fwd: &mut Forwarder, fib: &Fib, mut frame: Vec<u8>) -> MacAddr {
    let (v, _) = run(fwd, fib, &mut frame);
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
    MacAddr(frame[..6].try_into().unwrap())
}

fn udp_v4(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut f = v4_frame("192.0.2.10", "100.64.1.1", 64, 40, false);
    f[34..36].copy_from_slice(&src_port.to_be_bytes());
    f[36..38].copy_from_slice(&dst_port.to_be_bytes());
    f
}

#[test]
fn flows_spread_over_members_and_each_flow_sticks_to_one() {
    let (mut fwd, fib) = ecmp_rig();
    let mut on_a = 0;
    for port in 0..1000u16 {
        let first = member_of(&mut fwd, &fib, udp_v4(10_000 + port, 53));
        assert!(first == MEMBER_A || first == MEMBER_B);
        for _ in 0..3 {
            assert_eq!(member_of(&mut fwd, &fib, udp_v4(10_000 + port, 53)), first);
        }
        on_a += usize::from(first == MEMBER_A);
    }
    // Binomial(1000, 0.5): 400..600 is more than 6 standard deviations wide.
    assert!(
        (400..=600).contains(&on_a),
        "{on_a} of 1000 flows on member A"
    );
}

#[test]
fn fragments_of_a_flow_share_a_member() {
    let (mut fwd, fib) = ecmp_rig();
    let mut both_used = [false; 2];
    for ident in 0..64u16 {
        let mut first_frag = udp_v4(4000 + ident, 9);
        let mut later_frag = v4_frame("192.0.2.10", "100.64.1.1", 64, 40, false);
        for (f, more, offset) in [(&mut first_frag, true, 0u16), (&mut later_frag, false, 3)] {
            let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
            ip.set_fragment(more, offset);
            ip.fill_checksum();
        }
        let a = member_of(&mut fwd, &fib, first_frag);
        let b = member_of(&mut fwd, &fib, later_frag);
        assert_eq!(a, b, "fragments of one datagram took different paths");
        both_used[usize::from(a == MEMBER_A)] = true;
    }
    // Fragments hash on the 3-tuple: all of these are one flow.
    assert!(!(both_used[0] && both_used[1]));
}

#[test]
fn ipv6_flows_spread_by_flow_label() {
    let (mut fwd, fib) = ecmp_rig();
    let mut on_a = 0;
    for label in 1..=1000u32 {
        let frame = || {
            let mut f = v6_frame(
                "2001:db8::10",
                "2001:db8:e::5",
                64,
                next_header::UDP,
                &[0; 8],
            );
            f[15] = (f[15] & 0xf0) | (label >> 16) as u8;
            f[16..18].copy_from_slice(&(label as u16).to_be_bytes());
            f
        };
        let first = member_of(&mut fwd, &fib, frame());
        assert_eq!(member_of(&mut fwd, &fib, frame()), first);
        on_a += usize::from(first == MEMBER_A);
    }
    assert!(
        (400..=600).contains(&on_a),
        "{on_a} of 1000 flows on member A"
    );
}
