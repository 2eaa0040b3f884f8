//! LSAs (RFC 2328 A.4): the 20-byte header as a view, the bodies of the
//! router, network and AS-external LSAs as representations with parse and
//! emit, and the Fletcher checksum (RFC 905 Annex B, RFC 2328 §12.1.7)
//! that covers an LSA from its options byte on (the age is left out, so
//! it can change in flight).

use std::net::Ipv4Addr;

use super::{addr, be16, be32, OspfError, Version};

/// Length of an LSA header.
pub const HEADER_LEN: usize = 20;
/// Largest LSA accepted or originated (an IP packet's worth).
pub const MAX_LEN: usize = 65_535 - 20 - 24 - 4;
/// Where the Fletcher checksum sits within the checksummed bytes
/// (which start at the options byte, offset 2).
const CHECKSUM_AT: usize = 14;

/// LS types this speaker knows (area 0: no NSSA, no opaque), and any
/// OSPFv3 LS type (its 16-bit function code with the U and S bits; known
/// or not, RFC 5340 §4.8 floods it by its scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LsaType {
    Router,
    Network,
    SummaryNetwork,
    SummaryAsbr,
    AsExternal,
    V3(u16),
}

impl LsaType {
    /// The type as on the wire (v2: 1-5; v3: the 16-bit LS type).
    pub fn code(self) -> u16 {
        match self {
            LsaType::Router => 1,
            LsaType::Network => 2,
            LsaType::SummaryNetwork => 3,
            LsaType::SummaryAsbr => 4,
            LsaType::AsExternal => 5,
            LsaType::V3(code) => code,
        }
    }

    /// The version whose type this is.
    pub fn version(self) -> Version {
        match self {
            LsaType::V3(_) => Version::V3,
            _ => Version::V2,
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => LsaType::Router,
            2 => LsaType::Network,
            3 => LsaType::SummaryNetwork,
            4 => LsaType::SummaryAsbr,
            5 => LsaType::AsExternal,
            _ => return None,
        })
    }
}

/// What identifies an LSA (§12.1): type, link state id, advertising
/// router. The order is the database's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct LsaKey {
    pub ls_type: LsaType,
    pub ls_id: Ipv4Addr,
    pub adv_router: Ipv4Addr,
}

impl LsaKey {
    /// Writes the 12 bytes of a link state request entry (v2: a 32-bit
    /// type; v3: 16 reserved bits and the 16-bit type: the same word).
    pub fn emit_request(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&u32::from(self.ls_type.code()).to_be_bytes());
        out.extend_from_slice(&self.ls_id.octets());
        out.extend_from_slice(&self.adv_router.octets());
    }
}

/// A view of an LSA header (and of the LSA behind it when the buffer holds
/// it whole).
#[derive(Debug, Clone, Copy)]
pub struct LsaHeader<T: AsRef<[u8]>> {
    buffer: T,
    version: Version,
}

impl<T: AsRef<[u8]>> LsaHeader<T> {
    /// An OSPFv2 header: 20 bytes and a known type. (The length field is
    /// not checked against the buffer: DD and ack packets carry headers
    /// alone.)
    pub fn new_checked(buffer: T) -> Result<Self, OspfError> {
        Self::checked_in(Version::V2, buffer)
    }

    /// A header of `version`: in v3 every LS type is taken (unknown ones
    /// are flooded by their scope bits).
    pub fn checked_in(version: Version, buffer: T) -> Result<Self, OspfError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN || (version == Version::V2 && LsaType::from_u8(b[3]).is_none()) {
            return Err(OspfError::BadLsa);
        }
        let len = usize::from(be16(b, 18));
        if len < HEADER_LEN {
            return Err(OspfError::BadLsa);
        }
        Ok(LsaHeader { buffer, version })
    }

    /// A whole OSPFv2 LSA: a header whose length field matches the buffer's.
    pub fn new_lsa(buffer: T) -> Result<Self, OspfError> {
        Self::lsa_in(Version::V2, buffer)
    }

    /// A whole LSA of `version`.
    pub fn lsa_in(version: Version, buffer: T) -> Result<Self, OspfError> {
        let view = Self::checked_in(version, buffer)?;
        if view.length() != view.buffer.as_ref().len() {
            return Err(OspfError::BadLsa);
        }
        Ok(view)
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn age(&self) -> u16 {
        be16(self.b(), 0)
    }
    pub fn version(&self) -> Version {
        self.version
    }
    /// The options byte (v2; v3 LSA headers have none: 0).
    pub fn options(&self) -> u8 {
        match self.version {
            Version::V2 => self.b()[2],
            Version::V3 => 0,
        }
    }
    pub fn ls_type(&self) -> LsaType {
        match self.version {
            Version::V2 => LsaType::from_u8(self.b()[3]).unwrap_or(LsaType::Router),
            Version::V3 => LsaType::V3(be16(self.b(), 2)),
        }
    }
    pub fn ls_id(&self) -> Ipv4Addr {
        addr(self.b(), 4)
    }
    pub fn adv_router(&self) -> Ipv4Addr {
        addr(self.b(), 8)
    }
    /// A signed 32-bit number (§12.1.6): compare as `i32`.
    pub fn sequence(&self) -> i32 {
        be32(self.b(), 12) as i32
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 16)
    }
    pub fn length(&self) -> usize {
        usize::from(be16(self.b(), 18))
    }
    pub fn key(&self) -> LsaKey {
        LsaKey {
            ls_type: self.ls_type(),
            ls_id: self.ls_id(),
            adv_router: self.adv_router(),
        }
    }
    /// The 20 header bytes.
    pub fn header_bytes(&self) -> &[u8] {
        &self.b()[..HEADER_LEN]
    }
    /// The body (only for a whole LSA, see [`LsaHeader::new_lsa`]).
    pub fn body(&self) -> &[u8] {
        let b = self.b();
        &b[HEADER_LEN.min(b.len())..self.length().min(b.len())]
    }
}

impl<'a> LsaHeader<&'a [u8]> {
    /// The bytes viewed (the whole LSA for [`LsaHeader::new_lsa`]).
    pub fn bytes(&self) -> &'a [u8] {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> LsaHeader<T> {
    pub fn set_age(&mut self, age: u16) {
        self.buffer.as_mut()[0..2].copy_from_slice(&age.to_be_bytes());
    }
}

/// The Fletcher sums (c0, c1) of `data`, mod 255.
fn fletcher_sums(data: &[u8]) -> (u32, u32) {
    let (mut c0, mut c1) = (0u32, 0u32);
    // 4102 bytes keep c1 below 2^32 before a reduction (RFC 1008's bound
    // is far lower for 16-bit sums; 32-bit ones allow this much).
    for chunk in data.chunks(4102) {
        for &b in chunk {
            c0 += u32::from(b);
            c1 += c0;
        }
        c0 %= 255;
        c1 %= 255;
    }
    (c0, c1)
}

/// Fills the Fletcher checksum of the whole LSA `lsa` (header included;
/// its length field must be right).
pub fn fletcher_fill(lsa: &mut [u8]) {
    lsa[16] = 0;
    lsa[17] = 0;
    let data = &lsa[2..];
    let (c0, c1) = fletcher_sums(data);
    let (c0, c1) = (i64::from(c0), i64::from(c1));
    let len = data.len() as i64;
    let mut x = ((len - CHECKSUM_AT as i64 - 1) * c0 - c1).rem_euclid(255);
    if x == 0 {
        x = 255;
    }
    let mut y = 510 - c0 - x;
    if y > 255 {
        y -= 255;
    }
    lsa[16] = x as u8;
    lsa[17] = y as u8;
}

/// True when the whole LSA's Fletcher checksum is right (and not the
/// unused value 0).
pub fn fletcher_verify(lsa: &[u8]) -> bool {
    if lsa.len() < HEADER_LEN || be16(lsa, 16) == 0 {
        return false;
    }
    fletcher_sums(&lsa[2..]) == (0, 0)
}

/// Kinds of router LSA links (A.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterLinkType {
    PointToPoint = 1,
    Transit = 2,
    Stub = 3,
    Virtual = 4,
}

/// One link of a router LSA (TOS metrics other than 0 are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RouterLink {
    pub kind: RouterLinkType,
    /// Neighbour router id (p2p), DR address (transit), network (stub).
    pub id: Ipv4Addr,
    /// Own interface address (p2p, transit), mask (stub).
    pub data: Ipv4Addr,
    pub metric: u16,
}

/// The bodies this speaker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LsaBody {
    Router {
        /// V, E, B bits.
        flags: u8,
        links: Vec<RouterLink>,
    },
    Network {
        mask: Ipv4Addr,
        attached: Vec<Ipv4Addr>,
    },
    AsExternal {
        mask: Ipv4Addr,
        /// E bit: type 2 metric.
        type2: bool,
        metric: u32,
        forwarding: Ipv4Addr,
        tag: u32,
    },
    /// Type 3 (a network in another area, the link state id its address)
    /// or type 4 (an AS boundary router, the id its router id; mask 0),
    /// TOS 0 only.
    Summary {
        mask: Ipv4Addr,
        metric: u32,
    },
    Other,
}

impl LsaBody {
    /// Reads the body of an LSA of type `ls_type`; every count is checked
    /// against the bytes there are.
    pub fn parse(ls_type: LsaType, b: &[u8]) -> Result<LsaBody, OspfError> {
        match ls_type {
            LsaType::Router => {
                if b.len() < 4 {
                    return Err(OspfError::BadLsa);
                }
                let count = usize::from(be16(b, 2));
                let mut links = Vec::with_capacity(count.min(b.len() / 12));
                let mut at = 4;
                for _ in 0..count {
                    if b.len() < at + 12 {
                        return Err(OspfError::BadLsa);
                    }
                    let kind = match b[at + 8] {
                        1 => RouterLinkType::PointToPoint,
                        2 => RouterLinkType::Transit,
                        3 => RouterLinkType::Stub,
                        4 => RouterLinkType::Virtual,
                        _ => return Err(OspfError::BadLsa),
                    };
                    let tos = usize::from(b[at + 9]);
                    links.push(RouterLink {
                        kind,
                        id: addr(b, at),
                        data: addr(b, at + 4),
                        metric: be16(b, at + 10),
                    });
                    at += 12 + 4 * tos;
                }
                if at > b.len() {
                    return Err(OspfError::BadLsa);
                }
                Ok(LsaBody::Router { flags: b[0], links })
            }
            LsaType::Network => {
                if b.len() < 8 || !b.len().is_multiple_of(4) {
                    return Err(OspfError::BadLsa);
                }
                let attached = b[4..].chunks_exact(4).map(|c| addr(c, 0)).collect();
                Ok(LsaBody::Network {
                    mask: addr(b, 0),
                    attached,
                })
            }
            LsaType::AsExternal => {
                if b.len() < 16 {
                    return Err(OspfError::BadLsa);
                }
                Ok(LsaBody::AsExternal {
                    mask: addr(b, 0),
                    type2: b[4] & 0x80 != 0,
                    metric: be32(b, 4) & 0x00ff_ffff,
                    forwarding: addr(b, 8),
                    tag: be32(b, 12),
                })
            }
            LsaType::SummaryNetwork | LsaType::SummaryAsbr => {
                if b.len() < 8 {
                    return Err(OspfError::BadLsa);
                }
                Ok(LsaBody::Summary {
                    mask: addr(b, 0),
                    metric: be32(b, 4) & 0x00ff_ffff,
                })
            }
            LsaType::V3(_) => Ok(LsaBody::Other),
        }
    }

    /// Appends the body's bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            LsaBody::Router { flags, links } => {
                out.extend_from_slice(&[*flags, 0]);
                let count = u16::try_from(links.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for l in links.iter().take(usize::from(count)) {
                    out.extend_from_slice(&l.id.octets());
                    out.extend_from_slice(&l.data.octets());
                    out.extend_from_slice(&[l.kind as u8, 0]);
                    out.extend_from_slice(&l.metric.to_be_bytes());
                }
            }
            LsaBody::Network { mask, attached } => {
                out.extend_from_slice(&mask.octets());
                for a in attached {
                    out.extend_from_slice(&a.octets());
                }
            }
            LsaBody::AsExternal {
                mask,
                type2,
                metric,
                forwarding,
                tag,
            } => {
                out.extend_from_slice(&mask.octets());
                let word = (metric & 0x00ff_ffff) | if *type2 { 1 << 31 } else { 0 };
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&forwarding.octets());
                out.extend_from_slice(&tag.to_be_bytes());
            }
            LsaBody::Summary { mask, metric } => {
                out.extend_from_slice(&mask.octets());
                out.extend_from_slice(&(metric & 0x00ff_ffff).to_be_bytes());
            }
            LsaBody::Other => {}
        }
    }
}

/// A whole LSA as bytes: the header fields given, the body emitted, the
/// length and Fletcher checksum filled in.
pub fn build(key: LsaKey, age: u16, options: u8, sequence: i32, body: &LsaBody) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(44);
    body.emit(&mut bytes);
    assemble(key, age, options, sequence, &bytes)
}

/// A whole LSA of the key's version from its body's bytes: v2 puts
/// `options` before its 8-bit type, v3 has a 16-bit type there and no
/// options in the header.
pub fn assemble(key: LsaKey, age: u16, options: u8, sequence: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&age.to_be_bytes());
    match key.ls_type.version() {
        Version::V2 => out.extend_from_slice(&[options, key.ls_type.code() as u8]),
        Version::V3 => out.extend_from_slice(&key.ls_type.code().to_be_bytes()),
    }
    out.extend_from_slice(&key.ls_id.octets());
    out.extend_from_slice(&key.adv_router.octets());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(body);
    let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[18..20].copy_from_slice(&len.to_be_bytes());
    fletcher_fill(&mut out);
    out
}
