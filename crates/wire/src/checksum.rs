//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are kept as unfolded `u32` accumulators so that a pseudo-header and a
//! payload can be summed separately and combined before the final fold.

/// Adds `data` as a sequence of big-endian 16-bit words to `acc` (an odd
/// trailing byte is padded with zero, as RFC 1071 says).
#[inline]
pub fn accumulate(mut acc: u32, data: &[u8]) -> u32 {
    // 64-bit lanes halve the number of carries to fold for long payloads;
    // the fast path only ever calls this for ICMP quotes and fragments.
    let mut wide: u64 = acc as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        wide += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        wide += u16::from_be_bytes([p[0], p[1]]) as u64;
    }
    if let [last] = pairs.remainder() {
        wide += (*last as u64) << 8;
    }
    while wide >> 32 != 0 {
        wide = (wide & 0xffff_ffff) + (wide >> 32);
    }
    acc = wide as u32;
    acc
}

/// Folds an accumulator to 16 bits with end-around carry. Two folds are
/// always enough (the first leaves at most 0x1fffe, the second at most
/// 0xffff), so there is no loop to predict.
#[inline]
pub fn fold(acc: u32) -> u16 {
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The checksum field value for `data` (whose own checksum field must be zero).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(accumulate(0, data))
}

/// The checksum to store for data already summed into `acc`.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// True when `data`, checksum field included, sums to 0xffff.
#[inline]
pub fn verify(data: &[u8]) -> bool {
    fold(accumulate(0, data)) == 0xffff
}

/// [`verify`] for data of a fixed length that is a multiple of 4, such as an
/// IPv4 header without options (the forwarding path checks one per packet):
/// summed as 64-bit words (and a last 32-bit one) with end-around carry,
/// unrolled, then folded to 16 bits with carries added back, so that a
/// 20-byte header costs three loads and a handful of adds. The same answer
/// as [`verify`]: 2^16 ≡ 1 modulo 0xffff, so 16-, 32- and 64-bit words sum
/// alike (RFC 1071 §2(C)), and end-around carries keep a non-zero sum
/// non-zero. The words are read in the machine's byte order, with no swaps:
/// the ones' complement sum of byte-swapped words is the byte-swapped sum
/// (RFC 1071 §2(B)), and the all-ones sum this compares with reads the same
/// either way.
#[inline]
pub fn verify_words<const N: usize>(data: &[u8; N]) -> bool {
    const { assert!(N.is_multiple_of(4) && N <= 1 << 16, "whole 32-bit words") };
    let mut chunks = data.chunks_exact(8);
    let mut sum: u64 = 0;
    for w in &mut chunks {
        sum = add_carry_64(
            sum,
            u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
        );
    }
    if let [a, b, c, d] = *chunks.remainder() {
        sum = add_carry_64(sum, u64::from(u32::from_ne_bytes([a, b, c, d])));
    }
    let (lo, carry) = (sum as u32).overflowing_add((sum >> 32) as u32);
    // No overflow: after a carry out the low half is at most 2^32 - 2.
    let sum = lo + carry as u32;
    let (lo, carry) = (sum as u16).overflowing_add((sum >> 16) as u16);
    lo + carry as u16 == 0xffff
}

/// `a + b` in ones' complement: the carry out added back in (which cannot
/// carry again: after a carry out the sum is at most 2^64 - 2).
#[inline(always)]
fn add_carry_64(a: u64, b: u64) -> u64 {
    let (sum, carry) = a.overflowing_add(b);
    sum + carry as u64
}

/// Sum of the IPv4 pseudo-header (RFC 768/793).
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> u32 {
    let acc = accumulate(0, &src);
    let acc = accumulate(acc, &dst);
    acc + protocol as u32 + length as u32
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1).
#[inline]
pub fn pseudo_header_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, length: u32) -> u32 {
    let acc = accumulate(0, &src);
    let acc = accumulate(acc, &dst);
    acc + (length >> 16) + (length & 0xffff) + next_header as u32
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data
/// changed from `old_word` to `new_word`: `HC' = ~(~HC + ~m + m')`.
///
/// Unlike eqn. 2 of RFC 1141 this never produces 0x0000 where a full
/// recomputation would give 0xffff (the -0 / +0 problem RFC 1624 §3 fixes).
#[inline]
pub fn update_word(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = (!old_checksum as u32) + (!old_word as u32) + new_word as u32;
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Straight RFC 1071 reference: one 16-bit word at a time.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            sum += u16::from_be_bytes([data[i], data[i + 1]]) as u32;
            sum = (sum & 0xffff) + (sum >> 16);
            i += 2;
        }
        if i < data.len() {
            sum += (data[i] as u32) << 8;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(accumulate(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A header from Wikipedia's IPv4 checksum example, checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verify(&h));
        assert!(verify_words(&h));
    }

    /// The word sums' carries at their extremes: all ones (every add
    /// carries out), all zeros (the one sum that is 0, not 0xffff), and a
    /// single word short of all ones.
    #[test]
    fn word_sum_carries_at_the_extremes() {
        let ones = [0xffu8; 20];
        assert!(verify(&ones) && verify_words(&ones));
        let zeros = [0u8; 20];
        assert!(!verify(&zeros) && !verify_words(&zeros));
        for i in 0..20 {
            let mut h = ones;
            h[i] = 0xfe;
            assert_eq!(verify_words(&h), verify(&h), "byte {i}");
            let mut h = zeros;
            h[i] = 1;
            assert_eq!(verify_words(&h), verify(&h), "byte {i}");
        }
    }

    proptest! {
        #[test]
        fn matches_reference(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(checksum(&data), reference(&data));
        }

        #[test]
        fn word_sum_verifies_like_the_reference(mut header in any::<[u8; 20]>(), fix in any::<bool>()) {
            if fix {
                header[10..12].copy_from_slice(&[0, 0]);
                let sum = checksum(&header);
                header[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            prop_assert_eq!(verify_words(&header), verify(&header));
            prop_assert_eq!(verify(&header), reference(&header) == 0);
            // Other whole-word lengths too (a last 32-bit word or none).
            let long: [u8; 24] = std::array::from_fn(|i| header[i % 20]);
            prop_assert_eq!(verify_words(&long), verify(&long));
            let short: [u8; 16] = std::array::from_fn(|i| header[i]);
            prop_assert_eq!(verify_words(&short), verify(&short));
        }

        #[test]
        fn incremental_equals_full(mut data in proptest::collection::vec(any::<u8>(), 4..64),
                                   word in 0usize..32, new_word in any::<u16>()) {
            let n = data.len() / 2 * 2;
            data.truncate(n);
            let idx = (word % (n / 2)) * 2;
            let before = checksum(&data);
            let old_word = u16::from_be_bytes([data[idx], data[idx + 1]]);
            data[idx..idx + 2].copy_from_slice(&new_word.to_be_bytes());
            let full = checksum(&data);
            let inc = update_word(before, old_word, new_word);
            // Both are valid encodings; they must agree modulo the +0/-0 ambiguity,
            // which only exists when the sum is all ones or all zeros.
            prop_assert!(inc == full || (inc == 0xffff && full == 0) || (inc == 0 && full == 0xffff),
                "incremental {inc:#06x} full {full:#06x}");
        }
    }
}
