//! Turning RIB changes into published FIBs, at most once per coalescing
//! window, with one pointer swap each.
//!
//! The publisher keeps the full tries (`Ipv4Table`, `Ipv6Table`: the
//! compiled lookup structure and the record of routes it is updated from)
//! and applies each publication's changes to them in place. What it
//! publishes is a *lookup-only copy* of a changed family's trie (the
//! compiled arrays, without the record) beside the unchanged parts of the
//! last FIB, shared. The record is the larger part of a full table (about
//! 13 MB of a 1.25 M-prefix one in packed arrays, 33 MB as the B-tree it
//! was, against 5 MB of compiled arrays), so one
//! record and the copies the readers hold cost less than the two whole
//! tables a left-right scheme keeps; copying the compiled arrays of a full
//! table takes about a millisecond, once per publication, never per
//! change. Readers never see a table change: a published copy is never
//! written.

use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Serialize;

use super::Rib;
use crate::fib::{CowArc, Fib, FibHandle, NextHop, NextHopTable};
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
    /// Prefixes whose route changed. For changes, `prefixes.len()`; for a
    /// whole table, the changes it stands for: a lost full-table peer is
    /// published as the few routes left, yet it changed a million.
    pub changed: usize,
}

impl FibChanges {
    /// Changes of `prefixes` and `groups` (not a whole table), each prefix
    /// one changed route.
    pub fn changes(
        prefixes: Vec<(IpNet, Option<NextHopId>)>,
        groups: Vec<(NextHopId, Option<Vec<NextHop>>)>,
    ) -> FibChanges {
        FibChanges {
            changed: prefixes.len(),
            prefixes,
            groups,
            full: false,
        }
    }

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
        self.apply_groups(fib.groups_mut());
        self.apply_prefixes(&mut fib.v4, &mut fib.v6)
    }

    /// The group changes, applied to `groups`.
    pub fn apply_groups(&self, groups: &mut NextHopTable) {
        for (id, members) in &self.groups {
            match members {
                Some(m) => groups.set(*id, m),
                None => groups.remove(*id),
            }
        }
    }

    /// The prefix changes, applied to the tries; returns how many they
    /// refused.
    fn apply_prefixes(&self, v4: &mut Ipv4Table, v6: &mut Ipv6Table) -> usize {
        let mut refused = 0;
        for (prefix, id) in &self.prefixes {
            let ok = match (prefix, id) {
                (IpNet::V4(p), Some(id)) => v4.try_insert(*p, *id).is_ok(),
                (IpNet::V6(p), Some(id)) => v6.try_insert(*p, *id).is_ok(),
                (IpNet::V4(p), None) => {
                    v4.remove(*p);
                    true
                }
                (IpNet::V6(p), None) => {
                    v6.remove(*p);
                    true
                }
            };
            refused += usize::from(!ok);
        }
        refused
    }

    /// Which families' tries these changes touch: (IPv4, IPv6).
    fn families(&self) -> (bool, bool) {
        if self.full {
            return (true, true);
        }
        let v4 = self.prefixes.iter().any(|(p, _)| matches!(p, IpNet::V4(_)));
        let v6 = self.prefixes.iter().any(|(p, _)| matches!(p, IpNet::V6(_)));
        (v4, v6)
    }

    /// A FIB holding exactly these changes applied to an empty one, with
    /// the tries built in bulk (faster than one insert per prefix).
    pub fn build(&self) -> Fib {
        let mut fib = Fib::default();
        self.apply_groups(fib.groups_mut());
        let (v4, v6) = self.build_tries();
        *fib.v4 = v4;
        *fib.v6 = v6;
        fib
    }

    /// The tries of [`FibChanges::build`].
    fn build_tries(&self) -> (Ipv4Table, Ipv6Table) {
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
            (Ok(v4), Ok(v6)) => (v4, v6),
            // Too many distinct ids for a bulk build: insert one by one and
            // leave out what does not fit.
            _ => {
                let (mut v4, mut v6) = Default::default();
                self.apply_prefixes(&mut v4, &mut v6);
                (v4, v6)
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
    /// What the workers' IPv4 lookups read: `packed` (the copy made at
    /// each publication, `Ipv4Table::lookup_copy`), or `trie` when the
    /// table cannot be packed (a next-hop group id past
    /// `lpm::PACKED_MAX_ID`, or a layout that does not fit).
    pub ipv4_lookup: &'static str,
    /// Why the last publication's IPv4 copy is not packed (`None` when it
    /// is): what an operator reads when `ipv4_lookup` says `trie`.
    pub ipv4_unpacked_because: Option<String>,
    /// Publications whose IPv4 copy could not be packed, whose workers'
    /// lookups therefore ran at the trie's speed (README, "Twenty-fourth
    /// session": about two thirds of the packed copy's single lookups on
    /// uniform traffic); a counter for monitoring to alarm on.
    pub ipv4_unpacked_publications: u64,
}

/// Publishes the RIB's changes through a [`FibHandle`], one publication per
/// coalescing window: the first change after a publication opens the
/// window, [`FibPublisher::poll`] publishes once it has passed.
#[derive(Debug)]
pub struct FibPublisher {
    handle: FibHandle,
    /// The last published FIB (sharing its parts with the handle's copy):
    /// lookup-only copies of `v4` and `v6`, the group table.
    current: Fib,
    /// The whole tries, record included, that publications copy.
    v4: Ipv4Table,
    v6: Ipv6Table,
    window: Duration,
    dirty_since: Option<Instant>,
    stats: PublishStats,
    /// Times the builds for [`PublishStats`] (their timings stay zero
    /// without one): the routing side reads no clock of its own.
    clock: Option<fn() -> Instant>,
}

impl FibPublisher {
    /// Once changes have settled: folds the whole tries' recent changes
    /// into their records' arrays (`compact_record`), and frees the
    /// replaced FIBs the workers have left (a publication frees the ones
    /// before it, so the last one's predecessor, a whole lookup copy of
    /// both tries, would otherwise stay until the next change).
    pub fn compact(&mut self) {
        self.v4.compact_record();
        self.v6.compact_record();
        self.handle.collect();
    }

    pub fn new(handle: FibHandle, window: Duration) -> Self {
        let current = (*handle.load()).clone();
        // The first FIB (built at start-up) has whole tries: they become
        // the ones kept here. One a publisher published has lookup-only
        // copies, which refuse changes: one publisher per handle.
        debug_assert!(
            !current.v4.is_lookup_only() && !current.v6.is_lookup_only(),
            "a FibPublisher needs a handle holding whole tries"
        );
        let (v4, v6) = ((*current.v4).clone(), (*current.v6).clone());
        FibPublisher {
            handle,
            current,
            v4,
            v6,
            window,
            dirty_since: None,
            stats: PublishStats::default(),
            clock: None,
        }
    }

    /// A second publisher, over a handle of its own, starting from this
    /// one's FIB: its whole tries are copied (the published FIB's are
    /// lookup-only and cannot seed one). For benches and tests that replay
    /// changes from the same starting point more than once.
    pub fn fork(&self) -> FibPublisher {
        let mut whole = self.current.clone();
        whole.v4 = CowArc::new(self.v4.clone());
        whole.v6 = CowArc::new(self.v6.clone());
        let mut fork = FibPublisher::new(FibHandle::new(whole), self.window);
        fork.clock = self.clock;
        fork
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
        self.publish_changes(changes, started)
    }

    /// Publishes a FIB built from scratch from the whole RIB (the first
    /// publication of a full table: a bulk trie build beats a million
    /// inserts).
    pub fn publish_full(&mut self, rib: &mut Rib) -> u64 {
        let started = self.now();
        rib.clear_changes();
        let mut all = rib.snapshot();
        all.full = true;
        self.publish_changes(all, started)
    }

    /// The whole tries behind the published copies (for inspection: the
    /// published ones keep no record to list routes from).
    pub fn tables(&self) -> (&Ipv4Table, &Ipv6Table) {
        (&self.v4, &self.v6)
    }

    fn publish_changes(&mut self, changes: FibChanges, started: Option<Instant>) -> u64 {
        // Retired tables nobody reads any more are freed now.
        self.handle.collect();
        let mut fib = self.current.clone();
        let refused = if changes.full {
            let mut groups = NextHopTable::new();
            changes.apply_groups(&mut groups);
            fib.set_groups(groups);
            (self.v4, self.v6) = changes.build_tries();
            0
        } else {
            changes.apply_groups(fib.groups_mut());
            changes.apply_prefixes(&mut self.v4, &mut self.v6)
        };
        let (v4_changed, v6_changed) = changes.families();
        if v4_changed {
            fib.v4 = CowArc::new(self.v4.lookup_copy());
        }
        if v6_changed {
            fib.v6 = CowArc::new(self.v6.lookup_copy());
        }
        self.finish(fib, changes, refused, started)
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
        self.current = fib;
        self.current.version = version;
        self.dirty_since = None;
        let end = self.now();
        let s = &mut self.stats;
        s.version = version;
        s.publications += 1;
        s.ipv4_prefixes = self.v4.len();
        s.ipv6_prefixes = self.v6.len();
        s.groups = self.current.groups().len();
        // The published copies plus the whole tries kept here.
        s.memory_bytes =
            self.current.memory_bytes() + self.v4.memory_bytes() + self.v6.memory_bytes();
        s.last_build_us = micros(started, end);
        s.last_publish_us = micros(publishing, end);
        s.last_prefix_changes = changes.changed;
        s.last_group_changes = changes.groups.len();
        s.refused += refused as u64;
        s.ipv4_lookup = if self.current.v4.is_packed() {
            "packed"
        } else {
            "trie"
        };
        s.ipv4_unpacked_because = self.current.v4.unpacked_because().map(str::to_owned);
        s.ipv4_unpacked_publications += u64::from(!self.current.v4.is_packed());
        version
    }
}

/// Microseconds from `from` to `to`; 0 without a clock.
fn micros(from: Option<Instant>, to: Option<Instant>) -> u64 {
    from.zip(to).map_or(0, |(a, b)| (b - a).as_micros() as u64)
}
