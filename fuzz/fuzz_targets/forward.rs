//! Fuzz target `forward`: one arbitrary frame through `Forwarder::process_at`.
//!
//! Input layout: byte 0 is a control byte (bits 0–1: ingress link 0–2, or 3,
//! a port the forwarder does not have; bit 2: ICMP rate 0, so every error is
//! rate limited; bits 3–5: transmit buffers the Emit grants, 0 = unlimited,
//! n = n − 1 buffers; bit 6: accept IPv4 source-routed packets; bit 7: the
//! optional stages on: uRPF strict on p0 and loose on p1, and an ACL
//! (reject TCP to port 22, deny UDP from 10/8 ports 1000–2000, reject
//! ICMPv6 from 2001:db8::/32) in on p0 and out on p1), byte 1 sets
//! the clock (byte × 0.75 s), and the rest is the received frame. Seeds made by `examples/pcap_frames.rs --prefix 0000`
//! start with port 0, unlimited buffers.
//!
//! The router is fixed (see `PORTS`, `NEIGHBORS`, `ROUTES`): three links, the
//! third with a 576-byte MTU and no IPv6, two VLAN sub-interfaces (100 on
//! p0, 200 on p1 with its own MAC), and routes and neighbours such that
//! forwarding, IPv4 fragmentation, every ICMP/ICMPv6 error, unresolved next
//! hops, local delivery and tags popped, pushed and refused are all
//! reachable. Every frame is received with 4 bytes of headroom. A tagged
//! input of a VLAN the link serves (or VLAN 0) is checked as its untagged
//! frame arriving on that sub-interface (any other tag must be dropped with
//! a VLAN reason or `truncated`), and every frame leaving a sub-interface
//! must carry its VLAN id with the packet's precedence as priority and is
//! then checked untagged. For any input it checks:
//! * no panic, and every frame built through `Emit` fits the buffer it was
//!   given and the egress port's MTU + 14;
//! * `Forward { port, len }`: len ≤ input length; the frame parses as
//!   Ethernet + IPv4/IPv6 of exactly len − 14 bytes, with a valid IPv4 header
//!   checksum, TTL/hop limit one less than received, destination MAC = a
//!   neighbour on that port, source MAC = the port's, and no other byte
//!   changed but IPv4 options (Record Route, Timestamp); nothing emitted;
//! * `Fragmented { port, fragments }`: exactly that many frames, all on
//!   `port`, each a valid IPv4 fragment ≤ MTU + 14 with TTL one less and the
//!   original ident/addresses/protocol, MF on all but the last, and together
//!   they reassemble to exactly the original payload;
//! * `Drop`: at most one emitted frame, only for ttl_expired / no_route /
//!   mtu_df / packet_too_big / link_local, and it is an ICMP(v6) error back
//!   out of the ingress port to the sender's MAC and IP, with valid IP and
//!   ICMP checksums, at most 576 (IPv4) / 1280 (IPv6) bytes, quoting the
//!   start of the offending packet; `no_buffer` may follow fragments that
//!   were sent before the buffers ran out, and those must be right;
//! * `Local`: nothing emitted;
//! * counters: one frame received and exactly one outcome counted.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use ferroute::fib::{
    build_static, ConnectedPort, Discard, Fib, PortId, RouteTarget, StaticNeighbor, StaticRoute,
};
use ferroute::forward::acl::{AclRule, AclSpec, PortRange};
use ferroute::forward::MIN_EMIT_BUFFER;
use ferroute::forward::{
    AclAction, AclTable, Arrival, DropReason, Emit, Forwarder, ForwarderConfig, FrameHint, Port,
    PortFeatures, Urpf, Verdict, Vlan,
};
use ferroute::wire::ethernet::{ethertype, HEADER_LEN as ETH_LEN};
use ferroute::wire::{checksum, icmp, EthernetFrame, Ipv4Packet, Ipv6Packet, MacAddr};
use libfuzzer_sys::fuzz_target;

#[path = "forward/checks.rs"]
mod checks;
use checks::{check_forward, check_fragments, check_icmp_error};

struct PortSpec {
    name: &'static str,
    mac: [u8; 6],
    mtu: u16,
    v4: (Ipv4Addr, u8),
    v6: Option<(Ipv6Addr, u8)>,
    /// (parent, VLAN id) of a sub-interface.
    vlan: Option<(PortId, u16)>,
}

/// Ingress value meaning "a port the forwarder does not have".
const UNKNOWN_PORT: PortId = 9;

const PORTS: [PortSpec; 5] = [
    PortSpec {
        name: "p0",
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        v4: (Ipv4Addr::new(192, 0, 2, 1), 24),
        v6: Some((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 64)),
        vlan: None,
    },
    PortSpec {
        name: "p1",
        mac: [2, 0, 0, 0, 1, 1],
        mtu: 1400,
        v4: (Ipv4Addr::new(203, 0, 113, 1), 24),
        v6: Some((Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1), 64)),
        vlan: None,
    },
    // A small-MTU link: IPv4 through it fragments. IPv6 needs 1280 (RFC 8200
    // §5), so this port has no IPv6 address and sends no ICMPv6 errors.
    PortSpec {
        name: "p2",
        mac: [2, 0, 0, 0, 2, 1],
        mtu: 576,
        v4: (Ipv4Addr::new(10, 2, 0, 1), 24),
        v6: None,
        vlan: None,
    },
    PortSpec {
        name: "p0.100",
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        v4: (Ipv4Addr::new(100, 64, 0, 1), 24),
        v6: Some((Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 1), 64)),
        vlan: Some((0, 100)),
    },
    PortSpec {
        name: "p1.200",
        mac: [2, 0, 0, 0, 4, 1],
        mtu: 1400,
        v4: (Ipv4Addr::new(100, 65, 0, 1), 24),
        v6: None,
        vlan: Some((1, 200)),
    },
];

/// (address, MAC, port).
const NEIGHBORS: [(IpAddr, [u8; 6], PortId); 5] = [
    (
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
        [2, 0, 0, 0, 1, 2],
        1,
    ),
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2)),
        [2, 0, 0, 0, 1, 3],
        1,
    ),
    (
        IpAddr::V4(Ipv4Addr::new(10, 2, 0, 2)),
        [2, 0, 0, 0, 2, 2],
        2,
    ),
    (
        IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
        [2, 0, 0, 0, 3, 2],
        3,
    ),
    (
        IpAddr::V4(Ipv4Addr::new(100, 65, 0, 2)),
        [2, 0, 0, 0, 4, 2],
        4,
    ),
];

/// (prefix, via or discard action). Private and documentation ranges, so
/// that real captures (whose addresses are mostly such) reach every path;
/// anything else has no route.
const ROUTES: [(&str, &str); 12] = [
    ("198.51.100.0/24", "203.0.113.2"),
    ("192.168.0.0/16", "203.0.113.2"),
    ("192.168.128.0/17", "100.64.0.2"), // out of VLAN 100 on p0
    ("100.66.0.0/16", "100.65.0.2"),    // out of VLAN 200 on p1
    ("10.0.0.0/8", "10.2.0.2"),         // out of the 576-byte link
    ("172.16.0.0/12", "10.2.0.9"),      // gateway without a neighbour entry
    ("2001:db8:2::/48", "2001:db8:1::2"),
    ("2000::/3", "2001:db8:1::2"),
    ("fc00::/7", "2001:db8:1::9"), // gateway without a neighbour entry
    ("192.168.66.0/24", "blackhole"),
    ("172.31.0.0/16", "unreachable"),
    ("fd00:dead::/32", "prohibit"),
];

static FIB: LazyLock<Fib> = LazyLock::new(|| {
    let ports: Vec<ConnectedPort> = PORTS
        .iter()
        .enumerate()
        .map(|(id, p)| {
            let (v4, v4_len) = p.v4;
            let mut addresses = vec![format!("{v4}/{v4_len}").parse().unwrap()];
            if let Some((v6, v6_len)) = p.v6 {
                addresses.push(format!("{v6}/{v6_len}").parse().unwrap());
            }
            ConnectedPort {
                id: id as PortId,
                addresses,
            }
        })
        .collect();
    let routes: Vec<StaticRoute> = ROUTES
        .iter()
        .map(|(prefix, via)| StaticRoute {
            prefix: prefix.parse().unwrap(),
            target: match Discard::ALL.into_iter().find(|d| d.name() == *via) {
                Some(action) => RouteTarget::Discard(action),
                None => RouteTarget::Via(via.parse().unwrap()),
            },
        })
        .collect();
    let neighbors: Vec<StaticNeighbor> = NEIGHBORS
        .iter()
        .map(|&(address, mac, port)| StaticNeighbor {
            address,
            mac: MacAddr(mac),
            port,
        })
        .collect();
    build_static(&ports, &routes, &neighbors).expect("the fuzz router's FIB builds")
});

fn ports(stages: bool) -> Vec<Port> {
    PORTS
        .iter()
        .enumerate()
        .map(|(i, p)| Port {
            name: p.name.to_string(),
            mac: MacAddr(p.mac),
            mtu: p.mtu,
            ipv4: Some(p.v4.0),
            ipv6: p.v6.map(|(a, _)| a),
            features: match (stages, i) {
                (true, 0) => PortFeatures {
                    urpf: Some(Urpf::Strict),
                    acl_in: Some(0),
                    acl_out: None,
                },
                (true, 1) => PortFeatures {
                    urpf: Some(Urpf::Loose),
                    acl_in: None,
                    acl_out: Some(0),
                },
                _ => PortFeatures::default(),
            },
            vlan: p.vlan.map(|(parent, id)| Vlan { parent, id }),
        })
        .collect()
}

/// The (interface, untagged frame) a frame received on `link` is for,
/// read independently of the pipeline: a served VLAN's tag or VLAN 0's
/// removed; `None` for tags the router must refuse.
fn arrival_of(link: PortId, input: &[u8]) -> Option<(PortId, Vec<u8>)> {
    let tpid = input.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]]));
    if tpid == Some(0x88a8) {
        return None;
    }
    if tpid != Some(0x8100) {
        return Some((link, input.to_vec()));
    }
    let tag = input.get(14..18)?;
    let inner = u16::from_be_bytes([tag[2], tag[3]]);
    if inner == 0x8100 || inner == 0x88a8 {
        return None;
    }
    let vid = u16::from_be_bytes([tag[0], tag[1]]) & 0xfff;
    let port = match vid {
        0 => link,
        _ => PORTS.iter().position(|p| p.vlan == Some((link, vid)))? as PortId,
    };
    Some((
        port,
        input[..12].iter().chain(&input[16..]).copied().collect(),
    ))
}

/// `frame` as sent on `port`: checks the tag a sub-interface's frame must
/// carry (its VLAN id; priority = the IP precedence; DEI clear) and
/// returns the frame without it.
fn untag_sent(port: PortId, frame: &[u8]) -> Vec<u8> {
    let Some((_, vid)) = PORTS[port as usize].vlan else {
        return frame.to_vec();
    };
    assert!(frame.len() >= 18, "a {}-byte frame on a VLAN", frame.len());
    assert_eq!(&frame[12..14], &[0x81, 0x00], "untagged frame on a VLAN");
    let tci = u16::from_be_bytes([frame[14], frame[15]]);
    assert_eq!(tci & 0x1fff, vid, "tag of another VLAN (or DEI set)");
    let inner: Vec<u8> = frame[..12].iter().chain(&frame[16..]).copied().collect();
    let precedence = match u16::from_be_bytes([inner[12], inner[13]]) {
        0x0800 => inner.get(15).map_or(0, |t| t >> 5),
        0x86dd => inner.get(14).map_or(0, |b| (b >> 1) & 7),
        _ => 0,
    };
    assert_eq!(
        (tci >> 13) as u8,
        precedence,
        "priority is not the precedence"
    );
    inner
}

/// The ACL bit 7 attaches.
static ACLS: LazyLock<Arc<AclTable>> = LazyLock::new(|| {
    let rule = |action, protocol, source_port, destination_port, source: Option<&str>| AclRule {
        action,
        source: source.map(|s| s.parse().expect("prefix")),
        destination: None,
        protocol: Some(protocol),
        source_port,
        destination_port,
    };
    let port = |first, last| Some(PortRange { first, last });
    Arc::new(AclTable::compile([AclSpec {
        name: "fuzz".into(),
        default: AclAction::Permit,
        rules: vec![
            rule(AclAction::Reject, 6, None, port(22, 22), None),
            rule(
                AclAction::Deny,
                17,
                port(1000, 2000),
                None,
                Some("10.0.0.0/8"),
            ),
            rule(AclAction::Reject, 58, None, None, Some("2001:db8::/32")),
        ],
    }]))
});

/// The longest untagged frame `port` may send (its tag comes on top).
fn frame_limit(port: PortId) -> usize {
    PORTS[port as usize].mtu as usize + ETH_LEN
}

/// The longest frame `port` may send, with its tag.
fn wire_limit(port: PortId) -> usize {
    frame_limit(port) + PORTS[port as usize].vlan.map_or(0, |_| 4)
}

/// Hands out buffers of exactly the size the `Emit` contract promises
/// (so a write past the promise panics) and keeps what was built.
struct CheckingEmit {
    /// Buffers left; `None` = unlimited.
    budget: Option<usize>,
    frames: Vec<(PortId, Vec<u8>)>,
}

impl Emit for CheckingEmit {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        assert!(
            (port as usize) < PORTS.len(),
            "emit on port {port}, which the router does not have"
        );
        if let Some(left) = &mut self.budget {
            if *left == 0 {
                return false;
            }
            *left -= 1;
        }
        let capacity = MIN_EMIT_BUFFER.max(wire_limit(port));
        let mut buf = vec![0xa5; capacity];
        let len = build(&mut buf);
        assert!(
            len <= capacity,
            "built {len} bytes into a {capacity}-byte buffer"
        );
        if len == 0 {
            return false;
        }
        assert!(
            len <= wire_limit(port),
            "emitted a {len}-byte frame on port {port} (MTU {})",
            PORTS[port as usize].mtu
        );
        buf.truncate(len);
        self.frames.push((port, untag_sent(port, &buf)));
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, clock, input @ ..] = data else {
        return;
    };
    let link = match control & 0b11 {
        3 => UNKNOWN_PORT,
        n => n as PortId,
    };
    let icmp_rate = if control & 0b100 != 0 { 0 } else { 1000 };
    let budget = match (control >> 3) & 0b111 {
        0 => None,
        n => Some(n as usize - 1),
    };
    let now_ns = *clock as u64 * 750_000_000;

    let stages = control & 0b1000_0000 != 0;
    let mut forwarder = Forwarder::new(ForwarderConfig {
        ports: ports(stages),
        icmp_rate,
        icmp_burst: 10,
        accept_source_route: control & 0b100_0000 != 0,
        acls: ACLS.clone(),
    });
    let mut emit = CheckingEmit {
        budget,
        frames: Vec::new(),
    };
    const HEADROOM: usize = 4;
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(input);
    let arrival = Arrival {
        link,
        start: HEADROOM,
        now_ns,
        hint: FrameHint::NONE,
    };
    let verdict = forwarder.process_at(&FIB, &mut buf, arrival, &mut emit);
    let Some((ingress, input)) = arrival_of(link, input).filter(|_| link != UNKNOWN_PORT) else {
        assert!(
            matches!(
                verdict,
                Verdict::Drop(
                    DropReason::VlanUnknown
                        | DropReason::VlanStacked
                        | DropReason::Truncated
                        | DropReason::UnknownPort
                )
            ),
            "a refused tag (or unknown port) gave {verdict:?}"
        );
        assert!(emit.frames.is_empty());
        return;
    };
    let input = &input[..];

    match verdict {
        Verdict::Forward { port, start, len } => {
            assert!(
                emit.frames.is_empty(),
                "frames emitted for a forwarded packet"
            );
            assert!(len <= wire_limit(port), "forwarded {len} bytes on {port}");
            let sent = untag_sent(port, &buf[start..start + len]);
            check_forward(input, &sent, port, sent.len());
        }
        Verdict::Fragmented { port, fragments } => {
            assert_eq!(
                emit.frames.len(),
                fragments as usize,
                "verdict counts {fragments} fragments, {} emitted",
                emit.frames.len()
            );
            check_fragments(input, port, &emit.frames, true);
        }
        Verdict::Local => assert!(emit.frames.is_empty(), "frames emitted for a local packet"),
        // Fragmentation that ran out of buffers part way: the fragments sent
        // before that must still be right.
        Verdict::Drop(DropReason::NoBuffer) => {
            if let Some(&(port, _)) = emit.frames.first() {
                check_fragments(input, port, &emit.frames, false);
            }
        }
        Verdict::Drop(reason) => check_icmp_error(input, ingress, reason, &emit.frames),
    }
    let c = &forwarder.counters;
    assert_eq!(c.rx_frames, 1);
    assert_eq!(
        c.forwarded + c.local + c.total_dropped(),
        1,
        "outcome counted {} times",
        c.forwarded + c.local + c.total_dropped()
    );
    assert!(c.icmp_sent <= 1);
});
