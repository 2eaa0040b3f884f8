//! Link state updates and acknowledgements (§13): installing what is
//! newer, reliable flooding with retransmission lists, direct and delayed
//! acks; aging and the removal of MaxAge LSAs (§14).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::{Speaker, DELAYED_ACK, INF_TRANS_DELAY, MIN_LS_ARRIVAL};
use crate::control::ospf::database::{Instance, MAX_AGE, MAX_SEQUENCE};
use crate::control::ospf::interface::{InterfaceState, NetworkType};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::v3::wire::{flooding_scope, Scope};
use crate::control::ospf::wire::lsa::{fletcher_verify, LsaHeader, LsaKey, HEADER_LEN};
use crate::control::ospf::wire::{self, LsUpdate, LsaHeaders, PacketType};

impl Speaker {
    /// A link state update from neighbour `id` on interface `i` (§13).
    pub(super) fn receive_update(
        &mut self,
        now: Instant,
        i: usize,
        id: Ipv4Addr,
        update: &LsUpdate<'_>,
    ) {
        if self.interfaces[i].neighbors[&id].state < NeighborState::Exchange {
            return self.count("LSU: not exchanging");
        }
        let mut direct_acks: Vec<[u8; HEADER_LEN]> = Vec::new();
        for lsa in update.iter() {
            let lsa = match lsa {
                Ok(l) => l,
                Err(_) => {
                    self.count("LSU: malformed LSA");
                    break;
                }
            };
            if !fletcher_verify(lsa.bytes()) {
                self.count("LSU: bad LSA checksum");
                continue;
            }
            if !self.receive_lsa(now, i, id, &lsa, &mut direct_acks) {
                // BadLSReq: the exchange restarted; the rest is moot.
                break;
            }
        }
        if !direct_acks.is_empty() {
            let to = self.interfaces[i].neighbors.get(&id).map(|n| n.address);
            if let Some(to) = to {
                self.send_ack(i, to, &direct_acks);
            }
        }
        self.requests_progress(now, i, id);
        // Flooding also answers other neighbours' requests (§13.3 (1b)): a
        // router adjacent on two links sends its LSAs on one while the
        // other exchange waits for them. Any of those left with nothing to
        // ask is done loading too.
        let others: Vec<(usize, Ipv4Addr)> = self
            .interfaces
            .iter()
            .enumerate()
            .flat_map(|(j, f)| {
                f.neighbors
                    .values()
                    .filter(|n| n.state == NeighborState::Loading && n.requests.is_empty())
                    .map(move |n| (j, n.router_id))
            })
            .collect();
        for (j, other) in others {
            self.requests_progress(now, j, other);
        }
    }

    /// One LSA of an update (§13 steps 2-8); false after BadLSReq.
    pub(super) fn receive_lsa(
        &mut self,
        now: Instant,
        i: usize,
        id: Ipv4Addr,
        lsa: &LsaHeader<&[u8]>,
        direct_acks: &mut Vec<[u8; HEADER_LEN]>,
    ) -> bool {
        let key = lsa.key();
        let received = Instance::of(lsa);
        let held = self.db.instance(&key, now);
        let header: [u8; HEADER_LEN] = lsa.header_bytes().try_into().expect("20 bytes");
        // Step 4: a MaxAge LSA we do not hold, with no exchange under way.
        if received.age == MAX_AGE && held.is_none() && !self.any_exchanging() {
            direct_acks.push(header);
            return true;
        }
        let newer = held.is_none_or(|h| received.compare(&h).is_gt());
        if newer {
            // Step 5 (a): MinLSArrival; the instance is kept until it has
            // passed (`arrival`).
            if let Some(installed) = self.db.get(&key).map(|e| e.installed) {
                if now.saturating_duration_since(installed) < MIN_LS_ARRIVAL {
                    self.count("LSU: within MinLSArrival");
                    self.defer_arrival(now, installed, i, id, lsa);
                    return true;
                }
            }
            // Our own LSA, seen newer than ours (§13.4).
            if key.adv_router == self.router_id || self.is_own_network(&key) {
                self.count("LSU: own LSA from a neighbour");
                self.own_lsa_received(now, lsa);
                direct_acks.push(header);
                return true;
            }
            let bytes = lsa.bytes().to_vec();
            // (c) the old instance leaves every retransmission list.
            self.forget_retransmissions(&key);
            // (d) installed (before flooding: flooding reads the database).
            let link = (flooding_scope(key.ls_type) == Scope::Link)
                .then(|| self.interfaces[i].interface_id());
            if !self.db.install_on(bytes, now, link) {
                self.count("LSU: database full");
                return true;
            }
            self.remove_request(i, id, &key, received);
            self.installed_v3(now, &key);
            // (b) flooded; (e) acknowledged if not flooded back out.
            let flooded_back = self.flood(now, key, Some((i, id)));
            if !flooded_back {
                let iface = &self.interfaces[i];
                let from_dr = iface
                    .neighbors
                    .get(&id)
                    .is_some_and(|n| n.election_id == iface.dr);
                if iface.state != InterfaceState::Backup || from_dr {
                    self.delay_ack(now, i, header);
                }
            }
            return true;
        }
        // Step 6: requested but not newer than ours: BadLSReq.
        if self.interfaces[i].neighbors[&id]
            .requests
            .contains_key(&key)
        {
            self.count("LSU: bad LS request");
            self.sequence_mismatch(now, i, id);
            return false;
        }
        let held = held.expect("not newer implies held");
        if received.compare(&held).is_eq() {
            // Step 7: an implied acknowledgement if we were waiting for one.
            let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
            if n.retransmit.remove(&key).is_some() {
                let iface = &self.interfaces[i];
                let from_dr = iface.neighbors[&id].election_id == iface.dr;
                if iface.state == InterfaceState::Backup && from_dr {
                    self.delay_ack(now, i, header);
                }
            } else {
                direct_acks.push(header);
            }
            return true;
        }
        // Step 8: ours is newer; send it back unless it is a MaxAge
        // instance at MaxSequenceNumber on its way out.
        let e = self.db.get(&key).expect("held");
        if e.age(now) == MAX_AGE && e.sequence() == MAX_SEQUENCE {
            return true;
        }
        let bytes = e.to_send(now, INF_TRANS_DELAY);
        let to = self.interfaces[i].neighbors[&id].address;
        self.send_updates(i, to, vec![bytes]);
        true
    }

    /// A neighbour in Exchange or Loading anywhere (MaxAge LSAs wait for it).
    fn any_exchanging(&self) -> bool {
        self.interfaces.iter().any(|f| {
            f.neighbors
                .values()
                .any(|n| matches!(n.state, NeighborState::Exchange | NeighborState::Loading))
        })
    }

    /// The request for `key` from neighbour `id` is answered if what came
    /// is at least the instance asked for.
    fn remove_request(&mut self, i: usize, id: Ipv4Addr, key: &LsaKey, received: Instance) {
        let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
        if let Some(want) = n.requests.get(key) {
            let want = LsaHeader::checked_in(self.version, &want[..]).map(|h| Instance::of(&h));
            if want.is_ok_and(|w| received.compare(&w).is_ge()) {
                n.requests.remove(key);
            }
        }
    }

    fn forget_retransmissions(&mut self, key: &LsaKey) {
        for iface in &mut self.interfaces {
            for n in iface.neighbors.values_mut() {
                n.retransmit.remove(key);
            }
        }
    }

    /// Floods the held instance of `key` (§13.3), received from `from`
    /// (interface, neighbour) or originated here (`None`). True when it
    /// went back out the interface it came from.
    pub(super) fn flood(
        &mut self,
        now: Instant,
        key: LsaKey,
        from: Option<(usize, Ipv4Addr)>,
    ) -> bool {
        let Some(entry) = self.db.get(&key) else {
            return false;
        };
        let instance = Instance {
            sequence: entry.sequence(),
            checksum: entry.header().checksum(),
            age: entry.age(now),
        };
        let bytes = entry.to_send(now, INF_TRANS_DELAY);
        let link = entry.link;
        let version = self.version;
        let (all_spf, all_d) = (self.all_spf_routers(), self.all_d_routers());
        let mut flooded_back = false;
        for i in 0..self.interfaces.len() {
            let rxmt = self.retransmit_interval(i);
            let iface = &mut self.interfaces[i];
            if iface.state == InterfaceState::Down {
                continue;
            }
            if link.is_some_and(|l| l != iface.interface_id()) {
                continue; // link-local scope: that link only (RFC 5340 §4.5)
            }
            let mut added = false;
            for n in iface.neighbors.values_mut() {
                if n.state < NeighborState::Exchange {
                    continue;
                }
                if n.state < NeighborState::Full {
                    if let Some(want) = n.requests.get(&key) {
                        let want =
                            LsaHeader::checked_in(version, &want[..]).map(|h| Instance::of(&h));
                        match want.map(|w| instance.compare(&w)) {
                            Ok(std::cmp::Ordering::Less) => continue,
                            Ok(std::cmp::Ordering::Equal) => {
                                n.requests.remove(&key);
                                continue;
                            }
                            _ => {
                                n.requests.remove(&key);
                            }
                        }
                    }
                }
                if from.is_some_and(|(fi, fid)| fi == i && fid == n.router_id) {
                    continue;
                }
                n.retransmit.insert(key, ());
                n.retransmit_at.get_or_insert(now + rxmt);
                added = true;
            }
            if !added {
                continue;
            }
            if let Some((fi, fid)) = from {
                if fi == i {
                    let sender = iface.neighbors.get(&fid).map(|n| n.election_id);
                    if sender.is_some_and(|a| a == iface.dr || a == iface.bdr)
                        || iface.state == InterfaceState::Backup
                    {
                        continue;
                    }
                    flooded_back = true;
                }
            }
            let to = match (iface.config.network, iface.state) {
                (NetworkType::PointToPoint, _)
                | (_, InterfaceState::Dr | InterfaceState::Backup) => all_spf,
                _ => all_d,
            };
            self.send_updates(i, to, vec![bytes.clone()]);
        }
        flooded_back
    }

    /// The retransmission timer of neighbour `id`: what it has not
    /// acknowledged, again, directly to it.
    pub(super) fn retransmit_updates(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let rxmt = self.retransmit_interval(i);
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        let keys: Vec<LsaKey> = n.retransmit.keys().copied().collect();
        let mut lsas = Vec::with_capacity(keys.len());
        for key in keys {
            match self.db.get(&key) {
                Some(e) => lsas.push(e.to_send(now, INF_TRANS_DELAY)),
                None => {
                    n.retransmit.remove(&key);
                }
            }
        }
        n.retransmit_at = (!n.retransmit.is_empty()).then_some(now + rxmt);
        if lsas.is_empty() {
            return;
        }
        let to = n.address;
        self.count("LSU retransmissions");
        self.send_updates(i, to, lsas);
    }

    /// An acknowledgement (§13.7): what it names leaves the neighbour's
    /// retransmission list if it is the instance we sent.
    pub(super) fn receive_ack(
        &mut self,
        now: Instant,
        i: usize,
        id: Ipv4Addr,
        acks: &LsaHeaders<'_>,
    ) {
        if self.interfaces[i].neighbors[&id].state < NeighborState::Exchange {
            return self.count("LSAck: not exchanging");
        }
        for h in acks.iter() {
            let key = h.key();
            let same = self
                .db
                .instance(&key, now)
                .is_some_and(|ours| Instance::of(&h).compare(&ours).is_eq());
            let n = self.interfaces[i].neighbors.get_mut(&id).expect("present");
            if same {
                n.retransmit.remove(&key);
            } else if n.retransmit.contains_key(&key) {
                self.count("LSAck: for another instance");
            }
        }
    }

    fn delay_ack(&mut self, now: Instant, i: usize, header: [u8; HEADER_LEN]) {
        let iface = &mut self.interfaces[i];
        iface.delayed_acks.push(header);
        iface.ack_due.get_or_insert(now + DELAYED_ACK);
    }

    /// The delayed acks of interface `i`, in one packet (or as many as the
    /// MTU needs), to AllSPFRouters as DR/BDR or on p2p, else AllDRouters.
    pub(super) fn send_delayed_acks(&mut self, i: usize) {
        let (all_spf, all_d) = (self.all_spf_routers(), self.all_d_routers());
        let iface = &mut self.interfaces[i];
        iface.ack_due = None;
        let acks = std::mem::take(&mut iface.delayed_acks);
        let to = match (iface.config.network, iface.state) {
            (NetworkType::PointToPoint, _) | (_, InterfaceState::Dr | InterfaceState::Backup) => {
                all_spf
            }
            _ => all_d,
        };
        if !acks.is_empty() {
            self.send_ack(i, to, &acks);
        }
    }

    pub(super) fn send_ack(&mut self, i: usize, to: IpAddr, headers: &[[u8; HEADER_LEN]]) {
        let mtu = usize::from(self.interfaces[i].config.mtu);
        let per_packet = (mtu.saturating_sub(wire::PACKET_OVERHEAD) / HEADER_LEN).max(1);
        for chunk in headers.chunks(per_packet) {
            let bytes = self.emit(PacketType::LsAck, |o| {
                for h in chunk {
                    o.extend_from_slice(h);
                }
            });
            self.send(i, to, bytes);
        }
    }

    /// Once a second (§14): LSAs reaching MaxAge are flooded once; MaxAge
    /// LSAs no neighbour still has to acknowledge, with no exchange under
    /// way, leave the database; this router's LSAs older than
    /// LSRefreshTime are originated anew.
    pub(super) fn age(&mut self, now: Instant) {
        let mut to_flood = Vec::new();
        let mut to_remove = Vec::new();
        let mut refresh = false;
        for (key, e) in self.db.iter() {
            let age = e.age(now);
            if age >= MAX_AGE {
                if !e.max_age_flooded {
                    to_flood.push(*key);
                } else {
                    to_remove.push(*key);
                }
            } else if key.adv_router == self.router_id
                && age >= crate::control::ospf::database::LS_REFRESH_TIME
            {
                refresh = true;
            }
        }
        for key in to_flood {
            if let Some(e) = self.db.get_mut(&key) {
                e.max_age_flooded = true;
            }
            self.flood(now, key, None);
        }
        if !to_remove.is_empty() && !self.any_exchanging() {
            for key in to_remove {
                let pending = self.interfaces.iter().any(|f| {
                    f.neighbors
                        .values()
                        .any(|n| n.retransmit.contains_key(&key))
                });
                if !pending {
                    self.db.remove(&key);
                }
            }
        }
        if refresh {
            self.refresh(now);
        }
    }
}
