use super::*;
use crate::control::bgp::policy::Policy;
use crate::control::rib::route::RouteSource;
use std::path::PathBuf;

mod qos;

/// A good file; the tests below break one line of it at a time.
pub(super) const GOOD: &str = r#"[router]
id = "192.0.2.1"
icmp_rate = 100
icmp_burst = 10

[[port]]
name = "p0"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1/24", "2001:db8::1/64"]

[[port]]
name = "p1"
interface = "veth1"
mac = "02:00:00:00:00:02"
addresses = ["203.0.113.1/24"]
mtu = 1400

[[route]]
prefix = "198.51.100.0/24"
via = "203.0.113.2"

[[route]]
prefix = "2001:db8:100::/48"
via = "2001:db8::2"

[[neighbor]]
address = "203.0.113.2"
mac = "02:00:00:00:01:02"
port = "p1"
"#;

/// GOOD with line `line` (1-based) replaced by `with`.
fn edit(line: usize, with: &str) -> String {
    GOOD.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts `text` fails with `test.toml:<line>: <field>: ...<fragment>...`.
pub(super) fn fails(text: &str, line: usize, field: &str, fragment: &str) {
    let err = Config::parse(text, "test.toml").expect_err("config should be rejected");
    let shown = err.to_string();
    let prefix = format!("test.toml:{line}: {field}: ");
    assert!(
        shown.starts_with(&prefix),
        "`{shown}` should start with `{prefix}`"
    );
    assert!(
        shown.contains(fragment),
        "`{shown}` should contain `{fragment}`"
    );
    assert!(!shown.contains('\n'), "one line: `{shown}`");
    assert_eq!(err.line, Some(line));
}

#[test]
fn good_file_parses() {
    let c = Config::parse(GOOD, "test.toml").unwrap();
    assert_eq!(c.router.id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!((c.router.icmp_rate, c.router.icmp_burst), (100, 10));
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].interface, "p0");
    assert_eq!(c.ports[0].mtu, DEFAULT_MTU);
    assert_eq!(c.ports[1].interface, "veth1");
    assert_eq!(c.ports[1].mtu, 1400);
    assert_eq!(c.port_id("p1"), Some(1));
    assert_eq!(c.port_id("p9"), None);
    assert_eq!(c.neighbors[0].port, 1);
    let fc = c.forwarder_config();
    assert_eq!(fc.ports[0].ipv4, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(fc.ports[0].ipv6, Some("2001:db8::1".parse().unwrap()));
    assert_eq!(fc.ports[1].ipv6, None);
    let fib = c.fib().unwrap();
    assert_eq!(
        fib.lookup_v4("198.51.100.9".parse().unwrap()),
        Some(&crate::fib::NextHop::Adjacency {
            port: 1,
            mac: "02:00:00:00:01:02".parse().unwrap()
        })
    );
}

#[test]
fn burst_defaults_and_is_capped_by_rate() {
    let c = Config::parse(
        &edit(4, "").replace("icmp_rate = 100", "icmp_rate = 7"),
        "t",
    )
    .unwrap();
    assert_eq!((c.router.icmp_rate, c.router.icmp_burst), (7, 7));
    let c = Config::parse(&edit(3, "").replace("icmp_burst = 10", ""), "t").unwrap();
    assert_eq!((c.router.icmp_rate, c.router.icmp_burst), (1000, 50));
    let c = Config::parse(&edit(3, "icmp_rate = 0"), "t").unwrap();
    assert_eq!((c.router.icmp_rate, c.router.icmp_burst), (0, 1));
}

#[test]
fn syntax_and_type_errors_name_line_and_field() {
    fails(&edit(8, "mac = \"02:00:00:00:00:01"), 8, "port[0].mac", "");
    fails(
        &edit(16, "mtu = \"big\""),
        16,
        "port[1].mtu",
        "invalid type",
    );
    fails(
        &edit(13, "colour = \"red\""),
        13,
        "port[1].colour",
        "unknown field `colour`",
    );
    fails(
        &edit(2, "ident = \"x\""),
        2,
        "router.ident",
        "unknown field",
    );
}

#[test]
fn missing_required_field() {
    let err = Config::parse(&edit(8, ""), "test.toml").unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("missing field `mac`"), "{shown}");
    assert!(shown.starts_with("test.toml:7: port[0].mac"), "{shown}");
}

#[test]
fn router_errors() {
    fails(
        &edit(2, "id = \"2001:db8::1\""),
        2,
        "router.id",
        "not an IPv4 address",
    );
    fails(
        &edit(3, "icmp_rate = -1"),
        3,
        "router.icmp_rate",
        "out of range",
    );
    fails(
        &edit(4, "icmp_burst = 0"),
        4,
        "router.icmp_burst",
        "out of range",
    );
}

#[test]
fn no_ports() {
    let text = "[router]\nid = \"192.0.2.1\"\n";
    let err = Config::parse(text, "test.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.toml: port: at least one [[port]] is required"
    );
}

#[test]
fn port_errors() {
    fails(
        &edit(12, "name = \"p0\""),
        12,
        "port[1].name",
        "already the name of port[0]",
    );
    fails(
        &edit(13, "interface = \"p0\""),
        13,
        "port[1].interface",
        "already used by port[0]",
    );
    fails(
        &edit(7, "name = \"a/b\""),
        7,
        "port[0].name",
        "not a valid interface name",
    );
    fails(
        &edit(14, "mac = \"02:00:zz:00:00:01\""),
        14,
        "port[1].mac",
        "\"02:00:zz:00:00:01\" is not a MAC address",
    );
    fails(
        &edit(14, "mac = \"01:00:5e:00:00:01\""),
        14,
        "port[1].mac",
        "unicast",
    );
    fails(
        &edit(14, "mac = \"00:00:00:00:00:00\""),
        14,
        "port[1].mac",
        "zero MAC",
    );
    fails(
        &edit(15, "addresses = [\"203.0.113.1\"]"),
        15,
        "port[1].addresses[0]",
        "prefix length",
    );
    fails(
        &edit(15, "addresses = [\"224.0.0.1/4\"]"),
        15,
        "port[1].addresses[0]",
        "cannot be",
    );
    fails(
        &edit(15, "addresses = [\"192.0.2.1/24\"]"),
        15,
        "port[1].addresses[0]",
        "port[0]",
    );
    fails(
        &edit(16, "mtu = 9001"),
        16,
        "port[1].mtu",
        "out of range (68..=9000)",
    );
    fails(&edit(16, "mtu = 67"), 16, "port[1].mtu", "out of range");
    let v6_small = edit(9, "addresses = [\"2001:db8::1/64\"]\nmtu = 1279");
    fails(&v6_small, 10, "port[0].mtu", "IPv6 minimum MTU");
}

#[test]
fn route_errors() {
    fails(
        &edit(19, "prefix = \"198.51.100/24\""),
        19,
        "route[0].prefix",
        "not a prefix",
    );
    fails(
        &edit(19, "prefix = \"198.51.100.1/24\""),
        19,
        "route[0].prefix",
        "198.51.100.0/24",
    );
    fails(
        &edit(23, "prefix = \"198.51.100.0/24\""),
        23,
        "route[1].prefix",
        "route[0]",
    );
    fails(
        &edit(24, "via = \"fe80::zz\""),
        24,
        "route[1].via",
        "not an IP address",
    );
    fails(
        &edit(20, "via = \"2001:db8::2\""),
        20,
        "route[0].via",
        "IPv6 but the prefix",
    );
    fails(
        &edit(20, "via = \"10.1.1.1\""),
        20,
        "route[0].via",
        "not on a connected subnet",
    );
    fails(
        &edit(20, "via = \"192.0.2.1\""),
        20,
        "route[0].via",
        "own address",
    );
}

#[test]
fn neighbor_errors() {
    fails(
        &edit(29, "port = \"p7\""),
        29,
        "neighbor[0].port",
        "not a configured port (ports: p0, p1)",
    );
    fails(
        &edit(27, "address = \"192.0.2.7\""),
        27,
        "neighbor[0].address",
        "not in a subnet of port p1",
    );
    fails(
        &edit(27, "address = \"203.0.113.1\""),
        27,
        "neighbor[0].address",
        "own address",
    );
    fails(
        &edit(27, "address = \"x\""),
        27,
        "neighbor[0].address",
        "not an IP address",
    );
    fails(
        &edit(28, "mac = \"ff:ff:ff:ff:ff:ff\""),
        28,
        "neighbor[0].mac",
        "unicast",
    );
    let twice = format!("{GOOD}\n[[neighbor]]\naddress = \"203.0.113.2\"\nmac = \"02:00:00:00:01:03\"\nport = \"p1\"\n");
    fails(&twice, 32, "neighbor[1].address", "already neighbor[0]");
}

#[test]
fn missing_file_is_reported() {
    let err = Config::load(Path::new("/nonexistent/router.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/router.toml: cannot read"),
        "{err}"
    );
}

#[test]
fn missing_router_table_is_a_file_level_error() {
    let text = "[[port]]\nname = \"p0\"\nmac = \"02:00:00:00:00:01\"\n";
    let err = Config::parse(text, "test.toml").unwrap_err();
    assert_eq!(err.to_string(), "test.toml: missing field `router`");
}

#[test]
fn source_route_knob_defaults_off() {
    let c = Config::parse(&edit(4, ""), "t").unwrap();
    assert!(!c.router.accept_source_route);
    assert!(!c.forwarder_config().accept_source_route);
    let c = Config::parse(&edit(4, "accept_source_route = true"), "t").unwrap();
    assert!(c.forwarder_config().accept_source_route);
    let err = Config::parse(&edit(4, "accept_source_route = 1"), "t").unwrap_err();
    assert!(
        err.to_string().contains("router.accept_source_route"),
        "{err}"
    );
}

#[test]
fn worker_priority_is_optional_and_bounded() {
    let c = Config::parse(&edit(4, ""), "t").unwrap();
    assert_eq!(c.router.worker_priority, None);
    let c = Config::parse(&edit(4, "worker_priority = 10"), "t").unwrap();
    assert_eq!(c.router.worker_priority, Some(10));
    for bad in ["worker_priority = 0", "worker_priority = 100"] {
        fails(&edit(4, bad), 4, "router.worker_priority", "out of range");
    }
}

#[test]
fn distances_and_linkstate_are_read_and_checked() {
    let text =
        format!("{GOOD}\n[distance]\nebgp = 25\nstatic = 5\n\n[linkstate]\nfile = \"lsdb.toml\"\n");
    let c = Config::parse(&text, "r.toml").unwrap();
    assert_eq!(c.distances.of(RouteSource::EBGP), 25);
    assert_eq!(c.distances.of(RouteSource::STATIC), 5);
    assert_eq!(c.distances.of(RouteSource::LINK_STATE), 110, "default kept");
    assert_eq!(
        c.linkstate.unwrap().file,
        std::path::PathBuf::from("lsdb.toml")
    );
    let defaults = Config::parse(GOOD, "r.toml").unwrap();
    assert_eq!(defaults.distances, AdminDistances::default());
    assert!(defaults.linkstate.is_none());
    let bad = format!("{GOOD}\n[distance]\nibgp = 300\n");
    let e = Config::parse(&bad, "r.toml").unwrap_err();
    assert_eq!(e.field, "distance.ibgp");
    assert!(e.message.contains("out of range"), "{e}");
    assert_eq!(e.line, Some(GOOD.lines().count() + 3));
    let unknown = format!("{GOOD}\n[distance]\nisis = 3\n");
    let e = Config::parse(&unknown, "r.toml").unwrap_err();
    assert_eq!(e.field, "distance.isis");
    assert_eq!(e.line, Some(GOOD.lines().count() + 3));
    assert!(e.message.contains("linkstate"), "{e}");
}

#[test]
fn bgp_section_is_read_with_defaults_and_paths_relative_to_the_file() {
    let text = format!(
        "{GOOD}\n[bgp]\nlocal_as = 65000\nmultipath = true\n\n[[bgp.mrt]]\nfile = \"rib.mrt.gz\"\n\n\
         [[bgp.table]]\nfile = \"/abs/t.pfx2as\"\npeer = \"192.0.2.2\"\npeer_as = 65001\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.toml");
    std::fs::write(&path, &text).unwrap();
    let bgp = Config::load(&path).unwrap().bgp.unwrap();
    assert_eq!(bgp.local_as, 65000);
    assert!(bgp.multipath);
    assert!(!bgp.always_compare_med, "default off");
    assert_eq!(
        bgp.mrt,
        vec![BgpMrtConfig {
            file: dir.path().join("rib.mrt.gz"),
            import: Policy::All,
        }]
    );
    assert_eq!(
        bgp.tables,
        vec![BgpTableConfig {
            file: PathBuf::from("/abs/t.pfx2as"),
            peer: "192.0.2.2".parse().unwrap(),
            peer_as: 65001,
            import: Policy::All,
        }]
    );
    assert!(Config::parse(GOOD, "r.toml").unwrap().bgp.is_none());
}

#[test]
fn bad_bgp_values_name_their_line_and_field() {
    let base = GOOD.lines().count();
    let cases: &[(&str, &str, usize, &str)] = &[
        ("[bgp]\nalways_compare_med = true\n", "bgp.local_as", 2, "required"),
        ("[bgp]\nlocal_as = 0\n", "bgp.local_as", 3, "out of range"),
        ("[bgp]\nlocal_as = 4294967296\n", "bgp.local_as", 3, "out of range"),
        (
            "[bgp]\nlocal_as = 1\n[[bgp.mrt]]\nfile = \"\"\n",
            "bgp.mrt[0].file",
            5,
            "empty",
        ),
        (
            "[bgp]\nlocal_as = 1\n[[bgp.table]]\nfile = \"t\"\npeer = \"nope\"\npeer_as = 2\n",
            "bgp.table[0].peer",
            6,
            "not an IP address",
        ),
        (
            "[bgp]\nlocal_as = 1\n[[bgp.table]]\nfile = \"t\"\npeer = \"224.0.0.1\"\npeer_as = 2\n",
            "bgp.table[0].peer",
            6,
            "cannot be",
        ),
        (
            "[bgp]\nlocal_as = 1\n[[bgp.table]]\nfile = \"t\"\npeer = \"192.0.2.2\"\npeer_as = -1\n",
            "bgp.table[0].peer_as",
            7,
            "out of range",
        ),
        (
            "[bgp]\nlocal_as = 1\n[[bgp.table]]\nfile = \"t\"\npeer = \"192.0.2.2\"\npeer_as = 2\n\
             [[bgp.table]]\nfile = \"u\"\npeer = \"192.0.2.2\"\npeer_as = 3\n",
            "bgp.table[1].peer",
            10,
            "already the peer of bgp.table[0]",
        ),
    ];
    for (extra, field, line, message) in cases {
        let text = format!("{GOOD}\n{extra}");
        let e = Config::parse(&text, "r.toml").unwrap_err();
        assert_eq!(e.field, *field, "{extra}: {e}");
        assert_eq!(e.line, Some(base + line), "{extra}: {e}");
        assert!(e.message.contains(message), "{extra}: {e}");
    }
    let unknown = format!("{GOOD}\n[bgp]\nlocal_as = 1\nhold_time = 90\n");
    let e = Config::parse(&unknown, "r.toml").unwrap_err();
    assert!(e.to_string().contains("hold_time"), "{e}");
    let missing = format!("{GOOD}\n[bgp]\nlocal_as = 1\n[[bgp.table]]\nfile = \"t\"\n");
    let e = Config::parse(&missing, "r.toml").unwrap_err();
    assert!(e.to_string().contains("peer"), "{e}");
}
