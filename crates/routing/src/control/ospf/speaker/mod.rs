//! The sans-IO OSPF speaker: OSPF packets (with their IP source and
//! destination) and `now` in; packets to send, the next deadline and a
//! database for SPF out. No socket, no clock.
//!
//! * `hello`: hellos, neighbour discovery, the bidirectional check, the
//!   inactivity timer, DR election and the adjacency decision (§9, §10.5).
//! * `exchange`: database description (master/slave, MTU check) and link
//!   state requests (§10.6-10.9).
//! * `flood`: updates, acknowledgements, flooding with retransmission
//!   lists, aging and MaxAge removal (§13, §14).
//! * `arrival`: newer instances that came within MinLSArrival, taken in
//!   once it has passed rather than left to the neighbour's retransmission.
//! * `originate`: this router's router LSA and, as DR, network LSAs, with
//!   MinLSInterval, LSRefreshTime and the §13.4 rules for its own LSAs seen
//!   from others.

mod arrival;
mod exchange;
mod flood;
mod hello;
mod originate;
mod originate_v3;

use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::database::Database;
use super::interface::{Interface, InterfaceConfig, InterfaceState};
use super::neighbor::NeighborState;
use super::v3::wire as v3wire;
use super::wire::{self, auth, Authentication, Body, OspfPacket, PacketType, Version};
use crate::control::hash::FastState;

/// InfTransDelay (seconds added to an LSA's age when it is sent).
pub const INF_TRANS_DELAY: u16 = 1;
/// MinLSInterval: an LSA of this router is originated at most this often.
pub const MIN_LS_INTERVAL: Duration = Duration::from_secs(5);
/// MinLSArrival: a newer instance arriving sooner after the last is dropped.
pub const MIN_LS_ARRIVAL: Duration = Duration::from_secs(1);
/// How long acknowledgements are held to be sent together.
pub const DELAYED_ACK: Duration = Duration::from_secs(1);
/// How often ages are looked at (MaxAge, refresh).
pub const AGING_TICK: Duration = Duration::from_secs(1);

/// A packet to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Index of the interface (in configuration order).
    pub interface: usize,
    pub destination: IpAddr,
    pub bytes: Vec<u8>,
}

/// The speaker.
#[derive(Debug)]
pub struct Speaker {
    /// v2 or v3: the packet and LSA formats and what is originated; the
    /// state machines are the same.
    version: Version,
    /// OSPFv3's Instance ID (packets of other instances are dropped).
    instance_id: u8,
    router_id: Ipv4Addr,
    area: Ipv4Addr,
    interfaces: Vec<Interface>,
    db: Database,
    out: VecDeque<Outgoing>,
    /// Drops and events by name (`show ospf`).
    counters: BTreeMap<&'static str, u64>,
    /// When each LSA of this router was last originated (MinLSInterval).
    originated: BTreeMap<super::wire::LsaKey, Instant>,
    /// A held-back origination falls due.
    originate_due: Option<Instant>,
    aging_due: Instant,
    dd_counter: u32,
    /// Routes this router announces as AS-external (redistribution).
    externals: BTreeMap<Ipv4Net, ExternalRoute>,
    /// The cryptographic sequence number of the next MD5-authenticated
    /// packet (one counter for every interface; it only grows).
    crypt_sequence: u32,
    /// Times this router's own state changed (an origination asked for):
    /// SPF reads its current router LSA, which may not be in the
    /// database yet.
    own_changes: u64,
    /// Newer instances that came within MinLSArrival, by LSA.
    deferred: crate::control::hash::FastMap<super::wire::LsaKey, arrival::Deferred>,
}

/// A route this router announces in a type 5 LSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalRoute {
    pub metric: u32,
    /// Type 2 (the metric alone counts) rather than type 1 (added to the
    /// cost to reach this router).
    pub type2: bool,
}

impl Speaker {
    /// A speaker with `interfaces` up at `now`; it originates its router
    /// LSA on its first timeout, at `now` (so what the owner sets at the
    /// same instant, such as its external routes, goes into the first
    /// instance rather than waiting MinLSInterval for a second).
    pub fn new(
        router_id: Ipv4Addr,
        area: Ipv4Addr,
        interfaces: Vec<InterfaceConfig>,
        now: Instant,
    ) -> Self {
        Self::of(Version::V2, 0, router_id, area, interfaces, now)
    }

    /// An OSPFv3 speaker (its interfaces carry [`V3Link`]s), instance
    /// `instance_id`.
    ///
    /// [`V3Link`]: super::interface::V3Link
    pub fn new_v3(
        router_id: Ipv4Addr,
        area: Ipv4Addr,
        instance_id: u8,
        interfaces: Vec<InterfaceConfig>,
        now: Instant,
    ) -> Self {
        Self::of(Version::V3, instance_id, router_id, area, interfaces, now)
    }

    fn of(
        version: Version,
        instance_id: u8,
        router_id: Ipv4Addr,
        area: Ipv4Addr,
        interfaces: Vec<InterfaceConfig>,
        now: Instant,
    ) -> Self {
        let mut s = Speaker {
            version,
            instance_id,
            router_id,
            area,
            interfaces: interfaces
                .into_iter()
                .map(|c| Interface::up(c, now))
                .collect(),
            db: Database::of(version),
            out: VecDeque::new(),
            counters: BTreeMap::new(),
            originated: BTreeMap::new(),
            originate_due: None,
            aging_due: now + AGING_TICK,
            dd_counter: 0,
            externals: BTreeMap::new(),
            crypt_sequence: 1,
            own_changes: 0,
            deferred: Default::default(),
        };
        s.schedule_origination(now);
        s
    }

    pub fn router_id(&self) -> Ipv4Addr {
        self.router_id
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// AllSPFRouters of the version (224.0.0.5, ff02::5).
    pub fn all_spf_routers(&self) -> IpAddr {
        match self.version {
            Version::V2 => wire::ALL_SPF_ROUTERS.into(),
            Version::V3 => v3wire::ALL_SPF_ROUTERS.into(),
        }
    }

    /// AllDRouters of the version (224.0.0.6, ff02::6).
    pub fn all_d_routers(&self) -> IpAddr {
        match self.version {
            Version::V2 => wire::ALL_D_ROUTERS.into(),
            Version::V3 => v3wire::ALL_D_ROUTERS.into(),
        }
    }

    /// A packet of `kind` from this router with whatever `body` appends,
    /// in the version's format (v3's checksum is left to the kernel).
    fn emit(&self, kind: PacketType, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        match self.version {
            Version::V2 => wire::emit(kind, self.router_id, self.area, body),
            Version::V3 => v3wire::emit(kind, self.router_id, self.area, self.instance_id, body),
        }
    }

    pub fn area(&self) -> Ipv4Addr {
        self.area
    }

    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Changes whenever what SPF reads may have: the database, or this
    /// router's own links (see [`Speaker::current_router_lsa`]).
    pub fn routing_generation(&self) -> u64 {
        self.db.generation().wrapping_add(self.own_changes)
    }

    /// The database itself, for tests and benches that plant LSAs no
    /// speaker of theirs would originate (an area border router's
    /// summaries, a large topology behind a neighbour).
    #[doc(hidden)]
    pub fn database_mut(&mut self) -> &mut Database {
        &mut self.db
    }

    /// Makes `externals` the AS-external routes this router announces:
    /// their LSAs are originated, changed or flushed by difference (and
    /// the router LSA's E bit follows).
    pub fn set_externals(&mut self, now: Instant, externals: BTreeMap<Ipv4Net, ExternalRoute>) {
        if externals != self.externals {
            self.externals = externals;
            self.schedule_origination(now);
        }
    }

    pub fn externals(&self) -> &BTreeMap<Ipv4Net, ExternalRoute> {
        &self.externals
    }

    pub fn counters(&self) -> &BTreeMap<&'static str, u64> {
        &self.counters
    }

    fn count(&mut self, what: &'static str) {
        *self.counters.entry(what).or_default() += 1;
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    /// Queues a packet emitted with null authentication, sealed with the
    /// interface's.
    fn send(&mut self, interface: usize, destination: IpAddr, mut bytes: Vec<u8>) {
        if let Some(iface) = self.interfaces.get(interface) {
            let auth = &iface.config.authentication;
            if *auth != Authentication::Null {
                auth::seal(&mut bytes, auth, self.crypt_sequence);
                if matches!(auth, Authentication::Md5 { .. }) {
                    self.crypt_sequence = self.crypt_sequence.saturating_add(1);
                }
            }
        }
        self.out.push_back(Outgoing {
            interface,
            destination,
            bytes,
        });
    }

    /// A fresh DD sequence number: unpredictable from outside and never
    /// the same twice in a row.
    fn next_dd_sequence(&mut self) -> u32 {
        self.dd_counter = self.dd_counter.wrapping_add(1);
        FastState::default().hash_one((self.router_id, self.dd_counter)) as u32
    }

    /// An OSPF packet (the IP payload) that arrived on `interface` from
    /// `source` to `destination`. Anything malformed or unexpected is
    /// counted and dropped.
    pub fn receive(
        &mut self,
        now: Instant,
        interface: usize,
        source: impl Into<IpAddr>,
        destination: impl Into<IpAddr>,
        bytes: &[u8],
    ) {
        let (source, destination) = (source.into(), destination.into());
        let Some(iface) = self.interfaces.get(interface) else {
            return self.count("unknown interface");
        };
        let (header, body, crypt_sequence) = match self.version {
            Version::V2 => {
                let packet = match OspfPacket::new_checked(bytes) {
                    Ok(p) => p,
                    Err(e) => return self.count(error_name(e)),
                };
                let crypt_sequence = match packet.authenticate(&iface.config.authentication) {
                    Ok(s) => s,
                    Err(e) => return self.count(error_name(e)),
                };
                let header = (packet.router_id(), packet.area_id());
                let body = &bytes[wire::HEADER_LEN..packet.len()];
                (
                    header,
                    Body::parse(packet.packet_type(), body),
                    crypt_sequence,
                )
            }
            Version::V3 => {
                // The checksum (over the IPv6 pseudo-header) was the
                // kernel's to verify (IPV6_CHECKSUM).
                let packet = match v3wire::Ospf3Packet::new_checked(bytes) {
                    Ok(p) => p,
                    Err(e) => return self.count(error_name(e)),
                };
                if packet.instance_id() != self.instance_id {
                    return self.count("other instance");
                }
                let header = (packet.router_id(), packet.area_id());
                let body = &bytes[v3wire::HEADER_LEN..packet.len()];
                (header, v3wire::parse_body(packet.packet_type(), body), None)
            }
        };
        let (router_id, area_id) = header;
        if let (Some(seq), Some(n)) = (crypt_sequence, iface.neighbors.get(&router_id)) {
            if n.crypt_sequence.is_some_and(|last| seq < last) {
                return self.count("cryptographic sequence number went back");
            }
        }
        if area_id != self.area {
            return self.count("wrong area");
        }
        if router_id == self.router_id {
            return self.count("own packet");
        }
        if destination == self.all_d_routers() && !iface.is_dr_or_backup() {
            return self.count("to AllDRouters, not DR");
        }
        if iface.state == InterfaceState::Down {
            return self.count("interface down");
        }
        let body = match body {
            Ok(b) => b,
            Err(e) => return self.count(error_name(e)),
        };
        let from = router_id;
        self.count("received");
        let remember = |s: &mut Self| {
            if let Some(n) = s.interfaces[interface].neighbors.get_mut(&from) {
                n.crypt_sequence = crypt_sequence.or(n.crypt_sequence);
            }
        };
        match body {
            Body::Hello(h) => {
                self.receive_hello(now, interface, source, from, &h);
                remember(self);
            }
            other => {
                remember(self);
                let known = self.interfaces[interface]
                    .neighbors
                    .get(&from)
                    .is_some_and(|n| n.state > NeighborState::Down);
                if !known {
                    return self.count("from unknown neighbour");
                }
                match other {
                    Body::DbDescription(dd) => self.receive_dd(now, interface, from, &dd),
                    Body::LsRequest(r) => self.receive_request(now, interface, from, &r),
                    Body::LsUpdate(u) => self.receive_update(now, interface, from, &u),
                    Body::LsAck(a) => self.receive_ack(now, interface, from, &a),
                    Body::Hello(_) => {}
                }
            }
        }
        if self.originate_due.is_some_and(|t| t <= now) {
            self.originate_due = None;
            self.originate(now);
        }
    }

    /// Runs whatever fell due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.interfaces.len() {
            self.interface_timers(now, i);
            self.neighbor_timers(now, i);
        }
        self.deferred_arrivals(now);
        if self.originate_due.is_some_and(|t| t <= now) {
            self.originate_due = None;
            self.originate(now);
        }
        if self.aging_due <= now {
            self.aging_due = now + AGING_TICK;
            self.age(now);
        }
    }

    /// When [`Speaker::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.aging_due;
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                t = t.min(x);
            }
        };
        at(self.originate_due);
        at(self.deferred_due());
        for iface in &self.interfaces {
            if iface.state == InterfaceState::Down {
                continue;
            }
            at(Some(iface.hello_due));
            at(iface.wait_until);
            at(iface.ack_due);
            for n in iface.neighbors.values() {
                at(Some(n.dead_at));
                at(n.dd_retransmit_at);
                at(n.request_retransmit_at);
                at(n.retransmit_at);
            }
        }
        Some(t)
    }

    /// Timers of a neighbour on interface `i`.
    fn neighbor_timers(&mut self, now: Instant, i: usize) {
        let ids: Vec<Ipv4Addr> = self.interfaces[i].neighbors.keys().copied().collect();
        for id in ids {
            let Some(n) = self.interfaces[i].neighbors.get(&id) else {
                continue;
            };
            let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
            let (dd, requests, updates) = (
                due(n.dd_retransmit_at),
                due(n.request_retransmit_at),
                due(n.retransmit_at),
            );
            if n.dead_at <= now {
                self.neighbor_dead(now, i, id);
                continue;
            }
            if dd {
                self.retransmit_dd(now, i, id);
            }
            if requests {
                self.send_requests(now, i, id);
            }
            if updates {
                self.retransmit_updates(now, i, id);
            }
        }
    }

    /// Makes `configs` the interfaces (a reload): an interface whose
    /// configuration is unchanged but for its cost stays as it is, with its
    /// neighbours and adjacencies; a new one comes up; one no longer listed
    /// goes, with its neighbours. Returns, for each new interface, the index
    /// it had before (`None`: new).
    pub fn reconfigure_interfaces(
        &mut self,
        now: Instant,
        configs: Vec<InterfaceConfig>,
    ) -> Vec<Option<usize>> {
        // Kept instances name interfaces by index: the indices change.
        self.deferred.clear();
        let mut old: Vec<Option<Interface>> = std::mem::take(&mut self.interfaces)
            .into_iter()
            .map(Some)
            .collect();
        let mut from = Vec::with_capacity(configs.len());
        for c in configs {
            let kept = old.iter().position(|o| {
                o.as_ref().is_some_and(|o| {
                    InterfaceConfig {
                        cost: c.cost,
                        ..o.config.clone()
                    } == c
                })
            });
            let iface = match kept {
                Some(j) => {
                    let mut f = old[j].take().expect("found");
                    f.config.cost = c.cost;
                    f
                }
                None => {
                    self.count("interfaces added");
                    Interface::up(c, now)
                }
            };
            from.push(kept);
            self.interfaces.push(iface);
        }
        let removed = old.iter().filter(|o| o.is_some()).count();
        for _ in 0..removed {
            self.count("interfaces removed");
        }
        // Packets queued for an interface follow it to its new index.
        let out = std::mem::take(&mut self.out);
        self.out = out
            .into_iter()
            .filter_map(|mut o| {
                let k = from.iter().position(|f| *f == Some(o.interface))?;
                o.interface = k;
                Some(o)
            })
            .collect();
        self.schedule_origination(now);
        from
    }

    /// Interface `i`'s link lost or regained its carrier (§9.3
    /// InterfaceDown / InterfaceUp): down, every neighbour there is killed
    /// (KillNbr) and the router LSA (and any network LSA for it) follows at
    /// once, without waiting for the dead interval; up, it starts afresh.
    pub fn set_interface_up(&mut self, now: Instant, i: usize, up: bool) {
        let Some(f) = self.interfaces.get(i) else {
            return;
        };
        if (f.state != InterfaceState::Down) == up {
            return;
        }
        let config = f.config.clone();
        let ids: Vec<Ipv4Addr> = f.neighbors.keys().copied().collect();
        if up {
            self.count("interfaces up");
            self.interfaces[i] = Interface::up(config, now);
        } else {
            self.count("interfaces down");
            for id in ids {
                self.set_state(now, i, id, NeighborState::Down);
            }
            let f = &mut self.interfaces[i];
            f.neighbors.clear();
            f.state = InterfaceState::Down;
            f.dr = Ipv4Addr::UNSPECIFIED;
            f.bdr = Ipv4Addr::UNSPECIFIED;
            f.wait_until = None;
            f.delayed_acks.clear();
            f.ack_due = None;
        }
        self.schedule_origination(now);
    }

    fn retransmit_interval(&self, i: usize) -> Duration {
        Duration::from_secs(u64::from(self.interfaces[i].config.retransmit_interval))
    }
}

fn error_name(e: super::wire::OspfError) -> &'static str {
    use super::wire::OspfError::*;
    match e {
        Truncated => "truncated",
        BadVersion => "bad version",
        BadLength => "bad length",
        BadType => "bad packet type",
        BadChecksum => "bad checksum",
        BadAuthentication => "authentication type mismatch",
        AuthenticationFailed => "authentication failed",
        BadBody => "malformed body",
        BadLsa => "malformed LSA",
    }
}
