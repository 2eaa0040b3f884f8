//! What an OSPF instance keeps around its speaker, v2 and v3 alike: one
//! raw socket per interface (ids never reused, so a socket closed on
//! reload and one opened at the same time cannot be confused; a lost one
//! asked for again), the SPF hold-down driven by the speaker's routing
//! generation, the routes for the RIB, and the socket counters `show`
//! reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::external::OspfRoute;
use super::show;
use super::speaker::{Outgoing, Speaker};
use super::spf_log::SpfLog;
use crate::control::linkstate::{spf, Lsdb, SpfScheduler};
use crate::control::protocol::{RouteOutput, SocketId, SocketRequest, Transmit};
use crate::control::rib::route::{RibRoute, RouteSource};
use crate::fib::PortId;

/// Hold-down between a database change and its SPF run.
const SPF_HOLD_DOWN: Duration = Duration::from_millis(50);

pub(crate) struct Plumbing {
    /// Per interface (configuration order): its port and its socket.
    pub ports: Vec<PortId>,
    pub sockets: Vec<SocketId>,
    next_socket: u32,
    /// Every port's name, by port id (SPF names ports).
    pub port_names: Vec<String>,
    requests: VecDeque<SocketRequest>,
    /// The request that opens the socket of an interface on a port.
    open: fn(SocketId, PortId) -> SocketRequest,
    spf: SpfScheduler,
    spf_generation: u64,
    pub last_spf: Option<spf::SpfResult>,
    /// Changes the due SPF run gathers (the scheduler forgets them when
    /// it says "due").
    spf_changes: u64,
    spf_log: SpfLog,
    routes: VecDeque<RouteOutput>,
    /// Datagrams that were not the version's packets (counted by the
    /// instance that reads them).
    pub bad_datagrams: u64,
    socket_losses: u64,
    last_socket_error: Option<String>,
}

impl Plumbing {
    pub fn new(open: fn(SocketId, PortId) -> SocketRequest) -> Self {
        Plumbing {
            ports: Vec::new(),
            sockets: Vec::new(),
            next_socket: 0,
            port_names: Vec::new(),
            requests: VecDeque::new(),
            open,
            spf: SpfScheduler::new(SPF_HOLD_DOWN),
            spf_generation: 0,
            last_spf: None,
            spf_changes: 0,
            spf_log: SpfLog::default(),
            routes: VecDeque::new(),
            bad_datagrams: 0,
            socket_losses: 0,
            last_socket_error: None,
        }
    }

    /// The interface whose socket `socket` is.
    pub fn interface_of(&self, socket: SocketId) -> Option<usize> {
        self.sockets.iter().position(|s| *s == socket)
    }

    /// Socket `socket` is gone: asked for again (a port going away and
    /// coming back).
    pub fn socket_closed(&mut self, socket: SocketId, error: Option<&str>) {
        self.socket_losses += 1;
        self.last_socket_error = error.map(|e| format!("socket {}: {e}", socket.0));
        if let Some(i) = self.interface_of(socket) {
            self.requests.push_back((self.open)(socket, self.ports[i]));
        }
    }

    /// The interfaces are now on `ports`; `kept[k]` is the index interface
    /// `k` had before (its socket stays), `None` for a new one (a socket
    /// is asked for). Sockets of interfaces that went are closed.
    pub fn assign(&mut self, ports: Vec<PortId>, kept: &[Option<usize>]) {
        let mut sockets = Vec::with_capacity(ports.len());
        for (k, from) in kept.iter().enumerate() {
            match from {
                Some(j) => sockets.push(self.sockets[*j]),
                None => {
                    let socket = SocketId(self.next_socket);
                    self.next_socket += 1;
                    self.requests.push_back((self.open)(socket, ports[k]));
                    sockets.push(socket);
                }
            }
        }
        for old in &self.sockets {
            if !sockets.contains(old) {
                self.requests
                    .push_back(SocketRequest::Close { socket: *old });
            }
        }
        self.ports = ports;
        self.sockets = sockets;
    }

    /// The interfaces on port `port`.
    pub fn interfaces_on(&self, port: PortId) -> impl Iterator<Item = usize> + '_ {
        (0..self.ports.len()).filter(move |&i| self.ports[i] == port)
    }

    /// After every event: SPF is due when what it reads changed.
    pub fn note_changes(&mut self, now: Instant, speaker: Option<&Speaker>) {
        if let Some(s) = speaker {
            let g = s.routing_generation();
            if g != self.spf_generation {
                self.spf_generation = g;
                self.spf.note_change(now);
            }
        }
    }

    pub fn spf_due(&mut self, now: Instant) -> bool {
        self.spf_changes = self.spf.pending();
        self.spf.due(now)
    }

    /// SPF over `lsdb` from `root`; its routes, and `more`, become
    /// `source`'s routes in the RIB.
    pub fn run_spf(
        &mut self,
        now: Instant,
        lsdb: &Lsdb,
        root: std::net::Ipv4Addr,
        source: RouteSource,
        more: impl FnOnce(&spf::SpfResult) -> Vec<RibRoute>,
    ) {
        let names = &self.port_names;
        let port_of = |name: &str| names.iter().position(|n| n == name).map(|i| i as PortId);
        let result = spf::run(lsdb, root, port_of);
        let extra = more(&result);
        let routes: Vec<RibRoute> = result
            .routes()
            .iter()
            .map(|r| RibRoute {
                source,
                ..r.clone()
            })
            .chain(extra)
            .collect();
        self.routes
            .push_back(RouteOutput::ReplaceSource { source, routes });
        self.spf_log.record(now, self.spf_changes, lsdb, &result);
        self.last_spf = Some(result);
    }

    pub fn poll_socket_request(&mut self) -> Option<SocketRequest> {
        self.requests.pop_front()
    }

    pub fn poll_route(&mut self) -> Option<RouteOutput> {
        self.routes.pop_front()
    }

    /// A speaker's packet as the event loop sends it.
    pub fn transmit(&self, out: Outgoing) -> Option<Transmit> {
        Some(Transmit {
            socket: *self.sockets.get(out.interface)?,
            destination: Some(out.destination),
            bytes: out.bytes,
        })
    }

    /// The earliest of the speaker's deadline, SPF's and `other`.
    pub fn deadline(&self, speaker: Option<&Speaker>, other: Option<Instant>) -> Option<Instant> {
        let speaker = speaker.and_then(|s| s.poll_timeout());
        [speaker, self.spf.deadline(), other]
            .into_iter()
            .flatten()
            .min()
    }

    /// `show NAME [WHAT]` for the instance named `name` (`title` names its
    /// packets in the counters' text); `None` if the command is another's.
    pub fn command(
        &self,
        name: &str,
        title: &str,
        command: &str,
        speaker: Option<&Speaker>,
        beyond: &[OspfRoute],
        now: Instant,
    ) -> Option<Result<Value, String>> {
        let mut words = command.split_whitespace();
        if words.next() != Some(name) {
            return None;
        }
        let what = words.next();
        if words.next().is_some() {
            return Some(Err(format!("show {name}: unexpected {command:?}")));
        }
        if what == Some("spf-log") {
            return Some(Ok(self.spf_log.show(now)));
        }
        let mut answer = show::show(speaker?, self.last_spf.as_ref(), beyond, now, what);
        if let (Ok(v), None) = (&mut answer, what) {
            self.annotate(v, title);
        }
        Some(answer)
    }

    /// The socket counters in a whole `show` answer (and its text, when a
    /// socket was lost).
    pub fn annotate(&self, v: &mut Value, what: &str) {
        v["bad_datagrams"] = self.bad_datagrams.into();
        v["socket_losses"] = self.socket_losses.into();
        v["last_socket_error"] = self.last_socket_error.clone().into();
        if let (Some(text), Some(e)) = (v["text"].as_str(), &self.last_socket_error) {
            let text = format!(
                "{text}Sockets lost: {} (last: {e}); datagrams not {what}: {}\n",
                self.socket_losses, self.bad_datagrams
            );
            v["text"] = text.into();
        }
    }
}
