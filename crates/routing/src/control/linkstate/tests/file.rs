//! The LSDB file: the shipped example, errors with file/line/field, and
//! all-or-nothing loading.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::super::*;
use crate::control::rib::route::Via;

fn example_path() -> PathBuf {
    crate::testkit::repo_path("examples/lsdb.toml")
}

fn demo_port(name: &str) -> Option<PortId> {
    match name {
        "p0" => Some(0),
        "p1" => Some(1),
        _ => None,
    }
}

fn p1(gateway: &str) -> Via {
    Via::Gateway {
        port: 1,
        gateway: gateway.parse().unwrap(),
    }
}

fn rid(s: &str) -> RouterId {
    s.parse().unwrap()
}

#[test]
fn the_example_gives_the_routes_its_drawing_promises() {
    let lsas = file::load(&example_path()).unwrap();
    assert_eq!(lsas.len(), 6);
    let mut lsdb = Lsdb::new();
    assert_eq!(lsdb.replace_all(lsas).installed.len(), 6);
    let spf = spf::run(&lsdb, rid("192.0.2.1"), demo_port);
    assert_eq!(spf.cost(rid("10.255.0.4")), Some(15));
    assert_eq!(spf.cost(rid("10.255.0.5")), Some(35));
    assert_eq!(spf.cost(rid("10.255.0.6")), None);
    let both_v4 = vec![p1("203.0.113.2"), p1("203.0.113.3")];
    let both_v6 = vec![p1("2001:db8:1::2"), p1("2001:db8:1::3")];
    let got: Vec<(String, u32, Vec<Via>)> = spf
        .routes()
        .iter()
        .map(|r| (r.prefix.to_string(), r.metric, r.paths.clone()))
        .collect();
    let want = vec![
        ("10.255.0.2/32".to_string(), 10, vec![p1("203.0.113.2")]),
        ("10.255.0.3/32".to_string(), 10, vec![p1("203.0.113.3")]),
        ("198.18.0.0/24".to_string(), 16, both_v4.clone()),
        ("198.18.5.0/24".to_string(), 35, both_v4),
        ("2001:db8:4::/48".to_string(), 16, both_v6),
    ];
    assert_eq!(got, want);
    assert!(spf.unusable_links().is_empty());
    assert!(spf.unroutable().is_empty());
}

#[test]
fn written_files_read_back_unchanged() {
    let lsas = file::load(&example_path()).unwrap();
    let text = file::to_toml(&lsas);
    assert_eq!(file::parse(&text, "written.toml").unwrap(), lsas);
    // A port name that needs quoting survives too.
    let mut odd = lsas.clone();
    odd[0].links[0].port = Some("p\"0\\".into());
    assert_eq!(file::parse(&file::to_toml(&odd), "odd.toml").unwrap(), odd);
}

#[test]
fn an_ipv6_stub_behind_ipv4_only_first_hops_is_unroutable() {
    let text = r#"
[[router]]
id = "10.0.0.1"
sequence = 1
[[router.link]]
neighbor = "10.0.0.2"
cost = 1
via = "192.0.2.2"
port = "p0"
[[router]]
id = "10.0.0.2"
sequence = 1
[[router.link]]
neighbor = "10.0.0.1"
cost = 1
[[router.stub]]
prefix = "2001:db8:2::/48"
cost = 0
[[router.stub]]
prefix = "10.2.0.0/16"
cost = 0
"#;
    let mut lsdb = Lsdb::new();
    lsdb.replace_all(file::parse(text, "t.toml").unwrap());
    let spf = spf::run(&lsdb, rid("10.0.0.1"), demo_port);
    let prefixes: Vec<String> = spf.routes().iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(prefixes, ["10.2.0.0/16"]);
    assert_eq!(spf.unroutable(), &["2001:db8:2::/48".parse().unwrap()]);
}

const GOOD_HEAD: &str = "[[router]]\nid = \"10.0.0.1\"\nsequence = 1\n";

/// (file text, line, field, part of the message)
fn malformed() -> Vec<(String, Option<usize>, &'static str, &'static str)> {
    let link = |body: &str| format!("{GOOD_HEAD}[[router.link]]\n{body}");
    vec![
        (
            link("neighbor = \"10.0.0.2\"\ncost = 0\n"),
            Some(6),
            "router[0].link[0].cost",
            "0 is out of range (1..=16777214)",
        ),
        (
            link("neighbor = \"10.0.0.2\"\ncost = 1\ncolour = \"red\"\n"),
            Some(7),
            "router[0].link[0].colour",
            "unknown field `colour`",
        ),
        (
            link("neighbor = \"10.0.0.x\"\ncost = 1\n"),
            Some(5),
            "router[0].link[0].neighbor",
            "\"10.0.0.x\" is not a router id",
        ),
        (
            link("neighbor = \"10.0.0.1\"\ncost = 1\n"),
            Some(5),
            "router[0].link[0].neighbor",
            "10.0.0.1 is the router itself",
        ),
        (
            link("neighbor = \"10.0.0.2\"\ncost = 1\nvia = \"192.0.2.2\"\n"),
            Some(7),
            "router[0].link[0].via",
            "via needs a port",
        ),
        (
            link("neighbor = \"10.0.0.2\"\ncost = 1\nvia = [\"192.0.2.2\", \"192.0.2.3\"]\nport = \"p0\"\n"),
            Some(7),
            "router[0].link[0].via",
            "at most one address per family",
        ),
        (
            link("neighbor = \"10.0.0.2\"\ncost = 1\nvia = \"ff02::1\"\nport = \"p0\"\n"),
            Some(7),
            "router[0].link[0].via",
            "ff02::1 cannot be a next hop",
        ),
        (
            format!("{GOOD_HEAD}[[router.stub]]\nprefix = \"10.1.2.3/16\"\ncost = 1\n"),
            Some(5),
            "router[0].stub[0].prefix",
            "has host bits set (did you mean 10.1.0.0/16?)",
        ),
        (
            format!("{GOOD_HEAD}[[router.stub]]\nprefix = \"10.1.0.0/16\"\ncost = 1\n[[router.stub]]\nprefix = \"10.1.0.0/16\"\ncost = 2\n"),
            Some(8),
            "router[0].stub[1].prefix",
            "already listed at line 4",
        ),
        (
            format!("{GOOD_HEAD}\n[[router]]\nid = \"10.0.0.2\"\nsequence = 1\n[[router]]\nid = \"10.0.0.1\"\nsequence = 2\n"),
            Some(9),
            "router[2].id",
            "router 10.0.0.1 is already defined at line 1",
        ),
        (
            format!("{GOOD_HEAD}[[router]]\nid = \"10.0.0.2\"\nsequence = -1\n"),
            Some(6),
            "router[1].sequence",
            "-1 is out of range",
        ),
        (
            format!("{GOOD_HEAD}[[router]]\nid = \"10.0.0.2\"\nsequence = \"one\"\n"),
            Some(6),
            "router[1].sequence",
            "expected an integer",
        ),
        (
            // The second router's second link: counts restart per router.
            format!("{GOOD_HEAD}[[router.link]]\nneighbor = \"10.0.0.2\"\ncost = 1\n[[router]]\nid = \"10.0.0.2\"\nsequence = 1\n[[router.link]]\nneighbor = \"10.0.0.1\"\ncost = 1\n[[router.link]]\nneighbor = \"10.0.0.3\"\ncost = 1.5\n"),
            Some(15),
            "router[1].link[1].cost",
            "expected an integer",
        ),
        (
            format!("{GOOD_HEAD}[[router.link]\n"),
            Some(4),
            "",
            "",
        ),
        (
            "[[router]]\nid = \"10.0.0.1\"\n".to_string(),
            Some(1),
            "router[0]",
            "missing field `sequence`",
        ),
    ]
}

#[test]
fn malformed_files_are_rejected_with_line_and_field() {
    for (text, line, field, message) in malformed() {
        let err = file::parse(&text, "lsdb.toml").expect_err(&text);
        assert_eq!(err.file, "lsdb.toml");
        assert_eq!(err.line, line, "{err} for\n{text}");
        if !field.is_empty() {
            assert_eq!(err.field, field, "{err} for\n{text}");
        }
        assert!(err.message.contains(message), "{err} for\n{text}");
        assert!(err.to_string().starts_with("lsdb.toml:"), "{err}");
    }
}

#[test]
fn a_rejected_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lsdb.toml");
    let t0 = Instant::now();
    let mut ls = LinkState::new(
        rid("192.0.2.1"),
        SpfScheduler::new(Duration::from_millis(10)),
    );
    let report = ls.load_file(&example_path(), t0).unwrap();
    assert_eq!(report.installed.len(), 6);
    assert!(ls
        .run_if_due(t0 + Duration::from_millis(10), demo_port)
        .is_some());
    let generation = ls.lsdb().generation();
    let before: Vec<RouterLsa> = ls.lsdb().iter().cloned().collect();

    // A new version whose first router is fine and whose last is not.
    let good = std::fs::read_to_string(example_path()).unwrap();
    let bad = good.replace("sequence = 1\n", "sequence = 2\n")
        + "[[router.stub]]\nprefix = \"nope\"\ncost = 0\n";
    std::fs::write(&path, &bad).unwrap();
    let err = ls.load_file(&path, t0).unwrap_err();
    assert_eq!(err.field, "router[5].stub[1].prefix");
    assert_eq!(err.line, Some(bad.lines().count() - 1));
    assert_eq!(ls.lsdb().generation(), generation);
    assert_eq!(ls.lsdb().iter().cloned().collect::<Vec<_>>(), before);
    assert_eq!(ls.deadline(), None, "a rejected file schedules no SPF");

    let missing = ls
        .load_file(&dir.path().join("absent.toml"), t0)
        .unwrap_err();
    assert_eq!(missing.line, None);
    assert!(missing.message.contains("cannot read"), "{missing}");
}

#[test]
fn reloading_schedules_one_spf_per_burst() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut ls = LinkState::new(rid("192.0.2.1"), SpfScheduler::new(ms(20)));
    ls.load_file(&example_path(), t0).unwrap();
    let lsa = |seq: u64, cost: u32| RouterLsa {
        router_id: rid("10.255.0.6"),
        sequence: seq,
        links: vec![Link {
            neighbor: rid("10.255.0.5"),
            cost,
            next_hops: vec![],
            port: None,
        }],
        stubs: vec![Stub {
            prefix: "198.18.6.0/24".parse().unwrap(),
            cost: 0,
        }],
        transits: vec![],
    };
    assert_eq!(ls.install(lsa(2, 1), t0 + ms(5)), InstallOutcome::Installed);
    assert_eq!(ls.install(lsa(1, 9), t0 + ms(6)), InstallOutcome::Older);
    assert!(ls.run_if_due(t0 + ms(19), demo_port).is_none());
    let spf = ls.run_if_due(t0 + ms(20), demo_port).unwrap();
    // .6 now lists .5 back: reachable at 35 + 1.
    assert_eq!(spf.cost(rid("10.255.0.6")), Some(36));
    assert!(ls.run_if_due(t0 + ms(40), demo_port).is_none());
    assert_eq!(ls.last_spf().unwrap().cost(rid("10.255.0.6")), Some(36));
}

#[test]
fn run_now_does_not_wait_for_the_hold_down() {
    let t0 = Instant::now();
    let mut ls = LinkState::new(rid("192.0.2.1"), SpfScheduler::new(Duration::from_secs(60)));
    ls.load_file(&example_path(), t0).unwrap();
    assert!(ls.run_if_due(t0, demo_port).is_none());
    assert_eq!(ls.run_now(demo_port).routes().len(), 5);
    // Without p1 configured, the root's links are unusable: no routes.
    assert!(ls.run_now(|_| None).routes().is_empty());
    assert_eq!(ls.last_spf().unwrap().unusable_links().len(), 2);
}

#[test]
fn the_summary_shows_costs_first_hops_and_one_way_links() {
    let t0 = Instant::now();
    let mut ls = LinkState::new(rid("192.0.2.1"), SpfScheduler::new(Duration::ZERO));
    let before = ls.summary();
    assert!(before.last_spf.is_none() && before.routers.is_empty());
    ls.load_file(&example_path(), t0).unwrap();
    ls.run_if_due(t0, demo_port).unwrap();
    let summary = ls.summary();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["router_id"], "192.0.2.1");
    // Router-id order: .2, .3, .4, .5, .6, then 192.0.2.1.
    let five = &json["routers"][3];
    assert_eq!(five["id"], "10.255.0.5");
    assert_eq!(five["cost"], 35);
    assert_eq!(five["first_hops"].as_array().unwrap().len(), 4);
    assert_eq!(five["links"][1]["neighbor"], "10.255.0.6");
    assert_eq!(five["links"][1]["two_way"], false);
    assert_eq!(json["routers"][4]["cost"], serde_json::Value::Null);
    assert_eq!(json["last_spf"]["reachable"], 4);
    assert_eq!(json["last_spf"]["routes"], 5);

    let text = summary.to_text(|p| Some(format!("p{p}")));
    assert!(
        text.contains("router 10.255.0.4 seq 9: cost 15 via 203.0.113.2 on p1, 203.0.113.3 on p1"),
        "{text}"
    );
    assert!(
        text.contains("router 10.255.0.6 seq 1: unreachable"),
        "{text}"
    );
    assert!(text.contains("[one-way: not used]"), "{text}");
    assert!(
        text.contains("router 192.0.2.1 (this router) seq 1: cost 0"),
        "{text}"
    );
}
