//! This router's LSAs (§12.4): the router LSA, and a network LSA for each
//! segment it is DR of with at least one adjacency; originated anew when
//! what they say changes (at most once per MinLSInterval) and every
//! LSRefreshTime; flushed (MaxAge) when no longer wanted; and, when a
//! neighbour holds a newer instance from an earlier life of this router,
//! superseded or flushed (§13.4).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Speaker, MIN_LS_INTERVAL};
use crate::control::ospf::database::{INITIAL_SEQUENCE, MAX_AGE, MAX_SEQUENCE};
use crate::control::ospf::external::{FLAG_E, LS_INFINITY};
use crate::control::ospf::interface::{InterfaceState, NetworkType};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::v3::wire::{flooding_scope, Scope};
use crate::control::ospf::wire::body::OPTION_E;
use crate::control::ospf::wire::lsa::{self, LsaBody, LsaHeader, LsaKey, LsaType};
use crate::control::ospf::wire::{RouterLink, RouterLinkType, Version};

impl Speaker {
    /// Asks for an origination pass as soon as the current event is done.
    pub(super) fn schedule_origination(&mut self, now: Instant) {
        self.own_changes += 1;
        self.originate_due = Some(self.originate_due.map_or(now, |t| t.min(now)));
    }

    /// What this router wants to say now: the body of each LSA, by key.
    pub(super) fn wanted(&self) -> BTreeMap<LsaKey, Vec<u8>> {
        if self.version == Version::V3 {
            return self.wanted_v3();
        }
        let mut out = self.wanted_own();
        self.wanted_externals(&mut out);
        out.into_iter()
            .map(|(key, body)| {
                let mut bytes = Vec::new();
                body.emit(&mut bytes);
                (key, bytes)
            })
            .collect()
    }

    /// The link an LSA of this router with `key` is flooded on, if its
    /// scope is link-local (its id is then the interface's id).
    fn own_link(key: &LsaKey) -> Option<u32> {
        (flooding_scope(key.ls_type) == Scope::Link).then(|| u32::from(key.ls_id))
    }

    /// The router LSA and, as DR, the network LSAs (what SPF reads).
    fn wanted_own(&self) -> BTreeMap<LsaKey, LsaBody> {
        let mut links = Vec::new();
        let mut out = BTreeMap::new();
        for iface in &self.interfaces {
            if iface.state == InterfaceState::Down {
                continue;
            }
            let c = &iface.config;
            let stub = RouterLink {
                kind: RouterLinkType::Stub,
                id: c.address.network(),
                data: c.address.netmask(),
                metric: c.cost,
            };
            match c.network {
                NetworkType::PointToPoint => {
                    for id in iface.full_neighbors() {
                        links.push(RouterLink {
                            kind: RouterLinkType::PointToPoint,
                            id,
                            data: iface.addr(),
                            metric: c.cost,
                        });
                    }
                    links.push(stub);
                }
                NetworkType::Broadcast => {
                    let dr_full = iface
                        .neighbor_at(iface.dr)
                        .is_some_and(|n| n.state == NeighborState::Full);
                    let is_dr = iface.state == InterfaceState::Dr;
                    let transit = (is_dr && iface.has_full_neighbor()) || (!is_dr && dr_full);
                    if transit && iface.state != InterfaceState::Waiting {
                        links.push(RouterLink {
                            kind: RouterLinkType::Transit,
                            id: iface.dr,
                            data: iface.addr(),
                            metric: c.cost,
                        });
                    } else {
                        links.push(stub);
                    }
                    if is_dr && iface.has_full_neighbor() {
                        let mut attached = iface.full_neighbors();
                        attached.insert(0, self.router_id);
                        let key = LsaKey {
                            ls_type: LsaType::Network,
                            ls_id: iface.addr(),
                            adv_router: self.router_id,
                        };
                        let mask = c.address.netmask();
                        out.insert(key, LsaBody::Network { mask, attached });
                    }
                }
            }
        }
        let flags = if self.externals.is_empty() { 0 } else { FLAG_E };
        out.insert(self.router_key(), LsaBody::Router { flags, links });
        out
    }

    /// A type 5 LSA per redistributed route. The link state id is the
    /// network address; when two prefixes share it, the longer one takes
    /// the address with its host bits set (Appendix E), and a prefix whose
    /// id is still taken is left out.
    fn wanted_externals(&self, out: &mut BTreeMap<LsaKey, LsaBody>) {
        let mut taken = std::collections::BTreeSet::new();
        for (prefix, route) in &self.externals {
            let mut id = prefix.network();
            if !taken.insert(id) {
                id = prefix.broadcast();
                if !taken.insert(id) {
                    continue;
                }
            }
            let key = LsaKey {
                ls_type: LsaType::AsExternal,
                ls_id: id,
                adv_router: self.router_id,
            };
            out.insert(
                key,
                LsaBody::AsExternal {
                    mask: prefix.netmask(),
                    type2: route.type2,
                    metric: route.metric.min(LS_INFINITY - 1),
                    forwarding: std::net::Ipv4Addr::UNSPECIFIED,
                    tag: 0,
                },
            );
        }
    }

    /// The router LSA this router stands for now, whether or not
    /// MinLSInterval has let it be originated yet: SPF reads this one, so
    /// routing follows a change at once while flooding stays paced.
    pub fn current_router_lsa(&self) -> LsaBody {
        self.wanted_own()
            .remove(&self.router_key())
            .unwrap_or(LsaBody::Router {
                flags: 0,
                links: Vec::new(),
            })
    }

    fn router_key(&self) -> LsaKey {
        LsaKey {
            ls_type: LsaType::Router,
            ls_id: self.router_id,
            adv_router: self.router_id,
        }
    }

    /// Whether `key` is a network LSA for one of this router's addresses
    /// (its own, whoever advertises it, §13.4).
    pub(super) fn is_own_network(&self, key: &LsaKey) -> bool {
        key.ls_type == LsaType::Network && self.interfaces.iter().any(|f| f.addr() == key.ls_id)
    }

    /// Originates what changed and flushes what is no longer wanted.
    pub(super) fn originate(&mut self, now: Instant) {
        self.originate_with(now, &BTreeMap::new(), false);
    }

    /// Originates every LSA of this router anew (LSRefreshTime).
    pub(super) fn refresh(&mut self, now: Instant) {
        self.originate_with(now, &BTreeMap::new(), true);
    }

    /// `floor`: sequence numbers a new instance must exceed (an instance
    /// from an earlier life seen at a neighbour), originated at once.
    fn originate_with(&mut self, now: Instant, floor: &BTreeMap<LsaKey, i32>, refresh: bool) {
        let wanted = self.wanted();
        for (key, body) in &wanted {
            let held = self.db.get(key);
            let same = held.is_some_and(|e| {
                e.age(now) < MAX_AGE
                    && e.bytes[lsa::HEADER_LEN..] == body[..]
                    && !(refresh && e.age(now) >= crate::control::ospf::database::LS_REFRESH_TIME)
            });
            let forced = floor.get(key).copied();
            if same && forced.is_none() {
                continue;
            }
            if forced.is_none() {
                if let Some(last) = self.originated.get(key) {
                    let next = *last + MIN_LS_INTERVAL;
                    if next > now {
                        self.originate_due = Some(self.originate_due.map_or(next, |t| t.min(next)));
                        continue;
                    }
                }
            }
            let mut sequence = held.map_or(INITIAL_SEQUENCE, |e| e.sequence().wrapping_add(1));
            if let Some(f) = forced {
                sequence = sequence.max(f.wrapping_add(1));
            }
            if held.is_some_and(|e| e.sequence() == MAX_SEQUENCE) || sequence == i32::MIN {
                // The sequence space is spent: flush, start again later.
                self.flush(now, *key);
                self.originated.insert(*key, now);
                self.schedule_after_interval(now);
                continue;
            }
            let lsa = lsa::assemble(*key, 0, OPTION_E, sequence, body);
            if self.db.install_on(lsa, now, Self::own_link(key)) {
                self.count("LSAs originated");
                self.originated.insert(*key, now);
                self.forget_retransmissions_of(key);
                self.flood(now, *key, None);
            }
        }
        // Ours but no longer wanted: flushed.
        let stale: Vec<LsaKey> = self
            .db
            .advertised_by(self.router_id)
            .into_iter()
            .filter(|k| !wanted.contains_key(k))
            .collect();
        for key in stale {
            self.flush(now, key);
        }
    }

    fn schedule_after_interval(&mut self, now: Instant) {
        let next = now + MIN_LS_INTERVAL;
        self.originate_due = Some(self.originate_due.map_or(next, |t| t.min(next)));
    }

    fn forget_retransmissions_of(&mut self, key: &LsaKey) {
        for iface in &mut self.interfaces {
            for n in iface.neighbors.values_mut() {
                n.retransmit.remove(key);
            }
        }
    }

    /// Premature aging (§14.1): the held instance at MaxAge, flooded.
    fn flush(&mut self, now: Instant, key: LsaKey) {
        let Some(e) = self.db.get(&key) else { return };
        if e.age(now) >= MAX_AGE {
            return;
        }
        let mut bytes = e.bytes.clone();
        bytes[0..2].copy_from_slice(&MAX_AGE.to_be_bytes());
        let link = e.link;
        if self.db.install_on(bytes, now, link) {
            self.count("LSAs flushed");
            self.forget_retransmissions_of(&key);
            self.flood(now, key, None);
        }
    }

    /// A neighbour sent `lsa`, one of this router's own, newer than the
    /// held one (§13.4): a wanted LSA is originated again above its
    /// sequence number; an unwanted one is taken in and flushed.
    pub(super) fn own_lsa_received(&mut self, now: Instant, lsa: &LsaHeader<&[u8]>) {
        let key = lsa.key();
        let wanted = key.adv_router == self.router_id && self.wanted().contains_key(&key);
        if wanted {
            let floor = BTreeMap::from([(key, lsa.sequence())]);
            self.originate_with(now, &floor, false);
            return;
        }
        let mut bytes = lsa.bytes().to_vec();
        bytes[0..2].copy_from_slice(&MAX_AGE.to_be_bytes());
        if self.db.install_on(bytes, now, Self::own_link(&key)) {
            self.count("LSAs flushed");
            self.forget_retransmissions_of(&key);
            self.flood(now, key, None);
        }
    }
}
