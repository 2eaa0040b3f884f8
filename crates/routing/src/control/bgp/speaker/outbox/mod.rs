//! What a peer's Adj-RIB-Out changed that it has not been sent yet, sent
//! as its stream takes it. A full table is ~100 MB of UPDATEs: queued at
//! once it would sit in the event loop (which closes a stream past
//! [`STREAM_BUFFER_LIMIT`](crate::control::protocol::STREAM_BUFFER_LIMIT)),
//! so the speaker keeps the changes as prefixes and hands out UPDATEs only
//! while fewer than [`OUTSTANDING_LIMIT`] bytes are out since the event
//! loop's last [`SocketEvent::Drained`](crate::control::protocol::SocketEvent).
//!
//! Withdrawals go first and are never held by the minimum route
//! advertisement interval (RFC 4271 §9.2.1.1); announcements go in rounds:
//! a round starts when the interval since the end of the last one has
//! passed, and takes in whatever changes while it is being sent. End-of-RIB
//! follows the initial table once nothing is pending.
//!
//! A prefix may sit in a group or the withdrawal list more than once (it
//! changed again before it was sent); only the entry that matches its
//! Adj-RIB-Out entry when it is sent goes out, once (`pending`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::control::bgp::attrs::PathAttrs;
use crate::control::bgp::session::update_out::{encode_announce, encode_withdraw, end_of_rib};
use crate::control::bgp::session::{Family, Session};
use crate::control::hash::{FastMap, FastSet};
use crate::control::prefix_map::PrefixMap;
use crate::control::protocol::STREAM_BUFFER_HIGH;

/// Bytes handed to a peer's stream beyond which the speaker waits for
/// `Drained`. Above [`STREAM_BUFFER_HIGH`], so the event loop reports
/// `Drained` once they are written (it does when more than that was handed
/// since its last report and its queue is empty).
pub(super) const OUTSTANDING_LIMIT: usize = 2 * STREAM_BUFFER_HIGH;

/// Prefixes encoded at a time (about one 4 KiB UPDATE of IPv4 /24s), so a
/// flush stops close to the limit.
const CHUNK: usize = 1024;

/// One peer's unsent changes.
#[derive(Default)]
pub(super) struct Outbox {
    /// Prefixes whose Adj-RIB-Out entry changed since they were last sent.
    pending: FastSet<IpNet>,
    withdrawals: Vec<IpNet>,
    /// Announcements by attribute set, keyed by the set's address (the
    /// sets are interned: hashing the pointer spares hashing and comparing
    /// AS paths per prefix), and the keys in order of arrival.
    groups: FastMap<usize, Group>,
    order: VecDeque<usize>,
    /// End-of-RIB owed once the initial table is out.
    end_of_rib: Vec<Family>,
    /// Bytes handed to the stream since the last `Drained`.
    outstanding: usize,
    /// A round of announcements is being sent.
    in_round: bool,
    /// The next round may not start before then (MRAI).
    next_round: Option<Instant>,
}

/// Prefixes to announce with one attribute set.
struct Group {
    attrs: Arc<PathAttrs>,
    prefixes: Vec<IpNet>,
}

/// What a flush needs of its peer.
pub(super) struct Link<'a> {
    pub(super) session: &'a mut Session,
    pub(super) adj_out: &'a PrefixMap<Arc<PathAttrs>>,
    pub(super) four_octet_as: bool,
    pub(super) interval: Duration,
}

impl Outbox {
    pub(super) fn announce(&mut self, prefix: IpNet, attrs: Arc<PathAttrs>) {
        self.pending.insert(prefix);
        let key = Arc::as_ptr(&attrs) as usize;
        // The group holds its set, so no other set gets its address.
        let group = self.groups.entry(key).or_insert_with(|| {
            self.order.push_back(key);
            Group {
                attrs,
                prefixes: Vec::new(),
            }
        });
        group.prefixes.push(prefix);
    }

    pub(super) fn withdraw(&mut self, prefix: IpNet) {
        self.pending.insert(prefix);
        self.withdrawals.push(prefix);
    }

    /// End-of-RIB for `families` after what is pending now.
    pub(super) fn end_of_rib(&mut self, families: &[Family]) {
        self.end_of_rib = families.to_vec();
    }

    /// The session came up or went down: nothing is owed, nothing is out.
    pub(super) fn reset(&mut self) {
        *self = Outbox::default();
    }

    /// The event loop wrote everything handed so far.
    pub(super) fn drained(&mut self) {
        self.outstanding = 0;
    }

    /// Bytes handed since the last `Drained`.
    pub(super) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Changes not sent yet.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// When a held round of announcements may start.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let waiting = !self.in_round && !self.order.is_empty();
        self.next_round.filter(|_| waiting)
    }

    /// Hands the session as much as the limit allows: withdrawals, then
    /// announcements (if a round may run), then End-of-RIB when nothing is
    /// left.
    pub(super) fn flush(&mut self, now: Instant, link: Link<'_>) {
        let mut messages = Vec::new();
        while self.outstanding < OUTSTANDING_LIMIT && !self.withdrawals.is_empty() {
            let at = self.withdrawals.len().saturating_sub(CHUNK);
            let chunk = self.withdrawals.split_off(at);
            let valid: Vec<IpNet> = chunk
                .into_iter()
                .filter(|p| !link.adj_out.contains_key(p) && self.pending.remove(p))
                .collect();
            encode_withdraw(&valid, &mut messages);
            self.send(link.session, &mut messages);
        }
        if !self.in_round && !self.order.is_empty() {
            if self.next_round.is_some_and(|t| now < t) {
                return;
            }
            self.in_round = true;
        }
        while self.outstanding < OUTSTANDING_LIMIT {
            let Some(&key) = self.order.front() else {
                break;
            };
            let group = self.groups.get_mut(&key).expect("ordered group");
            let at = group.prefixes.len().saturating_sub(CHUNK);
            let chunk = group.prefixes.split_off(at);
            let attrs = Arc::clone(&group.attrs);
            if group.prefixes.is_empty() {
                self.groups.remove(&key);
                self.order.pop_front();
            }
            let current = |p: &IpNet| {
                link.adj_out
                    .get(p)
                    .is_some_and(|a| Arc::ptr_eq(a, &attrs) || **a == *attrs)
            };
            let valid: Vec<IpNet> = chunk
                .into_iter()
                .filter(|p| current(p) && self.pending.remove(p))
                .collect();
            encode_announce(&attrs, &valid, link.four_octet_as, &mut messages);
            self.send(link.session, &mut messages);
        }
        if self.in_round && self.order.is_empty() {
            self.in_round = false;
            self.next_round = Some(now + link.interval);
        }
        if self.order.is_empty() && self.withdrawals.is_empty() {
            for f in std::mem::take(&mut self.end_of_rib) {
                messages.push(end_of_rib(f));
            }
            self.send(link.session, &mut messages);
            // A full table's worth of bookkeeping is not kept once sent.
            self.pending = FastSet::default();
            self.groups = FastMap::default();
            self.withdrawals = Vec::new();
        }
    }

    fn send(&mut self, session: &mut Session, messages: &mut Vec<Vec<u8>>) {
        for m in messages.drain(..) {
            self.outstanding += m.len();
            session.send_established(m);
        }
    }
}

#[cfg(test)]
mod tests;
