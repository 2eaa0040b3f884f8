//! The per-packet forwarding pipeline, sans-IO.
//!
//! [`Forwarder::process`] is a function of (frame, ingress port, FIB, port
//! table, clock) to a [`Verdict`]; the few extra frames it creates (ICMP
//! errors, IPv4 fragments) go out through the caller's [`Emit`]. It owns no
//! socket and never allocates, so the same code runs over AF_XDP rings, pcap
//! files and memory.

pub mod acl;
mod batch;
mod counters;
mod ecmp;
mod features;
mod fragment;
mod glean;
mod icmp;
mod options;
mod ratelimit;
mod stages;
mod urpf;
mod v4;
mod v6;

pub use acl::{AclAction, AclId, AclTable};
pub use batch::{FrameHint, RouteHint, RouteHints, MAX_HINT_BATCH};
pub use counters::{CounterSummary, Counters, DropReason};
pub use features::{PortFeatureCounters, PortFeatures, PortStages, StagesSnapshot, Urpf};
pub use glean::GleanLog;
pub use ratelimit::TokenBucket;

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
}

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place; transmit its first `len` bytes on `port`.
    Forward { port: PortId, len: usize },
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
    /// Hits per ACL: one per rule, then the default.
    pub acl_hits: Vec<Vec<u64>>,
    /// Unresolved next hops seen, for the control thread to resolve.
    pub glean: GleanLog,
}

impl Forwarder {
    pub fn new(config: ForwarderConfig) -> Self {
        Forwarder {
            port_counters: vec![PortFeatureCounters::default(); config.ports.len()],
            ports: config.ports,
            icmp_bucket: TokenBucket::new(config.icmp_rate, config.icmp_burst),
            accept_source_route: config.accept_source_route,
            next_ident: 0,
            counters: Counters::default(),
            acl_hits: config.acls.counters(),
            acls: config.acls,
            glean: GleanLog::default(),
        }
    }

    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The ACLs the ports refer to.
    pub fn acls(&self) -> &AclTable {
        &self.acls
    }

    /// Whether the batches of port `port` should look up sources too.
    #[inline]
    pub fn wants_sources(&self, port: PortId) -> bool {
        self.ports
            .get(port as usize)
            .is_some_and(|p| p.features.urpf.is_some())
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
        self.process_hinted(fib, ingress, frame, now_ns, emit, FrameHint::NONE)
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
        self.counters.rx_frames += 1;
        self.counters.rx_bytes += frame.len() as u64;
        let verdict = self.classify(fib, ingress, frame, now_ns, emit, hint);
        match verdict {
            Verdict::Forward { len, .. } => {
                self.counters.forwarded += 1;
                self.counters.forwarded_bytes += len as u64;
            }
            Verdict::Fragmented { fragments, .. } => {
                self.counters.forwarded += 1;
                self.counters.forwarded_bytes += frame.len() as u64;
                self.counters.fragmented += 1;
                self.counters.fragments_sent += fragments as u64;
            }
            Verdict::Local => self.counters.local += 1,
            Verdict::Drop(reason) => self.counters.drop(reason),
        }
        verdict
    }

    fn classify<E: Emit + ?Sized>(
        &mut self,
        fib: &Fib,
        ingress: PortId,
        frame: &mut [u8],
        now_ns: u64,
        emit: &mut E,
        hint: FrameHint,
    ) -> Verdict {
        let Some(port) = self.ports.get(ingress as usize) else {
            return Verdict::Drop(DropReason::UnknownPort);
        };
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
            hint,
            features: port.features,
        };
        match eth.ethertype() {
            ethertype::IPV4 => self.ipv4(fib, ctx, frame, emit),
            ethertype::IPV6 => self.ipv6(fib, ctx, frame, emit),
            ethertype::ARP => Verdict::Local,
            ethertype::VLAN | ethertype::QINQ => Verdict::Drop(DropReason::VlanTagged),
            _ => Verdict::Drop(DropReason::UnsupportedEthertype),
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
}

impl Forwarder {
    /// The egress of a route's next hop, or the verdict when there is none:
    /// the host stack for `Local`, `neighbor_unresolved` (and a request to
    /// resolve it) for a next hop without a MAC.
    #[inline]
    fn egress(&mut self, next_hop: &NextHop, dst: IpAddr) -> Result<Egress, Verdict> {
        match *next_hop {
            NextHop::Adjacency { port, mac } => match self.port(port) {
                Some(p) => Ok(Egress {
                    port,
                    next_hop_mac: mac,
                    mtu: p.mtu,
                    mac: p.mac,
                    acl_out: p.features.acl_out,
                }),
                None => Err(Verdict::Drop(DropReason::UnknownPort)),
            },
            NextHop::Glean { port } => {
                self.glean.record(port, dst);
                Err(Verdict::Drop(DropReason::NeighborUnresolved))
            }
            NextHop::Unresolved { port, gateway } => {
                self.glean.record(port, gateway);
                Err(Verdict::Drop(DropReason::NeighborUnresolved))
            }
            NextHop::Local => Err(Verdict::Local),
            // The family paths answer discard routes before asking for an
            // egress (they send the ICMP error); this only keeps the count.
            NextHop::Discard(action) => Err(Verdict::Drop(discard_reason(action))),
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
struct Ingress {
    port: PortId,
    /// The destination MAC was broadcast or multicast.
    l2_group: bool,
    now_ns: u64,
    /// The routes looked up ahead for this frame, if any.
    hint: FrameHint,
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
