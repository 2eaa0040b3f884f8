//! Behaviour of the pipeline, one rule per test, plus property tests.

mod batch;
mod ecmp;
mod fragment;
mod props;
mod v4;
mod v6;

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::fib::{build_static, ConnectedPort, StaticNeighbor, StaticRoute};
use crate::wire::ethernet::{emit_header, ethertype};
use crate::wire::ipv4::{protocol, Ipv4Repr};
use crate::wire::ipv6::{self};
use crate::wire::Ipv4Packet;

pub(crate) const P0_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub(crate) const P1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
pub(crate) const GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
pub(crate) const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
pub(crate) const P1_MTU: u16 = 1400;

/// Collects emitted frames; buffers as large as an AF_XDP frame.
#[derive(Default)]
pub(crate) struct VecEmit {
    pub frames: Vec<(PortId, Vec<u8>)>,
    pub refuse: bool,
}

impl Emit for VecEmit {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if self.refuse {
            return false;
        }
        let mut buf = vec![0u8; 4096];
        let n = build(&mut buf);
        if n == 0 {
            return false;
        }
        buf.truncate(n);
        self.frames.push((port, buf));
        true
    }
}

pub(crate) fn rig(icmp_rate: u32, icmp_burst: u32) -> (Forwarder, Fib) {
    let ports = vec![
        Port {
            name: "p0".into(),
            mac: P0_MAC,
            mtu: 1500,
            ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ipv6: Some("2001:db8::1".parse().unwrap()),
        },
        Port {
            name: "p1".into(),
            mac: P1_MAC,
            mtu: P1_MTU,
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 1)),
            ipv6: Some("2001:db8:1::1".parse().unwrap()),
        },
    ];
    let connected = vec![
        ConnectedPort {
            id: 0,
            addresses: vec![
                "192.0.2.1/24".parse().unwrap(),
                "2001:db8::1/64".parse().unwrap(),
            ],
        },
        ConnectedPort {
            id: 1,
            addresses: vec![
                "203.0.113.1/24".parse().unwrap(),
                "2001:db8:1::1/64".parse().unwrap(),
            ],
        },
    ];
    let routes = vec![
        StaticRoute {
            prefix: "198.51.100.0/24".parse().unwrap(),
            via: "203.0.113.2".parse().unwrap(),
        },
        StaticRoute {
            prefix: "2001:db8:2::/48".parse().unwrap(),
            via: "2001:db8:1::2".parse().unwrap(),
        },
        StaticRoute {
            prefix: "10.0.0.0/8".parse().unwrap(),
            via: "203.0.113.99".parse().unwrap(),
        },
    ];
    let neighbors = vec![
        StaticNeighbor {
            address: "203.0.113.2".parse().unwrap(),
            mac: GW_MAC,
            port: 1,
        },
        StaticNeighbor {
            address: "2001:db8:1::2".parse().unwrap(),
            mac: GW_MAC,
            port: 1,
        },
    ];
    let fib = build_static(&connected, &routes, &neighbors).unwrap();
    let fwd = Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate,
        icmp_burst,
        accept_source_route: false,
    });
    (fwd, fib)
}

/// An Ethernet + IPv4 frame with `payload_len` bytes of patterned payload.
pub(crate) fn v4_frame(src: &str, dst: &str, ttl: u8, payload_len: usize, df: bool) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + payload_len];
    emit_header(&mut f, P0_MAC, HOST_MAC, ethertype::IPV4);
    Ipv4Repr {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: protocol::UDP,
        ttl,
        dscp_ecn: 0x2a,
        ident: 0xbeef,
        payload_len,
    }
    .emit(&mut f[14..]);
    for (i, b) in f[34..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if df {
        f[14 + 6] |= 0x40;
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
    }
    f
}

pub(crate) fn v6_frame(src: &str, dst: &str, hop_limit: u8, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40];
    emit_header(&mut f, P0_MAC, HOST_MAC, ethertype::IPV6);
    let s: Ipv6Addr = src.parse().unwrap();
    let d: Ipv6Addr = dst.parse().unwrap();
    ipv6::emit_header(
        &mut f[14..],
        s.octets(),
        d.octets(),
        next,
        hop_limit,
        payload.len() as u16,
    );
    f.extend_from_slice(payload);
    f
}

pub(crate) fn run(fwd: &mut Forwarder, fib: &Fib, frame: &mut [u8]) -> (Verdict, VecEmit) {
    let mut emit = VecEmit::default();
    let v = fwd.process(fib, 0, frame, 1_000_000_000, &mut emit);
    (v, emit)
}

#[test]
fn unknown_ingress_port_is_a_drop() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 8, false);
    let mut emit = VecEmit::default();
    assert_eq!(
        fwd.process(&fib, 7, &mut f, 0, &mut emit),
        Verdict::Drop(DropReason::UnknownPort)
    );
}
