//! What the optional stages cost per packet: the pipeline (batched lookups,
//! as the worker runs it) on the full CAIDA 2024 IPv4 table with every
//! stage off, with uRPF strict and loose, and with an ingress ACL of 0, 10,
//! 1,000 and 10,000 random realistic rules, beside one bare FIB lookup per
//! packet, all in one run so the ratios hold on a loaded machine.
//!
//! Frames arrive on p1, where every table prefix leads, from sources and
//! to destinations inside random table prefixes (so both lookups miss the
//! cache as on a router with a full table); UDP to common ports. Rules:
//! 90 % permit (TCP or UDP to common ports or ranges, optional source and
//! destination prefixes from the table), 10 % deny TCP to management ports
//! (never matched by this UDP traffic), default permit: every frame is
//! forwarded in every variant, so they differ only in the stages' work.
//!
//! Needs `$FERROUTE_DATA/data` (default `../shared/data`); skips without it.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

mod common;

use criterion::{Criterion, Throughput};

use common::{caida_v4, timed_batches, v4_destinations, POOL};
use ferroute::fib::Fib;
use ferroute::forward::acl::{AclRule, AclSpec, PortRange};
use ferroute::forward::{
    AclAction, AclTable, Forwarder, ForwarderConfig, PortFeatures, RouteHints, Urpf, Verdict,
};
use ferroute::testkit::frames::V4Frame;
use ferroute::testkit::rig::{ports, NoEmit, P1_MAC};
use ferroute::testkit::Rng;
use ipnet::{IpNet, Ipv4Net};

const BATCH: usize = 64;
const INGRESS: u16 = 1;
const COMMON_PORTS: [u16; 12] = [22, 23, 25, 53, 80, 123, 161, 179, 443, 445, 3389, 8080];

/// A 60-byte UDP frame arriving on p1.
fn frame(src: Ipv4Addr, dst: Ipv4Addr, rng: &mut Rng) -> Vec<u8> {
    let dport = [53, 123, 443, 4500][rng.below(4) as usize];
    V4Frame {
        dst_mac: P1_MAC,
        src,
        ports: Some((1024 + rng.below(60_000) as u16, dport)),
        payload: vec![0; 18],
        ..V4Frame::udp(dst)
    }
    .build()
}

/// A table prefix, sometimes narrowed to a longer one inside it.
fn prefix(routes: &[(Ipv4Net, u32)], rng: &mut Rng) -> IpNet {
    let (net, _) = routes[rng.below(routes.len() as u64) as usize];
    let len = net.prefix_len().max(8) + rng.below(9) as u8;
    let host = rng.next_u64() as u32;
    let addr = Ipv4Addr::from(u32::from(net.network()) | (host >> net.prefix_len().min(31)));
    IpNet::V4(Ipv4Net::new(addr, len.min(32)).expect("length").trunc())
}

fn random_rule(routes: &[(Ipv4Net, u32)], rng: &mut Rng) -> AclRule {
    let port = |rng: &mut Rng| COMMON_PORTS[rng.below(COMMON_PORTS.len() as u64) as usize];
    if rng.below(10) == 0 {
        // Deny management access (TCP: never this traffic).
        let p = [22, 23, 3389][rng.below(3) as usize];
        return AclRule {
            source: (rng.below(2) == 0).then(|| prefix(routes, rng)),
            protocol: Some(6),
            destination_port: Some(PortRange { first: p, last: p }),
            ..AclRule::any(AclAction::Deny)
        };
    }
    let protocol = [Some(6), Some(17), None][rng.below(3) as usize];
    let destination_port = protocol.and_then(|_| match rng.below(10) {
        0..=5 => {
            let p = port(rng);
            Some(PortRange { first: p, last: p })
        }
        6 | 7 => Some(PortRange {
            first: 1024,
            last: 65535,
        }),
        _ => None,
    });
    AclRule {
        source: (rng.below(2) == 0).then(|| prefix(routes, rng)),
        destination: (rng.below(10) < 7).then(|| prefix(routes, rng)),
        protocol,
        destination_port,
        ..AclRule::any(AclAction::Permit)
    }
}

/// A forwarder whose p1 has `features`, with `acls`.
fn forwarder(features: PortFeatures, acls: AclTable) -> Forwarder {
    let mut ports = ports();
    ports[INGRESS as usize].features = features;
    Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 0,
        icmp_burst: 0,
        accept_source_route: false,
        acls: Arc::new(acls),
    })
}

/// Times the pipeline over batches of 64 frames cycled from `frames`.
fn bench_variant(c: &mut Criterion, name: &str, fib: &Fib, mut fwd: Forwarder, frames: &[Vec<u8>]) {
    let mut group = c.benchmark_group("stages_v4");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut batch: Vec<Vec<u8>> = frames[..BATCH].to_vec();
    let mut hints = RouteHints::new();
    let mut at = 0usize;
    let sources = fwd.wants_sources(INGRESS);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_batches(iters, frames, &mut batch, &mut at, |batch| {
                hints.prepare_with_sources(fib, batch.iter().map(|f| &f[..]), sources);
                for (i, f) in batch.iter_mut().enumerate() {
                    let v = fwd.process_hinted(fib, INGRESS, f, 0, &mut NoEmit, hints.get(i));
                    debug_assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
                    black_box(v);
                }
            })
        })
    });
    group.finish();
    let c = &fwd.counters;
    assert_eq!(
        c.forwarded, c.rx_frames,
        "{name}: every frame forwarded: {c:?}"
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let Some((routes, fib)) = caida_v4(1) else {
        return;
    };
    let mut rng = Rng::new(0x5eed);
    let dst = v4_destinations(&routes, &mut rng);
    let src = v4_destinations(&routes, &mut rng);
    let frames: Vec<Vec<u8>> = (0..POOL).map(|i| frame(src[i], dst[i], &mut rng)).collect();

    let mut group = c.benchmark_group("stages_v4");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut at = 0usize;
    group.bench_function("fib_lookup", |b| {
        b.iter(|| {
            at = (at + BATCH) % POOL;
            for &d in &dst[at..at + BATCH] {
                black_box(fib.lookup_v4(black_box(d)));
            }
        })
    });
    group.finish();
    let off = PortFeatures::default();
    bench_variant(
        &mut c,
        "off",
        &fib,
        forwarder(off, AclTable::default()),
        &frames,
    );
    for mode in Urpf::ALL {
        let on = PortFeatures {
            urpf: Some(mode),
            ..off
        };
        let name = format!("urpf_{}", mode.name());
        bench_variant(
            &mut c,
            &name,
            &fib,
            forwarder(on, AclTable::default()),
            &frames,
        );
    }
    for n in [0usize, 10, 1_000, 10_000] {
        let rules = (0..n).map(|_| random_rule(&routes, &mut rng)).collect();
        let started = Instant::now();
        let table = AclTable::compile([AclSpec {
            name: "bench".into(),
            default: AclAction::Permit,
            rules,
        }]);
        eprintln!(
            "acl of {n} rules: compiled in {:.1} ms, {} KiB",
            started.elapsed().as_secs_f64() * 1e3,
            table.acls()[0].memory_bytes() / 1024
        );
        let on = PortFeatures {
            acl_in: Some(0),
            ..off
        };
        bench_variant(
            &mut c,
            &format!("acl_{n}"),
            &fib,
            forwarder(on, table),
            &frames,
        );
    }
    c.final_summary();
}
