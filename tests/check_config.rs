//! `ferroute check-config` with routing inputs: the link-state database and
//! the BGP tables are loaded as `ferroute run` would load them, the table
//! the daemon would publish first is summarised, and a malformed input is
//! refused with its file and position.

use std::path::{Path, PathBuf};
use std::process::Output;

const EXTRA: &str = r#"
[[port.class]]
name = "voice"
dscp = [46]
weight = 4

[linkstate]
file = "lsdb.toml"

[bgp]
local_as = 64496

[[bgp.table]]
file = "table.txt"
peer = "203.0.113.2"
peer_as = 64500
"#;

/// Two IPv4 routes and one IPv6 route from an IPv4 peer (skipped: the RIB
/// does not resolve an IPv4 next hop for an IPv6 prefix).
const TABLE: &str = "10.0.0.0/8\t64500\n198.18.4.0/22\t64501\n2001:db8:9::/48\t64502\n";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The demo router plus `EXTRA`, with the example LSDB and `table` next to it.
fn setup(table: &str, lsdb: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(examples().join("demo/router.toml")).unwrap();
    let config = dir.path().join("router.toml");
    std::fs::write(&config, format!("{base}\n{EXTRA}")).unwrap();
    std::fs::write(dir.path().join("lsdb.toml"), lsdb).unwrap();
    std::fs::write(dir.path().join("table.txt"), table).unwrap();
    (dir, config)
}

fn check_config(config: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferroute"))
        .arg("check-config")
        .arg(config)
        .output()
        .expect("run ferroute")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example_lsdb() -> String {
    std::fs::read_to_string(examples().join("lsdb.toml")).unwrap()
}

#[test]
fn routing_inputs_are_loaded_and_summarised() {
    let (_dir, config) = setup(TABLE, &example_lsdb());
    let o = check_config(&config);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    // Queueing per port, with the class on the port it was given to.
    let p1 = out.lines().find(|l| l.starts_with("  p1: ")).unwrap();
    assert!(
        p1.starts_with("  p1: drr, unshaped") && p1.ends_with("class voice weight 4 dscp [46]"),
        "{p1}"
    );
    assert!(
        out.contains("distance: connected 0, static 1, ebgp 20, link-state 110, ibgp 200"),
        "{out}"
    );
    // SPF over the example LSDB: 4 of its 5 other routers are reachable
    // (10.255.0.6 only has a one-way link) and give 5 routes.
    assert!(
        out.contains("4 routers reachable, 5 routes")
            && out.contains("router 10.255.0.6 seq 1: unreachable"),
        "{out}"
    );
    // Both IPv4 routes of the table are selected and installed as eBGP.
    let ebgp = out
        .lines()
        .find(|l| l.trim_start().starts_with("ebgp "))
        .unwrap();
    let words: Vec<&str> = ebgp.split_whitespace().collect();
    assert_eq!(words, ["ebgp", "2", "routes", "2", "selected"], "{ebgp}");
    assert!(
        out.contains("2 routes, 1 skipped") && out.contains("FIB version 1: "),
        "{out}"
    );
}

#[test]
fn a_malformed_lsdb_is_refused_with_its_position() {
    let lsdb = example_lsdb();
    let bad = lsdb.replacen("cost = 10\n", "cost = \"ten\"\n", 1);
    assert_ne!(bad, lsdb, "the example LSDB has a `cost = 10` line");
    let line = bad.lines().position(|l| l.contains("\"ten\"")).unwrap() + 1;
    let (dir, config) = setup(TABLE, &bad);
    let o = check_config(&config);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    let at = format!(
        "{}:{line}: router[0].link[0].cost:",
        dir.path().join("lsdb.toml").display()
    );
    assert!(err.contains(&at), "{err}");
}

#[test]
fn a_malformed_bgp_table_is_refused_with_its_line() {
    let (_dir, config) = setup("10.0.0.0/8\t64500\n198.18.4.0/33\t64501\n", &example_lsdb());
    let o = check_config(&config);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("bgp.table: ")
            && err.contains("table.txt: line 2: bad prefix \"198.18.4.0/33\""),
        "{err}"
    );
}
