//! FIB publication benchmark: a full table from a pfx2as file through the
//! RIB to a first published FIB, and the LINX update trace applied through
//! RIB + FIB update + coalesced publication over that table.
//!
//! * `cargo bench --bench fib` runs the criterion groups.
//! * `FIB_REPORT=1 cargo bench --bench fib` prints the numbers that go into
//!   README.md (best of 3 runs each); `FIB_REPORT=bgp` only the configured
//!   BGP path below.
//!
//! Two ways in: the table fed straight into the RIB as eBGP routes (no BGP
//! decision), and the configured path the daemon takes: a config with the
//! table as `[[bgp.table]]` → `Engine::new` (parse, Adj-RIB-In, decision,
//! RIB) → the first neighbour dump (`set_neighbors`, the BGP peer resolved)
//! → the first publication, timed phase by phase.
//!
//! Setup: the router sits on the LINX peering LAN (195.66.224.0/22, where
//! every next hop of the trace lives), with a resolved neighbour for each
//! of the 64 next hops the full table's routes are spread over (hash of the
//! origin AS, as `tables` assigns them); every BGP route is eBGP with a
//! recursive next hop, resolved through the connected LAN.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use ferroute::config::Config;
use ferroute::control::engine::{Engine, LoadPhases};
use ferroute::control::rib::inputs::connected_routes;
use ferroute::control::rib::route::{AdminDistances, RibRoute, RouteSource, Via};
use ferroute::control::rib::{FibPublisher, Rib};
use ferroute::control::SYSTEM_HOST;
use ferroute::fib::{ConnectedPort, Fib, FibHandle, StaticNeighbor};
use ferroute::tables::{load_routes, load_updates, LoadOptions, Update};
use ferroute::testkit::data_file;
use ferroute::wire::MacAddr;
use ipnet::IpNet;

const TABLE: &str = "caida-routeviews-rv2-20240406.pfx2as.gz";
const TRACE: &str = "linx-update.20141217.0000-p52.txt.gz";
const WINDOW: Duration = Duration::from_millis(50);
/// The `[[bgp.table]]` peer of the configured path, on port p0's subnet.
const BGP_PEER: &str = "192.0.2.2";

fn lan_port() -> Vec<ConnectedPort> {
    vec![ConnectedPort {
        id: 0,
        addresses: vec!["195.66.224.1/22".parse().unwrap()],
    }]
}

fn next_hop(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(195, 66, 224, 10 + i as u8))
}

/// A neighbour for every next hop of the table and of the trace.
fn neighbors(trace: &[Update]) -> Vec<StaticNeighbor> {
    let mut addrs: Vec<IpAddr> = (0..64).map(next_hop).collect();
    addrs.extend(trace.iter().filter_map(|u| u.next_hop));
    addrs.sort();
    addrs.dedup();
    addrs
        .into_iter()
        .enumerate()
        .map(|(i, address)| StaticNeighbor {
            address,
            mac: MacAddr([2, 0, 0, 0, (i >> 8) as u8, i as u8]),
            port: 0,
        })
        .collect()
}

fn ebgp(prefix: IpNet, via: IpAddr) -> RibRoute {
    RibRoute {
        prefix,
        source: RouteSource::EBGP,
        metric: 0,
        paths: vec![Via::Recursive { address: via }],
    }
}

/// File → RIB → first published FIB; returns the RIB, publisher and the
/// time it took.
fn full_load(path: &PathBuf, neighbors: &[StaticNeighbor]) -> (Rib, FibPublisher, Duration) {
    let started = Instant::now();
    let routes = load_routes(path, &LoadOptions::default()).expect("table");
    let mut rib = Rib::new(AdminDistances::default());
    rib.set_neighbors(neighbors);
    rib.replace_source(RouteSource::CONNECTED, connected_routes(&lan_port(), &[]));
    let bgp: Vec<RibRoute> = routes
        .v4
        .iter()
        .map(|&(p, nh)| ebgp(IpNet::V4(p), next_hop(nh)))
        .chain(
            routes
                .v6
                .iter()
                .map(|&(p, nh)| ebgp(IpNet::V6(p), next_hop(nh))),
        )
        .collect();
    rib.replace_source(RouteSource::EBGP, bgp);
    let mut publisher =
        FibPublisher::new(FibHandle::new(Fib::default()), WINDOW).with_clock(Instant::now);
    publisher.publish_full(&mut rib);
    let took = started.elapsed();
    (rib, publisher, took)
}

/// The router of the configured path: one port, the table from one eBGP
/// peer on its subnet.
fn bgp_table_config(table: &Path) -> Config {
    let text = format!(
        "[router]\nid = \"192.0.2.1\"\n\
         [[port]]\nname = \"p0\"\nmac = \"02:00:00:00:00:01\"\naddresses = [\"192.0.2.1/24\"]\n\
         [bgp]\nlocal_as = 65000\n\
         [[bgp.table]]\nfile = {:?}\npeer = \"{BGP_PEER}\"\npeer_as = 65010\n",
        table.display().to_string()
    );
    Config::parse(&text, "bench.toml").expect("bench config")
}

/// One run of the configured path, phase by phase.
struct ConfigRun {
    total: Duration,
    /// `Engine::new` as a whole, and the part of it BGP's phases cover.
    routing_new: Duration,
    phases: LoadPhases,
    /// The first neighbour dump handed over (the BGP peer resolved).
    neighbors: Duration,
    fib_build: Duration,
    publish: Duration,
    ipv4: usize,
    ipv6: usize,
    groups: usize,
}

/// Config → `Engine::new` → `set_neighbors` → first publication, as
/// `Control::start` does it (minus the kernel's netlink dump).
fn config_load(config: &Config) -> (Engine, ConfigRun) {
    let started = Instant::now();
    let mut routing = Engine::new(
        &config.control_inputs(),
        FibHandle::new(Fib::default()),
        WINDOW,
        SYSTEM_HOST,
    )
    .expect("Engine::new");
    let routing_new = started.elapsed();
    let t = Instant::now();
    routing.set_neighbors(vec![StaticNeighbor {
        address: BGP_PEER.parse().unwrap(),
        mac: MacAddr([2, 0, 0, 0, 0, 2]),
        port: 0,
    }]);
    let neighbors = t.elapsed();
    routing.publish_now();
    let total = started.elapsed();
    let phases = routing.bgp_phases().expect("[bgp] configured");
    let s = routing.publish_stats();
    let build = Duration::from_micros(s.last_build_us);
    let publish = Duration::from_micros(s.last_publish_us);
    let run = ConfigRun {
        total,
        routing_new,
        phases,
        neighbors,
        fib_build: build.saturating_sub(publish),
        publish,
        ipv4: s.ipv4_prefixes,
        ipv6: s.ipv6_prefixes,
        groups: s.groups,
    };
    (routing, run)
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

/// The configured path three times: every run's phases, and the best.
fn report_config(table: &Path) {
    let config = bgp_table_config(table);
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (routing, run) = config_load(&config);
        // Dropping a million-route RIB is not part of the load.
        drop(routing);
        runs.push(run);
    }
    let r = &runs[0];
    println!(
        "configured path ([[bgp.table]] pfx2as 2024-04 from one eBGP peer on a connected subnet; {} IPv4 + {} IPv6 prefixes, {} groups), ms:",
        r.ipv4, r.ipv6, r.groups
    );
    println!("| run | parse | Adj-RIB-In | decision | RIB | rest of Engine::new | neighbours | FIB build | publish | config -> first publication |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, r) in runs.iter().enumerate() {
        let p = &r.phases;
        let rest = r
            .routing_new
            .saturating_sub(p.parse + p.adj_rib_in + p.decision + p.rib);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | **{}** |",
            i + 1,
            ms(p.parse),
            ms(p.adj_rib_in),
            ms(p.decision),
            ms(p.rib),
            ms(rest),
            ms(r.neighbors),
            ms(r.fib_build),
            ms(r.publish),
            ms(r.total)
        );
    }
    let best = runs.iter().map(|r| r.total).min().expect("three runs");
    println!(
        "configured path, config -> first publication: best of 3 {:.3} s",
        best.as_secs_f64()
    );
}

/// Applies the trace as fast as it goes, publishing once per window (real
/// clock), and a last time at the end. Returns (elapsed, publications).
fn replay(rib: &mut Rib, publisher: &mut FibPublisher, trace: &[Update]) -> (Duration, u64) {
    let before = publisher.stats().publications;
    let started = Instant::now();
    for (i, u) in trace.iter().enumerate() {
        let route = u.next_hop.map(|nh| ebgp(u.prefix, nh));
        rib.update(RouteSource::EBGP, u.prefix, route.as_ref());
        // The control loop looks at the clock once per batch of updates.
        if i % 64 == 63 {
            publisher.poll(rib, Instant::now());
        }
    }
    if rib.has_changes() {
        publisher.publish_now(rib);
    }
    (started.elapsed(), publisher.stats().publications - before)
}

fn report(table: &PathBuf, trace: &[Update], neighbors: &[StaticNeighbor]) {
    let mut best_load = Duration::MAX;
    let mut loaded = None;
    for _ in 0..3 {
        let (rib, publisher, took) = full_load(table, neighbors);
        best_load = best_load.min(took);
        loaded = Some((rib, publisher));
    }
    let (rib, publisher) = loaded.expect("three runs");
    let stats = publisher.stats().clone();
    println!(
        "full table (pfx2as 2024-04, {} IPv4 + {} IPv6 prefixes, {} groups): file -> first publication {:.3} s (best of 3); FIB heap {:.1} MB",
        stats.ipv4_prefixes,
        stats.ipv6_prefixes,
        stats.groups,
        best_load.as_secs_f64(),
        stats.memory_bytes as f64 / 1e6
    );
    let started = Instant::now();
    let copy = black_box(publisher.tables().0.lookup_copy());
    println!(
        "lookup-only copy of the 1M IPv4 trie (what a publication with IPv4 changes pays): {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(copy);
    let mut best = (Duration::MAX, 0);
    for _ in 0..3 {
        let mut rib = rib.clone();
        let mut publisher = publisher.fork();
        let run = replay(&mut rib, &mut publisher, trace);
        if run.0 < best.0 {
            best = run;
        }
    }
    println!(
        "LINX trace ({} updates) over the full table through RIB + FIB + publication: {:.3} s, {:.0} updates/s, {} publications (best of 3)",
        trace.len(),
        best.0.as_secs_f64(),
        trace.len() as f64 / best.0.as_secs_f64(),
        best.1
    );
    // Sustained: one publication per 1000 updates (as a stream of 20k
    // updates/s would get with a 50 ms window), so the per-publication
    // copies, not one final publication, carry the load.
    let mut rib = rib.clone();
    let mut publisher = publisher.fork();
    let (mut total_us, mut max_us, mut n) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for chunk in trace.chunks(1000) {
        for u in chunk {
            let route = u.next_hop.map(|nh| ebgp(u.prefix, nh));
            rib.update(RouteSource::EBGP, u.prefix, route.as_ref());
        }
        publisher.publish_now(&mut rib);
        let us = publisher.stats().last_build_us;
        total_us += us;
        max_us = max_us.max(us);
        n += 1;
    }
    println!(
        "LINX trace with a publication every 1000 updates: {:.0} updates/s, {} publications, build+publish mean {:.2} ms, max {:.2} ms",
        trace.len() as f64 / started.elapsed().as_secs_f64(),
        n,
        total_us as f64 / n as f64 / 1e3,
        max_us as f64 / 1e3
    );
}

fn main() {
    let (Some(table), Some(trace_path)) = (data_file(TABLE), data_file(TRACE)) else {
        return;
    };
    let trace = load_updates(&trace_path).expect("trace");
    let neighbors = neighbors(&trace);
    match std::env::var("FIB_REPORT").as_deref() {
        Ok("bgp") => return report_config(&table),
        Ok(_) => {
            report(&table, &trace, &neighbors);
            return report_config(&table);
        }
        Err(_) => {}
    }
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let mut g = c.benchmark_group("fib");
    g.measurement_time(Duration::from_secs(20));
    // Timed from reading the file to the first publication; dropping the
    // RIB afterwards is not part of it.
    g.bench_function("pfx2as_to_first_publication", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| full_load(&table, &neighbors).2).sum())
    });
    let config = bgp_table_config(&table);
    g.bench_function("bgp_table_config_to_first_publication", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (routing, run) = config_load(&config);
                    drop(routing);
                    run.total
                })
                .sum()
        })
    });
    let (rib, publisher, _) = full_load(&table, &neighbors);
    g.throughput(Throughput::Elements(trace.len() as u64));
    g.bench_function("linx_trace_rib_fib_publish", |b| {
        b.iter_batched(
            || (rib.clone(), publisher.fork()),
            // Returned, so that criterion drops the million-route RIB
            // outside the timed part.
            |(mut rib, mut publisher)| {
                let run = black_box(replay(&mut rib, &mut publisher, &trace));
                (rib, publisher, run)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    c.final_summary();
}
