//! Applying a configuration whose files are all in: the fresh table takes
//! over, the live peers' routes carried into it; unchanged sessions stay
//! up, changed and removed ones end with a Cease, new ones start.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use super::{no_rib, BgpSpeaker, LivePeer, Policy};
use crate::control::bgp::session::message::code;
use crate::control::bgp::{PathAttrs, Peer};

impl BgpSpeaker {
    /// Makes the pending configuration the running one.
    pub(super) fn commit(&mut self, now: Instant) -> Result<(), String> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let (section, config) = (pending.section, pending.config);
        // A dump's peer may not be a live peer too.
        for p in &section.peers {
            if pending.files.bgp_rib().peer_by_address(p.address).is_some() {
                return Err(format!(
                    "bgp: {} is both a peer of a file and a [[bgp.peer]]",
                    p.address
                ));
            }
        }
        // The live peers' Adj-RIBs-In move into the fresh table.
        let carried: Vec<Vec<(IpNet, Arc<PathAttrs>)>> = self
            .peers
            .iter()
            .map(|p| {
                let rib = self.files.bgp_rib();
                rib.adj_rib_in(p.rib_peer)
                    .map(|(n, a)| (n, a.clone()))
                    .collect()
            })
            .collect();
        self.files = pending.files;
        self.local_as = section.local_as;
        self.router_id = config.router_id;
        self.ports = config.ports.clone();
        self.redistribute = section.redistribute.clone();
        self.connected_routes();
        let mut old: Vec<Option<LivePeer>> = std::mem::take(&mut self.peers)
            .into_iter()
            .map(Some)
            .collect();
        let rib_view = no_rib();
        for p in &section.peers {
            let wanted = p.session(self.local_as, self.router_id);
            let kept = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| *o.session.config() == wanted))
                .and_then(|k| old[k].take().map(|live| (k, live)));
            let rib = self.files.bgp_rib_mut();
            let rib_peer = rib
                .add_peer(Peer::new(
                    p.address,
                    p.remote_as,
                    Ipv4Addr::UNSPECIFIED,
                    self.local_as,
                ))
                .map_err(|e| format!("bgp.peer: {e}"))?;
            let peer = match kept {
                Some((k, mut live)) => {
                    live.rib_peer = rib_peer;
                    if let Some(n) = live.session.negotiated().cloned() {
                        rib.set_router_id(rib_peer, n.peer.router_id);
                    }
                    // The routes stay until the peer sends them again for
                    // a changed policy (ROUTE-REFRESH: it re-sends every
                    // one, each replacing or withdrawing what is here), so
                    // a policy change does not interrupt forwarding.
                    if p.import != Policy::None {
                        let routes = carried[k].clone();
                        let _ = rib.insert_bulk(routes.into_iter().map(|(n, a)| (rib_peer, n, a)));
                    }
                    if live.config.import != p.import && p.import != Policy::None {
                        live.refresh(now);
                    }
                    live.config = p.clone();
                    live
                }
                None => LivePeer::new(
                    p.clone(),
                    rib_peer,
                    now,
                    self.local_as,
                    self.router_id,
                    &mut self.ids,
                ),
            };
            self.peers.push(peer);
        }
        // Sessions of removed or changed peers end with a Cease.
        let gone: Vec<LivePeer> = old.into_iter().flatten().collect();
        for mut g in gone {
            g.session.stop(now, code::CEASE_PEER_DECONFIGURED);
            let i = self.peers.len();
            self.peers.push(g);
            self.pump(now, i, &rib_view);
            self.peers.pop();
        }
        self.sockets.clear();
        for (i, p) in self.peers.iter().enumerate() {
            self.sockets.extend(p.session.sockets().map(|s| (s, i)));
        }
        self.pump_all(now, &rib_view);
        self.listen();
        Ok(())
    }
}
