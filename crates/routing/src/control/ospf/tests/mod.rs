//! The speaker driven sans-IO: [`Lab`] wires speakers into segments and
//! plays the network (multicast to every other member of a segment,
//! unicast to the member with that address) and the clock; single-speaker
//! tests push hand-made packets with [`packet`].

mod adjacency;
mod arrival;
mod auth;
mod exchange;
mod external;
mod flooding;
mod instance;
mod routes;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::interface::{InterfaceConfig, NetworkType};
use super::neighbor::NeighborState;
use super::speaker::{Outgoing, Speaker};
use super::wire::{self, PacketType, ALL_D_ROUTERS, ALL_SPF_ROUTERS};

pub(super) const P2P: NetworkType = NetworkType::PointToPoint;
pub(super) const LAN: NetworkType = NetworkType::Broadcast;

pub(super) fn rid(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 255, n)
}

/// An interface on port `port` with `address` (prefix notation).
pub(super) fn iface(
    port: u16,
    address: &str,
    network: NetworkType,
    priority: u8,
) -> InterfaceConfig {
    InterfaceConfig {
        port,
        name: format!("p{port}"),
        address: address.parse::<Ipv4Net>().unwrap(),
        network,
        cost: 10,
        hello_interval: 10,
        dead_interval: 40,
        priority,
        retransmit_interval: 5,
        mtu: 1500,
        authentication: wire::Authentication::Null,
        v3: None,
    }
}

/// SPF as speaker `s` of `lab` runs it (ports p0.. numbered 0..).
pub(super) fn spf_of(lab: &Lab, s: usize) -> crate::control::linkstate::SpfResult {
    speaker_spf(&lab.speakers[s], lab.now)
}

/// SPF as speaker `sp` runs it at `now` (ports p0.. numbered 0..).
pub(super) fn speaker_spf(sp: &Speaker, now: Instant) -> crate::control::linkstate::SpfResult {
    let lsdb = super::routes::to_linkstate(sp, now);
    let names: Vec<String> = (0..4).map(|p| format!("p{p}")).collect();
    crate::control::linkstate::spf::run(&lsdb, sp.router_id(), |n| {
        names.iter().position(|x| x == n).map(|i| i as u16)
    })
}

/// A first hop through `a` on `port`.
pub(super) fn gw(port: u16, a: [u8; 4]) -> crate::control::rib::route::Via {
    crate::control::rib::route::Via::Gateway {
        port,
        gateway: std::net::IpAddr::V4(Ipv4Addr::from(a)),
    }
}

/// Interface `i` of `s` given cost `cost` by a reload, the origination it
/// asks for run at once.
pub(super) fn set_cost(s: &mut Speaker, now: Instant, i: usize, cost: u16) {
    let mut configs: Vec<InterfaceConfig> =
        s.interfaces().iter().map(|f| f.config.clone()).collect();
    configs[i].cost = cost;
    s.reconfigure_interfaces(now, configs);
    s.handle_timeout(now);
}

/// A packet of `kind` from router `from` in area 0.
pub(super) fn packet(kind: PacketType, from: Ipv4Addr, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    wire::emit(kind, from, Ipv4Addr::UNSPECIFIED, body)
}

/// Where speaker `s` sends from on interface `i`: its IPv4 address, or
/// its link-local address (OSPFv3).
pub(super) fn source_of(s: &Speaker, i: usize) -> std::net::IpAddr {
    let f = &s.interfaces()[i];
    match &f.config.v3 {
        Some(link) => link.link_local.into(),
        None => f.addr().into(),
    }
}

/// Everything a speaker has to send, drained.
pub(super) fn drain(s: &mut Speaker) -> Vec<Outgoing> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

/// Speakers on segments, a clock, and a network that can lose a member.
pub(super) struct Lab {
    pub speakers: Vec<Speaker>,
    /// Per segment: (speaker, interface) members.
    pub segments: Vec<Vec<(usize, usize)>>,
    /// Speakers whose packets are lost (a router that died).
    pub silenced: Vec<bool>,
    pub now: Instant,
    /// Packets delivered so far.
    pub delivered: usize,
}

impl Lab {
    pub fn new(now: Instant) -> Self {
        Lab {
            speakers: Vec::new(),
            segments: Vec::new(),
            silenced: Vec::new(),
            now,
            delivered: 0,
        }
    }

    /// Adds a speaker with `interfaces`; returns its index.
    pub fn add(&mut self, router: Ipv4Addr, interfaces: Vec<InterfaceConfig>) -> usize {
        self.speakers.push(Speaker::new(
            router,
            Ipv4Addr::UNSPECIFIED,
            interfaces,
            self.now,
        ));
        self.silenced.push(false);
        self.speakers.len() - 1
    }

    /// Adds an OSPFv3 speaker with `interfaces`; returns its index.
    pub fn add_v3(&mut self, router: Ipv4Addr, interfaces: Vec<InterfaceConfig>) -> usize {
        self.speakers.push(Speaker::new_v3(
            router,
            Ipv4Addr::UNSPECIFIED,
            0,
            interfaces,
            self.now,
        ));
        self.silenced.push(false);
        self.speakers.len() - 1
    }

    /// Adds router `n` with interfaces (address, network, priority) on
    /// ports 0, 1, ...; returns its index.
    pub fn router(&mut self, n: u8, interfaces: &[(&str, NetworkType, u8)]) -> usize {
        let configs = interfaces
            .iter()
            .enumerate()
            .map(|(port, &(address, network, priority))| {
                iface(port as u16, address, network, priority)
            })
            .collect();
        self.add(rid(n), configs)
    }

    /// Routers 1 and 2 on a point-to-point link, 10.0.12.0/30.
    pub fn p2p_pair() -> Self {
        let mut lab = Lab::new(Instant::now());
        let a = lab.router(1, &[("10.0.12.1/30", P2P, 1)]);
        let b = lab.router(2, &[("10.0.12.2/30", P2P, 1)]);
        lab.connect(&[(a, 0), (b, 0)]);
        lab
    }

    /// Puts `members` (speaker, interface) on one segment.
    pub fn connect(&mut self, members: &[(usize, usize)]) {
        self.segments.push(members.to_vec());
    }

    /// Delivers every pending packet, repeatedly, until none is left.
    pub fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for s in 0..self.speakers.len() {
                for out in drain(&mut self.speakers[s]) {
                    moved = true;
                    if self.silenced[s] {
                        continue;
                    }
                    self.route(s, out);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn route(&mut self, s: usize, out: Outgoing) {
        let Some(segment) = self
            .segments
            .iter()
            .find(|m| m.contains(&(s, out.interface)))
            .cloned()
        else {
            return;
        };
        let source = source_of(&self.speakers[s], out.interface);
        for (t, j) in segment {
            if t == s || self.silenced[t] {
                continue;
            }
            let to = &self.speakers[t];
            let to_it = out.destination == source_of(to, j)
                || out.destination == to.all_spf_routers()
                || out.destination == to.all_d_routers();
            if to_it {
                self.delivered += 1;
                let now = self.now;
                self.speakers[t].receive(now, j, source, out.destination, &out.bytes);
            }
        }
    }

    /// Runs the clock forward by `d`, firing every timer on the way and
    /// delivering what they send.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.deliver();
        loop {
            let next = self
                .speakers
                .iter()
                .filter_map(|s| s.poll_timeout())
                .min()
                .unwrap_or(end);
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            for s in &mut self.speakers {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            self.deliver();
        }
        self.now = end;
    }

    /// Runs until `done` holds, for at most `limit` of simulated time;
    /// returns the simulated time it took.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Lab) -> bool) -> Option<Duration> {
        let start = self.now;
        while self.now - start <= limit {
            if done(self) {
                return Some(self.now - start);
            }
            self.run_for(Duration::from_millis(500));
        }
        None
    }

    pub fn state(&self, s: usize, i: usize, neighbor: Ipv4Addr) -> Option<NeighborState> {
        self.speakers[s].interfaces()[i]
            .neighbors
            .get(&neighbor)
            .map(|n| n.state)
    }

    /// Every speaker holds the same LSAs with the same sequence numbers
    /// and checksums.
    pub fn databases_agree(&self) -> bool {
        let summary = |s: &Speaker| -> Vec<_> {
            s.database()
                .sorted_keys()
                .into_iter()
                .map(|k| {
                    let h = s.database().get(&k).unwrap().header();
                    (k, h.sequence(), h.checksum())
                })
                .collect()
        };
        let first = summary(&self.speakers[0]);
        self.speakers.iter().all(|s| summary(s) == first)
    }
}

/// Runs two instances joined by one link (each one's socket 0) for `steps`
/// steps of 250 ms: what either sends on socket 0 reaches the other as the
/// datagram `wrap(sent_by_a, destination, bytes)` (what a raw socket hands
/// up); what they send on other sockets goes nowhere. Returns A's route
/// outputs in order.
pub(super) fn run_pair<P: crate::control::protocol::Protocol + ?Sized>(
    a: &mut P,
    b: &mut P,
    now: &mut Instant,
    steps: usize,
    rib: &dyn crate::control::protocol::RibView,
    wrap: impl Fn(bool, Option<std::net::IpAddr>, &[u8]) -> Vec<u8>,
) -> Vec<crate::control::protocol::RouteOutput> {
    use crate::control::protocol::{ProtocolInput, SocketEvent, SocketId};
    let mut routes = Vec::new();
    for _ in 0..steps {
        *now += Duration::from_millis(250);
        for a_sends in [true, false] {
            let (x, y) = if a_sends {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            if x.poll_timeout().is_some_and(|t| t <= *now) {
                x.handle_timeout(*now, rib);
            }
            while let Some(t) = x.poll_transmit() {
                if t.socket != SocketId(0) {
                    continue;
                }
                let d = wrap(a_sends, t.destination, &t.bytes);
                let event = SocketEvent::Datagram {
                    socket: SocketId(0),
                    packet: &d,
                };
                y.handle_input(*now, ProtocolInput::Socket(event), rib)
                    .unwrap();
            }
        }
        while let Some(r) = a.poll_route() {
            routes.push(r);
        }
    }
    routes
}
