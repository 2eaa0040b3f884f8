//! TCP MD5 (RFC 2385) and GTSM (RFC 5082) on loopback, IPv4 and IPv6
//! (`sockaddr_in6` keys, hop limits): a connect signed
//! with the listener's key for its address gets through, one with another
//! key or none does not (the kernel drops the SYNs), and a listener's keys
//! change in place; a listener whose peers all ask for TTL 255 drops a SYN
//! sent with less.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use super::{closed, Harness, OwnedSocketEvent, LIMIT};
use crate::control::protocol::{ListenPeer, Md5Key, SocketId, SocketRequest, TcpOptions};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Longer than the first SYN retransmission (1 s): a dropped SYN was
/// dropped twice.
const REFUSED_FOR: Duration = Duration::from_millis(1500);

const LOOPBACK6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A port the kernel just handed out on `loopback` and took back.
fn free_port(loopback: IpAddr) -> SocketAddr {
    StdListener::bind(SocketAddr::new(loopback, 0))
        .unwrap()
        .local_addr()
        .unwrap()
}

fn key(k: &[u8]) -> Option<Md5Key> {
    Md5Key::new(k)
}

/// The listener's settings for the connects from the same loopback.
fn peer(at: SocketAddr, options: TcpOptions) -> Vec<ListenPeer> {
    vec![ListenPeer {
        address: at.ip(),
        options,
    }]
}

fn connect(h: &mut Harness, socket: SocketId, remote: SocketAddr, options: TcpOptions) {
    h.request(SocketRequest::TcpConnect {
        socket,
        local: Some(remote.ip()),
        remote,
        options,
    });
}

fn connected(events: &[OwnedSocketEvent], socket: SocketId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, OwnedSocketEvent::Connected { socket: s, .. } if *s == socket))
}

fn accepted(events: &[OwnedSocketEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, OwnedSocketEvent::Accepted { .. }))
}

#[test]
fn md5_keys_decide_which_connects_get_through_and_follow_the_listener_settings() {
    md5_keys(LOOPBACK);
}

#[test]
fn md5_keys_work_over_ipv6() {
    md5_keys(LOOPBACK6);
}

fn md5_keys(loopback: IpAddr) {
    let local = free_port(loopback);
    let mut h = Harness::new(Vec::new());
    let listener = SocketId(1);
    let signed = |k: &[u8]| TcpOptions {
        md5: key(k),
        ..TcpOptions::default()
    };
    h.request(SocketRequest::TcpListen {
        socket: listener,
        local,
        options: TcpOptions::default(),
        peers: peer(local, signed(b"right")),
    });
    assert!(h.sockets.take_events().is_empty(), "listening with a key");

    // The right key: both ends see the connection.
    connect(&mut h, SocketId(2), local, signed(b"right"));
    let events = h.until(|e| connected(e, SocketId(2)) && accepted(e));
    assert!(closed(&events, SocketId(2)).is_none());

    // A wrong key and no key: the SYNs are dropped, nothing happens.
    connect(&mut h, SocketId(3), local, signed(b"wrong"));
    connect(&mut h, SocketId(4), local, TcpOptions::default());
    let events = h.during(REFUSED_FOR);
    assert!(
        !accepted(&events) && !connected(&events, SocketId(3)) && !connected(&events, SocketId(4)),
        "{events:?}"
    );

    // The listener's key changes in place (a reload): the retransmitted
    // SYN signed with "wrong" now gets through; the unsigned one still
    // does not.
    h.request(SocketRequest::TcpListenPeers {
        socket: listener,
        peers: peer(local, signed(b"wrong")),
    });
    let events = h.until(|e| connected(e, SocketId(3)) && accepted(e));
    assert!(!connected(&events, SocketId(4)), "{events:?}");

    // The key removed: an unsigned connect gets through (the pending one
    // or a fresh one, whichever retransmits first).
    h.request(SocketRequest::TcpListenPeers {
        socket: listener,
        peers: Vec::new(),
    });
    connect(&mut h, SocketId(5), local, TcpOptions::default());
    let deadline = std::time::Instant::now() + LIMIT;
    let mut seen = Vec::new();
    while !connected(&seen, SocketId(5)) {
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        seen.extend(h.during(Duration::from_millis(100)));
    }
    assert!(accepted(&seen));
}

#[test]
fn a_listener_whose_peers_all_use_gtsm_drops_syns_below_their_minimum_ttl() {
    gtsm(LOOPBACK);
}

#[test]
fn gtsm_works_over_ipv6_with_hop_limits() {
    gtsm(LOOPBACK6);
}

fn gtsm(loopback: IpAddr) {
    let local = free_port(loopback);
    let mut h = Harness::new(Vec::new());
    let gtsm = TcpOptions {
        ttl: Some(255),
        min_ttl: Some(255),
        ..TcpOptions::default()
    };
    h.request(SocketRequest::TcpListen {
        socket: SocketId(1),
        local,
        options: TcpOptions::default(),
        peers: peer(local, gtsm.clone()),
    });
    // Loopback does not decrement: what is sent is what arrives.
    let low = TcpOptions {
        ttl: Some(254),
        ..TcpOptions::default()
    };
    connect(&mut h, SocketId(2), local, low);
    let events = h.during(REFUSED_FOR);
    assert!(
        !accepted(&events) && !connected(&events, SocketId(2)),
        "{events:?}"
    );
    connect(&mut h, SocketId(3), local, gtsm);
    h.until(|e| connected(e, SocketId(3)) && accepted(e));
}
