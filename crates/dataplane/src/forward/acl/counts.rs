//! Per-rule hit counters of every list of a table, in one flat array: the
//! ACL stage counts a packet with one bounds check and one increment at
//! the index its answer carries (list `id`'s first slot is the list's
//! counter base, then one per rule, then the default), instead of
//! indexing a list's counters and then its slot.

use super::AclTable;

/// The hit counters of one [`AclTable`]'s lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclCounts {
    counts: Vec<u64>,
    /// List `i`'s counters are `counts[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
}

/// No lists (`starts` always holds the end of the last list).
impl Default for AclCounts {
    fn default() -> Self {
        AclCounts {
            counts: Vec::new(),
            starts: vec![0],
        }
    }
}

impl AclCounts {
    /// Zeroed counters shaped for `table`: per list one per rule and one
    /// for the default, where each list's counter base says.
    pub fn for_table(table: &AclTable) -> AclCounts {
        let mut starts = vec![0];
        for acl in table.acls() {
            debug_assert_eq!(acl.counter_base(), *starts.last().unwrap_or(&0));
            starts.push(acl.counter_base() + acl.spec().rules.len() + 1);
        }
        AclCounts {
            counts: vec![0; *starts.last().unwrap_or(&0)],
            starts,
        }
    }

    /// Counts one hit at flat index `counter` (an answer's); an index out
    /// of range (a list the table lacks) counts nothing.
    #[inline(always)]
    pub fn count(&mut self, counter: usize) {
        if let Some(c) = self.counts.get_mut(counter) {
            *c += 1;
        }
    }

    /// Counts `hits` at flat index `counter` at once (a batch's frames
    /// that one answer let through), as [`count`](Self::count) would.
    #[inline(always)]
    pub fn add(&mut self, counter: usize, hits: u64) {
        if let Some(c) = self.counts.get_mut(counter) {
            *c += hits;
        }
    }

    /// How many lists.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// List `i`'s counters: per rule, then the default.
    pub fn list(&self, i: usize) -> &[u64] {
        &self.counts[self.starts[i]..self.starts[i + 1]]
    }

    pub fn list_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.counts[self.starts[i]..self.starts[i + 1]]
    }

    /// Every list's counters, in order.
    pub fn lists(&self) -> impl Iterator<Item = &[u64]> {
        self.starts.windows(2).map(|w| &self.counts[w[0]..w[1]])
    }

    /// The same as one vector per list.
    pub fn to_vecs(&self) -> Vec<Vec<u64>> {
        self.lists().map(<[u64]>::to_vec).collect()
    }
}

/// Tests compare with the per-list shape they write out.
impl PartialEq<Vec<Vec<u64>>> for AclCounts {
    fn eq(&self, other: &Vec<Vec<u64>>) -> bool {
        self.len() == other.len() && self.lists().zip(other).all(|(a, b)| a == &b[..])
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AclAction, AclRule, AclSpec};
    use super::*;

    #[test]
    fn each_list_counts_in_its_own_range() {
        let spec = |name: &str, rules: usize| AclSpec {
            name: name.into(),
            default: AclAction::Permit,
            rules: vec![AclRule::any(AclAction::Deny); rules],
        };
        let table = AclTable::compile([spec("a", 2), spec("b", 0), spec("c", 1)]);
        let mut counts = AclCounts::for_table(&table);
        assert_eq!(counts, vec![vec![0; 3], vec![0], vec![0; 2]]);
        // The default of "a", the default of "b", rule 0 of "c".
        for (id, slot) in [(0, 2), (1, 0), (2, 0), (2, 0)] {
            let acl = table.get(id).unwrap();
            counts.count(acl.answer(slot).0);
        }
        counts.count(usize::MAX);
        assert!(AclCounts::default().is_empty());
        assert_eq!(
            AclCounts::default(),
            AclCounts::for_table(&AclTable::default())
        );
        assert_eq!(counts, vec![vec![0, 0, 1], vec![1], vec![2, 0]]);
        assert_eq!(counts.list(2), &[2, 0]);
        assert_eq!(counts.to_vecs()[0], vec![0, 0, 1]);
    }
}
