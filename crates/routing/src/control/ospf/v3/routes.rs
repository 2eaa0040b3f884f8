//! What SPF reads of an OSPFv3 database (RFC 5340 §4.8): Router-LSAs
//! (merged per router) and Network-LSAs as the link-state [`Lsdb`], with
//! the prefixes of Intra-Area-Prefix-LSAs as the routers' stubs and the
//! networks' prefixes, so the one SPF of [`crate::control::linkstate`]
//! computes OSPFv3's intra-area routes. A network is named by its DR's
//! router id and interface id; the `Lsdb` numbers them. This router's own
//! links get what only it knows: the ports, and its neighbours' link-local
//! addresses as gateways (from their Link-LSAs, else their hellos'
//! source). [`v3_candidates`] gives the inter-area and AS-external
//! candidates the OSPFv2 code (`ospf::external`) turns into routes.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipnet::IpNet;

use super::wire::lsa::{Lsa3Body, RouterInterfaceType, PREFIX_NU};
use super::wire::{AS_EXTERNAL_LSA, INTER_AREA_PREFIX_LSA};
use super::wire::{INTRA_AREA_PREFIX_LSA, LINK_LSA, NETWORK_LSA, ROUTER_LSA};
use crate::control::hash::FastMap;
use crate::control::linkstate::{Link, Lsdb, NetworkLsa, RouterLsa, Stub, TransitLink};
use crate::control::ospf::database::MAX_AGE;
use crate::control::ospf::external::{Candidates, LS_INFINITY};
use crate::control::ospf::speaker::Speaker;
use crate::control::ospf::wire::lsa::LsaKey;

/// The parsed, live (not MaxAge) LSAs SPF reads, this router's own as it
/// wants them now.
fn live_bodies(speaker: &Speaker, now: Instant) -> Vec<(LsaKey, i32, Lsa3Body)> {
    let root = speaker.router_id();
    let own = speaker.own_lsas();
    let mut out = Vec::new();
    for (key, e) in speaker.database().iter() {
        if key.adv_router == root || e.age(now) >= MAX_AGE {
            continue;
        }
        let wanted = [ROUTER_LSA, NETWORK_LSA, INTRA_AREA_PREFIX_LSA, LINK_LSA];
        if !wanted.contains(&key.ls_type) {
            continue;
        }
        let h = e.header();
        if let Ok(body) = Lsa3Body::parse(key.ls_type, h.body()) {
            out.push((*key, h.sequence(), body));
        }
    }
    for (key, bytes) in own {
        let sequence = speaker.database().get(&key).map_or(0, |e| e.sequence());
        if let Ok(body) = Lsa3Body::parse(key.ls_type, &bytes) {
            out.push((key, sequence, body));
        }
    }
    out
}

/// The link-state database SPF runs over, as of `now`.
pub fn to_linkstate(speaker: &Speaker, now: Instant) -> Lsdb {
    let root = speaker.router_id();
    let bodies = live_bodies(speaker, now);
    // Networks by (DR, DR's interface id), numbered.
    let mut network_ids: HashMap<(Ipv4Addr, u32), Ipv4Addr> = HashMap::new();
    let mut network_id = |dr: Ipv4Addr, interface: u32| {
        let next = Ipv4Addr::from(network_ids.len() as u32 + 1);
        *network_ids.entry((dr, interface)).or_insert(next)
    };
    // Link-local addresses by (router, its interface id).
    let mut link_locals: FastMap<(Ipv4Addr, u32), Ipv6Addr> = FastMap::default();
    for (key, _, body) in &bodies {
        if let Lsa3Body::Link { link_local, .. } = body {
            link_locals.insert((key.adv_router, u32::from(key.ls_id)), *link_local);
        }
    }
    let mut routers: BTreeMap<Ipv4Addr, RouterLsa> = BTreeMap::new();
    let mut networks: BTreeMap<Ipv4Addr, NetworkLsa> = BTreeMap::new();
    for (key, sequence, body) in &bodies {
        match body {
            Lsa3Body::Router { interfaces, .. } => {
                let own = key.adv_router == root;
                let r = routers.entry(key.adv_router).or_insert_with(|| RouterLsa {
                    router_id: key.adv_router,
                    sequence: (i64::from(*sequence) - i64::from(i32::MIN)) as u64,
                    links: Vec::new(),
                    stubs: Vec::new(),
                    transits: Vec::new(),
                });
                for i in interfaces {
                    let cost = u32::from(i.metric).max(1);
                    let port = own.then(|| port_of(speaker, i.interface_id)).flatten();
                    match i.kind {
                        RouterInterfaceType::PointToPoint => {
                            let next_hops = if own {
                                neighbor_address(
                                    speaker,
                                    &link_locals,
                                    i.interface_id,
                                    i.neighbor_router_id,
                                )
                                .into_iter()
                                .collect()
                            } else {
                                Vec::new()
                            };
                            r.links.push(Link {
                                neighbor: i.neighbor_router_id,
                                cost,
                                next_hops,
                                port,
                            });
                        }
                        RouterInterfaceType::Transit => {
                            let network = network_id(i.neighbor_router_id, i.neighbor_interface_id);
                            let address = link_locals
                                .get(&(key.adv_router, i.interface_id))
                                .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |a| IpAddr::V6(*a));
                            r.transits.push(TransitLink {
                                network,
                                cost,
                                address,
                                port,
                            });
                        }
                        RouterInterfaceType::Virtual => {}
                    }
                }
            }
            Lsa3Body::Network { attached, .. } => {
                let id = network_id(key.adv_router, u32::from(key.ls_id));
                let n = networks.entry(id).or_insert_with(|| NetworkLsa {
                    id,
                    prefixes: Vec::new(),
                    attached: Vec::new(),
                });
                n.attached = attached.clone();
            }
            _ => {}
        }
    }
    for (key, _, body) in &bodies {
        let Lsa3Body::IntraAreaPrefix {
            referenced_type,
            referenced_id,
            referenced_router,
            prefixes,
        } = body
        else {
            continue;
        };
        if *referenced_router != key.adv_router {
            continue;
        }
        let usable = prefixes.iter().filter(|p| p.options & PREFIX_NU == 0);
        if *referenced_type == ROUTER_LSA.code() {
            if let Some(r) = routers.get_mut(referenced_router) {
                r.stubs.extend(usable.map(|p| Stub {
                    prefix: IpNet::V6(p.prefix),
                    cost: u32::from(p.metric),
                }));
            }
        } else if *referenced_type == NETWORK_LSA.code() {
            let id = network_id(*referenced_router, u32::from(*referenced_id));
            if let Some(n) = networks.get_mut(&id) {
                n.prefixes.extend(usable.map(|p| IpNet::V6(p.prefix)));
            }
        }
    }
    let mut lsdb = Lsdb::new();
    for r in routers.into_values() {
        lsdb.install(r);
    }
    for n in networks.into_values() {
        lsdb.set_network(n);
    }
    lsdb
}

/// The port name of this router's interface `interface_id`.
fn port_of(speaker: &Speaker, interface_id: u32) -> Option<String> {
    speaker
        .interfaces()
        .iter()
        .find(|f| f.interface_id() == interface_id)
        .map(|f| f.config.name.clone())
}

/// Neighbour `router`'s link-local address on this router's interface
/// `interface_id`: from its Link-LSA, else its hellos' source.
fn neighbor_address(
    speaker: &Speaker,
    link_locals: &FastMap<(Ipv4Addr, u32), Ipv6Addr>,
    interface_id: u32,
    router: Ipv4Addr,
) -> Option<IpAddr> {
    let f = speaker
        .interfaces()
        .iter()
        .find(|f| f.interface_id() == interface_id)?;
    let n = f.neighbors.get(&router)?;
    link_locals
        .get(&(router, n.interface_id))
        .map(|a| IpAddr::V6(*a))
        .or(Some(n.address))
}

/// What the routes beyond the area are made of in OSPFv3 (§4.8.4, §4.8.5):
/// the routers' B and E flags (from their Router-LSAs), Inter-Area-Prefix
/// and AS-External-LSAs (prefixes marked NU left out). Inter-Area-Router
/// LSAs are not read: ASBRs in other areas are not reached.
pub fn v3_candidates(speaker: &Speaker, now: Instant) -> Candidates {
    let me = speaker.router_id();
    let mut c = Candidates::default();
    for (key, e) in speaker.database().iter() {
        if e.age(now) >= MAX_AGE || key.adv_router == me {
            continue;
        }
        let wanted = [ROUTER_LSA, INTER_AREA_PREFIX_LSA, AS_EXTERNAL_LSA];
        if !wanted.contains(&key.ls_type) {
            continue;
        }
        let Ok(body) = Lsa3Body::parse(key.ls_type, e.header().body()) else {
            continue;
        };
        match body {
            Lsa3Body::Router { flags, .. } => {
                *c.flags.entry(key.adv_router).or_default() |= flags;
            }
            Lsa3Body::InterAreaPrefix { metric, prefix }
                if metric < LS_INFINITY && prefix.options & PREFIX_NU == 0 =>
            {
                let p = IpNet::V6(prefix.prefix);
                c.summaries.push((p, key.adv_router, metric));
            }
            Lsa3Body::AsExternal {
                type2,
                metric,
                prefix,
                forwarding,
                ..
            } if metric < LS_INFINITY && prefix.options & PREFIX_NU == 0 => {
                let p = IpNet::V6(prefix.prefix);
                let forwarding = forwarding.filter(|f| !f.is_unspecified()).map(IpAddr::V6);
                c.externals
                    .push((p, key.adv_router, type2, metric, forwarding));
            }
            _ => {}
        }
    }
    c
}
