//! `[[acl]]` lists and the per-port stages (`urpf`, `acl_in`, `acl_out`).

use toml::Spanned;

use super::context::Ctx;
use super::raw::{RawAcl, RawAclRule, RawConfig, RawNumberOrText, RawPort};
use super::{Config, ConfigError};
use crate::forward::acl::{AclAction, AclRule, AclSpec, PortRange};
use crate::forward::{AclTable, PortFeatures, StageTable, Urpf};
use crate::wire::ipv4::protocol;

/// Rules per list: each field's classes must stay below the trie's 65,535
/// next-hop ids, and compiling stays well under a second.
pub const MAX_ACL_RULES: usize = 50_000;

/// Protocols by name (`icmpv6` is IPv6's ICMP).
const PROTOCOLS: [(&str, u8); 4] = [
    ("tcp", protocol::TCP),
    ("udp", protocol::UDP),
    ("icmp", protocol::ICMP),
    ("icmpv6", protocol::IPV6_ICMP),
];

pub(super) fn acls(cx: &Ctx, raw: &RawConfig) -> Result<Vec<AclSpec>, ConfigError> {
    let mut out: Vec<AclSpec> = Vec::with_capacity(raw.acl.len());
    if raw.acl.len() > u16::MAX as usize {
        return Err(cx.err(
            raw.acl[u16::MAX as usize].span(),
            "acl",
            format!("more than {} ACLs", u16::MAX),
        ));
    }
    for (i, a) in raw.acl.iter().enumerate() {
        out.push(acl(cx, i, a.get_ref(), &out)?);
    }
    Ok(out)
}

fn acl(cx: &Ctx, i: usize, a: &RawAcl, earlier: &[AclSpec]) -> Result<AclSpec, ConfigError> {
    let name = a.name.get_ref().clone();
    if name.is_empty() {
        return Err(cx.err(
            a.name.span(),
            format!("acl[{i}].name"),
            "an empty name".into(),
        ));
    }
    if let Some(j) = earlier.iter().position(|b| b.name == name) {
        return Err(cx.err(
            a.name.span(),
            format!("acl[{i}].name"),
            format!("{name:?} is already the name of acl[{j}]"),
        ));
    }
    let default = match &a.default {
        Some(d) => action(cx, d, format!("acl[{i}].default"))?,
        None => AclAction::Permit,
    };
    if a.rule.len() > MAX_ACL_RULES {
        return Err(cx.err(
            a.rule[MAX_ACL_RULES].span(),
            format!("acl[{i}].rule"),
            format!("more than {MAX_ACL_RULES} rules in one list"),
        ));
    }
    let rules = a
        .rule
        .iter()
        .enumerate()
        .map(|(k, r)| rule(cx, &format!("acl[{i}].rule[{k}]"), r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AclSpec {
        name,
        default,
        rules,
    })
}

fn action(cx: &Ctx, value: &Spanned<String>, field: String) -> Result<AclAction, ConfigError> {
    let name = value.get_ref();
    AclAction::ALL
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| {
            cx.err(
                value.span(),
                field,
                format!("{name:?} is not an action (permit, deny or reject)"),
            )
        })
}

fn rule(cx: &Ctx, at: &str, spanned: &Spanned<RawAclRule>) -> Result<AclRule, ConfigError> {
    let r = spanned.get_ref();
    let field = |name: &str| format!("{at}.{name}");
    let action = action(cx, &r.action, field("action"))?;
    let source = r
        .source
        .as_ref()
        .map(|s| cx.prefix(s, field("source")))
        .transpose()?;
    let destination = r
        .destination
        .as_ref()
        .map(|s| cx.prefix(s, field("destination")))
        .transpose()?;
    if let (Some(s), Some(d), Some(span)) = (source, destination, &r.destination) {
        if s.addr().is_ipv4() != d.addr().is_ipv4() {
            return Err(cx.err(
                span.span(),
                field("destination"),
                format!("{d} and the source {s} are of different address families"),
            ));
        }
    }
    let protocol = r
        .protocol
        .as_ref()
        .map(|p| protocol_number(cx, p, field("protocol")))
        .transpose()?;
    let v4 = source.or(destination).map(|n| n.addr().is_ipv4());
    if let (Some(p), Some(v4), Some(span)) = (protocol, v4, &r.protocol) {
        let (wrong, family) = match v4 {
            true => (protocol::IPV6_ICMP, "IPv4"),
            false => (protocol::ICMP, "IPv6"),
        };
        if p == wrong {
            return Err(cx.err(
                span.span(),
                field("protocol"),
                format!(
                    "{} cannot appear in {family} (the rule's prefixes are {family})",
                    name_of(p)
                ),
            ));
        }
    }
    let mut ports = [None, None];
    for (slot, (name, raw)) in ports.iter_mut().zip([
        ("source_port", &r.source_port),
        ("destination_port", &r.destination_port),
    ]) {
        let Some(raw) = raw else { continue };
        if !matches!(protocol, Some(protocol::TCP | protocol::UDP)) {
            return Err(cx.err(
                raw.span(),
                field(name),
                "ports need `protocol = \"tcp\"` or `\"udp\"` in the same rule".into(),
            ));
        }
        *slot = Some(port_range(cx, raw, field(name))?);
    }
    Ok(AclRule {
        action,
        source,
        destination,
        protocol,
        source_port: ports[0],
        destination_port: ports[1],
    })
}

fn name_of(p: u8) -> String {
    PROTOCOLS
        .iter()
        .find(|(_, n)| *n == p)
        .map_or_else(|| p.to_string(), |(name, _)| format!("{name:?}"))
}

fn protocol_number(
    cx: &Ctx,
    value: &Spanned<RawNumberOrText>,
    field: String,
) -> Result<u8, ConfigError> {
    let bad = |what: String| {
        cx.err(
            value.span(),
            &field,
            format!("{what} is not a protocol (tcp, udp, icmp, icmpv6 or a number 0..=255)"),
        )
    };
    match value.get_ref() {
        RawNumberOrText::Number(n) => u8::try_from(*n).map_err(|_| bad(n.to_string())),
        RawNumberOrText::Text(t) => PROTOCOLS
            .iter()
            .find(|(name, _)| name == t)
            .map(|&(_, n)| n)
            .or_else(|| t.parse().ok())
            .ok_or_else(|| bad(format!("{t:?}"))),
    }
}

/// `22`, `"22"` or `"1000-2000"`.
fn port_range(
    cx: &Ctx,
    value: &Spanned<RawNumberOrText>,
    field: String,
) -> Result<PortRange, ConfigError> {
    let bad = |what: String| {
        cx.err(
            value.span(),
            &field,
            format!("{what} is not a port (0..=65535) or a range like \"1000-2000\""),
        )
    };
    let range = match value.get_ref() {
        RawNumberOrText::Number(n) => {
            let p = u16::try_from(*n).map_err(|_| bad(n.to_string()))?;
            PortRange { first: p, last: p }
        }
        RawNumberOrText::Text(t) => {
            let parse = |s: &str| s.trim().parse::<u16>().map_err(|_| bad(format!("{t:?}")));
            match t.split_once('-') {
                Some((a, b)) => PortRange {
                    first: parse(a)?,
                    last: parse(b)?,
                },
                None => {
                    let p = parse(t)?;
                    PortRange { first: p, last: p }
                }
            }
        }
    };
    if range.first > range.last {
        return Err(cx.err(
            value.span(),
            field,
            format!(
                "the range {}-{} is empty (first above last)",
                range.first, range.last
            ),
        ));
    }
    Ok(range)
}

impl Config {
    /// The ports' stages and the compiled lists, as the workers take them
    /// (`forward::StagesHandle`). The lists of `running` are reused when
    /// they did not change, so a reload that edits only ports' stages
    /// compiles nothing (and the workers keep every count).
    pub fn stage_table(&self, running: Option<&StageTable>) -> StageTable {
        let unchanged = running.filter(|r| {
            r.acls.acls().len() == self.acls.len()
                && r.acls
                    .acls()
                    .iter()
                    .zip(&self.acls)
                    .all(|(a, s)| a.spec() == s)
        });
        StageTable {
            version: 0,
            features: self.ports.iter().map(|p| p.features).collect(),
            acls: match unchanged {
                Some(r) => r.acls.clone(),
                None => std::sync::Arc::new(AclTable::compile(self.acls.iter().cloned())),
            },
        }
    }
}

/// A port's `urpf`, `acl_in` and `acl_out`.
pub(super) fn port_features(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    acls: &[AclSpec],
) -> Result<PortFeatures, ConfigError> {
    let urpf = match &p.urpf {
        Some(v) => Some(
            Urpf::ALL
                .into_iter()
                .find(|u| u.name() == v.get_ref())
                .ok_or_else(|| {
                    cx.err(
                        v.span(),
                        format!("port[{i}].urpf"),
                        format!("{:?} is not a uRPF mode (strict or loose)", v.get_ref()),
                    )
                })?,
        ),
        None => None,
    };
    let acl_ref = |v: &Option<Spanned<String>>, name: &str| match v {
        None => Ok(None),
        Some(v) => match acls.iter().position(|a| &a.name == v.get_ref()) {
            Some(id) => Ok(Some(id as u16)),
            None => {
                let known: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
                Err(cx.err(
                    v.span(),
                    format!("port[{i}].{name}"),
                    format!(
                        "no [[acl]] is called {:?} (ACLs: {})",
                        v.get_ref(),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ))
            }
        },
    };
    Ok(PortFeatures {
        urpf,
        acl_in: acl_ref(&p.acl_in, "acl_in")?,
        acl_out: acl_ref(&p.acl_out, "acl_out")?,
    })
}

#[cfg(test)]
mod tests;
