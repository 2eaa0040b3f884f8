//! Semantic checks that turn a [`RawConfig`] into a [`Config`].

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use toml::Spanned;

use super::context::Ctx;
use super::raw::{RawConfig, RawPort};
use super::{
    Config, ConfigError, LinkStateConfig, NeighborConfig, PortConfig, RouteConfig, RouterSettings,
    DEFAULT_ICMP_BURST, DEFAULT_ICMP_RATE, DEFAULT_MTU,
};
use crate::control::rib::route::{AdminDistances, RouteSource, SOURCES};
use crate::fib::{Discard, PortId, RouteTarget};
use crate::forward::PortFeatures;

/// Smallest IPv4 MTU (RFC 791) and the largest we accept (jumbo frames).
const MTU_RANGE: std::ops::RangeInclusive<i64> = 68..=9000;
/// IPv6 links carry at least 1280-byte packets (RFC 8200 §5).
const IPV6_MIN_MTU: i64 = 1280;
/// Upper bound for icmp_rate and icmp_burst: far above any sane setting,
/// low enough that the token bucket's arithmetic stays exact.
const MAX_ICMP: i64 = 1_000_000;
pub(super) fn validate(raw: RawConfig, text: &str, file: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { text, file };
    let router = router(&cx, &raw)?;
    if raw.port.is_empty() {
        return Err(ConfigError {
            file: file.to_string(),
            line: None,
            field: "port".to_string(),
            message: "at least one [[port]] is required".to_string(),
        });
    }
    if raw.port.len() > PortId::MAX as usize {
        return Err(cx.err(
            raw.port[PortId::MAX as usize].span(),
            "port",
            format!("more than {} ports", PortId::MAX),
        ));
    }
    let acls = super::acl::acls(&cx, &raw)?;
    let mut ports: Vec<PortConfig> = Vec::with_capacity(raw.port.len());
    for (i, p) in raw.port.iter().enumerate() {
        let mut port = port(&cx, i, p.get_ref(), &ports)?;
        port.features = super::acl::port_features(&cx, i, p.get_ref(), &acls)?;
        ports.push(port);
    }
    let routes = routes(&cx, &raw, &ports)?;
    let neighbors = neighbors(&cx, &raw, &ports)?;
    let distances = distances(&cx, &raw)?;
    let linkstate = match &raw.linkstate {
        Some(ls) => {
            let file = &ls.get_ref().file;
            if file.get_ref().is_empty() {
                return Err(cx.err(file.span(), "linkstate.file", "an empty path".to_string()));
            }
            Some(LinkStateConfig {
                file: file.get_ref().into(),
            })
        }
        None => None,
    };
    let bgp = super::bgp::bgp(&cx, &raw)?;
    let ospf = super::ospf::ospf(&cx, &raw, &ports)?;
    let ospfv3 = super::ospf::v3::ospfv3(&cx, &raw, &ports)?;
    Ok(Config {
        router,
        ports,
        routes,
        neighbors,
        distances,
        linkstate,
        bgp,
        acls,
        ospf,
        ospfv3,
    })
}

/// `[distance]`: a key per route source, each optional (the default
/// stays), 0..=255; a key naming no source is an error.
fn distances(cx: &Ctx, raw: &RawConfig) -> Result<AdminDistances, ConfigError> {
    let mut d = AdminDistances::default();
    let Some(raw) = &raw.distance else {
        return Ok(d);
    };
    for (key, value) in raw.get_ref() {
        let field = format!("distance.{key}");
        let Some(source) = RouteSource::by_distance_key(key) else {
            let known: Vec<&str> = SOURCES.iter().map(|s| s.distance_key).collect();
            return Err(cx.err(
                value.span(),
                field,
                format!(
                    "no route source is called {key:?} (known: {})",
                    known.join(", ")
                ),
            ));
        };
        d.set(source, cx.bounded(value, &field, 0..=255)? as u8);
    }
    Ok(d)
}

fn router(cx: &Ctx, raw: &RawConfig) -> Result<RouterSettings, ConfigError> {
    let r = raw.router.get_ref();
    let id_text = r.id.get_ref();
    let id: Ipv4Addr = id_text.parse().map_err(|_| {
        cx.err(
            r.id.span(),
            "router.id",
            format!("{id_text:?} is not an IPv4 address"),
        )
    })?;
    let icmp_rate = match &r.icmp_rate {
        Some(v) => cx.bounded(v, "router.icmp_rate", 0..=MAX_ICMP)? as u32,
        None => DEFAULT_ICMP_RATE,
    };
    let icmp_burst = match &r.icmp_burst {
        Some(v) => cx.bounded(v, "router.icmp_burst", 1..=MAX_ICMP)? as u32,
        None => DEFAULT_ICMP_BURST,
    };
    Ok(RouterSettings {
        id,
        icmp_rate,
        icmp_burst: icmp_burst.min(icmp_rate).max(1),
        accept_source_route: r
            .accept_source_route
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(false),
        worker_priority: match &r.worker_priority {
            Some(v) => Some(cx.bounded(v, "router.worker_priority", 1..=99)? as u8),
            None => None,
        },
    })
}

fn port(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    earlier: &[PortConfig],
) -> Result<PortConfig, ConfigError> {
    let field = |name: &str| format!("port[{i}].{name}");
    let name = p.name.get_ref().clone();
    cx.interface_name(&p.name, field("name"))?;
    if let Some(j) = earlier.iter().position(|q| q.name == name) {
        return Err(cx.err(
            p.name.span(),
            field("name"),
            format!("{name:?} is already the name of port[{j}]"),
        ));
    }
    let (interface, interface_span) = match &p.interface {
        Some(s) => {
            cx.interface_name(s, field("interface"))?;
            (s.get_ref().clone(), s.span())
        }
        None => (name.clone(), p.name.span()),
    };
    if let Some(j) = earlier.iter().position(|q| q.interface == interface) {
        return Err(cx.err(
            interface_span,
            field("interface"),
            format!("interface {interface:?} is already used by port[{j}]"),
        ));
    }
    let vlan = super::vlan::sub_interface(cx, i, p, earlier)?;
    let mac = super::vlan::mac(cx, i, p, vlan, earlier)?;
    let mut addresses: Vec<IpNet> = Vec::with_capacity(p.addresses.len());
    for (k, a) in p.addresses.iter().enumerate() {
        let f = format!("port[{i}].addresses[{k}]");
        let s = a.get_ref();
        let net: IpNet = s.parse().map_err(|_| {
            cx.err(
                a.span(),
                &f,
                format!(
                    "{s:?} is not an address with a prefix length \
                     (like 192.0.2.1/24 or 2001:db8::1/64)"
                ),
            )
        })?;
        let addr = net.addr();
        if addr.is_unspecified()
            || addr.is_loopback()
            || addr.is_multicast()
            || is_v4_broadcast(addr)
        {
            return Err(cx.err(
                a.span(),
                f,
                format!("{addr} cannot be an interface address"),
            ));
        }
        let clash = earlier
            .iter()
            .enumerate()
            .flat_map(|(j, q)| q.addresses.iter().map(move |n| (j, n)))
            .chain(addresses.iter().map(|n| (i, n)))
            .find(|(_, n)| n.addr() == addr);
        if let Some((j, _)) = clash {
            return Err(cx.err(
                a.span(),
                f,
                format!("{addr} is already an address of port[{j}]"),
            ));
        }
        addresses.push(net);
    }
    let has_v6 = addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
    let mtu = match &p.mtu {
        Some(v) => {
            let mtu = cx.bounded(v, &field("mtu"), MTU_RANGE)?;
            if has_v6 && mtu < IPV6_MIN_MTU {
                return Err(cx.err(
                    v.span(),
                    field("mtu"),
                    format!(
                        "{mtu} is below {IPV6_MIN_MTU}, the IPv6 minimum MTU, \
                         and the port has an IPv6 address"
                    ),
                ));
            }
            mtu as u16
        }
        // A VLAN's default is its parent's, as on Linux.
        None => vlan.map_or(DEFAULT_MTU, |v| earlier[v.parent as usize].mtu),
    };
    let qos = super::qos::port_qos(cx, i, p, mtu)?;
    let port = PortConfig {
        name,
        interface,
        mac,
        addresses,
        mtu,
        qos,
        features: PortFeatures::default(),
        vlan,
    };
    super::vlan::check_mtu(cx, i, p, &port, earlier)?;
    Ok(port)
}

fn is_v4_broadcast(addr: IpAddr) -> bool {
    matches!(addr, IpAddr::V4(v4) if v4.is_broadcast())
}

/// The first port with a subnet containing `addr`, and that subnet.
fn connected(ports: &[PortConfig], addr: IpAddr) -> Option<(usize, IpNet)> {
    ports.iter().enumerate().find_map(|(i, p)| {
        p.addresses
            .iter()
            .find(|n| n.trunc().contains(&addr))
            .map(|n| (i, *n))
    })
}

fn own_address(ports: &[PortConfig], addr: IpAddr) -> Option<&str> {
    ports
        .iter()
        .find(|p| p.addresses.iter().any(|n| n.addr() == addr))
        .map(|p| p.name.as_str())
}

fn routes(
    cx: &Ctx,
    raw: &RawConfig,
    ports: &[PortConfig],
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.route.len());
    for (i, spanned) in raw.route.iter().enumerate() {
        let r = spanned.get_ref();
        let field = |name: &str| format!("route[{i}].{name}");
        let prefix = cx.prefix(&r.prefix, field("prefix"))?;
        if let Some(j) = routes.iter().position(|q| q.prefix == prefix) {
            return Err(cx.err(
                r.prefix.span(),
                field("prefix"),
                format!("{prefix} is already the prefix of route[{j}]"),
            ));
        }
        let via = match (&r.via, &r.action) {
            (None, Some(action)) => {
                let target = RouteTarget::Discard(discard_action(cx, action, field("action"))?);
                routes.push(RouteConfig { prefix, target });
                continue;
            }
            (Some(via), None) => via,
            (Some(via), Some(_)) => {
                return Err(cx.err(
                    via.span(),
                    field("via"),
                    "a route has either a `via` or an `action`, not both".to_string(),
                ))
            }
            (None, None) => {
                return Err(cx.err(
                    spanned.span(),
                    format!("route[{i}]"),
                    "needs a `via` (gateway) or an `action` (blackhole, unreachable, prohibit)"
                        .to_string(),
                ))
            }
        };
        let (via_span, via) = (via.span(), cx.ip(via, field("via"))?);
        if via.is_ipv4() != prefix.addr().is_ipv4() {
            let family = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
            return Err(cx.err(
                via_span.clone(),
                field("via"),
                format!(
                    "{via} is {} but the prefix {prefix} is {}",
                    family(via.is_ipv4()),
                    family(prefix.addr().is_ipv4())
                ),
            ));
        }
        if let Some(port) = own_address(ports, via) {
            return Err(cx.err(
                via_span.clone(),
                field("via"),
                format!("{via} is this router's own address (port {port})"),
            ));
        }
        if connected(ports, via).is_none() {
            return Err(cx.err(
                via_span.clone(),
                field("via"),
                format!("{via} is not on a connected subnet of any port"),
            ));
        }
        routes.push(RouteConfig {
            prefix,
            target: RouteTarget::Via(via),
        });
    }
    Ok(routes)
}

/// A discard route's `action`, by the names Linux's `ip route` uses.
fn discard_action(
    cx: &Ctx,
    action: &Spanned<String>,
    field: String,
) -> Result<Discard, ConfigError> {
    let name = action.get_ref();
    Discard::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .ok_or_else(|| {
            cx.err(
                action.span(),
                field,
                format!("{name:?} is not an action (blackhole, unreachable or prohibit)"),
            )
        })
}

fn neighbors(
    cx: &Ctx,
    raw: &RawConfig,
    ports: &[PortConfig],
) -> Result<Vec<NeighborConfig>, ConfigError> {
    let mut out: Vec<NeighborConfig> = Vec::with_capacity(raw.neighbor.len());
    for (i, n) in raw.neighbor.iter().enumerate() {
        let n = n.get_ref();
        let field = |name: &str| format!("neighbor[{i}].{name}");
        let port_name = n.port.get_ref();
        let Some(port_index) = ports.iter().position(|p| &p.name == port_name) else {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
            return Err(cx.err(
                n.port.span(),
                field("port"),
                format!(
                    "{port_name:?} is not a configured port (ports: {})",
                    names.join(", ")
                ),
            ));
        };
        let port = &ports[port_index];
        let address = cx.ip(&n.address, field("address"))?;
        if !port
            .addresses
            .iter()
            .any(|net| net.trunc().contains(&address))
        {
            let subnets: Vec<String> = port.addresses.iter().map(|a| a.to_string()).collect();
            let subnets = if subnets.is_empty() {
                "none".to_string()
            } else {
                subnets.join(", ")
            };
            return Err(cx.err(
                n.address.span(),
                field("address"),
                format!("{address} is not in a subnet of port {port_name} ({subnets})"),
            ));
        }
        if let Some(owner) = own_address(ports, address) {
            return Err(cx.err(
                n.address.span(),
                field("address"),
                format!("{address} is this router's own address (port {owner})"),
            ));
        }
        if let Some(j) = out.iter().position(|q| q.address == address) {
            return Err(cx.err(
                n.address.span(),
                field("address"),
                format!("{address} is already neighbor[{j}]"),
            ));
        }
        let mac = cx.mac(&n.mac, field("mac"))?;
        out.push(NeighborConfig {
            address,
            mac,
            port: port_index as PortId,
        });
    }
    Ok(out)
}
