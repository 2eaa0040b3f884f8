//! Re-deciding after the RIB's non-BGP routes changed: only the prefixes
//! with a route through a next hop whose resolution (reachable, IGP cost)
//! changed, with the cached resolutions of `nexthops.rs`. It joins the
//! Adj-RIB-In (`adj_rib_in.rs`) and the next-hop cache, so neither of those
//! needs the other's insides.

use ipnet::IpNet;

use super::adj_rib_in::{routes_through, BgpRib, Candidates, Decide, RouteChange};
use super::nexthops::Cached;
use crate::control::rib::route::NextHopResolver;

impl BgpRib {
    /// Distinct next hops over all routes.
    pub fn next_hop_count(&self) -> usize {
        self.next_hops.len()
    }

    /// After the RIB's non-BGP routes changed: re-decides the prefixes with
    /// a route through a next hop whose resolution (reachable, IGP cost)
    /// changed, passing each change to `sink`; returns how many prefixes
    /// were decided again. The outcome is [`BgpRib::rerun_all`]'s.
    pub fn rerun(
        &mut self,
        resolver: &dyn NextHopResolver,
        mut sink: impl FnMut(RouteChange),
    ) -> usize {
        let changed = self.next_hops.refresh(resolver);
        if changed.is_empty() {
            return 0;
        }
        let through: usize = changed.iter().map(|&h| self.next_hops.routes(h)).sum();
        let touched = |cands: &Candidates| {
            cands
                .iter()
                .any(|c| changed.binary_search(&c.attrs.next_hop).is_ok())
        };
        if through > self.routes.len() / 8 {
            // Much of the table: one pass over it beats a probe per prefix.
            return self.redecide(None, touched, &mut sink);
        }
        let mut prefixes = Vec::new();
        for &hop in &changed {
            let through = routes_through(&self.routes, hop);
            match self.next_hops.clean(hop, through) {
                Some(list) => prefixes.extend_from_slice(list),
                // A next hop with no list: find its prefixes in one pass.
                None => return self.redecide(None, touched, &mut sink),
            }
        }
        prefixes.sort_unstable();
        prefixes.dedup();
        self.redecide(Some(prefixes), |_| true, &mut sink)
    }

    /// Decides again, with the cached next-hop resolutions, the prefixes of
    /// `only` (all prefixes if `None`) whose routes `pick` accepts;
    /// returns how many.
    pub(super) fn redecide(
        &mut self,
        only: Option<Vec<IpNet>>,
        pick: impl Fn(&Candidates) -> bool,
        sink: &mut impl FnMut(RouteChange),
    ) -> usize {
        let Self {
            peers,
            routes,
            decision,
            next_hops,
            old_hops,
            new_hops,
            ..
        } = self;
        let cached = Cached(next_hops);
        let mut d = Decide {
            peers,
            decision,
            resolver: &cached,
            old_hops,
            new_hops,
        };
        let mut decided = 0;
        let mut one = |prefix: IpNet, cands: &mut Candidates| {
            if pick(cands) {
                d.report(prefix, cands, sink);
                decided += 1;
            }
        };
        match only {
            None => routes.iter_mut().for_each(|(p, c)| one(p, c)),
            Some(list) => {
                for p in list {
                    if let Some(c) = routes.get_mut(&p) {
                        one(p, c);
                    }
                }
            }
        }
        decided
    }
}
