//! What SPF reads of the OSPF database: its router and network LSAs
//! (MaxAge ones excepted, §16) as the link-state [`Lsdb`], this router's
//! own links completed with what only it knows (its neighbours' addresses
//! on point-to-point links, the ports its links leave by), so the one SPF
//! of [`crate::control::linkstate`] computes OSPF's intra-area routes.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net};

use super::database::MAX_AGE;
use super::speaker::Speaker;
use super::wire::lsa::{LsaBody, LsaType};
use super::wire::RouterLinkType;
use crate::control::linkstate::{Link, Lsdb, NetworkLsa, RouterLsa, Stub, TransitLink};

/// The prefix length of a contiguous mask.
fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// The link-state database SPF runs over, as of `now`.
pub fn to_linkstate(speaker: &Speaker, now: Instant) -> Lsdb {
    let root = speaker.router_id();
    let mut lsdb = Lsdb::new();
    let mut networks: Vec<(NetworkLsa, Ipv4Addr)> = Vec::new();
    for (key, e) in speaker.database().iter() {
        if e.age(now) >= MAX_AGE {
            continue;
        }
        let h = e.header();
        let own_router = key.ls_type == LsaType::Router && key.adv_router == root;
        let body = if own_router {
            // What this router stands for now, not what MinLSInterval has
            // let it flood so far.
            Ok(speaker.current_router_lsa())
        } else {
            LsaBody::parse(key.ls_type, h.body())
        };
        let Ok(body) = body else {
            continue;
        };
        match body {
            LsaBody::Router { links, .. } if key.ls_id == key.adv_router => {
                let own = key.adv_router == root;
                let mut lsa = RouterLsa {
                    router_id: key.adv_router,
                    // Sequence numbers run from i32::MIN + 1 up: shifted to u64.
                    sequence: (i64::from(h.sequence()) - i64::from(i32::MIN)) as u64,
                    links: Vec::new(),
                    stubs: Vec::new(),
                    transits: Vec::new(),
                };
                for l in links {
                    let cost = u32::from(l.metric);
                    match l.kind {
                        RouterLinkType::PointToPoint => {
                            let (next_hops, port) = if own {
                                own_p2p_hop(speaker, l.data, l.id)
                            } else {
                                (Vec::new(), None)
                            };
                            lsa.links.push(Link {
                                neighbor: l.id,
                                cost: cost.max(1),
                                next_hops,
                                port,
                            });
                        }
                        RouterLinkType::Transit => lsa.transits.push(TransitLink {
                            network: l.id,
                            cost: cost.max(1),
                            address: IpAddr::V4(l.data),
                            port: own.then(|| port_of_address(speaker, l.data)).flatten(),
                        }),
                        RouterLinkType::Stub => {
                            let Some(len) = prefix_len(l.data) else {
                                continue;
                            };
                            if let Ok(p) = Ipv4Net::new(l.id, len) {
                                lsa.stubs.push(Stub {
                                    prefix: IpNet::V4(p.trunc()),
                                    cost,
                                });
                            }
                        }
                        RouterLinkType::Virtual => {}
                    }
                }
                lsdb.install(lsa);
            }
            LsaBody::Network { mask, attached } => {
                let Some(len) = prefix_len(mask) else {
                    continue;
                };
                let Ok(prefix) = Ipv4Net::new(key.ls_id, len) else {
                    continue;
                };
                networks.push((
                    NetworkLsa {
                        id: key.ls_id,
                        prefixes: vec![IpNet::V4(prefix.trunc())],
                        attached,
                    },
                    key.adv_router,
                ));
            }
            _ => {}
        }
    }
    // Two routers may both hold a network LSA for one id while a DR
    // changes: the one whose advertising router is attached to it by its
    // own address (the DR) wins.
    networks.sort_by_key(|(n, _)| n.id);
    for group in networks.chunk_by(|a, b| a.0.id == b.0.id) {
        let by_dr = group.iter().find(|(n, adv)| {
            lsdb.get(*adv)
                .is_some_and(|r| r.transits.iter().any(|t| t.address == IpAddr::V4(n.id)))
        });
        let (network, _) = by_dr.unwrap_or(&group[0]);
        lsdb.set_network(network.clone());
    }
    lsdb
}

/// The neighbour's address and the port of this router's p2p link from
/// `own_address` to router `neighbor`.
fn own_p2p_hop(
    speaker: &Speaker,
    own_address: Ipv4Addr,
    neighbor: Ipv4Addr,
) -> (Vec<IpAddr>, Option<String>) {
    for iface in speaker.interfaces() {
        if iface.addr() != own_address {
            continue;
        }
        if let Some(n) = iface.neighbors.get(&neighbor) {
            return (vec![n.address], Some(iface.config.name.clone()));
        }
    }
    (Vec::new(), None)
}

fn port_of_address(speaker: &Speaker, address: Ipv4Addr) -> Option<String> {
    speaker
        .interfaces()
        .iter()
        .find(|f| f.addr() == address)
        .map(|f| f.config.name.clone())
}

#[cfg(test)]
mod tests {
    use super::prefix_len;
    use std::net::Ipv4Addr;

    #[test]
    fn masks_must_be_contiguous() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
    }
}
