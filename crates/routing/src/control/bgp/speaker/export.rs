//! Adj-RIBs-Out: what each established peer should have from us, kept by
//! difference. A peer gets the redistributed local routes and the best
//! BGP routes (export `all`), never a route it sent, no iBGP-learned route
//! if it is iBGP (no route reflection), with our AS prepended and our
//! address as next hop if it is eBGP. Changes wait in the peer's outbox
//! ([`super::outbox`]), which packs them (one UPDATE carries many prefixes
//! that share a set of attributes) and paces them by the stream.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use super::config::Policy;
use super::outbox::Link;
use super::BgpSpeaker;
use crate::control::bgp::attrs::{AsPath, Origin, PathAttrs};
use crate::control::bgp::peer::PeerKind;
use crate::control::bgp::policy::PeerRules;
use crate::control::bgp::session::Family;
use crate::control::protocol::ProtocolPort;

/// LOCAL_PREF sent to iBGP peers when a route has none.
const DEFAULT_LOCAL_PREF: u32 = 100;

/// Our address of `family` for a session with local address `local`: the
/// session's own, or an address of that family on the port that holds it.
pub(super) fn self_next_hop(
    family: Family,
    local: IpAddr,
    ports: &[ProtocolPort],
) -> Option<IpAddr> {
    let wanted = |a: &IpAddr| match family {
        Family::Ipv4Unicast => a.is_ipv4(),
        Family::Ipv6Unicast => {
            matches!(a, IpAddr::V6(v6) if !v6.is_unicast_link_local())
        }
    };
    if wanted(&local) {
        return Some(local);
    }
    ports
        .iter()
        .find(|p| p.addresses.iter().any(|n| n.contains(&local)))
        .and_then(|p| p.addresses.iter().map(|n| n.addr()).find(wanted))
}

impl BgpSpeaker {
    /// What peer `i` should have for `prefix`.
    fn desired(&mut self, i: usize, prefix: &IpNet) -> Option<Arc<PathAttrs>> {
        let peer = &self.peers[i];
        if peer.config.export == Policy::None {
            return None;
        }
        let n = peer.session.negotiated()?;
        let family = Family::of(prefix);
        if !n.families.contains(&family) {
            return None;
        }
        let ebgp = peer.config.remote_as != self.local_as;
        let self_hop = self_next_hop(family, n.local.ip(), &self.ports)?;
        let rib = self.files.bgp_rib();
        let mut attrs = if self.local_routes.contains_key(prefix) {
            PathAttrs::new(Origin::Incomplete, AsPath::default(), self_hop)
        } else {
            let (from, best) = rib.best(prefix)?;
            let kind = rib.peer(from)?.kind;
            if from == peer.rib_peer || (kind == PeerKind::Ibgp && !ebgp) {
                return None;
            }
            best.as_ref().clone()
        };
        if ebgp {
            // RFC 4271 §5.1.4/§5.1.5: MED and LOCAL_PREF stay in the AS
            // (a MED the export policy sets goes out).
            attrs.med = None;
            attrs.local_pref = None;
        }
        let rules = PeerRules {
            policy: &peer.config.export,
            role: peer.config.role,
            local_as: self.local_as,
            remote_as: peer.config.remote_as,
        };
        let mut attrs = rules.export(prefix, attrs)?;
        if ebgp {
            attrs.as_path = attrs.as_path.prepend(self.local_as);
            attrs.next_hop = self_hop;
            attrs.local_pref = None;
        } else {
            attrs.local_pref = Some(attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
        }
        if attrs.next_hop.is_ipv4() != prefix.addr().is_ipv4() {
            return None;
        }
        Some(self.files.bgp_rib_mut().intern(attrs))
    }

    /// Brings peer `i`'s Adj-RIB-Out up to date for `prefixes`; the
    /// difference waits in its [`Outbox`](super::outbox::Outbox) until the
    /// stream takes it ([`BgpSpeaker::flush_out`]).
    pub(super) fn export(&mut self, i: usize, prefixes: &[IpNet]) {
        if self.peers[i].session.negotiated().is_none() {
            return;
        }
        for prefix in prefixes {
            let want = self.desired(i, prefix);
            let peer = &mut self.peers[i];
            match (want, peer.adj_out.get(prefix)) {
                (Some(w), Some(had)) if *w == **had => {}
                (Some(w), _) => {
                    peer.adj_out.insert(*prefix, w.clone());
                    peer.outbox.announce(*prefix, w);
                }
                (None, Some(_)) => {
                    peer.adj_out.remove(prefix);
                    peer.outbox.withdraw(*prefix);
                }
                (None, None) => {}
            }
        }
    }

    /// Hands peer `i`'s session what its outbox may send now.
    pub(super) fn flush_out(&mut self, now: Instant, i: usize) {
        let peer = &mut self.peers[i];
        let Some(four_octet_as) = peer.session.negotiated().map(|n| n.four_octet_as) else {
            return;
        };
        let link = Link {
            session: &mut peer.session,
            adj_out: &peer.adj_out,
            four_octet_as,
            interval: peer.config.advertisement_interval,
        };
        peer.outbox.flush(now, link);
    }

    /// Every prefix peer `i` may have to hear about.
    pub(super) fn exportable(&self, i: usize) -> Vec<IpNet> {
        let rib = self.files.bgp_rib();
        let mut all: Vec<IpNet> = self.local_routes.keys().copied().collect();
        all.extend(rib.best_prefixes());
        all.extend(self.peers[i].adj_out.keys());
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The whole table to a peer that just came up (or asked again), then
    /// End-of-RIB for each family.
    pub(super) fn export_all(&mut self, i: usize) {
        let all = self.exportable(i);
        self.export(i, &all);
        let peer = &mut self.peers[i];
        if let Some(n) = peer.session.negotiated() {
            peer.outbox.end_of_rib(&n.families);
        }
    }

    /// `prefixes` changed: every established peer's Adj-RIB-Out follows.
    pub(super) fn export_to_all(&mut self, prefixes: &[IpNet]) {
        if prefixes.is_empty() {
            return;
        }
        for i in 0..self.peers.len() {
            self.export(i, prefixes);
        }
    }
}
