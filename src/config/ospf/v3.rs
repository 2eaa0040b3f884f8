//! The `[ospfv3]` table: OSPFv3 (RFC 5340) on `[[ospfv3.interface]]`s
//! with OSPFv2's interface keys (authentication excepted).

use serde::Deserialize;
use toml::Spanned;

use super::{area, interfaces, RawOspfInterface};
use crate::config::context::Ctx;
use crate::config::raw::RawConfig;
use crate::config::{ConfigError, PortConfig};
use crate::control::ospf::v3::instance::Ospfv3Config;

/// `[ospfv3]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawOspfv3 {
    pub router_id: Option<Spanned<String>>,
    pub area: Option<Spanned<String>>,
    pub instance_id: Option<Spanned<i64>>,
    #[serde(default)]
    pub interface: Vec<Spanned<RawOspfInterface>>,
}

pub(in crate::config) fn ospfv3(
    cx: &Ctx,
    raw: &RawConfig,
    ports: &[PortConfig],
) -> Result<Option<Ospfv3Config>, ConfigError> {
    let Some(section) = &raw.ospfv3 else {
        return Ok(None);
    };
    let r = section.get_ref();
    let router_id = match &r.router_id {
        Some(id) => match id.get_ref().parse::<std::net::Ipv4Addr>() {
            Ok(x) if !x.is_unspecified() => Some(x),
            _ => {
                return Err(cx.err(
                    id.span(),
                    "ospfv3.router_id",
                    format!(
                        "{:?} is not a router id (non-zero dotted quad)",
                        id.get_ref()
                    ),
                ))
            }
        },
        None => None,
    };
    let instance_id = match &r.instance_id {
        Some(i) => cx.bounded(i, "ospfv3.instance_id", 0..=255)? as u8,
        None => 0,
    };
    Ok(Some(Ospfv3Config {
        router_id,
        area: area(cx, &r.area, "ospfv3.area")?,
        instance_id,
        interfaces: interfaces(cx, "ospfv3", &r.interface, ports, false)?,
    }))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const PORTS: &str = r#"
[router]
id = "10.0.0.1"

[[port]]
name = "p1"
interface = "veth1"
mac = "02:00:00:00:00:01"
addresses = ["2001:db8:1::1/64"]
"#;

    #[test]
    fn ospfv3_section_is_read_and_checked() {
        let text = format!(
            "{PORTS}\n[ospfv3]\nrouter_id = \"10.9.9.9\"\n[[ospfv3.interface]]\nport = \"p1\"\ncost = 7\npriority = 0\n"
        );
        let c = Config::parse(&text, "t.toml").unwrap();
        let o = c.ospfv3.unwrap();
        assert_eq!(o.router_id, Some("10.9.9.9".parse().unwrap()));
        assert_eq!(o.interfaces[0].cost, 7);
        assert_eq!(o.interfaces[0].priority, 0);
        assert_eq!(o.interfaces[0].dead_interval, 40);
        for (bad, key) in [
            ("[ospfv3]\narea = \"0.0.0.1\"", "ospfv3.area"),
            ("[ospfv3]\n[[ospfv3.interface]]\nport = \"nope\"", "ospfv3.interface[0].port"),
            (
                "[ospfv3]\n[[ospfv3.interface]]\nport = \"p1\"\nauthentication = \"md5\"\npassword = \"x\"",
                "ospfv3.interface[0].authentication",
            ),
        ] {
            let e = Config::parse(&format!("{PORTS}\n{bad}\n"), "t.toml").unwrap_err();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
    }
}
