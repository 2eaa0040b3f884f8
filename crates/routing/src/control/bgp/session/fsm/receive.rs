//! What a connection receives: the stream cut into messages (never more
//! than one held), each handled as its connection's state says (§8.2.2).

use std::time::{Duration, Instant};

use super::{Session, SessionOutput, State};
use crate::control::bgp::session::message::{self, code, frame, Notification, HEADER_LEN};
use crate::control::bgp::session::update::parse_update;
use crate::control::protocol::SocketId;

impl Session {
    /// Bytes of a connection's stream.
    pub fn received(&mut self, now: Instant, socket: SocketId, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let Some(c) = self.conn_mut(socket) else {
                return;
            };
            // Never more than one message's worth is held.
            let take = bytes.len().min(message::MAX_MESSAGE_LEN - c.buf.len());
            c.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            loop {
                let Some(c) = self.conn_mut(socket) else {
                    return;
                };
                match frame(&c.buf) {
                    Ok(None) => break,
                    Ok(Some((kind, len))) => {
                        let msg: Vec<u8> = c.buf.drain(..len).collect();
                        self.message(now, socket, kind, &msg[HEADER_LEN..]);
                    }
                    Err(n) => return self.error(now, socket, n),
                }
            }
        }
    }

    /// One whole message of a connection.
    pub(super) fn message(&mut self, now: Instant, socket: SocketId, kind: u8, body: &[u8]) {
        self.stats.messages_in += 1;
        let Some(c) = self.conn_mut(socket) else {
            return;
        };
        let state = c.state;
        if let Some(hold) = c
            .negotiated
            .as_ref()
            .map(|n| n.hold_time)
            .filter(|&h| h > 0)
        {
            c.hold_at = Some(now + Duration::from_secs(u64::from(hold)));
        }
        let unexpected = match state {
            State::OpenSent => code::FSM_IN_OPEN_SENT,
            State::OpenConfirm => code::FSM_IN_OPEN_CONFIRM,
            _ => code::FSM_IN_ESTABLISHED,
        };
        match (state, kind) {
            (_, message::NOTIFICATION) => {
                let n = Notification::parse(body);
                self.stats.last_error_received = Some(n.describe());
                self.drop_conn(now, socket, format!("received {}", n.describe()));
            }
            (State::OpenSent, message::OPEN) => self.open_received(now, socket, body),
            (State::OpenConfirm, message::KEEPALIVE) => self.establish(now, socket),
            (State::Established, message::KEEPALIVE) => {}
            (State::Established, message::UPDATE) => {
                self.stats.updates_in += 1;
                let ebgp = self.config.ebgp();
                let Some(mut cx) = self.conn_mut(socket).and_then(|c| c.update_context()) else {
                    return;
                };
                cx.ebgp = ebgp;
                match parse_update(body, &cx) {
                    Ok(u) => self.out.push_back(SessionOutput::Update(u)),
                    Err(n) => self.error(now, socket, n),
                }
            }
            (State::Established, message::ROUTE_REFRESH) => {
                self.stats.route_refresh_in += 1;
                match message::parse_route_refresh(body) {
                    Ok(Some(f)) => self.out.push_back(SessionOutput::RouteRefresh(f)),
                    Ok(None) => {}
                    Err(n) => self.error(now, socket, n),
                }
            }
            _ => self.error(
                now,
                socket,
                Notification::new(code::FSM, unexpected, Vec::new()),
            ),
        }
    }
}
