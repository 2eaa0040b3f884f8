//! The BGP file input driven by bytes and clock ticks alone.

use std::cell::Cell;
use std::path::Path;

use super::*;
use crate::control::bgp::speaker::REGISTRATION;
use crate::control::bgp::ResolveWith;
use crate::control::protocol::frozen_clock;
use crate::control::protocol::{ProtocolConfig, ProtocolInput};
use crate::control::rib::notify::SourceFilter;
use crate::control::rib::route::Via;

fn config(table: &str) -> ProtocolConfig {
    let bgp = BgpConfig {
        local_as: 65000,
        always_compare_med: false,
        multipath: false,
        mrt: Vec::new(),
        tables: vec![BgpTableConfig {
            file: table.into(),
            peer: "192.0.2.2".parse().unwrap(),
            peer_as: 65001,
        }],
        peers: Vec::new(),
        redistribute: Vec::new(),
    };
    ProtocolConfig::new("192.0.2.1".parse().unwrap(), Vec::new()).with_section(NAME, bgp)
}

const TABLE: &str = "10.0.0.0/8\t64500\n198.18.4.0/24\t64501\n2001:db8::/32\t64502\n";

fn file<'a>(bytes: &'a str) -> ProtocolInput<'a> {
    ProtocolInput::File {
        path: Path::new("t.txt"),
        bytes: bytes.as_bytes(),
    }
}

#[test]
fn the_table_is_decided_once_every_file_is_in_and_follows_next_hop_reachability() {
    let reachable = Cell::new(true);
    let rib =
        ResolveWith(|a: IpAddr| (reachable.get() && a.to_string() == "192.0.2.2").then_some(0));
    let t0 = frozen_clock();
    let config = config("t.txt");
    let mut bgp = (REGISTRATION.create)(&config).expect("configured");
    let files = bgp.reconfigure(t0, &config).unwrap().files;
    assert_eq!(files, [Path::new("t.txt")]);
    assert_eq!(bgp.poll_timeout(), None, "waits for its file");
    bgp.handle_input(t0, file(TABLE), &rib).unwrap();
    assert_eq!(bgp.poll_timeout(), Some(t0));
    assert_eq!(bgp.poll_route(), None, "nothing before the decision");
    bgp.handle_timeout(t0, &rib);
    let Some(RouteOutput::ReplaceTable(ebgp)) = bgp.poll_route() else {
        panic!("the eBGP table first");
    };
    assert_eq!(ebgp.source, RouteSource::EBGP);
    let mut prefixes: Vec<String> = ebgp.routes.iter().map(|r| r.prefix.to_string()).collect();
    prefixes.sort();
    // The IPv6 prefix is skipped: the peer's next hop is IPv4.
    assert_eq!(prefixes, ["10.0.0.0/8", "198.18.4.0/24"]);
    let peer = Via::Recursive {
        address: "192.0.2.2".parse().unwrap(),
    };
    assert_eq!(ebgp.path_lists, [vec![peer]]);
    let Some(RouteOutput::ReplaceTable(ibgp)) = bgp.poll_route() else {
        panic!("then the iBGP table");
    };
    assert_eq!((ibgp.source, ibgp.routes.len()), (RouteSource::IBGP, 0));
    assert_eq!((bgp.poll_route(), bgp.poll_timeout()), (None, None));

    let why = bgp
        .handle_command(t0, "routes 10.1.2.3", &rib)
        .unwrap()
        .unwrap();
    assert!(
        why["text"].as_str().unwrap().contains("10.0.0.0/8"),
        "{why}"
    );
    assert!(bgp.handle_command(t0, "routes 172.16.0.1", &rib).is_none());

    // A change of non-BGP routes: the next hop is gone, both prefixes go.
    reachable.set(false);
    let change = [BestRouteChange::SourceReplaced {
        source: RouteSource::LINK_STATE,
    }];
    bgp.handle_rib_changes(t0, &change, &rib);
    let mut withdrawn = Vec::new();
    while let Some(output) = bgp.poll_route() {
        match output {
            RouteOutput::Update {
                source,
                prefix,
                route: None,
            } => withdrawn.push((source, prefix.to_string())),
            other => panic!("{other:?}"),
        }
    }
    withdrawn.sort();
    assert_eq!(withdrawn.len(), 4, "{withdrawn:?}");
    assert!(withdrawn.contains(&(RouteSource::EBGP, "10.0.0.0/8".to_string())));
    assert!(withdrawn.contains(&(RouteSource::IBGP, "198.18.4.0/24".to_string())));
    // Nothing changed since: nothing to do.
    bgp.handle_rib_changes(t0, &change, &rib);
    assert_eq!(bgp.poll_route(), None);

    let shown = bgp.handle_command(t0, "bgp", &rib).unwrap().unwrap();
    assert_eq!(shown["inputs"][0]["routes"], 2);
    assert_eq!(shown["inputs"][0]["skipped"], 1);
    assert!(bgp.handle_command(t0, "linkstate", &rib).is_none());
    assert_eq!(
        bgp.subscription(),
        SourceFilter::all_except(&[RouteSource::EBGP, RouteSource::IBGP])
    );
}

#[test]
fn a_malformed_table_or_an_unexpected_file_is_refused() {
    let rib = ResolveWith(|_| Some(0));
    let t0 = frozen_clock();
    let config = config("t.txt");
    let mut bgp = (REGISTRATION.create)(&config).unwrap();
    bgp.reconfigure(t0, &config).unwrap();
    let err = bgp
        .handle_input(t0, file("10.0.0.0/8\t1\n198.18.4.0/33\t2\n"), &rib)
        .unwrap_err();
    assert!(
        err.starts_with("bgp.table: t.txt: line 2: bad prefix \"198.18.4.0/33\""),
        "{err}"
    );
    assert_eq!(bgp.poll_timeout(), None, "no decision after a refused file");
    let other = ProtocolInput::File {
        path: Path::new("other.txt"),
        bytes: TABLE.as_bytes(),
    };
    assert!(bgp.handle_input(t0, other, &rib).is_err());
}
