//! Replacing one source's whole set of routes: config and SPF results as
//! route lists, full BGP tables as [`RouteTable`]s (each path list once).
//!
//! A first full-table load is one pass: the path sets are interned once per
//! distinct path list (not once per route), no route is allocated, and when
//! the source had no routes before, nothing is sorted (a repeated prefix
//! keeps its lowest metric as it comes).

use ipnet::IpNet;

use super::notify::SourceFilter;
use super::paths::canonical;
use super::route::{RibRoute, RouteSource, RouteTable, TableRoute, Via};
use super::{Candidate, PathSetId, PrefixState, Rib};
use crate::control::hash::FastMap as HashMap;

/// From this many routes covering at least half of the table, a
/// replacement marks the whole table changed rather than each prefix.
const BULK: usize = 65_536;

impl Rib {
    /// Makes `routes` the whole set of `source`'s routes: prefixes it no
    /// longer has lose that source's route; unchanged routes cost nothing.
    /// Routes for other sources than `source` are ignored; of two routes
    /// for one prefix, the lower metric (then the first) is kept.
    pub fn replace_source(&mut self, source: RouteSource, routes: Vec<RibRoute>) {
        let mut table = RouteTable::new(source);
        let mut index: HashMap<Vec<Via>, u32> = HashMap::default();
        table.routes.reserve(routes.len());
        for r in routes.into_iter().filter(|r| r.source == source) {
            let next = table.path_lists.len() as u32;
            let paths = *index.entry(r.paths).or_insert_with_key(|paths| {
                table.path_lists.push(paths.clone());
                next
            });
            table.routes.push(TableRoute {
                prefix: r.prefix,
                metric: r.metric,
                paths,
            });
        }
        self.replace_table(table);
    }

    /// [`Rib::replace_source`] for a table in bulk form (routes whose path
    /// list is empty or missing are ignored).
    pub fn replace_table(&mut self, table: RouteTable) {
        let RouteTable {
            source,
            path_lists,
            mut routes,
        } = table;
        routes.retain(|r| {
            path_lists
                .get(r.paths as usize)
                .is_some_and(|p| !p.is_empty())
        });
        for r in &mut routes {
            r.prefix = r.prefix.trunc();
        }
        // A bulk replacement is reported to subscribers as one "source
        // replaced", not a journal entry per prefix.
        let bulk = routes.len() >= BULK;
        if bulk {
            self.journals.replaced(SourceFilter::only(&[source]));
            self.journals.set_bulk(source, true);
        }
        let replacing = self.source_routes[source.index()] > 0;
        if replacing {
            // Sorted by prefix, the lowest metric first: dedup keeps it.
            routes.sort_unstable_by_key(|r| (r.prefix, r.metric));
            routes.dedup_by_key(|r| r.prefix);
            let gone: Vec<IpNet> = self
                .prefixes
                .iter()
                .filter(|(p, s)| {
                    s.get(source, &self.several).is_some()
                        && routes.binary_search_by_key(p, |r| r.prefix).is_err()
                })
                .map(|(p, _)| p)
                .collect();
            for p in gone {
                self.set_candidate(p, source, None);
            }
        }
        // One reference per path list while the routes take theirs.
        let ids: Vec<Option<PathSetId>> = path_lists
            .iter()
            .map(|p| (!p.is_empty()).then(|| self.acquire(canonical(p))))
            .collect();
        if bulk && 2 * routes.len() >= self.prefixes.len() {
            self.all_dirty = true;
            self.dirty_prefixes = Default::default();
        }
        // Every new prefix in at once (one merge of the prefix map, not one
        // overlay insert each); each gets its candidate below.
        self.prefixes.insert_absent(
            routes
                .iter()
                .filter(|r| ids.get(r.paths as usize).copied().flatten().is_some())
                .map(|r| r.prefix),
            PrefixState::default,
        );
        for r in routes {
            let Some(id) = ids.get(r.paths as usize).copied().flatten() else {
                continue;
            };
            if let Some(set) = self.paths.get_mut(id) {
                set.refs += 1;
            }
            let new = Candidate {
                source,
                metric: r.metric,
                paths: id,
            };
            self.set_acquired(r.prefix, source, Some(new), !replacing);
        }
        for id in ids.into_iter().flatten() {
            self.release(id);
        }
        self.journals.set_bulk(source, false);
        self.settle();
    }
}
