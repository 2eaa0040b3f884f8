//! Output queues that a burst must not leave big: a protocol hands out a
//! full table's worth of outputs at once (UPDATEs to send, a lost peer's
//! million route changes), and a `VecDeque` keeps the room of its largest
//! burst for as long as it lives (megabytes per peer, hundreds of megabytes
//! after a full-table withdrawal).

use std::collections::VecDeque;

/// Room a drained queue keeps (in entries); a burst's beyond it goes.
pub const KEPT: usize = 1024;

/// The front of `queue`; once it is empty, the room past [`KEPT`] entries
/// is given back.
pub fn pop_front<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if front.is_none() && queue.capacity() > KEPT {
        *queue = VecDeque::new();
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_burst_gives_its_room_back_and_a_small_queue_keeps_its() {
        let mut queue: VecDeque<u64> = (0..100_000).collect();
        assert!(queue.capacity() >= 100_000);
        for i in 0..100_000 {
            assert_eq!(pop_front(&mut queue), Some(i));
            assert!(queue.capacity() >= 100_000, "kept while not empty");
        }
        assert_eq!(pop_front(&mut queue), None);
        assert_eq!(queue.capacity(), 0);

        let mut small: VecDeque<u64> = VecDeque::with_capacity(KEPT);
        small.push_back(1);
        let room = small.capacity();
        assert_eq!(pop_front(&mut small), Some(1));
        assert_eq!(pop_front(&mut small), None);
        assert_eq!(small.capacity(), room);
    }
}
