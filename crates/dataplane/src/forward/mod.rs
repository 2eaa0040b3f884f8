//! The per-packet forwarding pipeline, sans-IO.
//!
//! [`Forwarder::process`] is a function of (frame, ingress port, FIB, port
//! table, clock) to a [`Verdict`]; the few extra frames it creates (ICMP
//! errors, IPv4 fragments) go out through the caller's [`Emit`]. It owns no
//! socket and never allocates, so the same code runs over AF_XDP rings, pcap
//! files and memory.

pub mod acl;
mod batch;
mod common;
mod common_v6;
mod counters;
mod ecmp;
mod egress;
mod features;
mod flow_cache;
mod fragment;
mod glean;
mod header_lanes;
mod icmp;
mod options;
mod ratelimit;
mod stage_table;
mod stages;
mod urpf;
mod v4;
mod v6;
mod vlan;

pub use acl::{AclAction, AclId, AclTable};
pub use batch::{FrameHint, RouteHint, RouteHints, MAX_HINT_BATCH};
pub use common::{BatchFrames, Forwarded};
pub use counters::{CounterSummary, Counters, DropReason};
pub use features::{PortFeatureCounters, PortFeatures, PortStages, StagesSnapshot, Urpf};
pub use glean::GleanLog;
#[doc(hidden)]
pub use header_lanes::set_header_lanes;
pub use ratelimit::TokenBucket;
pub use stage_table::{StageTable, StagesHandle};
pub use vlan::{pcp_of, Vlan};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::fib::{Discard, Fib, NextHop, PortId};
use crate::wire::ethernet::ethertype;
use crate::wire::{EthernetFrame, MacAddr};

/// What the pipeline needs to know about a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub mac: MacAddr,
    /// IP MTU: the largest IP packet the link carries (Ethernet header excluded).
    pub mtu: u16,
    /// Source address of ICMP errors sent from this port.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The optional stages this port turns on.
    pub features: PortFeatures,
    /// Set when this port is a VLAN sub-interface of another (see `vlan.rs`).
    pub vlan: Option<Vlan>,
}

/// Where, when and at which offset of its buffer a frame was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The link (a port without a parent) whose socket received it.
    pub link: PortId,
    /// Where the frame starts in the buffer handed over (the headroom).
    pub start: usize,
    /// The caller's monotonic clock, read once per batch.
    pub now_ns: u64,
    /// The routes looked up ahead for it ([`RouteHints`]).
    pub hint: FrameHint,
}

impl Arrival {
    /// A frame at the start of its buffer (no room to push a VLAN tag).
    pub fn untagged(link: PortId, now_ns: u64, hint: FrameHint) -> Arrival {
        Arrival {
            link,
            start: 0,
            now_ns,
            hint,
        }
    }
}

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; transmit `len` bytes from `start` of the buffer
    /// the frame came in (`start` moves when a VLAN tag is popped or pushed).
    Forward {
        port: PortId,
        start: usize,
        len: usize,
    },
    /// Sent as `fragments` new frames on `port` through [`Emit`]; the
    /// original buffer is free again.
    Fragmented { port: PortId, fragments: u16 },
    /// For the host stack (ARP, ND, the router's own addresses).
    Local,
    /// Not forwarded, for this reason (an ICMP error may have been emitted).
    Drop(DropReason),
}

// The pipeline's output interface is defined by the I/O layer it runs over.
pub use crate::io::emit::{Emit, MIN_EMIT_BUFFER};

/// Settings of a [`Forwarder`] that come from the configuration.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    pub ports: Vec<Port>,
    /// ICMP errors per second (token-bucket rate).
    pub icmp_rate: u32,
    /// Largest burst of ICMP errors.
    pub icmp_burst: u32,
    /// Forward IPv4 packets with loose/strict source-route options instead of
    /// dropping them (RFC 7126 recommends dropping by default).
    pub accept_source_route: bool,
    /// The ACLs ports refer to by id.
    pub acls: Arc<AclTable>,
}

/// One worker's pipeline: port table, ICMP limiter and counters.
#[derive(Debug, Clone)]
pub struct Forwarder {
    ports: Vec<Port>,
    icmp_bucket: TokenBucket,
    accept_source_route: bool,
    /// IPv4 identification for ICMP errors this worker originates.
    next_ident: u16,
    pub counters: Counters,
    /// What the optional stages dropped, per port.
    pub port_counters: Vec<PortFeatureCounters>,
    acls: Arc<AclTable>,
    /// Sub-interfaces by (link, VLAN id).
    vlans: vlan::VlanTable,
    /// Hits per ACL: one per rule, then the default.
    pub acl_hits: acl::AclCounts,
    /// This worker's ACL answers by flow (see `acl/cache.rs`).
    acl_cache: acl::AclCache,
    /// The common case's resolved egress per next-hop group (`egress.rs`).
    egress: egress::EgressCache,
    /// The [`StageTable`] version the ports' stages and ACLs come from.
    stages_version: u64,
    /// Unresolved next hops seen, for the control thread to resolve.
    pub glean: GleanLog,
}

impl Forwarder {
    pub fn new(config: ForwarderConfig) -> Self {
        Forwarder {
            port_counters: vec![PortFeatureCounters::default(); config.ports.len()],
            vlans: vlan::VlanTable::new(&config.ports),
            ports: config.ports,
            icmp_bucket: TokenBucket::new(config.icmp_rate, config.icmp_burst),
            accept_source_route: config.accept_source_route,
            next_ident: 0,
            counters: Counters::default(),
            acl_hits: config.acls.counters(),
            acl_cache: acl::AclCache::for_table(&config.acls),
            egress: egress::EgressCache::default(),
            acls: config.acls,
            stages_version: 0,
            glean: GleanLog::default(),
        }
    }

    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The link port `port`'s frames cross: its parent if it is a VLAN.
    #[inline]
    pub fn link_of(&self, port: PortId) -> PortId {
        match self.port(port).and_then(|p| p.vlan) {
            Some(v) => v.parent,
            None => port,
        }
    }

    /// The ACLs the ports refer to.
    pub fn acls(&self) -> &AclTable {
        &self.acls
    }

    /// Whether the batches received on link `link` should look up sources
    /// too (it or one of its VLANs runs uRPF).
    #[inline]
    pub fn wants_sources(&self, link: PortId) -> bool {
        self.ports.iter().enumerate().any(|(id, p)| {
            p.features.urpf.is_some()
                && (id == link as usize || p.vlan.is_some_and(|v| v.parent == link))
        })
    }

    /// Runs one received frame through the pipeline. `frame` is exactly the
    /// received bytes; it is rewritten in place when forwarded. `now_ns` is a
    /// monotonic clock read once per batch by the caller.
    pub fn process<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        ingress: PortId,
        frame: &mut [u8],
        now_ns: u64,
        emit: &mut E,
    ) -> Verdict {
        let arrival = Arrival::untagged(ingress, now_ns, FrameHint::NONE);
        self.process_at(fib, frame, arrival, emit)
    }

    /// [`process`](Self::process) with the frame's route looked up ahead
    /// by [`RouteHints::prepare`] (used only if it is for the destination
    /// the pipeline parses; the verdict is the same either way).
    #[inline]
    pub fn process_hinted<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        ingress: PortId,
        frame: &mut [u8],
        now_ns: u64,
        emit: &mut E,
        hint: FrameHint,
    ) -> Verdict {
        self.process_at(fib, frame, Arrival::untagged(ingress, now_ns, hint), emit)
    }

    /// The pipeline for a frame received as `arrival` says, at
    /// `buf[arrival.start..]`, with `arrival.start` bytes of room before it
    /// (a frame leaving through a VLAN sub-interface needs 4 more bytes
    /// than it came with; AF_XDP frames have 256). A [`Verdict::Forward`]
    /// names where the frame now starts.
    #[inline]
    pub fn process_at<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        buf: &mut [u8],
        arrival: Arrival,
        emit: &mut E,
    ) -> Verdict {
        let received = buf.len().saturating_sub(arrival.start) as u64;
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += received;
        let verdict = self.classify(fib, buf, arrival, emit);
        match verdict {
            Verdict::Forward { len, .. } => {
                self.counters.forwarded += 1;
                self.counters.forwarded_bytes += len as u64;
            }
            Verdict::Fragmented { fragments, .. } => {
                self.counters.forwarded += 1;
                self.counters.forwarded_bytes += received;
                self.counters.fragmented += 1;
                self.counters.fragments_sent += fragments as u64;
            }
            Verdict::Local => self.counters.local += 1,
            Verdict::Drop(reason) => self.counters.drop(reason),
        }
        verdict
    }

    #[inline]
    fn classify<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        buf: &mut [u8],
        arrival: Arrival,
        emit: &mut E,
    ) -> Verdict {
        let Arrival {
            link,
            start,
            now_ns,
            hint,
        } = arrival;
        if link as usize >= self.ports.len() || start > buf.len() {
            return Verdict::Drop(DropReason::UnknownPort);
        }
        let (ingress, start) = match self.resolve_ingress(link, buf, start) {
            Ok(resolved) => resolved,
            Err(reason) => return Verdict::Drop(reason),
        };
        let Some(port) = self.ports.get(ingress as usize) else {
            return Verdict::Drop(DropReason::UnknownPort);
        };
        let frame = &mut buf[start..];
        let Ok(eth) = EthernetFrame::new_checked(&*frame) else {
            return Verdict::Drop(DropReason::Truncated);
        };
        let dst_mac = eth.dst();
        let group = dst_mac.is_multicast();
        if !group && dst_mac != port.mac {
            return Verdict::Drop(DropReason::NotOurMac);
        }
        let ctx = Ingress {
            port: ingress,
            l2_group: group,
            now_ns,
            hint: &hint,
            features: port.features,
        };
        let verdict = match eth.ethertype() {
            ethertype::IPV4 => self.ipv4(fib, ctx, frame, emit),
            ethertype::IPV6 => self.ipv6(fib, ctx, frame, emit),
            ethertype::ARP => Verdict::Local,
            _ => Verdict::Drop(DropReason::UnsupportedEthertype),
        };
        let Verdict::Forward { port, len, .. } = verdict else {
            return verdict;
        };
        match self.tag_egress(port, buf, start) {
            Ok(None) => Verdict::Forward { port, start, len },
            Ok(Some(tagged)) => Verdict::Forward {
                port,
                start: tagged,
                len: len + crate::wire::vlan::TAG_LEN,
            },
            Err(reason) => Verdict::Drop(reason),
        }
    }

    fn port(&self, id: PortId) -> Option<&Port> {
        self.ports.get(id as usize)
    }
}

/// Where a packet with a complete adjacency leaves.
#[derive(Debug, Clone, Copy)]
struct Egress {
    port: PortId,
    next_hop_mac: MacAddr,
    /// The egress port's MTU and MAC.
    mtu: u16,
    mac: MacAddr,
    /// The egress port's outbound ACL.
    acl_out: Option<AclId>,
    /// Set when the egress port is a VLAN sub-interface.
    vlan: Option<Vlan>,
}

impl Forwarder {
    /// The egress of a route's next hop, or the verdict when there is none:
    /// the host stack for `Local`, `neighbor_unresolved` (and a request to
    /// resolve it) for a next hop without a MAC.
    #[inline(always)]
    fn egress(&mut self, next_hop: &NextHop, dst: IpAddr) -> Result<Egress, Verdict> {
        match *next_hop {
            NextHop::Adjacency { port, mac } => match self.port(port) {
                Some(p) => Ok(Egress {
                    port,
                    next_hop_mac: mac,
                    mtu: p.mtu,
                    mac: p.mac,
                    acl_out: p.features.acl_out,
                    vlan: p.vlan,
                }),
                None => Err(Verdict::Drop(DropReason::UnknownPort)),
            },
            _ => Err(self.no_adjacency(next_hop, dst)),
        }
    }

    /// [`Forwarder::egress`] for the next hops that are not a complete
    /// adjacency (out of line: the forwarding path inlines only the common
    /// case).
    #[cold]
    #[inline(never)]
    fn no_adjacency(&mut self, next_hop: &NextHop, dst: IpAddr) -> Verdict {
        match *next_hop {
            // Not called for one; answered as an unknown port would be.
            NextHop::Adjacency { .. } => Verdict::Drop(DropReason::UnknownPort),
            NextHop::Glean { port } => {
                self.glean.record(port, dst);
                Verdict::Drop(DropReason::NeighborUnresolved)
            }
            NextHop::Unresolved { port, gateway } => {
                self.glean.record(port, gateway);
                Verdict::Drop(DropReason::NeighborUnresolved)
            }
            NextHop::Local => Verdict::Local,
            // The family paths answer discard routes before asking for an
            // egress (they send the ICMP error); this only keeps the count.
            NextHop::Discard(action) => Verdict::Drop(discard_reason(action)),
        }
    }
}

/// The drop reason of a discard route's action.
#[inline]
fn discard_reason(action: Discard) -> DropReason {
    match action {
        Discard::Blackhole => DropReason::BlackholeRoute,
        Discard::Unreachable => DropReason::UnreachableRoute,
        Discard::Prohibit => DropReason::ProhibitRoute,
    }
}

/// Facts about the frame's arrival that the per-family paths need.
#[derive(Debug, Clone, Copy)]
struct Ingress<'a> {
    port: PortId,
    /// The destination MAC was broadcast or multicast.
    l2_group: bool,
    now_ns: u64,
    /// The routes looked up ahead for this frame, if any (by reference:
    /// a copy of its 56 bytes cost ~9 instructions per packet).
    hint: &'a FrameHint,
    /// The ingress port's optional stages.
    features: PortFeatures,
}

/// Rewrites the Ethernet header of a frame about to leave on `egress`.
#[inline]
fn rewrite_l2(frame: &mut [u8], next_hop_mac: MacAddr, egress_mac: MacAddr) {
    let mut eth = EthernetFrame::new_unchecked(frame);
    eth.set_dst(next_hop_mac);
    eth.set_src(egress_mac);
}

#[cfg(test)]
mod tests;
