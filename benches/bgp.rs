//! BGP: time from a 1 M-route pfx2as file to the Loc-RIB's routes (what the
//! RIB publishes first), and the LINX one-hour update trace applied over that
//! table (updates/s through Adj-RIB-In + decision + change report), and
//! the table's peer lost (every route withdrawn, as when its session drops).
//!
//! Not included: the RIB merge and FIB build/publication (the RIB's
//! benchmark), and next-hop resolution cost: the resolver here answers from a
//! closure (every next hop reachable, cost by last octet), where the RIB's
//! does an LPM lookup.
//!
//! Plain timing (no criterion): each phase runs once per round, 3 rounds,
//! and the median round is reported. Data: `$FERROUTE_DATA/data`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferroute::control::bgp::table::{table_updates, trace_update};
use ferroute::control::bgp::{BgpRib, DecisionConfig, Peer, ResolveWith, RouteChange};
use ferroute::tables::{load_routes, load_updates, LoadOptions};
use ferroute::testkit::data_file;

const TABLE: &str = "caida-routeviews-rv2-20240406.pfx2as.gz";
const TRACE: &str = "linx-update.20141217.0000-p52.txt.gz";
const LOCAL_AS: u32 = 64512;
const TRACE_REPEATS: usize = 20;

fn cost(a: IpAddr) -> Option<u32> {
    Some(match a {
        IpAddr::V4(v) => u32::from(v.octets()[3] % 4),
        IpAddr::V6(v) => u32::from(v.octets()[15] % 4),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Round {
    parse: Duration,
    convert: Duration,
    apply: Duration,
    collect: Duration,
    trace: Duration,
    trace_apply_only: Duration,
    trace_updates: usize,
    trace_changes: usize,
    prefixes: usize,
    /// The table's peer lost (its session down): every route withdrawn.
    clear: Duration,
    cleared: usize,
}

fn round(table: &PathBuf, trace: &PathBuf) -> Round {
    let resolver = ResolveWith(cost);
    let t = Instant::now();
    let routes = load_routes(table, &LoadOptions::default()).expect("table");
    let parse = t.elapsed();

    let mut rib = BgpRib::new(DecisionConfig::default());
    let table_peer = rib
        .add_peer(Peer::new(
            "192.0.2.1".parse().unwrap(),
            64496,
            "192.0.2.1".parse().unwrap(),
            LOCAL_AS,
        ))
        .unwrap();
    let t = Instant::now();
    let updates = table_updates(&mut rib, table_peer, &routes);
    let convert = t.elapsed();
    let t = Instant::now();
    for u in updates {
        rib.apply(u, &resolver).expect("apply");
    }
    let apply = t.elapsed();
    let t = Instant::now();
    let first: Vec<_> = rib.selected_routes().collect();
    let collect = t.elapsed();
    let prefixes = first.len();
    drop(first);

    // The trace as a second eBGP peer's updates, converted (attributes
    // interned) and applied one by one, as a live session would.
    let trace_lines = load_updates(trace).expect("trace");
    let linx = rib
        .add_peer(Peer::new(
            "192.0.2.52".parse().unwrap(),
            5459,
            "192.0.2.52".parse().unwrap(),
            LOCAL_AS,
        ))
        .unwrap();
    let mut changes = 0;
    let t = Instant::now();
    for _ in 0..TRACE_REPEATS {
        for line in &trace_lines {
            let u = trace_update(&mut rib, linx, line);
            if rib.apply(u, &resolver).expect("apply") != RouteChange::Unchanged {
                changes += 1;
            }
        }
    }
    let trace_time = t.elapsed();
    // Apply only: the same updates pre-converted.
    let pre: Vec<_> = trace_lines
        .iter()
        .map(|l| trace_update(&mut rib, linx, l))
        .collect();
    let t = Instant::now();
    for _ in 0..TRACE_REPEATS {
        for u in &pre {
            rib.apply(u.clone(), &resolver).expect("apply");
        }
    }
    let trace_apply_only = t.elapsed();
    let mut cleared = 0;
    let t = Instant::now();
    rib.clear_peer(table_peer, &resolver, |_| cleared += 1)
        .expect("clear");
    let clear = t.elapsed();
    Round {
        parse,
        convert,
        apply,
        collect,
        trace: trace_time,
        trace_apply_only,
        trace_updates: trace_lines.len() * TRACE_REPEATS,
        trace_changes: changes,
        prefixes,
        clear,
        cleared,
    }
}

fn main() {
    let (Some(table), Some(trace)) = (data_file(TABLE), data_file(TRACE)) else {
        return;
    };
    let mut rounds: Vec<Round> = (0..3).map(|_| round(&table, &trace)).collect();
    rounds.sort_by_key(|r| r.parse + r.convert + r.apply + r.collect);
    let r = &rounds[1];
    let total = r.parse + r.convert + r.apply + r.collect;
    println!(
        "bgp/full-table ({TABLE}, {} prefixes, median of 3):",
        r.prefixes
    );
    println!("  parse pfx2as (tables)        {:8.1} ms", ms(r.parse));
    println!("  to BgpUpdates (intern attrs)    {:8.1} ms", ms(r.convert));
    println!("  apply (Adj-RIB-In + decision)   {:8.1} ms", ms(r.apply));
    println!("  selected RibRoutes              {:8.1} ms", ms(r.collect));
    println!("  file -> first RibRoute set      {:8.1} ms", ms(total));
    rounds.sort_by_key(|r| r.trace);
    let r = &rounds[1];
    println!(
        "bgp/linx-trace ({} updates = {TRACE_REPEATS} x trace, {} reported changes):",
        r.trace_updates, r.trace_changes
    );
    println!(
        "  convert + apply                 {:8.0} updates/s ({:.0} ns/update)",
        r.trace_updates as f64 / r.trace.as_secs_f64(),
        r.trace.as_nanos() as f64 / r.trace_updates as f64
    );
    println!(
        "  apply only                      {:8.0} updates/s ({:.0} ns/update)",
        r.trace_updates as f64 / r.trace_apply_only.as_secs_f64(),
        r.trace_apply_only.as_nanos() as f64 / r.trace_updates as f64
    );
    rounds.sort_by_key(|r| r.clear);
    let r = &rounds[1];
    println!("bgp/session-down (the table's peer cleared after the trace):");
    println!(
        "  clear peer                      {:8.1} ms ({} changes)",
        ms(r.clear),
        r.cleared
    );
}
