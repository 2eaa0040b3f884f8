//! Pacing: how many frames a generator may send now to keep a target rate.

use std::time::Duration;

/// Spreads sends evenly over time: at elapsed time `t` the generator may
/// have sent `rate × t` frames. Without a rate every call allows a full
/// chunk. Sends are granted in chunks of at most `max_chunk` frames, so a
/// generator checks its clock, its stop conditions and its signals between
/// chunks; with a rate, in chunks of at least a millisecond's worth (one
/// system call per frame would cap the rate itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    /// Frames per second; `None` sends as fast as possible.
    rate: Option<u64>,
    min_chunk: u64,
    max_chunk: u32,
}

impl Pacer {
    pub fn new(rate: Option<u64>, max_chunk: u32) -> Pacer {
        let rate = rate.filter(|&r| r > 0);
        let max_chunk = max_chunk.max(1);
        Pacer {
            rate,
            min_chunk: rate.map_or(1, |r| (r / 1000).clamp(1, max_chunk as u64)),
            max_chunk,
        }
    }

    /// Frames to send now, `elapsed` after the start with `sent` sent so far
    /// and `left` still wanted (`None`: no limit). Zero means wait for
    /// [`wait`](Self::wait).
    pub fn allowance(&self, elapsed: Duration, sent: u64, left: Option<u64>) -> u32 {
        let due = match self.rate {
            None => self.max_chunk as u64,
            Some(rate) => {
                let owed = (rate as u128 * elapsed.as_nanos() / 1_000_000_000) as u64;
                let due = owed.saturating_sub(sent);
                // Wait for a whole chunk, unless it finishes the count.
                if due < self.min_chunk && left.is_none_or(|l| due < l) {
                    return 0;
                }
                due
            }
        };
        let due = match left {
            Some(left) => due.min(left),
            None => due,
        };
        due.min(self.max_chunk as u64) as u32
    }

    /// How long to wait, at `elapsed` with `sent` sent, until the next chunk
    /// is due (zero without a rate).
    pub fn wait(&self, elapsed: Duration, sent: u64) -> Duration {
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let next_due_ns =
            ((sent as u128 + self.min_chunk as u128) * 1_000_000_000).div_ceil(rate as u128);
        let next_due = Duration::from_nanos(next_due_ns.min(u64::MAX as u128) as u64);
        next_due.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_grants_full_chunks_until_the_count() {
        let p = Pacer::new(None, 1000);
        assert_eq!(p.allowance(Duration::ZERO, 0, None), 1000);
        assert_eq!(p.allowance(Duration::ZERO, 5000, Some(250)), 250);
        assert_eq!(p.allowance(Duration::ZERO, 5000, Some(0)), 0);
        assert_eq!(p.wait(Duration::from_secs(3), 7), Duration::ZERO);
    }

    #[test]
    fn a_rate_grants_what_is_owed() {
        let p = Pacer::new(Some(1_000_000), 1 << 16);
        // 1 Mpps: 1000 frames per millisecond.
        assert_eq!(p.allowance(Duration::from_millis(1), 0, None), 1000);
        assert_eq!(p.allowance(Duration::from_millis(1), 1000, None), 0);
        assert_eq!(p.allowance(Duration::from_millis(3), 1000, None), 2000);
        // Capped by the chunk and by what is left.
        assert_eq!(p.allowance(Duration::from_secs(1), 0, None), 1 << 16);
        assert_eq!(p.allowance(Duration::from_secs(1), 0, Some(7)), 7);
    }

    #[test]
    fn wait_reaches_the_next_due_frame() {
        let p = Pacer::new(Some(1000), 64);
        // Frame 11 is due at 11 ms.
        let w = p.wait(Duration::from_millis(4), 10);
        assert_eq!(w, Duration::from_millis(7));
        assert_eq!(p.allowance(Duration::from_millis(4) + w, 10, None), 1);
        // Behind schedule: no wait.
        assert_eq!(p.wait(Duration::from_secs(1), 10), Duration::ZERO);
    }

    #[test]
    fn fast_rates_go_in_millisecond_chunks() {
        let p = Pacer::new(Some(2_000_000), 1 << 16);
        // 2000 frames per millisecond: half a millisecond's worth waits...
        assert_eq!(p.allowance(Duration::from_micros(500), 0, None), 0);
        assert_eq!(
            p.wait(Duration::from_micros(500), 0),
            Duration::from_micros(500)
        );
        // ...unless it is all that is left to send.
        assert_eq!(p.allowance(Duration::from_micros(500), 0, Some(1000)), 1000);
        assert_eq!(p.allowance(Duration::from_millis(1), 0, None), 2000);
    }

    #[test]
    fn a_zero_rate_means_unlimited() {
        assert_eq!(Pacer::new(Some(0), 8), Pacer::new(None, 8));
    }
}
