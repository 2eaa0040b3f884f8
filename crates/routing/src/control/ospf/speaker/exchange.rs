//! The database exchange (§10.6-10.9): ExStart's master/slave negotiation,
//! database descriptions with the MTU check and duplicate detection, link
//! state requests and the answers to them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::{Speaker, INF_TRANS_DELAY};
use crate::control::ospf::database::{Instance, MAX_AGE, MAX_LSAS};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::v3::wire as v3wire;
use crate::control::ospf::wire::body::{DD_INIT, DD_MASTER, DD_MORE, OPTION_E};
use crate::control::ospf::wire::lsa::{LsaKey, HEADER_LEN};
use crate::control::ospf::wire::{self, DbDescription, LsRequests, PacketType, Version};

const OVERHEAD: usize = wire::PACKET_OVERHEAD;

impl Speaker {
    /// Enters ExStart (§10.3 AdjOK/2-WayReceived, and after
    /// SeqNumberMismatch or BadLSReq): a new sequence number, master until
    /// told otherwise, and an empty DD with I, M and MS.
    pub(super) fn start_exchange(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let seq = self.next_dd_sequence();
        self.set_state(now, i, id, NeighborState::ExStart);
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        n.clear_lists();
        n.master = true;
        n.dd_sequence = seq;
        n.more_sent = true;
        self.send_dd(now, i, id, DD_INIT | DD_MORE | DD_MASTER, Vec::new());
    }

    /// Sends a DD to neighbour `id` and keeps it for retransmission.
    fn send_dd(&mut self, now: Instant, i: usize, id: Ipv4Addr, flags: u8, headers: Vec<[u8; 20]>) {
        let mtu = self.interfaces[i].config.mtu;
        let rxmt = self.retransmit_interval(i);
        let Some(sequence) = self.interfaces[i].neighbors.get(&id).map(|n| n.dd_sequence) else {
            return;
        };
        let version = self.version;
        let bytes = self.emit(PacketType::DbDescription, |o| {
            match version {
                Version::V2 => {
                    DbDescription::emit_fixed(mtu, u32::from(OPTION_E), flags, sequence, o)
                }
                Version::V3 => v3wire::emit_dd_fixed(mtu, v3wire::OPTIONS, flags, sequence, o),
            }
            for h in &headers {
                o.extend_from_slice(h);
            }
        });
        let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
        n.more_sent = flags & DD_MORE != 0;
        n.last_sent_dd = bytes.clone();
        // Only the master retransmits on a timer.
        n.dd_retransmit_at = n.master.then_some(now + rxmt);
        let to = n.address;
        self.send(i, to, bytes);
    }

    /// The master's DD retransmission timer.
    pub(super) fn retransmit_dd(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let rxmt = self.retransmit_interval(i);
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        if !matches!(n.state, NeighborState::ExStart | NeighborState::Exchange) || !n.master {
            n.dd_retransmit_at = None;
            return;
        }
        n.dd_retransmit_at = Some(now + rxmt);
        let (to, bytes) = (n.address, n.last_sent_dd.clone());
        self.count("DD retransmissions");
        self.send(i, to, bytes);
    }

    /// A DD from neighbour `id` (§10.6).
    pub(super) fn receive_dd(
        &mut self,
        now: Instant,
        i: usize,
        id: Ipv4Addr,
        dd: &DbDescription<'_>,
    ) {
        if dd.mtu > self.interfaces[i].config.mtu {
            return self.count("DD: MTU mismatch");
        }
        let state = self.interfaces[i].neighbors[&id].state;
        if state == NeighborState::Init {
            // 2-WayReceived, implied.
            self.two_way_received(now, i, id);
        }
        let n = &self.interfaces[i].neighbors[&id];
        let duplicate = n.last_received_dd == Some((dd.flags, dd.options, dd.sequence));
        match n.state {
            NeighborState::Down | NeighborState::Init | NeighborState::TwoWay => {
                self.count("DD: not adjacent")
            }
            NeighborState::ExStart => {
                let all = DD_INIT | DD_MORE | DD_MASTER;
                if dd.flags == all && dd.headers.is_empty() && id > self.router_id {
                    // It is master: take its sequence and answer.
                    let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
                    n.master = false;
                    n.dd_sequence = dd.sequence;
                    self.negotiation_done(now, i, id, dd.options);
                    self.accept_dd(now, i, id, dd);
                } else if dd.flags & (DD_INIT | DD_MASTER) == 0
                    && dd.sequence == n.dd_sequence
                    && id < self.router_id
                {
                    self.negotiation_done(now, i, id, dd.options);
                    self.accept_dd(now, i, id, dd);
                } else {
                    self.count("DD: ignored in ExStart");
                }
            }
            NeighborState::Exchange => {
                if duplicate {
                    return self.duplicate_dd(i, id);
                }
                let master = n.master;
                let expected = if master {
                    n.dd_sequence
                } else {
                    n.dd_sequence.wrapping_add(1)
                };
                let ms_ok = (dd.flags & DD_MASTER != 0) != master;
                if !ms_ok
                    || dd.flags & DD_INIT != 0
                    || dd.options != n.options
                    || dd.sequence != expected
                {
                    return self.sequence_mismatch(now, i, id);
                }
                self.accept_dd(now, i, id, dd);
            }
            NeighborState::Loading | NeighborState::Full => {
                if duplicate {
                    self.duplicate_dd(i, id)
                } else {
                    self.sequence_mismatch(now, i, id)
                }
            }
        }
    }

    /// A repeated DD: the slave answers again, the master ignores it.
    fn duplicate_dd(&mut self, i: usize, id: Ipv4Addr) {
        let n = &self.interfaces[i].neighbors[&id];
        if n.master || n.last_sent_dd.is_empty() {
            return self.count("DD: duplicate ignored");
        }
        let (to, bytes) = (n.address, n.last_sent_dd.clone());
        self.count("DD: duplicate answered");
        self.send(i, to, bytes);
    }

    /// SeqNumberMismatch / BadLSReq: back to ExStart.
    pub(super) fn sequence_mismatch(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        self.count("DD: sequence mismatch");
        self.start_exchange(now, i, id);
    }

    /// NegotiationDone: Exchange, with the summary of the database (MaxAge
    /// LSAs go to the retransmission list instead, §10.3).
    fn negotiation_done(&mut self, now: Instant, i: usize, id: Ipv4Addr, options: u32) {
        self.set_state(now, i, id, NeighborState::Exchange);
        let keys = self.db.sorted_keys();
        let link = self.interfaces[i].interface_id();
        let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
        n.options = options;
        n.dd_retransmit_at = None;
        for key in keys {
            let Some(e) = self.db.get(&key) else { continue };
            if e.link.is_some_and(|l| l != link) {
                continue; // another link's link-local LSA
            }
            if e.age(now) >= MAX_AGE {
                n.retransmit.insert(key, ());
            } else {
                n.summary.push_back(e.header_now(now));
            }
        }
    }

    /// A DD accepted in sequence (end of §10.6): its headers go to the
    /// request list when newer than ours, then the exchange moves on.
    fn accept_dd(&mut self, now: Instant, i: usize, id: Ipv4Addr, dd: &DbDescription<'_>) {
        let mtu = usize::from(self.interfaces[i].config.mtu);
        let per_packet = (mtu.saturating_sub(OVERHEAD + 8) / HEADER_LEN).max(1);
        let mut wanted = Vec::new();
        for h in dd.headers.iter() {
            let theirs = Instance::of(&h);
            let newer = match self.db.instance(&h.key(), now) {
                None => true,
                Some(ours) => theirs.compare(&ours).is_gt(),
            };
            if newer {
                let mut header = [0; HEADER_LEN];
                header.copy_from_slice(h.header_bytes());
                wanted.push((h.key(), header));
            }
        }
        let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
        // A neighbour describing more than a database may hold is lying.
        if n.requests.len() + wanted.len() > MAX_LSAS {
            self.count("DD: more LSAs than a database holds");
            return self.sequence_mismatch(now, i, id);
        }
        n.requests.extend(wanted);
        n.last_received_dd = Some((dd.flags, dd.options, dd.sequence));
        let their_more = dd.flags & DD_MORE != 0;
        if n.master {
            n.dd_sequence = n.dd_sequence.wrapping_add(1);
            if !n.more_sent && !their_more {
                n.dd_retransmit_at = None;
                return self.exchange_done(now, i, id);
            }
        } else {
            n.dd_sequence = dd.sequence;
        }
        let take = n.summary.len().min(per_packet);
        let headers: Vec<[u8; 20]> = n.summary.drain(..take).collect();
        let more = !n.summary.is_empty();
        let flags = if n.master { DD_MASTER } else { 0 } | if more { DD_MORE } else { 0 };
        let slave_done = !n.master && !more && !their_more;
        self.send_dd(now, i, id, flags, headers);
        if slave_done {
            self.exchange_done(now, i, id);
        } else if self.interfaces[i].neighbors[&id]
            .request_retransmit_at
            .is_none()
        {
            self.send_requests(now, i, id);
        }
    }

    /// ExchangeDone: Full if nothing is to be requested, else Loading. A
    /// request batch still unanswered goes on as it is (the update that
    /// answers it asks for the next, its timer resends it): asking now
    /// would ask for it twice.
    fn exchange_done(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let n = &self.interfaces[i].neighbors[&id];
        let (empty, waiting) = (n.requests.is_empty(), n.request_retransmit_at.is_some());
        if empty {
            self.set_state(now, i, id, NeighborState::Full);
        } else {
            self.set_state(now, i, id, NeighborState::Loading);
            if !waiting {
                self.send_requests(now, i, id);
            }
        }
    }

    /// Sends (or resends) a request for what neighbour `id` still has to
    /// give, as much as one packet holds.
    pub(super) fn send_requests(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let mtu = usize::from(self.interfaces[i].config.mtu);
        let per_packet = (mtu.saturating_sub(OVERHEAD) / 12).max(1);
        let rxmt = self.retransmit_interval(i);
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        if n.requests.is_empty() || n.state < NeighborState::Exchange {
            n.request_retransmit_at = None;
            n.requested.clear();
            return;
        }
        let mut keys: Vec<LsaKey> = n.requests.keys().copied().collect();
        keys.sort_unstable();
        keys.truncate(per_packet);
        let bytes = self.emit(PacketType::LsRequest, |o| {
            for k in &keys {
                k.emit_request(o);
            }
        });
        let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
        n.requested = keys;
        n.request_retransmit_at = Some(now + rxmt);
        let to = n.address;
        self.send(i, to, bytes);
    }

    /// After an update from `id`: requests it satisfied are gone; when the
    /// last batch is answered ask for the next, when all are, LoadingDone.
    pub(super) fn requests_progress(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        if n.requests.is_empty() {
            n.requested.clear();
            n.request_retransmit_at = None;
            if n.state == NeighborState::Loading {
                self.set_state(now, i, id, NeighborState::Full);
            }
            return;
        }
        let batch_answered = n.requested.iter().all(|k| !n.requests.contains_key(k));
        if batch_answered {
            self.send_requests(now, i, id);
        }
    }

    /// A link state request (§10.7): the LSAs asked for, in updates sized
    /// to the MTU; one we do not have is BadLSReq.
    pub(super) fn receive_request(
        &mut self,
        now: Instant,
        i: usize,
        id: Ipv4Addr,
        requests: &LsRequests<'_>,
    ) {
        if self.interfaces[i].neighbors[&id].state < NeighborState::Exchange {
            return self.count("LSR: not exchanging");
        }
        let mut lsas = Vec::with_capacity(requests.len());
        for key in requests.iter() {
            match key.ok().and_then(|k| self.db.get(&k)) {
                Some(e) => lsas.push(e.to_send(now, INF_TRANS_DELAY)),
                None => {
                    self.count("LSR: bad request");
                    return self.sequence_mismatch(now, i, id);
                }
            }
        }
        let to = self.interfaces[i].neighbors[&id].address;
        self.send_updates(i, to, lsas);
    }

    /// Sends `lsas` to `to` on interface `i`, as many updates as the MTU
    /// needs.
    pub(super) fn send_updates(&mut self, i: usize, to: IpAddr, lsas: Vec<Vec<u8>>) {
        let room = usize::from(self.interfaces[i].config.mtu).saturating_sub(OVERHEAD + 4);
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut size = 0;
        for lsa in lsas {
            if !batch.is_empty() && size + lsa.len() > room {
                let b = std::mem::take(&mut batch);
                self.send_update_packet(i, to, &b);
                size = 0;
            }
            size += lsa.len();
            batch.push(lsa);
        }
        if !batch.is_empty() {
            self.send_update_packet(i, to, &batch);
        }
    }

    fn send_update_packet(&mut self, i: usize, to: IpAddr, lsas: &[Vec<u8>]) {
        let bytes = self.emit(PacketType::LsUpdate, |o| {
            o.extend_from_slice(&(lsas.len() as u32).to_be_bytes());
            for l in lsas {
                o.extend_from_slice(l);
            }
        });
        self.send(i, to, bytes);
    }
}
