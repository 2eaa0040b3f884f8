//! The OPEN exchange of a connection: the peer's OPEN checked (RFC 4271
//! §6.2), the hold time and capabilities negotiated, connection collision
//! resolved (§6.8), and the KEEPALIVE that makes the session Established.

use std::time::{Duration, Instant};

use super::{keepalive_interval, Negotiated, Session, SessionOutput, State};
use crate::control::bgp::policy::Role;
use crate::control::bgp::session::message::{self, code, Capabilities, Notification, Open};
use crate::control::bgp::session::SessionConfig;

/// RFC 9234 §4.2: with a role of ours, the peer's must pair with it; a
/// peer without one is accepted unless in strict mode.
fn roles_agree(cfg: &SessionConfig, caps: &Capabilities) -> bool {
    let Some(ours) = cfg.role else {
        return true;
    };
    match caps.role {
        _ if caps.role_conflict => false,
        None => !cfg.strict_role,
        Some(v) => Role::from_value(v) == Some(ours.expected_remote()),
    }
}
use crate::control::protocol::SocketId;

impl Session {
    /// The peer's OPEN in OpenSent: checked (§6.2), hold time negotiated,
    /// collision resolved (§6.8), KEEPALIVE sent: OpenConfirm.
    pub(super) fn open_received(&mut self, now: Instant, socket: SocketId, body: &[u8]) {
        let open = match Open::parse(body) {
            Ok(o) => o,
            Err(n) => return self.error(now, socket, n),
        };
        let bad = |sub: u8, data: Vec<u8>| Notification::new(code::OPEN, sub, data);
        let cfg = self.config.clone();
        let err = if open.asn != cfg.remote_as {
            Some(bad(code::OPEN_BAD_PEER_AS, Vec::new()))
        } else if open.hold_time == 1 || open.hold_time == 2 {
            Some(bad(code::OPEN_UNACCEPTABLE_HOLD_TIME, Vec::new()))
        } else if open.router_id.is_unspecified()
            || (open.asn == cfg.local_as && open.router_id == cfg.router_id)
        {
            Some(bad(code::OPEN_BAD_BGP_ID, open.router_id.octets().to_vec()))
        } else if !roles_agree(&cfg, &open.capabilities) {
            Some(bad(code::OPEN_ROLE_MISMATCH, Vec::new()))
        } else {
            None
        };
        if let Some(n) = err {
            return self.error(now, socket, n);
        }
        // §6.8 against a connection that already has the peer's OPEN.
        if let Some(other) = self
            .conns
            .iter()
            .find(|c| c.socket != socket && c.state >= State::OpenConfirm)
        {
            let (other_socket, other_state, other_outgoing) =
                (other.socket, other.state, other.outgoing);
            let this_outgoing = !other_outgoing;
            let loser = if other_state == State::Established {
                socket
            } else if u32::from(cfg.router_id) < u32::from(open.router_id) {
                // The peer's identifier is higher: its connection stays.
                if this_outgoing {
                    socket
                } else {
                    other_socket
                }
            } else if this_outgoing {
                other_socket
            } else {
                socket
            };
            let n = Notification::cease(code::CEASE_COLLISION);
            self.send(loser, n.encode());
            let why = format!("sent {} (collision)", n.describe());
            self.drop_conn_quietly(now, loser, why);
            if loser == socket {
                return;
            }
        }
        let hold_time = cfg.hold_time.min(open.hold_time);
        let mine = &self.config.families;
        let families = open
            .capabilities
            .effective_families()
            .into_iter()
            .filter(|f| mine.contains(f))
            .collect();
        let Some(c) = self.conn_mut(socket) else {
            return;
        };
        let Some((local, remote)) = c.addrs else {
            return;
        };
        c.negotiated = Some(Negotiated {
            hold_time,
            four_octet_as: open.capabilities.four_octet_as.is_some(),
            route_refresh: open.capabilities.route_refresh,
            families,
            peer: open,
            local,
            remote,
        });
        c.state = State::OpenConfirm;
        let hold = Duration::from_secs(u64::from(hold_time));
        c.hold_at = (hold_time > 0).then_some(now + hold);
        c.keepalive_at = (hold_time > 0).then_some(now + keepalive_interval(hold_time));
        self.send(socket, message::keepalive());
    }

    /// Drops a collision loser without sending the session to Idle.
    pub(super) fn drop_conn_quietly(&mut self, _now: Instant, socket: SocketId, why: String) {
        self.conns.retain(|c| c.socket != socket);
        self.close(socket);
        self.stats.last_down = Some(why);
    }

    /// KEEPALIVE in OpenConfirm: Established.
    pub(super) fn establish(&mut self, now: Instant, socket: SocketId) {
        let others: Vec<SocketId> = self
            .conns
            .iter()
            .filter(|c| c.socket != socket)
            .map(|c| c.socket)
            .collect();
        for other in others {
            let n = Notification::cease(code::CEASE_COLLISION);
            self.send(other, n.encode());
            self.drop_conn_quietly(now, other, format!("sent {} (collision)", n.describe()));
        }
        if let Some(c) = self.conn_mut(socket) {
            c.state = State::Established;
        }
        self.connect_retry_at = None;
        self.established_at = Some(now);
        self.since = now;
        self.stats.established += 1;
        self.out.push_back(SessionOutput::Up);
    }
}
