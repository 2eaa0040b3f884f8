//! Behaviour of the pipeline, one rule per test, plus property tests.

mod acl;
mod acl_batch;
mod batch;
mod common;
mod discard;
pub(super) mod ecmp;
mod fragment;
mod props;
mod stage_swap;
mod urpf;
pub(super) mod v4;
mod v6;
mod vlan;

use super::*;
use crate::testkit::frames::{counting, V4Frame, V6Frame};
use crate::testkit::rig;

pub(crate) use crate::testkit::frames::HOST_MAC;
pub(crate) use crate::testkit::rig::{GW_MAC, P0_MAC, P1_MAC};
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
    let mut ports = rig::ports();
    ports[1].mtu = P1_MTU;
    let fib = rig::static_fib(
        &[
            ("198.51.100.0/24", "203.0.113.2"),
            ("2001:db8:2::/48", "2001:db8:1::2"),
            ("10.0.0.0/8", "203.0.113.99"),
        ],
        &[("203.0.113.2", GW_MAC, 1), ("2001:db8:1::2", GW_MAC, 1)],
    );
    (rig::forwarder(ports, icmp_rate, icmp_burst), fib)
}

/// An Ethernet + IPv4 frame with `payload_len` bytes of patterned payload.
pub(crate) fn v4_frame(src: &str, dst: &str, ttl: u8, payload_len: usize, df: bool) -> Vec<u8> {
    V4Frame {
        src: src.parse().unwrap(),
        ttl,
        dscp_ecn: 0x2a,
        ident: 0xbeef,
        dont_fragment: df,
        payload: counting(payload_len),
        ..V4Frame::udp(dst.parse().unwrap())
    }
    .build()
}

pub(crate) fn v6_frame(src: &str, dst: &str, hop_limit: u8, next: u8, payload: &[u8]) -> Vec<u8> {
    V6Frame {
        src: src.parse().unwrap(),
        next_header: next,
        hop_limit,
        payload: payload.to_vec(),
        ..V6Frame::udp(dst.parse().unwrap())
    }
    .build()
}

/// A UDP packet from `src` to 198.51.100.7 port `dport` (the ACL tests').
pub(crate) fn udp_to(src: &str, dport: u16) -> Vec<u8> {
    let mut f = v4_frame(src, "198.51.100.7", 64, 20, false);
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f
}

/// A UDP packet from 2001:db8::10 to 2001:db8:2::7 (the ACL tests').
pub(crate) fn udp6_to_db8_2() -> Vec<u8> {
    v6_frame(
        "2001:db8::10",
        "2001:db8:2::7",
        64,
        crate::wire::ipv6::next_header::UDP,
        &[0; 8],
    )
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
