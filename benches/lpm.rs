//! LPM benchmark (WIP harness).
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Instant;

use ferroute::lpm::load::{load_routes, LoadOptions};
use ferroute::lpm::{Ipv4Table, Ipv6Table};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn data(name: &str) -> PathBuf {
    let root = std::env::var_os("FERROUTE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    root.join("data").join(name)
}

/// M lookups/s: the fastest of many ~1 ms windows (the machine is shared;
/// the fastest window is the one nobody preempted).
fn rate<T>(trace: &[T], f: impl Fn(&[T]) -> u64) -> f64 {
    const W: usize = 1 << 17;
    let mut best = f64::MAX;
    for _ in 0..6 {
        for w in trace.chunks(W) {
            let t = Instant::now();
            black_box(f(w));
            best = best.min(t.elapsed().as_secs_f64() / w.len() as f64);
        }
    }
    1.0 / best / 1e6
}

fn main() {
    let r = load_routes(
        data("caida-routeviews-rv2-20240406.pfx2as.gz"),
        &LoadOptions::default(),
    )
    .unwrap();
    let t0 = Instant::now();
    let t: Ipv4Table = r.v4.iter().copied().collect();
    println!(
        "v4 build {:.3}s, lookup mem {} B ({:.2} MiB), stats {:?}",
        t0.elapsed().as_secs_f64(),
        t.lookup_memory_bytes(),
        t.lookup_memory_bytes() as f64 / 1048576.0,
        t.stats()
    );
    let mut rng = Rng(42);
    const N: usize = 1 << 22;
    let uniform: Vec<Ipv4Addr> = (0..N).map(|_| Ipv4Addr::from(rng.next() as u32)).collect();
    let inside: Vec<Ipv4Addr> = (0..N)
        .map(|_| {
            let (p, _) = r.v4[(rng.next() % r.v4.len() as u64) as usize];
            let host = (rng.next() as u32) & !u32::from(p.netmask());
            Ipv4Addr::from(u32::from(p.network()) | host)
        })
        .collect();
    for (name, tr) in [("uniform", &uniform), ("inside", &inside)] {
        let single = rate(tr, |tr| {
            tr.iter().map(|&a| t.lookup(a).unwrap_or(0) as u64).sum()
        });
        let batched = rate(tr, |tr| {
            let mut out = [None; 64];
            let mut s = 0u64;
            for c in tr.chunks(64) {
                t.lookup_batch(c, &mut out);
                s += out.iter().map(|o| o.unwrap_or(0) as u64).sum::<u64>();
            }
            s
        });
        println!("v4 {name}: single {single:.1} M/s, batch {batched:.1} M/s");
    }
    let o = LoadOptions { min_peers: 10, ..LoadOptions::default() };
    let r6 = load_routes(data("ripe-ris-riswhoisdump-IPv6-20241220.gz"), &o).unwrap();
    let t0 = Instant::now();
    let t6: Ipv6Table = r6.v6.iter().copied().collect();
    println!(
        "v6 build {:.3}s, lookup mem {:.2} MiB, stats {:?}",
        t0.elapsed().as_secs_f64(),
        t6.lookup_memory_bytes() as f64 / 1048576.0,
        t6.stats()
    );
    let inside6: Vec<Ipv6Addr> = (0..N)
        .map(|_| {
            let (p, _) = r6.v6[(rng.next() % r6.v6.len() as u64) as usize];
            let host = ((rng.next() as u128) << 64 | rng.next() as u128) & !u128::from(p.netmask());
            Ipv6Addr::from(u128::from(p.network()) | host)
        })
        .collect();
    let single = rate(&inside6, |tr| {
        tr.iter().map(|&a| t6.lookup(a).unwrap_or(0) as u64).sum()
    });
    let batched = rate(&inside6, |tr| {
        let mut out = [None; 64];
        let mut s = 0u64;
        for c in tr.chunks(64) {
            t6.lookup_batch(c, &mut out);
            s += out.iter().map(|o| o.unwrap_or(0) as u64).sum::<u64>();
        }
        s
    });
    println!("v6 inside: single {single:.1} M/s, batch {batched:.1} M/s");
}
