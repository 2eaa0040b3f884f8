//! One fixed-seed pseudo-random sequence (xorshift64*) for tests and
//! benches: the same seed gives the same inputs on every machine and Rust
//! version, without a dependency.

/// xorshift64*. A zero seed (a fixed point of xorshift) is replaced by a
/// fixed non-zero one.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn sequence_is_fixed_and_zero_seed_moves() {
        let mut r = Rng::new(1);
        assert_eq!(r.next_u64(), 0x47e4_ce4b_896c_dd1d);
        let mut z = Rng::new(0);
        assert_ne!(z.next_u64(), 0);
        assert_ne!(z.next_u64(), z.next_u64());
    }
}
