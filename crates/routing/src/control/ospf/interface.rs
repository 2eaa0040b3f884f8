//! An OSPF interface (§9): its configuration, its state, its neighbours,
//! and the designated router election (§9.4) as a pure function.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::neighbor::{Neighbor, NeighborState};
use super::wire::Authentication;
use crate::control::hash::FastMap;
use crate::fib::PortId;

/// Neighbours kept per interface: hellos from more router ids are dropped
/// and counted.
pub const MAX_NEIGHBORS: usize = 256;

/// `network` of `[[ospf.interface]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkType {
    Broadcast,
    PointToPoint,
}

/// The interface states (§9.1; Loopback and Point-to-point's siblings of
/// NBMA are not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceState {
    Down,
    Waiting,
    PointToPoint,
    DrOther,
    Backup,
    Dr,
}

/// What an interface is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    pub port: PortId,
    pub name: String,
    /// Its primary IPv4 address with the subnet's length.
    pub address: Ipv4Net,
    pub network: NetworkType,
    pub cost: u16,
    pub hello_interval: u16,
    pub dead_interval: u32,
    pub priority: u8,
    pub retransmit_interval: u16,
    pub mtu: u16,
    pub authentication: Authentication,
    /// What an OSPFv3 interface has instead of `address` (v2: `None`).
    pub v3: Option<V3Link>,
}

/// An OSPFv3 interface's own identity on its link (RFC 5340 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Link {
    /// Its Interface ID (the kernel's ifindex: unique within the router).
    pub interface_id: u32,
    /// The link-local address packets are sent from.
    pub link_local: Ipv6Addr,
    /// The port's global (non-link-local) prefixes.
    pub prefixes: Vec<Ipv6Net>,
}

/// An interface and its neighbours.
#[derive(Debug, Clone)]
pub struct Interface {
    pub config: InterfaceConfig,
    pub state: InterfaceState,
    /// The designated and backup routers' addresses (0.0.0.0: none).
    pub dr: Ipv4Addr,
    pub bdr: Ipv4Addr,
    pub(crate) neighbors: FastMap<Ipv4Addr, Neighbor>,
    pub hello_due: Instant,
    pub wait_until: Option<Instant>,
    /// LSA headers to acknowledge together (delayed acks, §13.5).
    pub delayed_acks: Vec<[u8; 20]>,
    pub ack_due: Option<Instant>,
}

impl Interface {
    /// The state of neighbour `router` here, if it is known.
    pub fn neighbor_state(&self, router: Ipv4Addr) -> Option<NeighborState> {
        self.neighbors.get(&router).map(|n| n.state)
    }

    /// The interface brought up at `now` (InterfaceUp, §9.3).
    pub fn up(config: InterfaceConfig, now: Instant) -> Self {
        let (state, wait_until) = match config.network {
            NetworkType::PointToPoint => (InterfaceState::PointToPoint, None),
            NetworkType::Broadcast if config.priority == 0 => (InterfaceState::DrOther, None),
            NetworkType::Broadcast => (
                InterfaceState::Waiting,
                Some(now + Duration::from_secs(u64::from(config.dead_interval))),
            ),
        };
        Interface {
            config,
            state,
            dr: Ipv4Addr::UNSPECIFIED,
            bdr: Ipv4Addr::UNSPECIFIED,
            neighbors: HashMap::with_hasher(Default::default()),
            hello_due: now,
            wait_until,
            delayed_acks: Vec::new(),
            ack_due: None,
        }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.config.address.addr()
    }

    /// What names this router in the DR and BDR fields here: its address
    /// (v2) or its router id (v3).
    pub fn election_id(&self, router_id: Ipv4Addr) -> Ipv4Addr {
        match self.config.v3 {
            Some(_) => router_id,
            None => self.addr(),
        }
    }

    /// The OSPFv3 Interface ID (0 on a v2 interface).
    pub fn interface_id(&self) -> u32 {
        self.config.v3.as_ref().map_or(0, |l| l.interface_id)
    }

    pub fn is_broadcast(&self) -> bool {
        self.config.network == NetworkType::Broadcast
    }

    /// DR or Backup: such routers listen to AllDRouters and are adjacent
    /// to every neighbour.
    pub fn is_dr_or_backup(&self) -> bool {
        matches!(self.state, InterfaceState::Dr | InterfaceState::Backup)
    }

    /// Whether an adjacency with `n` should form (§10.4).
    pub fn wants_adjacency(&self, n: &Neighbor) -> bool {
        match self.config.network {
            NetworkType::PointToPoint => true,
            NetworkType::Broadcast => {
                self.is_dr_or_backup() || n.election_id == self.dr || n.election_id == self.bdr
            }
        }
    }

    /// The neighbour named `id` in elections (the DR or BDR fields).
    pub fn neighbor_at(&self, id: Ipv4Addr) -> Option<&Neighbor> {
        self.neighbors.values().find(|n| n.election_id == id)
    }

    /// Whether some neighbour is Full (a network LSA has something to say;
    /// a transit link has an adjacency behind it).
    pub fn has_full_neighbor(&self) -> bool {
        self.neighbors
            .values()
            .any(|n| n.state == NeighborState::Full)
    }

    /// The router ids of the Full neighbours, in order.
    pub fn full_neighbors(&self) -> Vec<Ipv4Addr> {
        let mut ids: Vec<Ipv4Addr> = self
            .neighbors
            .values()
            .filter(|n| n.state == NeighborState::Full)
            .map(|n| n.router_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The election of §9.4 run now; returns whether DR or BDR changed.
    pub fn elect(&mut self, router_id: Ipv4Addr) -> bool {
        let own_id = self.election_id(router_id);
        let own = Candidate {
            router_id,
            address: own_id,
            priority: self.config.priority,
            dr: self.dr,
            bdr: self.bdr,
        };
        let others: Vec<Candidate> = self
            .neighbors
            .values()
            .filter(|n| n.state >= NeighborState::TwoWay)
            .map(|n| Candidate {
                router_id: n.router_id,
                address: n.election_id,
                priority: n.priority,
                dr: n.dr,
                bdr: n.bdr,
            })
            .collect();
        let (dr, bdr) = elect(own, &others);
        let changed = (dr, bdr) != (self.dr, self.bdr);
        self.dr = dr;
        self.bdr = bdr;
        self.wait_until = None;
        self.state = if dr == own_id {
            InterfaceState::Dr
        } else if bdr == own_id {
            InterfaceState::Backup
        } else {
            InterfaceState::DrOther
        };
        changed
    }
}

/// A router taking part in an election: itself and what it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub router_id: Ipv4Addr,
    pub address: Ipv4Addr,
    pub priority: u8,
    pub dr: Ipv4Addr,
    pub bdr: Ipv4Addr,
}

/// The DR and BDR (addresses; 0.0.0.0 for none) elected by `own` among
/// itself and `others` (the neighbours in state 2-Way or higher), §9.4.
pub fn elect(mut own: Candidate, others: &[Candidate]) -> (Ipv4Addr, Ipv4Addr) {
    let none = Ipv4Addr::UNSPECIFIED;
    let mut result = (none, none);
    for round in 0..2 {
        let all: Vec<Candidate> = std::iter::once(own)
            .chain(others.iter().copied())
            .filter(|c| c.priority > 0)
            .collect();
        let best = |pool: &mut dyn Iterator<Item = &Candidate>| {
            pool.max_by_key(|c| (c.priority, c.router_id))
                .map(|c| c.address)
        };
        // Step 2: the BDR, among those not declaring themselves DR.
        let pool: Vec<&Candidate> = all.iter().filter(|c| c.dr != c.address).collect();
        let bdr = best(&mut pool.iter().copied().filter(|c| c.bdr == c.address))
            .or_else(|| best(&mut pool.iter().copied()))
            .unwrap_or(none);
        // Step 3: the DR, among those declaring themselves DR; else the BDR.
        let dr = best(&mut all.iter().filter(|c| c.dr == c.address)).unwrap_or(bdr);
        result = (dr, bdr);
        // Step 4: when this router's own role changed, once more.
        let was = (own.dr == own.address, own.bdr == own.address);
        let is = (dr == own.address, bdr == own.address);
        if round == 1 || was == is {
            break;
        }
        own.dr = dr;
        own.bdr = bdr;
    }
    // A DR that is also the BDR was elected only because no other router
    // could be BDR.
    if result.0 == result.1 && result.0 != none {
        result.1 = none;
    }
    result
}
