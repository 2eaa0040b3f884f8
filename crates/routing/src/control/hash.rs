//! The one hasher for every control-plane map keyed by data a peer can
//! send (prefixes, next hops, router ids, LSA keys): the RIB's, BGP's
//! Adj-RIBs-In and next hops, SPF's router index. SipHash made a full-table
//! load take seconds (a million prefixes are hashed several times each).
//!
//! Multiply-rotate over machine words (the FxHash scheme) with a full
//! avalanche at the end, seeded once per process from the standard
//! library's random keys, so that bucket placement cannot be predicted (or
//! flooded) from outside.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

const K: u64 = 0x517c_c1b7_2722_0a95;

#[derive(Debug, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply-rotate steps leave the low bits depending on the low
        // bits of the input only (a /24's low address byte is always 0), and
        // hashbrown indexes buckets with the low bits: finish with a full
        // avalanche (splitmix64's finaliser). Without it a full table took
        // 37 s to load instead of well under one.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FastState(u64);

impl Default for FastState {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        FastState(*SEED.get_or_init(|| RandomState::new().hash_one(0x5eed_u64)))
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;
pub(crate) type FastSet<T> = HashSet<T, FastState>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;
    use std::net::Ipv4Addr;

    use super::*;

    /// Buckets come from the hash's low bits: keys that differ only above
    /// their low byte (router ids numbered by their third octet, /24
    /// prefixes) must still spread over them.
    #[test]
    fn keys_with_a_zero_low_byte_spread_over_the_buckets() {
        let build = FastState::default();
        let buckets: HashSet<u64> = (0..10_000u32)
            .map(|i| build.hash_one(Ipv4Addr::from(0x0a00_0000 + (i << 8))) & 0x3fff)
            .collect();
        // 10,000 keys into 16,384 buckets: about 7,600 distinct if uniform.
        assert!(buckets.len() > 7_000, "{} buckets used", buckets.len());
    }
}
