//! A minimal MRT (RFC 6396) RIB reader: the prefixes of TABLE_DUMP (type 12)
//! and TABLE_DUMP_V2 (type 13) unicast RIB records, with the origin AS of the
//! first entry of each. Every other record type is skipped. Parsing the full
//! BGP attributes belongs to the control plane.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::TableFormat;
use super::{nexthop_of_asn, nexthop_of_prefix, LoadOptions, ParseError, RouteSink, Routes};

const TABLE_DUMP: u16 = 12;
const TABLE_DUMP_V2: u16 = 13;
const HEADER_LEN: usize = 12;
const ATTR_AS_PATH: u8 = 2;

/// MRT is binary: a 12-byte header whose type is 12 or 13, and a NUL byte
/// early on, which no text table has.
pub(super) fn looks_like_mrt(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN
        && matches!(
            u16::from_be_bytes([data[4], data[5]]),
            TABLE_DUMP | TABLE_DUMP_V2
        )
        && data[..HEADER_LEN].contains(&0)
}

/// A bounds-checked cursor over one record's body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub(super) fn parse(data: &[u8], opts: &LoadOptions) -> Result<Routes, ParseError> {
    let mut sink = RouteSink::default();
    let mut offset = 0;
    while offset < data.len() {
        let bad = |message: &str| ParseError::Mrt {
            offset,
            message: message.into(),
        };
        let header = data
            .get(offset..offset + HEADER_LEN)
            .ok_or_else(|| bad("truncated header"))?;
        let kind = u16::from_be_bytes([header[4], header[5]]);
        let subtype = u16::from_be_bytes([header[6], header[7]]);
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let body_start = offset + HEADER_LEN;
        let body = data
            .get(body_start..body_start + len)
            .ok_or_else(|| bad("record runs past the end of the file"))?;
        let mut r = Reader { buf: body, pos: 0 };
        let route = match (kind, subtype) {
            (TABLE_DUMP, 1 | 2) => table_dump(&mut r, subtype == 2),
            (TABLE_DUMP_V2, 2 | 4) => table_dump_v2(&mut r, subtype == 4),
            _ => Ok(None),
        };
        match route {
            Ok(Some((net, origin))) => {
                let nh = match origin {
                    Some(asn) => nexthop_of_asn(asn, opts.nexthops),
                    None => nexthop_of_prefix(net.trunc(), opts.nexthops),
                };
                sink.push(net, nh);
            }
            Ok(None) => {}
            Err(msg) => return Err(bad(msg)),
        }
        offset = body_start + len;
    }
    if sink.v4.is_empty() && sink.v6.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(sink.finish(TableFormat::Mrt))
}

fn net(addr: u128, v6: bool, len: u8) -> Result<IpNet, &'static str> {
    if v6 {
        Ipv6Net::new(Ipv6Addr::from(addr), len).map(IpNet::V6)
    } else {
        Ipv4Net::new(Ipv4Addr::from(addr as u32), len).map(IpNet::V4)
    }
    .map_err(|_| "prefix length out of range")
}

type Parsed = Result<Option<(IpNet, Option<u32>)>, &'static str>;

/// RFC 6396 §4.2: one RIB entry per record, 2-byte AS numbers.
fn table_dump(r: &mut Reader, v6: bool) -> Parsed {
    const SHORT: &str = "truncated TABLE_DUMP record";
    let alen = if v6 { 16 } else { 4 };
    r.take(4).ok_or(SHORT)?; // view, sequence
    let addr = r.take(alen).ok_or(SHORT)?;
    let len = r.u8().ok_or(SHORT)?;
    r.take(1 + 4 + alen + 2).ok_or(SHORT)?; // status, time, peer IP, peer AS
    let attr_len = r.u16().ok_or(SHORT)? as usize;
    let attrs = r.take(attr_len).ok_or(SHORT)?;
    let net = net(be_left_aligned(addr, v6), v6, len)?;
    Ok(Some((net, origin_as(attrs, 2))))
}

/// RFC 6396 §4.3.2: a prefix and its entries; AS numbers are 4 bytes.
fn table_dump_v2(r: &mut Reader, v6: bool) -> Parsed {
    const SHORT: &str = "truncated TABLE_DUMP_V2 record";
    r.u32().ok_or(SHORT)?; // sequence
    let len = r.u8().ok_or(SHORT)?;
    let nbytes = usize::from(len).div_ceil(8);
    if nbytes > if v6 { 16 } else { 4 } {
        return Err("prefix length out of range");
    }
    let bytes = r.take(nbytes).ok_or(SHORT)?;
    let mut full = [0u8; 16];
    full[..nbytes].copy_from_slice(bytes);
    let addr = be_left_aligned(&full[..if v6 { 16 } else { 4 }], v6);
    let net = net(addr, v6, len)?;
    let count = r.u16().ok_or(SHORT)?;
    let mut origin = None;
    if count > 0 {
        r.take(2 + 4).ok_or(SHORT)?; // peer index, time
        let attr_len = r.u16().ok_or(SHORT)? as usize;
        origin = origin_as(r.take(attr_len).ok_or(SHORT)?, 4);
    }
    Ok(Some((net, origin)))
}

/// The address as an integer (IPv4 in the low 32 bits).
fn be_left_aligned(bytes: &[u8], v6: bool) -> u128 {
    let v = bytes
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    if v6 {
        v
    } else {
        v & 0xffff_ffff
    }
}

/// The last AS of the AS_PATH attribute, if there is one.
fn origin_as(attrs: &[u8], as_size: usize) -> Option<u32> {
    let mut r = Reader { buf: attrs, pos: 0 };
    while r.pos < attrs.len() {
        let flags = r.u8()?;
        let kind = r.u8()?;
        let len = if flags & 0x10 != 0 {
            r.u16()? as usize
        } else {
            r.u8()? as usize
        };
        let value = r.take(len)?;
        if kind != ATTR_AS_PATH {
            continue;
        }
        let mut p = Reader { buf: value, pos: 0 };
        let mut last = None;
        while p.pos < value.len() {
            p.u8()?; // segment type
            let n = p.u8()? as usize;
            let ases = p.take(n * as_size)?;
            if let Some(a) = ases.chunks_exact(as_size).last() {
                last = Some(a.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)));
            }
        }
        return last;
    }
    None
}
