//! OSPFv3 packets (RFC 5340 Appendix A) in the smoltcp `wire` style: a
//! checked view of the 16-byte common header ([`Ospf3Packet`]) whose body
//! parses into the same borrowed representations as OSPFv2's ([`Body`]:
//! the speaker's state machines read one shape), emitters for the parts
//! whose layout differs (header, Hello, DD), the LSA bodies ([`lsa`]) and
//! the flooding scope of an LS type (§4.8: unknown types too).
//!
//! There is no authentication field, and the checksum covers an IPv6
//! pseudo-header: the kernel computes and verifies it (`IPV6_CHECKSUM` at
//! offset 12 on the raw socket); [`checksum`] is here for tests and tools.
//! Everything here reads bytes a peer sent: lengths are checked before
//! use, nothing panics (the `ospf3` fuzz target checks that).

pub mod lsa;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::control::ospf::wire::body::{
    Body, DbDescription, Hello, LsRequests, LsUpdate, LsaHeaders,
};
use crate::control::ospf::wire::lsa::LsaType;
use crate::control::ospf::wire::{addr, be16, be32, OspfError, PacketType, Version};
use crate::wire::checksum;

/// AllSPFRouters (ff02::5).
pub const ALL_SPF_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 5);
/// AllDRouters (ff02::6).
pub const ALL_D_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 6);
/// Length of the common header.
pub const HEADER_LEN: usize = 16;
/// Where the checksum sits (the raw socket's `IPV6_CHECKSUM` offset).
pub const CHECKSUM_OFFSET: usize = 12;

/// Options (A.2): V6, E, R — a router forwarding IPv6 in a normal area.
pub const OPTION_V6: u32 = 0x01;
pub const OPTION_E: u32 = 0x02;
pub const OPTION_R: u32 = 0x10;
pub const OPTIONS: u32 = OPTION_V6 | OPTION_E | OPTION_R;

/// The LS types this speaker reads (U bit clear).
pub const ROUTER_LSA: LsaType = LsaType::V3(0x2001);
pub const NETWORK_LSA: LsaType = LsaType::V3(0x2002);
pub const INTER_AREA_PREFIX_LSA: LsaType = LsaType::V3(0x2003);
pub const INTER_AREA_ROUTER_LSA: LsaType = LsaType::V3(0x2004);
pub const AS_EXTERNAL_LSA: LsaType = LsaType::V3(0x4005);
pub const LINK_LSA: LsaType = LsaType::V3(0x0008);
pub const INTRA_AREA_PREFIX_LSA: LsaType = LsaType::V3(0x2009);

/// Where an LSA is flooded (§4.8 / A.4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The link it was received on (or originated for) only.
    Link,
    Area,
    As,
}

/// The flooding scope of an LSA of `ls_type`. OSPFv2's are area-wide
/// (AS-external: AS-wide; one area makes them the same). An OSPFv3 type
/// this router does not know is flooded by its S bits if its U bit is set,
/// else as if link-local (§4.8.2); the reserved scope is kept to the link.
pub fn flooding_scope(ls_type: LsaType) -> Scope {
    let code = match ls_type {
        LsaType::AsExternal => return Scope::As,
        LsaType::V3(code) => code,
        _ => return Scope::Area,
    };
    let known = [
        ROUTER_LSA,
        NETWORK_LSA,
        INTER_AREA_PREFIX_LSA,
        INTER_AREA_ROUTER_LSA,
        AS_EXTERNAL_LSA,
        LINK_LSA,
        INTRA_AREA_PREFIX_LSA,
    ]
    .contains(&ls_type);
    if !known && code & 0x8000 == 0 {
        return Scope::Link;
    }
    match (code >> 13) & 0x3 {
        1 => Scope::Area,
        2 => Scope::As,
        _ => Scope::Link,
    }
}

fn be24(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, b[at], b[at + 1], b[at + 2]])
}

fn put24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// A checked view of an OSPFv3 packet (the IPv6 payload).
#[derive(Debug, Clone, Copy)]
pub struct Ospf3Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ospf3Packet<T> {
    /// Wraps `buffer` after the structural checks: version 3, a known
    /// type, a length field at least the header and within the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, OspfError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(OspfError::Truncated);
        }
        if b[0] != 3 {
            return Err(OspfError::BadVersion);
        }
        if PacketType::from_u8(b[1]).is_none() {
            return Err(OspfError::BadType);
        }
        let len = usize::from(be16(b, 2));
        if len < HEADER_LEN || len > b.len() {
            return Err(OspfError::BadLength);
        }
        Ok(Ospf3Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn packet_type(&self) -> PacketType {
        PacketType::from_u8(self.b()[1]).unwrap_or(PacketType::Hello)
    }

    pub fn len(&self) -> usize {
        usize::from(be16(self.b(), 2))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }

    pub fn router_id(&self) -> Ipv4Addr {
        addr(self.b(), 4)
    }

    pub fn area_id(&self) -> Ipv4Addr {
        addr(self.b(), 8)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.b(), CHECKSUM_OFFSET)
    }

    pub fn instance_id(&self) -> u8 {
        self.b()[14]
    }

    /// The packet up to its length field.
    pub fn packet(&self) -> &[u8] {
        &self.b()[..self.len()]
    }

    pub fn body(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.len()]
    }

    /// The body, parsed into the representations OSPFv2's share.
    pub fn parse_body(&self) -> Result<Body<'_>, OspfError> {
        parse_body(self.packet_type(), self.body())
    }
}

/// Reads an OSPFv3 body of `kind` (A.3.2-A.3.6).
pub fn parse_body(kind: PacketType, b: &[u8]) -> Result<Body<'_>, OspfError> {
    match kind {
        PacketType::Hello => {
            if b.len() < 20 || !(b.len() - 20).is_multiple_of(4) {
                return Err(OspfError::BadBody);
            }
            Ok(Body::Hello(Hello {
                mask: Ipv4Addr::UNSPECIFIED,
                interface_id: be32(b, 0),
                priority: b[4],
                options: be24(b, 5),
                hello_interval: be16(b, 8),
                dead_interval: u32::from(be16(b, 10)),
                dr: addr(b, 12),
                bdr: addr(b, 16),
                neighbors: &b[20..],
            }))
        }
        PacketType::DbDescription => {
            if b.len() < 12 {
                return Err(OspfError::BadBody);
            }
            Ok(Body::DbDescription(DbDescription {
                options: be24(b, 1),
                mtu: be16(b, 4),
                flags: b[7] & 0x07,
                sequence: be32(b, 8),
                headers: LsaHeaders::parse(Version::V3, &b[12..])?,
            }))
        }
        PacketType::LsRequest => Ok(Body::LsRequest(LsRequests::parse(Version::V3, b)?)),
        PacketType::LsUpdate => Ok(Body::LsUpdate(LsUpdate::parse(Version::V3, b)?)),
        PacketType::LsAck => Ok(Body::LsAck(LsaHeaders::parse(Version::V3, b)?)),
    }
}

/// Appends a Hello's body in the v3 layout (the dead interval is 16 bits:
/// larger values are sent as 65535).
pub fn emit_hello(h: &Hello<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(&h.interface_id.to_be_bytes());
    out.push(h.priority);
    put24(out, h.options);
    out.extend_from_slice(&h.hello_interval.to_be_bytes());
    let dead = u16::try_from(h.dead_interval).unwrap_or(u16::MAX);
    out.extend_from_slice(&dead.to_be_bytes());
    out.extend_from_slice(&h.dr.octets());
    out.extend_from_slice(&h.bdr.octets());
    out.extend_from_slice(h.neighbors);
}

/// Appends a DD's fixed part in the v3 layout; the caller appends headers.
pub fn emit_dd_fixed(mtu: u16, options: u32, flags: u8, sequence: u32, out: &mut Vec<u8>) {
    out.push(0);
    put24(out, options);
    out.extend_from_slice(&mtu.to_be_bytes());
    out.extend_from_slice(&[0, flags & 0x07]);
    out.extend_from_slice(&sequence.to_be_bytes());
}

/// Writes an OSPFv3 packet: the header of `kind` from `router_id` in
/// `area` for `instance_id`, whatever `body` appends, the length. The
/// checksum stays zero for the kernel to fill.
pub fn emit(
    kind: PacketType,
    router_id: Ipv4Addr,
    area: Ipv4Addr,
    instance_id: u8,
    body: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[3, kind as u8, 0, 0]);
    out.extend_from_slice(&router_id.octets());
    out.extend_from_slice(&area.octets());
    out.extend_from_slice(&[0, 0, instance_id, 0]);
    body(&mut out);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// The checksum of `packet` sent from `source` to `destination` (RFC 8200
/// §8.1 pseudo-header, next header 89): the value to store when the field
/// is zero, and zero when the stored one is right.
pub fn checksum(source: Ipv6Addr, destination: Ipv6Addr, packet: &[u8]) -> u16 {
    let acc = checksum::pseudo_header_v6(
        source.octets(),
        destination.octets(),
        crate::control::ospf::wire::IP_PROTOCOL,
        packet.len() as u32,
    );
    checksum::finish(checksum::accumulate(acc, packet))
}
