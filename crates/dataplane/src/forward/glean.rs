//! Destinations the pipeline could not resolve to a MAC address ("glean"
//! adjacencies, as VPP calls them), kept for the control thread, which asks
//! the kernel to resolve them. A fixed ring: recording never allocates, and
//! under a flood the oldest requests are overwritten (the same destination
//! keeps coming back while it stays unresolved).

use std::net::IpAddr;

use crate::fib::PortId;

const SLOTS: usize = 64;

#[derive(Debug, Clone)]
pub struct GleanLog {
    entries: [(PortId, IpAddr); SLOTS],
    /// Entries written since the last drain (may exceed `SLOTS`).
    written: usize,
    last: Option<(PortId, IpAddr)>,
}

impl Default for GleanLog {
    fn default() -> Self {
        GleanLog {
            entries: [(0, IpAddr::from([0u8; 4])); SLOTS],
            written: 0,
            last: None,
        }
    }
}

impl GleanLog {
    /// Notes that `address` on `port` needs resolving. Back-to-back repeats
    /// (a burst to one host) are recorded once.
    #[inline]
    pub fn record(&mut self, port: PortId, address: IpAddr) {
        if self.last == Some((port, address)) {
            return;
        }
        self.last = Some((port, address));
        self.entries[self.written % SLOTS] = (port, address);
        self.written += 1;
    }

    /// Hands every recorded request to `sink` (most recent `SLOTS` at most)
    /// and empties the log.
    pub fn drain(&mut self, mut sink: impl FnMut(PortId, IpAddr)) {
        let n = self.written.min(SLOTS);
        let start = self.written - n;
        for i in start..self.written {
            let (port, address) = self.entries[i % SLOTS];
            sink(port, address);
        }
        self.written = 0;
        self.last = None;
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_and_collapses_repeats() {
        let mut log = GleanLog::default();
        let a: IpAddr = "192.0.2.5".parse().unwrap();
        log.record(0, a);
        log.record(0, a);
        let mut got = vec![];
        log.drain(|p, x| got.push((p, x)));
        assert_eq!(got, vec![(0, a)]);
        assert!(log.is_empty());
        for i in 0..100u8 {
            log.record(1, IpAddr::from([10, 0, 0, i]));
        }
        let mut got = vec![];
        log.drain(|p, x| got.push((p, x)));
        assert_eq!(got.len(), SLOTS);
        assert_eq!(got[0].1, IpAddr::from([10, 0, 0, 100 - SLOTS as u8]));
        assert_eq!(got.last().unwrap().1, IpAddr::from([10, 0, 0, 99]));
    }
}
