//! The neighbours that matter to the router: kernel-learned entries on the
//! router's ports merged with the configuration's static ones (static wins),
//! in the shape [`crate::fib::build_static`] takes.
//!
//! Only the resolved set — which address has which MAC on which port —
//! reaches the FIB, so a state change that keeps the MAC (REACHABLE → STALE →
//! DELAY → REACHABLE, the kernel's normal cycle) is not a change: nothing is
//! rebuilt for it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::{KernelNeighbor, NeighborEvent, NeighborState};
use crate::fib::{PortId, StaticNeighbor};
use crate::wire::MacAddr;

/// A router port as the neighbour table sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub port: PortId,
    /// The Linux interface carrying the port.
    pub ifindex: u32,
    /// The port's connected subnets; kernel entries outside them (link-local
    /// and multicast addresses, stray subnets) are not the router's concern.
    pub subnets: Vec<IpNet>,
}

/// Where a resolved neighbour comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborSource {
    /// A `[[neighbor]]` of the configuration.
    Static,
    /// The kernel's table, in this state; `managed` when the kernel keeps it
    /// resolved by itself.
    Kernel { state: NeighborState, managed: bool },
}

/// One resolved neighbour, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEntry {
    pub address: IpAddr,
    pub port: PortId,
    pub mac: MacAddr,
    pub source: NeighborSource,
}

impl fmt::Display for NeighborEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} port {} lladdr {} ",
            self.address, self.port, self.mac
        )?;
        match self.source {
            NeighborSource::Static => f.write_str("static"),
            NeighborSource::Kernel { state, managed } => {
                write!(f, "kernel {state}{}", if managed { " managed" } else { "" })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Learned {
    mac: MacAddr,
    state: NeighborState,
    managed: bool,
}

/// Kernel-learned neighbours on the router's ports plus the static ones.
#[derive(Debug, Clone)]
pub struct NeighborTable {
    ports: Vec<PortBinding>,
    statics: BTreeMap<IpAddr, StaticNeighbor>,
    /// Usable kernel entries only, by (address, port).
    learned: BTreeMap<(IpAddr, PortId), Learned>,
}

impl NeighborTable {
    /// A table with no kernel entries yet. Of two static neighbours with the
    /// same address the first wins, as in [`crate::fib::build_static`].
    pub fn new(ports: Vec<PortBinding>, statics: &[StaticNeighbor]) -> Self {
        let ports = ports
            .into_iter()
            .map(|p| PortBinding {
                subnets: p.subnets.iter().map(IpNet::trunc).collect(),
                ..p
            })
            .collect();
        let mut by_address = BTreeMap::new();
        for s in statics {
            by_address.entry(s.address).or_insert(*s);
        }
        NeighborTable {
            ports,
            statics: by_address,
            learned: BTreeMap::new(),
        }
    }

    /// Replaces the static neighbours (a reload); true when they changed.
    pub fn set_statics(&mut self, statics: &[StaticNeighbor]) -> bool {
        let mut by_address = BTreeMap::new();
        for s in statics {
            by_address.entry(s.address).or_insert(*s);
        }
        let changed = by_address != self.statics;
        self.statics = by_address;
        changed
    }

    /// The router port `n` belongs to: its interface is a port's and its
    /// address lies in one of that port's subnets.
    fn port_of(&self, n: &KernelNeighbor) -> Option<PortId> {
        self.ports
            .iter()
            .find(|p| p.ifindex == n.ifindex && p.subnets.iter().any(|s| s.contains(&n.address)))
            .map(|p| p.port)
    }

    /// The entry the FIB may use for `n`, if any: a usable state and a
    /// unicast, non-zero MAC (the kernel keeps NOARP entries with group MACs
    /// for multicast and broadcast addresses; those are never next hops).
    fn usable(n: &KernelNeighbor) -> Option<Learned> {
        let mac = n.mac?;
        if !n.state.has_usable_mac() || mac.is_multicast() || mac == MacAddr::ZERO {
            return None;
        }
        Some(Learned {
            mac,
            state: n.state,
            managed: n.flags.is_managed(),
        })
    }

    /// The MAC the FIB uses for (address, port) now.
    fn effective(&self, address: IpAddr, port: PortId) -> Option<MacAddr> {
        match self.statics.get(&address) {
            Some(s) => (s.port == port).then_some(s.mac),
            None => self.learned.get(&(address, port)).map(|l| l.mac),
        }
    }

    /// Applies one kernel event; true when the resolved set changed (a
    /// neighbour appeared, vanished or changed MAC), i.e. the FIB needs a
    /// rebuild.
    pub fn apply(&mut self, event: &NeighborEvent) -> bool {
        let n = event.neighbor();
        let Some(port) = self.port_of(n) else {
            return false;
        };
        let key = (n.address, port);
        let before = self.effective(n.address, port);
        let entry = match event {
            NeighborEvent::New(n) => Self::usable(n),
            NeighborEvent::Deleted(_) => None,
        };
        match entry {
            Some(l) => self.learned.insert(key, l),
            None => self.learned.remove(&key),
        };
        before != self.effective(n.address, port)
    }

    /// Replaces every kernel entry with `table` (a dump); true when the
    /// resolved set changed.
    pub fn replace_all(&mut self, table: &[KernelNeighbor]) -> bool {
        let before = self.resolved_keys();
        self.learned.clear();
        for n in table {
            if let (Some(port), Some(l)) = (self.port_of(n), Self::usable(n)) {
                self.learned.insert((n.address, port), l);
            }
        }
        before != self.resolved_keys()
    }

    fn resolved_keys(&self) -> Vec<(IpAddr, PortId, MacAddr)> {
        self.entries()
            .into_iter()
            .map(|e| (e.address, e.port, e.mac))
            .collect()
    }

    /// The resolved neighbours, for [`crate::fib::build_static`]: every static
    /// one, and every kernel one whose address has no static entry; ordered
    /// by address, then port.
    pub fn resolved(&self) -> Vec<StaticNeighbor> {
        self.entries()
            .into_iter()
            .map(|e| StaticNeighbor {
                address: e.address,
                mac: e.mac,
                port: e.port,
            })
            .collect()
    }

    /// [`Self::resolved`] with where each entry comes from, for operators.
    pub fn entries(&self) -> Vec<NeighborEntry> {
        let statics = self.statics.values().map(|s| NeighborEntry {
            address: s.address,
            port: s.port,
            mac: s.mac,
            source: NeighborSource::Static,
        });
        let learned = self
            .learned
            .iter()
            .filter(|((address, _), _)| !self.statics.contains_key(address))
            .map(|(&(address, port), l)| NeighborEntry {
                address,
                port,
                mac: l.mac,
                source: NeighborSource::Kernel {
                    state: l.state,
                    managed: l.managed,
                },
            });
        let mut all: Vec<NeighborEntry> = statics.chain(learned).collect();
        all.sort_by_key(|e| (e.address, e.port));
        all
    }

    /// The usable kernel entry for `address` on `port`, shadowed or not.
    pub fn learned(&self, address: IpAddr, port: PortId) -> Option<(MacAddr, NeighborState)> {
        self.learned.get(&(address, port)).map(|l| (l.mac, l.state))
    }

    /// Number of usable kernel entries (static ones not counted).
    pub fn learned_len(&self) -> usize {
        self.learned.len()
    }

    /// The port whose subnets contain `address`, with its interface.
    pub fn connected_port(&self, address: IpAddr) -> Option<&PortBinding> {
        self.ports
            .iter()
            .find(|p| p.subnets.iter().any(|s| s.contains(&address)))
    }

    /// Whether `address` has a static neighbour.
    pub fn has_static(&self, address: IpAddr) -> bool {
        self.statics.contains_key(&address)
    }
}
