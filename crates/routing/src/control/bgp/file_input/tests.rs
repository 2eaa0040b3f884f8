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
            import: Policy::All,
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
    // Consecutive withdrawals come as one list.
    let Some(RouteOutput::Withdraw { sources, prefixes }) = bgp.poll_route() else {
        panic!("one withdrawal list")
    };
    assert_eq!(bgp.poll_route(), None);
    let mut withdrawn: Vec<_> = prefixes
        .iter()
        .flat_map(|p| sources.iter().map(move |&s| (s, p.to_string())))
        .collect();
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

/// A table's import policy runs on every route as it is loaded: a rejected
/// route is counted and never decided, `set.blackhole` makes the selected
/// route a blackhole (RFC 7999) instead of one through the peer.
#[test]
fn a_file_import_policy_rejects_and_blackholes_routes() {
    use crate::control::bgp::policy::{Action, Changes, Conditions, PrefixEntry, RoutePolicy};
    use crate::fib::Discard;
    use std::sync::Arc;

    let prefix = |p: &str| Conditions {
        prefix: vec![PrefixEntry::new(p.parse().unwrap(), None, None).unwrap()],
        ..Conditions::default()
    };
    let policy = RoutePolicy {
        name: "rtbh".into(),
        terms: vec![
            crate::control::bgp::policy::Term {
                conditions: prefix("10.0.0.0/8"),
                changes: Changes::default(),
                action: Action::Reject,
            },
            crate::control::bgp::policy::Term {
                conditions: prefix("198.18.4.0/24"),
                changes: Changes {
                    blackhole: true,
                    ..Changes::default()
                },
                action: Action::Accept,
            },
        ],
        default_accept: true,
    };
    let mut config = config("t.txt");
    let mut bgp_config: BgpConfig = config.section(NAME).cloned().unwrap();
    bgp_config.tables[0].import = Policy::Named(Arc::new(policy));
    config = config.with_section(NAME, bgp_config);
    let rib = ResolveWith(|_| Some(0));
    let t0 = frozen_clock();
    let mut bgp = (REGISTRATION.create)(&config).unwrap();
    bgp.reconfigure(t0, &config).unwrap();
    let table = "10.0.0.0/8\t1\n198.18.4.0/24\t2\n198.18.5.0/24\t3\n2001:db8::/32\t4\n";
    bgp.handle_input(t0, file(table), &rib).unwrap();
    bgp.handle_timeout(t0, &rib);
    let Some(RouteOutput::ReplaceTable(ebgp)) = bgp.poll_route() else {
        panic!("the eBGP table first");
    };
    let mut routes: Vec<(String, Vec<Via>)> = ebgp
        .routes
        .iter()
        .map(|r| {
            let paths = ebgp.path_lists[r.paths as usize].clone();
            (r.prefix.to_string(), paths)
        })
        .collect();
    routes.sort_by(|a, b| a.0.cmp(&b.0));
    let peer = Via::Recursive {
        address: "192.0.2.2".parse().unwrap(),
    };
    let blackhole = Via::Discard {
        action: Discard::Blackhole,
    };
    assert_eq!(
        routes,
        [
            ("198.18.4.0/24".to_string(), vec![blackhole]),
            ("198.18.5.0/24".to_string(), vec![peer]),
        ]
    );
    let shown = bgp.handle_command(t0, "bgp", &rib).unwrap().unwrap();
    let input = &shown["inputs"][0];
    assert_eq!(
        (&input["routes"], &input["skipped"], &input["rejected"]),
        (&2.into(), &1.into(), &1.into())
    );
    assert!(
        shown["text"]
            .as_str()
            .unwrap()
            .contains("1 skipped, 1 rejected by import"),
        "{shown}"
    );
}
