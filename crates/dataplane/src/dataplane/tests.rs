//! The worker loop over the in-memory backend: same pipeline, UMEM, tokens
//! and batching as on AF_XDP.

use super::*;
use crate::fib::{Fib, FibHandle};
use crate::forward::DropReason;
use crate::io::LoopbackIo;
use crate::testkit::frames::V4Frame;
use crate::testkit::rig::{forwarder, loopback_worker, ports, static_fib, GW_MAC, P1_MAC};
use crate::wire::{Ipv4Packet, MacAddr};

const P1: MacAddr = P1_MAC;
const GW_A: MacAddr = GW_MAC;
const GW_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

/// 198.51.100.0/24 via p1's gateway, or (moved) via p0's gateway.
fn fib(via_p1: bool) -> Fib {
    let via = if via_p1 { "203.0.113.2" } else { "192.0.2.2" };
    static_fib(
        &[("198.51.100.0/24", via)],
        &[("203.0.113.2", GW_A, 1), ("192.0.2.2", GW_B, 0)],
    )
}

fn frame(dst: &str, ttl: u8) -> Vec<u8> {
    V4Frame {
        ttl,
        ident: 7,
        ..V4Frame::minimum(dst.parse().unwrap())
    }
    .build()
}

fn worker(handle: &FibHandle, worker_frames: u32) -> Worker<LoopbackIo> {
    worker_with_reserve(handle, worker_frames, 64)
}

/// A worker whose backend has `reserve` frames to receive into (its fill
/// ring's worth).
fn worker_with_reserve(handle: &FibHandle, worker_frames: u32, reserve: u32) -> Worker<LoopbackIo> {
    loopback_worker(
        handle.clone(),
        forwarder(ports(), 1000, 1000),
        worker_frames,
        reserve,
    )
}

#[test]
fn forwards_batches_and_sends_icmp_back() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    for i in 0..40 {
        assert!(w
            .io_mut()
            .inject(0, &frame("198.51.100.7", if i % 10 == 0 { 1 } else { 64 })));
    }
    assert_eq!(w.poll_once(), 40);
    let io = w.io();
    assert_eq!(io.transmitted[1].len(), 36);
    assert_eq!(
        io.transmitted[0].len(),
        4,
        "time-exceeded errors go back out of p0"
    );
    for out in &io.transmitted[1] {
        assert_eq!(&out[..6], &GW_A.0);
        assert_eq!(&out[6..12], &P1.0);
        let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
    let snap = w.stats().snapshot();
    assert_eq!(snap.counters.forwarded, 36);
    assert_eq!(snap.counters.dropped(DropReason::TtlExpired), 4);
    assert_eq!(snap.counters.icmp_sent, 4);
    assert_eq!(snap.extra.batches, 1);
}

#[test]
fn frames_are_never_lost_or_leaked() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 128);
    let total = 128 + 64;
    for round in 0..50 {
        let mut injected = 0;
        while w
            .io_mut()
            .inject((round % 2) as u16, &frame("198.51.100.7", 64))
        {
            injected += 1;
            if injected == 100 {
                break;
            }
        }
        while w.io().pending_rx() > 0 {
            w.poll_once();
        }
        w.poll_once();
    }
    // Every chunk is either in the worker's pool or the backend's reserve.
    let free = w.io().reserve_available() + w.pool_available();
    assert_eq!(free, total, "no UMEM chunk leaked");
}

#[test]
fn a_full_transmit_ring_leaves_frames_queued() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    w.io_mut().tx_room = 5;
    for _ in 0..20 {
        w.io_mut().inject(0, &frame("198.51.100.7", 64));
    }
    w.poll_once();
    // The ring takes 5; the output queue, not the ring, holds the rest.
    assert_eq!(w.io().transmitted[1].len(), 5);
    assert_eq!(w.queued(), 15);
    assert_eq!(w.stats().snapshot().extra.tx_dropped, 0);
    w.io_mut().tx_room = usize::MAX;
    w.poll_once();
    assert_eq!(w.io().transmitted[1].len(), 20);
    assert_eq!(w.queued(), 0);
    let q = w.queues(1).unwrap().counters()[0];
    assert_eq!((q.enqueued, q.sent), (20, 20));
}

#[test]
fn a_shaped_port_paces_and_counts() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 512);
    // 1 Mbyte/s: 60 frames of 64 + 24 bytes take 5.3 ms of line time, of
    // which the burst (two full-size frames: 3.1 ms) may go at once.
    w.set_qos(&[
        crate::qos::QosConfig::default(),
        crate::qos::QosConfig {
            rate: Some(1_000_000),
            ..crate::qos::QosConfig::default()
        },
    ]);
    for _ in 0..60 {
        assert!(w.io_mut().inject(0, &frame("198.51.100.7", 64)));
    }
    let start = std::time::Instant::now();
    while w.io().pending_rx() > 0 {
        w.poll_once();
    }
    let first = w.io().transmitted[1].len();
    assert!(
        first < 60,
        "{first} frames sent before the shaper held them"
    );
    let deadline = start + std::time::Duration::from_secs(10);
    while w.queued() > 0 {
        assert!(std::time::Instant::now() < deadline, "queue did not drain");
        w.poll_once();
    }
    let elapsed = start.elapsed();
    assert_eq!(w.io().transmitted[1].len(), 60);
    // Unshaped this takes microseconds; shaped, at least the ~2.1 ms past
    // the burst (less the clock skew of the first booking).
    assert!(
        elapsed >= std::time::Duration::from_millis(1),
        "{elapsed:?}"
    );
    let q = w.queues(1).unwrap().counters()[0];
    assert_eq!((q.enqueued, q.sent, q.backlog), (60, 60, 0));
    assert_eq!(
        w.io().reserve_available() + w.pool_available(),
        512 + 64,
        "no frame leaked through the queues"
    );
}

#[test]
fn a_published_fib_is_used_from_the_next_batch() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    w.io_mut().inject(0, &frame("198.51.100.7", 64));
    w.poll_once();
    let version = handle.publish(fib(false));
    w.io_mut().inject(1, &{
        let mut f = frame("198.51.100.7", 64);
        f[..6].copy_from_slice(&P1.0);
        f
    });
    w.poll_once();
    let io = w.io();
    assert_eq!(io.transmitted[1].len(), 1);
    assert_eq!(io.transmitted[0].len(), 1, "the route moved to p0");
    assert_eq!(&io.transmitted[0][0][..6], &GW_B.0);
    assert_eq!(w.stats().snapshot().extra.fib_version, version);
}

#[test]
fn threads_start_forward_and_stop() {
    let handle = FibHandle::new(fib(true));
    let h = handle.clone();
    let factory: WorkerFactory<LoopbackIo> = Box::new(move || {
        let mut w = worker(&h, 256);
        for _ in 0..10 {
            w.io_mut().inject(0, &frame("198.51.100.7", 64));
        }
        Ok(w)
    });
    let mut dp = Dataplane::start(vec![(None, factory)]).unwrap();
    // Poll (bounded) until the worker has forwarded the injected frames.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dp.snapshot().counters.forwarded < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "worker did not forward in time"
        );
        std::thread::yield_now();
    }
    assert!(dp.healthy());
    assert_eq!(dp.worker_stats().len(), 1);
    dp.shutdown();
    let failing: WorkerFactory<LoopbackIo> = Box::new(|| anyhow::bail!("no such interface"));
    let err = Dataplane::start(vec![(None, failing)]).err().unwrap();
    assert!(format!("{err:#}").contains("no such interface"));
}

#[test]
fn unresolved_next_hops_reach_the_glean_sink() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    let sink = std::sync::Arc::new(crossbeam_queue::ArrayQueue::new(8));
    w.set_glean_sink(sink.clone());
    for _ in 0..3 {
        w.io_mut().inject(0, &frame("203.0.113.50", 64));
    }
    w.poll_once();
    assert_eq!(sink.pop(), Some((1, "203.0.113.50".parse().unwrap())));
    assert_eq!(sink.pop(), None, "a burst to one host is asked for once");
}

/// Fragments the pipeline creates join the egress queue behind what is
/// already queued: through a FIFO port, frames leave in arrival order even
/// when some are fragmented (they once went straight to the ring and
/// overtook queued frames; the veth replay test caught it).
#[test]
fn created_frames_keep_their_place_in_the_egress_queue() {
    let mut small_mtu = ports();
    small_mtu[1].mtu = 576;
    let handle = FibHandle::new(fib(true));
    let mut w = loopback_worker(handle, forwarder(small_mtu, 1000, 1000), 256, 64);
    let fifo = crate::qos::QosConfig {
        scheduler: crate::qos::SchedulerKind::Fifo,
        ..crate::qos::QosConfig::default()
    };
    w.set_qos(&[fifo.clone(), fifo]);
    // Alternating small (forwarded whole) and 1000-byte (fragmented in two)
    // packets, each carrying its index in the IPv4 identification.
    for i in 0..10u16 {
        let payload = if i % 2 == 0 { 26 } else { 1000 };
        let f = V4Frame {
            ident: i,
            payload: vec![0; payload],
            ..V4Frame::udp("198.51.100.7".parse().unwrap())
        }
        .build();
        assert!(w.io_mut().inject(0, &f));
    }
    assert_eq!(w.poll_once(), 10);
    let sent: Vec<u16> = w.io().transmitted[1]
        .iter()
        .map(|out| Ipv4Packet::new_checked(&out[14..]).unwrap().ident())
        .collect();
    assert_eq!(sent, [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9]);
}

#[test]
fn frames_the_backend_dropped_are_published_and_add_up() {
    let handle = FibHandle::new(fib(true));
    // 16 reserve frames stand for the fill ring: the 17th frame offered
    // before the worker runs is dropped, as the kernel drops it at an
    // AF_XDP socket.
    let mut w = worker_with_reserve(&handle, 128, 16);
    let offered = 40;
    let accepted = (0..offered)
        .filter(|_| w.io_mut().inject(0, &frame("198.51.100.7", 64)))
        .count() as u64;
    assert_eq!(accepted, 16);
    assert_eq!(w.poll_once(), 16);
    // With free frames again, a frame longer than one is dropped too.
    assert!(
        !w.io_mut().inject(0, &vec![0u8; 5000]),
        "longer than a frame"
    );
    // Read every 100 ms while running, and always when the worker stops.
    w.run(&std::sync::atomic::AtomicBool::new(true));
    let snap = w.stats().snapshot();
    assert_eq!(snap.socket_drops.fill_ring_empty, offered - accepted);
    assert_eq!(snap.socket_drops.rx_other, 1);
    assert_eq!(
        snap.counters.rx_frames + snap.socket_drops.rx_dropped(),
        offered + 1,
        "every frame offered is received or counted as dropped"
    );
}

/// A VLAN's frames through the worker: received on its link with the
/// backend's headroom, popped, pushed, queued on the sub-interface's own
/// queues and sent through its link's ring; an unserved VLAN counted.
#[test]
fn vlan_frames_cross_links_through_their_sub_interfaces_queues() {
    use crate::testkit::frames::tagged;
    use crate::testkit::rig::{static_fib_on, vlan_connected, vlan_ports, P0_MAC};
    let host = MacAddr([2, 0, 0, 0, 0x64, 2]);
    let handle = FibHandle::new(static_fib_on(
        &vlan_connected(),
        &[("198.51.100.0/24", "203.0.113.2")],
        &[("203.0.113.2", GW_A, 1), ("100.64.0.2", host, 2)],
    ));
    let mut w = loopback_worker(handle, forwarder(vlan_ports(), 1000, 1000), 256, 64);
    let out = frame("198.51.100.7", 64);
    let back = V4Frame {
        dst_mac: P1,
        ..V4Frame::minimum("100.64.0.2".parse().unwrap())
    }
    .build();
    for _ in 0..5 {
        assert!(w.io_mut().inject(0, &tagged(&out, 100)));
        assert!(w.io_mut().inject(0, &tagged(&out, 101)));
        assert!(w.io_mut().inject(1, &back));
    }
    assert_eq!(w.poll_once(), 15);
    let io = w.io();
    assert_eq!(io.transmitted[1].len(), 5, "VLAN 100 → p1, untagged");
    assert!(io.transmitted[1].iter().all(|f| f.len() == out.len()));
    assert_eq!(io.transmitted[0].len(), 5, "p1 → VLAN 100 on p0's wire");
    for f in &io.transmitted[0] {
        assert_eq!(f.len(), back.len() + 4);
        assert_eq!(&f[..12], &[host.0, P0_MAC.0].concat()[..]);
        assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 100]);
    }
    assert_eq!(
        w.queues(2).unwrap().counters()[0].enqueued,
        5,
        "p0.100's own queue"
    );
    let c = &w.forwarder().counters;
    assert_eq!(c.drops[DropReason::VlanUnknown as usize], 5);
    assert_eq!(c.forwarded + c.total_dropped(), 15);
}

#[test]
fn published_stages_are_taken_at_the_next_pass_even_an_idle_one() {
    use crate::forward::acl::{AclAction, AclRule, AclSpec};
    use crate::forward::{AclTable, PortFeatures, StageTable, StagesHandle};
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    let mut features = vec![PortFeatures::default(); 2];
    features[0].acl_in = Some(0);
    let deny_all = AclSpec {
        name: "deny-all".into(),
        default: AclAction::Permit,
        rules: vec![AclRule::any(AclAction::Deny)],
    };
    let stages = StagesHandle::new(StageTable {
        version: 0,
        features,
        acls: std::sync::Arc::new(AclTable::compile([deny_all])),
    });
    w.set_stages(stages.clone());
    w.io_mut().inject(0, &frame("198.51.100.7", 64));
    w.poll_once();
    assert!(
        w.io().transmitted[1].is_empty(),
        "denied by the first table"
    );
    assert_eq!(w.forwarder().counters.dropped(DropReason::AclInDeny), 1);
    // The same lists, no ACL on p0: taken by a pass with no traffic, and
    // the counters (kept: the list did not change) published at once.
    let running = stages.load();
    let version = stages.publish(StageTable {
        features: vec![PortFeatures::default(); 2],
        ..(*running).clone()
    });
    assert_eq!(w.poll_once(), 0);
    let snap = w.stats().snapshot().stages;
    assert_eq!((snap.version, snap.oldest_version), (version, version));
    assert_eq!(snap.acl[0].rules, [1]);
    w.io_mut().inject(0, &frame("198.51.100.7", 64));
    w.poll_once();
    assert_eq!(w.io().transmitted[1].len(), 1, "forwarded after the swap");
}

/// The common-case pass (forward::common) forwards padded frames without
/// their Ethernet padding, as the frame-by-frame pipeline does.
#[test]
fn padded_frames_leave_without_their_padding() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    let plain = frame("198.51.100.7", 64);
    let mut padded = plain.clone();
    padded.extend_from_slice(&[0xee; 10]);
    assert!(w.io_mut().inject(0, &padded));
    assert!(w.io_mut().inject(0, &plain));
    assert_eq!(w.poll_once(), 2);
    let out = &w.io().transmitted[1];
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], out[1], "the padding is not sent");
    let snap = w.stats().snapshot();
    assert_eq!(snap.counters.rx_bytes, (2 * plain.len() + 10) as u64);
    assert_eq!(snap.counters.forwarded_bytes, 2 * plain.len() as u64);
}

/// A batch the common case forwards whole to one port is held at once
/// with each frame's flow fields: the queues see two flows, not four
/// (DRR sends a flow's frames together: the three of 1000 → 53 before
/// the one of 2000 → 53 that arrived between them), and every frame
/// its own length.
#[test]
fn a_batch_held_whole_keeps_each_frames_flow() {
    let handle = FibHandle::new(fib(true));
    let mut w = worker(&handle, 256);
    let flow = |sport: u16, payload: usize, ident: u16| {
        V4Frame {
            ident,
            ports: Some((sport, 53)),
            payload: vec![0; payload],
            ..V4Frame::udp("198.51.100.7".parse().unwrap())
        }
        .build()
    };
    let frames = [
        flow(1000, 18, 0),
        flow(1000, 30, 1),
        flow(2000, 200, 2),
        flow(1000, 42, 3),
    ];
    for f in &frames {
        assert!(w.io_mut().inject(0, f));
    }
    assert_eq!(w.poll_once(), 4);
    let sent: Vec<(u16, usize)> = w.io().transmitted[1]
        .iter()
        .map(|out| {
            (
                Ipv4Packet::new_checked(&out[14..]).unwrap().ident(),
                out.len(),
            )
        })
        .collect();
    let lens: Vec<usize> = frames.iter().map(|f| f.len()).collect();
    assert_eq!(
        sent,
        [(0, lens[0]), (1, lens[1]), (3, lens[3]), (2, lens[2])]
    );
}
