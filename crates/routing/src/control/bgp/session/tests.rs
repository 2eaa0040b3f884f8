//! The session state machine driven by bytes and `now` alone: every
//! transition of RFC 4271 §8.2.2 the speaker relies on.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::message::{self, code, Capabilities, Open};
use super::*;
use crate::control::protocol::{frozen_clock, SocketRequest};

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub(super) fn config(passive: bool) -> SessionConfig {
    SessionConfig {
        local_as: 65000,
        router_id: LOCAL_ID,
        remote_as: 65001,
        remote: "192.0.2.2".parse().unwrap(),
        local: None,
        passive,
        hold_time: 90,
        connect_retry: Duration::from_secs(5),
        ttl: Some(1),
        min_ttl: None,
        md5: None,
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
        graceful_restart: true,
        role: None,
        strict_role: false,
    }
}

pub(super) fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "192.0.2.1:40000".parse().unwrap(),
        "192.0.2.2:179".parse().unwrap(),
    )
}

/// The peer's OPEN.
pub(super) fn peer_open(asn: u32, hold_time: u16, router_id: Ipv4Addr) -> Vec<u8> {
    Open {
        asn,
        hold_time,
        router_id,
        capabilities: Capabilities {
            families: vec![Family::Ipv4Unicast],
            multiprotocol: true,
            route_refresh: true,
            four_octet_as: Some(asn),
            graceful_restart: None,
            ..Capabilities::default()
        },
    }
    .encode()
}

/// A session and its socket numbering.
pub(super) struct Rig {
    pub(super) s: Session,
    pub(super) ids: SocketIds,
    pub(super) t0: Instant,
}

impl Rig {
    pub(super) fn new(passive: bool) -> Self {
        let t0 = frozen_clock();
        Rig {
            s: Session::new(config(passive), t0),
            ids: SocketIds::new(100),
            t0,
        }
    }

    pub(super) fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    pub(super) fn drain(&mut self) -> Vec<SessionOutput> {
        std::iter::from_fn(|| self.s.poll()).collect()
    }

    /// Messages sent on `socket`, as (type, bytes).
    pub(super) fn sent(out: &[SessionOutput]) -> Vec<(u8, Vec<u8>)> {
        out.iter()
            .filter_map(|o| match o {
                SessionOutput::Send { bytes, .. } => Some((bytes[18], bytes.clone())),
                _ => None,
            })
            .collect()
    }

    /// Started and connected: OpenSent on socket 100.
    pub(super) fn open_sent(&mut self) -> SocketId {
        self.s.start(self.t0, &mut self.ids);
        let (l, r) = addrs();
        self.s.connected(self.t0, SocketId(100), l, r);
        self.drain();
        SocketId(100)
    }

    /// Established on socket 100 with a hold time of 30 s.
    pub(super) fn established(&mut self) -> SocketId {
        let socket = self.open_sent();
        self.s
            .received(self.t0, socket, &peer_open(65001, 30, PEER_ID));
        self.s.received(self.t0, socket, &message::keepalive());
        assert_eq!(self.s.state(), State::Established);
        self.drain();
        socket
    }
}

/// The NOTIFICATION (code, subcode, data) among `out`, and whether the
/// socket was closed after it.
pub(super) fn notification(out: &[SessionOutput]) -> Option<(u8, u8, Vec<u8>, bool)> {
    let at = out.iter().position(
        |o| matches!(o, SessionOutput::Send { bytes, .. } if bytes[18] == message::NOTIFICATION),
    )?;
    let SessionOutput::Send { bytes, socket } = &out[at] else {
        return None;
    };
    let n = Notification::parse(&bytes[19..]);
    let closed = out[at..].contains(&SessionOutput::Socket(SocketRequest::Close {
        socket: *socket,
    }));
    Some((n.code, n.subcode, n.data, closed))
}

#[test]
fn idle_start_connects_and_connect_retry_expiry_tries_again() {
    let mut r = Rig::new(false);
    assert_eq!(r.s.state(), State::Idle);
    assert_eq!(r.s.poll_timeout(), None);
    r.s.start(r.t0, &mut r.ids);
    assert_eq!(r.s.state(), State::Connect);
    let out = r.drain();
    let [SessionOutput::Socket(SocketRequest::TcpConnect {
        socket,
        remote,
        options,
        ..
    })] = &out[..]
    else {
        panic!("{out:?}");
    };
    assert_eq!(
        (*socket, remote.port(), options.ttl),
        (SocketId(100), 179, Some(1))
    );
    assert_eq!(r.s.poll_timeout(), Some(r.at(5)));
    // ConnectRetry expires in Connect: the attempt is dropped, a new one made.
    r.s.timeout(r.at(5), &mut r.ids);
    let out = r.drain();
    assert_eq!(
        out[0],
        SessionOutput::Socket(SocketRequest::Close {
            socket: SocketId(100)
        })
    );
    assert!(matches!(
        out[1],
        SessionOutput::Socket(SocketRequest::TcpConnect {
            socket: SocketId(101),
            ..
        })
    ));
    // The connect fails: Active, until the timer connects again.
    r.s.closed(r.at(6), SocketId(101), Some("refused"));
    assert_eq!(r.s.state(), State::Active);
    assert_eq!(r.s.poll_timeout(), Some(r.at(10)));
    r.s.timeout(r.at(10), &mut r.ids);
    assert_eq!(r.s.state(), State::Connect);
}

#[test]
fn a_passive_session_waits_in_active_and_sends_open_on_accept() {
    let mut r = Rig::new(true);
    r.s.start(r.t0, &mut r.ids);
    assert_eq!(r.s.state(), State::Active);
    assert!(r.drain().is_empty(), "a passive session never connects");
    assert_eq!(r.s.poll_timeout(), None);
    let (l, rem) = addrs();
    r.s.accepted(r.t0, SocketId(SocketId::ACCEPTED), l, rem);
    assert_eq!(r.s.state(), State::OpenSent);
    let sent = Rig::sent(&r.drain());
    assert_eq!(sent.len(), 1);
    let open = Open::parse(&sent[0].1[19..]).unwrap();
    assert_eq!(
        (open.asn, open.hold_time, open.router_id),
        (65000, 90, LOCAL_ID)
    );
    assert_eq!(
        open.capabilities.families,
        [Family::Ipv4Unicast, Family::Ipv6Unicast]
    );
    assert!(open.capabilities.route_refresh);
    assert_eq!(open.capabilities.four_octet_as, Some(65000));
    assert_eq!(
        r.s.poll_timeout(),
        Some(r.at(240)),
        "the large hold time of OpenSent"
    );
}

#[test]
fn open_then_keepalive_establish_with_the_smaller_hold_time() {
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    assert_eq!(r.s.state(), State::OpenSent);
    r.s.received(r.t0, socket, &peer_open(65001, 30, PEER_ID));
    assert_eq!(r.s.state(), State::OpenConfirm);
    let sent = Rig::sent(&r.drain());
    assert_eq!(sent, [(message::KEEPALIVE, message::keepalive())]);
    assert_eq!(
        r.s.poll_timeout(),
        Some(r.at(10)),
        "keepalive every third of 30 s"
    );
    r.s.received(r.at(1), socket, &message::keepalive());
    assert_eq!(r.s.state(), State::Established);
    assert_eq!(r.drain(), [SessionOutput::Up]);
    let n = r.s.negotiated().unwrap();
    assert_eq!((n.hold_time, n.four_octet_as), (30, true));
    assert_eq!(n.families, [Family::Ipv4Unicast], "only what both offer");
    // Keepalives go out every 10 s; the peer's keep the hold timer moving.
    r.s.timeout(r.at(10), &mut r.ids);
    assert_eq!(Rig::sent(&r.drain()).len(), 1);
    r.s.received(r.at(25), socket, &message::keepalive());
    r.s.timeout(r.at(31), &mut r.ids);
    assert_eq!(r.s.state(), State::Established, "hold restarted at 25 s");
}

#[test]
fn hold_timer_expiry_notifies_goes_down_and_restarts_after_a_doubling_idle_hold() {
    let mut r = Rig::new(false);
    let socket = r.established();
    r.s.timeout(r.at(10), &mut r.ids);
    r.s.timeout(r.at(20), &mut r.ids);
    r.drain();
    r.s.timeout(r.at(30), &mut r.ids);
    let out = r.drain();
    assert_eq!(
        notification(&out),
        Some((code::HOLD_TIMER_EXPIRED, 0, vec![], true))
    );
    assert!(out.contains(&SessionOutput::Down));
    assert_eq!(r.s.state(), State::Idle);
    assert_eq!(
        r.s.stats().last_error_sent.as_deref(),
        Some("4/0 (hold timer expired)")
    );
    assert_eq!(r.s.poll_timeout(), Some(r.at(31)), "idle hold 1 s");
    r.s.timeout(r.at(31), &mut r.ids);
    assert_eq!(r.s.state(), State::Connect);
    let _ = socket;
    // It fails again in OpenSent: the idle hold doubles.
    let (l, rem) = addrs();
    r.s.connected(r.at(32), SocketId(101), l, rem);
    r.s.received(r.at(32), SocketId(101), &peer_open(65009, 30, PEER_ID));
    assert_eq!(r.s.poll_timeout(), Some(r.at(34)));
}

#[test]
fn bad_opens_get_the_open_message_error_subcodes() {
    let mut version3 = peer_open(65001, 90, PEER_ID);
    version3[19] = 3;
    let cases: [(Vec<u8>, u8, Vec<u8>); 5] = [
        (
            peer_open(65002, 90, PEER_ID),
            code::OPEN_BAD_PEER_AS,
            vec![],
        ),
        (
            peer_open(65001, 2, PEER_ID),
            code::OPEN_UNACCEPTABLE_HOLD_TIME,
            vec![],
        ),
        (
            peer_open(65001, 90, Ipv4Addr::UNSPECIFIED),
            code::OPEN_BAD_BGP_ID,
            vec![0; 4],
        ),
        (version3, code::OPEN_UNSUPPORTED_VERSION, vec![0, 4]),
        // An optional parameter other than capabilities.
        (
            {
                let mut m = message::header(message::OPEN, 13);
                m.extend_from_slice(&[4, 0xfd, 0xe9, 0, 90, 192, 0, 2, 2, 3, 1, 1, 0]);
                m
            },
            code::OPEN_UNSUPPORTED_PARAMETER,
            vec![],
        ),
    ];
    for (open, subcode, data) in cases {
        let mut r = Rig::new(false);
        let socket = r.open_sent();
        r.s.received(r.t0, socket, &open);
        let out = r.drain();
        assert_eq!(
            notification(&out),
            Some((code::OPEN, subcode, data, true)),
            "{subcode}"
        );
        assert_eq!(r.s.state(), State::Idle);
    }
}

#[test]
fn unexpected_messages_are_fsm_errors_with_the_state_subcode() {
    let update = super::update_out::end_of_rib(Family::Ipv4Unicast);
    // KEEPALIVE in OpenSent.
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    r.s.received(r.t0, socket, &message::keepalive());
    assert_eq!(
        notification(&r.drain()).map(|n| (n.0, n.1)),
        Some((code::FSM, 1))
    );
    // UPDATE in OpenConfirm.
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    r.s.received(r.t0, socket, &peer_open(65001, 90, PEER_ID));
    r.drain();
    r.s.received(r.t0, socket, &update);
    assert_eq!(
        notification(&r.drain()).map(|n| (n.0, n.1)),
        Some((code::FSM, 2))
    );
    // OPEN in Established.
    let mut r = Rig::new(false);
    let socket = r.established();
    r.s.received(r.t0, socket, &peer_open(65001, 90, PEER_ID));
    let out = r.drain();
    assert_eq!(notification(&out).map(|n| (n.0, n.1)), Some((code::FSM, 3)));
    assert!(out.contains(&SessionOutput::Down));
}

#[test]
fn header_errors_answer_with_their_subcode_and_data() {
    let mut bad_marker = message::keepalive();
    bad_marker[3] = 0;
    let mut bad_length = message::keepalive();
    bad_length[17] = 20;
    let mut bad_type = message::keepalive();
    bad_type[18] = 9;
    let cases = [
        (bad_marker, code::HEADER_NOT_SYNCHRONIZED, vec![]),
        (bad_length, code::HEADER_BAD_LENGTH, vec![0, 20]),
        (bad_type, code::HEADER_BAD_TYPE, vec![9]),
    ];
    for (msg, subcode, data) in cases {
        let mut r = Rig::new(false);
        let socket = r.established();
        r.s.received(r.t0, socket, &msg);
        let out = r.drain();
        assert_eq!(
            notification(&out),
            Some((code::HEADER, subcode, data, true))
        );
        assert!(out.contains(&SessionOutput::Down));
    }
}

#[test]
fn updates_and_route_refresh_come_out_in_established_whatever_the_split() {
    let mut r = Rig::new(false);
    let socket = r.established();
    let mut stream = super::update_out::end_of_rib(Family::Ipv4Unicast);
    stream.extend(message::route_refresh(Family::Ipv6Unicast));
    stream.extend(message::keepalive());
    for b in &stream {
        r.s.received(r.t0, socket, std::slice::from_ref(b));
    }
    let out = r.drain();
    let SessionOutput::Update(u) = &out[0] else {
        panic!("{out:?}");
    };
    assert_eq!(u.end_of_rib, Some(Family::Ipv4Unicast));
    assert_eq!(out[1], SessionOutput::RouteRefresh(Family::Ipv6Unicast));
    assert_eq!(out.len(), 2);
    assert_eq!(
        r.s.stats().messages_in,
        5,
        "OPEN, KEEPALIVE, UPDATE, ROUTE-REFRESH, KEEPALIVE"
    );
    // A malformed UPDATE (withdrawn length past the end) resets.
    let mut bad = message::header(message::UPDATE, 4);
    bad.extend_from_slice(&[0, 9, 0, 0]);
    r.s.received(r.t0, socket, &bad);
    let out = r.drain();
    assert_eq!(
        notification(&out).map(|n| (n.0, n.1)),
        Some((code::UPDATE, 1))
    );
}

#[test]
fn a_notification_from_the_peer_takes_the_session_down() {
    let mut r = Rig::new(false);
    let socket = r.established();
    let cease = Notification::cease(code::CEASE_ADMIN_RESET).encode();
    r.s.received(r.at(3), socket, &cease);
    let out = r.drain();
    assert!(out.contains(&SessionOutput::Down));
    assert!(out.contains(&SessionOutput::Socket(SocketRequest::Close { socket })));
    assert_eq!(
        Rig::sent(&out),
        [],
        "no NOTIFICATION answers a NOTIFICATION"
    );
    assert_eq!(
        r.s.stats().last_error_received.as_deref(),
        Some("6/4 (cease: administrative reset)")
    );
    assert_eq!(r.s.state(), State::Idle);
    // The peer reconnects during the idle hold: accepted at once.
    let (l, rem) = addrs();
    r.s.accepted(r.at(3), SocketId(SocketId::ACCEPTED), l, rem);
    assert_eq!(r.s.state(), State::OpenSent);
}

#[test]
fn operator_stop_sends_cease_and_stays_idle() {
    let mut r = Rig::new(false);
    let socket = r.established();
    r.s.stop(r.at(1), code::CEASE_ADMIN_SHUTDOWN);
    let out = r.drain();
    assert_eq!(
        notification(&out),
        Some((code::CEASE, code::CEASE_ADMIN_SHUTDOWN, vec![], true))
    );
    assert!(out.contains(&SessionOutput::Down));
    assert_eq!((r.s.state(), r.s.poll_timeout()), (State::Idle, None));
    // Connections are refused until it is started again.
    let (l, rem) = addrs();
    r.s.accepted(r.at(2), SocketId(SocketId::ACCEPTED), l, rem);
    assert_eq!(
        r.drain(),
        [SessionOutput::Socket(SocketRequest::Close {
            socket: SocketId(SocketId::ACCEPTED)
        })]
    );
    let _ = socket;
}

#[test]
fn operator_reset_sends_cease_and_connects_again_after_the_idle_hold() {
    let mut r = Rig::new(false);
    r.established();
    r.s.reset(r.at(1), code::CEASE_ADMIN_RESET);
    let out = r.drain();
    assert_eq!(
        notification(&out),
        Some((code::CEASE, code::CEASE_ADMIN_RESET, vec![], true))
    );
    assert!(out.contains(&SessionOutput::Down));
    // No new connection before the peer has the close: after 1 s.
    assert!(!out
        .iter()
        .any(|o| matches!(o, SessionOutput::Socket(SocketRequest::TcpConnect { .. }))));
    assert_eq!(
        (r.s.state(), r.s.poll_timeout()),
        (State::Idle, Some(r.at(2)))
    );
    r.s.timeout(r.at(2), &mut r.ids);
    assert!(matches!(
        r.drain()[..],
        [SessionOutput::Socket(SocketRequest::TcpConnect { .. })]
    ));
    assert_eq!(r.s.state(), State::Connect);
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    r.s.received(r.t0, socket, &peer_open(65001, 0, PEER_ID));
    r.s.received(r.t0, socket, &message::keepalive());
    assert_eq!(r.s.state(), State::Established);
    assert_eq!(r.s.poll_timeout(), None);
}

#[test]
fn the_peer_closing_an_established_session_goes_down_and_comes_back() {
    let mut r = Rig::new(false);
    let socket = r.established();
    r.s.closed(r.at(100), socket, None);
    let out = r.drain();
    assert_eq!(out, [SessionOutput::Down]);
    assert_eq!(r.s.state(), State::Idle);
    r.s.timeout(r.at(101), &mut r.ids);
    assert_eq!(r.s.state(), State::Connect);
}

proptest! {
    /// Whatever a peer sends, in whatever state: no panic, no unbounded
    /// buffer, and every NOTIFICATION sent is followed by a close.
    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8),
        established in any::<bool>(),
    ) {
        let mut r = Rig::new(false);
        let socket = if established { r.established() } else { r.open_sent() };
        for c in &chunks {
            r.s.received(r.t0, socket, c);
        }
        let out = r.drain();
        if let Some((_, _, _, closed)) = notification(&out) {
            prop_assert!(closed);
        }
    }
}

#[test]
fn a_lost_connection_of_a_graceful_restart_peer_is_a_graceful_down() {
    let gr_open = |hold| {
        let mut open = Open::parse(&peer_open(65001, hold, PEER_ID)[19..]).unwrap();
        open.capabilities.graceful_restart = Some(message::GracefulRestart {
            restart_time: 30,
            families: vec![(Family::Ipv4Unicast, true)],
        });
        open.encode()
    };
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    r.s.received(r.t0, socket, &gr_open(9));
    r.s.received(r.t0, socket, &message::keepalive());
    r.drain();
    r.s.closed(r.at(1), socket, Some("connection reset"));
    let graceful = SessionOutput::GracefulDown {
        families: vec![Family::Ipv4Unicast],
        restart_time: 30,
    };
    assert_eq!(r.drain(), [graceful]);
    // The hold timer expiring is no graceful restart (RFC 4724 §4.2).
    let mut r = Rig::new(false);
    let socket = r.open_sent();
    r.s.received(r.t0, socket, &gr_open(9));
    r.s.received(r.t0, socket, &message::keepalive());
    r.drain();
    r.s.timeout(r.at(9), &mut r.ids);
    assert!(r.drain().contains(&SessionOutput::Down));
}
