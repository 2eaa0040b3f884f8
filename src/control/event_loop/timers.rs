//! The event loop's one timer heap: every deadline of the control thread
//! (the engine's next protocol deadline or publication, the coalesced
//! rebuild after neighbour changes, managed-entry refresh, glean polling,
//! idle operator connections) as (instant, key).
//!
//! A key holds at most one deadline: setting it again replaces the old one,
//! which stays in the heap until it surfaces and is skipped (cheaper than
//! removing from the middle of a binary heap).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKey {
    /// The engine's next deadline (a protocol's timer or publication).
    Engine,
    /// The neighbour changes' coalescing window closes: rebuild.
    NeighborRebuild,
    /// Read the neighbour socket again (a burst longer than one wake's
    /// share).
    NeighborRead,
    /// Re-create managed entries that went missing.
    ManagedRefresh,
    /// Look at the glean queue.
    Glean,
    /// Try the neighbour subscription again after it failed.
    Resubscribe,
    /// An operator connection has been open too long.
    Operator(usize),
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    armed: BTreeMap<TimerKey, Instant>,
}

impl Timers {
    /// Sets `key`'s deadline (replacing any earlier one).
    pub fn set(&mut self, key: TimerKey, at: Instant) {
        if self.armed.insert(key, at) != Some(at) {
            self.heap.push(Reverse((at, key)));
        }
    }

    /// Sets `key` to `at`, or cancels it on `None`.
    pub fn set_or_cancel(&mut self, key: TimerKey, at: Option<Instant>) {
        match at {
            Some(at) => self.set(key, at),
            None => self.cancel(key),
        }
    }

    /// Sets `key` unless it already has a deadline.
    pub fn set_if_unset(&mut self, key: TimerKey, at: Instant) {
        if !self.armed.contains_key(&key) {
            self.set(key, at);
        }
    }

    pub fn cancel(&mut self, key: TimerKey) {
        self.armed.remove(&key);
    }

    /// The earliest live deadline.
    pub fn next(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if self.armed.get(&key) == Some(&at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerKey> {
        let at = self.next()?;
        if at > now {
            return None;
        }
        let Reverse((_, key)) = self.heap.pop()?;
        self.armed.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_out_in_order_and_a_reset_replaces_the_old_one() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Timers::default();
        t.set(TimerKey::Glean, t0 + ms(100));
        t.set(TimerKey::Engine, t0 + ms(50));
        t.set(TimerKey::Operator(3), t0 + ms(70));
        t.set(TimerKey::Engine, t0 + ms(80));
        t.set_if_unset(TimerKey::Glean, t0 + ms(10));
        assert_eq!(t.next(), Some(t0 + ms(70)));
        assert_eq!(t.pop_expired(t0 + ms(60)), None);
        assert_eq!(t.pop_expired(t0 + ms(90)), Some(TimerKey::Operator(3)));
        assert_eq!(t.pop_expired(t0 + ms(90)), Some(TimerKey::Engine));
        assert_eq!(t.pop_expired(t0 + ms(90)), None);
        t.cancel(TimerKey::Glean);
        assert_eq!(t.next(), None, "the cancelled deadline is skipped");
        t.set_or_cancel(TimerKey::Engine, Some(t0));
        assert_eq!(t.pop_expired(t0), Some(TimerKey::Engine));
    }
}
