//! Graceful restart, helper side (RFC 4724 §4.2): when a peer that
//! announced the capability loses its connection, its routes of the
//! families it named stay (stale) in the Adj-RIB-In and so in the FIB;
//! each goes when the peer announces or withdraws it again, at its
//! End-of-RIB for the family, or when the restart time runs out.

use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::BgpSpeaker;
use crate::control::bgp::adj_rib_in::BgpUpdate;
use crate::control::bgp::session::{Family, Negotiated};
use crate::control::protocol::RibView;

impl BgpSpeaker {
    /// The connection was lost, not closed: keep the routes of `families`.
    pub(super) fn graceful_down(
        &mut self,
        now: Instant,
        i: usize,
        families: &[Family],
        restart_time: u16,
        rib: &dyn RibView,
    ) {
        let peer = &mut self.peers[i];
        peer.adj_out.clear();
        let all: Vec<IpNet> = self
            .files
            .bgp_rib()
            .adj_rib_in(peer.rib_peer)
            .map(|(p, _)| p)
            .collect();
        peer.stale = all.into_iter().collect();
        peer.stale_until = Some(now + Duration::from_secs(u64::from(restart_time)));
        // What it did not ask us to keep goes now.
        let kept: Vec<Family> = if restart_time == 0 {
            Vec::new()
        } else {
            families.to_vec()
        };
        for f in Family::ALL.into_iter().filter(|f| !kept.contains(f)) {
            self.sweep(i, Some(f), rib);
        }
    }

    /// The session is back: families the peer no longer restarts with
    /// preserved forwarding state lose their stale routes at once.
    pub(super) fn restarted(&mut self, i: usize, n: &Negotiated, rib: &dyn RibView) {
        if self.peers[i].stale.is_empty() {
            return;
        }
        let gr = n.peer.capabilities.graceful_restart.as_ref();
        for f in Family::ALL {
            let preserved = gr.is_some_and(|g| g.families.contains(&(f, true)));
            if !preserved {
                self.sweep(i, Some(f), rib);
            }
        }
    }

    /// Withdraws peer `i`'s stale routes (of `family`, or all).
    pub(super) fn sweep(&mut self, i: usize, family: Option<Family>, rib: &dyn RibView) {
        let peer = &mut self.peers[i];
        let gone: Vec<IpNet> = peer
            .stale
            .iter()
            .filter(|p| family.is_none_or(|f| Family::of(p) == f))
            .copied()
            .collect();
        for p in &gone {
            peer.stale.remove(p);
        }
        if peer.stale.is_empty() {
            peer.stale_until = None;
        }
        let rib_peer = peer.rib_peer;
        for prefix in &gone {
            let update = BgpUpdate {
                peer: rib_peer,
                prefix: *prefix,
                attrs: None,
            };
            if let Ok(change) = self.files.bgp_rib_mut().apply(update, rib.next_hops()) {
                self.route_change(change);
            }
        }
        self.export_to_all(&gone);
    }
}
