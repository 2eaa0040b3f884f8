//! Adj-RIBs-Out: what each established peer should have from us, kept by
//! difference. A peer gets the redistributed local routes and the best
//! BGP routes (export `all`), never a route it sent, no iBGP-learned route
//! if it is iBGP (no route reflection), with our AS prepended and our
//! address as next hop if it is eBGP. Changes are packed: one UPDATE
//! carries every prefix that shares a set of attributes.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::config::Policy;
use super::{BgpSpeaker, LivePeer};
use crate::control::bgp::attrs::{AsPath, Origin, PathAttrs};
use crate::control::bgp::peer::PeerKind;
use crate::control::bgp::policy::PeerRules;
use crate::control::bgp::session::update_out::{encode_announce, encode_withdraw, end_of_rib};
use crate::control::bgp::session::{Family, Negotiated};
use crate::control::hash::FastMap;
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

    /// Brings peer `i`'s Adj-RIB-Out up to date for `prefixes` and sends
    /// the difference.
    pub(super) fn export(&mut self, i: usize, prefixes: &[IpNet]) {
        let Some(n) = self.peers[i].session.negotiated().cloned() else {
            return;
        };
        let mut announce: FastMap<Arc<PathAttrs>, Vec<IpNet>> = FastMap::default();
        let mut withdraw = Vec::new();
        for prefix in prefixes {
            let want = self.desired(i, prefix);
            let out = &mut self.peers[i].adj_out;
            match (want, out.get(prefix)) {
                (Some(w), Some(had)) if *w == **had => {}
                (Some(w), _) => {
                    out.insert(*prefix, w.clone());
                    announce.entry(w).or_default().push(*prefix);
                }
                (None, Some(_)) => {
                    out.remove(prefix);
                    withdraw.push(*prefix);
                }
                (None, None) => {}
            }
        }
        send_changes(&mut self.peers[i], &n, announce, withdraw);
    }

    /// Every prefix peer `i` may have to hear about.
    pub(super) fn exportable(&self, i: usize) -> Vec<IpNet> {
        let rib = self.files.bgp_rib();
        let mut all: Vec<IpNet> = self.local_routes.keys().copied().collect();
        all.extend(rib.best_prefixes());
        all.extend(self.peers[i].adj_out.keys().copied());
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The whole table to a peer that just came up (or asked again), then
    /// End-of-RIB for each family.
    pub(super) fn export_all(&mut self, i: usize) {
        let all = self.exportable(i);
        self.export(i, &all);
        let families = self.peers[i]
            .session
            .negotiated()
            .map(|n| n.families.clone())
            .unwrap_or_default();
        for f in families {
            self.peers[i].session.send_established(end_of_rib(f));
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

fn send_changes(
    peer: &mut LivePeer,
    n: &Negotiated,
    announce: FastMap<Arc<PathAttrs>, Vec<IpNet>>,
    mut withdraw: Vec<IpNet>,
) {
    let mut messages = Vec::new();
    if !withdraw.is_empty() {
        withdraw.sort_unstable();
        encode_withdraw(&withdraw, &mut messages);
    }
    let mut groups: Vec<(Arc<PathAttrs>, Vec<IpNet>)> = announce.into_iter().collect();
    groups.sort_by(|a, b| a.1.first().cmp(&b.1.first()));
    for (attrs, mut prefixes) in groups {
        prefixes.sort_unstable();
        encode_announce(&attrs, &prefixes, n.four_octet_as, &mut messages);
    }
    for m in messages {
        peer.session.send_established(m);
    }
}
