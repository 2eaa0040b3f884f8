//! Turning RIB changes into published FIBs: applied incrementally to a copy
//! of the last published FIB (sharing every part that did not change) and
//! published with one pointer swap, at most once per coalescing window.
//!
//! The publisher is pure apart from the [`FibHandle`]: the caller passes the
//! clock, so tests drive the window exactly.
//!
//! Copying a full table's trie for every publication would cost ~70 ms per
//! million prefixes. Instead the publisher keeps two FIBs, as a left-right
//! scheme does: the one published last, and the one before it (the spare)
//! with the changes it missed. The next publication brings the spare up to
//! date and applies the new changes to it, in place once no reader holds it
//! any more (readers hold a table for one batch); a part a reader still
//! holds, or one the two FIBs share, is copied first (copy-on-write), so
//! correctness never depends on readers being quick.

use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use super::Rib;
use crate::fib::{Fib, FibHandle, NextHop};
use crate::lpm::{Ipv4Table, Ipv6Table, NextHopId};

/// What changed in the FIB since the last publication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibChanges {
    /// A prefix now pointing at a group, or removed (`None`).
    pub prefixes: Vec<(IpNet, Option<NextHopId>)>,
    /// A group's new members, or the group freed (`None`).
    pub groups: Vec<(NextHopId, Option<Vec<NextHop>>)>,
    /// These are the whole table, not changes: whatever a FIB holds
    /// besides them goes.
    pub full: bool,
}

impl FibChanges {
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.groups.is_empty()
    }

    /// Applies the changes to `fib` (copying a shared part on its first
    /// write). Returns the prefixes the tries refused (more distinct group
    /// ids than a trie holds), which stay unrouted.
    pub fn apply(&self, fib: &mut Fib) -> usize {
        if self.full {
            let version = fib.version;
            *fib = self.build();
            fib.version = version;
            return 0;
        }
        self.apply_incremental(fib)
    }

    fn apply_incremental(&self, fib: &mut Fib) -> usize {
        let mut refused = 0;
        for (id, members) in &self.groups {
            match members {
                Some(m) => fib.groups_mut().set(*id, m),
                None => fib.groups_mut().remove(*id),
            }
        }
        for (prefix, id) in &self.prefixes {
            let ok = match (prefix, id) {
                (IpNet::V4(p), Some(id)) => fib.v4.try_insert(*p, *id).is_ok(),
                (IpNet::V6(p), Some(id)) => fib.v6.try_insert(*p, *id).is_ok(),
                (IpNet::V4(p), None) => {
                    fib.v4.remove(*p);
                    true
                }
                (IpNet::V6(p), None) => {
                    fib.v6.remove(*p);
                    true
                }
            };
            refused += usize::from(!ok);
        }
        refused
    }

    /// A FIB holding exactly these changes applied to an empty one, with
    /// the tries built in bulk (faster than one insert per prefix).
    pub fn build(&self) -> Fib {
        let mut fib = Fib::default();
        for (id, members) in &self.groups {
            if let Some(m) = members {
                fib.groups_mut().set(*id, m);
            }
        }
        let v4 = self.prefixes.iter().filter_map(|(p, id)| match (p, id) {
            (IpNet::V4(p), Some(id)) => Some((*p, *id)),
            _ => None,
        });
        let v6 = self.prefixes.iter().filter_map(|(p, id)| match (p, id) {
            (IpNet::V6(p), Some(id)) => Some((*p, *id)),
            _ => None,
        });
        match (
            Ipv4Table::try_from_routes(v4),
            Ipv6Table::try_from_routes(v6),
        ) {
            (Ok(v4), Ok(v6)) => {
                *fib.v4 = v4;
                *fib.v6 = v6;
                fib
            }
            // Too many distinct ids for a bulk build: insert one by one and
            // leave out what does not fit.
            _ => {
                let mut fib = Fib::default();
                self.apply_incremental(&mut fib);
                fib
            }
        }
    }
}

/// What operators see of publications (`show fib-stats`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishStats {
    pub version: u64,
    pub publications: u64,
    pub ipv4_prefixes: usize,
    pub ipv6_prefixes: usize,
    pub groups: usize,
    pub memory_bytes: usize,
    /// Time to apply the last publication's changes (or build it), the
    /// publication included.
    pub last_build_us: u64,
    /// Of that, the publication itself: the pointer swap and the
    /// accounting that follows it.
    pub last_publish_us: u64,
    pub last_prefix_changes: usize,
    pub last_group_changes: usize,
    /// Prefixes left out because a trie ran out of group ids.
    pub refused: u64,
}

/// Publishes the RIB's changes through a [`FibHandle`], one publication per
/// coalescing window: the first change after a publication opens the
/// window, [`FibPublisher::poll`] publishes once it has passed.
#[derive(Debug)]
pub struct FibPublisher {
    handle: FibHandle,
    /// The last published FIB (sharing its parts with the handle's copy).
    current: Fib,
    /// The FIB published before `current`, and the changes that made
    /// `current` from it.
    spare: Option<(Fib, FibChanges)>,
    window: Duration,
    dirty_since: Option<Instant>,
    stats: PublishStats,
    /// Times the builds for [`PublishStats`] (their timings stay zero
    /// without one): the routing side reads no clock of its own.
    clock: Option<fn() -> Instant>,
}

impl FibPublisher {
    pub fn new(handle: FibHandle, window: Duration) -> Self {
        let current = (*handle.load()).clone();
        FibPublisher {
            handle,
            current,
            spare: None,
            window,
            dirty_since: None,
            stats: PublishStats::default(),
            clock: None,
        }
    }

    /// Times builds and publications with `clock`.
    pub fn with_clock(mut self, clock: fn() -> Instant) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The clock's time, if it has one.
    fn now(&self) -> Option<Instant> {
        self.clock.map(|clock| clock())
    }

    pub fn handle(&self) -> &FibHandle {
        &self.handle
    }

    /// The last FIB published through this publisher.
    pub fn current(&self) -> &Fib {
        &self.current
    }

    pub fn stats(&self) -> &PublishStats {
        &self.stats
    }

    /// When the open window closes, if one is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.dirty_since.map(|t| t + self.window)
    }

    /// Notes pending RIB changes (opening a window) and publishes when the
    /// window has passed. Returns the version published, if any.
    pub fn poll(&mut self, rib: &mut Rib, now: Instant) -> Option<u64> {
        self.note(rib, now);
        match self.dirty_since {
            Some(since) if now.saturating_duration_since(since) >= self.window => {
                Some(self.publish_now(rib))
            }
            _ => None,
        }
    }

    /// Opens the window if the RIB has pending changes and none is open
    /// (so [`FibPublisher::deadline`] says when to publish them).
    pub fn note(&mut self, rib: &Rib, now: Instant) {
        if rib.has_changes() && self.dirty_since.is_none() {
            self.dirty_since = Some(now);
        }
    }

    /// Publishes the RIB's pending changes at once (start-up, reload),
    /// closing any open window.
    pub fn publish_now(&mut self, rib: &mut Rib) -> u64 {
        let started = self.now();
        let changes = rib.take_changes();
        // Retired tables nobody reads any more are freed now, so that the
        // spare's parts are (usually) ours alone.
        self.handle.collect();
        let mut fib = match self.spare.take() {
            Some((mut spare, missed)) => {
                missed.apply(&mut spare);
                spare
            }
            None => self.current.clone(),
        };
        let refused = changes.apply(&mut fib);
        self.finish(fib, changes, refused, started)
    }

    /// Publishes a FIB built from scratch from the whole RIB (the first
    /// publication of a full table: a bulk trie build beats a million
    /// inserts).
    pub fn publish_full(&mut self, rib: &mut Rib) -> u64 {
        let started = self.now();
        rib.clear_changes();
        let all = rib.snapshot();
        let fib = all.build();
        let version = self.finish(fib, all, 0, started);
        // The spare would need every prefix: start again from a copy.
        self.spare = None;
        version
    }

    fn finish(
        &mut self,
        fib: Fib,
        changes: FibChanges,
        refused: usize,
        started: Option<Instant>,
    ) -> u64 {
        let publishing = self.now();
        let version = self.handle.publish(fib.clone());
        let previous = std::mem::replace(&mut self.current, fib);
        self.current.version = version;
        self.dirty_since = None;
        let end = self.now();
        let s = &mut self.stats;
        s.version = version;
        s.publications += 1;
        s.ipv4_prefixes = self.current.v4.len();
        s.ipv6_prefixes = self.current.v6.len();
        s.groups = self.current.groups().len();
        s.memory_bytes = self.current.memory_bytes();
        s.last_build_us = micros(started, end);
        s.last_publish_us = micros(publishing, end);
        s.last_prefix_changes = changes.prefixes.len();
        s.last_group_changes = changes.groups.len();
        s.refused += refused as u64;
        self.spare = Some((previous, changes));
        version
    }
}

/// Microseconds from `from` to `to`; 0 without a clock.
fn micros(from: Option<Instant>, to: Option<Instant>) -> u64 {
    from.zip(to).map_or(0, |(a, b)| (b - a).as_micros() as u64)
}
