//! What a session asks for, carried out: sockets and bytes to the event
//! loop, received routes into the one Adj-RIB-In / decision process
//! ([`crate::control::bgp::BgpRib`], the MRT files' too), the session's
//! coming up and going down into Adj-RIB-Out and RIB changes.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::operator::capabilities;
use super::BgpSpeaker;
use crate::control::bgp::adj_rib_in::BgpUpdate;
use crate::control::bgp::policy::PeerRules;
use crate::control::bgp::session::{Family, ParsedUpdate, SessionOutput};
use crate::control::bgp::BgpRib;
use crate::control::bgp::PeerId;
use crate::control::hash::FastSet;
use crate::control::prefix_map::PrefixMap;
use crate::control::protocol::{RibView, SocketRequest, Transmit};

impl BgpRib {
    /// A live peer's BGP identifier, learnt from its OPEN (tie-breaking,
    /// RFC 4271 §9.1.2.2 (f)).
    pub(super) fn set_router_id(&mut self, peer: PeerId, router_id: Ipv4Addr) {
        if let Some(p) = self.peers.get_mut(peer.0 as usize) {
            p.peer.router_id = router_id;
        }
    }

    /// Routes in `peer`'s Adj-RIB-In.
    pub(super) fn received(&self, peer: PeerId) -> u64 {
        self.peers.get(peer.0 as usize).map_or(0, |p| p.received)
    }

    /// Prefixes with a selected route.
    pub(super) fn best_prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.routes
            .iter()
            .filter(|(p, _)| self.best(p).is_some())
            .map(|(p, _)| p)
    }
}

impl BgpSpeaker {
    /// Carries out everything every session asks for, until none asks
    /// more (one session's routes make the others send), handing each
    /// session what its outbox may send.
    pub(super) fn pump_all(&mut self, now: Instant, rib: &dyn RibView) {
        loop {
            let mut any = false;
            for i in 0..self.peers.len() {
                self.flush_out(now, i);
                any |= self.pump(now, i, rib);
            }
            if !any {
                return;
            }
        }
    }

    /// Carries out everything peer `i`'s session asks for; whether it
    /// asked anything.
    pub(super) fn pump(&mut self, now: Instant, i: usize, rib: &dyn RibView) -> bool {
        let mut any = false;
        while let Some(output) = self.peers[i].session.poll() {
            any = true;
            match output {
                SessionOutput::Socket(request) => {
                    match &request {
                        SocketRequest::TcpConnect { socket, .. } => {
                            self.sockets.insert(*socket, i);
                        }
                        SocketRequest::Close { socket } => {
                            self.sockets.remove(socket);
                        }
                        _ => {}
                    }
                    self.requests.push_back(request);
                }
                SessionOutput::Send { socket, bytes } => self.transmits.push_back(Transmit {
                    socket,
                    destination: None,
                    bytes,
                }),
                SessionOutput::Up => {
                    let peer = &mut self.peers[i];
                    peer.end_of_rib.clear();
                    peer.announced = [0; 2];
                    peer.outbox.reset();
                    if let Some(n) = peer.session.negotiated().cloned() {
                        let rib_peer = peer.rib_peer;
                        self.files
                            .bgp_rib_mut()
                            .set_router_id(rib_peer, n.peer.router_id);
                        self.restarted(i, &n, rib);
                    }
                    self.export_all(i);
                }
                SessionOutput::Down => self.flush_peer(i, rib),
                SessionOutput::GracefulDown {
                    families,
                    restart_time,
                } => self.graceful_down(now, i, &families, restart_time, rib),
                SessionOutput::Update(u) => self.import(i, u, rib),
                SessionOutput::RouteRefresh(family) => {
                    self.peers[i]
                        .adj_out
                        .retain(|p, _| Family::of(&p) != family);
                    self.export_all(i);
                }
            }
        }
        any
    }

    /// The session went down: its routes leave the Adj-RIB-In (and the
    /// others' Adj-RIBs-Out follow); what it had from us is forgotten.
    fn flush_peer(&mut self, i: usize, rib: &dyn RibView) {
        let rib_peer = self.peers[i].rib_peer;
        // Dropped, not cleared: a full table's Adj-RIB-Out would otherwise
        // keep its capacity (tens of MB) for a peer that has nothing.
        self.peers[i].adj_out = PrefixMap::default();
        self.peers[i].outbox.reset();
        self.peers[i].stale = FastSet::default();
        self.peers[i].stale_until = None;
        let had: Vec<IpNet> = self
            .files
            .bgp_rib()
            .adj_rib_in(rib_peer)
            .map(|(p, _)| p)
            .collect();
        let mut changes = Vec::new();
        // The peer is registered: clearing it cannot fail.
        let _ = self
            .files
            .bgp_rib_mut()
            .clear_peer(rib_peer, rib.next_hops(), |c| changes.push(c));
        for c in changes {
            self.route_change(c);
        }
        self.export_to_all(&had);
        // Its routes' attribute sets, and those made for what we sent it
        // (a full table's worth: tens of thousands), are unused now.
        self.files.bgp_rib_mut().collect_attrs();
    }

    /// An UPDATE into the Adj-RIB-In (import policy, AS loop check), its
    /// decisions to the RIB, and the prefixes it touched to every
    /// Adj-RIB-Out.
    fn import(&mut self, i: usize, u: ParsedUpdate, rib: &dyn RibView) {
        let peer = &mut self.peers[i];
        if let Some(f) = u.end_of_rib {
            if !peer.end_of_rib.contains(&f) {
                peer.end_of_rib.push(f);
            }
            return self.sweep(i, Some(f), rib);
        }
        peer.treat_as_withdraw += u64::from(u.treat_as_withdraw.is_some());
        peer.attributes_discarded += u.discarded.len() as u64;
        let rib_peer = peer.rib_peer;
        let families = peer
            .session
            .negotiated()
            .map(|n| n.families.clone())
            .unwrap_or_default();
        let mut updates: Vec<BgpUpdate> = Vec::new();
        let wanted = |p: &IpNet| families.contains(&Family::of(p));
        for prefix in u.withdrawn.into_iter().filter(wanted) {
            updates.push(BgpUpdate {
                peer: rib_peer,
                prefix,
                attrs: None,
            });
        }
        let config = &self.peers[i].config;
        let rules = PeerRules {
            policy: &config.import,
            role: config.role,
            local_as: self.local_as,
            remote_as: config.remote_as,
        };
        let per_prefix = config.import.per_prefix();
        let mut received = [0u64; 2];
        let table = self.files.bgp_rib_mut();
        for a in u.announced {
            for prefix in &a.prefixes {
                received[Family::of(prefix) as usize] += 1;
            }
            let mut shared = None;
            for prefix in a.prefixes.into_iter().filter(wanted) {
                let attrs = match &shared {
                    Some(attrs) if !per_prefix => Option::clone(attrs),
                    _ => {
                        let attrs = rules.import(&prefix, &a.attrs).map(|a| table.intern(a));
                        shared = Some(attrs.clone());
                        attrs
                    }
                };
                updates.push(BgpUpdate {
                    peer: rib_peer,
                    prefix,
                    attrs,
                });
            }
        }
        for (count, n) in self.peers[i].announced.iter_mut().zip(received) {
            *count += n;
        }
        let mut touched = Vec::with_capacity(updates.len());
        for update in updates {
            self.peers[i].stale.remove(&update.prefix);
            touched.push(update.prefix);
            if let Ok(change) = self.files.bgp_rib_mut().apply(update, rib.next_hops()) {
                self.route_change(change);
            }
        }
        self.export_to_all(&touched);
    }

    /// `show bgp` for the live peers.
    pub(super) fn peers_json(&self, now: Instant) -> Value {
        let rib = self.files.bgp_rib();
        let peers: Vec<Value> = self
            .peers
            .iter()
            .map(|p| {
                let s = &p.session;
                let n = s.negotiated();
                json!({
                    "address": p.config.address,
                    "remote_as": p.config.remote_as,
                    "state": s.state(),
                    "for_seconds": now.saturating_duration_since(s.since()).as_secs(),
                    "router_id": n.map(|n| n.peer.router_id),
                    "hold_time": n.map(|n| n.hold_time),
                    "families": n.map(|n| n.families.clone()),
                    "local": n.map(|n| n.local),
                    "received": p.announced.iter().sum::<u64>(),
                    "accepted": rib.received(p.rib_peer),
                    "advertised": p.adj_out.len(),
                    "capabilities": n.map(capabilities),
                    "tcp_md5": p.config.password.is_some(),
                    "ttl_security": p.config.ttl_security,
                    "unsent": p.outbox.pending(),
                    "unacknowledged_bytes": p.outbox.outstanding(),
                    "end_of_rib": p.end_of_rib,
                    "stale": p.stale.len(),
                    "treat_as_withdraw": p.treat_as_withdraw,
                    "attributes_discarded": p.attributes_discarded,
                    "import": p.config.import,
                    "export": p.config.export,
                    "role": p.config.role,
                    "stats": s.stats(),
                })
            })
            .collect();
        Value::Array(peers)
    }

    /// `show bgp` text lines for the live peers.
    pub(super) fn peers_text(&self, now: Instant) -> String {
        let rib = self.files.bgp_rib();
        let mut text = String::new();
        if !self.peers.is_empty() {
            text.push_str("neighbor                   AS  state        for     rcvd  accepted  advertised  last error\n");
        }
        for p in &self.peers {
            let s = &p.session;
            let secs = now.saturating_duration_since(s.since()).as_secs();
            let st = s.stats();
            let err = st
                .last_error_received
                .as_ref()
                .map(|e| format!("received {e}"))
                .or(st.last_error_sent.as_ref().map(|e| format!("sent {e}")))
                .or(st.last_down.clone())
                .unwrap_or_default();
            text.push_str(&format!(
                "{:<20} {:>8}  {:<11} {:>6}s {:>8} {:>9} {:>11}  {}\n",
                p.config.address.to_string(),
                p.config.remote_as,
                format!("{:?}", s.state()).to_lowercase(),
                secs,
                p.announced.iter().sum::<u64>(),
                rib.received(p.rib_peer),
                p.adj_out.len(),
                err
            ));
        }
        text
    }

    /// The configured peer at `address` (an IPv4-mapped IPv6 address is
    /// the IPv4 one).
    pub(super) fn peer_at(&self, address: IpAddr) -> Option<usize> {
        let address = address.to_canonical();
        self.peers.iter().position(|p| p.config.address == address)
    }
}
