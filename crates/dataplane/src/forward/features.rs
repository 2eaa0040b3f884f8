//! The optional per-port stages and their per-port counters.
//!
//! A port turns stages on in the configuration; the pipeline runs them in
//! one fixed order on transit packets (the router's own traffic is the
//! kernel's: the XDP program passes it before a worker sees it):
//!
//! ```text
//! validate → martians → lookup → local? → acl-in → uRPF → discard routes
//!          → ttl → egress → acl-out → mtu/fragment → rewrite
//! ```
//!
//! A stage a port does not turn on costs its packets one test of a field
//! of [`PortFeatures`] (copied into the per-packet context once).

use serde::{Deserialize, Serialize};

use super::acl::{AclCacheCounts, AclHits, AclId};
use super::Forwarder;

/// Unicast reverse-path forwarding (RFC 3704) on an ingress port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Urpf {
    /// The best route back to the source leaves through the ingress port
    /// (any member of an ECMP group counts; a default route counts too).
    Strict,
    /// The source has a route other than the default route (and other
    /// than a discard route: RFC 5635's source-based blackholing).
    Loose,
}

impl Urpf {
    pub const ALL: [Urpf; 2] = [Urpf::Strict, Urpf::Loose];

    /// As the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Urpf::Strict => "strict",
            Urpf::Loose => "loose",
        }
    }
}

/// The stages a port turns on (all off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PortFeatures {
    pub urpf: Option<Urpf>,
    /// ACL applied to packets arriving on the port.
    pub acl_in: Option<AclId>,
    /// ACL applied to packets about to leave through the port.
    pub acl_out: Option<AclId>,
}

/// What the optional stages did on one port (each also counted under its
/// drop reason in [`Counters`](super::Counters)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortFeatureCounters {
    /// Arrived here and failed uRPF.
    pub urpf_dropped: u64,
    /// Arrived here and were denied or rejected by `acl_in`.
    pub acl_in_dropped: u64,
    /// Were to leave here and were denied or rejected by `acl_out`.
    pub acl_out_dropped: u64,
}

impl PortFeatureCounters {
    pub fn merge(&mut self, other: &PortFeatureCounters) {
        self.urpf_dropped += other.urpf_dropped;
        self.acl_in_dropped += other.acl_in_dropped;
        self.acl_out_dropped += other.acl_out_dropped;
    }
}

impl std::fmt::Display for PortFeatureCounters {
    /// `dropped by urpf 3, acl in 1, acl out 0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dropped by urpf {}, acl in {}, acl out {}",
            self.urpf_dropped, self.acl_in_dropped, self.acl_out_dropped
        )
    }
}

/// One port's stage counters, named (for operators).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStages {
    pub name: String,
    #[serde(flatten)]
    pub counters: PortFeatureCounters,
}

/// What the optional stages did: per port, and per rule of every ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagesSnapshot {
    pub ports: Vec<PortStages>,
    pub acl: Vec<AclHits>,
    /// The stage table version the lists are from (see `stage_table.rs`);
    /// in a sum over workers, the newest, and the counts are of the
    /// workers running it.
    #[serde(default)]
    pub version: u64,
    /// The oldest version a worker runs (below `version` while a reload
    /// is being taken).
    #[serde(default)]
    pub oldest_version: u64,
    /// What the workers' ACL caches answered (`acl/cache.rs`).
    #[serde(default)]
    pub acl_cache: AclCacheCounts,
}

impl StagesSnapshot {
    /// Adds another worker's counts (same ports, by position). Rule counts
    /// add up only between workers running the same lists: while a reload
    /// is being taken, the newest lists' counts are kept and
    /// `oldest_version` says the oldest a worker still runs.
    pub fn merge(&mut self, other: &StagesSnapshot) {
        if self.ports.is_empty() && self.acl.is_empty() {
            *self = other.clone();
            return;
        }
        for (a, b) in self.ports.iter_mut().zip(&other.ports) {
            a.counters.merge(&b.counters);
        }
        self.acl_cache.merge(&other.acl_cache);
        self.oldest_version = self.oldest_version.min(other.oldest_version);
        if other.version < self.version {
            return;
        }
        if other.version > self.version {
            self.acl = other.acl.clone();
            self.version = other.version;
            return;
        }
        for (a, b) in self.acl.iter_mut().zip(&other.acl) {
            for (x, y) in a.rules.iter_mut().zip(&b.rules) {
                *x += y;
            }
            a.default += b.default;
        }
    }

    /// Multi-line text: ports whose stages dropped something, every ACL.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in self
            .ports
            .iter()
            .filter(|p| p.counters != Default::default())
        {
            s.push_str(&format!("  {:<16}{}\n", p.name, p.counters));
        }
        for hits in &self.acl {
            s.push_str(&format!("  acl {hits}\n"));
        }
        let c = self.acl_cache;
        if c != AclCacheCounts::default() {
            s.push_str(&format!(
                "  acl cache: hits {}, misses {}\n",
                c.hits, c.misses
            ));
        }
        s
    }
}

impl Forwarder {
    /// Copies the stage counters into `snap` (allocating only when its
    /// shape differs: the first time, and after a reload).
    pub fn stages_into(&self, snap: &mut StagesSnapshot) {
        if snap.ports.len() != self.port_counters.len() {
            snap.ports = self
                .ports()
                .iter()
                .map(|p| PortStages {
                    name: p.name.clone(),
                    counters: PortFeatureCounters::default(),
                })
                .collect();
        }
        for (p, c) in snap.ports.iter_mut().zip(&self.port_counters) {
            p.counters = *c;
        }
        snap.acl_cache = self.acl_cache.counts;
        // A reload may keep the shape but not the names.
        let same_shape = snap.version == self.stages_version()
            && snap.acl.len() == self.acl_hits.len()
            && snap
                .acl
                .iter()
                .zip(self.acl_hits.lists())
                .all(|(a, h)| a.rules.len() + 1 == h.len());
        snap.version = self.stages_version();
        snap.oldest_version = snap.version;
        if !same_shape {
            snap.acl = super::acl::hits(self.acls(), &self.acl_hits.to_vecs());
            return;
        }
        for (a, h) in snap.acl.iter_mut().zip(self.acl_hits.lists()) {
            let (rules, default) = h.split_at(a.rules.len());
            a.rules.copy_from_slice(rules);
            a.default = default[0];
        }
    }
}
