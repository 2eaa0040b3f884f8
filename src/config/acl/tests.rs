//! `[[acl]]`, `urpf`, `acl_in` and `acl_out`: what parses, and an error
//! naming line and field for each way to get them wrong.

use crate::config::tests::{fails, GOOD};
use crate::config::Config;
use crate::forward::acl::{AclAction, PortRange};
use crate::forward::Urpf;

/// GOOD with two lists and p0's stages after its addresses (line 9).
fn with_acls(rule_lines: &str, port_lines: &str) -> String {
    let good = GOOD.replacen(
        "addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\n",
        &format!("addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\n{port_lines}"),
        1,
    );
    format!(
        "{good}\n[[acl]]\nname = \"edge-in\"\ndefault = \"deny\"\n\n[[acl.rule]]\n{rule_lines}\n\
         [[acl]]\nname = \"open\"\n"
    )
}

/// The line of `needle` in `text` (1-based).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

const SSH: &str = "action = \"reject\"\nsource = \"192.0.2.0/24\"\nprotocol = \"tcp\"\n\
                   destination_port = \"22\"\nsource_port = \"1000-2000\"\n";

#[test]
fn lists_and_port_stages_parse() {
    let text = with_acls(
        SSH,
        "urpf = \"strict\"\nacl_in = \"edge-in\"\nacl_out = \"open\"\n",
    );
    let c = Config::parse(&text, "test.toml").unwrap();
    assert_eq!(c.acls.len(), 2);
    let edge = &c.acls[0];
    assert_eq!(
        (edge.name.as_str(), edge.default),
        ("edge-in", AclAction::Deny)
    );
    let r = &edge.rules[0];
    assert_eq!(r.action, AclAction::Reject);
    assert_eq!(r.source, Some("192.0.2.0/24".parse().unwrap()));
    assert_eq!(r.protocol, Some(6));
    assert_eq!(
        r.destination_port,
        Some(PortRange {
            first: 22,
            last: 22
        })
    );
    assert_eq!(
        r.source_port,
        Some(PortRange {
            first: 1000,
            last: 2000
        })
    );
    assert_eq!(c.acls[1].default, AclAction::Permit, "permit when omitted");
    let f = c.ports[0].features;
    assert_eq!(
        (f.urpf, f.acl_in, f.acl_out),
        (Some(Urpf::Strict), Some(0), Some(1))
    );
    assert_eq!(
        c.ports[1].features,
        Default::default(),
        "all off by default"
    );
    // Carried into the pipeline's port table and compiled ACLs.
    let fc = c.forwarder_config();
    assert_eq!(fc.ports[0].features, f);
    assert_eq!(fc.acls.acls().len(), 2);
    // Numbers work for protocol and ports too.
    let numeric = with_acls(
        "action = \"deny\"\nprotocol = 17\ndestination_port = 53\n",
        "",
    );
    let c = Config::parse(&numeric, "test.toml").unwrap();
    assert_eq!(c.acls[0].rules[0].protocol, Some(17));
    assert_eq!(
        c.acls[0].rules[0].destination_port,
        Some(PortRange {
            first: 53,
            last: 53
        })
    );
}

#[test]
fn bad_values_name_their_line_and_field() {
    let port = |lines: &str, needle: &str, field: &str, fragment: &str| {
        let text = with_acls(SSH, lines);
        fails(&text, line_of(&text, needle), field, fragment);
    };
    port(
        "urpf = \"both\"\n",
        "urpf",
        "port[0].urpf",
        "strict or loose",
    );
    port(
        "acl_in = \"nope\"\n",
        "acl_in",
        "port[0].acl_in",
        "edge-in, open",
    );
    port(
        "acl_out = \"x\"\n",
        "acl_out",
        "port[0].acl_out",
        "no [[acl]] is called",
    );
    let rule = |lines: &str, needle: &str, field: &str, fragment: &str| {
        let text = with_acls(lines, "");
        fails(&text, line_of(&text, needle), field, fragment);
    };
    let f = "acl[0].rule[0]";
    rule(
        "action = \"drop\"\n",
        "drop",
        &format!("{f}.action"),
        "permit, deny or reject",
    );
    rule(
        "action = \"deny\"\nsource = \"192.0.2.1/24\"\n",
        "source",
        &format!("{f}.source"),
        "host bits set (did you mean 192.0.2.0/24?)",
    );
    rule(
        "action = \"deny\"\nsource = \"192.0.2.0/24\"\ndestination = \"2001:db8::/32\"\n",
        "destination",
        &format!("{f}.destination"),
        "different address families",
    );
    rule(
        "action = \"deny\"\nprotocol = \"gre\"\n",
        "gre",
        &format!("{f}.protocol"),
        "not a protocol",
    );
    rule(
        "action = \"deny\"\nprotocol = 256\n",
        "256",
        &format!("{f}.protocol"),
        "not a protocol",
    );
    rule(
        "action = \"deny\"\nsource = \"2001:db8::/32\"\nprotocol = \"icmp\"\n",
        "= \"icmp\"",
        &format!("{f}.protocol"),
        "cannot appear in IPv6",
    );
    rule(
        "action = \"deny\"\ndestination_port = \"22\"\n",
        "destination_port",
        &format!("{f}.destination_port"),
        "ports need",
    );
    rule(
        "action = \"deny\"\nprotocol = \"udp\"\nsource_port = \"2000-1000\"\n",
        "source_port",
        &format!("{f}.source_port"),
        "is empty",
    );
    rule(
        "action = \"deny\"\nprotocol = \"udp\"\nsource_port = \"http\"\n",
        "source_port",
        &format!("{f}.source_port"),
        "not a port",
    );
    let dup = with_acls(SSH, "").replace("name = \"open\"", "name = \"edge-in\"");
    let lines: Vec<&str> = dup.lines().collect();
    let line = lines.iter().rposition(|l| l.contains("edge-in")).unwrap() + 1;
    fails(&dup, line, "acl[1].name", "already the name of acl[0]");
}

#[test]
fn stage_and_list_changes_are_reloadable_but_a_changed_port_list_is_not() {
    let running = Config::parse(&with_acls(SSH, "urpf = \"loose\"\n"), "t.toml").unwrap();
    let restart = crate::config::RestartOnly::of(&running);
    assert!(restart.changed(&running).is_empty());
    let edited = Config::parse(
        &with_acls(SSH, "urpf = \"strict\"\nacl_in = \"open\"\n"),
        "t.toml",
    )
    .unwrap();
    assert!(restart.changed(&edited).is_empty());
    assert!(restart.same_ports(&edited));
    let rules = with_acls(&SSH.replace("22", "23"), "urpf = \"loose\"\n");
    let edited = Config::parse(&rules, "t.toml").unwrap();
    assert!(restart.changed(&edited).is_empty());
    // Stages are swapped by port id: a renamed port is not the same port.
    let renamed =
        with_acls(SSH, "urpf = \"loose\"\n").replacen("name = \"p0\"", "name = \"p9\"", 1);
    let renamed = Config::parse(&renamed, "t.toml").unwrap();
    assert!(!restart.same_ports(&renamed));
    assert!(restart
        .changed(&renamed)
        .contains(&crate::config::PORTS_CHANGED.to_string()));
}
