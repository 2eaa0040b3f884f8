//! `[ospf]` read with its defaults, and every bad value named by field.

use crate::config::Config;
use crate::control::ospf::interface::NetworkType;
use crate::control::ospf::wire::Authentication;
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
            authentication: Authentication::Null,
        }]
    );
    // Its section reaches the protocols.
    assert!(c.control_inputs().protocols.has_section("ospf"));
    let plain = Config::parse(
        &format!("{BASE}\n[ospf]\n[[ospf.interface]]\nport = \"p0\"\n"),
        "r.toml",
    )
    .unwrap();
    let plain = plain.ospf.unwrap();
    assert!(plain.redistribute.is_empty());
    assert_eq!((plain.external_metric, plain.external_type2), (20, true));
    let f = &plain.interfaces[0];
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
        (
            "redistribute = [\"static\", \"ospf\"]\n",
            "ospf.redistribute[1]",
            "only \"connected\", \"static\", \"bgp\"",
        ),
        ("external_type = 3\n", "ospf.external_type", "out of range"),
        (
            "[[ospf.interface]]\nport = \"p0\"\nauthentication = \"md5\"\n",
            "ospf.interface[0].password",
            "required",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\nauthentication = \"simple\"\npassword = \"ninebytes\"\n",
            "ospf.interface[0].password",
            "1 to 8 bytes",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\nauthentication = \"md5\"\npassword = \"seventeen-bytes!!\"\n",
            "ospf.interface[0].password",
            "1 to 16 bytes",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\npassword = \"x\"\n",
            "ospf.interface[0].password",
            "needs authentication",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\nauthentication = \"simple\"\npassword = \"x\"\nkey_id = 2\n",
            "ospf.interface[0].key_id",
            "only with",
        ),
        (
            "[[ospf.interface]]\nport = \"p0\"\nauthentication = \"sha256\"\n",
            "ospf.interface[0].authentication",
            "sha256",
        ),
        (
            "external_metric = 0\n",
            "ospf.external_metric",
            "out of range",
        ),
        (
            "external_metric = 16777215\n",
            "ospf.external_metric",
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

#[test]
fn redistribution_is_read_by_source_name() {
    use crate::control::rib::route::RouteSource;
    let text = format!(
        "{BASE}\n[ospf]\nredistribute = [\"bgp\", \"connected\", \"bgp\"]\n\
         external_metric = 150\nexternal_type = 1\n"
    );
    let o = Config::parse(&text, "r.toml").unwrap().ospf.unwrap();
    assert_eq!(
        o.redistribute,
        [RouteSource::EBGP, RouteSource::IBGP, RouteSource::CONNECTED]
    );
    assert_eq!((o.external_metric, o.external_type2), (150, false));
}

#[test]
fn authentication_is_read_and_never_shown() {
    let text = format!(
        "{BASE}\n[ospf]\n[[ospf.interface]]\nport = \"p0\"\nauthentication = \"md5\"\n\
         password = \"s3cret\"\nkey_id = 7\n"
    );
    let o = Config::parse(&text, "r.toml").unwrap().ospf.unwrap();
    let mut key = [0; 16];
    key[..6].copy_from_slice(b"s3cret");
    assert_eq!(
        o.interfaces[0].authentication,
        Authentication::Md5 { key_id: 7, key }
    );
    assert!(!format!("{o:?}").contains("s3cret"));
    let text = format!(
        "{BASE}\n[ospf]\n[[ospf.interface]]\nport = \"p0\"\nauthentication = \"simple\"\n\
         password = \"8bytes!!\"\n"
    );
    let o = Config::parse(&text, "r.toml").unwrap().ospf.unwrap();
    assert_eq!(
        o.interfaces[0].authentication,
        Authentication::Simple(*b"8bytes!!")
    );
}
