//! `show ospf spf-log`: the last SPF runs, each with when it ran, how many
//! database changes it gathered and how many routes it produced, and, for
//! a small database, what it read (the router and network LSAs as SPF saw
//! them). Made to catch a transient SPF result that a poll of `show ospf`
//! sees too late; bounded in runs and in the detail kept per run, so a
//! large database costs a counter per run, not a copy.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::{json, Value};

use crate::control::linkstate::{spf::SpfResult, Lsdb};

/// Runs kept.
const RUNS: usize = 32;
/// Databases up to this many router and network LSAs are kept whole.
const DETAIL_LSAS: usize = 64;

struct Run {
    at: Instant,
    changes: u64,
    routes: usize,
    reachable: usize,
    /// The routers and networks SPF read, when the database was small.
    read: Option<Value>,
}

#[derive(Default)]
pub(crate) struct SpfLog {
    runs: VecDeque<Run>,
}

impl SpfLog {
    /// Notes a run at `at` over `lsdb`, gathering `changes`.
    pub fn record(&mut self, at: Instant, changes: u64, lsdb: &Lsdb, result: &SpfResult) {
        if self.runs.len() == RUNS {
            self.runs.pop_front();
        }
        let small = lsdb.len() + lsdb.networks().len() <= DETAIL_LSAS;
        let read = small.then(|| {
            json!({
                "routers": lsdb.iter().collect::<Vec<_>>(),
                "networks": lsdb.networks().collect::<Vec<_>>(),
            })
        });
        self.runs.push_back(Run {
            at,
            changes,
            routes: result.routes().len(),
            reachable: result.reachable().count(),
            read,
        });
    }

    /// The runs, oldest first, timed back from `now`.
    pub fn show(&self, now: Instant) -> Value {
        let mut text = String::from("SPF runs (ms ago, changes, reachable, routes):\n");
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let ago = now.saturating_duration_since(r.at).as_millis() as u64;
                text.push_str(&format!(
                    "{ago:>8} {:>4} {:>4} {:>6}\n",
                    r.changes, r.reachable, r.routes
                ));
                json!({
                    "ms_ago": ago,
                    "changes": r.changes,
                    "reachable": r.reachable,
                    "routes": r.routes,
                    "read": r.read,
                })
            })
            .collect();
        json!({ "text": text, "runs": runs })
    }
}
