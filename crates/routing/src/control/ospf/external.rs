//! Routes beyond the area's own stubs, built on an SPF result (RFC 2328
//! §16.2–16.4): inter-area routes from the summary LSAs of area border
//! routers, and AS-external routes (type 1 and type 2 metrics, forwarding
//! addresses) from the type 5 LSAs of AS boundary routers reached inside
//! the area or through an ASBR-summary LSA.
//!
//! Preference is the RFC's (§11): an intra-area route beats an inter-area
//! one for the same prefix, which beats any external; among externals a
//! type 1 beats a type 2; equal candidates join their next hops (ECMP).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net};

use super::v3::routes::v3_candidates;
use super::wire::Version;
use serde::Serialize;

use super::database::MAX_AGE;
use super::speaker::Speaker;
use super::wire::lsa::{LsaBody, LsaType};
use crate::control::hash::FastSet;
use crate::control::linkstate::spf::SpfResult;
use crate::control::rib::route::{RibRoute, RouteSource, Via};

/// LSInfinity: a summary or external metric meaning "unreachable".
pub const LS_INFINITY: u32 = 0x00ff_ffff;
/// Router LSA flag bits (A.4.2).
pub const FLAG_B: u8 = 0x01;
pub const FLAG_E: u8 = 0x02;

/// How an OSPF route was learnt, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathType {
    InterArea,
    External1,
    External2,
}

/// A route beyond the area's stubs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OspfRoute {
    pub prefix: IpNet,
    pub path_type: PathType,
    /// The whole cost (inter-area, type 1); for type 2 the cost to the
    /// ASBR or forwarding address, which only breaks ties.
    pub cost: u32,
    /// Type 2: the external metric, compared first.
    pub type2_metric: Option<u32>,
    /// The ASBR (external) or area border router (inter-area).
    pub advertised_by: Ipv4Addr,
    pub paths: Vec<Via>,
}

impl OspfRoute {
    /// What is compared: lower wins, equal joins.
    fn rank(&self) -> (PathType, u32, u32) {
        match self.type2_metric {
            Some(m) => (self.path_type, m, self.cost),
            None => (self.path_type, self.cost, 0),
        }
    }

    /// As the RIB holds it, as `source`'s: the metric is the type 2 metric
    /// for E2 routes (as FRR and BIRD show them), the cost otherwise.
    pub fn to_rib(&self, source: RouteSource) -> RibRoute {
        RibRoute {
            prefix: self.prefix,
            source,
            metric: self.type2_metric.unwrap_or(self.cost),
            paths: self.paths.clone(),
        }
    }
}

/// Keeps the best candidates per prefix, joining equal ones.
fn offer(table: &mut BTreeMap<IpNet, OspfRoute>, candidate: OspfRoute) {
    match table.get_mut(&candidate.prefix) {
        None => {
            table.insert(candidate.prefix, candidate);
        }
        Some(held) => match candidate.rank().cmp(&held.rank()) {
            std::cmp::Ordering::Less => *held = candidate,
            std::cmp::Ordering::Equal => {
                held.paths.extend(candidate.paths);
                held.paths.sort_unstable();
                held.paths.dedup();
                held.advertised_by = held.advertised_by.min(candidate.advertised_by);
            }
            std::cmp::Ordering::Greater => {}
        },
    }
}

/// The prefix of a (network address, mask) pair; `None` for a
/// non-contiguous mask.
fn prefix_of(address: Ipv4Addr, mask: Ipv4Addr) -> Option<Ipv4Net> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    if m.checked_shl(len).unwrap_or(0) != 0 {
        return None;
    }
    Ipv4Net::new(address, len as u8).ok().map(|p| p.trunc())
}

/// Cost and first hops of a way to a router or an address.
#[derive(Debug, Clone)]
struct Reach {
    cost: u32,
    paths: Vec<Via>,
}

fn saturating(cost: u64) -> u32 {
    u32::try_from(cost).unwrap_or(u32::MAX)
}

/// What the routes beyond the area are made of, whatever the version's
/// LSAs: the routers' B and E flags, the inter-area prefixes (prefix,
/// area border router, metric), the ways to ASBRs in other areas (ASBR,
/// area border router, metric), the AS-external prefixes (prefix, ASBR,
/// type 2, metric, forwarding address). Metrics below LSInfinity only.
#[derive(Debug, Default)]
pub struct Candidates {
    pub flags: BTreeMap<Ipv4Addr, u8>,
    pub summaries: Vec<(IpNet, Ipv4Addr, u32)>,
    pub asbr_summaries: Vec<(Ipv4Addr, Ipv4Addr, u32)>,
    pub externals: Vec<(IpNet, Ipv4Addr, bool, u32, Option<IpAddr>)>,
}

/// The inter-area and external routes of `speaker`'s database as of
/// `now`, over the SPF result `spf` whose intra-area routes are `intra`.
pub fn beyond_area_routes(
    speaker: &Speaker,
    spf: &SpfResult,
    intra: &[RibRoute],
    now: Instant,
) -> Vec<OspfRoute> {
    let candidates = match speaker.version() {
        Version::V2 => v2_candidates(speaker, now),
        Version::V3 => v3_candidates(speaker, now),
    };
    routes_from(speaker, &candidates, spf, intra)
}

/// The OSPFv2 LSAs' candidates: router LSA flags, type 3 and 4 summaries,
/// type 5 LSAs.
fn v2_candidates(speaker: &Speaker, now: Instant) -> Candidates {
    let me = speaker.router_id();
    let mut c = Candidates::default();
    for (key, e) in speaker.database().iter() {
        if e.age(now) >= MAX_AGE || key.adv_router == me {
            continue;
        }
        let Ok(body) = LsaBody::parse(key.ls_type, e.header().body()) else {
            continue;
        };
        match (key.ls_type, body) {
            (LsaType::Router, LsaBody::Router { flags: f, .. }) if key.ls_id == key.adv_router => {
                c.flags.insert(key.adv_router, f);
            }
            (LsaType::SummaryNetwork, LsaBody::Summary { mask, metric })
                if metric < LS_INFINITY =>
            {
                if let Some(p) = prefix_of(key.ls_id, mask) {
                    c.summaries.push((IpNet::V4(p), key.adv_router, metric));
                }
            }
            (LsaType::SummaryAsbr, LsaBody::Summary { metric, .. }) if metric < LS_INFINITY => {
                c.asbr_summaries.push((key.ls_id, key.adv_router, metric));
            }
            (
                LsaType::AsExternal,
                LsaBody::AsExternal {
                    mask,
                    type2,
                    metric,
                    forwarding,
                    ..
                },
            ) if metric < LS_INFINITY => {
                if let Some(p) = prefix_of(key.ls_id, mask) {
                    let forwarding = (!forwarding.is_unspecified()).then_some(forwarding.into());
                    c.externals
                        .push((IpNet::V4(p), key.adv_router, type2, metric, forwarding));
                }
            }
            _ => {}
        }
    }
    c
}

/// The routes beyond the area from `c`, on the SPF result (§16.2-16.4).
fn routes_from(
    speaker: &Speaker,
    c: &Candidates,
    spf: &SpfResult,
    intra: &[RibRoute],
) -> Vec<OspfRoute> {
    let me = speaker.router_id();
    let Candidates {
        flags,
        summaries,
        asbr_summaries,
        externals,
    } = c;
    // A router reached inside the area whose router LSA has `bit`.
    let reach_router = |router: Ipv4Addr, bit: u8| -> Option<Reach> {
        if flags.get(&router).is_none_or(|f| f & bit == 0) {
            return None;
        }
        let cost = spf.cost(router)?;
        let paths = spf.first_hops(router);
        (!paths.is_empty()).then(|| Reach {
            cost: saturating(cost),
            paths,
        })
    };
    // Looked up once per summary and external LSA: a set, not a scan.
    let intra_prefixes: FastSet<IpNet> = intra.iter().map(|r| r.prefix).collect();
    let has_intra = |p: &IpNet| intra_prefixes.contains(p);

    // §16.2: inter-area routes.
    let mut table: BTreeMap<IpNet, OspfRoute> = BTreeMap::new();
    for &(prefix, abr, metric) in summaries {
        if has_intra(&prefix) || own_subnet(speaker, prefix) {
            continue;
        }
        let Some(via) = reach_router(abr, FLAG_B) else {
            continue;
        };
        offer(
            &mut table,
            OspfRoute {
                prefix,
                path_type: PathType::InterArea,
                cost: via.cost.saturating_add(metric),
                type2_metric: None,
                advertised_by: abr,
                paths: via.paths,
            },
        );
    }
    let inter: Vec<OspfRoute> = table.values().cloned().collect();
    let inter_prefixes: FastSet<IpNet> = table.keys().copied().collect();

    // The ways to each ASBR: inside the area, else through ASBR-summaries.
    let mut asbrs: BTreeMap<Ipv4Addr, Reach> = BTreeMap::new();
    for &(asbr, abr, metric) in asbr_summaries {
        if asbr == me || reach_router(asbr, FLAG_E).is_some() {
            continue;
        }
        let Some(via) = reach_router(abr, FLAG_B) else {
            continue;
        };
        let cost = via.cost.saturating_add(metric);
        match asbrs.get_mut(&asbr) {
            Some(held) if held.cost < cost => {}
            Some(held) if held.cost == cost => {
                held.paths.extend(via.paths);
                held.paths.sort_unstable();
                held.paths.dedup();
            }
            _ => {
                asbrs.insert(
                    asbr,
                    Reach {
                        cost,
                        paths: via.paths,
                    },
                );
            }
        }
    }
    let to_asbr = |asbr: Ipv4Addr| reach_router(asbr, FLAG_E).or_else(|| asbrs.get(&asbr).cloned());

    // §16.4: AS-external routes.
    for &(prefix, asbr, type2, metric, forwarding) in externals {
        let inter_area = inter_prefixes.contains(&prefix);
        if has_intra(&prefix) || inter_area || own_subnet(speaker, prefix) {
            continue;
        }
        let Some(to_asbr) = to_asbr(asbr) else {
            continue;
        };
        let via = match forwarding {
            None => to_asbr,
            Some(forwarding) => match forwarding_reach(speaker, intra, &inter, forwarding) {
                Some(r) => r,
                None => continue,
            },
        };
        offer(
            &mut table,
            OspfRoute {
                prefix,
                path_type: if type2 {
                    PathType::External2
                } else {
                    PathType::External1
                },
                cost: if type2 {
                    via.cost
                } else {
                    via.cost.saturating_add(metric)
                },
                type2_metric: type2.then_some(metric),
                advertised_by: asbr,
                paths: via.paths,
            },
        );
    }
    table.into_values().collect()
}

/// The subnets of this router's interfaces (v2) or their prefixes (v3).
fn own_subnets(speaker: &Speaker) -> impl Iterator<Item = (usize, IpNet)> + '_ {
    speaker
        .interfaces()
        .iter()
        .enumerate()
        .flat_map(|(i, f)| match &f.config.v3 {
            Some(link) => link
                .prefixes
                .iter()
                .map(|p| (i, IpNet::V6(p.trunc())))
                .collect(),
            None => vec![(i, IpNet::V4(f.config.address.trunc()))],
        })
}

/// Whether `prefix` is the subnet of one of this router's interfaces.
fn own_subnet(speaker: &Speaker, prefix: IpNet) -> bool {
    own_subnets(speaker).any(|(_, p)| p == prefix)
}

/// How a forwarding address is reached (§16.4 (3)): on a network of one
/// of this router's interfaces, through the address itself; otherwise by
/// the longest intra- or inter-area route covering it. `None`: the
/// external route is not used.
fn forwarding_reach(
    speaker: &Speaker,
    intra: &[RibRoute],
    inter: &[OspfRoute],
    forwarding: IpAddr,
) -> Option<Reach> {
    let mut best: Option<(u8, Reach)> = None;
    if speaker
        .interfaces()
        .iter()
        .any(|f| f.config.v3.is_none() && IpAddr::V4(f.addr()) == forwarding)
    {
        return None;
    }
    for (i, net) in own_subnets(speaker) {
        let f = &speaker.interfaces()[i];
        if net.contains(&forwarding) && best.as_ref().is_none_or(|(l, _)| net.prefix_len() > *l) {
            let paths = vec![Via::Gateway {
                port: f.config.port,
                gateway: forwarding,
            }];
            best = Some((
                net.prefix_len(),
                Reach {
                    cost: u32::from(f.config.cost),
                    paths,
                },
            ));
        }
    }
    let covering = intra
        .iter()
        .filter(|r| r.prefix.contains(&forwarding))
        .map(|r| (r.prefix.prefix_len(), r.metric, &r.paths))
        .chain(
            inter
                .iter()
                .filter(|r| r.prefix.contains(&forwarding))
                .map(|r| (r.prefix.prefix_len(), r.cost, &r.paths)),
        );
    for (len, cost, paths) in covering {
        if best.as_ref().is_none_or(|(l, _)| len > *l) {
            best = Some((
                len,
                Reach {
                    cost,
                    paths: paths.clone(),
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}
