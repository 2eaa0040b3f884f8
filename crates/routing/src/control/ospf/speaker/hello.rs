//! Hellos (§9.5, §10.5), neighbour discovery and the bidirectional check,
//! the inactivity timer, DR election and the adjacency decision.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::Speaker;
use crate::control::ospf::interface::{InterfaceState, NetworkType, MAX_NEIGHBORS};
use crate::control::ospf::neighbor::{Neighbor, NeighborState};
use crate::control::ospf::v3::wire as v3wire;
use crate::control::ospf::wire::body::OPTION_E;
use crate::control::ospf::wire::{Hello, PacketType, Version};

impl Speaker {
    /// The hello, wait and delayed-ack timers of interface `i`.
    pub(super) fn interface_timers(&mut self, now: Instant, i: usize) {
        let iface = &self.interfaces[i];
        if iface.state == InterfaceState::Down {
            return;
        }
        if iface.hello_due <= now {
            self.send_hello(now, i);
        }
        if self.interfaces[i].wait_until.is_some_and(|t| t <= now) {
            // WaitTimer (§9.3).
            self.run_election(now, i);
        }
        if self.interfaces[i].ack_due.is_some_and(|t| t <= now) {
            self.send_delayed_acks(i);
        }
    }

    fn send_hello(&mut self, now: Instant, i: usize) {
        let iface = &mut self.interfaces[i];
        let interval = u64::from(iface.config.hello_interval.max(1));
        iface.hello_due = now + Duration::from_secs(interval);
        let mask = match iface.config.network {
            NetworkType::Broadcast => iface.config.address.netmask(),
            NetworkType::PointToPoint => Ipv4Addr::UNSPECIFIED,
        };
        let mut neighbors: Vec<u8> = Vec::with_capacity(iface.neighbors.len() * 4);
        let mut ids: Vec<Ipv4Addr> = iface
            .neighbors
            .values()
            .filter(|n| n.state >= NeighborState::Init)
            .map(|n| n.router_id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            neighbors.extend_from_slice(&id.octets());
        }
        let hello = Hello {
            mask,
            interface_id: iface.interface_id(),
            hello_interval: iface.config.hello_interval,
            options: match self.version {
                Version::V2 => u32::from(OPTION_E),
                Version::V3 => v3wire::OPTIONS,
            },
            priority: iface.config.priority,
            dead_interval: iface.config.dead_interval,
            dr: iface.dr,
            bdr: iface.bdr,
            neighbors: &neighbors,
        };
        let version = self.version;
        let bytes = self.emit(PacketType::Hello, |o| match version {
            Version::V2 => hello.emit(o),
            Version::V3 => v3wire::emit_hello(&hello, o),
        });
        let to = self.all_spf_routers();
        self.send(i, to, bytes);
    }

    /// A hello from router `from` at `source` (§10.5).
    pub(super) fn receive_hello(
        &mut self,
        now: Instant,
        i: usize,
        source: IpAddr,
        from: Ipv4Addr,
        hello: &Hello<'_>,
    ) {
        let iface = &self.interfaces[i];
        let c = &iface.config;
        let v2 = self.version == Version::V2;
        if v2 && c.network == NetworkType::Broadcast && hello.mask != c.address.netmask() {
            return self.count("hello: network mask mismatch");
        }
        if hello.hello_interval != c.hello_interval || hello.dead_interval != c.dead_interval {
            return self.count("hello: interval mismatch");
        }
        if hello.options & u32::from(OPTION_E) == 0 {
            return self.count("hello: E-bit mismatch");
        }
        if !iface.neighbors.contains_key(&from) && iface.neighbors.len() >= MAX_NEIGHBORS {
            return self.count("hello: too many neighbours");
        }
        let dead = Duration::from_secs(u64::from(c.dead_interval));
        let broadcast = iface.is_broadcast();
        let waiting = iface.state == InterfaceState::Waiting;
        let sees_us = hello.neighbors().any(|id| id == self.router_id);
        // v2 names routers in elections by address, v3 by router id.
        let election_id = match (v2, source) {
            (true, IpAddr::V4(a)) => a,
            _ => from,
        };
        let n = self.interfaces[i]
            .neighbors
            .entry(from)
            .or_insert_with(|| Neighbor::new(from, source, election_id, now));
        let before = (n.priority, n.dr == n.election_id, n.bdr == n.election_id);
        n.address = source;
        n.election_id = election_id;
        n.interface_id = hello.interface_id;
        n.priority = hello.priority;
        n.dr = hello.dr;
        n.bdr = hello.bdr;
        let after = (n.priority, n.dr == n.election_id, n.bdr == n.election_id);
        // HelloReceived.
        n.dead_at = now + dead;
        let mut neighbor_change = before != after && n.state >= NeighborState::TwoWay;
        if n.state == NeighborState::Down {
            n.state = NeighborState::Init;
        }
        if sees_us {
            if n.state == NeighborState::Init {
                self.two_way_received(now, i, from);
                neighbor_change = true;
            }
        } else if self.interfaces[i].neighbors[&from].state >= NeighborState::TwoWay {
            // 1-WayReceived: it no longer hears us.
            self.set_state(now, i, from, NeighborState::Init);
            neighbor_change = true;
        }
        if !broadcast {
            return;
        }
        let n = &self.interfaces[i].neighbors[&from];
        let backup_seen =
            (n.bdr == n.election_id) || (n.dr == n.election_id && n.bdr == Ipv4Addr::UNSPECIFIED);
        // BackupSeen ends Waiting early; NeighborChange re-elects after it.
        if (waiting && backup_seen && sees_us) || (neighbor_change && !waiting) {
            self.run_election(now, i);
        }
    }

    /// 2-WayReceived (§10.3): ExStart if an adjacency should form, else 2-Way.
    pub(super) fn two_way_received(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        let iface = &self.interfaces[i];
        let adjacent = iface.wants_adjacency(&iface.neighbors[&id]);
        if adjacent {
            self.start_exchange(now, i, id);
        } else {
            self.set_state(now, i, id, NeighborState::TwoWay);
        }
    }

    /// The election on interface `i` (WaitTimer, BackupSeen,
    /// NeighborChange), then AdjOK? for every neighbour and a new router
    /// LSA (and network LSA) if anything changed.
    pub(super) fn run_election(&mut self, now: Instant, i: usize) {
        if !self.interfaces[i].is_broadcast() || self.interfaces[i].state == InterfaceState::Down {
            return;
        }
        let before = self.interfaces[i].state;
        let changed = self.interfaces[i].elect(self.router_id);
        if changed || before != self.interfaces[i].state {
            self.count("elections changing DR/BDR");
            self.adjacency_ok(now, i);
            self.schedule_origination(now);
            // Tell the others at once rather than at the next hello.
            self.interfaces[i].hello_due = now;
        }
    }

    /// AdjOK? (§10.4) for every neighbour of interface `i` in 2-Way or
    /// beyond.
    fn adjacency_ok(&mut self, now: Instant, i: usize) {
        let ids: Vec<Ipv4Addr> = self.interfaces[i].neighbors.keys().copied().collect();
        for id in ids {
            let iface = &self.interfaces[i];
            let n = &iface.neighbors[&id];
            let wanted = iface.wants_adjacency(n);
            match n.state {
                NeighborState::TwoWay if wanted => self.start_exchange(now, i, id),
                s if s >= NeighborState::ExStart && !wanted => {
                    self.set_state(now, i, id, NeighborState::TwoWay)
                }
                _ => {}
            }
        }
    }

    /// InactivityTimer (§10.3): the neighbour is gone.
    pub(super) fn neighbor_dead(&mut self, now: Instant, i: usize, id: Ipv4Addr) {
        self.count("neighbours dead");
        self.set_state(now, i, id, NeighborState::Down);
        self.interfaces[i].neighbors.remove(&id);
        self.run_election(now, i);
    }

    /// Moves neighbour `id` to `state`, clearing its lists when it falls
    /// below Exchange, and re-originating when it enters or leaves Full.
    pub(super) fn set_state(&mut self, now: Instant, i: usize, id: Ipv4Addr, state: NeighborState) {
        let Some(n) = self.interfaces[i].neighbors.get_mut(&id) else {
            return;
        };
        let old = n.state;
        n.state = state;
        if state < NeighborState::ExStart {
            n.clear_lists();
            n.last_sent_dd.clear();
        }
        if (old == NeighborState::Full) != (state == NeighborState::Full) {
            self.count(if state == NeighborState::Full {
                "adjacencies up"
            } else {
                "adjacencies down"
            });
            self.schedule_origination(now);
        }
    }
}
