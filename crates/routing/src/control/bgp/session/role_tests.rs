//! The Role capability (RFC 9234 §4): sent with our role, and a peer
//! whose role does not pair with it (or, in strict mode, that has none)
//! refused with Role Mismatch.

use std::net::Ipv4Addr;

use super::message::{self, code, Capabilities, Family, Open};
use super::tests::{notification, Rig};
use super::State;
use crate::control::bgp::policy::Role;

const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// The peer's OPEN with Role capabilities of `roles` (raw values, each
/// one capability).
fn open_with_roles(roles: &[u8]) -> Vec<u8> {
    let open = Open {
        asn: 65001,
        hold_time: 90,
        router_id: PEER_ID,
        capabilities: Capabilities {
            families: vec![Family::Ipv4Unicast],
            multiprotocol: true,
            four_octet_as: Some(65001),
            role: roles.first().copied(),
            ..Capabilities::default()
        },
    };
    let mut bytes = open.encode();
    // Further Role capabilities appended to the one parameter.
    for r in roles.iter().skip(1) {
        bytes.extend_from_slice(&[message::ROLE_CAPABILITY, 1, *r]);
        bytes[28] += 3; // optional parameters length
        bytes[30] += 3; // the capabilities parameter's length
    }
    message::set_length(&mut bytes);
    bytes
}

fn rig(role: Option<Role>, strict: bool) -> Rig {
    let mut r = Rig::new(false);
    let mut config = r.s.config().clone();
    config.role = role;
    config.strict_role = strict;
    r.s = super::Session::new(config, r.t0);
    r
}

#[test]
fn our_open_carries_our_role() {
    let mut r = rig(Some(Role::Customer), false);
    r.s.start(r.t0, &mut r.ids);
    let (l, rem) = super::tests::addrs();
    r.s.connected(r.t0, crate::control::protocol::SocketId(100), l, rem);
    let out = r.drain();
    let sent = Rig::sent(&out);
    let (_, open) = sent.iter().find(|(t, _)| *t == message::OPEN).unwrap();
    let parsed = Open::parse(&open[19..]).unwrap();
    assert_eq!(parsed.capabilities.role, Some(Role::Customer as u8));
}

#[test]
fn roles_that_do_not_pair_are_a_role_mismatch() {
    let provider = Role::Provider as u8;
    // (our role, strict, the peer's Role capabilities) -> accepted.
    let cases: [(Option<Role>, bool, &[u8], bool); 9] = [
        (Some(Role::Customer), false, &[provider], true),
        (Some(Role::Customer), true, &[provider], true),
        (Some(Role::Customer), false, &[], true),
        (Some(Role::Customer), true, &[], false),
        (Some(Role::Customer), false, &[Role::Peer as u8], false),
        (Some(Role::Peer), false, &[Role::Peer as u8], true),
        (Some(Role::Customer), false, &[7], false),
        (
            Some(Role::Customer),
            false,
            &[provider, Role::Peer as u8],
            false,
        ),
        // Without a role of ours, the peer's is not looked at.
        (None, false, &[Role::Peer as u8], true),
    ];
    for (role, strict, theirs, ok) in cases {
        let mut r = rig(role, strict);
        let socket = r.open_sent();
        r.s.received(r.t0, socket, &open_with_roles(theirs));
        let out = r.drain();
        let why = format!("{role:?} strict {strict} theirs {theirs:?}");
        if ok {
            assert_eq!(notification(&out), None, "{why}");
            assert_eq!(r.s.state(), State::OpenConfirm, "{why}");
        } else {
            assert_eq!(
                notification(&out),
                Some((code::OPEN, code::OPEN_ROLE_MISMATCH, vec![], true)),
                "{why}"
            );
            assert_eq!(r.s.state(), State::Idle, "{why}");
        }
    }
}
