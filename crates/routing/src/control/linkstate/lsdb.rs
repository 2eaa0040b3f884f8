//! The link-state database: one router LSA per router, newest sequence
//! wins, and the transit networks (OSPF network LSAs) routers attach to.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::Serialize;

/// A router's identity in the link-state domain (its `[router] id`).
pub type RouterId = Ipv4Addr;

/// Largest link or stub cost accepted: OSPF's 24-bit LSInfinity minus one,
/// so that a path over 100,000 routers still sums exactly in a `u64`.
pub const MAX_COST: u32 = 0x00FF_FFFE;

/// A link from the LSA's router to a neighbour router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub neighbor: RouterId,
    /// At least 1: zero-cost links would make equal-cost first hops depend
    /// on the order in which SPF visits routers.
    pub cost: u32,
    /// The neighbour's addresses on the shared link, at most one per
    /// family. Used only on this router's own links, where they become the
    /// gateways of first hops: an IPv4 stub is reached through the IPv4 one,
    /// an IPv6 stub through the IPv6 one.
    pub next_hops: Vec<IpAddr>,
    /// The name of the port (as in the config) the link leaves by; like
    /// `next_hops`, meaningful only on this router's own links.
    pub port: Option<String>,
}

/// A prefix the LSA's router reaches directly (a loopback, a LAN, a
/// point-to-point subnet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stub {
    /// Host bits clear.
    pub prefix: IpNet,
    pub cost: u32,
}

/// A link from the LSA's router to a transit network (a broadcast segment
/// with a designated router, described by a [`NetworkLsa`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitLink {
    /// The network's id: its designated router's address on it.
    pub network: Ipv4Addr,
    /// At least 1, as for [`Link::cost`].
    pub cost: u32,
    /// The router's own address on the network: the gateway the other
    /// routers of the segment reach it by (OSPFv3: its link-local address).
    pub address: IpAddr,
    /// The port it leaves by; meaningful only on this router's own links.
    pub port: Option<String>,
}

/// A transit network (an OSPF network LSA): its prefix and the routers
/// attached to it. Reaching it costs its routers' transit link costs;
/// leaving it for an attached router costs nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkLsa {
    /// Its designated router's address (what transit links name; OSPFv3
    /// numbers its networks, named by DR and interface id, this way).
    pub id: Ipv4Addr,
    /// The network's prefixes (OSPFv2: its subnet; OSPFv3: those of the
    /// Intra-Area-Prefix-LSA that references it).
    pub prefixes: Vec<IpNet>,
    pub attached: Vec<RouterId>,
}

/// Everything one router says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterLsa {
    pub router_id: RouterId,
    /// Higher is newer; an LSA never replaces one with a higher sequence.
    pub sequence: u64,
    pub links: Vec<Link>,
    pub stubs: Vec<Stub>,
    /// Links to transit networks (OSPF; the LSDB file has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transits: Vec<TransitLink>,
}

impl RouterLsa {
    /// True when this LSA lists a link to `neighbor` (the other half of the
    /// two-way check).
    pub fn lists(&self, neighbor: RouterId) -> bool {
        self.links.iter().any(|l| l.neighbor == neighbor)
    }
}

/// What [`Lsdb::install`] did with an LSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallOutcome {
    /// New router, or a higher sequence than the one held: installed.
    Installed,
    /// A lower sequence than the one held: ignored.
    Older,
    /// The same sequence and the same contents: nothing to do.
    Same,
    /// The same sequence with different contents: ignored, because two
    /// different LSAs must not share a sequence (bump it to replace).
    Conflict,
}

/// What [`Lsdb::replace_all`] did, router by router.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaceReport {
    pub installed: Vec<RouterId>,
    /// Routers whose held LSA is newer than the offered one (kept).
    pub older: Vec<RouterId>,
    /// Same sequence, different contents (held one kept).
    pub conflicts: Vec<RouterId>,
    /// Routers held but absent from the new set (removed).
    pub removed: Vec<RouterId>,
    pub unchanged: usize,
}

impl ReplaceReport {
    /// True when the database changed (SPF must run again).
    pub fn changed(&self) -> bool {
        !self.installed.is_empty() || !self.removed.is_empty()
    }
}

/// The router LSAs, keyed by router id, and the transit networks, keyed by
/// their id.
#[derive(Debug, Clone, Default)]
pub struct Lsdb {
    lsas: BTreeMap<RouterId, RouterLsa>,
    networks: BTreeMap<Ipv4Addr, NetworkLsa>,
    /// Bumped on every change, so a caller can tell whether SPF is stale.
    generation: u64,
}

impl Lsdb {
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `lsa` unless the database holds a newer one for the same
    /// router (or the same one).
    pub fn install(&mut self, lsa: RouterLsa) -> InstallOutcome {
        let outcome = match self.lsas.get(&lsa.router_id) {
            None => InstallOutcome::Installed,
            Some(held) => compare(held, &lsa),
        };
        if outcome == InstallOutcome::Installed {
            self.lsas.insert(lsa.router_id, lsa);
            self.generation += 1;
        }
        outcome
    }

    /// Removes `router`'s LSA; true if there was one.
    pub fn remove(&mut self, router: RouterId) -> bool {
        let removed = self.lsas.remove(&router).is_some();
        if removed {
            self.generation += 1;
        }
        removed
    }

    /// Makes the database the set `lsas` (a whole file): routers absent from
    /// it are removed, and every offered LSA goes through the sequence rule
    /// of [`install`](Self::install), so a stale file never rolls a router
    /// back. `lsas` must hold at most one LSA per router (the file parser
    /// guarantees it); a later duplicate is treated like any other offer.
    pub fn replace_all(&mut self, lsas: Vec<RouterLsa>) -> ReplaceReport {
        let mut report = ReplaceReport::default();
        let offered: std::collections::BTreeSet<RouterId> =
            lsas.iter().map(|l| l.router_id).collect();
        let absent: Vec<RouterId> = self
            .lsas
            .keys()
            .filter(|id| !offered.contains(id))
            .copied()
            .collect();
        for id in absent {
            self.remove(id);
            report.removed.push(id);
        }
        for lsa in lsas {
            let id = lsa.router_id;
            match self.install(lsa) {
                InstallOutcome::Installed => report.installed.push(id),
                InstallOutcome::Older => report.older.push(id),
                InstallOutcome::Conflict => report.conflicts.push(id),
                InstallOutcome::Same => report.unchanged += 1,
            }
        }
        report
    }

    /// Sets transit network `network.id` (the OSPF speaker's database
    /// decides which instance is current; this one holds the result).
    pub fn set_network(&mut self, network: NetworkLsa) {
        if self.networks.get(&network.id) != Some(&network) {
            self.networks.insert(network.id, network);
            self.generation += 1;
        }
    }

    /// The transit networks in id order.
    pub fn networks(&self) -> impl ExactSizeIterator<Item = &NetworkLsa> + '_ {
        self.networks.values()
    }

    pub fn get(&self, router: RouterId) -> Option<&RouterLsa> {
        self.lsas.get(&router)
    }

    /// The LSAs in router-id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &RouterLsa> + '_ {
        self.lsas.values()
    }

    pub fn len(&self) -> usize {
        self.lsas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lsas.is_empty()
    }

    /// Changes since creation; equal generations mean equal contents.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True when `a` lists `b` and `b` lists `a`: only such links carry
    /// traffic (a one-sided link is a misconfiguration or a half-down link).
    pub fn is_two_way(&self, a: RouterId, b: RouterId) -> bool {
        match (self.lsas.get(&a), self.lsas.get(&b)) {
            (Some(la), Some(lb)) => la.lists(b) && lb.lists(a),
            _ => false,
        }
    }
}

fn compare(held: &RouterLsa, offered: &RouterLsa) -> InstallOutcome {
    use std::cmp::Ordering::*;
    match offered.sequence.cmp(&held.sequence) {
        Greater => InstallOutcome::Installed,
        Less => InstallOutcome::Older,
        Equal if offered == held => InstallOutcome::Same,
        Equal => InstallOutcome::Conflict,
    }
}
