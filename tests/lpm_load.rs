//! The loaders over every real table in the shared data directory: the
//! counts must match those SOURCES.md states (made by an independent parse).

use ferroute::tables::{load_routes, load_updates, LoadOptions, TableFormat};
use ferroute::testkit::data::names::*;
use ferroute::testkit::data_file;

fn check(name: &str, opts: LoadOptions, format: TableFormat, v4: usize, v6: usize) {
    let Some(path) = data_file(name) else { return };
    let r = load_routes(&path, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.format, format, "{name}");
    assert_eq!((r.v4.len(), r.v6.len()), (v4, v6), "{name}");
    if opts.nexthops > 0 && format != TableFormat::PrefixNextHop {
        assert!(r.v4.iter().all(|&(_, nh)| nh < opts.nexthops));
        assert!(r.v6.iter().all(|&(_, nh)| nh < opts.nexthops));
        // The hash spreads routes over (nearly) every next hop.
        let mut seen = vec![false; opts.nexthops as usize];
        r.v4.iter()
            .map(|r| r.1)
            .chain(r.v6.iter().map(|r| r.1))
            .for_each(|nh| seen[nh as usize] = true);
        assert!(
            seen.iter().filter(|&&s| s).count() * 10 >= seen.len() * 9,
            "{name}"
        );
    }
    // Sorted and unique.
    assert!(
        r.v4.windows(2)
            .all(|w| (w[0].0.network(), w[0].0.prefix_len())
                < (w[1].0.network(), w[1].0.prefix_len()))
    );
    assert!(
        r.v6.windows(2)
            .all(|w| (w[0].0.network(), w[0].0.prefix_len())
                < (w[1].0.network(), w[1].0.prefix_len()))
    );
}

#[test]
fn caida_pfx2as() {
    check(
        CAIDA_2024,
        LoadOptions::default(),
        TableFormat::Pfx2as,
        998_042,
        0,
    );
    check(
        CAIDA_2017,
        LoadOptions::default(),
        TableFormat::Pfx2as,
        694_682,
        0,
    );
}

#[test]
fn tier1_cidr_list_crlf() {
    check(
        TIER1,
        LoadOptions::default(),
        TableFormat::CidrList,
        901_899,
        160_147,
    );
}

#[test]
fn ris_whois_dump() {
    check(
        RIS_V6,
        LoadOptions::default(),
        TableFormat::RisWhois,
        0,
        256_399,
    );
    let ten = LoadOptions {
        min_peers: 10,
        ..LoadOptions::default()
    };
    check(RIS_V6, ten, TableFormat::RisWhois, 0, 228_726);
}

#[test]
fn prefix_nexthop_files() {
    check(
        AS293_V6,
        LoadOptions::default(),
        TableFormat::PrefixNextHop,
        0,
        105_363,
    );
    check(
        LINX_V6,
        LoadOptions::default(),
        TableFormat::PrefixNextHop,
        0,
        20_440,
    );
    // LINX carries real next hops: 94 distinct addresses become ids 0..94.
    if let Some(p) = data_file(LINX_V6) {
        let r = load_routes(p, &LoadOptions::default()).unwrap();
        let max = r.v6.iter().map(|r| r.1).max().unwrap();
        assert_eq!(max, 93);
    }
}

#[test]
fn mrt_table_dump() {
    check(
        MRT_2002,
        LoadOptions::default(),
        TableFormat::Mrt,
        112_988,
        0,
    );
}

#[test]
fn update_trace() {
    let Some(p) = data_file(LINX_UPDATES) else {
        return;
    };
    let u = load_updates(p).unwrap();
    assert_eq!(u.len(), 23_446);
    assert_eq!(u.iter().filter(|u| u.next_hop.is_some()).count(), 18_141);
    let mut prefixes: Vec<_> = u.iter().map(|u| u.prefix).collect();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), 3_551);
    assert!(u.windows(2).all(|w| w[0].time <= w[1].time));
    // A table is not an update trace and vice versa.
    if let Some(t) = data_file(LINX_V6) {
        assert!(load_updates(t).is_err());
    }
}
