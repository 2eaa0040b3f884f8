//! `[[port]] parent = ..., vlan = ...`: what parses, and an error naming
//! line and field for each way to get a sub-interface wrong.

use crate::config::tests::{fails, GOOD};
use crate::config::Config;
use crate::forward::Vlan;

/// GOOD with `block` appended as more `[[port]]`s.
fn with(block: &str) -> String {
    format!("{GOOD}\n{block}")
}

/// The line of the `n`th (0-based) line of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(n)
        .expect(needle)
        .0
        + 1
}

const P0_100: &str = "[[port]]\nname = \"p0.100\"\nparent = \"p0\"\nvlan = 100\n\
                      addresses = [\"100.64.0.1/24\"]\n";

#[test]
fn a_sub_interface_parses_with_its_parents_mac() {
    let text = with(&format!(
        "{P0_100}mtu = 1496\n\n[[port]]\nname = \"p1.7\"\nparent = \"p1\"\nvlan = 7\n\
         mac = \"02:00:00:00:07:01\"\n"
    ));
    let c = Config::parse(&text, "test.toml").unwrap();
    assert_eq!(c.ports.len(), 4);
    let (sub, other) = (&c.ports[2], &c.ports[3]);
    assert_eq!(sub.vlan, Some(Vlan { parent: 0, id: 100 }));
    assert_eq!(sub.mac, c.ports[0].mac, "the parent's MAC by default");
    assert_eq!((sub.interface.as_str(), sub.mtu), ("p0.100", 1496));
    assert_eq!(other.vlan, Some(Vlan { parent: 1, id: 7 }));
    assert_eq!(other.mac.to_string(), "02:00:00:00:07:01");
    assert_eq!(other.mtu, 1400, "the parent's MTU by default");
    let fwd = c.forwarder_config();
    assert_eq!(fwd.ports[2].vlan, sub.vlan);
    // A sub-interface is a port like any other for connected routes.
    let fib = c.fib().unwrap();
    assert!(fib.lookup_v4("100.64.0.9".parse().unwrap()).is_some());
}

#[test]
fn unknown_nested_duplicate_and_out_of_range_vlans_are_refused() {
    let cases: [(&str, &str, usize, &str, &str); 7] = [
        (
            "[[port]]\nname = \"x.1\"\nparent = \"p9\"\nvlan = 1\n",
            "parent = \"p9\"",
            0,
            "port[2].parent",
            "\"p9\" is not an earlier port",
        ),
        (
            "[[port]]\nname = \"x.1\"\nparent = \"x.2\"\nvlan = 1\n\n\
             [[port]]\nname = \"x.2\"\nparent = \"p0\"\nvlan = 2\n",
            "parent = \"x.2\"",
            0,
            "port[2].parent",
            "not an earlier port",
        ),
        (
            "[[port]]\nname = \"x.1\"\nparent = \"p0\"\nvlan = 1\n\n\
             [[port]]\nname = \"x.1.5\"\nparent = \"x.1\"\nvlan = 5\n",
            "parent = \"x.1\"",
            0,
            "port[3].parent",
            "nested (QinQ) sub-interfaces are not supported",
        ),
        (
            "[[port]]\nname = \"x.1\"\nparent = \"p0\"\nvlan = 1\n\n\
             [[port]]\nname = \"y.1\"\nparent = \"p0\"\nvlan = 1\n",
            "vlan = 1",
            1,
            "port[3].vlan",
            "VLAN 1 on \"p0\" is already port[2]",
        ),
        (
            "[[port]]\nname = \"x.0\"\nparent = \"p0\"\nvlan = 0\n",
            "vlan = 0",
            0,
            "port[2].vlan",
            "0 is out of range (1..=4094)",
        ),
        (
            "[[port]]\nname = \"x.4095\"\nparent = \"p0\"\nvlan = 4095\n",
            "vlan = 4095",
            0,
            "port[2].vlan",
            "out of range (1..=4094)",
        ),
        (
            "[[port]]\nname = \"x.1\"\nparent = \"p1\"\nvlan = 1\nmtu = 1401\n",
            "mtu = 1401",
            0,
            "port[2].mtu",
            "above the MTU of its parent \"p1\" (1400)",
        ),
    ];
    for (block, needle, nth, field, fragment) in cases {
        let text = with(block);
        fails(&text, line_of(&text, needle, nth), field, fragment);
    }
}

#[test]
fn half_a_sub_interface_and_a_missing_mac_are_refused() {
    let text = with("[[port]]\nname = \"x\"\nparent = \"p0\"\n");
    fails(
        &text,
        line_of(&text, "parent = \"p0\"", 0),
        "port[2].vlan",
        "needs its `vlan` id",
    );
    let text = with("[[port]]\nname = \"x\"\nvlan = 3\n");
    fails(
        &text,
        line_of(&text, "vlan = 3", 0),
        "port[2].parent",
        "needs its `parent`",
    );
    let text = with("[[port]]\nname = \"x\"\n");
    fails(
        &text,
        line_of(&text, "name = \"x\"", 0),
        "port[2].mac",
        "only a VLAN sub-interface may take its parent's",
    );
}
