//! A token bucket driven by the caller's clock (no clock reads of its own).

/// `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Nanoseconds of credit per token.
    ns_per_token: u64,
    /// Credit in nanoseconds, capped at `burst` tokens' worth.
    credit_ns: u64,
    cap_ns: u64,
    last_ns: u64,
}

impl TokenBucket {
    /// A bucket that starts full. A rate of 0 never grants a token.
    pub fn new(rate: u32, burst: u32) -> Self {
        let ns_per_token = if rate == 0 {
            u64::MAX
        } else {
            1_000_000_000 / rate as u64
        }
        .max(1);
        let cap_ns = if rate == 0 {
            0
        } else {
            ns_per_token.saturating_mul(burst.max(1) as u64)
        };
        TokenBucket {
            ns_per_token,
            credit_ns: cap_ns,
            cap_ns,
            last_ns: 0,
        }
    }

    /// Takes one token if there is one at time `now_ns`.
    #[inline]
    pub fn take(&mut self, now_ns: u64) -> bool {
        if now_ns > self.last_ns {
            self.credit_ns = (self.credit_ns + (now_ns - self.last_ns)).min(self.cap_ns);
            self.last_ns = now_ns;
        }
        if self.credit_ns >= self.ns_per_token {
            self.credit_ns -= self.ns_per_token;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 3);
        let t0 = 5_000_000_000;
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0), "burst of 3 exhausted");
        assert!(!b.take(t0 + 99_000_000), "one token takes 100 ms");
        assert!(b.take(t0 + 100_000_000));
        // A long idle time refills no more than the burst.
        let later = t0 + 60_000_000_000;
        let granted = (0..10).filter(|_| b.take(later)).count();
        assert_eq!(granted, 3);
        // A clock that goes backwards grants nothing extra and does not panic.
        assert!(!b.take(t0));
    }

    #[test]
    fn zero_rate_never_grants() {
        let mut b = TokenBucket::new(0, 10);
        assert!(!b.take(0));
        assert!(!b.take(u64::MAX));
    }
}
