//! Whole tables in and out of a [`BgpRib`] in one pass: a first load (a
//! pfx2as table, an MRT dump) goes in without a decision per route — the
//! decision runs once, over every prefix, when [`BgpRib::rerun_all`] is
//! called against the RIB the routes go to — and the selection goes out to
//! the RIB as [`RouteTable`]s, each distinct next-hop list once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::adj_rib_in::{fingerprint, paths, BgpError, BgpRib, Candidate, Mark};
use super::attrs::PathAttrs;
use super::peer::{PeerId, PeerKind};
use crate::control::rib::route::{RouteSource, RouteTable, TableRoute};

impl BgpRib {
    /// Adds routes without deciding: the prefixes they touch keep their
    /// last decision until the next [`BgpRib::rerun_all`], which must
    /// follow. A peer's later route for a prefix replaces its earlier one,
    /// as with [`BgpRib::apply`]. Fails on a route from an unknown peer
    /// (routes before it are in).
    pub fn insert_bulk(
        &mut self,
        routes: impl IntoIterator<Item = (PeerId, IpNet, Arc<PathAttrs>)>,
    ) -> Result<u64, BgpError> {
        let routes: Vec<_> = routes.into_iter().collect();
        // Every prefix in at once (one merge of the prefix map, not one
        // overlay insert each), as far as the routes from known peers go:
        // routes past an unknown peer's are not taken.
        let known = routes
            .iter()
            .position(|(peer, _, _)| self.peers.get(peer.0 as usize).is_none())
            .unwrap_or(routes.len());
        self.routes.insert_absent(
            routes[..known].iter().map(|(_, prefix, _)| prefix.trunc()),
            Default::default,
        );
        let mut count = 0;
        for (peer, prefix, attrs) in routes {
            let Some(state) = self.peers.get_mut(peer.0 as usize) else {
                return Err(BgpError::UnknownPeer(peer.0));
            };
            let prefix = prefix.trunc();
            let hop = attrs.next_hop;
            let cands = self.routes.get_or_insert_with(prefix, Default::default);
            let listed = cands.iter().any(|c| c.attrs.next_hop == hop);
            self.next_hops.add(hop, prefix, listed, || None);
            match cands.iter().position(|c| c.peer == peer) {
                Some(i) => {
                    self.next_hops.remove(cands[i].attrs.next_hop);
                    cands[i].attrs = attrs;
                }
                None => {
                    cands.push(Candidate {
                        peer,
                        attrs,
                        mark: Mark::NotSelected,
                    });
                    state.received += 1;
                    self.paths += 1;
                }
            }
            count += 1;
        }
        Ok(count)
    }

    /// BGP's selection as the RIB's eBGP and iBGP tables (in that order):
    /// what [`crate::control::rib::Rib::replace_table`] installs.
    pub fn selected_tables(&self) -> [RouteTable; 2] {
        let mut tables = [
            RouteTable::new(RouteSource::EBGP),
            RouteTable::new(RouteSource::IBGP),
        ];
        // Next-hop list -> path list index, per table; consecutive prefixes
        // mostly share one, so the last one is checked first.
        let mut index: [HashMap<Vec<IpAddr>, u32>; 2] = Default::default();
        let mut last: [Option<(Vec<IpAddr>, u32)>; 2] = Default::default();
        let mut hops = Vec::new();
        for (prefix, cands) in self.routes.iter() {
            let Some((kind, metric)) = fingerprint(cands, &self.peers, &mut hops) else {
                continue;
            };
            let t = match kind {
                PeerKind::Ebgp => 0,
                PeerKind::Ibgp => 1,
            };
            let table = &mut tables[t];
            let paths = match &last[t] {
                Some((h, i)) if *h == hops => *i,
                _ => {
                    let next = table.path_lists.len() as u32;
                    let i = *index[t].entry(hops.clone()).or_insert_with(|| {
                        table.path_lists.push(paths(&hops));
                        next
                    });
                    last[t] = Some((hops.clone(), i));
                    i
                }
            };
            if table.routes.capacity() == 0 {
                table.routes.reserve(self.routes.len());
            }
            table.routes.push(TableRoute {
                prefix,
                metric,
                paths,
            });
        }
        tables
    }
}
