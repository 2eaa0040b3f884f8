//! What the optional stages cost per packet: the pipeline as the worker
//! runs it (batched lookups, the common case over the batch, the other
//! frames one by one) on the full CAIDA 2024 IPv4 table with every
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
//! The ACL variants run twice: over the 65,536 frames above, each its own
//! flow (`acl_N`: every packet misses the workers' ACL cache, the
//! classifier's cost plus the cache's), and over traffic drawn at random
//! from 1,024 of those flows (`acl_N_flows`: after the first packets, every
//! packet hits the cache and takes the common case), beside the pipeline
//! without ACLs on the same flows (`off_flows`). uRPF keeps its port's
//! frames off the common case.
//!
//! VLAN variants (issue 15): the same frames, forwarded to the same next
//! hops, but arriving tagged on a sub-interface (the tag popped), leaving
//! through one (a tag pushed), or both; beside `off`, where neither link
//! has VLANs. Every frame has 4 bytes of headroom, as AF_XDP frames have.
//!
//! Times are the bench thread's CPU time (see [`CLOCK`]).
//!
//! Needs `$FERROUTE_DATA/data` (default `../shared/data`); skips without it.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

mod common;

use criterion::{Criterion, Throughput};

use common::{caida_v4, published_v4, timed_batches_on, v4_destinations, Clock, POOL};
use ferroute::fib::Fib;
use ferroute::fib::PortId;
use ferroute::forward::acl::{AclRule, AclSpec, PortRange};
use ferroute::forward::{
    AclAction, AclTable, Arrival, BatchFrames, Forwarded, Forwarder, ForwarderConfig, Port,
    PortFeatures, RouteHints, StagesSnapshot, Urpf, Verdict, Vlan,
};
use ferroute::testkit::frames::{tagged, V4Frame};
use ferroute::testkit::rig::{ports, NoEmit, P1_MAC};
use ferroute::testkit::Rng;
use ipnet::{IpNet, Ipv4Net};

const BATCH: usize = 64;
/// The bench thread's CPU time: builders share the machine's 2 cores, and
/// wall time counted the time the scheduler gave them (a third of a core
/// was ours at load 8), which swung from variant to variant.
const CLOCK: Clock = Clock::ThreadCpu;
const INGRESS: u16 = 1;
/// Room before each frame (a pushed tag needs 4 bytes).
const HEADROOM: usize = 4;
const COMMON_PORTS: [u16; 12] = [22, 23, 25, 53, 80, 123, 161, 179, 443, 445, 3389, 8080];
/// Flows in the `_flows` variants' traffic.
const FLOWS: usize = 1024;

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

/// A forwarder whose every next hop (on port 1) is a VLAN sub-interface
/// (200 on p0) when `egress_vlan`, with VLAN 100 on p0 as port 2; all
/// with p1's MAC, so the frames are for them.
fn vlan_forwarder(egress_vlan: bool) -> Forwarder {
    let mut ports = ports();
    ports[0].mac = ports[1].mac;
    let sub = |parent, id| Port {
        name: format!("vlan{id}"),
        vlan: Some(Vlan { parent, id }),
        ..ports[1].clone()
    };
    let p2 = sub(0, 100);
    if egress_vlan {
        ports[1] = sub(0, 200);
    }
    ports.push(p2);
    Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate: 0,
        icmp_burst: 0,
        accept_source_route: false,
        acls: Arc::new(AclTable::default()),
    })
}

/// `frames` tagged for VLAN `vid` (0: untagged), each after [`HEADROOM`].
fn with_headroom(frames: &[Vec<u8>], vid: u16) -> Vec<Vec<u8>> {
    frames
        .iter()
        .map(|f| {
            let mut out = vec![0; HEADROOM];
            match vid {
                0 => out.extend_from_slice(f),
                _ => out.extend_from_slice(&tagged(f, vid)),
            }
            out
        })
        .collect()
}

/// A batch's frames after their headroom, as the common case reads them.
struct Received<'a>(&'a mut [Vec<u8>]);

impl BatchFrames for Received<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.0[i][HEADROOM..]
    }
}

/// Times the pipeline over batches of 64 frames cycled from `frames`
/// (each after [`HEADROOM`] bytes), received on link `link`.
fn bench_variant(
    c: &mut Criterion,
    name: &str,
    fib: &Fib,
    mut fwd: Forwarder,
    (link, frames): (PortId, &[Vec<u8>]),
) {
    let mut group = c.benchmark_group("stages_v4");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut batch: Vec<Vec<u8>> = frames[..BATCH].to_vec();
    let mut hints = RouteHints::new();
    let mut common = Forwarded::default();
    let mut at = 0usize;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_batches_on(CLOCK, iters, frames, &mut batch, &mut at, |batch| {
                let received = batch.iter().map(|f| &f[HEADROOM..]);
                fwd.prepare_batch(fib, link, received, &mut hints);
                fwd.forward_common(fib, link, &mut Received(batch), &hints, &mut common);
                for (i, f) in batch.iter_mut().enumerate() {
                    if let Some(out) = common.get(i) {
                        black_box(out);
                        continue;
                    }
                    let arrival = Arrival {
                        link,
                        start: HEADROOM,
                        now_ns: 0,
                        hint: hints.get(i),
                    };
                    let v = fwd.process_at(fib, f, arrival, &mut NoEmit);
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
    let mut stages = StagesSnapshot::default();
    fwd.stages_into(&mut stages);
    let cache = stages.acl_cache;
    if cache.hits + cache.misses > 0 {
        let share = cache.hits as f64 / (cache.hits + cache.misses) as f64;
        eprintln!("{name}: ACL cache hits {:.2} %", share * 100.0);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let Some((routes, fib)) = caida_v4(1) else {
        return;
    };
    let mut rng = Rng::new(0x5eed);
    let dst = v4_destinations(&routes, &mut rng);
    let src = v4_destinations(&routes, &mut rng);
    let untagged: Vec<Vec<u8>> = (0..POOL).map(|i| frame(src[i], dst[i], &mut rng)).collect();
    let frames = with_headroom(&untagged, 0);
    let mut pick = Rng::new(0xf1005);
    let flows: Vec<Vec<u8>> = (0..POOL)
        .map(|_| frames[pick.below(FLOWS as u64) as usize].clone())
        .collect();

    let mut group = c.benchmark_group("stages_v4");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut at = 0usize;
    group.bench_function("fib_lookup", |b| {
        b.iter_custom(|iters| {
            let start = CLOCK.now();
            for _ in 0..iters {
                at = (at + BATCH) % POOL;
                for &d in &dst[at..at + BATCH] {
                    black_box(fib.lookup_v4(black_box(d)));
                }
            }
            CLOCK.since(start)
        })
    });
    group.finish();
    let off = PortFeatures::default();
    bench_variant(
        &mut c,
        "off",
        &fib,
        forwarder(off, AclTable::default()),
        (INGRESS, &frames),
    );
    bench_variant(
        &mut c,
        "off_flows",
        &fib,
        forwarder(off, AclTable::default()),
        (INGRESS, &flows),
    );
    // VLANs: popped on the way in (tagged 100 on p0, out of p1), pushed on
    // the way out (untagged on p0, out of VLAN 200 on p0), or both.
    let tagged_100 = with_headroom(&untagged, 100);
    let vlans: [(&str, bool, &[Vec<u8>]); 3] = [
        ("vlan_pop", false, &tagged_100),
        ("vlan_push", true, &frames),
        ("vlan_pop_push", true, &tagged_100),
    ];
    for (name, egress_vlan, frames) in vlans {
        let fwd = vlan_forwarder(egress_vlan);
        bench_variant(&mut c, name, &fib, fwd, (0, frames));
    }
    // uRPF again with a default route through next hop 0, which table
    // routes share (a loose check then asks the default route's facts for
    // every source, and whether the default matched for 1 in 64).
    let default = ("0.0.0.0/0".parse().unwrap(), 0);
    let with_default = published_v4(routes.iter().copied().chain([default]));
    assert_eq!(with_default.v4.default_route(), Some((0, true)));
    for (suffix, fib) in [("", &fib), ("_default", &with_default)] {
        for mode in Urpf::ALL {
            let on = PortFeatures {
                urpf: Some(mode),
                ..off
            };
            let name = format!("urpf_{}{suffix}", mode.name());
            bench_variant(
                &mut c,
                &name,
                fib,
                forwarder(on, AclTable::default()),
                (INGRESS, &frames),
            );
        }
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
            forwarder(on, table.clone()),
            (INGRESS, &frames),
        );
        bench_variant(
            &mut c,
            &format!("acl_{n}_flows"),
            &fib,
            forwarder(on, table),
            (INGRESS, &flows),
        );
    }
    c.final_summary();
}
