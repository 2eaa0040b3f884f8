//! What this router says in OSPFv3 (RFC 5340 §4.4.3): one Router-LSA (id
//! 0) with its point-to-point and transit interfaces; as DR of a link
//! with an adjacency, a Network-LSA (id: its interface id) and the
//! Intra-Area-Prefix-LSA that gives that link's prefixes (its own and
//! those of the attached routers' Link-LSAs); a Link-LSA per interface
//! (its link-local address and prefixes, flooded on that link only); and
//! an Intra-Area-Prefix-LSA (id 0) for the prefixes of its links that are
//! not transit networks. The v2 pass (`originate`) sequences, paces,
//! floods and flushes them like any other.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::Speaker;
use crate::control::ospf::interface::{Interface, InterfaceState, NetworkType};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::v3::wire::lsa::{
    Lsa3Body, Prefix, RouterInterface, RouterInterfaceType, FLAG_E, PREFIX_LA, PREFIX_NU,
};
use crate::control::ospf::v3::wire::{
    INTRA_AREA_PREFIX_LSA, LINK_LSA, NETWORK_LSA, OPTIONS, ROUTER_LSA,
};
use crate::control::ospf::wire::lsa::LsaKey;

impl Speaker {
    fn key_v3(&self, ls_type: crate::control::ospf::wire::LsaType, id: u32) -> LsaKey {
        LsaKey {
            ls_type,
            ls_id: Ipv4Addr::from(id),
            adv_router: self.router_id,
        }
    }

    /// Whether interface `f` is a transit network now (§4.4.3.2: a
    /// broadcast link with an adjacency to or as its DR), and the DR's
    /// (router id, interface id) if so.
    fn transit_v3(&self, f: &Interface) -> Option<(Ipv4Addr, u32)> {
        if f.config.network != NetworkType::Broadcast || f.state == InterfaceState::Waiting {
            return None;
        }
        if f.state == InterfaceState::Dr {
            return f
                .has_full_neighbor()
                .then_some((self.router_id, f.interface_id()));
        }
        let dr = f.neighbor_at(f.dr)?;
        (dr.state == NeighborState::Full).then_some((dr.router_id, dr.interface_id))
    }

    /// This router's OSPFv3 LSAs as it wants them now: bodies by key.
    pub(super) fn wanted_v3(&self) -> BTreeMap<LsaKey, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut put = |key: LsaKey, body: Lsa3Body| {
            let mut bytes = Vec::new();
            body.emit(&mut bytes);
            out.insert(key, bytes);
        };
        let mut interfaces = Vec::new();
        let mut stub_prefixes = Vec::new();
        for f in &self.interfaces {
            let Some(link) = f
                .config
                .v3
                .as_ref()
                .filter(|_| f.state != InterfaceState::Down)
            else {
                continue;
            };
            let own: Vec<Prefix> = link
                .prefixes
                .iter()
                .map(|p| Prefix {
                    prefix: p.trunc(),
                    options: 0,
                    metric: 0,
                })
                .collect();
            // No Link-LSA before the link-local address is known (the
            // socket reports it): neighbours would route to ::.
            if !link.link_local.is_unspecified() {
                put(
                    self.key_v3(LINK_LSA, link.interface_id),
                    Lsa3Body::Link {
                        priority: f.config.priority,
                        options: OPTIONS,
                        link_local: link.link_local,
                        prefixes: own.clone(),
                    },
                );
            }
            let interface = |kind, neighbor_interface_id, neighbor_router_id| RouterInterface {
                kind,
                metric: f.config.cost,
                interface_id: link.interface_id,
                neighbor_interface_id,
                neighbor_router_id,
            };
            if f.config.network == NetworkType::PointToPoint {
                let mut full: Vec<_> = f
                    .neighbors
                    .values()
                    .filter(|n| n.state == NeighborState::Full)
                    .map(|n| (n.router_id, n.interface_id))
                    .collect();
                full.sort_unstable();
                for (id, their_interface) in full {
                    let kind = RouterInterfaceType::PointToPoint;
                    interfaces.push(interface(kind, their_interface, id));
                }
            }
            let Some((dr, dr_interface)) = self.transit_v3(f) else {
                // Not a transit network: its prefixes are this router's.
                stub_prefixes.extend(own.iter().map(|p| Prefix {
                    metric: f.config.cost,
                    ..*p
                }));
                continue;
            };
            interfaces.push(interface(RouterInterfaceType::Transit, dr_interface, dr));
            if dr != self.router_id {
                continue;
            }
            // As DR: the Network-LSA, and the link's prefixes for it.
            let mut attached = f.full_neighbors();
            attached.insert(0, self.router_id);
            put(
                self.key_v3(NETWORK_LSA, link.interface_id),
                Lsa3Body::Network {
                    options: OPTIONS,
                    attached,
                },
            );
            let mut prefixes = own;
            for n in f
                .neighbors
                .values()
                .filter(|n| n.state == NeighborState::Full)
            {
                prefixes.extend(self.link_prefixes(n.router_id, n.interface_id));
            }
            prefixes.sort_by_key(|p| p.prefix);
            prefixes.dedup_by_key(|p| p.prefix);
            put(
                self.key_v3(INTRA_AREA_PREFIX_LSA, link.interface_id),
                Lsa3Body::IntraAreaPrefix {
                    referenced_type: NETWORK_LSA.code(),
                    referenced_id: Ipv4Addr::from(link.interface_id),
                    referenced_router: self.router_id,
                    prefixes,
                },
            );
        }
        if !stub_prefixes.is_empty() {
            put(
                self.key_v3(INTRA_AREA_PREFIX_LSA, 0),
                Lsa3Body::IntraAreaPrefix {
                    referenced_type: ROUTER_LSA.code(),
                    referenced_id: Ipv4Addr::UNSPECIFIED,
                    referenced_router: self.router_id,
                    prefixes: stub_prefixes,
                },
            );
        }
        let flags = if self.externals.is_empty() { 0 } else { FLAG_E };
        put(
            self.key_v3(ROUTER_LSA, 0),
            Lsa3Body::Router {
                flags,
                options: OPTIONS,
                interfaces,
            },
        );
        out
    }

    /// The prefixes router `router` gives in its Link-LSA for interface
    /// `interface_id` (§4.4.3.9: not those marked NU or LA), metric 0.
    fn link_prefixes(&self, router: Ipv4Addr, interface_id: u32) -> Vec<Prefix> {
        let key = LsaKey {
            ls_type: LINK_LSA,
            ls_id: Ipv4Addr::from(interface_id),
            adv_router: router,
        };
        let Some(e) = self.db.get(&key) else {
            return Vec::new();
        };
        match Lsa3Body::parse(LINK_LSA, e.header().body()) {
            Ok(Lsa3Body::Link { prefixes, .. }) => prefixes
                .into_iter()
                .filter(|p| p.options & (PREFIX_NU | PREFIX_LA) == 0)
                .map(|p| Prefix { metric: 0, ..p })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A neighbour's Link-LSA changes what this router, as DR, says of
    /// the link's prefixes: origination runs again.
    pub(super) fn installed_v3(&mut self, now: Instant, key: &LsaKey) {
        if key.ls_type == LINK_LSA {
            self.schedule_origination(now);
        }
    }

    /// What this router says now (the v3 routes read its own LSAs from
    /// here rather than waiting for MinLSInterval, as v2's SPF does).
    pub fn own_lsas(&self) -> BTreeMap<LsaKey, Vec<u8>> {
        self.wanted()
    }
}

impl Speaker {
    /// Interface `i`'s link-local address became known (the socket layer
    /// tells it): its Link-LSA follows.
    pub fn set_link_local(&mut self, now: Instant, i: usize, address: std::net::Ipv6Addr) {
        let Some(link) = self
            .interfaces
            .get_mut(i)
            .and_then(|f| f.config.v3.as_mut())
        else {
            return;
        };
        if link.link_local != address {
            link.link_local = address;
            self.schedule_origination(now);
        }
    }
}
