//! Configuration files on disk: a good one parses into the expected ports,
//! routes and neighbours; each kind of bad one is refused with
//! `file:line: field: message`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ferroute::config::{Config, PortConfig, RouteConfig};
use ferroute::fib::{Discard, NextHop, RouteTarget};
use ferroute::qos::QosConfig;
use ferroute::wire::MacAddr;

const GOOD: &str = r#"# A two-port router.
[router]
id = "192.0.2.1"
icmp_rate = 500

[[port]]
name = "p0"
interface = "veth0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24", "2001:db8::1/64"]

[[port]]
name = "p1"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24"]
mtu = 9000

[[route]]
prefix = "198.51.100.0/24"
via = "203.0.113.2"

[[route]]
prefix = "0.0.0.0/0"
via = "192.0.2.254"

[[neighbor]]
address = "203.0.113.2"
mac = "02:00:00:00:01:02"
port = "p1"
"#;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("router.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

#[test]
fn good_file_gives_ports_routes_and_neighbors() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(&write(&dir, GOOD)).unwrap();
    assert_eq!(c.router.id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!((c.router.icmp_rate, c.router.icmp_burst), (500, 50));
    assert_eq!(
        c.ports,
        vec![
            PortConfig {
                name: "p0".into(),
                interface: "veth0".into(),
                mac: mac("02:00:00:00:00:01"),
                addresses: vec![
                    "192.0.2.1/24".parse().unwrap(),
                    "2001:db8::1/64".parse().unwrap()
                ],
                mtu: 1500,
                qos: QosConfig {
                    quantum: 1514,
                    ..QosConfig::default()
                },
                features: Default::default(),
                vlan: None,
            },
            PortConfig {
                name: "p1".into(),
                interface: "p1".into(),
                mac: mac("02:00:00:00:00:02"),
                addresses: vec!["203.0.113.1/24".parse().unwrap()],
                mtu: 9000,
                qos: QosConfig {
                    quantum: 9014,
                    ..QosConfig::default()
                },
                features: Default::default(),
                vlan: None,
            },
        ]
    );
    assert_eq!(
        c.routes,
        vec![
            RouteConfig {
                prefix: "198.51.100.0/24".parse().unwrap(),
                target: RouteTarget::Via("203.0.113.2".parse().unwrap()),
            },
            RouteConfig {
                prefix: "0.0.0.0/0".parse().unwrap(),
                target: RouteTarget::Via("192.0.2.254".parse().unwrap()),
            },
        ]
    );
    assert_eq!(c.neighbors.len(), 1);
    assert_eq!(c.neighbors[0].port, 1);
    assert_eq!(c.port_id("p0"), Some(0));
    assert_eq!(
        c.port_id("veth0"),
        None,
        "ports are named by name, not interface"
    );

    let fc = c.forwarder_config();
    assert_eq!(fc.ports.len(), 2);
    assert_eq!(fc.ports[1].mtu, 9000);
    assert_eq!(fc.ports[1].ipv6, None);
    assert_eq!((fc.icmp_rate, fc.icmp_burst), (500, 50));

    let fib = c.fib().unwrap();
    let v4 = |s: &str| fib.lookup_v4(s.parse().unwrap()).copied();
    assert_eq!(
        v4("198.51.100.1"),
        Some(NextHop::Adjacency {
            port: 1,
            mac: mac("02:00:00:00:01:02")
        })
    );
    assert_eq!(
        v4("8.8.8.8"),
        Some(NextHop::Unresolved {
            port: 0,
            gateway: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254))
        })
    );
    assert_eq!(v4("192.0.2.1"), Some(NextHop::Local));
}

#[test]
fn discard_routes_parse_and_install_under_more_specific_routes() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{GOOD}\n[[route]]\nprefix = \"198.51.0.0/16\"\naction = \"blackhole\"\n\n\
         [[route]]\nprefix = \"10.0.0.0/8\"\naction = \"unreachable\"\n\n\
         [[route]]\nprefix = \"2001:db8:ff::/48\"\naction = \"prohibit\"\n"
    );
    let c = Config::load(&write(&dir, &text)).unwrap();
    let targets: Vec<RouteTarget> = c.routes[2..].iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [Discard::Blackhole, Discard::Unreachable, Discard::Prohibit].map(RouteTarget::Discard)
    );
    let fib = c.fib().unwrap();
    let v4 = |s: &str| fib.lookup_v4(s.parse().unwrap()).copied();
    assert_eq!(v4("198.51.7.7"), Some(NextHop::Discard(Discard::Blackhole)));
    // The /24 inside the blackhole /16 still forwards.
    assert!(matches!(
        v4("198.51.100.1"),
        Some(NextHop::Adjacency { .. })
    ));
    assert_eq!(v4("10.1.1.1"), Some(NextHop::Discard(Discard::Unreachable)));
    let v6 = fib.lookup_v6("2001:db8:ff::1".parse().unwrap()).copied();
    assert_eq!(v6, Some(NextHop::Discard(Discard::Prohibit)));
}

/// (what is wrong, line to replace → replacement, expected message after `file:`)
const BAD: &[(&str, &str, &str, &str)] = &[
    ("syntax", "mtu = 9000", "mtu = 9000 x", "16: port[1].mtu: "),
    ("type", "mtu = 9000", "mtu = \"jumbo\"", "16: port[1].mtu: invalid type: string \"jumbo\", expected an integer"),
    ("unknown key", "mtu = 9000", "speed = 10", "16: port[1].speed: unknown field `speed`"),
    ("router id", "id = \"192.0.2.1\"", "id = \"router-1\"", "3: router.id: \"router-1\" is not an IPv4 address"),
    ("mac", "mac = \"02:00:00:00:00:02\"", "mac = \"02:00:zz:00:00:01\"", "14: port[1].mac: \"02:00:zz:00:00:01\" is not a MAC address"),
    ("multicast mac", "mac = \"02:00:00:00:00:02\"", "mac = \"33:33:00:00:00:01\"", "14: port[1].mac: 33:33:00:00:00:01 is a group (multicast/broadcast) MAC; a unicast MAC is needed"),
    ("zero mac", "mac = \"02:00:00:00:00:02\"", "mac = \"00:00:00:00:00:00\"", "14: port[1].mac: 00:00:00:00:00:00 is the zero MAC"),
    ("duplicate name", "name = \"p1\"", "name = \"p0\"", "13: port[1].name: \"p0\" is already the name of port[0]"),
    ("duplicate interface", "name = \"p1\"", "name = \"p1\"\ninterface = \"veth0\"", "14: port[1].interface: interface \"veth0\" is already used by port[0]"),
    ("address", "addresses = [\"203.0.113.1/24\"]", "addresses = [\"203.0.113.1/33\"]", "15: port[1].addresses[0]: \"203.0.113.1/33\" is not an address with a prefix length (like 192.0.2.1/24 or 2001:db8::1/64)"),
    ("mtu range", "mtu = 9000", "mtu = 9216", "16: port[1].mtu: 9216 is out of range (68..=9000)"),
    ("mtu ipv6", "interface = \"veth0\"", "interface = \"veth0\"\nmtu = 1200", "9: port[0].mtu: 1200 is below 1280, the IPv6 minimum MTU, and the port has an IPv6 address"),
    ("route family", "via = \"203.0.113.2\"", "via = \"2001:db8::2\"", "20: route[0].via: 2001:db8::2 is IPv6 but the prefix 198.51.100.0/24 is IPv4"),
    ("route off-link", "via = \"203.0.113.2\"", "via = \"10.0.0.1\"", "20: route[0].via: 10.0.0.1 is not on a connected subnet of any port"),
    ("duplicate route", "prefix = \"0.0.0.0/0\"", "prefix = \"198.51.100.0/24\"", "23: route[1].prefix: 198.51.100.0/24 is already the prefix of route[0]"),
    ("route via and action", "via = \"203.0.113.2\"", "via = \"203.0.113.2\"\naction = \"blackhole\"", "20: route[0].via: a route has either a `via` or an `action`, not both"),
    ("route action", "via = \"192.0.2.254\"", "action = \"drop\"", "24: route[1].action: \"drop\" is not an action (blackhole, unreachable or prohibit)"),
    ("route without target", "via = \"192.0.2.254\"", "", "22: route[1]: needs a `via` (gateway) or an `action` (blackhole, unreachable, prohibit)"),
    ("neighbor port", "port = \"p1\"", "port = \"eth9\"", "29: neighbor[0].port: \"eth9\" is not a configured port (ports: p0, p1)"),
    ("neighbor subnet", "address = \"203.0.113.2\"", "address = \"192.0.2.2\"", "27: neighbor[0].address: 192.0.2.2 is not in a subnet of port p1 (203.0.113.1/24)"),
];

#[test]
fn each_kind_of_bad_file_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for &(what, line, replacement, expected) in BAD {
        assert_eq!(
            GOOD.matches(line).count(),
            1,
            "{what}: `{line}` must be unique"
        );
        let path = write(&dir, &GOOD.replace(line, replacement));
        let err = Config::load(&path).expect_err(what).to_string();
        let expected = format!("{}:{expected}", path.display());
        assert!(
            err.starts_with(&expected),
            "{what}:\n  got      {err}\n  expected {expected}"
        );
        assert!(!err.contains('\n'), "{what}: one line: {err}");
    }
}

#[test]
fn missing_file_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let err = Config::load(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
    let empty = write(&dir, "");
    let err = Config::load(&empty).unwrap_err().to_string();
    assert_eq!(err, format!("{}: missing field `router`", empty.display()));
    let no_ports = write(&dir, "[router]\nid = \"192.0.2.1\"\n");
    let err = Config::load(&no_ports).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: port: at least one [[port]] is required",
            no_ports.display()
        )
    );
}

#[test]
fn bgp_inputs_resolve_next_to_the_file_and_bad_values_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{GOOD}\n[bgp]\nlocal_as = 65000\nalways_compare_med = true\n\n[[bgp.mrt]]\nfile = \"dumps/rib.mrt.gz\"\n\n\
         [[bgp.table]]\nfile = \"t.pfx2as.gz\"\npeer = \"2001:db8::2\"\npeer_as = 4200000000\n"
    );
    let c = Config::load(&write(&dir, &text)).unwrap();
    let bgp = c.bgp.unwrap();
    assert_eq!(
        (bgp.local_as, bgp.always_compare_med, bgp.multipath),
        (65000, true, false)
    );
    let mrt: Vec<_> = bgp.mrt.iter().map(|m| m.file.clone()).collect();
    assert_eq!(mrt, [dir.path().join("dumps/rib.mrt.gz")]);
    assert_eq!(bgp.tables[0].file, dir.path().join("t.pfx2as.gz"));
    assert_eq!(bgp.tables[0].peer, "2001:db8::2".parse::<IpAddr>().unwrap());
    assert_eq!(bgp.tables[0].peer_as, 4_200_000_000);

    let line = GOOD.lines().count() + 3;
    let bad = write(&dir, &format!("{GOOD}\n[bgp]\nlocal_as = \"65000\"\n"));
    let err = Config::load(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:{line}: bgp.local_as", bad.display())),
        "{err}"
    );
    let missing = write(&dir, &format!("{GOOD}\n[bgp]\nmultipath = true\n"));
    let err = Config::load(&missing).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:{}: bgp.local_as: required when [bgp] is present",
            missing.display(),
            line - 1
        )
    );
}
