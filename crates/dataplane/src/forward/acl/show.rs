//! `ferroute show acl [NAME]`: every list (or one) of the running stage
//! table, its default, each rule in order with its hits summed over the
//! workers, and the ports using it in which direction.

use serde::Serialize;

use super::{AclRule, AclSpec, PortRange};
use crate::forward::{StageTable, StagesSnapshot};

/// One list as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclView {
    pub name: String,
    pub default: &'static str,
    pub rules: Vec<RuleView>,
    /// Packets no rule matched.
    pub default_hits: u64,
    /// `p0 in`, `p1 out`.
    pub used_by: Vec<PortUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    pub action: &'static str,
    pub source: Option<String>,
    pub destination: Option<String>,
    pub protocol: Option<u8>,
    pub source_port: Option<String>,
    pub destination_port: Option<String>,
    pub hits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortUse {
    pub port: String,
    /// `in` or `out`.
    pub direction: &'static str,
}

/// The answer to `show acl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclShow {
    /// The published stage table's version.
    pub version: u64,
    /// The oldest version a worker runs: below `version` while the workers
    /// take a reload (the hits are those of the workers already on it).
    pub workers_version: u64,
    pub acl: Vec<AclView>,
}

/// `table`'s lists (only `only` when given: an error if there is none),
/// with the hits of `hits` (summed over workers; lists count only when
/// `hits` is of `table`'s version, zeros otherwise).
pub fn show(
    table: &StageTable,
    hits: &StagesSnapshot,
    port_names: &[String],
    only: Option<&str>,
) -> Result<AclShow, String> {
    let current = hits.version == table.version;
    let lists: Vec<&AclSpec> = table
        .acls
        .acls()
        .iter()
        .map(|a| a.spec())
        .filter(|s| only.is_none_or(|n| n == s.name))
        .collect();
    if let (Some(name), true) = (only, lists.is_empty()) {
        let known: Vec<&str> = table
            .acls
            .acls()
            .iter()
            .map(|a| a.spec().name.as_str())
            .collect();
        return Err(format!(
            "no ACL is called {name:?} (ACLs: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    let acl = lists
        .into_iter()
        .map(|spec| {
            let id = table
                .acls
                .acls()
                .iter()
                .position(|a| a.spec().name == spec.name);
            let counted = hits
                .acl
                .iter()
                .find(|h| current && h.name == spec.name && h.rules.len() == spec.rules.len());
            let used_by = table
                .features
                .iter()
                .enumerate()
                .flat_map(|(port, f)| {
                    let name = port_names
                        .get(port)
                        .cloned()
                        .unwrap_or_else(|| port.to_string());
                    [(f.acl_in, "in"), (f.acl_out, "out")]
                        .into_iter()
                        .filter(move |(acl, _)| acl.is_some() && acl.map(usize::from) == id)
                        .map(move |(_, direction)| PortUse {
                            port: name.clone(),
                            direction,
                        })
                })
                .collect();
            AclView {
                name: spec.name.clone(),
                default: spec.default.name(),
                rules: spec
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| rule_view(r, counted.map_or(0, |h| h.rules[i])))
                    .collect(),
                default_hits: counted.map_or(0, |h| h.default),
                used_by,
            }
        })
        .collect();
    Ok(AclShow {
        version: table.version,
        workers_version: hits.oldest_version,
        acl,
    })
}

fn range(r: Option<PortRange>) -> Option<String> {
    r.map(|r| match r.first == r.last {
        true => r.first.to_string(),
        false => format!("{}-{}", r.first, r.last),
    })
}

fn rule_view(r: &AclRule, hits: u64) -> RuleView {
    RuleView {
        action: r.action.name(),
        source: r.source.map(|n| n.to_string()),
        destination: r.destination.map(|n| n.to_string()),
        protocol: r.protocol,
        source_port: range(r.source_port),
        destination_port: range(r.destination_port),
        hits,
    }
}

impl RuleView {
    /// `deny proto 6 dst 198.51.100.0/24 dport 22`, `permit any`.
    fn conditions(&self) -> String {
        let fields = [
            ("src", self.source.clone()),
            ("dst", self.destination.clone()),
            ("proto", self.protocol.map(|p| p.to_string())),
            ("sport", self.source_port.clone()),
            ("dport", self.destination_port.clone()),
        ];
        let text: Vec<String> = fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
            .collect();
        match text.is_empty() {
            true => "any".to_string(),
            false => text.join(" "),
        }
    }
}

impl AclShow {
    /// Per list: a header (default, ports), one line per rule, the default.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if self.workers_version != self.version {
            s.push_str(&format!(
                "(workers still taking stage table version {}: counts are partial)\n",
                self.version
            ));
        }
        for a in &self.acl {
            let ports: Vec<String> = a
                .used_by
                .iter()
                .map(|u| format!("{} {}", u.port, u.direction))
                .collect();
            s.push_str(&format!(
                "acl {}: {} rules, default {}, used by {}\n",
                a.name,
                a.rules.len(),
                a.default,
                if ports.is_empty() {
                    "no port".to_string()
                } else {
                    ports.join(", ")
                }
            ));
            for (i, r) in a.rules.iter().enumerate() {
                s.push_str(&format!(
                    "  {i:>5} {:<7}{:<60} {} hits\n",
                    r.action,
                    r.conditions(),
                    r.hits
                ));
            }
            s.push_str(&format!(
                "  default {:<62} {} hits\n",
                a.default, a.default_hits
            ));
        }
        if self.acl.is_empty() {
            s.push_str("no ACLs configured\n");
        }
        s
    }
}
