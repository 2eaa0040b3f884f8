//! Frames for the queueing tests, built byte by byte (with valid IPv4
//! header checksums) so the classifier and the ECN marker read real headers.

use crate::wire::checksum;

#[derive(Debug, Clone)]
pub struct V4Spec {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub dscp: u8,
    pub ecn: u8,
    pub ttl: u8,
    pub more_frags: bool,
    pub frag_offset: u16,
    /// 4-byte words of IPv4 options (NOPs).
    pub option_words: usize,
    /// Bytes of transport payload after the 8-byte port header.
    pub payload: usize,
}

impl V4Spec {
    pub fn proto(proto: u8) -> V4Spec {
        V4Spec {
            src: [10, 0, 0, 1],
            dst: [10, 0, 1, 1],
            proto,
            sport: 0,
            dport: 0,
            dscp: 0,
            ecn: 0,
            ttl: 64,
            more_frags: false,
            frag_offset: 0,
            option_words: 0,
            payload: 18,
        }
    }

    pub fn tcp(sport: u16, dport: u16) -> V4Spec {
        V4Spec {
            sport,
            dport,
            ..V4Spec::proto(6)
        }
    }

    pub fn udp(sport: u16, dport: u16) -> V4Spec {
        V4Spec {
            sport,
            dport,
            ..V4Spec::proto(17)
        }
    }
}

fn ethernet(ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

pub fn v4_frame(s: &V4Spec) -> Vec<u8> {
    let mut f = ethernet(0x0800);
    let hl = 20 + 4 * s.option_words;
    let total = hl + 8 + s.payload;
    let flags = if s.more_frags { 0x2000 } else { 0 } | (s.frag_offset & 0x1fff);
    f.push(0x40 | (hl / 4) as u8);
    f.push((s.dscp << 2) | (s.ecn & 3));
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34]);
    f.extend_from_slice(&flags.to_be_bytes());
    f.push(s.ttl);
    f.push(s.proto);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&s.src);
    f.extend_from_slice(&s.dst);
    f.extend(std::iter::repeat_n(1u8, 4 * s.option_words));
    let sum = checksum::checksum(&f[14..14 + hl]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&s.sport.to_be_bytes());
    f.extend_from_slice(&s.dport.to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend(std::iter::repeat_n(0xabu8, s.payload));
    f
}

#[derive(Debug, Clone)]
pub struct V6Spec {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub dscp: u8,
    pub ecn: u8,
    pub flow_label: u32,
    /// A fragment header with this offset (8-byte units).
    pub fragment: Option<u16>,
    pub payload: usize,
}

impl V6Spec {
    pub fn tcp(sport: u16, dport: u16) -> V6Spec {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut dst = src;
        src[15] = 1;
        dst[15] = 2;
        V6Spec {
            src,
            dst,
            proto: 6,
            sport,
            dport,
            dscp: 0,
            ecn: 0,
            flow_label: 0x12345,
            fragment: None,
            payload: 18,
        }
    }

    pub fn udp(sport: u16, dport: u16) -> V6Spec {
        V6Spec {
            proto: 17,
            ..V6Spec::tcp(sport, dport)
        }
    }
}

pub fn v6_frame(s: &V6Spec) -> Vec<u8> {
    let mut f = ethernet(0x86dd);
    let tc = (s.dscp << 2) | (s.ecn & 3);
    let word = (6u32 << 28) | ((tc as u32) << 20) | (s.flow_label & 0xfffff);
    f.extend_from_slice(&word.to_be_bytes());
    let frag_len = if s.fragment.is_some() { 8 } else { 0 };
    let payload_len = frag_len + 8 + s.payload;
    f.extend_from_slice(&(payload_len as u16).to_be_bytes());
    f.push(if s.fragment.is_some() { 44 } else { s.proto });
    f.push(64);
    f.extend_from_slice(&s.src);
    f.extend_from_slice(&s.dst);
    if let Some(offset) = s.fragment {
        f.push(s.proto);
        f.push(0);
        f.extend_from_slice(&((offset << 3) | 1).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 7]);
    }
    f.extend_from_slice(&s.sport.to_be_bytes());
    f.extend_from_slice(&s.dport.to_be_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend(std::iter::repeat_n(0xabu8, s.payload));
    f
}
