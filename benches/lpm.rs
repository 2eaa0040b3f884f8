//! LPM benchmark: ferroute's trie (single and batched lookups) against the
//! Rust peers `prefix-trie`, `poptrie` and `ip_network_table` (treebitmap),
//! on the same real tables and the same address traces.
//!
//! * `cargo bench --bench lpm` runs the criterion groups `v4/<trace>` and
//!   `v6/<trace>` (one benchmark per contender, throughput in addresses).
//! * `LPM_REPORT=1 cargo bench --bench lpm` prints instead the markdown table
//!   that goes into README.md: lookups/s per trace (the fastest of many ~1 ms
//!   windows, which filters out the other processes of a shared machine),
//!   ratios to the best peer, build time and heap bytes per table (ours:
//!   the whole table built, then its lookup-only copy, which is what is
//!   timed and what stays on the heap), and the
//!   update rate of the LINX trace over the full IPv4 table.
//!   `LPM_REPORT=updates` prints the update rate only.
//!
//! Tables: IPv4 = CAIDA pfx2as 2024-04 (998,042 routes), IPv6 = RIS
//! 2024-12 seen by ≥ 10 peers (228,726); 64 next hops (hash of origin AS).
//! Traces: uniform random addresses (IPv6: inside 2000::/3), a random
//! address inside a random table prefix, and sequential addresses (runs of
//! 4096 from the starts of random table prefixes).

use std::alloc::System;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use criterion::{Criterion, Throughput};
use ferroute::lpm::{Ipv4Table, Ipv6Table, MaybeNextHop, NextHopId};
use ferroute::tables::load_updates;
use ip_network_table::IpNetworkTable;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

mod common;

use common::lpm::{load_tables, v4_traces, v6_traces, Traces, UPDATES};
use ferroute::testkit::data_file;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Addresses per batch handed to `lookup_batch` (the data plane's vector).
const BATCH: usize = 64;

/// One contender: builds from routes, sums next hops over addresses (a miss
/// counts 0), which every contender must agree on.
trait Contender<N, A>: Sized {
    const NAME: &'static str;
    fn build(routes: &[(N, NextHopId)]) -> Self;
    fn sum(&self, addrs: &[A]) -> u64;
}

struct Ours<T>(T);
struct OursBatch<T>(T);
struct PrefixTrie<N: prefix_trie::Prefix>(prefix_trie::PrefixMap<N, NextHopId>);
struct PopTrie<N: poptrie::Prefix>(poptrie::Poptrie<N, NextHopId>);
struct IpNetTable(IpNetworkTable<NextHopId>);

macro_rules! contenders {
    ($net:ty, $addr:ty, $table:ty, $to_network:expr, $longest:ident) => {
        impl Contender<$net, $addr> for Ours<$table> {
            const NAME: &'static str = "ferroute (single)";
            // What workers read: the lookup-only copy the control plane
            // publishes (for IPv4 a packed one), made from the whole table.
            fn build(routes: &[($net, NextHopId)]) -> Self {
                Ours(routes.iter().copied().collect::<$table>().lookup_copy())
            }
            fn sum(&self, addrs: &[$addr]) -> u64 {
                addrs
                    .iter()
                    .map(|&a| self.0.lookup(a).map_or(0, u64::from))
                    .sum()
            }
        }
        impl Contender<$net, $addr> for OursBatch<$table> {
            const NAME: &'static str = "ferroute (batch 64)";
            fn build(routes: &[($net, NextHopId)]) -> Self {
                OursBatch(routes.iter().copied().collect::<$table>().lookup_copy())
            }
            fn sum(&self, addrs: &[$addr]) -> u64 {
                let mut out = [MaybeNextHop::NONE; BATCH];
                let mut s = 0;
                for c in addrs.chunks(BATCH) {
                    self.0.lookup_batch(c, &mut out);
                    s += out[..c.len()]
                        .iter()
                        .map(|o| o.get().map_or(0, u64::from))
                        .sum::<u64>();
                }
                s
            }
        }
        impl Contender<$net, $addr> for PrefixTrie<$net> {
            const NAME: &'static str = "prefix-trie 0.10";
            fn build(routes: &[($net, NextHopId)]) -> Self {
                let mut m = prefix_trie::PrefixMap::new();
                for &(p, nh) in routes {
                    m.insert(p, nh);
                }
                PrefixTrie(m)
            }
            fn sum(&self, addrs: &[$addr]) -> u64 {
                addrs
                    .iter()
                    .map(|&a| {
                        self.0
                            .get_lpm(&<$net>::from(a))
                            .map_or(0, |(_, &v)| u64::from(v))
                    })
                    .sum()
            }
        }
        impl Contender<$net, $addr> for PopTrie<$net> {
            const NAME: &'static str = "poptrie 0.2";
            fn build(routes: &[($net, NextHopId)]) -> Self {
                PopTrie(routes.iter().copied().collect())
            }
            fn sum(&self, addrs: &[$addr]) -> u64 {
                addrs
                    .iter()
                    .map(|&a| self.0.lookup(a).map_or(0, |&v| u64::from(v)))
                    .sum()
            }
        }
        impl Contender<$net, $addr> for IpNetTable {
            const NAME: &'static str = "ip_network_table 0.2";
            fn build(routes: &[($net, NextHopId)]) -> Self {
                let mut t = IpNetworkTable::new();
                for &(p, nh) in routes {
                    t.insert($to_network(p), nh);
                }
                IpNetTable(t)
            }
            fn sum(&self, addrs: &[$addr]) -> u64 {
                addrs
                    .iter()
                    .map(|&a| self.0.$longest(a).map_or(0, |(_, &v)| u64::from(v)))
                    .sum()
            }
        }
    };
}

contenders!(
    Ipv4Net,
    Ipv4Addr,
    Ipv4Table,
    |p: Ipv4Net| ip_network::Ipv4Network::new(p.network(), p.prefix_len()).expect("truncated"),
    longest_match_ipv4
);
contenders!(
    Ipv6Net,
    Ipv6Addr,
    Ipv6Table,
    |p: Ipv6Net| ip_network::Ipv6Network::new(p.network(), p.prefix_len()).expect("truncated"),
    longest_match_ipv6
);

// ---- criterion mode --------------------------------------------------------

fn bench_family<N, A: Copy>(
    c: &mut Criterion,
    family: &str,
    routes: &[(N, NextHopId)],
    traces: &Traces<A>,
    run: impl Fn(&mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, &[A]),
) {
    let _ = routes;
    for (trace, addrs) in traces.named() {
        let mut g = c.benchmark_group(format!("{family}/{trace}"));
        g.throughput(Throughput::Elements(addrs.len() as u64));
        g.sample_size(20);
        g.warm_up_time(std::time::Duration::from_millis(500));
        g.measurement_time(std::time::Duration::from_secs(2));
        run(&mut g, addrs);
        g.finish();
    }
}

fn one<N, A, C: Contender<N, A>>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    c: &C,
    addrs: &[A],
) {
    g.bench_function(C::NAME, |b| b.iter(|| black_box(c.sum(black_box(addrs)))));
}

fn criterion_main(v4: &[(Ipv4Net, NextHopId)], v6: &[(Ipv6Net, NextHopId)]) {
    let mut c = Criterion::default().configure_from_args();
    let t4 = v4_traces(v4, 1 << 16);
    let (a, b, p, q, r) = (
        Ours::<Ipv4Table>::build(v4),
        OursBatch::<Ipv4Table>::build(v4),
        <PrefixTrie<Ipv4Net> as Contender<Ipv4Net, Ipv4Addr>>::build(v4),
        <PopTrie<Ipv4Net> as Contender<Ipv4Net, Ipv4Addr>>::build(v4),
        <IpNetTable as Contender<Ipv4Net, Ipv4Addr>>::build(v4),
    );
    bench_family(&mut c, "v4", v4, &t4, |g, addrs| {
        one(g, &a, addrs);
        one(g, &b, addrs);
        one(g, &p, addrs);
        one(g, &q, addrs);
        one::<Ipv4Net, Ipv4Addr, _>(g, &r, addrs);
    });
    let t6 = v6_traces(v6, 1 << 16);
    let (a, b, p, q, r) = (
        Ours::<Ipv6Table>::build(v6),
        OursBatch::<Ipv6Table>::build(v6),
        <PrefixTrie<Ipv6Net> as Contender<Ipv6Net, Ipv6Addr>>::build(v6),
        <PopTrie<Ipv6Net> as Contender<Ipv6Net, Ipv6Addr>>::build(v6),
        <IpNetTable as Contender<Ipv6Net, Ipv6Addr>>::build(v6),
    );
    bench_family(&mut c, "v6", v6, &t6, |g, addrs| {
        one(g, &a, addrs);
        one(g, &b, addrs);
        one(g, &p, addrs);
        one(g, &q, addrs);
        one::<Ipv6Net, Ipv6Addr, _>(g, &r, addrs);
    });
    c.final_summary();
}

fn main() {
    let Some((v4, v6)) = load_tables() else {
        return;
    };
    if std::env::var_os("LPM_REPORT").is_some_and(|v| v == "updates") {
        report::updates(&v4);
    } else if std::env::var_os("LPM_REPORT").is_some() {
        report::run(&v4, &v6);
    } else {
        criterion_main(&v4, &v6);
    }
}

/// The README table: fastest-window rates, ratios, build time, heap bytes,
/// and the update rate.
mod report {
    use super::*;

    /// Round-robin passes over each trace, and repeats of builds and of the
    /// update run; the fastest is kept (a busy machine only ever adds time).
    const ROUNDS: usize = 10;
    const REPEATS: usize = 5;

    /// Seconds per lookup of the fastest window of `addrs`; windows are
    /// short (8192 addresses: ≤ 1 ms for the slowest peer) so that some
    /// escape preemption even on a busy machine.
    fn best_window<A>(addrs: &[A], f: &dyn Fn(&[A]) -> u64) -> f64 {
        const W: usize = 1 << 13;
        let mut best = f64::MAX;
        for w in addrs.chunks(W) {
            let t = Instant::now();
            black_box(f(w));
            best = best.min(t.elapsed().as_secs_f64() / w.len() as f64);
        }
        best
    }

    struct Row {
        name: &'static str,
        peer: bool,
        rates: [f64; 3],
        sums: [u64; 3],
        build_s: f64,
        heap: usize,
    }

    /// A built contender: its row and its lookup loop.
    type Built<'a, A> = (Row, Box<dyn Fn(&[A]) -> u64 + 'a>);

    fn build<'a, N, A: Copy, C: Contender<N, A> + 'a>(
        routes: &[(N, NextHopId)],
        peer: bool,
    ) -> Built<'a, A> {
        let mut build_s = f64::MAX;
        for _ in 0..REPEATS {
            let t = Instant::now();
            let c = C::build(routes);
            build_s = build_s.min(t.elapsed().as_secs_f64());
            drop(black_box(c));
        }
        let region = Region::new(GLOBAL);
        let c = C::build(routes);
        let stats = region.change();
        let heap = stats
            .bytes_allocated
            .saturating_sub(stats.bytes_deallocated);
        let row = Row {
            name: C::NAME,
            peer,
            rates: [0.0; 3],
            sums: [0; 3],
            build_s,
            heap,
        };
        (row, Box::new(move |a: &[A]| c.sum(a)))
    }

    /// Rates per trace, contenders measured round-robin so that the load of
    /// a shared machine falls on all of them alike; each keeps its best.
    fn measure<A: Copy>(built: &mut [Built<'_, A>], traces: &Traces<A>) {
        for (i, (_, addrs)) in traces.named().iter().enumerate() {
            let mut best = vec![f64::MAX; built.len()];
            for (k, (row, f)) in built.iter_mut().enumerate() {
                row.sums[i] = f(addrs);
                best[k] = best_window(addrs, &**f);
            }
            for _ in 0..ROUNDS {
                for (k, (_, f)) in built.iter().enumerate() {
                    best[k] = best[k].min(best_window(addrs, &**f));
                }
            }
            for (k, (row, _)) in built.iter_mut().enumerate() {
                row.rates[i] = 1e-6 / best[k];
            }
        }
    }

    fn table(title: &str, rows: &[Row], ours_lookup_bytes: usize) {
        let best_peer = |i: usize| {
            rows.iter()
                .filter(|r| r.peer)
                .map(|r| r.rates[i])
                .fold(0.0, f64::max)
        };
        for i in 0..3 {
            if rows.iter().any(|r| r.sums[i] != rows[0].sums[i]) {
                println!("**WARNING: contenders disagree on trace {i}**");
            }
        }
        println!("\n#### {title}\n");
        println!("| structure | uniform | inside prefixes | sequential | build | heap |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in rows {
            let cell = |i: usize| {
                let ratio = r.rates[i] / best_peer(i);
                if r.peer {
                    format!("{:.1} M/s", r.rates[i])
                } else {
                    format!("**{:.1} M/s ({ratio:.1}×)**", r.rates[i])
                }
            };
            let heap = if r.peer {
                format!("{:.1} MiB", r.heap as f64 / 1048576.0)
            } else {
                // Ours is the published copy (`lookup_copy`): what is not
                // lookup structure is its code table and struct, not the
                // control side's record (that table is built and dropped).
                format!(
                    "{:.2} MiB lookup + {:.1} MiB rest of the copy",
                    ours_lookup_bytes as f64 / 1048576.0,
                    (r.heap.saturating_sub(ours_lookup_bytes)) as f64 / 1048576.0
                )
            };
            println!(
                "| {} | {} | {} | {} | {:.0} ms | {heap} |",
                r.name,
                cell(0),
                cell(1),
                cell(2),
                r.build_s * 1e3
            );
        }
    }

    pub fn updates(v4: &[(Ipv4Net, NextHopId)]) {
        let Some(path) = data_file(UPDATES) else {
            return;
        };
        let trace = load_updates(path).expect("update trace");
        let mut ids = std::collections::HashMap::new();
        let ops: Vec<(Ipv4Net, Option<NextHopId>)> = trace
            .iter()
            .filter_map(|u| match u.prefix {
                IpNet::V4(p) => {
                    let nh = u.next_hop.map(|a| {
                        let next = 64 + ids.len() as NextHopId;
                        *ids.entry(a).or_insert(next)
                    });
                    Some((p, nh))
                }
                IpNet::V6(_) => None,
            })
            .collect();
        let base: Ipv4Table = v4.iter().copied().collect();
        // Every run applies the same updates to the same table, so chunk k
        // does the same work each time: keep each chunk's fastest run.
        const CHUNK: usize = 256;
        let mut chunk_best = vec![f64::MAX; ops.len().div_ceil(CHUNK)];
        let mut after = base.clone();
        for _ in 0..REPEATS {
            let mut t = base.clone();
            for (k, chunk) in ops.chunks(CHUNK).enumerate() {
                let t0 = Instant::now();
                for &(p, nh) in chunk {
                    match nh {
                        Some(nh) => black_box(t.insert(p, nh)),
                        None => black_box(t.remove(p)),
                    };
                }
                chunk_best[k] = chunk_best[k].min(t0.elapsed().as_secs_f64());
            }
            after = t;
        }
        let best: f64 = chunk_best.iter().sum();
        let mut clone_s = f64::MAX;
        for _ in 0..REPEATS {
            let t0 = Instant::now();
            black_box(base.clone());
            clone_s = clone_s.min(t0.elapsed().as_secs_f64());
        }
        let mut compact_s = f64::MAX;
        for _ in 0..REPEATS {
            let mut t = after.clone();
            let t0 = Instant::now();
            t.compact();
            compact_s = compact_s.min(t0.elapsed().as_secs_f64());
        }
        println!("\n#### Updates (LINX one-hour trace over the CAIDA table)\n");
        println!(
            "{} updates applied in {:.1} ms: **{:.2} M updates/s**; holes left: {:.1} KiB \
             (compact: {:.0} ms); publishing a copy (clone of table + record): {:.1} ms",
            ops.len(),
            best * 1e3,
            ops.len() as f64 / best / 1e6,
            after.stats().free_bytes as f64 / 1024.0,
            compact_s * 1e3,
            clone_s * 1e3
        );
    }

    pub fn run(v4: &[(Ipv4Net, NextHopId)], v6: &[(Ipv6Net, NextHopId)]) {
        const N: usize = 1 << 20;
        let t4 = v4_traces(v4, N);
        let ours4: Ipv4Table = v4.iter().copied().collect();
        let mut built = vec![
            build::<_, _, Ours<Ipv4Table>>(v4, false),
            build::<_, _, OursBatch<Ipv4Table>>(v4, false),
            build::<_, _, PrefixTrie<Ipv4Net>>(v4, true),
            build::<_, _, PopTrie<Ipv4Net>>(v4, true),
            build::<Ipv4Net, _, IpNetTable>(v4, true),
        ];
        measure(&mut built, &t4);
        let rows: Vec<Row> = built.into_iter().map(|b| b.0).collect();
        println!(
            "(Ipv4Table::memory_bytes() estimate: {:.1} MiB)",
            ours4.memory_bytes() as f64 / 1048576.0
        );
        table(
            &format!("IPv4, CAIDA 2024-04, {} routes", v4.len()),
            &rows,
            ours4.lookup_memory_bytes(),
        );
        let t6 = v6_traces(v6, N);
        let ours6: Ipv6Table = v6.iter().copied().collect();
        let mut built = vec![
            build::<_, _, Ours<Ipv6Table>>(v6, false),
            build::<_, _, OursBatch<Ipv6Table>>(v6, false),
            build::<_, _, PrefixTrie<Ipv6Net>>(v6, true),
            build::<_, _, PopTrie<Ipv6Net>>(v6, true),
            build::<Ipv6Net, _, IpNetTable>(v6, true),
        ];
        measure(&mut built, &t6);
        let rows: Vec<Row> = built.into_iter().map(|b| b.0).collect();
        table(
            &format!("IPv6, RIS 2024-12 seen by ≥ 10 peers, {} routes", v6.len()),
            &rows,
            ours6.lookup_memory_bytes(),
        );
        updates(v4);
    }
}
