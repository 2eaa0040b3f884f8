//! The `[ospf]` table and its `[[ospf.interface]]`s; `[ospfv3]` ([`v3`])
//! shares the interface keys.

pub(super) mod v3;

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::raw::RawConfig;
use super::{ConfigError, PortConfig};
use crate::control::ospf::interface::NetworkType;
use crate::control::ospf::wire::Authentication;
use crate::control::ospf::{OspfConfig, OspfInterfaceConfig};

/// `[ospf]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOspf {
    pub area: Option<Spanned<String>>,
    #[serde(default)]
    pub interface: Vec<Spanned<RawOspfInterface>>,
    #[serde(default)]
    pub redistribute: Vec<Spanned<String>>,
    pub external_metric: Option<Spanned<i64>>,
    pub external_type: Option<Spanned<i64>>,
}

/// `[[ospf.interface]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOspfInterface {
    pub port: Spanned<String>,
    pub network: Option<Spanned<String>>,
    pub cost: Option<Spanned<i64>>,
    pub hello_interval: Option<Spanned<i64>>,
    pub dead_interval: Option<Spanned<i64>>,
    pub priority: Option<Spanned<i64>>,
    pub retransmit_interval: Option<Spanned<i64>>,
    pub authentication: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub key_id: Option<Spanned<i64>>,
}

pub(super) fn ospf(
    cx: &Ctx,
    raw: &RawConfig,
    ports: &[PortConfig],
) -> Result<Option<OspfConfig>, ConfigError> {
    let Some(section) = &raw.ospf else {
        return Ok(None);
    };
    let r = section.get_ref();
    let area = area(cx, &r.area, "ospf.area")?;
    let interfaces = interfaces(cx, "ospf", &r.interface, ports, true)?;
    let redistribute = super::redistribute::sources(
        cx,
        &r.redistribute,
        "ospf.redistribute",
        &["connected", "static", "bgp"],
    )?;
    let external_metric = match &r.external_metric {
        Some(m) => cx.bounded(m, "ospf.external_metric", 1..=16_777_214)? as u32,
        None => 20,
    };
    let external_type2 = match &r.external_type {
        Some(t) => cx.bounded(t, "ospf.external_type", 1..=2)? == 2,
        None => true,
    };
    Ok(Some(OspfConfig {
        area,
        interfaces,
        redistribute,
        external_metric,
        external_type2,
    }))
}

/// An area id (`key`): only the backbone is supported.
pub(super) fn area(
    cx: &Ctx,
    a: &Option<Spanned<String>>,
    key: &str,
) -> Result<std::net::Ipv4Addr, ConfigError> {
    Ok(match a {
        Some(a) => match a.get_ref().parse::<std::net::Ipv4Addr>() {
            Ok(x) if x.is_unspecified() => x,
            Ok(x) => {
                return Err(cx.err(
                    a.span(),
                    key,
                    format!("{x}: only the backbone, 0.0.0.0, is supported"),
                ))
            }
            Err(_) => {
                return Err(cx.err(
                    a.span(),
                    key,
                    format!("{:?} is not an area id (dotted quad)", a.get_ref()),
                ))
            }
        },
        None => std::net::Ipv4Addr::UNSPECIFIED,
    })
}

/// The `[[{section}.interface]]`s on `ports` (an OSPFv2 one needs an IPv4
/// address on its port; OSPFv3 has no authentication).
pub(super) fn interfaces(
    cx: &Ctx,
    section: &str,
    raw: &[Spanned<RawOspfInterface>],
    ports: &[PortConfig],
    ipv4: bool,
) -> Result<Vec<OspfInterfaceConfig>, ConfigError> {
    let mut interfaces: Vec<OspfInterfaceConfig> = Vec::with_capacity(raw.len());
    for (i, f) in raw.iter().enumerate() {
        let f = f.get_ref();
        let field = |name: &str| format!("{section}.interface[{i}].{name}");
        let name = f.port.get_ref();
        let Some(port) = ports.iter().find(|p| &p.name == name) else {
            return Err(cx.err(
                f.port.span(),
                field("port"),
                format!("no port is called {name:?}"),
            ));
        };
        if ipv4 && !port.addresses.iter().any(|a| a.addr().is_ipv4()) {
            return Err(cx.err(
                f.port.span(),
                field("port"),
                format!("port {name:?} has no IPv4 address"),
            ));
        }
        if let Some(j) = interfaces.iter().position(|o| &o.port == name) {
            return Err(cx.err(
                f.port.span(),
                field("port"),
                format!("port {name:?} is already {section}.interface[{j}]"),
            ));
        }
        let network = match f.network.as_ref().map(|n| (n, n.get_ref().as_str())) {
            None | Some((_, "broadcast")) => NetworkType::Broadcast,
            Some((_, "point-to-point")) => NetworkType::PointToPoint,
            Some((n, other)) => {
                return Err(cx.err(
                    n.span(),
                    field("network"),
                    format!("{other:?} is not \"broadcast\" or \"point-to-point\""),
                ))
            }
        };
        let opt = |v: &Option<Spanned<i64>>, name: &str, range, default: i64| match v {
            Some(v) => cx.bounded(v, &field(name), range),
            None => Ok(default),
        };
        let hello = opt(&f.hello_interval, "hello_interval", 1..=65_535, 10)?;
        let dead = opt(&f.dead_interval, "dead_interval", 1..=65_535, 4 * hello)?;
        let authentication = authentication(cx, f, &field)?;
        if !ipv4 && authentication != Authentication::Null {
            let at = f
                .authentication
                .as_ref()
                .map_or(f.port.span(), |a| a.span());
            let why = "OSPFv3 has no authentication of its own".to_string();
            return Err(cx.err(at, field("authentication"), why));
        }
        interfaces.push(OspfInterfaceConfig {
            port: name.clone(),
            network,
            cost: opt(&f.cost, "cost", 1..=65_535, 10)? as u16,
            hello_interval: hello as u16,
            dead_interval: dead as u32,
            priority: opt(&f.priority, "priority", 0..=255, 1)? as u8,
            retransmit_interval: opt(&f.retransmit_interval, "retransmit_interval", 1..=3600, 5)?
                as u16,
            authentication,
        });
    }
    Ok(interfaces)
}

/// `authentication = "null" | "simple" | "md5"` with `password` (8 bytes
/// at most for simple, 16 for MD5) and, for MD5, `key_id` (default 1).
fn authentication(
    cx: &Ctx,
    f: &RawOspfInterface,
    field: &dyn Fn(&str) -> String,
) -> Result<Authentication, ConfigError> {
    let kind = f.authentication.as_ref().map(|a| (a, a.get_ref().as_str()));
    let secret = |max: usize| -> Result<Vec<u8>, ConfigError> {
        let Some(p) = &f.password else {
            let at = kind.map_or(f.port.span(), |(a, _)| a.span());
            return Err(cx.err(
                at,
                field("password"),
                "is required with this authentication".to_string(),
            ));
        };
        let bytes = p.get_ref().as_bytes();
        if bytes.is_empty() || bytes.len() > max {
            return Err(cx.err(
                p.span(),
                field("password"),
                format!("must be 1 to {max} bytes (is {})", bytes.len()),
            ));
        }
        Ok(bytes.to_vec())
    };
    let auth = match kind {
        None | Some((_, "null")) => {
            if let Some(p) = &f.password {
                return Err(cx.err(
                    p.span(),
                    field("password"),
                    "needs authentication = \"simple\" or \"md5\"".to_string(),
                ));
            }
            Authentication::Null
        }
        Some((_, "simple")) => {
            let mut p = [0; 8];
            let s = secret(8)?;
            p[..s.len()].copy_from_slice(&s);
            Authentication::Simple(p)
        }
        Some((_, "md5")) => {
            let mut key = [0; 16];
            let s = secret(16)?;
            key[..s.len()].copy_from_slice(&s);
            let key_id = match &f.key_id {
                Some(k) => cx.bounded(k, &field("key_id"), 0..=255)? as u8,
                None => 1,
            };
            Authentication::Md5 { key_id, key }
        }
        Some((a, other)) => {
            return Err(cx.err(
                a.span(),
                field("authentication"),
                format!("{other:?} is not \"null\", \"simple\" or \"md5\""),
            ))
        }
    };
    if let (Some(k), false) = (&f.key_id, matches!(auth, Authentication::Md5 { .. })) {
        return Err(cx.err(
            k.span(),
            field("key_id"),
            "only with authentication = \"md5\"".to_string(),
        ));
    }
    Ok(auth)
}

#[cfg(test)]
mod tests;
