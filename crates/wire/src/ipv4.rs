//! IPv4 (RFC 791) header view, validation as RFC 1812 §5.2.2 asks, options.

use std::net::Ipv4Addr;

use super::checksum;
use super::WireError;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Largest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// IP protocol numbers used by the router.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ICMP: u8 = 58;
    pub const SCTP: u8 = 132;
}

/// A zero-copy view of an IPv4 packet. The buffer may be longer than the
/// packet (Ethernet padding); [`Ipv4Packet::total_len`] says where it ends.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` after the structural checks of RFC 1812 §5.2.2 (all but
    /// the checksum, see [`Ipv4Packet::verify_checksum`]): at least 20 bytes,
    /// version 4, IHL ≥ 5, header within the buffer, IHL×4 ≤ total length ≤ buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let Some(h) = b.first_chunk::<MIN_HEADER_LEN>() else {
            return Err(WireError::Truncated);
        };
        // Almost every packet: version 4 and IHL 5 in one byte compare, so
        // only the total length is left to check (any other first byte, or
        // a bad total length, takes the checks below for its error).
        let total = u16::from_be_bytes([h[2], h[3]]) as usize;
        if h[field::VER_IHL] == 0x45 && total >= MIN_HEADER_LEN && total <= b.len() {
            return Ok(Ipv4Packet { buffer });
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = ((b[field::VER_IHL] & 0x0f) as usize) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if header_len > b.len() {
            return Err(WireError::Truncated);
        }
        if total < header_len {
            return Err(WireError::BadTotalLength);
        }
        if total > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buffer })
    }

    /// Wraps `buffer` without checks; accessors may panic on short buffers.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    #[inline]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The fixed 20-byte header (options excluded), for reading several
    /// fields with one length check; panics on a buffer shorter than 20
    /// bytes, which a checked view never has.
    #[inline]
    pub fn fixed_header(&self) -> &[u8; MIN_HEADER_LEN] {
        self.b()
            .first_chunk()
            .expect("a checked IPv4 view holds 20 bytes")
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.b()[field::DSCP_ECN] >> 2
    }
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.b()[field::DSCP_ECN] & 0x03
    }
    #[inline]
    pub fn total_len(&self) -> usize {
        let b = &self.b()[field::TOTAL_LEN];
        u16::from_be_bytes([b[0], b[1]]) as usize
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        let b = &self.b()[field::IDENT];
        u16::from_be_bytes([b[0], b[1]])
    }
    #[inline]
    fn flags_frag(&self) -> u16 {
        let b = &self.b()[field::FLAGS_FRAG];
        u16::from_be_bytes([b[0], b[1]])
    }
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & OFFSET_MASK
    }
    /// A fragment other than the first: its transport header is elsewhere.
    #[inline]
    pub fn is_non_first_fragment(&self) -> bool {
        self.frag_offset() != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        let b = &self.b()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        let b = &self.b()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.b()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    /// The header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header = &self.b()[..self.header_len()];
        match <&[u8; MIN_HEADER_LEN]>::try_from(header) {
            // Almost every packet: no options, a fixed-size sum.
            Ok(base) => checksum::verify_words(base),
            Err(_) => checksum::verify(header),
        }
    }
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.b()[MIN_HEADER_LEN..self.header_len()]
    }
    /// The packet up to its total length (padding excluded).
    #[inline]
    pub fn packet(&self) -> &[u8] {
        &self.b()[..self.total_len()]
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Decrements the TTL and updates the checksum incrementally (RFC 1624):
    /// TTL and protocol share one 16-bit word of the header. A non-zero TTL
    /// (every one a router decrements) takes [`decrement_nonzero_ttl`].
    #[inline(always)]
    pub fn decrement_ttl(&mut self) {
        let h: &mut [u8; MIN_HEADER_LEN] = self
            .bm()
            .first_chunk_mut()
            .expect("an IPv4 header holds 20 bytes");
        let ttl = h[field::TTL];
        if ttl != 0 {
            decrement_nonzero_ttl(h);
            return;
        }
        // TTL 0 wraps to 255: the word goes up by 0xff00.
        let proto = self.protocol();
        let old_word = u16::from_be_bytes([ttl, proto]);
        let new_word = u16::from_be_bytes([ttl.wrapping_sub(1), proto]);
        let sum = checksum::update_word(self.checksum(), old_word, new_word);
        let b = self.bm();
        b[field::TTL] = ttl.wrapping_sub(1);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }

    /// Sets the ECN field, updating the checksum incrementally.
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = self.buffer.as_ref();
        let old_word = u16::from_be_bytes([b[0], b[1]]);
        let new_byte = (b[1] & !0x03) | (ecn & 0x03);
        let new_word = u16::from_be_bytes([b[0], new_byte]);
        let sum = checksum::update_word(self.checksum(), old_word, new_word);
        let b = self.bm();
        b[field::DSCP_ECN] = new_byte;
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.bm()[field::TOTAL_LEN].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the MF flag and fragment offset (8-byte units), keeping DF.
    #[inline]
    pub fn set_fragment(&mut self, more_frags: bool, offset: u16) {
        let df = self.flags_frag() & FLAG_DF;
        let v = df | if more_frags { FLAG_MF } else { 0 } | (offset & OFFSET_MASK);
        self.bm()[field::FLAGS_FRAG].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the IHL field (header length in bytes, a multiple of 4).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.bm();
        b[field::VER_IHL] = 0x40 | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the TTL without touching the checksum (callers recompute it).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.bm()[field::TTL] = ttl;
    }

    /// Recomputes the header checksum from scratch (slow path: emitted packets).
    #[inline]
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.bm();
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let sum = checksum::checksum(&b[..hl]);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The header fields of a packet the router originates (ICMP errors).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Writes a 20-byte header with a correct checksum into `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let total = (MIN_HEADER_LEN + self.payload_len) as u16;
        let h = &mut buf[..MIN_HEADER_LEN];
        h[field::VER_IHL] = 0x45;
        h[field::DSCP_ECN] = self.dscp_ecn;
        h[field::TOTAL_LEN].copy_from_slice(&total.to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        h[field::FLAGS_FRAG].copy_from_slice(&0u16.to_be_bytes());
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        h[field::CHECKSUM].copy_from_slice(&[0, 0]);
        h[field::SRC].copy_from_slice(&self.src.octets());
        h[field::DST].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(h);
        h[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// One IPv4 option as found in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// The whole option, type byte included.
    pub bytes: &'a [u8],
}

impl Ipv4Option<'_> {
    /// RFC 791: the copied flag says the option belongs in every fragment.
    pub fn copied(&self) -> bool {
        self.bytes[0] & 0x80 != 0
    }
}

/// Iterates over the options of a header; yields `Err` once on a malformed
/// option (bad length) and then stops. End-of-list stops iteration.
pub struct Ipv4Options<'a> {
    rest: &'a [u8],
}

/// Walks `options` (the bytes between the fixed header and IHL×4).
pub fn options(options: &[u8]) -> Ipv4Options<'_> {
    Ipv4Options { rest: options }
}

impl<'a> Iterator for Ipv4Options<'a> {
    type Item = Result<Ipv4Option<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        const END_OF_LIST: u8 = 0;
        const NO_OPERATION: u8 = 1;
        let kind = *self.rest.first()?;
        match kind {
            END_OF_LIST => {
                self.rest = &[];
                None
            }
            NO_OPERATION => {
                let (opt, rest) = self.rest.split_at(1);
                self.rest = rest;
                Some(Ok(Ipv4Option { bytes: opt }))
            }
            _ => {
                let len = match self.rest.get(1) {
                    Some(&l) if l >= 2 && (l as usize) <= self.rest.len() => l as usize,
                    _ => {
                        self.rest = &[];
                        return Some(Err(WireError::BadOption));
                    }
                };
                let (opt, rest) = self.rest.split_at(len);
                self.rest = rest;
                Some(Ok(Ipv4Option { bytes: opt }))
            }
        }
    }
}

/// [`Ipv4Packet::decrement_ttl`] of a fixed header `h` whose TTL is not 0
/// (the forwarding paths' case: they drop TTLs of 0 and 1 first). The word
/// [TTL, protocol] goes down by 0x0100, so RFC 1624's `~m + m'` is the
/// constant 0xfeff: `HC' = ~(~HC + 0xfeff)`, made on the checksum read in
/// the machine's byte order (no swaps: a ones' complement sum of
/// byte-swapped words is the byte-swapped sum, RFC 1071 §2(B)) with one
/// fold (`~HC + 0xfeff` is at most 0x1fefe, whose fold fits 16 bits).
#[inline(always)]
pub fn decrement_nonzero_ttl(h: &mut [u8; MIN_HEADER_LEN]) {
    debug_assert!(h[field::TTL] != 0, "TTL 0 takes the general update");
    h[field::TTL] = h[field::TTL].wrapping_sub(1);
    let old = u16::from_ne_bytes([h[10], h[11]]);
    let sum = u32::from(!old) + u32::from(u16::from_ne_bytes([0xfe, 0xff]));
    let sum = (sum & 0xffff) + (sum >> 16);
    h[field::CHECKSUM].copy_from_slice(&(!(sum as u16)).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut p = vec![0u8; 28];
        Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 10),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: protocol::UDP,
            ttl: 64,
            dscp_ecn: 0xb8 | 1,
            ident: 0x1234,
            payload_len: 8,
        }
        .emit(&mut p);
        p
    }

    #[test]
    fn emitted_header_parses() {
        let p = sample();
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.version(), 4);
        assert_eq!(v.header_len(), 20);
        assert_eq!(v.total_len(), 28);
        assert_eq!(v.ttl(), 64);
        assert_eq!(v.dscp(), 46);
        assert_eq!(v.ecn(), 1);
        assert_eq!(v.src(), Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(v.dst(), Ipv4Addr::new(198, 51, 100, 7));
        assert!(v.verify_checksum());
        assert!(!v.dont_frag() && !v.more_frags() && v.frag_offset() == 0);
    }

    #[test]
    fn structural_errors() {
        let p = sample();
        assert_eq!(
            Ipv4Packet::new_checked(&p[..19]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = p.clone();
        bad[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadVersion
        );
        bad[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadHeaderLength
        );
        bad[0] = 0x4f; // 60-byte header in a 28-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = p.clone();
        bad[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::BadTotalLength
        );
        bad[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Truncated
        );
        // Padding after the packet is allowed.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(
            Ipv4Packet::new_checked(&padded[..]).unwrap().packet().len(),
            28
        );
    }

    #[test]
    fn ttl_and_ecn_updates_keep_checksum_valid() {
        let mut p = sample();
        let mut v = Ipv4Packet::new_unchecked(&mut p[..]);
        for expected in (0..64).rev() {
            v.decrement_ttl();
            assert_eq!(v.ttl(), expected);
            assert!(v.verify_checksum());
        }
        v.set_ecn(3);
        assert_eq!(v.ecn(), 3);
        assert_eq!(v.dscp(), 46);
        assert!(v.verify_checksum());
    }

    /// The machine-order, one-fold decrement writes the bytes of RFC 1624's
    /// general update (`update_word`, big-endian, two folds), for every
    /// checksum and the TTLs at the edges (1 is the last it takes).
    #[test]
    fn nonzero_ttl_decrement_matches_update_word_for_every_checksum() {
        for ttl in [1u8, 2, 3, 64, 128, 255] {
            for sum in 0..=u16::MAX {
                let mut h = [0u8; MIN_HEADER_LEN];
                h[0] = 0x45;
                h[8] = ttl;
                h[9] = 17;
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                let old = u16::from_be_bytes([ttl, 17]);
                let new = u16::from_be_bytes([ttl - 1, 17]);
                let mut expected = h;
                expected[8] = ttl - 1;
                expected[10..12]
                    .copy_from_slice(&checksum::update_word(sum, old, new).to_be_bytes());
                decrement_nonzero_ttl(&mut h);
                assert_eq!(h, expected, "TTL {ttl}, checksum {sum:#06x}");
            }
        }
    }

    /// RFC 1812 §5.2.2's checks in their plain order, as `new_checked`
    /// made them before its shortcut for version 4 and IHL 5.
    fn reference_check(b: &[u8]) -> Result<(), WireError> {
        if b.len() < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = ((b[0] & 0x0f) as usize) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if header_len > b.len() {
            return Err(WireError::Truncated);
        }
        let total = u16::from_be_bytes([b[2], b[3]]) as usize;
        if total < header_len {
            return Err(WireError::BadTotalLength);
        }
        if total > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn checks_match_the_plain_order(
            first in proptest::prop_oneof![proptest::prelude::Just(0x45u8), 0x40u8..0x50, proptest::prelude::any::<u8>()],
            total in 0u16..90,
            len in 0usize..80,
        ) {
            let mut b = vec![0u8; len];
            if let Some(x) = b.first_mut() { *x = first; }
            if len >= 4 { b[2..4].copy_from_slice(&total.to_be_bytes()); }
            proptest::prop_assert_eq!(
                Ipv4Packet::new_checked(&b[..]).map(|_| ()),
                reference_check(&b)
            );
        }

        /// The shortcut for a non-zero TTL writes the bytes RFC 1624's
        /// general update (`update_word`) writes.
        #[test]
        fn ttl_shortcut_matches_update_word(mut h in proptest::prelude::any::<[u8; 20]>()) {
            let old = u16::from_be_bytes([h[8], h[9]]);
            let new = u16::from_be_bytes([h[8].wrapping_sub(1), h[9]]);
            let sum = checksum::update_word(u16::from_be_bytes([h[10], h[11]]), old, new);
            let mut expected = h;
            expected[8] = h[8].wrapping_sub(1);
            expected[10..12].copy_from_slice(&sum.to_be_bytes());
            Ipv4Packet::new_unchecked(&mut h[..]).decrement_ttl();
            proptest::prop_assert_eq!(h, expected);
        }
    }

    #[test]
    fn option_walk() {
        // NOP, record route (copied=0, len 7), security-like copied option (0x82, len 4), EOL.
        let opts = [1, 7, 7, 4, 0, 0, 0, 0, 0x82, 4, 9, 9, 0, 0, 0, 0];
        let got: Vec<_> = options(&opts).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].unwrap().bytes.len(), 7);
        assert!(!got[1].unwrap().copied());
        assert!(got[2].unwrap().copied());
        let bad = [7, 40, 0, 0];
        let got: Vec<_> = options(&bad).collect();
        assert_eq!(got, vec![Err(WireError::BadOption)]);
        let zero_len = [0x44, 0, 1, 1];
        assert_eq!(options(&zero_len).next(), Some(Err(WireError::BadOption)));
    }
}
