//! OSPFv3 LSA bodies (RFC 5340 A.4.3-A.4.10) as representations with
//! parse and emit: Router, Network, Inter-Area-Prefix, AS-External, Link
//! and Intra-Area-Prefix, and the prefix encoding they share (A.4.1:
//! PrefixLength, PrefixOptions, the prefix packed into 32-bit words). The
//! 20-byte header is OSPFv2's view ([`LsaHeader`] with
//! [`Version::V3`]); so are the Fletcher checksum and [`assemble`].
//!
//! [`LsaHeader`]: crate::control::ospf::wire::lsa::LsaHeader
//! [`Version::V3`]: crate::control::ospf::wire::Version
//! [`assemble`]: crate::control::ospf::wire::lsa::assemble

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use super::{be24, put24, AS_EXTERNAL_LSA, INTER_AREA_PREFIX_LSA, INTRA_AREA_PREFIX_LSA};
use super::{LINK_LSA, NETWORK_LSA, ROUTER_LSA};
use crate::control::ospf::wire::lsa::LsaType;
use crate::control::ospf::wire::{addr, be16, be32, OspfError};

/// Router-LSA flags (A.4.3).
pub const FLAG_B: u8 = 0x01;
pub const FLAG_E: u8 = 0x02;
/// AS-External-LSA bits (A.4.7).
const EXT_E: u8 = 0x04;
const EXT_F: u8 = 0x02;
const EXT_T: u8 = 0x01;
/// PrefixOptions' NU bit: not to be used in routing calculations.
pub const PREFIX_NU: u8 = 0x01;
/// PrefixOptions' LA bit: a local (host) address of the router.
pub const PREFIX_LA: u8 = 0x02;

/// A prefix as LSAs carry it. `metric` is the 16-bit field of
/// Intra-Area-Prefix-LSAs (the others keep 0 there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Prefix {
    /// Host bits clear.
    pub prefix: Ipv6Net,
    pub options: u8,
    pub metric: u16,
}

/// Reads a prefix at `at`: its length, options, the 16 bits after them,
/// and the packed address. Returns it and where the next field starts.
fn read_prefix(b: &[u8], at: usize) -> Result<(Prefix, usize), OspfError> {
    if b.len() < at + 4 {
        return Err(OspfError::BadLsa);
    }
    let len = b[at];
    if len > 128 {
        return Err(OspfError::BadLsa);
    }
    let words = usize::from(len).div_ceil(32) * 4;
    let end = at + 4 + words;
    if b.len() < end {
        return Err(OspfError::BadLsa);
    }
    let mut octets = [0u8; 16];
    octets[..words].copy_from_slice(&b[at + 4..end]);
    let prefix = Ipv6Net::new(Ipv6Addr::from(octets), len)
        .map_err(|_| OspfError::BadLsa)?
        .trunc();
    let p = Prefix {
        prefix,
        options: b[at + 1],
        metric: be16(b, at + 2),
    };
    Ok((p, end))
}

/// Appends `p` with `middle` in the 16 bits after its options.
fn write_prefix(out: &mut Vec<u8>, p: &Prefix, middle: u16) {
    let len = p.prefix.prefix_len();
    out.extend_from_slice(&[len, p.options]);
    out.extend_from_slice(&middle.to_be_bytes());
    let words = usize::from(len).div_ceil(32) * 4;
    out.extend_from_slice(&p.prefix.trunc().addr().octets()[..words]);
}

/// Kinds of Router-LSA interfaces (A.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterInterfaceType {
    PointToPoint = 1,
    Transit = 2,
    Virtual = 4,
}

/// One interface of a Router-LSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RouterInterface {
    pub kind: RouterInterfaceType,
    pub metric: u16,
    pub interface_id: u32,
    /// The neighbour's interface id (transit: the DR's).
    pub neighbor_interface_id: u32,
    /// The neighbour's router id (transit: the DR's).
    pub neighbor_router_id: Ipv4Addr,
}

/// The OSPFv3 bodies this speaker reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lsa3Body {
    Router {
        flags: u8,
        options: u32,
        interfaces: Vec<RouterInterface>,
    },
    Network {
        options: u32,
        attached: Vec<Ipv4Addr>,
    },
    InterAreaPrefix {
        metric: u32,
        prefix: Prefix,
    },
    AsExternal {
        /// E bit: a type 2 metric.
        type2: bool,
        metric: u32,
        prefix: Prefix,
        forwarding: Option<Ipv6Addr>,
        tag: Option<u32>,
        /// Referenced LS type and id (0 and none: no reference).
        referenced_type: u16,
        referenced_id: Option<Ipv4Addr>,
    },
    Link {
        priority: u8,
        options: u32,
        link_local: Ipv6Addr,
        prefixes: Vec<Prefix>,
    },
    IntraAreaPrefix {
        referenced_type: u16,
        referenced_id: Ipv4Addr,
        referenced_router: Ipv4Addr,
        prefixes: Vec<Prefix>,
    },
    /// A type this speaker floods without reading.
    Other,
}

/// Prefix lists are bounded by the bytes there are: a count larger than
/// the body could hold fails before anything is allocated for it.
fn prefixes(b: &[u8], mut at: usize, count: usize) -> Result<Vec<Prefix>, OspfError> {
    if count > b.len().saturating_sub(at) / 4 {
        return Err(OspfError::BadLsa);
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (p, next) = read_prefix(b, at)?;
        out.push(p);
        at = next;
    }
    Ok(out)
}

impl Lsa3Body {
    /// Reads the body of an LSA of type `ls_type`.
    pub fn parse(ls_type: LsaType, b: &[u8]) -> Result<Lsa3Body, OspfError> {
        match ls_type {
            ROUTER_LSA => {
                if b.len() < 4 || !(b.len() - 4).is_multiple_of(16) {
                    return Err(OspfError::BadLsa);
                }
                let mut interfaces = Vec::with_capacity((b.len() - 4) / 16);
                for c in b[4..].chunks_exact(16) {
                    let kind = match c[0] {
                        1 => RouterInterfaceType::PointToPoint,
                        2 => RouterInterfaceType::Transit,
                        4 => RouterInterfaceType::Virtual,
                        _ => return Err(OspfError::BadLsa),
                    };
                    interfaces.push(RouterInterface {
                        kind,
                        metric: be16(c, 2),
                        interface_id: be32(c, 4),
                        neighbor_interface_id: be32(c, 8),
                        neighbor_router_id: addr(c, 12),
                    });
                }
                Ok(Lsa3Body::Router {
                    flags: b[0],
                    options: be24(b, 1),
                    interfaces,
                })
            }
            NETWORK_LSA => {
                if b.len() < 8 || !b.len().is_multiple_of(4) {
                    return Err(OspfError::BadLsa);
                }
                Ok(Lsa3Body::Network {
                    options: be24(b, 1),
                    attached: b[4..].chunks_exact(4).map(|c| addr(c, 0)).collect(),
                })
            }
            INTER_AREA_PREFIX_LSA => {
                if b.len() < 4 {
                    return Err(OspfError::BadLsa);
                }
                let (prefix, _) = read_prefix(b, 4)?;
                Ok(Lsa3Body::InterAreaPrefix {
                    metric: be24(b, 1),
                    prefix: Prefix {
                        metric: 0,
                        ..prefix
                    },
                })
            }
            AS_EXTERNAL_LSA => {
                if b.len() < 4 {
                    return Err(OspfError::BadLsa);
                }
                let bits = b[0];
                let (prefix, mut at) = read_prefix(b, 4)?;
                let referenced_type = prefix.metric;
                let mut take = |n: usize| -> Result<usize, OspfError> {
                    if b.len() < at + n {
                        return Err(OspfError::BadLsa);
                    }
                    at += n;
                    Ok(at - n)
                };
                let forwarding = if bits & EXT_F != 0 {
                    let f = take(16)?;
                    let o: [u8; 16] = b[f..f + 16].try_into().map_err(|_| OspfError::BadLsa)?;
                    Some(Ipv6Addr::from(o))
                } else {
                    None
                };
                let tag = if bits & EXT_T != 0 {
                    Some(be32(b, take(4)?))
                } else {
                    None
                };
                let referenced_id = if referenced_type != 0 {
                    Some(addr(b, take(4)?))
                } else {
                    None
                };
                Ok(Lsa3Body::AsExternal {
                    type2: bits & EXT_E != 0,
                    metric: be24(b, 1),
                    prefix: Prefix {
                        metric: 0,
                        ..prefix
                    },
                    forwarding,
                    tag,
                    referenced_type,
                    referenced_id,
                })
            }
            LINK_LSA => {
                if b.len() < 24 {
                    return Err(OspfError::BadLsa);
                }
                let o: [u8; 16] = b[4..20].try_into().map_err(|_| OspfError::BadLsa)?;
                let count = usize::try_from(be32(b, 20)).unwrap_or(usize::MAX);
                Ok(Lsa3Body::Link {
                    priority: b[0],
                    options: be24(b, 1),
                    link_local: Ipv6Addr::from(o),
                    // The 16 bits after PrefixOptions are reserved here.
                    prefixes: prefixes(b, 24, count)?
                        .into_iter()
                        .map(|p| Prefix { metric: 0, ..p })
                        .collect(),
                })
            }
            INTRA_AREA_PREFIX_LSA => {
                if b.len() < 12 {
                    return Err(OspfError::BadLsa);
                }
                Ok(Lsa3Body::IntraAreaPrefix {
                    referenced_type: be16(b, 2),
                    referenced_id: addr(b, 4),
                    referenced_router: addr(b, 8),
                    prefixes: prefixes(b, 12, usize::from(be16(b, 0)))?,
                })
            }
            _ => Ok(Lsa3Body::Other),
        }
    }

    /// Appends the body's bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Lsa3Body::Router {
                flags,
                options,
                interfaces,
            } => {
                out.push(*flags);
                put24(out, *options);
                for i in interfaces {
                    out.extend_from_slice(&[i.kind as u8, 0]);
                    out.extend_from_slice(&i.metric.to_be_bytes());
                    out.extend_from_slice(&i.interface_id.to_be_bytes());
                    out.extend_from_slice(&i.neighbor_interface_id.to_be_bytes());
                    out.extend_from_slice(&i.neighbor_router_id.octets());
                }
            }
            Lsa3Body::Network { options, attached } => {
                out.push(0);
                put24(out, *options);
                for a in attached {
                    out.extend_from_slice(&a.octets());
                }
            }
            Lsa3Body::InterAreaPrefix { metric, prefix } => {
                out.push(0);
                put24(out, *metric);
                write_prefix(out, prefix, 0);
            }
            Lsa3Body::AsExternal {
                type2,
                metric,
                prefix,
                forwarding,
                tag,
                referenced_type,
                referenced_id,
            } => {
                let mut bits = if *type2 { EXT_E } else { 0 };
                bits |= if forwarding.is_some() { EXT_F } else { 0 };
                bits |= if tag.is_some() { EXT_T } else { 0 };
                out.push(bits);
                put24(out, *metric);
                // The reference goes with its id: a type without one is 0.
                let referenced = if referenced_id.is_some() {
                    *referenced_type
                } else {
                    0
                };
                write_prefix(out, prefix, referenced);
                if let Some(f) = forwarding {
                    out.extend_from_slice(&f.octets());
                }
                if let Some(t) = tag {
                    out.extend_from_slice(&t.to_be_bytes());
                }
                if let Some(r) = referenced_id {
                    out.extend_from_slice(&r.octets());
                }
            }
            Lsa3Body::Link {
                priority,
                options,
                link_local,
                prefixes,
            } => {
                out.push(*priority);
                put24(out, *options);
                out.extend_from_slice(&link_local.octets());
                out.extend_from_slice(&(prefixes.len() as u32).to_be_bytes());
                for p in prefixes {
                    write_prefix(out, p, 0);
                }
            }
            Lsa3Body::IntraAreaPrefix {
                referenced_type,
                referenced_id,
                referenced_router,
                prefixes,
            } => {
                let count = u16::try_from(prefixes.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&referenced_type.to_be_bytes());
                out.extend_from_slice(&referenced_id.octets());
                out.extend_from_slice(&referenced_router.octets());
                for p in prefixes.iter().take(usize::from(count)) {
                    write_prefix(out, p, p.metric);
                }
            }
            Lsa3Body::Other => {}
        }
    }
}
