//! Replacing the ports' stages and the ACLs on a running router
//! (`ferroute reload`), published the way the FIB is.
//!
//! The control side compiles a whole [`StageTable`] (every port's
//! [`PortFeatures`] and the [`AclTable`] their ids refer to: the two only
//! make sense together) off the fast path and publishes it with one pointer
//! swap through a [`StagesHandle`]. A worker compares the published version
//! with its own once per pass (one atomic load) and, when it moved, takes
//! the new table before its next batch: per reload it copies the features
//! and re-shapes its hit counters (allocating then, never per packet).
//!
//! Hit counters across a reload: a list whose name, default and rules did
//! not change keeps its counts; a new or changed list starts at zero (the
//! old rule numbers would not mean the same rules any more).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use super::acl::{AclCounts, AclTable};
use super::{Forwarder, PortFeatures};

/// What a reload replaces as a whole: the stages of every port (by
/// [`PortId`](crate::fib::PortId)) and the ACLs their ids refer to.
#[derive(Debug, Clone, Default)]
pub struct StageTable {
    /// Set by [`StagesHandle::publish`]; 0 for a table never published.
    pub version: u64,
    pub features: Vec<PortFeatures>,
    pub acls: Arc<AclTable>,
}

/// Shared, atomically replaceable pointer to the current [`StageTable`].
///
/// Replaced ACL tables (the large part: compiled classifiers) are kept on
/// a retired list until no worker holds them, so a worker dropping its old
/// table never frees it; a later publication (or [`StagesHandle::collect`])
/// frees them on the control side.
#[derive(Debug, Clone)]
pub struct StagesHandle {
    current: Arc<ArcSwap<StageTable>>,
    /// The current table's version, for the workers' cheap check.
    version: Arc<AtomicU64>,
    /// Only the publishing side touches this lock.
    retired: Arc<Mutex<Vec<Arc<AclTable>>>>,
}

impl StagesHandle {
    /// A handle whose first table gets version 1.
    pub fn new(mut table: StageTable) -> Self {
        table.version = 1;
        StagesHandle {
            current: Arc::new(ArcSwap::from_pointee(table)),
            version: Arc::new(AtomicU64::new(1)),
            retired: Arc::default(),
        }
    }

    /// The version of the current table (one atomic load).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current table.
    pub fn load(&self) -> Arc<StageTable> {
        self.current.load_full()
    }

    /// Publishes `table` with one pointer swap; returns its version.
    pub fn publish(&self, mut table: StageTable) -> u64 {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let version = self.current.load().version + 1;
        table.version = version;
        let old = self.current.swap(Arc::new(table));
        // Workers compare versions, then load: the table is in place first.
        self.version.store(version, Ordering::Release);
        let current = self.current.load();
        let shared = |a: &Arc<AclTable>| Arc::ptr_eq(a, &current.acls);
        if !shared(&old.acls) && !retired.iter().any(|r| Arc::ptr_eq(r, &old.acls)) {
            retired.push(old.acls.clone());
        }
        drop(old);
        Self::free_unheld(&mut retired);
        version
    }

    /// Frees the replaced ACL tables no worker holds any more; returns how
    /// many are still held.
    pub fn collect(&self) -> usize {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        Self::free_unheld(&mut retired);
        retired.len()
    }

    /// A retired table is on the list once, and no longer current: a count
    /// of one means only the list holds it.
    fn free_unheld(retired: &mut Vec<Arc<AclTable>>) {
        retired.retain(|t| Arc::strong_count(t) > 1);
    }
}

impl Forwarder {
    /// The version of the stage table the forwarder runs (0: the one it was
    /// built with).
    pub fn stages_version(&self) -> u64 {
        self.stages_version
    }

    /// Takes `table` if its version differs from the running one: the
    /// ports' stages and the ACLs, with hit counts carried over for lists
    /// that did not change. Ports the table does not cover keep theirs
    /// (a table always covers every port when it comes from the same
    /// configuration's port list). Returns whether anything was taken.
    pub fn install_stages(&mut self, table: &StageTable) -> bool {
        if table.version == self.stages_version {
            return false;
        }
        let same_table = Arc::ptr_eq(&table.acls, &self.acls);
        let old_hits = std::mem::take(&mut self.acl_hits);
        self.acl_hits = if same_table {
            old_hits
        } else {
            // The same list id and fields may mean another rule now.
            self.acl_cache.invalidate(&table.acls);
            carried_hits(&self.acls, old_hits, &table.acls)
        };
        self.acls = table.acls.clone();
        for (port, features) in self.ports.iter_mut().zip(&table.features) {
            port.features = *features;
        }
        // The kept egresses hold only ports without an outbound ACL.
        self.egress.invalidate();
        self.stages_version = table.version;
        true
    }
}

/// The hit counters for `new`: a list equal (name, default, rules) to one
/// of `old` keeps that list's counts, any other starts at zero.
fn carried_hits(old: &AclTable, old_hits: AclCounts, new: &AclTable) -> AclCounts {
    let mut hits = AclCounts::for_table(new);
    for (i, acl) in new.acls().iter().enumerate() {
        let same = old.acls().iter().position(|o| o.spec() == acl.spec());
        if let Some(j) = same.filter(|&j| j < old_hits.len()) {
            let (from, to) = (old_hits.list(j), hits.list_mut(i));
            if from.len() == to.len() {
                to.copy_from_slice(from);
            }
        }
    }
    hits
}
