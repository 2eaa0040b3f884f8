//! The sockets layer against the kernel's loopback: TCP connect, accept,
//! both directions, close after the queue is sent, the peer's close, a
//! refused connect, and raw IPv4 datagrams (root); TCP MD5 and GTSM in
//! [`security`].

mod security;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::*;

const OWNER: Owner = 7;
pub(super) const LIMIT: Duration = Duration::from_secs(10);

/// A poller and the sockets, driven until events arrive.
pub(super) struct Harness {
    poll: Poll,
    sockets: ProtocolSockets,
    events: Events,
}

impl Harness {
    pub(super) fn new(ports: Vec<PortInterface>) -> Self {
        Harness {
            poll: Poll::new().unwrap(),
            sockets: ProtocolSockets::new(100, ports),
            events: Events::with_capacity(16),
        }
    }

    pub(super) fn request(&mut self, request: SocketRequest) {
        self.sockets.request(self.poll.registry(), OWNER, request);
    }

    fn transmit(&mut self, socket: SocketId, bytes: &[u8]) {
        let t = Transmit {
            socket,
            destination: None,
            bytes: bytes.to_vec(),
        };
        self.sockets.transmit(self.poll.registry(), OWNER, t);
    }

    /// Serves readiness until `done` holds for the events so far (bounded).
    pub(super) fn until(
        &mut self,
        mut done: impl FnMut(&[OwnedSocketEvent]) -> bool,
    ) -> Vec<OwnedSocketEvent> {
        let deadline = Instant::now() + LIMIT;
        let mut seen = Vec::new();
        loop {
            seen.extend(self.sockets.take_events().into_iter().map(|(owner, e)| {
                assert_eq!(owner, OWNER);
                e
            }));
            if done(&seen) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "no such events in {LIMIT:?}: {seen:?}"
            );
            self.turn();
        }
    }

    /// The events of `window` (served all along; `window` is how long
    /// something must not happen).
    pub(super) fn during(&mut self, window: Duration) -> Vec<OwnedSocketEvent> {
        let end = Instant::now() + window;
        let mut seen = Vec::new();
        while Instant::now() < end {
            self.turn();
            seen.extend(self.sockets.take_events().into_iter().map(|(_, e)| e));
        }
        seen
    }

    /// One wait for readiness (up to 50 ms), served.
    fn turn(&mut self) {
        self.poll
            .poll(&mut self.events, Some(Duration::from_millis(50)))
            .unwrap();
        let ready: Vec<_> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token(),
                    e.is_readable() || e.is_read_closed(),
                    e.is_writable(),
                )
            })
            .collect();
        for (token, readable, writable) in ready {
            assert!(self.sockets.owns(token));
            self.sockets
                .ready(self.poll.registry(), token, readable, writable);
        }
        self.sockets.continue_reads(self.poll.registry());
    }
}

fn stream_bytes(events: &[OwnedSocketEvent], socket: SocketId) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            OwnedSocketEvent::Stream { socket: s, bytes } if *s == socket => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

pub(super) fn closed(events: &[OwnedSocketEvent], socket: SocketId) -> Option<Option<String>> {
    events.iter().find_map(|e| match e {
        OwnedSocketEvent::Closed { socket: s, error } if *s == socket => Some(error.clone()),
        _ => None,
    })
}

#[test]
fn a_connect_carries_bytes_both_ways_and_a_close_sends_the_queue_first() {
    let peer = StdListener::bind("127.0.0.1:0").unwrap();
    let remote = peer.local_addr().unwrap();
    let mut h = Harness::new(Vec::new());
    let id = SocketId(1);
    h.request(SocketRequest::TcpConnect {
        socket: id,
        local: Some("127.0.0.1".parse().unwrap()),
        remote,
        options: TcpOptions {
            ttl: Some(1),
            min_ttl: Some(1),
            dscp: Some(48),
            md5: None,
        },
    });
    let (mut accepted, _) = peer.accept().unwrap();
    let events = h.until(|e| {
        e.iter()
            .any(|e| matches!(e, OwnedSocketEvent::Connected { .. }))
    });
    let OwnedSocketEvent::Connected {
        socket,
        remote: r,
        local,
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!((*socket, *r), (id, remote));
    assert_eq!(local.ip(), "127.0.0.1".parse::<std::net::IpAddr>().unwrap());

    accepted.write_all(b"open message").unwrap();
    let events = h.until(|e| stream_bytes(e, id).len() == 12);
    assert_eq!(stream_bytes(&events, id), b"open message");

    // A large reply, then a close: every byte arrives before the FIN.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    h.transmit(id, &big);
    h.request(SocketRequest::Close { socket: id });
    accepted.set_read_timeout(Some(LIMIT)).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        accepted.read_to_end(&mut got).unwrap();
        got
    });
    h.until(|_| reader.is_finished());
    assert_eq!(reader.join().unwrap(), big);
    assert!(h.sockets.is_empty(), "the closed stream is gone");
}

#[test]
fn a_listener_accepts_and_reports_the_peer_closing() {
    // A port the kernel just handed out and took back (loopback only).
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut h = Harness::new(Vec::new());
    let listener = SocketId(5);
    h.request(SocketRequest::TcpListen {
        socket: listener,
        local,
        options: TcpOptions::default(),
        peers: Vec::new(),
    });
    assert!(h.sockets.take_events().is_empty(), "listening worked");
    let mut client = std::net::TcpStream::connect(local).unwrap();
    let events = h.until(|e| !e.is_empty());
    let OwnedSocketEvent::Accepted {
        listener: l,
        socket,
        local: at,
        remote,
    } = events[0].clone()
    else {
        panic!("{events:?}");
    };
    assert_eq!((l, at), (listener, local));
    assert!(socket.is_accepted());
    assert_eq!(remote, client.local_addr().unwrap());

    h.transmit(socket, b"keepalive");
    let mut buf = [0; 9];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"keepalive");
    drop(client);
    let events = h.until(|e| closed(e, socket).is_some());
    assert_eq!(closed(&events, socket), Some(None), "an orderly close");
    assert_eq!(h.sockets.len(), 1, "the listener stays");

    // The same id twice is refused without touching the first.
    h.request(SocketRequest::TcpListen {
        socket: listener,
        local,
        options: TcpOptions::default(),
        peers: Vec::new(),
    });
    let events = h.sockets.take_events();
    assert!(
        matches!(&events[..], [(_, OwnedSocketEvent::Closed { socket, error: Some(_) })] if *socket == listener)
    );
    assert_eq!(h.sockets.len(), 1);
}

#[test]
fn a_refused_connect_is_reported_closed_with_the_error() {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut h = Harness::new(Vec::new());
    let id = SocketId(2);
    h.request(SocketRequest::TcpConnect {
        socket: id,
        local: None,
        remote: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        options: TcpOptions::default(),
    });
    let events = h.until(|e| closed(e, id).is_some());
    let error = closed(&events, id).unwrap().expect("an error");
    assert!(error.contains("refused"), "{error}");
    assert!(h.sockets.is_empty());
}

#[test]
fn sockets_of_a_removed_instance_are_closed_silently() {
    let peer = StdListener::bind("127.0.0.1:0").unwrap();
    let mut h = Harness::new(Vec::new());
    h.request(SocketRequest::TcpConnect {
        socket: SocketId(1),
        local: None,
        remote: peer.local_addr().unwrap(),
        options: TcpOptions::default(),
    });
    let (mut accepted, _) = peer.accept().unwrap();
    h.sockets.retain_owners(h.poll.registry(), &[OWNER + 1]);
    assert!(h.sockets.is_empty());
    assert!(h.sockets.take_events().is_empty());
    let mut rest = Vec::new();
    accepted.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(accepted.read_to_end(&mut rest).unwrap(), 0, "closed");
}

#[test]
fn raw_ipv4_sockets_exchange_datagrams_on_their_interface() {
    if !crate::testkit::netns::require_root("raw_ipv4_sockets", "raw sockets") {
        return;
    }
    // Two owners' raw sockets for an unassigned protocol (253, RFC 3692
    // experimentation) on the loopback interface.
    let lo = PortInterface {
        name: "lo".into(),
        ifindex: 1,
    };
    let mut h = Harness::new(vec![lo]);
    let raw = |socket| SocketRequest::RawIpv4 {
        socket,
        protocol: 253,
        port: 0,
        groups: vec![Ipv4Addr::new(224, 0, 0, 5)],
        dscp: Some(48),
    };
    h.request(raw(SocketId(1)));
    h.sockets
        .request(h.poll.registry(), OWNER + 1, raw(SocketId(1)));
    assert!(h.sockets.take_events().is_empty(), "both opened");
    let hello = b"hello, neighbour";
    let t = Transmit {
        socket: SocketId(1),
        destination: Some(Ipv4Addr::LOCALHOST.into()),
        bytes: hello.to_vec(),
    };
    h.sockets.transmit(h.poll.registry(), OWNER + 1, t);
    let deadline = Instant::now() + LIMIT;
    let packet = loop {
        let events = h.sockets.take_events();
        if let Some((_, OwnedSocketEvent::Datagram { packet, .. })) =
            events.into_iter().find(|(o, _)| *o == OWNER)
        {
            break packet;
        }
        assert!(Instant::now() < deadline, "no datagram");
        h.poll
            .poll(&mut h.events, Some(Duration::from_millis(50)))
            .unwrap();
        let tokens: Vec<_> = h.events.iter().map(|e| e.token()).collect();
        for token in tokens {
            h.sockets.ready(h.poll.registry(), token, true, false);
        }
    };
    let header = usize::from(packet[0] & 0x0f) * 4;
    assert_eq!(packet[9], 253, "protocol");
    assert_eq!(packet[1] >> 2, 48, "DSCP CS6");
    assert_eq!(packet[8], 1, "TTL 1");
    assert_eq!(&packet[header..], hello);

    // A raw datagram without a destination is refused: the socket closes.
    h.transmit(SocketId(1), b"x");
    let events = h.sockets.take_events();
    assert!(
        matches!(
            &events[..],
            [(OWNER, OwnedSocketEvent::Closed { error: Some(_), .. })]
        ),
        "{events:?}"
    );
}
