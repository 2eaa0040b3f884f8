//! When to run SPF: a burst of LSDB changes costs one run.
//!
//! The first change after a run opens a hold-down window; changes inside the
//! window join it; SPF is due when the window closes. The window is not
//! extended by later changes, so a steady stream of changes still gets an
//! SPF run every `hold_down` rather than never. Pure: the caller passes the
//! clock, which keeps it testable without sleeping.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SpfScheduler {
    hold_down: Duration,
    /// When the pending changes' window closes.
    deadline: Option<Instant>,
    /// Changes noted since the last run (for operators).
    pending: u64,
}

impl SpfScheduler {
    /// A typical hold-down: long enough to gather a file rewrite or a
    /// flurry of LSAs, short against routing convergence.
    pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_millis(50);

    pub fn new(hold_down: Duration) -> Self {
        SpfScheduler {
            hold_down,
            deadline: None,
            pending: 0,
        }
    }

    /// Records an LSDB change at `now`.
    pub fn note_change(&mut self, now: Instant) {
        self.pending += 1;
        self.deadline.get_or_insert(now + self.hold_down);
    }

    /// True when SPF should run now; it then counts as run (the pending
    /// changes are cleared), so call it once per check and run SPF on true.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.deadline = None;
                self.pending = 0;
                true
            }
            _ => false,
        }
    }

    /// When the pending changes fall due (for the caller's wait); `None`
    /// when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Changes noted since the last run.
    pub fn pending(&self) -> u64 {
        self.pending
    }
}

impl Default for SpfScheduler {
    fn default() -> Self {
        Self::new(Self::DEFAULT_HOLD_DOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_costs_one_run() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = SpfScheduler::new(ms(50));
        assert!(!s.due(t0));
        s.note_change(t0);
        s.note_change(t0 + ms(10));
        s.note_change(t0 + ms(49));
        assert_eq!(s.pending(), 3);
        assert_eq!(s.deadline(), Some(t0 + ms(50)));
        assert!(!s.due(t0 + ms(49)));
        assert!(s.due(t0 + ms(50)));
        // Counted as run: nothing more is due until the next change.
        assert!(!s.due(t0 + ms(51)));
        assert_eq!(s.deadline(), None);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_change_after_a_run_opens_a_new_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = SpfScheduler::new(ms(20));
        s.note_change(t0);
        assert!(s.due(t0 + ms(25)));
        s.note_change(t0 + ms(30));
        assert!(!s.due(t0 + ms(49)));
        assert!(s.due(t0 + ms(50)));
    }

    #[test]
    fn a_steady_stream_still_runs_every_hold_down() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = SpfScheduler::new(ms(20));
        let mut runs = 0;
        for step in 0..100u64 {
            let now = t0 + ms(step);
            s.note_change(now);
            if s.due(now) {
                runs += 1;
            }
        }
        // Windows close at 20, 41, 62, 83 (each opened by the change that
        // follows a run).
        assert_eq!(runs, 4);
    }
}
