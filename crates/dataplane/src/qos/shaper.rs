//! Egress shaper: a token bucket kept as a time (CAKE's `time_next_packet`).
//!
//! Sending a frame of `len` bytes at `rate` bytes/s occupies the link for
//! `(len + overhead) / rate`; the shaper remembers when the link is free
//! again and lets a frame go while that time is at most `burst` ahead of the
//! clock. The cost per byte is kept in 32.32 fixed point so the per-packet
//! work is one multiply.

/// Token-bucket shaper for one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shaper {
    /// Nanoseconds per byte, 32.32 fixed point.
    ns_per_byte_q32: u64,
    overhead: u32,
    /// How far ahead of the clock the link may be booked (the bucket depth).
    burst_ns: u64,
    /// When the link has sent everything booked so far.
    next_free_ns: u64,
    rate: u64,
}

/// Bucket depth: 1 ms of line time, and at least two 1514-byte frames.
const BURST_NS: u64 = 1_000_000;

impl Shaper {
    /// A shaper for `rate` bytes/s (at least 1) charging `overhead` extra
    /// bytes per frame.
    pub fn new(rate: u64, overhead: u32) -> Shaper {
        let rate = rate.max(1);
        let ns_per_byte_q32 =
            ((1_000_000_000u128 << 32) / rate as u128).min(u64::MAX as u128) as u64;
        let two_frames = (((2 * (1514 + overhead as u128)) * ns_per_byte_q32 as u128) >> 32) as u64;
        Shaper {
            ns_per_byte_q32,
            overhead,
            burst_ns: BURST_NS.max(two_frames),
            next_free_ns: 0,
            rate,
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Line time of a frame of `len` bytes.
    #[inline]
    pub fn cost_ns(&self, len: u32) -> u64 {
        (((len as u128 + self.overhead as u128) * self.ns_per_byte_q32 as u128) >> 32) as u64
    }

    /// True when a frame may be sent now.
    #[inline]
    pub fn ready(&self, now_ns: u64) -> bool {
        self.next_free_ns <= now_ns + self.burst_ns
    }

    /// Books a frame of `len` bytes sent at `now_ns`.
    #[inline]
    pub fn charge(&mut self, now_ns: u64, len: u32) {
        // An idle link does not save up more than the burst.
        let start = self.next_free_ns.max(now_ns);
        self.next_free_ns = start + self.cost_ns(len);
    }

    /// The earliest time a frame may be sent (for a worker's wait).
    pub fn next_ready_ns(&self) -> u64 {
        self.next_free_ns.saturating_sub(self.burst_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_at_the_rate_with_overhead() {
        // 1 Mbyte/s, 1000-byte frames with 24 bytes of framing: 1.024 ms each.
        let mut s = Shaper::new(1_000_000, 24);
        assert_eq!(s.cost_ns(1000), 1_024_000);
        let mut sent_bytes = 0u64;
        let mut now = 0;
        // Poll every 10 µs for one simulated second.
        while now < 1_000_000_000 {
            while s.ready(now) {
                s.charge(now, 1000);
                sent_bytes += 1024;
            }
            now += 10_000;
        }
        // One second of line time, plus at most the burst (two 1538-byte
        // frames' time, 3.076 ms = 3076 bytes here) and the frame in flight.
        let expect = 1_000_000u64;
        assert!(
            sent_bytes >= expect - 1024 && sent_bytes <= expect + 3076 + 1024,
            "{sent_bytes}"
        );
    }

    #[test]
    fn an_idle_link_saves_only_the_burst() {
        let mut s = Shaper::new(125_000, 0); // 1 Mbit/s: 8 µs per byte
        s.charge(0, 1000);
        let now = 10_000_000_000; // ten idle seconds later
        let mut burst = 0;
        while s.ready(now) {
            s.charge(now, 1000);
            burst += 1;
        }
        // The burst is max(1 ms, two frames) = 2 × 1514 × 8 µs = 24.2 ms:
        // frames start 0, 8, 16 and 24 ms ahead of the clock, then it stops.
        assert_eq!(burst, 4);
    }
}
