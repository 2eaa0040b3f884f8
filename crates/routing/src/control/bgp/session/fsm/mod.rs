//! One peer's BGP session: the finite state machine of RFC 4271 §8, sans
//! IO. Events go in as method calls carrying `now` (start and stop from the
//! operator, a connection accepted, connected or closed, stream bytes, a
//! deadline passed); what the session wants done comes out of
//! [`Session::poll`] ([`SessionOutput`]: sockets to open or close, bytes to
//! send, the session going up or down, routes received) and
//! [`Session::poll_timeout`].
//!
//! A session has up to two TCP connections at once (its own and the peer's
//! while both connect); each runs the OpenSent / OpenConfirm part of the
//! machine, and connection collision (§6.8) keeps one. The session's
//! [`State`] is that of its most advanced connection.
//!
//! Deviations, on purpose: in Idle with automatic restart pending (the
//! idle hold after an error, doubled on every failure up to
//! [`MAX_IDLE_HOLD`]), a connection the peer opens is accepted rather than
//! refused, so that a peer that reset the session is back at once; any
//! message, not only KEEPALIVE and UPDATE, restarts the hold timer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{self, code, Family, Notification, Open};

mod open;
mod receive;
use super::update::{ParsedUpdate, UpdateContext};
use super::{SessionConfig, SocketIds};
use crate::control::protocol::{SocketId, SocketRequest, TcpOptions};
use crate::control::queue;

/// The hold time proposed while waiting for the peer's OPEN (§8: "large").
const OPEN_HOLD: Duration = Duration::from_secs(240);
/// The restart time we announce as a graceful restart helper (we never
/// restart gracefully ourselves: no families).
const HELPER_RESTART_TIME: u16 = 120;
/// The first idle hold after a failure.
const IDLE_HOLD: Duration = Duration::from_secs(1);
/// The longest idle hold (failures in a row double it).
pub const MAX_IDLE_HOLD: Duration = Duration::from_secs(120);
/// A session up this long counts as stable: its next failure starts the
/// idle hold from [`IDLE_HOLD`] again.
const STABLE: Duration = Duration::from_secs(60);

/// RFC 4271 §8.2.2's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// What the session asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutput {
    Socket(SocketRequest),
    Send {
        socket: SocketId,
        bytes: Vec<u8>,
    },
    /// The session reached Established ([`Session::negotiated`]).
    Up,
    /// The session left Established: the peer's routes go.
    Down,
    /// The connection of an established session was lost (TCP, no
    /// NOTIFICATION) and the peer announced graceful restart for
    /// `families`: their routes stay, stale, for up to `restart_time`
    /// seconds or until its End-of-RIB (RFC 4724 §4.2); others go.
    GracefulDown {
        families: Vec<Family>,
        restart_time: u16,
    },
    /// An UPDATE received in Established.
    Update(ParsedUpdate),
    /// The peer asks for our routes of a family again (RFC 2918).
    RouteRefresh(Family),
}

/// What both OPENs agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub peer: Open,
    pub hold_time: u16,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    /// Families both announced.
    pub families: Vec<Family>,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

#[derive(Debug)]
struct Conn {
    socket: SocketId,
    outgoing: bool,
    /// Connect (TCP not up yet), OpenSent, OpenConfirm or Established.
    state: State,
    buf: Vec<u8>,
    addrs: Option<(SocketAddr, SocketAddr)>,
    negotiated: Option<Negotiated>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
}

/// Counters and the last errors, for `show bgp`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SessionStats {
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub route_refresh_in: u64,
    pub route_refresh_out: u64,
    /// Times the session reached Established.
    pub established: u64,
    pub last_error_sent: Option<String>,
    pub last_error_received: Option<String>,
    /// Why it last went down (closed connections included).
    pub last_down: Option<String>,
}

/// One peer's session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    /// Automatic start is on (until an operator stop).
    started: bool,
    conns: Vec<Conn>,
    connect_retry_at: Option<Instant>,
    idle_until: Option<Instant>,
    idle_hold: Duration,
    since: Instant,
    established_at: Option<Instant>,
    out: VecDeque<SessionOutput>,
    stats: SessionStats,
}

impl Session {
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Session {
            config,
            started: false,
            conns: Vec::new(),
            connect_retry_at: None,
            idle_until: None,
            idle_hold: IDLE_HOLD,
            since: now,
            established_at: None,
            out: VecDeque::new(),
            stats: SessionStats::default(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        match self.conns.iter().map(|c| c.state).max() {
            Some(s) => s,
            None if !self.started || self.idle_until.is_some() => State::Idle,
            None if self.config.passive => State::Active,
            // Waiting for the connect-retry timer.
            None => State::Active,
        }
    }

    /// When the state last changed to or from Established, or the session
    /// was made.
    pub fn since(&self) -> Instant {
        self.established_at.unwrap_or(self.since)
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// What the established connection negotiated.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.established().and_then(|c| c.negotiated.as_ref())
    }

    fn established(&self) -> Option<&Conn> {
        self.conns.iter().find(|c| c.state == State::Established)
    }

    /// The connections it has (connecting or up).
    pub fn sockets(&self) -> impl Iterator<Item = SocketId> + '_ {
        self.conns.iter().map(|c| c.socket)
    }

    pub fn poll(&mut self) -> Option<SessionOutput> {
        // A full table's UPDATEs handed out at once grew it to 3.3 MB
        // (scripts/bench-bgp), kept for the session's lifetime before.
        queue::pop_front(&mut self.out)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.conns.iter().flat_map(|c| [c.hold_at, c.keepalive_at]);
        [self.connect_retry_at, self.idle_until]
            .into_iter()
            .chain(conns)
            .flatten()
            .min()
    }

    /// ManualStart / AutomaticStart (§8.1.2): connect (Connect) or wait
    /// for the peer (Active, passive sessions).
    pub fn start(&mut self, now: Instant, ids: &mut SocketIds) {
        if self.started {
            return;
        }
        self.started = true;
        self.idle_until = None;
        self.connect(now, ids);
    }

    /// ManualStop (§8.1.2) with Cease `subcode` (RFC 4486: administrative
    /// shutdown, peer de-configured, administrative reset): every
    /// connection is closed and the session stays Idle until started.
    pub fn stop(&mut self, now: Instant, subcode: u8) {
        self.started = false;
        self.connect_retry_at = None;
        self.idle_until = None;
        let up = self.established().is_some();
        for c in std::mem::take(&mut self.conns) {
            if c.state >= State::OpenSent {
                let n = Notification::cease(subcode);
                self.stats.last_error_sent = Some(n.describe());
                self.send(c.socket, n.encode());
            }
            self.close(c.socket);
        }
        if up {
            self.went_down(
                now,
                format!("stopped: {}", Notification::cease(subcode).describe()),
            );
        }
    }

    /// An operator's reset: [`Session::stop`] with Cease `subcode`, then
    /// an automatic start after the first idle hold, so that the peer has
    /// the NOTIFICATION and the close before our next connection (a
    /// connection beside its established one would be refused, Cease 5).
    pub fn reset(&mut self, now: Instant, subcode: u8) {
        self.stop(now, subcode);
        self.started = true;
        self.idle_until = Some(now + IDLE_HOLD);
    }

    /// Opens a connection unless the session is passive (a ConnectRetry
    /// expiry or a start).
    fn connect(&mut self, now: Instant, ids: &mut SocketIds) {
        if self.config.passive {
            return;
        }
        self.connect_retry_at = Some(now + self.config.connect_retry);
        if let Some(i) = self.conns.iter().position(|c| c.outgoing) {
            if self.conns[i].state != State::Connect {
                return;
            }
            // The attempt did not finish in time: a fresh one.
            let old = self.conns.remove(i);
            self.close(old.socket);
        }
        let socket = ids.allocate();
        let remote = SocketAddr::new(self.config.remote, 179);
        self.out
            .push_back(SessionOutput::Socket(SocketRequest::TcpConnect {
                socket,
                local: self.config.local,
                remote,
                options: self.tcp_options(),
            }));
        self.conns.push(Conn::new(socket, true, State::Connect));
    }

    pub fn tcp_options(&self) -> TcpOptions {
        TcpOptions {
            ttl: self.config.ttl,
            min_ttl: self.config.min_ttl,
            dscp: Some(48),
            md5: self.config.md5.clone(),
        }
    }

    /// The peer connected to us.
    pub fn accepted(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        if !self.started {
            self.close(socket);
            return;
        }
        if self.established().is_some() {
            // §6.8: a connection beside an established one is refused.
            let n = Notification::cease(code::CEASE_CONNECTION_REJECTED);
            self.send(socket, n.encode());
            self.close(socket);
            return;
        }
        if let Some(i) = self.conns.iter().position(|c| !c.outgoing) {
            let old = self.conns.remove(i);
            self.close(old.socket);
        }
        self.idle_until = None;
        let mut conn = Conn::new(socket, false, State::Connect);
        conn.addrs = Some((local, remote));
        self.conns.push(conn);
        self.open_sent(now, socket);
    }

    /// Our connection came up (TcpConnectionConfirmed).
    pub fn connected(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let Some(c) = self.conn_mut(socket).filter(|c| c.state == State::Connect) else {
            return;
        };
        c.addrs = Some((local, remote));
        self.connect_retry_at = None;
        self.open_sent(now, socket);
    }

    /// Sends our OPEN: the connection is in OpenSent.
    fn open_sent(&mut self, now: Instant, socket: SocketId) {
        let open = Open {
            asn: self.config.local_as,
            hold_time: self.config.hold_time,
            router_id: self.config.router_id,
            capabilities: message::Capabilities {
                families: self.config.families.clone(),
                multiprotocol: true,
                route_refresh: true,
                four_octet_as: Some(self.config.local_as),
                // Helper only (RFC 4724 §3): no families of our own.
                graceful_restart: self
                    .config
                    .graceful_restart
                    .then(|| message::GracefulRestart {
                        restart_time: HELPER_RESTART_TIME,
                        families: Vec::new(),
                    }),
                role: self.config.role.map(|r| r as u8),
                role_conflict: false,
            },
        };
        self.send(socket, open.encode());
        if let Some(c) = self.conn_mut(socket) {
            c.state = State::OpenSent;
            c.hold_at = Some(now + OPEN_HOLD);
        }
    }

    /// A connection closed or failed (TcpConnectionFails).
    pub fn closed(&mut self, now: Instant, socket: SocketId, error: Option<&str>) {
        let Some(i) = self.conns.iter().position(|c| c.socket == socket) else {
            return;
        };
        let c = self.conns.remove(i);
        let why = format!(
            "connection closed{}",
            error.map(|e| format!(": {e}")).unwrap_or_default()
        );
        match c.state {
            State::Established => {
                let gr = c.negotiated.as_ref().and_then(|n| {
                    let gr = n.peer.capabilities.graceful_restart.as_ref()?;
                    self.config.graceful_restart.then_some(gr.clone())
                });
                self.went_down(now, why);
                if let Some(gr) = gr {
                    // The plain Down just queued becomes a graceful one.
                    if self.out.back() == Some(&SessionOutput::Down) {
                        self.out.pop_back();
                    }
                    self.out.push_back(SessionOutput::GracefulDown {
                        families: gr.families.iter().map(|(f, _)| *f).collect(),
                        restart_time: gr.restart_time,
                    });
                }
                self.idle(now);
            }
            // A failed connect waits for the connect-retry timer (Active).
            State::Connect => self.stats.last_down = Some(why),
            _ => {
                self.stats.last_down = Some(why);
                if self.conns.is_empty() && !self.config.passive {
                    self.connect_retry_at = Some(now + self.config.connect_retry);
                }
            }
        }
    }

    /// Runs every deadline that has passed.
    pub fn timeout(&mut self, now: Instant, ids: &mut SocketIds) {
        if self.idle_until.is_some_and(|t| t <= now) {
            self.idle_until = None;
            if self.started && self.conns.is_empty() {
                self.connect(now, ids);
            }
        }
        if self.connect_retry_at.is_some_and(|t| t <= now) {
            self.connect_retry_at = None;
            if self.started && !self.conns.iter().any(|c| c.state >= State::OpenSent) {
                self.connect(now, ids);
            }
        }
        let due: Vec<(SocketId, bool)> = self
            .conns
            .iter()
            .flat_map(|c| {
                let hold = c
                    .hold_at
                    .is_some_and(|t| t <= now)
                    .then_some((c.socket, true));
                let ka = c
                    .keepalive_at
                    .is_some_and(|t| t <= now)
                    .then_some((c.socket, false));
                hold.into_iter().chain(ka)
            })
            .collect();
        for (socket, hold) in due {
            if hold {
                let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new());
                self.error(now, socket, n);
            } else if let Some(c) = self.conn_mut(socket) {
                let hold = c.negotiated.as_ref().map_or(0, |n| n.hold_time);
                c.keepalive_at = Some(now + keepalive_interval(hold));
                self.send(socket, message::keepalive());
            }
        }
    }

    /// Sends bytes (UPDATEs, ROUTE-REFRESH) on the established connection.
    pub fn send_established(&mut self, bytes: Vec<u8>) -> bool {
        let Some(socket) = self.established().map(|c| c.socket) else {
            return false;
        };
        match bytes.get(18) {
            Some(&message::UPDATE) => self.stats.updates_out += 1,
            Some(&message::ROUTE_REFRESH) => self.stats.route_refresh_out += 1,
            _ => {}
        }
        self.send(socket, bytes);
        true
    }

    fn send(&mut self, socket: SocketId, bytes: Vec<u8>) {
        self.stats.messages_out += 1;
        self.out.push_back(SessionOutput::Send { socket, bytes });
    }

    fn close(&mut self, socket: SocketId) {
        self.out
            .push_back(SessionOutput::Socket(SocketRequest::Close { socket }));
    }

    fn conn_mut(&mut self, socket: SocketId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.socket == socket)
    }

    /// A protocol error on a connection: NOTIFICATION, close, Idle.
    fn error(&mut self, now: Instant, socket: SocketId, n: Notification) {
        self.stats.last_error_sent = Some(n.describe());
        self.send(socket, n.encode());
        self.drop_conn(now, socket, format!("sent {}", n.describe()));
    }

    /// Closes a connection after an error on it; the session goes Idle
    /// (with its idle hold) if it has no other.
    fn drop_conn(&mut self, now: Instant, socket: SocketId, why: String) {
        let Some(i) = self.conns.iter().position(|c| c.socket == socket) else {
            return;
        };
        let c = self.conns.remove(i);
        self.close(socket);
        if c.state == State::Established {
            self.went_down(now, why);
        } else {
            self.stats.last_down = Some(why);
        }
        if self.conns.is_empty() {
            self.idle(now);
        }
    }

    /// Idle with automatic restart after the idle hold.
    fn idle(&mut self, now: Instant) {
        self.connect_retry_at = None;
        if self.started {
            self.idle_until = Some(now + self.idle_hold);
            self.idle_hold = (self.idle_hold * 2).min(MAX_IDLE_HOLD);
        }
    }

    fn went_down(&mut self, now: Instant, why: String) {
        if self
            .established_at
            .is_some_and(|t| now.saturating_duration_since(t) >= STABLE)
        {
            self.idle_hold = IDLE_HOLD;
        }
        self.established_at = None;
        self.since = now;
        self.stats.last_down = Some(why);
        self.out.push_back(SessionOutput::Down);
    }
}

impl Conn {
    fn new(socket: SocketId, outgoing: bool, state: State) -> Self {
        Conn {
            socket,
            outgoing,
            state,
            buf: Vec::new(),
            addrs: None,
            negotiated: None,
            hold_at: None,
            keepalive_at: None,
        }
    }

    fn update_context(&self) -> Option<UpdateContext> {
        let n = self.negotiated.as_ref()?;
        Some(UpdateContext {
            four_octet_as: n.four_octet_as,
            ebgp: false,
            peer_as: n.peer.asn,
        })
    }
}

/// A third of the hold time (§10), at least a second.
fn keepalive_interval(hold: u16) -> Duration {
    Duration::from_secs(u64::from(hold / 3).max(1))
}
