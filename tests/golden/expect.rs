//! Expected output frames and how a transmitted frame is compared with them.
//!
//! A frame the router must send is described byte for byte, with a bit mask
//! for the fields the rules leave open (the IPv4 identification of an ICMP
//! error, checksums whose exact encoding may differ) and with checks that
//! those open fields are still right (checksums verify). IPv4 fragments are
//! checked by their properties, since the rules do not fix the split points.

use etherparse::checksum::Sum16BitWords;
use etherparse::{Ethernet2HeaderSlice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6HeaderSlice};

use super::model::Mac;

/// A checksum of a transmitted frame that must verify (checked beyond the
/// byte comparison, since its exact encoding is left open).
#[derive(Debug, Clone, Copy)]
pub enum ChecksumAt {
    /// The IPv4 header starting at this frame offset has a valid checksum.
    Ipv4Header(usize),
    /// The ICMPv4 message from this offset to the end verifies.
    Icmpv4(usize),
    /// The ICMPv6 message after the IPv6 header at this offset verifies
    /// (pseudo-header included).
    Icmpv6(usize),
}

/// One frame the router must transmit.
#[derive(Debug, Clone)]
pub struct ExpectedFrame {
    pub port: usize,
    pub bytes: Vec<u8>,
    /// Per byte: the bits that must equal `bytes`.
    pub mask: Vec<u8>,
    pub checks: Vec<ChecksumAt>,
}

impl ExpectedFrame {
    pub fn exact(port: usize, bytes: Vec<u8>) -> Self {
        let mask = vec![0xff; bytes.len()];
        ExpectedFrame {
            port,
            bytes,
            mask,
            checks: Vec::new(),
        }
    }

    /// Leaves the bits `mask_bits` of the bytes at `range` open.
    pub fn open(&mut self, range: std::ops::Range<usize>, mask_bits: u8) {
        for m in &mut self.mask[range] {
            *m &= !mask_bits;
        }
    }

    pub fn compare(&self, actual: &[u8]) -> Result<(), String> {
        if actual.len() != self.bytes.len() {
            return Err(format!(
                "length {} instead of {}",
                actual.len(),
                self.bytes.len()
            ));
        }
        let diffs: Vec<usize> = (0..actual.len())
            .filter(|&i| (actual[i] ^ self.bytes[i]) & self.mask[i] != 0)
            .collect();
        if let Some(&first) = diffs.first() {
            return Err(format!(
                "{} byte(s) differ, first at offset {first}: got {:02x}, want {:02x} (mask {:02x}); got[{}..]={}",
                diffs.len(),
                actual[first],
                self.bytes[first],
                self.mask[first],
                first.saturating_sub(2),
                hex(&actual[first.saturating_sub(2)..(first + 6).min(actual.len())])
            ));
        }
        for check in &self.checks {
            run_check(*check, actual)?;
        }
        Ok(())
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Ones'-complement sum over `bytes` verifies (folds to all ones).
pub fn sum_verifies(bytes: &[u8]) -> bool {
    Sum16BitWords::new().add_slice(bytes).ones_complement() == 0
}

fn run_check(check: ChecksumAt, frame: &[u8]) -> Result<(), String> {
    match check {
        ChecksumAt::Ipv4Header(at) => {
            let hdr = Ipv4HeaderSlice::from_slice(&frame[at..])
                .map_err(|e| format!("IPv4 header does not parse: {e}"))?;
            if !sum_verifies(hdr.slice()) {
                return Err(format!(
                    "IPv4 header checksum {:04x} is wrong",
                    hdr.header_checksum()
                ));
            }
        }
        ChecksumAt::Icmpv4(at) => {
            if !sum_verifies(&frame[at..]) {
                return Err("ICMP checksum is wrong".to_string());
            }
        }
        ChecksumAt::Icmpv6(at) => {
            let ip = Ipv6HeaderSlice::from_slice(&frame[at..])
                .map_err(|e| format!("IPv6 header does not parse: {e}"))?;
            let icmp = Icmpv6Slice::from_slice(&frame[at + 40..])
                .map_err(|e| format!("ICMPv6 does not parse: {e}"))?;
            if !icmp.is_checksum_valid(ip.source(), ip.destination()) {
                return Err(format!("ICMPv6 checksum {:04x} is wrong", icmp.checksum()));
            }
        }
    }
    Ok(())
}

/// What the fragments of one IPv4 packet must look like.
#[derive(Debug, Clone)]
pub struct FragmentSpec {
    pub port: usize,
    pub mtu: usize,
    pub next_hop_mac: Mac,
    pub egress_mac: Mac,
    /// The IP packet as it leaves before fragmenting: as received (no
    /// padding), its options updated by the router (Record Route, Timestamp).
    pub original: Vec<u8>,
    /// Option offsets (from the end of the fixed header) holding a clock
    /// reading in the first fragment: not predicted.
    pub clock: Vec<usize>,
    /// The options every fragment after the first carries, padded to 4 bytes.
    pub later_options: Vec<u8>,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl FragmentSpec {
    /// Checks that `frames` (in transmit order) are exactly a correct
    /// fragmentation of the original packet.
    pub fn check(&self, frames: &[&[u8]]) -> Result<(), String> {
        let orig = &self.original;
        let orig_hlen = ((orig[0] & 0x0f) as usize) * 4;
        let orig_payload = &orig[orig_hlen..];
        let orig_flags = be16(&orig[6..8]);
        let orig_mf = orig_flags & 0x2000 != 0;
        let orig_offset = (orig_flags & 0x1fff) as usize * 8;
        let mut reassembled = Vec::with_capacity(orig_payload.len());
        let mut next_offset = orig_offset;
        if frames.is_empty() {
            return Err("no fragments".to_string());
        }
        for (i, frame) in frames.iter().enumerate() {
            let last = i + 1 == frames.len();
            let ctx = |m: String| format!("fragment {i}/{}: {m}", frames.len());
            let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|e| ctx(e.to_string()))?;
            if eth.destination() != self.next_hop_mac || eth.source() != self.egress_mac {
                return Err(ctx(format!(
                    "MACs {} <- {}",
                    hex(&eth.destination()),
                    hex(&eth.source())
                )));
            }
            if eth.ether_type().0 != 0x0800 {
                return Err(ctx("not IPv4".to_string()));
            }
            let ip = &frame[14..];
            let hdr = Ipv4HeaderSlice::from_slice(ip).map_err(|e| ctx(e.to_string()))?;
            let hlen = hdr.slice().len();
            let total = hdr.total_len() as usize;
            if total != ip.len() {
                return Err(ctx(format!(
                    "total length {total}, {} bytes of IP",
                    ip.len()
                )));
            }
            if total > self.mtu {
                return Err(ctx(format!("{total} bytes > MTU {}", self.mtu)));
            }
            if !sum_verifies(hdr.slice()) {
                return Err(ctx("header checksum wrong".to_string()));
            }
            // TOS (DSCP/ECN), identification, protocol, addresses: unchanged.
            if ip[1] != orig[1] || ip[4..6] != orig[4..6] || ip[9] != orig[9] {
                return Err(ctx("TOS, identification or protocol changed".to_string()));
            }
            if ip[12..20] != orig[12..20] {
                return Err(ctx("addresses changed".to_string()));
            }
            if ip[8] != orig[8].wrapping_sub(1) {
                return Err(ctx(format!("TTL {} (original {})", ip[8], orig[8])));
            }
            let flags = be16(&ip[6..8]);
            if flags & 0x4000 != orig_flags & 0x4000 {
                return Err(ctx("DF changed".to_string()));
            }
            let mf = flags & 0x2000 != 0;
            if mf != (!last || orig_mf) {
                return Err(ctx(format!("MF {mf}")));
            }
            let offset = (flags & 0x1fff) as usize * 8;
            if offset != next_offset {
                return Err(ctx(format!("offset {offset}, expected {next_offset}")));
            }
            let options = &ip[20..hlen];
            let want_options = if i == 0 {
                &orig[20..orig_hlen]
            } else {
                &self.later_options[..]
            };
            let differs = options.len() != want_options.len()
                || options
                    .iter()
                    .zip(want_options)
                    .enumerate()
                    .any(|(k, (a, b))| a != b && !(i == 0 && self.clock.contains(&k)));
            if differs {
                return Err(ctx(format!(
                    "options {} instead of {}",
                    hex(options),
                    hex(want_options)
                )));
            }
            let payload = &ip[hlen..total];
            if !last && payload.len() % 8 != 0 {
                return Err(ctx(format!(
                    "payload {} bytes, not a multiple of 8",
                    payload.len()
                )));
            }
            if payload.is_empty() {
                return Err(ctx("empty payload".to_string()));
            }
            reassembled.extend_from_slice(payload);
            next_offset += payload.len();
        }
        if reassembled != orig_payload {
            return Err(format!(
                "reassembled payload ({} bytes) differs from the original ({} bytes)",
                reassembled.len(),
                orig_payload.len()
            ));
        }
        Ok(())
    }
}
