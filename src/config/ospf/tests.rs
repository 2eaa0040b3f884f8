//! `[ospf]` read with its defaults, and every bad value named by field.

use crate::config::Config;
use crate::control::ospf::interface::NetworkType;
use crate::control::ospf::OspfInterfaceConfig;

const BASE: &str = r#"[router]
id = "192.0.2.1"

[[port]]
name = "p0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24"]

[[port]]
name = "p1"
mac = "02:00:00:00:00:02"
addresses = ["2001:db8::1/64"]
"#;

#[test]
fn ospf_interfaces_are_read_with_defaults() {
    let text = format!(
        "{BASE}\n[ospf]\narea = \"0.0.0.0\"\n\n[[ospf.interface]]\nport = \"p0\"\n\
         network = \"point-to-point\"\ncost = 7\nhello_interval = 2\n"
    );
    let c = Config::parse(&text, "r.toml").unwrap();
    let o = c.ospf.clone().unwrap();
    assert_eq!(
        o.interfaces,
        vec![OspfInterfaceConfig {
            port: "p0".to_string(),
            network: NetworkType::PointToPoint,
            cost: 7,
            hello_interval: 2,
            dead_interval: 8,
            priority: 1,
            retransmit_interval: 5,
        }]
    );
    // Its section reaches the protocols.
    assert!(c.control_inputs().protocols.has_section("ospf"));
    let plain = Config::parse(
        &format!("{BASE}\n[ospf]\n[[ospf.interface]]\nport = \"p0\"\n"),
        "r.toml",
    )
    .unwrap();
    let f = &plain.ospf.unwrap().interfaces[0];
    assert_eq!(
        (f.network, f.cost, f.hello_interval, f.dead_interval),
        (NetworkType::Broadcast, 10, 10, 40)
    );
}

#[test]
fn bad_ospf_values_are_named() {
    let cases = [
        ("area = \"0.0.0.1\"\n", "ospf.area", "backbone"),
        ("area = \"x\"\n", "ospf.area", "not an area id"),
        (
            "[[ospf.interface]]\nport = \"p9\"\n",
            "ospf.interface[0].port",
            "no port",
        ),
        (
            "[[ospf.interface]]\nport = \"p1\"\n",
            "ospf.interface[0].port",
            "no IPv4 address",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\n[[ospf.interface]]\nport = \"p0\"\n",
            "ospf.interface[1].port",
            "already",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\nnetwork = \"nbma\"\n",
            "ospf.interface[0].network",
            "nbma",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\ncost = 0\n",
            "ospf.interface[0].cost",
            "out of range",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\npriority = 256\n",
            "ospf.interface[0].priority",
            "out of range",
        ),
    ];
    for (section, field, message) in cases {
        let text = format!("{BASE}\n[ospf]\n{section}");
        let e = Config::parse(&text, "r.toml").unwrap_err();
        assert_eq!(e.field, field, "{section}");
        assert!(e.message.contains(message), "{e}");
        assert!(e.line.is_some());
    }
}
