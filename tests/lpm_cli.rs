//! The `ferroute lookup` output (tables::query) over a real table: every line
//! names the address, a prefix that contains it, and the next hop the fast
//! path returns; misses print `-`.

use std::net::IpAddr;

use ferroute::tables::query::{format_lookup, parse_address_lines, write_lookups, Tables};
use ferroute::tables::{load_routes, LoadOptions};
use ferroute::testkit::data::names::*;
use ferroute::testkit::data_file;
use ipnet::IpNet;

#[test]
fn lookup_lines_agree_with_the_fast_path() {
    let Some(path) = data_file(TIER1) else { return };
    let routes = load_routes(path, &LoadOptions::default()).unwrap();
    let tables = Tables::from_routes(&routes).unwrap();
    // Addresses from the table's own prefixes and a few outside any route.
    let mut text = String::from("# probes\n0.0.0.1\n::1\n");
    for (p, _) in routes.v4.iter().step_by(997) {
        text.push_str(&format!("{}\n", p.broadcast()));
    }
    for (p, _) in routes.v6.iter().step_by(499) {
        text.push_str(&format!("{}\n", p.network()));
    }
    let addrs = parse_address_lines(&text).unwrap();
    let mut out = Vec::new();
    write_lookups(&tables, &addrs, &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), addrs.len());
    let mut hits = 0;
    for (line, &addr) in lines.iter().zip(&addrs) {
        assert_eq!(*line, format_lookup(&tables, addr));
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[0].parse::<IpAddr>().unwrap(), addr);
        let fast = match addr {
            IpAddr::V4(a) => tables.v4.lookup(a),
            IpAddr::V6(a) => tables.v6.lookup(a),
        };
        match fast {
            None => assert_eq!(&fields[1..], ["-", "-"], "{line}"),
            Some(nh) => {
                let prefix: IpNet = fields[1].parse().unwrap();
                assert!(prefix.contains(&addr), "{line}");
                assert_eq!(fields[2].parse::<u32>().unwrap(), nh, "{line}");
                hits += 1;
            }
        }
    }
    assert_eq!(lines[0], "0.0.0.1 - -");
    assert!(
        hits + 2 >= addrs.len(),
        "table prefixes must match themselves"
    );
}
