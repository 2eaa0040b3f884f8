//! TCP MD5 (RFC 2385) and GTSM (RFC 5082) on loopback: a connect signed
//! with the listener's key for its address gets through, one with another
//! key or none does not (the kernel drops the SYNs), and a listener's keys
//! change in place; a listener whose peers all ask for TTL 255 drops a SYN
//! sent with less.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use super::{closed, Harness, OwnedSocketEvent, LIMIT};
use crate::control::protocol::{ListenPeer, Md5Key, SocketId, SocketRequest, TcpOptions};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Longer than the first SYN retransmission (1 s): a dropped SYN was
/// dropped twice.
const REFUSED_FOR: Duration = Duration::from_millis(1500);

fn free_port() -> SocketAddr {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    SocketAddr::new(LOOPBACK, port)
}

fn key(k: &[u8]) -> Option<Md5Key> {
    Md5Key::new(k)
}

fn peer(options: TcpOptions) -> Vec<ListenPeer> {
    vec![ListenPeer {
        address: LOOPBACK,
        options,
    }]
}

fn connect(h: &mut Harness, socket: SocketId, remote: SocketAddr, options: TcpOptions) {
    h.request(SocketRequest::TcpConnect {
        socket,
        local: Some(LOOPBACK),
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
    let local = free_port();
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
        peers: peer(signed(b"right")),
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
        peers: peer(signed(b"wrong")),
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
    let local = free_port();
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
        peers: peer(gtsm.clone()),
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
