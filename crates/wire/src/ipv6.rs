//! IPv6 (RFC 8200) header view and a bounded walk over extension headers.

use std::net::Ipv6Addr;

use super::WireError;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

pub const HEADER_LEN: usize = 40;
/// The minimum link MTU of IPv6 (RFC 8200 §5), also the ICMPv6 error size cap.
pub const MIN_MTU: usize = 1280;

/// Next-header values that are extension headers or matter to the walk.
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AUTH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// A zero-copy view of an IPv6 packet; the buffer may carry Ethernet padding.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` after checking: 40 bytes, version 6, and a payload length
    /// that fits in the buffer. A payload length of 0 (a jumbogram's Hop-by-Hop
    /// option, RFC 2675) is rejected as `BadTotalLength`: no link of ours carries one.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let payload = u16::from_be_bytes([b[4], b[5]]) as usize;
        if payload == 0 && b[field::NEXT_HEADER] == next_header::HOP_BY_HOP {
            return Err(WireError::BadTotalLength);
        }
        if HEADER_LEN + payload > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6Packet { buffer })
    }

    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    #[inline]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = self.b();
        (b[0] << 4) | (b[1] >> 4)
    }
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let b = &self.b()[field::VER_TC_FLOW];
        u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])
    }
    #[inline]
    pub fn payload_len(&self) -> usize {
        let b = &self.b()[field::PAYLOAD_LEN];
        u16::from_be_bytes([b[0], b[1]]) as usize
    }
    /// Header plus payload, padding excluded.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    #[inline]
    pub fn src_bytes(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.b()[field::SRC]);
        a
    }
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.b()[field::DST]);
        a
    }
    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }
    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.b()[..self.total_len()]
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// IPv6 has no header checksum: the hop limit is just a byte.
    #[inline]
    pub fn decrement_hop_limit(&mut self) {
        let b = self.buffer.as_mut();
        b[field::HOP_LIMIT] = b[field::HOP_LIMIT].wrapping_sub(1);
    }

    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = self.buffer.as_mut();
        b[1] = (b[1] & !0x30) | ((ecn & 0x03) << 4);
    }
}

/// Writes a 40-byte IPv6 header into `buf`.
pub fn emit_header(
    buf: &mut [u8],
    src: [u8; 16],
    dst: [u8; 16],
    next: u8,
    hop_limit: u8,
    payload_len: u16,
) {
    buf[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
    buf[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
    buf[field::NEXT_HEADER] = next;
    buf[field::HOP_LIMIT] = hop_limit;
    buf[field::SRC].copy_from_slice(&src);
    buf[field::DST].copy_from_slice(&dst);
}

/// What a walk over the extension headers found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtWalk {
    /// The first header that is not an extension header (or ESP/no-next, where the walk must stop).
    pub upper_protocol: u8,
    /// Offset of that header from the start of the IPv6 payload.
    pub upper_offset: usize,
    /// A fragment header with a non-zero offset: the upper header is not here.
    pub non_first_fragment: bool,
    /// Any fragment header (RFC 8200 §4.5), atomic fragments included.
    pub fragment: bool,
}

/// Most extension headers followed before the chain is called malformed;
/// RFC 8504 lets hosts bound this, and a router must bound its own work.
pub const MAX_EXT_HEADERS: usize = 16;

/// Walks the extension-header chain starting with `first` over `payload`
/// (the IPv6 payload, padding excluded). Every length is checked against the
/// payload; nothing is read past it.
pub fn walk_extension_headers(first: u8, payload: &[u8]) -> Result<ExtWalk, WireError> {
    let mut next = first;
    let mut offset = 0usize;
    let mut walk = ExtWalk {
        upper_protocol: next,
        upper_offset: 0,
        non_first_fragment: false,
        fragment: false,
    };
    for _ in 0..MAX_EXT_HEADERS {
        let len = match next {
            next_header::HOP_BY_HOP
            | next_header::ROUTING
            | next_header::DEST_OPTS
            | next_header::MOBILITY
            | next_header::HIP
            | next_header::SHIM6 => {
                let hdr = payload
                    .get(offset..offset + 2)
                    .ok_or(WireError::BadExtensionHeader)?;
                (hdr[1] as usize + 1) * 8
            }
            next_header::AUTH => {
                let hdr = payload
                    .get(offset..offset + 2)
                    .ok_or(WireError::BadExtensionHeader)?;
                (hdr[1] as usize + 2) * 4
            }
            next_header::FRAGMENT => {
                let hdr = payload
                    .get(offset..offset + 8)
                    .ok_or(WireError::BadExtensionHeader)?;
                let frag = u16::from_be_bytes([hdr[2], hdr[3]]);
                walk.fragment = true;
                if frag >> 3 != 0 {
                    // The rest of the chain lives in the first fragment.
                    walk.non_first_fragment = true;
                    walk.upper_protocol = hdr[0];
                    walk.upper_offset = offset + 8;
                    return Ok(walk);
                }
                8
            }
            _ => {
                walk.upper_protocol = next;
                walk.upper_offset = offset;
                return Ok(walk);
            }
        };
        if offset + len > payload.len() {
            return Err(WireError::BadExtensionHeader);
        }
        next = payload[offset];
        offset += len;
    }
    Err(WireError::BadExtensionHeader)
}

/// Neighbour discovery (ICMPv6 types 133–137, RFC 4861), found directly after
/// the fixed header or behind at most two hop-by-hop, destination-options or
/// routing headers — the same rule as the XDP program's, so the pipeline and
/// the program agree on what the kernel handles.
pub fn is_neighbor_discovery(first: u8, payload: &[u8]) -> bool {
    let mut next = first;
    let mut offset = 0usize;
    for _ in 0..2 {
        if !matches!(
            next,
            next_header::HOP_BY_HOP | next_header::DEST_OPTS | next_header::ROUTING
        ) {
            break;
        }
        let Some(hdr) = payload.get(offset..offset + 2) else {
            return false;
        };
        next = hdr[0];
        offset += (hdr[1] as usize + 1) * 8;
    }
    next == next_header::ICMPV6 && matches!(payload.get(offset), Some(133..=137))
}

/// True for next-header values that begin an extension-header chain worth walking.
#[inline]
pub const fn is_extension_header(next: u8) -> bool {
    matches!(
        next,
        next_header::HOP_BY_HOP
            | next_header::ROUTING
            | next_header::FRAGMENT
            | next_header::DEST_OPTS
            | next_header::AUTH
            | next_header::MOBILITY
            | next_header::HIP
            | next_header::SHIM6
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        let src = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
        let dst = "2001:db8:1::2".parse::<Ipv6Addr>().unwrap().octets();
        emit_header(&mut p, src, dst, next, 64, payload.len() as u16);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn header_fields() {
        let mut p = packet(next_header::UDP, &[0; 8]);
        p[0] = 0x6b; // traffic class 0xb7 → ecn 3
        p[1] = 0x71;
        p[2] = 0x23;
        p[3] = 0x45;
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.traffic_class(), 0xb7);
        assert_eq!(v.ecn(), 3);
        assert_eq!(v.flow_label(), 0x12345);
        assert_eq!(v.payload_len(), 8);
        assert_eq!(v.hop_limit(), 64);
        assert_eq!(v.dst(), "2001:db8:1::2".parse::<Ipv6Addr>().unwrap());
        let mut p2 = p.clone();
        let mut m = Ipv6Packet::new_unchecked(&mut p2[..]);
        m.set_ecn(1);
        m.decrement_hop_limit();
        assert_eq!(m.ecn(), 1);
        assert_eq!(m.traffic_class() >> 2, 0xb7 >> 2);
        assert_eq!(m.hop_limit(), 63);
    }

    #[test]
    fn structural_errors() {
        let p = packet(next_header::UDP, &[0; 8]);
        assert_eq!(
            Ipv6Packet::new_checked(&p[..39]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Ipv6Packet::new_checked(&p[..47]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = p.clone();
        bad[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadVersion
        );
    }

    #[test]
    fn neighbor_discovery_is_recognised() {
        assert!(is_neighbor_discovery(next_header::ICMPV6, &[135, 0, 0, 0]));
        assert!(!is_neighbor_discovery(next_header::ICMPV6, &[128, 0, 0, 0]));
        assert!(!is_neighbor_discovery(next_header::UDP, &[135]));
        assert!(!is_neighbor_discovery(next_header::ICMPV6, &[]));
        // Behind a hop-by-hop header (MLD-style router alert) and two headers.
        let mut hbh = vec![next_header::ICMPV6, 0, 5, 2, 0, 0, 1, 0, 136];
        assert!(is_neighbor_discovery(next_header::HOP_BY_HOP, &hbh));
        hbh[0] = next_header::DEST_OPTS;
        hbh.truncate(8);
        hbh.extend_from_slice(&[next_header::ICMPV6, 0, 1, 4, 0, 0, 0, 0, 134]);
        assert!(is_neighbor_discovery(next_header::HOP_BY_HOP, &hbh));
        // Three headers deep is beyond the rule.
        let three = [
            [next_header::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0],
            [next_header::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0],
            [next_header::ICMPV6, 0, 1, 4, 0, 0, 0, 0],
        ]
        .concat();
        let mut three = three;
        three.push(135);
        assert!(!is_neighbor_discovery(next_header::HOP_BY_HOP, &three));
    }

    #[test]
    fn walk_chain() {
        // HBH (8 bytes) → fragment (offset 0) → dest opts (16 bytes) → UDP.
        let mut pl = vec![next_header::FRAGMENT, 0, 0, 0, 0, 0, 0, 0];
        pl.extend_from_slice(&[next_header::DEST_OPTS, 0, 0, 1, 0, 0, 0, 1]);
        pl.extend_from_slice(&[next_header::UDP, 1]);
        pl.extend_from_slice(&[0; 14]);
        pl.extend_from_slice(&[0; 8]);
        let w = walk_extension_headers(next_header::HOP_BY_HOP, &pl).unwrap();
        assert_eq!(w.upper_protocol, next_header::UDP);
        assert_eq!(w.upper_offset, 32);
        assert!(w.fragment && !w.non_first_fragment);
        // Non-first fragment stops the walk.
        let nf = [next_header::UDP, 0, 0x00, 0x08, 0, 0, 0, 1];
        let w = walk_extension_headers(next_header::FRAGMENT, &nf).unwrap();
        assert!(w.non_first_fragment);
        // A length pointing past the payload is malformed.
        let trunc = [next_header::UDP, 4, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_extension_headers(next_header::ROUTING, &trunc),
            Err(WireError::BadExtensionHeader)
        );
        // An endless chain of empty headers is cut off.
        let endless = [0u8; 8 * (MAX_EXT_HEADERS + 1)];
        assert_eq!(
            walk_extension_headers(next_header::HOP_BY_HOP, &endless),
            Err(WireError::BadExtensionHeader)
        );
    }
}
