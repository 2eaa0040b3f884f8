//! The bodies of the five OSPFv2 packet types (A.3.2-A.3.6): parsed into
//! borrowed representations (lists stay zero-copy views over the packet)
//! and emitted into a packet under construction.

use std::net::Ipv4Addr;

use super::lsa::{self, LsaHeader, LsaKey, LsaType};
use super::{addr, be16, be32, OspfError, PacketType, Version};

/// Options bit E: AS-external LSAs are flooded (not a stub area).
pub const OPTION_E: u8 = 0x02;
/// DD flags.
pub const DD_INIT: u8 = 0x04;
pub const DD_MORE: u8 = 0x02;
pub const DD_MASTER: u8 = 0x01;

/// A Hello (A.3.2; RFC 5340 A.3.2 fills the same fields, with an
/// interface id for the mask, 24-bit options, and router ids for DR/BDR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// v2 only (v3: 0.0.0.0).
    pub mask: Ipv4Addr,
    /// v3 only (v2: 0).
    pub interface_id: u32,
    pub hello_interval: u16,
    pub options: u32,
    pub priority: u8,
    pub dead_interval: u32,
    pub dr: Ipv4Addr,
    pub bdr: Ipv4Addr,
    /// The router ids the sender has heard, 4 bytes each.
    pub neighbors: &'a [u8],
}

impl Hello<'_> {
    pub fn neighbors(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.neighbors.chunks_exact(4).map(|c| addr(c, 0))
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.mask.octets());
        out.extend_from_slice(&self.hello_interval.to_be_bytes());
        out.extend_from_slice(&[self.options as u8, self.priority]);
        out.extend_from_slice(&self.dead_interval.to_be_bytes());
        out.extend_from_slice(&self.dr.octets());
        out.extend_from_slice(&self.bdr.octets());
        out.extend_from_slice(self.neighbors);
    }
}

/// A list of LSA headers (DD and ack packets), 20 bytes each, each with a
/// known type (checked when the packet is parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsaHeaders<'a>(&'a [u8], Version);

impl<'a> LsaHeaders<'a> {
    pub(crate) fn parse(version: Version, b: &'a [u8]) -> Result<Self, OspfError> {
        if !b.len().is_multiple_of(lsa::HEADER_LEN) {
            return Err(OspfError::BadBody);
        }
        for chunk in b.chunks_exact(lsa::HEADER_LEN) {
            LsaHeader::checked_in(version, chunk)?;
        }
        Ok(LsaHeaders(b, version))
    }

    pub fn iter(&self) -> impl Iterator<Item = LsaHeader<&'a [u8]>> + 'a {
        let version = self.1;
        self.0
            .chunks_exact(lsa::HEADER_LEN)
            .map(move |c| LsaHeader::checked_in(version, c))
            .filter_map(Result::ok)
    }

    pub fn len(&self) -> usize {
        self.0.len() / lsa::HEADER_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A Database Description (A.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbDescription<'a> {
    pub mtu: u16,
    /// 8 bits in v2, 24 in v3.
    pub options: u32,
    /// I, M, MS bits ([`DD_INIT`], [`DD_MORE`], [`DD_MASTER`]).
    pub flags: u8,
    pub sequence: u32,
    pub headers: LsaHeaders<'a>,
}

impl DbDescription<'_> {
    /// Emits the fixed part; the caller appends the headers.
    pub fn emit_fixed(mtu: u16, options: u32, flags: u8, sequence: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&mtu.to_be_bytes());
        out.extend_from_slice(&[options as u8, flags & 0x07]);
        out.extend_from_slice(&sequence.to_be_bytes());
    }
}

/// The entries of a Link State Request (A.3.4), 12 bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsRequests<'a>(&'a [u8], Version);

impl<'a> LsRequests<'a> {
    pub(crate) fn parse(version: Version, b: &'a [u8]) -> Result<Self, OspfError> {
        if !b.len().is_multiple_of(12) {
            return Err(OspfError::BadBody);
        }
        Ok(LsRequests(b, version))
    }

    /// The requested keys; `Err` for an entry of an unknown type (the
    /// neighbour then asked for something no one has: BadLSReq).
    pub fn iter(&self) -> impl Iterator<Item = Result<LsaKey, OspfError>> + 'a {
        let version = self.1;
        self.0.chunks_exact(12).map(move |c| {
            let t = be32(c, 0);
            let ls_type = match version {
                Version::V2 => u8::try_from(t).ok().and_then(LsaType::from_u8),
                Version::V3 => u16::try_from(t).ok().map(LsaType::V3),
            }
            .ok_or(OspfError::BadLsa)?;
            Ok(LsaKey {
                ls_type,
                ls_id: addr(c, 4),
                adv_router: addr(c, 8),
            })
        })
    }

    pub fn len(&self) -> usize {
        self.0.len() / 12
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A Link State Update (A.3.5): the LSAs, each checked as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsUpdate<'a> {
    count: u32,
    lsas: &'a [u8],
    version: Version,
}

impl<'a> LsUpdate<'a> {
    /// The body of an update (the same in v2 and v3).
    pub(crate) fn parse(version: Version, b: &'a [u8]) -> Result<Self, OspfError> {
        if b.len() < 4 {
            return Err(OspfError::BadBody);
        }
        let count = be32(b, 0);
        // Each LSA takes at least a header: a count beyond that is a lie.
        if count as usize > (b.len() - 4) / lsa::HEADER_LEN {
            return Err(OspfError::BadBody);
        }
        Ok(LsUpdate {
            count,
            lsas: &b[4..],
            version,
        })
    }

    /// The LSAs in order; an `Err` item (a bad length or type) ends the
    /// list: what follows cannot be framed.
    pub fn iter(&self) -> LsaIter<'a> {
        LsaIter {
            rest: self.lsas,
            left: self.count,
            version: self.version,
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

/// The LSAs of an update.
pub struct LsaIter<'a> {
    rest: &'a [u8],
    left: u32,
    version: Version,
}

impl<'a> Iterator for LsaIter<'a> {
    type Item = Result<LsaHeader<&'a [u8]>, OspfError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let header = match LsaHeader::checked_in(self.version, self.rest) {
            Ok(h) if h.length() <= self.rest.len() => h,
            _ => {
                self.left = 0;
                return Some(Err(OspfError::BadLsa));
            }
        };
        let (lsa, rest) = self.rest.split_at(header.length());
        self.rest = rest;
        Some(LsaHeader::lsa_in(self.version, lsa))
    }
}

/// A parsed packet body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    Hello(Hello<'a>),
    DbDescription(DbDescription<'a>),
    LsRequest(LsRequests<'a>),
    LsUpdate(LsUpdate<'a>),
    LsAck(LsaHeaders<'a>),
}

impl<'a> Body<'a> {
    pub fn parse(kind: PacketType, b: &'a [u8]) -> Result<Body<'a>, OspfError> {
        match kind {
            PacketType::Hello => {
                if b.len() < 20 || !(b.len() - 20).is_multiple_of(4) {
                    return Err(OspfError::BadBody);
                }
                Ok(Body::Hello(Hello {
                    mask: addr(b, 0),
                    interface_id: 0,
                    hello_interval: be16(b, 4),
                    options: u32::from(b[6]),
                    priority: b[7],
                    dead_interval: be32(b, 8),
                    dr: addr(b, 12),
                    bdr: addr(b, 16),
                    neighbors: &b[20..],
                }))
            }
            PacketType::DbDescription => {
                if b.len() < 8 {
                    return Err(OspfError::BadBody);
                }
                Ok(Body::DbDescription(DbDescription {
                    mtu: be16(b, 0),
                    options: u32::from(b[2]),
                    flags: b[3] & 0x07,
                    sequence: be32(b, 4),
                    headers: LsaHeaders::parse(Version::V2, &b[8..])?,
                }))
            }
            PacketType::LsRequest => Ok(Body::LsRequest(LsRequests::parse(Version::V2, b)?)),
            PacketType::LsUpdate => Ok(Body::LsUpdate(LsUpdate::parse(Version::V2, b)?)),
            PacketType::LsAck => Ok(Body::LsAck(LsaHeaders::parse(Version::V2, b)?)),
        }
    }
}
