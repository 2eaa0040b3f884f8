//! The AF_XDP backend on real veth pairs in network namespaces: the XDP
//! program steers each kind of frame where it belongs, `XdpIo` receives
//! transit frames byte for byte and sends them out of the other port, and
//! no program is left on any interface afterwards. Needs root (skips
//! otherwise, fails under CI=true).

mod xdp_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use etherparse::{PacketBuilder, VlanId};
use ferroute::io::xdp::{
    attached_programs, BindMode, XdpCounters, XdpIo, XdpIoConfig, XdpMode, XdpProgram, PROGRAM_NAME,
};
use ferroute::io::{FrameBatch, FramePool, PacketIo};
use ferroute::wire::MacAddr;
use xdp_support::{
    poll_until, require_root, router_ports, PacketSocket, Topology, MAC_PA, MAC_PB, MAC_RA, MAC_RB,
};

const WAIT: Duration = Duration::from_secs(3);

fn udp4(dst_mac: MacAddr, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_PA.0, dst_mac.0)
        .ipv4(src, dst, 64)
        .udp(4000, 5000);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).expect("udp4 frame");
    frame
}

fn udp6(dst_mac: MacAddr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let builder = PacketBuilder::ethernet2(MAC_PA.0, dst_mac.0)
        .ipv6(src.octets(), dst.octets(), 64)
        .udp(4000, 5000);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).expect("udp6 frame");
    frame
}

fn neighbour_solicitation(dst: Ipv6Addr) -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let builder = PacketBuilder::ethernet2(MAC_PA.0, MAC_RA.0)
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6_raw(135, 0, [0; 4]);
    let payload = dst.octets();
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).expect("NS frame");
    frame
}

/// A neighbour advertisement behind a hop-by-hop options header.
fn neighbour_advertisement_behind_hop_by_hop() -> Vec<u8> {
    let mut frame = neighbour_solicitation("2001:db8:2::99".parse().unwrap());
    frame[54] = 136; // ICMPv6 type: neighbour advertisement
    let payload_len = u16::from_be_bytes([frame[18], frame[19]]) + 8;
    frame[18..20].copy_from_slice(&payload_len.to_be_bytes());
    frame[20] = 0; // next header: hop-by-hop options
                   // next header ICMPv6, length 0 (8 bytes), PadN option of 4 zero bytes.
    let hop_by_hop = [58, 0, 1, 4, 0, 0, 0, 0];
    frame.splice(54..54, hop_by_hop);
    frame
}

fn raw_frame(dst_mac: MacAddr, ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst_mac.0);
    frame.extend_from_slice(&MAC_PA.0);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// A unicast ARP request from pa (10.1.0.2) for 10.1.0.1.
fn unicast_arp_request() -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&MAC_PA.0);
    arp.extend_from_slice(&[10, 1, 0, 2]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 1, 0, 1]);
    raw_frame(MAC_RA, 0x0806, &arp)
}

fn vlan_frame() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_PA.0, MAC_RA.0)
        .single_vlan(VlanId::try_new(7).unwrap())
        .ipv4([10, 1, 0, 2], [10, 2, 0, 2], 64)
        .udp(4000, 5000);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"vlan").expect("vlan frame");
    frame
}

/// Counters with the noisy group counter cleared (the kernel may multicast).
fn exact(c: XdpCounters) -> XdpCounters {
    XdpCounters {
        passed_group: 0,
        ..c
    }
}

struct Router {
    program: XdpProgram,
    io: XdpIo,
    pool: FramePool,
    ifindexes: [u32; 2],
}

fn start_router(topo: &Topology, mode: XdpMode) -> Router {
    topo.r.run(|| {
        let ports = router_ports();
        let (ra, rb) = (ports[0].ifindex, ports[1].ifindex);
        let program = XdpProgram::load(&ports, mode).unwrap_or_else(|e| panic!("load: {e}"));
        program
            .set_local_addresses(&[
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)),
                "2001:db8:1::1".parse().unwrap(),
            ])
            .unwrap_or_else(|e| panic!("local addresses: {e}"));
        let config = XdpIoConfig {
            bind: BindMode::Auto,
            ..XdpIoConfig::default()
        };
        let (io, pool) = XdpIo::open(&[ra, rb], &config).unwrap_or_else(|e| panic!("open: {e}"));
        io.register_with(&program)
            .unwrap_or_else(|e| panic!("register: {e}"));
        Router {
            program,
            io,
            pool,
            ifindexes: [ra, rb],
        }
    })
}

/// Receives on `port` until `count` frames arrived or the wait runs out.
fn receive(router: &mut Router, port: u16, count: usize, batch: &mut FrameBatch) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    poll_until(WAIT, || {
        router.io.service(&mut router.pool);
        router.io.recv(port, batch);
        for mut frame in batch.drain() {
            let len = frame.len();
            // The pipeline pushes a VLAN tag into the room before a frame.
            let (_, headroom) = router.io.umem().chunk(&mut frame);
            assert_eq!(headroom, 256, "XDP_PACKET_HEADROOM before a received frame");
            got.push(router.io.umem().data(&mut frame)[..len].to_vec());
            router.pool.free(frame);
        }
        got.len() >= count
    });
    got
}

/// Sends `frame` from peer a and waits until `counter` of the program moved
/// by one; checks that no other exact counter moved.
fn expect_verdict(
    router: &Router,
    peer: &PacketSocket,
    frame: &[u8],
    what: &str,
    field: fn(&mut XdpCounters) -> &mut u64,
) {
    let before = router.program.counters().expect("counters");
    peer.send(frame);
    let mut expected = exact(before);
    *field(&mut expected) += 1;
    let mut now = before;
    let moved = poll_until(WAIT, || {
        now = router.program.counters().expect("counters");
        exact(now) != exact(before)
    });
    assert!(moved, "{what}: no XDP counter moved");
    assert_eq!(exact(now), expected, "{what}: wrong verdict");
}

fn run_scenario(mode: XdpMode) {
    let topo = Topology::new();
    let mut router = start_router(&topo, mode);
    eprintln!(
        "{} mode: zero-copy = {}",
        mode.name(),
        router.io.is_zero_copy()
    );
    let peer_a = topo.a.run(|| PacketSocket::open("pa"));
    let peer_b = topo.b.run(|| PacketSocket::open("pb"));
    let mut batch = FrameBatch::with_capacity(64);

    // Transit IPv4 and IPv6 frames reach the socket unchanged.
    let v4 = udp4(MAC_RA, [10, 1, 0, 2], [10, 2, 0, 2], b"ferroute transit v4");
    let v6 = udp6(
        MAC_RA,
        "2001:db8:2::2".parse().unwrap(),
        b"ferroute transit v6",
    );
    let before = router.program.counters().expect("counters");
    peer_a.send(&v4);
    peer_a.send(&v6);
    let got = receive(&mut router, 0, 2, &mut batch);
    assert_eq!(
        got,
        vec![v4.clone(), v6.clone()],
        "transit frames on port 0"
    );
    let after = router.program.counters().expect("counters");
    assert_eq!(after.redirected, before.redirected + 2);

    // A received frame leaves port 1 from the same buffer, byte for byte.
    let mut rewritten = v4.clone();
    rewritten[..6].copy_from_slice(&MAC_PB.0);
    rewritten[6..12].copy_from_slice(&MAC_RB.0);
    peer_a.send(&v4);
    poll_until(WAIT, || {
        router.io.service(&mut router.pool);
        router.io.recv(0, &mut batch);
        !batch.is_empty()
    });
    assert_eq!(batch.len(), 1, "one frame to forward");
    let mut out_batch = FrameBatch::with_capacity(64);
    rewrite_for_b(&router.io, &mut batch, &mut out_batch);
    assert_eq!(router.io.send(1, &mut out_batch, &mut router.pool), 0);
    let out = peer_b.recv_matching(WAIT, |f| f.len() > 12 && f[12..] == rewritten[12..]);
    assert_eq!(out.as_deref(), Some(&rewritten[..]), "frame on far peer");
    assert!(poll_until(WAIT, || {
        router.io.service(&mut router.pool);
        router.io.in_flight(1).map(|(_, tx)| tx) == Some(0)
    }));

    // Everything the kernel must see is passed, each under its reason.
    expect_verdict(
        &router,
        &peer_a,
        &udp4(MAC_RA, [10, 1, 0, 2], [10, 1, 0, 1], b"to the router"),
        "IPv4 to a local address",
        |c| &mut c.passed_local,
    );
    expect_verdict(
        &router,
        &peer_a,
        &udp6(MAC_RA, "2001:db8:1::1".parse().unwrap(), b"to the router"),
        "IPv6 to a local address",
        |c| &mut c.passed_local,
    );
    expect_verdict(
        &router,
        &peer_a,
        &neighbour_solicitation("2001:db8:2::99".parse().unwrap()),
        "neighbour solicitation",
        |c| &mut c.passed_nd,
    );
    expect_verdict(
        &router,
        &peer_a,
        &neighbour_advertisement_behind_hop_by_hop(),
        "neighbour advertisement behind hop-by-hop options",
        |c| &mut c.passed_nd,
    );
    expect_verdict(
        &router,
        &peer_a,
        &udp6(MAC_RA, "fe80::1".parse().unwrap(), b"link-local"),
        "IPv6 link-local destination",
        |c| &mut c.passed_link_local,
    );
    expect_verdict(
        &router,
        &peer_a,
        &unicast_arp_request(),
        "unicast ARP",
        |c| &mut c.passed_arp,
    );
    expect_verdict(
        &router,
        &peer_a,
        &udp4(
            MacAddr([0x02, 0x99, 0, 0, 0, 1]),
            [10, 1, 0, 2],
            [10, 2, 0, 2],
            b"not for us",
        ),
        "another MAC",
        |c| &mut c.passed_not_our_mac,
    );
    expect_verdict(&router, &peer_a, &vlan_frame(), "VLAN tag", |c| {
        &mut c.passed_vlan
    });
    expect_verdict(
        &router,
        &peer_a,
        &raw_frame(MAC_RA, 0x88b5, &[0; 46]),
        "not IP",
        |c| &mut c.passed_not_ip,
    );
    expect_verdict(
        &router,
        &peer_a,
        &raw_frame(MAC_RA, 0x0800, &[0x45, 0, 0, 20]),
        "truncated IPv4",
        |c| &mut c.passed_truncated,
    );
    // The kernel really got the ARP request: it answers it.
    let reply = peer_a.recv_matching(WAIT, |f| {
        f.len() >= 22 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2]
    });
    assert!(reply.is_some(), "kernel ARP reply to pa");
    // Broadcast goes to the kernel as group traffic.
    let before = router.program.counters().expect("counters");
    peer_a.send(&udp4(
        MacAddr::BROADCAST,
        [10, 1, 0, 2],
        [10, 1, 0, 255],
        b"broadcast",
    ));
    assert!(poll_until(WAIT, || {
        router.program.counters().expect("counters").passed_group > before.passed_group
    }));
    assert_eq!(
        router.program.counters().expect("counters").redirected,
        before.redirected
    );

    // Without a socket for (port, queue), transit frames go to the kernel.
    router.program.unregister_socket(0, 0).expect("unregister");
    expect_verdict(
        &router,
        &peer_a,
        &udp4(MAC_RA, [10, 1, 0, 2], [10, 2, 0, 2], b"no socket"),
        "no socket",
        |c| &mut c.passed_no_socket,
    );
    router.io.register_with(&router.program).expect("register");

    // Bursts through both rings, more frames than a ring holds in total.
    forward_bursts(&mut router, &peer_a, &peer_b, &mut batch);

    // Nothing stays attached once the program is gone.
    let Router {
        program,
        io,
        pool,
        ifindexes,
    } = router;
    drop(io);
    drop(pool);
    drop(program);
    let left = topo.r.run(|| {
        ifindexes
            .iter()
            .map(|&i| attached_programs(i).expect("query"))
            .collect::<Vec<_>>()
    });
    assert!(left.iter().all(Vec::is_empty), "programs left: {left:?}");
}

/// Moves the frames of `from` into `to` with the Ethernet header of port 1
/// towards pb (what the pipeline's rewrite does).
fn rewrite_for_b(io: &XdpIo, from: &mut FrameBatch, to: &mut FrameBatch) {
    for mut frame in from.drain() {
        let data = io.umem().data(&mut frame);
        data[..6].copy_from_slice(&MAC_PB.0);
        data[6..12].copy_from_slice(&MAC_RB.0);
        assert!(to.push(frame).is_ok(), "batches of equal capacity");
    }
}

/// Sends rounds of numbered frames from pa; the router forwards them to pb;
/// every one must arrive, in order. 5 rounds of 500 wrap every ring.
fn forward_bursts(
    router: &mut Router,
    peer_a: &PacketSocket,
    peer_b: &PacketSocket,
    batch: &mut FrameBatch,
) {
    const ROUND: u32 = 500;
    let mut out_batch = FrameBatch::with_capacity(batch.capacity());
    for round in 0..5u32 {
        for i in 0..ROUND {
            let seq = round * ROUND + i;
            let payload = format!("burst {seq:08}");
            peer_a.send(&udp4(
                MAC_RA,
                [10, 1, 0, 2],
                [10, 2, 0, 2],
                payload.as_bytes(),
            ));
        }
        let mut forwarded = 0;
        poll_until(WAIT, || {
            router.io.service(&mut router.pool);
            router.io.recv(0, batch);
            forwarded += batch.len();
            rewrite_for_b(&router.io, batch, &mut out_batch);
            let dropped = router.io.send(1, &mut out_batch, &mut router.pool);
            assert_eq!(dropped, 0, "tx ring full");
            forwarded >= ROUND as usize
        });
        assert_eq!(forwarded, ROUND as usize, "round {round}: frames received");
        for i in 0..ROUND {
            let seq = round * ROUND + i;
            let want = format!("burst {seq:08}");
            let got = peer_b.recv_matching(WAIT, |f| f.len() > 48 && &f[42..48] == b"burst ");
            let got = got.unwrap_or_else(|| panic!("frame {seq} did not reach pb"));
            assert!(got.ends_with(want.as_bytes()), "frame {seq} out of order");
        }
    }
    let stats = router.io.statistics(0).expect("statistics");
    assert_eq!(stats.rx_dropped + stats.rx_ring_full, 0, "{stats:?}");
}

#[test]
fn native_mode_steers_receives_and_sends() {
    if !require_root("native_mode_steers_receives_and_sends") {
        return;
    }
    run_scenario(XdpMode::Native);
}

#[test]
fn generic_mode_steers_receives_and_sends() {
    if !require_root("generic_mode_steers_receives_and_sends") {
        return;
    }
    run_scenario(XdpMode::Generic);
}

#[test]
fn program_name_is_recognisable() {
    assert_eq!(PROGRAM_NAME, "ferroute_xdp");
    assert!(PROGRAM_NAME.len() < 16, "the kernel keeps 15 characters");
}
