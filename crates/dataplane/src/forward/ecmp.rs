//! Flow hashes for choosing among equal-cost next hops.
//!
//! Every packet of a flow must take the same path (TCP suffers from
//! reordering), so the hash covers only fields that are the same for every
//! packet of the flow: IPv4 source, destination and protocol, plus the ports
//! of TCP, UDP and SCTP when the packet is not a fragment (a fragment has no
//! ports after the first, so every fragment uses the 3-tuple — a fragmented
//! flow may take another path than its unfragmented packets, never split its
//! own fragments). IPv6 uses source, destination and the flow label
//! (RFC 6438: the label stands for the transport ports and needs no walk of
//! extension headers); a zero label leaves the 2-tuple.

use crate::wire::ipv4::protocol;
use crate::wire::{Ipv4Packet, Ipv6Packet};

/// SCTP's protocol number (ports at the same place as TCP's and UDP's).
const SCTP: u8 = 132;

/// The IPv4 flow's hash. `ip` is a validated packet.
#[inline]
pub(crate) fn flow_hash_v4(ip: &Ipv4Packet<&[u8]>) -> u32 {
    let proto = ip.protocol();
    let mut h = mix(u64::from(u32::from(ip.src())) << 32 | u64::from(u32::from(ip.dst())));
    let fragment = ip.more_frags() || ip.frag_offset() != 0;
    let ports = match proto {
        protocol::TCP | protocol::UDP | SCTP if !fragment => ip
            .payload()
            .get(..4)
            .map_or(0, |p| u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
        _ => 0,
    };
    h = mix(h ^ (u64::from(ports) << 8 | u64::from(proto)));
    (h >> 32) as u32
}

/// The IPv6 flow's hash. `ip` is a validated packet.
#[inline]
pub(crate) fn flow_hash_v6(ip: &Ipv6Packet<&[u8]>) -> u32 {
    let s = u128::from_be_bytes(ip.src_bytes());
    let d = u128::from_be_bytes(ip.dst_bytes());
    let folded = (s as u64) ^ ((s >> 64) as u64).rotate_left(17) ^ (d as u64).rotate_left(31);
    let h = mix(folded ^ ((d >> 64) as u64).rotate_left(47));
    (mix(h ^ u64::from(ip.flow_label())) >> 32) as u32
}

/// splitmix64's finaliser: every input bit reaches the high output bits,
/// which are the ones a group's multiply-shift selection uses.
#[inline]
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
