//! What the RIB hands the FIB publisher: the prefixes and next-hop groups
//! changed since the last publication, or the whole table when a rebuild
//! is cheaper (a mass change) or asked for.

use super::{FibChanges, HashSet, Rib};

/// Changes from which [`Rib::take_changes`] may hand a rebuild instead.
const MASS_CHANGE_MIN: usize = 4096;

/// Room the set of changed prefixes keeps between publications (churn
/// refills it at once); past this a mass change's room is freed.
pub(super) const DIRTY_CAPACITY_KEPT: usize = 1 << 16;

impl Rib {
    /// Whether changes wait for [`Rib::take_changes`].
    pub fn has_changes(&self) -> bool {
        self.all_dirty || !self.dirty_prefixes.is_empty() || !self.dirty_groups.is_empty()
    }

    /// The FIB changes since the last call: prefixes to (re)point or remove,
    /// groups to rewrite or free.
    pub fn take_changes(&mut self) -> FibChanges {
        // A mass change (a full-table session lost: a million withdrawals)
        // costs far more prefix by prefix (1-3 µs each in the trie, more
        // for a covering prefix, and twice: both copies of the FIB) than a
        // bulk build of what is left (~40 ns a prefix): past a sixteenth
        // of the table, rebuild. Before, losing a full-table peer kept the
        // control thread busy (operator requests unanswered) for over two
        // minutes in scripts/bench-bgp at load 10, mostly in trie removals.
        let mass = self.dirty_prefixes.len() >= MASS_CHANGE_MIN
            && self.dirty_prefixes.len() >= self.prefixes.len() / 16;
        if self.all_dirty || mass {
            let dirty = self.dirty_prefixes.len();
            self.clear_changes();
            let table = self.snapshot();
            return FibChanges {
                full: true,
                changed: dirty.max(table.changed),
                ..table
            };
        }
        let prefixes: Vec<_> = self
            .dirty_prefixes
            .drain()
            .map(|p| {
                (
                    p,
                    self.prefixes
                        .get(&p)
                        .and_then(|s| s.installed(&self.several)),
                )
            })
            .collect();
        self.release_dirty_capacity();
        let groups = self
            .dirty_groups
            .drain()
            .map(|id| {
                let members = self
                    .paths
                    .get(id)
                    .map(|p| p.members.clone())
                    .filter(|m| !m.is_empty());
                (id, members)
            })
            .collect();
        FibChanges::changes(prefixes, groups)
    }

    /// Every installed prefix with its group, and every resolvable group:
    /// what a FIB built from scratch holds.
    pub fn snapshot(&self) -> FibChanges {
        let prefixes: Vec<_> = self
            .prefixes
            .iter()
            .filter_map(|(p, s)| s.installed(&self.several).map(|id| (p, Some(id))))
            .collect();
        let groups = self
            .paths
            .iter()
            .filter(|(_, p)| p.resolvable())
            .map(|(id, p)| (id, Some(p.members.clone())))
            .collect();
        FibChanges::changes(prefixes, groups)
    }

    /// Forgets pending changes (after a from-scratch build from
    /// [`Rib::snapshot`]).
    pub fn clear_changes(&mut self) {
        self.all_dirty = false;
        self.dirty_prefixes.clear();
        self.dirty_groups.clear();
        self.release_dirty_capacity();
    }

    /// Frees the dirty set's room once a mass change grew it: a lost
    /// full-table peer's million withdrawals leave 2^21 slots (40 MB,
    /// all touched) that `clear` would keep for good (scripts/bench-bgp:
    /// a relearning daemon held 33 MB more than a fresh one for this).
    fn release_dirty_capacity(&mut self) {
        if self.dirty_prefixes.capacity() > DIRTY_CAPACITY_KEPT {
            self.dirty_prefixes = HashSet::default();
        }
    }
}
