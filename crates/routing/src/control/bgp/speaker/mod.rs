//! BGP as one [`Protocol`] instance: the file inputs (MRT dumps, tables)
//! and the live sessions (`[[bgp.peer]]`) feed one Adj-RIB-In and one
//! decision process ([`BgpRib`](crate::control::bgp::BgpRib)); the best
//! routes reach the RIB as the eBGP and iBGP sources; each established
//! peer gets an Adj-RIB-Out ([`export`]).
//!
//! Sockets: one listener per address family with peers (port 179 on the
//! unspecified address; a connection from an address that is no peer's is
//! closed at once) and one connection per session attempt, numbered by
//! [`SocketIds`]. Everything else is the sessions'
//! ([`crate::control::bgp::session`]).

mod config;
mod export;
mod graceful;
mod operator;
mod outbox;
mod peers;
mod reload;

#[cfg(test)]
mod net;
#[cfg(test)]
mod operator_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use serde_json::Value;

pub use config::{BgpPeerConfig, Policy};
use outbox::Outbox;

use crate::control::bgp::file_input::{BgpConfig, BgpFileInput, NAME};
use crate::control::bgp::session::message::{self, code};
use crate::control::bgp::session::{Family, Session, SocketIds};
use crate::control::bgp::{PathAttrs, PeerId, ResolveWith};
use crate::control::hash::{FastMap, FastSet};
use crate::control::prefix_map::PrefixMap;
use crate::control::protocol::{
    ListenPeer, Protocol, ProtocolConfig, ProtocolInput, ProtocolPort, Reconfigured, Registration,
    ReloadStyle, RibView, RouteOutput, SocketEvent, SocketId, SocketRequest, TcpOptions, Transmit,
};
use crate::control::queue;
use crate::control::rib::notify::{BestRouteChange, SourceFilter};
use crate::control::rib::route::RouteSource;

pub const REGISTRATION: Registration = Registration {
    name: NAME,
    title: "BGP",
    section: "[bgp]",
    sources: &[RouteSource::EBGP, RouteSource::IBGP],
    reload: ReloadStyle::InPlace,
    create: |config| {
        config.section::<BgpConfig>(NAME)?;
        Some(Box::new(BgpSpeaker::new(config.clock)))
    },
};

/// The listeners' ids (IPv4, IPv6); connections are numbered from
/// [`FIRST_CONNECTION`].
const LISTENERS: [SocketId; 2] = [SocketId(1), SocketId(2)];
const FIRST_CONNECTION: u32 = 16;

/// One configured neighbour and its session.
struct LivePeer {
    config: BgpPeerConfig,
    session: Session,
    /// Its Adj-RIB-In in the shared table.
    rib_peer: PeerId,
    /// What it has from us, or will have once `outbox` is sent (a full
    /// table's worth for a peer we give one: the compact prefix map).
    adj_out: PrefixMap<Arc<PathAttrs>>,
    outbox: Outbox,
    /// Prefixes it announced since the session came up (accepted or not;
    /// `show bgp`'s "received"), per family ([`Family`] as index).
    announced: [u64; 2],
    treat_as_withdraw: u64,
    attributes_discarded: u64,
    /// Families whose End-of-RIB it sent since it came up.
    end_of_rib: Vec<Family>,
    /// Routes kept while it restarts (RFC 4724), until re-announced, its
    /// End-of-RIB or `stale_until`.
    stale: FastSet<IpNet>,
    stale_until: Option<Instant>,
}

impl LivePeer {
    fn new(
        config: BgpPeerConfig,
        rib_peer: PeerId,
        now: Instant,
        local_as: u32,
        router_id: Ipv4Addr,
        ids: &mut SocketIds,
    ) -> Self {
        let mut session = Session::new(config.session(local_as, router_id), now);
        session.start(now, ids);
        LivePeer {
            config,
            session,
            rib_peer,
            adj_out: PrefixMap::default(),
            outbox: Outbox::default(),
            announced: [0; 2],
            treat_as_withdraw: 0,
            attributes_discarded: 0,
            end_of_rib: Vec::new(),
            stale: FastSet::default(),
            stale_until: None,
        }
    }

    /// Asks the peer for its routes again (ROUTE-REFRESH; a reset if it
    /// cannot), after its import policy changed.
    fn refresh(&mut self, now: Instant) {
        let Some(n) = self.session.negotiated().cloned() else {
            return;
        };
        if n.route_refresh {
            for f in n.families {
                self.session.send_established(message::route_refresh(f));
            }
        } else {
            self.session.reset(now, code::CEASE_ADMIN_RESET);
        }
    }
}

/// The BGP instance.
pub struct BgpSpeaker {
    files: BgpFileInput,
    local_as: u32,
    router_id: Ipv4Addr,
    ports: Vec<ProtocolPort>,
    redistribute: Vec<RouteSource>,
    /// Redistributed routes we originate, by prefix.
    local_routes: BTreeMap<IpNet, RouteSource>,
    peers: Vec<LivePeer>,
    /// Which peer a connection is for.
    sockets: FastMap<SocketId, usize>,
    listening: [bool; 2],
    /// The per-peer settings the listeners have (MD5 keys, GTSM).
    listen_peers: [Vec<ListenPeer>; 2],
    requests: VecDeque<SocketRequest>,
    transmits: VecDeque<Transmit>,
    ids: SocketIds,
    /// A configuration whose files are being read.
    pending: Option<Pending>,
    /// Changes of the selected routes the live sessions caused (`ferroute
    /// stats`, the status line).
    route_changes: u64,
}

/// A configuration not applied yet: its files go into a fresh table.
struct Pending {
    files: BgpFileInput,
    section: BgpConfig,
    config: ProtocolConfig,
}

/// No RIB (a reconfiguration only opens and closes sockets).
fn no_rib() -> ResolveWith<fn(IpAddr) -> Option<u32>> {
    ResolveWith(|_| None)
}

impl BgpSpeaker {
    pub fn new(clock: Option<fn() -> Instant>) -> Self {
        let empty = BgpConfig {
            local_as: 0,
            always_compare_med: false,
            multipath: false,
            mrt: Vec::new(),
            tables: Vec::new(),
            peers: Vec::new(),
            redistribute: Vec::new(),
        };
        BgpSpeaker {
            files: BgpFileInput::new(empty, clock),
            local_as: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            ports: Vec::new(),
            redistribute: Vec::new(),
            local_routes: BTreeMap::new(),
            peers: Vec::new(),
            sockets: FastMap::default(),
            listening: [false; 2],
            listen_peers: [Vec::new(), Vec::new()],
            requests: VecDeque::new(),
            transmits: VecDeque::new(),
            ids: SocketIds::new(FIRST_CONNECTION),
            pending: None,
            route_changes: 0,
        }
    }

    /// The connected routes to redistribute: the ports' subnets.
    fn connected_routes(&mut self) {
        self.local_routes
            .retain(|_, s| *s != RouteSource::CONNECTED);
        if !self.redistribute.contains(&RouteSource::CONNECTED) {
            return;
        }
        for p in &self.ports {
            for a in &p.addresses {
                self.local_routes.insert(a.trunc(), RouteSource::CONNECTED);
            }
        }
    }

    /// The RIB's static routes to redistribute, read whole.
    fn static_routes(&mut self, rib: &dyn RibView) {
        self.local_routes.retain(|_, s| *s != RouteSource::STATIC);
        if !self.redistribute.contains(&RouteSource::STATIC) {
            return;
        }
        for prefix in rib.source_prefixes(RouteSource::STATIC) {
            self.local_routes
                .entry(prefix)
                .or_insert(RouteSource::STATIC);
        }
    }

    /// Every established peer's Adj-RIB-Out against everything.
    fn export_everything(&mut self) {
        for i in 0..self.peers.len() {
            let all = self.exportable(i);
            self.export(i, &all);
        }
    }

    /// Opens a listener per address family with peers, and keeps each
    /// listener's per-peer settings (MD5 keys, GTSM) those of the peers
    /// configured now: changed in place, the listener stays open.
    fn listen(&mut self) {
        for (f, family) in [(0, true), (1, false)] {
            let peers: Vec<ListenPeer> = self
                .peers
                .iter()
                .filter(|p| p.config.address.is_ipv4() == family)
                .map(|p| ListenPeer {
                    address: p.config.address,
                    options: p.session.tcp_options(),
                })
                .collect();
            if self.listening[f] {
                if peers != self.listen_peers[f] {
                    self.requests.push_back(SocketRequest::TcpListenPeers {
                        socket: LISTENERS[f],
                        peers: peers.clone(),
                    });
                    self.listen_peers[f] = peers;
                }
            } else if !peers.is_empty() {
                let ip = if family {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                };
                self.requests.push_back(SocketRequest::TcpListen {
                    socket: LISTENERS[f],
                    local: SocketAddr::new(ip, 179),
                    options: TcpOptions {
                        dscp: Some(48),
                        ..TcpOptions::default()
                    },
                    peers: peers.clone(),
                });
                self.listen_peers[f] = peers;
                self.listening[f] = true;
            }
        }
    }

    /// A socket event for one of the sessions.
    fn socket_event(&mut self, now: Instant, event: SocketEvent<'_>, rib: &dyn RibView) {
        match event {
            SocketEvent::Accepted {
                socket,
                local,
                remote,
                ..
            } => {
                let Some(i) = self.peer_at(remote.ip()) else {
                    self.requests.push_back(SocketRequest::Close { socket });
                    return;
                };
                self.sockets.insert(socket, i);
                self.peers[i].session.accepted(now, socket, local, remote);
            }
            SocketEvent::Closed { socket, .. } if LISTENERS.contains(&socket) => {
                // Opening the listener failed: sessions can still connect.
                let f = usize::from(socket == LISTENERS[1]);
                self.listening[f] = false;
                return;
            }
            other => {
                let socket = other.socket();
                let Some(&i) = self.sockets.get(&socket) else {
                    return;
                };
                let session = &mut self.peers[i].session;
                match other {
                    SocketEvent::Connected { local, remote, .. } => {
                        session.connected(now, socket, local, remote)
                    }
                    SocketEvent::Stream { bytes, .. } => session.received(now, socket, bytes),
                    SocketEvent::Closed { error, .. } => {
                        self.sockets.remove(&socket);
                        session.closed(now, socket, error);
                    }
                    SocketEvent::Drained { .. } => self.peers[i].outbox.drained(),
                    _ => {}
                }
            }
        }
        self.pump_all(now, rib);
    }
}

impl Protocol for BgpSpeaker {
    fn name(&self) -> &str {
        NAME
    }

    fn handle_input(
        &mut self,
        now: Instant,
        input: ProtocolInput<'_>,
        rib: &dyn RibView,
    ) -> Result<(), String> {
        match input {
            ProtocolInput::File { path, bytes } => {
                let Some(pending) = &mut self.pending else {
                    return Err(format!("bgp: {} is not an expected input", path.display()));
                };
                if let Err(e) = pending.files.handle_file(now, path, bytes) {
                    self.pending = None;
                    return Err(e);
                }
                if pending.files.complete() {
                    self.commit(now)?;
                }
                Ok(())
            }
            ProtocolInput::Socket(event) => {
                self.socket_event(now, event, rib);
                Ok(())
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant, rib: &dyn RibView) {
        if self.files.handle_timeout(now, rib) {
            self.static_routes(rib);
            self.export_everything();
        }
        for i in 0..self.peers.len() {
            if self.peers[i].stale_until.is_some_and(|t| t <= now) {
                self.sweep(i, None, rib);
            }
            if self.peers[i]
                .session
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.peers[i].session.timeout(now, &mut self.ids);
            }
        }
        self.pump_all(now, rib);
    }

    fn handle_rib_changes(&mut self, now: Instant, changes: &[BestRouteChange], rib: &dyn RibView) {
        let redecided = self.files.handle_rib_changes(changes, rib);
        let statics = self.redistribute.contains(&RouteSource::STATIC);
        let mut touched = Vec::new();
        for change in changes {
            match change {
                BestRouteChange::Prefix { prefix, new, .. } if statics => {
                    let is_static = new
                        .as_ref()
                        .is_some_and(|b| b.source == RouteSource::STATIC);
                    let was = self.local_routes.get(prefix) == Some(&RouteSource::STATIC);
                    if is_static && !self.local_routes.contains_key(prefix) {
                        self.local_routes.insert(*prefix, RouteSource::STATIC);
                    } else if was && !is_static {
                        self.local_routes.remove(prefix);
                    }
                    touched.push(*prefix);
                }
                BestRouteChange::SourceReplaced { source }
                    if statics && *source == RouteSource::STATIC =>
                {
                    self.static_routes(rib);
                    self.export_everything();
                    return self.pump_all(now, rib);
                }
                _ => {}
            }
        }
        if redecided > 0 {
            self.export_everything();
        } else {
            self.export_to_all(&touched);
        }
        self.pump_all(now, rib);
    }

    fn handle_command(
        &mut self,
        now: Instant,
        command: &str,
        rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words[..] {
            ["bgp"] => {
                let mut shown = match self.files.handle_command("bgp", rib)? {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                };
                shown["peers"] = self.peers_json(now);
                let text = format!(
                    "{}{}",
                    shown["text"].as_str().unwrap_or(""),
                    self.peers_text(now)
                );
                shown["text"] = Value::String(text);
                Some(Ok(shown))
            }
            ["bgp", "peers" | "neighbors"] => Some(Ok(serde_json::json!({
                "peers": self.peers_json(now),
                "text": self.peers_text(now),
            }))),
            ["bgp", "peers" | "neighbors", address] => Some(self.neighbor(now, address)),
            ["bgp", "summary"] => Some(Ok(self.summary())),
            _ => self.files.handle_command(command, rib),
        }
    }

    /// `bgp reset PEER [soft in|out]`.
    fn handle_action(
        &mut self,
        now: Instant,
        action: &str,
        rib: &dyn RibView,
    ) -> Option<Result<Value, String>> {
        let words: Vec<&str> = action.split_whitespace().collect();
        let answer = match words[..] {
            ["bgp", "reset", peer] => self.reset(now, peer, None),
            ["bgp", "reset", peer, "soft", direction] => self.reset(now, peer, Some(direction)),
            ["bgp", ..] => Err(format!(
                "unknown `{action}` (try: bgp reset PEER [soft in|out])"
            )),
            _ => return None,
        };
        self.pump_all(now, rib);
        Some(answer)
    }

    /// A new configuration is checked and its files read into a fresh
    /// table; nothing changes until every file is in (a bad file leaves
    /// the running state as it was). Then sessions whose settings did not
    /// change stay up and keep their routes ([`BgpSpeaker::commit`]).
    fn reconfigure(
        &mut self,
        now: Instant,
        config: &ProtocolConfig,
    ) -> Result<Reconfigured, String> {
        let section = config
            .section::<BgpConfig>(NAME)
            .ok_or("BGP is not configured ([bgp])")?
            .clone();
        for t in &section.tables {
            if section.peers.iter().any(|p| p.address == t.peer) {
                return Err(format!(
                    "bgp: {} is both a [[bgp.table]] and a [[bgp.peer]] peer",
                    t.peer
                ));
            }
        }
        let mut files = BgpFileInput::new(section.clone(), config.clock);
        let reconfigured = files.reconfigure(now, &section, config.clock)?;
        self.pending = Some(Pending {
            files,
            section,
            config: config.clone(),
        });
        if self.pending.as_ref().is_some_and(|p| p.files.complete()) {
            self.commit(now)?;
        }
        Ok(reconfigured)
    }

    fn poll_socket_request(&mut self) -> Option<SocketRequest> {
        self.requests.pop_front()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        // A full table's UPDATEs queue here too (3 MB in scripts/bench-bgp).
        queue::pop_front(&mut self.transmits)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .iter()
            .flat_map(|p| {
                [
                    p.session.poll_timeout(),
                    p.stale_until,
                    p.outbox.poll_timeout(),
                ]
            })
            .flatten()
            .chain(self.files.poll_timeout())
            .min()
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.files.poll_route()
    }

    /// BGP resolves through every other source and never through itself.
    fn subscription(&self) -> SourceFilter {
        SourceFilter::all_except(&[RouteSource::EBGP, RouteSource::IBGP])
    }

    fn compact(&mut self) {
        self.files.bgp_rib_mut().compact();
        for peer in &mut self.peers {
            peer.adj_out.compact();
        }
    }
}
