//! `show ospf [interfaces|neighbors|database|routes]`: JSON for `--json`, and a
//! text in the shape of BIRD's and FRR's.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::external::{OspfRoute, PathType};
use super::interface::{InterfaceState, NetworkType};
use super::neighbor::NeighborState;
use super::speaker::Speaker;
use super::wire::lsa::{LsaKey, LsaType};
use crate::control::linkstate::SpfResult;
use crate::control::rib::route::Via;

#[derive(Debug, Serialize)]
struct InterfaceRow {
    port: String,
    address: String,
    network: NetworkType,
    state: InterfaceState,
    cost: u16,
    priority: u8,
    dr: Ipv4Addr,
    bdr: Ipv4Addr,
    neighbors: usize,
    adjacent: usize,
    /// "null", "simple" or "md5" (never the secret).
    authentication: &'static str,
}

#[derive(Debug, Serialize)]
struct NeighborRow {
    router_id: Ipv4Addr,
    address: IpAddr,
    port: String,
    state: NeighborState,
    priority: u8,
    dr: Ipv4Addr,
    bdr: Ipv4Addr,
    /// Seconds until the dead interval runs out.
    dead_in: u64,
    requests: usize,
    retransmissions: usize,
}

#[derive(Debug, Serialize)]
struct LsaRow {
    #[serde(flatten)]
    key: LsaKey,
    age: u16,
    sequence: String,
    checksum: String,
    length: usize,
}

fn interfaces(s: &Speaker) -> Vec<InterfaceRow> {
    s.interfaces()
        .iter()
        .map(|f| InterfaceRow {
            port: f.config.name.clone(),
            address: match &f.config.v3 {
                Some(l) => l.link_local.to_string(),
                None => f.config.address.to_string(),
            },
            network: f.config.network,
            state: f.state,
            cost: f.config.cost,
            priority: f.config.priority,
            dr: f.dr,
            bdr: f.bdr,
            neighbors: f.neighbors.len(),
            adjacent: f
                .neighbors
                .values()
                .filter(|n| n.state == NeighborState::Full)
                .count(),
            authentication: f.config.authentication.name(),
        })
        .collect()
}

fn neighbors(s: &Speaker, now: Instant) -> Vec<NeighborRow> {
    let mut rows: Vec<NeighborRow> = s
        .interfaces()
        .iter()
        .flat_map(|f| {
            f.neighbors.values().map(|n| NeighborRow {
                router_id: n.router_id,
                address: n.address,
                port: f.config.name.clone(),
                state: n.state,
                priority: n.priority,
                dr: n.dr,
                bdr: n.bdr,
                dead_in: n.dead_at.saturating_duration_since(now).as_secs(),
                requests: n.requests.len(),
                retransmissions: n.retransmit.len(),
            })
        })
        .collect();
    rows.sort_by_key(|r| (r.port.clone(), r.router_id));
    rows
}

fn database(s: &Speaker, now: Instant) -> Vec<LsaRow> {
    s.database()
        .sorted_keys()
        .into_iter()
        .filter_map(|key| {
            let e = s.database().get(&key)?;
            let h = e.header();
            Some(LsaRow {
                key,
                age: e.age(now),
                sequence: format!("{:#010x}", h.sequence() as u32),
                checksum: format!("{:#06x}", h.checksum()),
                length: h.length(),
            })
        })
        .collect()
}

/// BIRD's names for the OSPFv3 LS types (`birdc show ospf state`).
fn v3_type_name(code: u16) -> &'static str {
    match code {
        0x2001 => "router",
        0x2002 => "network",
        0x2003 => "inter-pfx",
        0x2004 => "inter-rtr",
        0x4005 => "external",
        0x0008 => "link",
        0x2009 => "intra-pfx",
        _ => "unknown",
    }
}

fn kebab<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The answer to `show ospf [what]`.
pub fn show(
    s: &Speaker,
    spf: Option<&SpfResult>,
    beyond: &[OspfRoute],
    now: Instant,
    what: Option<&str>,
) -> Result<Value, String> {
    let mut text = String::new();
    let want = |w: &str| what.is_none() || what == Some(w);
    let mut answer = json!({ "router_id": s.router_id(), "area": s.area() });
    if !matches!(
        what,
        None | Some("interfaces" | "neighbors" | "database" | "routes")
    ) {
        return Err(format!(
            "show ospf: {:?} is not interfaces, neighbors, database, routes or spf-log",
            what.unwrap_or_default()
        ));
    }
    let name = match s.version() {
        super::wire::Version::V2 => "OSPF",
        super::wire::Version::V3 => "OSPFv3",
    };
    let _ = writeln!(text, "{name} router {} area {}", s.router_id(), s.area());
    if want("interfaces") {
        let rows = interfaces(s);
        let _ = writeln!(
            text,
            "{:<10} {:<18} {:<14} {:<8} {:>5} {:<15} {:<15} {:>4}",
            "Port", "Address", "Network", "State", "Cost", "DR", "BDR", "Nbrs"
        );
        for r in &rows {
            let _ = writeln!(
                text,
                "{:<10} {:<18} {:<14} {:<8} {:>5} {:<15} {:<15} {:>2}/{}",
                r.port,
                r.address,
                kebab(&r.network),
                kebab(&r.state),
                r.cost,
                r.dr,
                r.bdr,
                r.adjacent,
                r.neighbors
            );
        }
        answer["interfaces"] = json!(rows);
    }
    if want("neighbors") {
        let rows = neighbors(s, now);
        let _ = writeln!(
            text,
            "{:<15} {:>3} {:<9} {:>5} {:<15} {:<10}",
            "Router ID", "Pri", "State", "Dead", "Address", "Port"
        );
        for r in &rows {
            let _ = writeln!(
                text,
                "{:<15} {:>3} {:<9} {:>4}s {:<15} {:<10}",
                r.router_id,
                r.priority,
                kebab(&r.state),
                r.dead_in,
                r.address,
                r.port
            );
        }
        answer["neighbors"] = json!(rows);
    }
    if want("database") {
        let rows = database(s, now);
        let _ = writeln!(
            text,
            "{:<8} {:<15} {:<15} {:>5} {:<10} {:<6}",
            "Type", "LS ID", "Adv Router", "Age", "Seq#", "Cksum"
        );
        for r in &rows {
            let t = match r.key.ls_type {
                LsaType::Router => "router",
                LsaType::Network => "network",
                LsaType::SummaryNetwork => "summary",
                LsaType::SummaryAsbr => "asbr",
                LsaType::AsExternal => "external",
                LsaType::V3(code) => v3_type_name(code),
            };
            let _ = writeln!(
                text,
                "{:<8} {:<15} {:<15} {:>5} {:<10} {:<6}",
                t, r.key.ls_id, r.key.adv_router, r.age, r.sequence, r.checksum
            );
        }
        answer["database"] = json!(rows);
        if let Some(spf) = spf {
            let _ = writeln!(
                text,
                "SPF: {} routers reachable, {} routes",
                spf.reachable().count(),
                spf.routes().len()
            );
            for u in spf.unusable_links() {
                let _ = writeln!(text, "  not a first hop: {}: {}", u.neighbor, u.reason);
            }
            answer["spf_routes"] = json!(spf.routes().len());
            answer["spf_unusable"] = json!(spf.unusable_links());
        }
    }
    if want("routes") {
        routes(&mut text, beyond);
        answer["routes"] = json!(beyond);
        answer["externals_announced"] = json!(s.externals().len());
        let _ = writeln!(
            text,
            "AS-external routes announced: {}",
            s.externals().len()
        );
    }
    if what.is_none() {
        answer["counters"] = json!(s.counters());
        let _ = writeln!(text, "Counters:");
        for (k, v) in s.counters() {
            let _ = writeln!(text, "  {k}: {v}");
        }
    }
    answer["text"] = text.into();
    Ok(answer)
}

/// The inter-area and external routes, one line each.
fn routes(text: &mut String, beyond: &[OspfRoute]) {
    let _ = writeln!(
        text,
        "{:<18} {:<6} {:>8} {:>8} {:<15} Next hops",
        "Prefix", "Type", "Cost", "Metric", "From"
    );
    for r in beyond {
        let kind = match r.path_type {
            PathType::InterArea => "IA",
            PathType::External1 => "E1",
            PathType::External2 => "E2",
        };
        let metric = r.type2_metric.map_or("-".to_string(), |m| m.to_string());
        let hops: Vec<String> = r.paths.iter().map(via_text).collect();
        let _ = writeln!(
            text,
            "{:<18} {:<6} {:>8} {:>8} {:<15} {}",
            r.prefix.to_string(),
            kind,
            r.cost,
            metric,
            r.advertised_by,
            hops.join(", ")
        );
    }
}

fn via_text(v: &Via) -> String {
    match v {
        Via::Gateway { port, gateway } => format!("{gateway} (port {port})"),
        other => format!("{other:?}"),
    }
}
