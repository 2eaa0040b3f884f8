//! CoDel (RFC 8289), one instance per flow queue, acting at dequeue.
//!
//! The queue asks [`Codel::should_signal`] for every packet it takes from
//! the head; the answer says whether this packet carries a congestion signal
//! (an ECN mark, or a drop when the packet is not ECN-capable). Time is the
//! caller's, in nanoseconds.
//!
//! The control law is RFC 8289's: once the sojourn time has stayed above
//! `target` for a whole `interval`, signal, then signal again after
//! `interval / sqrt(count)`; leave the dropping state as soon as one packet's
//! sojourn is below target. A queue holding at most one MTU never signals
//! (§5.5: a single packet cannot be a standing queue).

/// CoDel's two settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodelParams {
    pub target_ns: u64,
    pub interval_ns: u64,
}

impl Default for CodelParams {
    fn default() -> Self {
        CodelParams {
            target_ns: super::DEFAULT_TARGET_NS,
            interval_ns: super::DEFAULT_INTERVAL_NS,
        }
    }
}

/// Per-queue CoDel state (RFC 8289 §5 names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codel {
    /// When the sojourn time first went above target plus one interval;
    /// 0 while it is below target.
    first_above_time: u64,
    /// Time of the next signal while dropping.
    drop_next: u64,
    /// Signals since entering the dropping state.
    count: u32,
    /// `count` when the dropping state was last left.
    lastcount: u32,
    dropping: bool,
}

/// `interval / sqrt(count)` added to `t` (only evaluated on signals).
fn control_law(t: u64, interval: u64, count: u32) -> u64 {
    t + (interval as f64 / (count.max(1) as f64).sqrt()) as u64
}

impl Codel {
    /// RFC 8289's `dodequeue` test for one head packet: is the sojourn time
    /// persistently above target? `backlog_after` is the queue's bytes left
    /// behind this packet.
    fn ok_to_drop(
        &mut self,
        p: &CodelParams,
        now: u64,
        sojourn: u64,
        backlog_after: u64,
        mtu: u64,
    ) -> bool {
        if sojourn < p.target_ns || backlog_after <= mtu {
            self.first_above_time = 0;
            return false;
        }
        if self.first_above_time == 0 {
            self.first_above_time = now + p.interval_ns;
            return false;
        }
        now >= self.first_above_time
    }

    /// Decides for the packet just taken from the head of the queue.
    /// Returns true when it must carry a congestion signal; the caller then
    /// marks it (ECN-capable: it is sent, and this call sequence ends) or
    /// drops it and calls again for the next head packet with
    /// `again = true`.
    pub fn should_signal(
        &mut self,
        p: &CodelParams,
        now: u64,
        sojourn: u64,
        backlog_after: u64,
        mtu: u64,
        again: bool,
    ) -> bool {
        let ok = self.ok_to_drop(p, now, sojourn, backlog_after, mtu);
        if self.dropping {
            if !ok {
                self.dropping = false;
                return false;
            }
            if now >= self.drop_next {
                self.count = self.count.saturating_add(1);
                self.drop_next = control_law(self.drop_next, p.interval_ns, self.count);
                return true;
            }
            return false;
        }
        if ok && !again {
            self.dropping = true;
            // Re-enter with the previous rate when the last episode was
            // recent (RFC 8289 §5.5: count - lastcount).
            let delta = self.count.saturating_sub(self.lastcount);
            self.count = if delta > 1 && now.saturating_sub(self.drop_next) < 16 * p.interval_ns {
                delta
            } else {
                1
            };
            self.lastcount = self.count;
            self.drop_next = control_law(now, p.interval_ns, self.count);
            return true;
        }
        false
    }

    /// The queue went empty (RFC 8289: no packet, leave dropping).
    pub fn on_empty(&mut self) {
        self.first_above_time = 0;
        self.dropping = false;
    }

    pub fn dropping(&self) -> bool {
        self.dropping
    }

    pub fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn signals_only_after_a_full_interval_above_target() {
        let p = CodelParams::default();
        let mut c = Codel::default();
        let backlog = 100_000;
        // 10 ms sojourn from t = 0: above target, but not yet for an interval.
        let mut t = 1;
        while t < 100 * MS {
            assert!(
                !c.should_signal(&p, t, 10 * MS, backlog, 1514, false),
                "at {t}"
            );
            t += MS;
        }
        // After 100 ms above target the next packet carries a signal.
        assert!(c.should_signal(&p, 101 * MS + 1, 10 * MS, backlog, 1514, false));
        assert!(c.dropping());
        // The next signal comes interval/sqrt(2) later, not before.
        let next = 101 * MS + 1 + (100.0 * MS as f64 / 2f64.sqrt()) as u64 + 100 * MS;
        let mut signals = 0;
        let mut t = 102 * MS;
        while t < next {
            if c.should_signal(&p, t, 10 * MS, backlog, 1514, false) {
                signals += 1;
            }
            t += MS;
        }
        // The second signal is due at 201 ms (one interval after the first),
        // the third 100 ms / sqrt(2) = 70.7 ms later, at 271.7 ms: outside.
        assert_eq!(signals, 1);
        assert_eq!(c.count(), 2);
    }

    #[test]
    fn a_dip_below_target_resets() {
        let p = CodelParams::default();
        let mut c = Codel::default();
        for t in (1..90).map(|i| i * MS) {
            assert!(!c.should_signal(&p, t, 10 * MS, 100_000, 1514, false));
        }
        // One packet below target: the clock restarts.
        assert!(!c.should_signal(&p, 90 * MS, MS, 100_000, 1514, false));
        for t in (91..190).map(|i| i * MS) {
            assert!(!c.should_signal(&p, t, 10 * MS, 100_000, 1514, false));
        }
        assert!(c.should_signal(&p, 192 * MS, 10 * MS, 100_000, 1514, false));
        // Leaving: one packet below target ends the dropping state.
        assert!(!c.should_signal(&p, 193 * MS, MS, 100_000, 1514, false));
        assert!(!c.dropping());
    }

    #[test]
    fn a_single_packet_queue_never_signals() {
        let p = CodelParams::default();
        let mut c = Codel::default();
        for t in (1..1000).map(|i| i * MS) {
            assert!(!c.should_signal(&p, t, 50 * MS, 1000, 1514, false));
        }
    }
}
