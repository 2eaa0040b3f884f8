//! A neighbour on an interface (§10): its state, what it declared in its
//! hellos, and the lists of the database exchange and of flooding.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serde::Serialize;

use super::wire::lsa::LsaKey;
use crate::control::hash::FastMap;

/// The neighbour states (§10.1; Attempt is NBMA's and not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeighborState {
    Down,
    Init,
    TwoWay,
    ExStart,
    Exchange,
    Loading,
    Full,
}

/// A neighbour.
#[derive(Debug, Clone)]
pub struct Neighbor {
    pub router_id: Ipv4Addr,
    /// Its address on the link (the source of its packets; in OSPFv3 its
    /// IPv6 link-local address).
    pub address: IpAddr,
    /// What names it in a hello's DR and BDR fields: its address in v2,
    /// its router id in v3.
    pub election_id: Ipv4Addr,
    /// Its interface id on the link (OSPFv3 hellos; 0 in v2).
    pub interface_id: u32,
    pub priority: u8,
    /// What it declares as DR and BDR.
    pub dr: Ipv4Addr,
    pub bdr: Ipv4Addr,
    pub options: u32,
    pub state: NeighborState,
    /// The inactivity timer: no hello by then means it is gone.
    pub dead_at: Instant,
    /// The cryptographic sequence number of its last authenticated packet
    /// (MD5): one lower is a replay, dropped (D.4.3).
    pub crypt_sequence: Option<u32>,
    /// Whether this router is master of the exchange.
    pub master: bool,
    pub dd_sequence: u32,
    /// (flags, options, sequence) of its last DD, to recognise duplicates.
    pub last_received_dd: Option<(u8, u32, u32)>,
    /// The last DD sent (the master resends it until answered; the slave
    /// resends it when the master repeats itself).
    pub last_sent_dd: Vec<u8>,
    pub dd_retransmit_at: Option<Instant>,
    /// Whether the last DD sent had the M bit.
    pub more_sent: bool,
    /// Headers still to describe in the exchange.
    pub summary: VecDeque<[u8; 20]>,
    /// LSAs to request: what we know of the instance wanted (its header).
    pub(crate) requests: FastMap<LsaKey, [u8; 20]>,
    /// The keys of the last request sent, and when to send it again.
    pub requested: Vec<LsaKey>,
    pub request_retransmit_at: Option<Instant>,
    /// LSAs flooded to it and not yet acknowledged.
    pub(crate) retransmit: FastMap<LsaKey, ()>,
    pub retransmit_at: Option<Instant>,
}

impl Neighbor {
    /// A neighbour at `address`, named in elections by `election_id`.
    pub fn new(router_id: Ipv4Addr, address: IpAddr, election_id: Ipv4Addr, now: Instant) -> Self {
        Neighbor {
            router_id,
            address,
            election_id,
            interface_id: 0,
            priority: 0,
            dr: Ipv4Addr::UNSPECIFIED,
            bdr: Ipv4Addr::UNSPECIFIED,
            options: 0,
            state: NeighborState::Down,
            dead_at: now,
            crypt_sequence: None,
            master: true,
            dd_sequence: 0,
            last_received_dd: None,
            last_sent_dd: Vec::new(),
            dd_retransmit_at: None,
            more_sent: true,
            summary: VecDeque::new(),
            requests: HashMap::with_hasher(Default::default()),
            requested: Vec::new(),
            request_retransmit_at: None,
            retransmit: HashMap::with_hasher(Default::default()),
            retransmit_at: None,
        }
    }

    /// Forgets the exchange and flooding lists (on leaving the states
    /// that have them).
    pub fn clear_lists(&mut self) {
        self.summary.clear();
        self.requests.clear();
        self.requested.clear();
        self.request_retransmit_at = None;
        self.retransmit.clear();
        self.retransmit_at = None;
        self.last_received_dd = None;
        self.dd_retransmit_at = None;
    }

    /// Whether it is (becoming) adjacent: LSAs are flooded to it.
    pub fn exchanging(&self) -> bool {
        self.state >= NeighborState::Exchange
    }
}
