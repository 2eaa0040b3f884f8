//! A second connection to the same peer (RFC 4271 §6.8): rejected beside
//! an established session, and when the OPENs cross, the connection of
//! the speaker with the higher BGP identifier kept.

use std::net::Ipv4Addr;

use super::message::{self, code};
use super::tests::{addrs, notification, peer_open, Rig};
use super::{SessionOutput, SocketId, State};
use crate::control::protocol::SocketRequest;

#[test]
fn a_connection_beside_an_established_one_is_rejected() {
    let mut r = Rig::new(false);
    r.established();
    let (l, rem) = addrs();
    let extra = SocketId(SocketId::ACCEPTED + 1);
    r.s.accepted(r.at(1), extra, l, rem);
    let out = r.drain();
    assert_eq!(
        notification(&out),
        Some((code::CEASE, code::CEASE_CONNECTION_REJECTED, vec![], true))
    );
    assert_eq!(r.s.state(), State::Established);
}

/// Both sides connect; the OPENs cross. §6.8: the connection opened by the
/// speaker with the higher BGP identifier stays.
fn collide(peer_id: Ipv4Addr) -> (Vec<SessionOutput>, SocketId, SocketId, Rig) {
    let mut r = Rig::new(false);
    let outgoing = r.open_sent();
    let incoming = SocketId(SocketId::ACCEPTED);
    let (l, rem) = addrs();
    r.s.accepted(r.t0, incoming, l, rem);
    r.drain();
    r.s.received(r.t0, outgoing, &peer_open(65001, 90, peer_id));
    r.s.received(r.t0, incoming, &peer_open(65001, 90, peer_id));
    (r.drain(), outgoing, incoming, r)
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier() {
    // Peer higher: our outgoing connection goes.
    let (out, outgoing, incoming, mut r) = collide(Ipv4Addr::new(192, 0, 2, 200));
    let closed: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            SessionOutput::Socket(SocketRequest::Close { socket }) => Some(*socket),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [outgoing]);
    assert_eq!(
        notification(&out).map(|n| (n.0, n.1)),
        Some((code::CEASE, code::CEASE_COLLISION))
    );
    r.s.received(r.t0, incoming, &message::keepalive());
    assert_eq!(r.s.state(), State::Established);
    // Ours higher: the peer's connection goes.
    let (out, outgoing, incoming, mut r) = collide(Ipv4Addr::new(192, 0, 2, 0));
    assert!(out.contains(&SessionOutput::Socket(SocketRequest::Close {
        socket: incoming
    })));
    assert!(!out.contains(&SessionOutput::Socket(SocketRequest::Close {
        socket: outgoing
    })));
    r.s.received(r.t0, outgoing, &message::keepalive());
    assert_eq!(r.s.state(), State::Established);
}
