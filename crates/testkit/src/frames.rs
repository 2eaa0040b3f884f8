//! One frame builder for tests and benches: Ethernet + IPv4 or IPv6, built
//! byte by byte (independently of the `wire` emitters the tests check),
//! with valid IPv4 header checksums. Start from [`V4Frame::udp`] /
//! [`V6Frame::udp`] and change the fields a test cares about.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{checksum, MacAddr};

/// The host behind port 0 of the two-port rig ([`super::rig`]).
pub const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
/// The router's two ports in the test rig (`rig`).
pub const P0_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const P1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
/// The gateway behind p1 (203.0.113.2, 2001:db8:1::2).
pub const GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);

/// Bytes `0, 1, 2, ...` (wrapping): a payload whose every byte differs
/// from its neighbours, so a shifted or cut copy shows.
pub fn counting(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// `frame` with an 802.1Q tag (TPID 0x8100, then `tci`) inserted after the
/// MACs, byte by byte; `tpid` 0x88a8 gives an 802.1ad service tag.
pub fn tagged_with(frame: &[u8], tpid: u16, tci: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(frame.len() + 4);
    f.extend_from_slice(&frame[..12]);
    f.extend_from_slice(&tpid.to_be_bytes());
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// `frame` tagged for VLAN `vid` with priority 0.
pub fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    tagged_with(frame, 0x8100, vid)
}

fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, capacity: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(capacity);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// Source and destination port, the length of header and payload, and no
/// checksum (0).
fn ports_header(f: &mut Vec<u8>, ports: Option<(u16, u16)>, payload_len: usize) {
    if let Some((sport, dport)) = ports {
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
        f.extend_from_slice(&[0; 2]);
    }
}

/// An Ethernet + IPv4 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Frame {
    pub dst_mac: MacAddr,
    pub src_mac: MacAddr,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub ttl: u8,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// In 8-byte units.
    pub fragment_offset: u16,
    /// 4-byte words of IPv4 options (all NOP).
    pub option_words: usize,
    /// A UDP/TCP-like transport header of 8 bytes (the ports, the UDP length,
    /// no checksum) before `payload`.
    pub ports: Option<(u16, u16)>,
    pub payload: Vec<u8>,
}

impl V4Frame {
    /// A UDP datagram with no transport header and no payload yet, from
    /// the host behind port 0 (192.0.2.10) to `dst`, TTL 64.
    pub fn udp(dst: Ipv4Addr) -> V4Frame {
        V4Frame {
            dst_mac: P0_MAC,
            src_mac: HOST_MAC,
            src: Ipv4Addr::new(192, 0, 2, 10),
            dst,
            protocol: 17,
            dscp_ecn: 0,
            ident: 1,
            ttl: 64,
            dont_fragment: false,
            more_fragments: false,
            fragment_offset: 0,
            option_words: 0,
            ports: None,
            payload: Vec::new(),
        }
    }

    /// The smallest Ethernet frame (60 bytes, 64 on the wire): a UDP
    /// datagram to `dst` with 26 zero bytes after the IPv4 header.
    pub fn minimum(dst: Ipv4Addr) -> V4Frame {
        V4Frame {
            payload: vec![0; 26],
            ..V4Frame::udp(dst)
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let header_len = 20 + 4 * self.option_words;
        let l4 = if self.ports.is_some() { 8 } else { 0 };
        let total = header_len + l4 + self.payload.len();
        let mut f = ethernet(self.dst_mac, self.src_mac, 0x0800, 14 + total);
        let flags = if self.dont_fragment { 0x4000 } else { 0 }
            | if self.more_fragments { 0x2000 } else { 0 }
            | (self.fragment_offset & 0x1fff);
        f.push(0x40 | (header_len / 4) as u8);
        f.push(self.dscp_ecn);
        f.extend_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&self.ident.to_be_bytes());
        f.extend_from_slice(&flags.to_be_bytes());
        f.push(self.ttl);
        f.push(self.protocol);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&self.dst.octets());
        f.extend(std::iter::repeat_n(1u8, 4 * self.option_words));
        let sum = checksum::checksum(&f[14..14 + header_len]);
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        ports_header(&mut f, self.ports, self.payload.len());
        f.extend_from_slice(&self.payload);
        f
    }
}

/// An Ethernet + IPv6 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Frame {
    pub dst_mac: MacAddr,
    pub src_mac: MacAddr,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    /// A fragment header with this offset (8-byte units), more fragments
    /// set, identification 7.
    pub fragment: Option<u16>,
    /// As in [`V4Frame::ports`].
    pub ports: Option<(u16, u16)>,
    pub payload: Vec<u8>,
}

impl V6Frame {
    /// A UDP datagram with no transport header and no payload yet, from
    /// the host behind port 0 (2001:db8::10) to `dst`, hop limit 64.
    pub fn udp(dst: Ipv6Addr) -> V6Frame {
        V6Frame {
            dst_mac: P0_MAC,
            src_mac: HOST_MAC,
            src: "2001:db8::10".parse().expect("address"),
            dst,
            next_header: 17,
            traffic_class: 0,
            flow_label: 0,
            hop_limit: 64,
            fragment: None,
            ports: None,
            payload: Vec::new(),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let frag_len = if self.fragment.is_some() { 8 } else { 0 };
        let l4 = if self.ports.is_some() { 8 } else { 0 };
        let payload_len = frag_len + l4 + self.payload.len();
        let mut f = ethernet(self.dst_mac, self.src_mac, 0x86dd, 54 + payload_len);
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        f.extend_from_slice(&word.to_be_bytes());
        f.extend_from_slice(&(payload_len as u16).to_be_bytes());
        f.push(if self.fragment.is_some() {
            44
        } else {
            self.next_header
        });
        f.push(self.hop_limit);
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&self.dst.octets());
        if let Some(offset) = self.fragment {
            f.push(self.next_header);
            f.push(0);
            f.extend_from_slice(&((offset << 3) | 1).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 7]);
        }
        ports_header(&mut f, self.ports, self.payload.len());
        f.extend_from_slice(&self.payload);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{protocol, Ipv4Repr};
    use crate::wire::{ethernet, Ipv4Packet};

    /// The builder and the library's emitter agree byte for byte.
    #[test]
    fn v4_matches_the_wire_emitter() {
        let dst = Ipv4Addr::new(198, 51, 100, 7);
        let built = V4Frame::minimum(dst).build();
        let mut emitted = vec![0u8; 60];
        ethernet::emit_header(&mut emitted, super::P0_MAC, HOST_MAC, 0x0800);
        Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 10),
            dst,
            protocol: protocol::UDP,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            payload_len: 26,
        }
        .emit(&mut emitted[14..]);
        assert_eq!(built, emitted);
        let df = V4Frame {
            dont_fragment: true,
            option_words: 2,
            ..V4Frame::minimum(dst)
        }
        .build();
        let ip = Ipv4Packet::new_checked(&df[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert!(ip.dont_frag());
        assert_eq!(ip.header_len(), 28);
    }

    #[test]
    fn v6_lengths_and_fragment_header() {
        let f = V6Frame {
            fragment: Some(3),
            ports: Some((1, 2)),
            payload: counting(10),
            ..V6Frame::udp("2001:db8:2::1".parse().unwrap())
        }
        .build();
        assert_eq!(f.len(), 14 + 40 + 8 + 8 + 10);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 26);
        assert_eq!(f[20], 44);
        assert_eq!(f[54], 17);
        assert_eq!(&f[56..58], &[0, 25]);
    }
}
