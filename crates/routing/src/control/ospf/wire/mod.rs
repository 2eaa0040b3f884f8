//! OSPFv2 packets (RFC 2328 Appendix A) in the smoltcp `wire` style: a
//! checked view of the common header ([`OspfPacket`]), the bodies of the
//! five packet types read by [`Body::parse`] into borrowed representations
//! whose LSA-header lists are zero-copy views, and emitters that write
//! whole packets (length and checksum filled in).
//!
//! Everything here reads bytes a peer sent: every length is checked before
//! it is used, lists are bounded by the packet's own length, nothing
//! panics on any input (the `ospf` fuzz target checks that).

pub mod auth;
pub mod body;
pub mod lsa;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use crate::wire::checksum;

pub use auth::Authentication;
pub use body::{Body, DbDescription, Hello, LsRequests, LsUpdate, LsaHeaders};
pub use lsa::{fletcher_verify, LsaBody, LsaHeader, LsaKey, LsaType, RouterLink, RouterLinkType};

/// Which OSPF a packet, LSA header or database is of: v2 (RFC 2328) and
/// v3 (RFC 5340) share the LSA header's layout but for the LS type (8 bits
/// after an options byte in v2, 16 bits in v3), and the speaker's state
/// machines entirely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Version {
    #[default]
    V2,
    V3,
}

/// IP protocol number of OSPF.
pub const IP_PROTOCOL: u8 = 89;
/// AllSPFRouters.
pub const ALL_SPF_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 5);
/// AllDRouters.
pub const ALL_D_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 6);
/// Length of the common header.
pub const HEADER_LEN: usize = 24;
/// Bytes around a packet's body on the wire: the IP header, the OSPF
/// header, and room for an MD5 digest (whether the interface uses one or
/// not: packets are sized the same either way).
pub const PACKET_OVERHEAD: usize = 20 + HEADER_LEN + auth::MD5_LEN;

/// Why an OSPF packet was rejected (each is a counted drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum OspfError {
    #[error("truncated")]
    Truncated,
    #[error("not OSPF version 2")]
    BadVersion,
    #[error("bad packet length")]
    BadLength,
    #[error("unknown packet type")]
    BadType,
    #[error("bad checksum")]
    BadChecksum,
    #[error("authentication type mismatch")]
    BadAuthentication,
    #[error("authentication failed")]
    AuthenticationFailed,
    #[error("malformed body")]
    BadBody,
    #[error("malformed LSA")]
    BadLsa,
}

/// The five packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Hello = 1,
    DbDescription = 2,
    LsRequest = 3,
    LsUpdate = 4,
    LsAck = 5,
}

impl PacketType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => PacketType::Hello,
            2 => PacketType::DbDescription,
            3 => PacketType::LsRequest,
            4 => PacketType::LsUpdate,
            5 => PacketType::LsAck,
            _ => return None,
        })
    }
}

pub(crate) mod field {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const ROUTER_ID: Range<usize> = 4..8;
    pub const AREA_ID: Range<usize> = 8..12;
    pub const CHECKSUM: Range<usize> = 12..14;
    pub const AU_TYPE: Range<usize> = 14..16;
    pub const AUTH: Range<usize> = 16..24;
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn addr(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// A checked view of an OSPFv2 packet: the buffer may be longer than the
/// packet (the IP payload should not be, but a view does not care);
/// [`OspfPacket::packet`] ends at the header's length field.
#[derive(Debug, Clone, Copy)]
pub struct OspfPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OspfPacket<T> {
    /// Wraps `buffer` after the structural checks: version 2, a known
    /// type, a length field at least the header and within the buffer.
    /// The checksum and authentication are [`OspfPacket::verify`]'s.
    pub fn new_checked(buffer: T) -> Result<Self, OspfError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(OspfError::Truncated);
        }
        if b[field::VERSION] != 2 {
            return Err(OspfError::BadVersion);
        }
        if PacketType::from_u8(b[field::TYPE]).is_none() {
            return Err(OspfError::BadType);
        }
        let len = usize::from(be16(b, field::LENGTH.start));
        if len < HEADER_LEN || len > b.len() {
            return Err(OspfError::BadLength);
        }
        Ok(OspfPacket { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn packet_type(&self) -> PacketType {
        // Checked in `new_checked`.
        PacketType::from_u8(self.b()[field::TYPE]).unwrap_or(PacketType::Hello)
    }

    pub fn len(&self) -> usize {
        usize::from(be16(self.b(), field::LENGTH.start))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }

    pub fn router_id(&self) -> Ipv4Addr {
        addr(self.b(), field::ROUTER_ID.start)
    }

    pub fn area_id(&self) -> Ipv4Addr {
        addr(self.b(), field::AREA_ID.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM.start)
    }

    pub fn au_type(&self) -> u16 {
        be16(self.b(), field::AU_TYPE.start)
    }

    /// The packet up to its length field.
    pub fn packet(&self) -> &[u8] {
        &self.b()[..self.len()]
    }

    pub fn body(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.len()]
    }

    /// Null authentication (AuType 0) and the standard checksum over the
    /// packet without the 64-bit authentication field (A.3.1).
    pub fn verify(&self) -> Result<(), OspfError> {
        self.authenticate(&Authentication::Null).map(|_| ())
    }

    /// Checks the packet against the interface's authentication (Appendix
    /// D): the AuType, then for null and simple the checksum (and the
    /// password), for cryptographic the key id and the MD5 digest that
    /// follows the packet. Returns the cryptographic sequence number, for
    /// the caller to compare with the neighbour's last.
    pub fn authenticate(&self, auth: &Authentication) -> Result<Option<u32>, OspfError> {
        auth::check(self.b(), self.len(), auth)
    }

    /// The 8-byte authentication field.
    pub fn auth_field(&self) -> &[u8] {
        &self.b()[field::AUTH]
    }

    /// The body, parsed.
    pub fn parse_body(&self) -> Result<Body<'_>, OspfError> {
        Body::parse(self.packet_type(), self.body())
    }
}

/// The Internet checksum over `packet` skipping the authentication field:
/// the value to store when the checksum field is zero, and zero when the
/// stored checksum is right.
pub(crate) fn packet_checksum(packet: &[u8]) -> u16 {
    let acc = checksum::accumulate(0, &packet[..field::AUTH.start]);
    let acc = checksum::accumulate(acc, &packet[field::AUTH.end..]);
    checksum::finish(acc)
}

/// Writes an OSPF packet: the header of `kind` from `router_id` in `area`,
/// then whatever `body` appends, then the length and checksum (null
/// authentication).
pub fn emit(
    kind: PacketType,
    router_id: Ipv4Addr,
    area: Ipv4Addr,
    body: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[2, kind as u8, 0, 0]);
    out.extend_from_slice(&router_id.octets());
    out.extend_from_slice(&area.octets());
    out.extend_from_slice(&[0; 12]);
    body(&mut out);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    let sum = packet_checksum(&out);
    out[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    out
}
