//! Resolving next hops the workers found unresolved. Workers push (port,
//! address) into a bounded lock-free queue; the control thread asks the
//! kernel to resolve each new one (a managed neighbour entry), and the
//! neighbour notification that follows turns it into an adjacency.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::fib::PortId;

/// The queue workers write to.
pub type GleanQueue = Arc<ArrayQueue<(PortId, IpAddr)>>;

/// Requests the queue holds before workers' pushes fail (they retry with
/// the next packet to the same destination).
const QUEUE_CAPACITY: usize = 1024;
/// An address asked for is not asked for again within this time.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Most addresses resolved this way, so a scan of a large on-link subnet
/// cannot make the kernel's neighbour table grow without bound.
pub const MAX_RESOLVED: usize = 1024;

#[derive(Debug)]
pub struct GleanResolver {
    queue: GleanQueue,
    asked: HashMap<IpAddr, Instant>,
    /// Requests refused because [`MAX_RESOLVED`] was reached.
    pub refused: u64,
}

impl Default for GleanResolver {
    fn default() -> Self {
        GleanResolver {
            queue: Arc::new(ArrayQueue::new(QUEUE_CAPACITY)),
            asked: HashMap::new(),
            refused: 0,
        }
    }
}

impl GleanResolver {
    pub fn queue(&self) -> GleanQueue {
        Arc::clone(&self.queue)
    }

    /// Drains the queue and returns the addresses to ask the kernel about
    /// now: not known already (`known`), not asked within [`RETRY_AFTER`],
    /// and within [`MAX_RESOLVED`] (`owned` = how many are held now).
    pub fn take(
        &mut self,
        now: Instant,
        owned: usize,
        known: impl Fn(PortId, IpAddr) -> bool,
    ) -> Vec<(PortId, IpAddr)> {
        self.asked
            .retain(|_, at| now.duration_since(*at) < RETRY_AFTER);
        let mut out = Vec::new();
        while let Some((port, addr)) = self.queue.pop() {
            if known(port, addr) || self.asked.contains_key(&addr) {
                continue;
            }
            if owned + out.len() >= MAX_RESOLVED {
                self.refused += 1;
                continue;
            }
            self.asked.insert(addr, now);
            out.push((port, addr));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupes_skips_known_and_caps() {
        let mut g = GleanResolver::default();
        let q = g.queue();
        let a: IpAddr = "192.0.2.5".parse().unwrap();
        let b: IpAddr = "192.0.2.6".parse().unwrap();
        let known: IpAddr = "192.0.2.7".parse().unwrap();
        for addr in [a, a, b, known] {
            q.push((0, addr)).unwrap();
        }
        let t0 = Instant::now();
        let got = g.take(t0, 0, |_, x| x == known);
        assert_eq!(got, vec![(0, a), (0, b)]);
        q.push((0, a)).unwrap();
        assert!(g
            .take(t0 + Duration::from_millis(10), 0, |_, _| false)
            .is_empty());
        q.push((0, a)).unwrap();
        assert_eq!(g.take(t0 + RETRY_AFTER, 0, |_, _| false), vec![(0, a)]);
        q.push((0, b)).unwrap();
        let later = t0 + RETRY_AFTER * 3;
        assert!(g.take(later, MAX_RESOLVED, |_, _| false).is_empty());
        assert_eq!(g.refused, 1);
    }
}
