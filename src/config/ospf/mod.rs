//! The `[ospf]` table and its `[[ospf.interface]]`s.

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::raw::RawConfig;
use super::{ConfigError, PortConfig};
use crate::control::ospf::interface::NetworkType;
use crate::control::ospf::{OspfConfig, OspfInterfaceConfig};

/// `[ospf]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOspf {
    pub area: Option<Spanned<String>>,
    #[serde(default)]
    pub interface: Vec<Spanned<RawOspfInterface>>,
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
    let area = match &r.area {
        Some(a) => match a.get_ref().parse::<std::net::Ipv4Addr>() {
            Ok(x) if x.is_unspecified() => x,
            Ok(x) => {
                return Err(cx.err(
                    a.span(),
                    "ospf.area",
                    format!("{x}: only the backbone, 0.0.0.0, is supported"),
                ))
            }
            Err(_) => {
                return Err(cx.err(
                    a.span(),
                    "ospf.area",
                    format!("{:?} is not an area id (dotted quad)", a.get_ref()),
                ))
            }
        },
        None => std::net::Ipv4Addr::UNSPECIFIED,
    };
    let mut interfaces: Vec<OspfInterfaceConfig> = Vec::with_capacity(r.interface.len());
    for (i, f) in r.interface.iter().enumerate() {
        let f = f.get_ref();
        let field = |name: &str| format!("ospf.interface[{i}].{name}");
        let name = f.port.get_ref();
        let Some(port) = ports.iter().find(|p| &p.name == name) else {
            return Err(cx.err(
                f.port.span(),
                field("port"),
                format!("no port is called {name:?}"),
            ));
        };
        if !port.addresses.iter().any(|a| a.addr().is_ipv4()) {
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
                format!("port {name:?} is already ospf.interface[{j}]"),
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
        interfaces.push(OspfInterfaceConfig {
            port: name.clone(),
            network,
            cost: opt(&f.cost, "cost", 1..=65_535, 10)? as u16,
            hello_interval: hello as u16,
            dead_interval: dead as u32,
            priority: opt(&f.priority, "priority", 0..=255, 1)? as u8,
            retransmit_interval: opt(&f.retransmit_interval, "retransmit_interval", 1..=3600, 5)?
                as u16,
        });
    }
    Ok(Some(OspfConfig { area, interfaces }))
}

#[cfg(test)]
mod tests;
