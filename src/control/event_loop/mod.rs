//! The control thread's event loop: the only code in `control/` that owns
//! file descriptors or reads the clock. One thread and one mio poller: the
//! kernel's neighbour notifications, the operator socket and its
//! connections, a waker for requests from other threads (and stop), and
//! one timer heap for every deadline (the engine's protocols and coalesced
//! publication, the coalesced rebuild after neighbour changes, managed-entry
//! refresh, glean polling, idle operator connections).
//!
//! After each wake: read the sockets, serve requests, then run the timers
//! that are due; the engine takes the time it is handed.

mod managed;
mod sockets;
mod timers;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::engine::{Engine, Host, InstanceIo};
use super::handle::{ControlHandle, Request};
use super::kernel::gateways::{self, ManagedEntry};
use super::kernel::glean::GleanResolver;
use super::kernel::neighbor::{NeighborTable, PortBinding};
use super::kernel::netlink::LinkState;
use super::kernel::subscription::{NeighborSubscription, NeighborUpdate};
use super::operator::{
    OperatorHandler, OperatorRequest, OperatorSocket, Service, CONNECTION_TIMEOUT,
};
use super::{heap, ControlError, ControlInputs, ControlOptions, ControlStatus, StopReport};
use crate::fib::FibHandle;
use crate::tables::read_maybe_gzip;
use sockets::{PortInterface, ProtocolSockets};
use timers::{TimerKey, Timers};

/// The real world for the [`Engine`]: the system clock and the file system.
pub const SYSTEM_HOST: Host = Host {
    clock: Instant::now,
    read_file: read_input_file,
};

/// An input file's contents, gunzipped if it is gzip.
fn read_input_file(path: &Path) -> Result<Vec<u8>, String> {
    read_maybe_gzip(path).map_err(|e| e.to_string())
}

const NEIGHBORS: Token = Token(0);
const WAKER: Token = Token(1);
const OPERATOR: Token = Token(2);
/// Operator connection `id` is `Token(FIRST_CONNECTION + id)`.
const FIRST_CONNECTION: usize = 3;
/// The protocol instances' sockets take tokens from here up (operator
/// connections stay below).
const FIRST_PROTOCOL_SOCKET: usize = 1 << 32;
/// Rounds of socket events and the instances' answers per wake (an answer
/// that fails at once, such as a refused connect, is itself an event).
const PROTOCOL_IO_ROUNDS: usize = 16;
/// Reads of the neighbour socket per wake (each up to 256 datagrams); a
/// longer burst continues at the next turn of the loop.
const NEIGHBOR_READS_PER_WAKE: usize = 64;

/// The control thread's state (lives on that thread).
pub struct Control {
    engine: Engine,
    requests: mpsc::Receiver<Request>,
    table: NeighborTable,
    /// The RIB's on-link gateways without a static neighbour
    /// ([`gateways::wanted`]), as of the last publication.
    gateways: Vec<ManagedEntry>,
    owned: BTreeSet<ManagedEntry>,
    sub: NeighborSubscription,
    glean: GleanResolver,
    /// Managed entries made for glean requests (a subset of `owned`).
    gleaned: BTreeSet<ManagedEntry>,
    options: ControlOptions,
    status: Arc<Mutex<ControlStatus>>,
    poll: Poll,
    timers: Timers,
    /// The operator socket, once the daemon hands it over, and what
    /// answers the requests that are not the control thread's.
    operator: Option<(OperatorSocket, OperatorHandler)>,
    /// The sockets the protocol instances asked for.
    sockets: ProtocolSockets,
    /// Each port's interface and whether its link was last seen up (link
    /// notifications repeat for every flag change: only changes go on).
    links: Vec<PortLink>,
}

struct PortLink {
    port: crate::fib::PortId,
    ifindex: u32,
    up: bool,
}

impl Control {
    /// [`Control::start_with`] with the default timing.
    pub fn start(
        inputs: &ControlInputs,
        fib: FibHandle,
        port_ifindexes: &[u32],
    ) -> Result<ControlHandle, ControlError> {
        Self::start_with(inputs, fib, port_ifindexes, ControlOptions::default())
    }

    /// Subscribes to neighbour changes, creates the managed entries, dumps
    /// the kernel's tables and publishes a first FIB — all before returning,
    /// so errors surface here — then spawns the thread that follows changes.
    /// `port_ifindexes[i]` is the interface of port `i` (see
    /// [`super::port_ifindexes`]).
    pub fn start_with(
        inputs: &ControlInputs,
        fib: FibHandle,
        port_ifindexes: &[u32],
        options: ControlOptions,
    ) -> Result<ControlHandle, ControlError> {
        if port_ifindexes.len() != inputs.ports.len() {
            return Err(ControlError::PortCount {
                ports: inputs.ports.len(),
                ifindexes: port_ifindexes.len(),
            });
        }
        let bindings = inputs
            .ports
            .iter()
            .zip(port_ifindexes)
            .map(|(p, &ifindex)| PortBinding {
                port: p.id,
                ifindex,
                subnets: p.addresses.clone(),
            })
            .collect();
        let table = NeighborTable::new(bindings, &inputs.static_neighbors);
        let interfaces = inputs
            .interfaces
            .iter()
            .zip(port_ifindexes)
            .map(|(name, &ifindex)| PortInterface {
                name: name.clone(),
                ifindex,
            })
            .collect();
        let status = Arc::new(Mutex::new(ControlStatus::default()));
        let engine = Engine::new(inputs, fib.clone(), options.coalesce, SYSTEM_HOST)
            .map_err(ControlError::Routing)?;
        let (request_tx, requests) = mpsc::channel();
        let poll = Poll::new().map_err(ControlError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(ControlError::Poll)?);
        let mut control = Control {
            engine,
            requests,
            table,
            gateways: Vec::new(),
            owned: BTreeSet::new(),
            sub: NeighborSubscription::with_receive_queue(options.receive_queue)?,
            glean: GleanResolver::default(),
            gleaned: BTreeSet::new(),
            options,
            status: Arc::clone(&status),
            poll,
            timers: Timers::default(),
            operator: None,
            sockets: ProtocolSockets::new(FIRST_PROTOCOL_SOCKET, interfaces),
            links: inputs
                .ports
                .iter()
                .zip(port_ifindexes)
                .map(|(p, &ifindex)| PortLink {
                    port: p.id,
                    ifindex,
                    up: true,
                })
                .collect(),
        };
        let first_sync = |control: &mut Control| -> Result<(), ControlError> {
            control.register_neighbors().map_err(ControlError::Poll)?;
            // Static routes' gateways before the first table goes out (an
            // error here stops start-up: e.g. a kernel without managed
            // entries); later publications add what SPF and BGP bring.
            control.gateways = gateways::wanted(&control.table, control.engine.gateways());
            control.ensure_gateways()?;
            let dump = control.sub.dump()?;
            control.table.replace_all(&dump);
            // Ports whose link is down at start: the protocols hear it now.
            let links = control.sub.rtnl().dump_links()?;
            control.links_changed(links);
            control.rebuild()?;
            control.lock_status().neighbors = control.table.entries();
            Ok(())
        };
        if let Err(e) = first_sync(&mut control) {
            control.remove_owned();
            return Err(e);
        }

        let glean = control.glean.queue();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ferroute-control".into())
            .spawn(move || control.run(&thread_stop))
            .map_err(ControlError::Spawn)?;
        Ok(ControlHandle {
            stop,
            requests: Mutex::new(request_tx),
            waker,
            thread: Some(thread),
            status,
            fib,
            glean,
        })
    }

    fn register_neighbors(&mut self) -> std::io::Result<()> {
        let fd = self.sub.as_raw_fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), NEIGHBORS, Interest::READABLE)
    }

    /// The loop: wait for the next socket event or deadline, handle what
    /// came, run what is due; at stop, delete the managed entries it owns
    /// (and close the operator socket).
    fn run(mut self, stop: &AtomicBool) -> StopReport {
        let mut events = Events::with_capacity(64);
        let now = Instant::now();
        self.timers
            .set(TimerKey::ManagedRefresh, now + self.options.managed_refresh);
        self.timers
            .set(TimerKey::Glean, now + self.options.poll_interval);
        self.pump_protocols();
        while !stop.load(Ordering::Acquire) {
            self.timers
                .set_or_cancel(TimerKey::Engine, self.engine.deadline());
            let timeout = if self.sockets.has_pending_reads() {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .next()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.record_error(&e);
                    // A poller that fails persistently must not spin.
                    std::thread::sleep(self.options.poll_interval);
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    NEIGHBORS => self.read_neighbors(),
                    WAKER => {}
                    OPERATOR => self.accept_operators(),
                    token if self.sockets.owns(token) => self.sockets.ready(
                        self.poll.registry(),
                        token,
                        event.is_readable() || event.is_read_closed() || event.is_error(),
                        event.is_writable() || event.is_error(),
                    ),
                    Token(t) => self.serve_operator(t - FIRST_CONNECTION),
                }
            }
            self.sockets.continue_reads(self.poll.registry());
            self.pump_protocols();
            self.serve_requests();
            let now = Instant::now();
            while let Some(key) = self.timers.pop_expired(now) {
                self.on_timer(key, now);
            }
            self.pump_protocols();
        }
        self.operator = None;
        self.remove_owned()
    }

    /// Carries out what the instances want done with their sockets and
    /// hands them what happened there, until both are quiet (bounded: the
    /// rest waits for the next turn).
    fn pump_protocols(&mut self) {
        for _ in 0..PROTOCOL_IO_ROUNDS {
            while let Some((key, io)) = self.engine.poll_io() {
                let registry = self.poll.registry();
                match io {
                    InstanceIo::Request(request) => self.sockets.request(registry, key, request),
                    InstanceIo::Transmit(transmit) => {
                        self.sockets.transmit(registry, key, transmit)
                    }
                }
            }
            let events = self.sockets.take_events();
            if events.is_empty() {
                return;
            }
            let now = Instant::now();
            for (key, event) in events {
                if let Err(e) = self.engine.handle_socket(key, now, event.as_event()) {
                    self.record_error(&e);
                }
            }
        }
    }

    fn on_timer(&mut self, key: TimerKey, now: Instant) {
        match key {
            TimerKey::Engine => {
                if let Some(version) = self.engine.poll(now) {
                    self.published(version);
                }
                if self.engine.poll_compacted() {
                    heap::release_free_heap();
                }
            }
            TimerKey::NeighborRebuild => {
                if let Err(e) = self.rebuild() {
                    self.record_error(&e);
                }
            }
            TimerKey::NeighborRead => self.read_neighbors(),
            TimerKey::ManagedRefresh => {
                self.timers
                    .set(TimerKey::ManagedRefresh, now + self.options.managed_refresh);
                if let Err(e) = self.ensure_gateways() {
                    self.record_error(&e);
                }
            }
            TimerKey::Glean => {
                self.timers
                    .set(TimerKey::Glean, now + self.options.poll_interval);
                self.resolve_gleaned(now);
            }
            TimerKey::Resubscribe => self.resubscribe(),
            TimerKey::Operator(id) => {
                if let Some((socket, _)) = &mut self.operator {
                    socket.close(id, self.poll.registry());
                }
            }
        }
    }

    /// Reads what the kernel announced (until the socket is empty: the
    /// poller reports edges); a change opens the coalescing window.
    fn read_neighbors(&mut self) {
        for _ in 0..NEIGHBOR_READS_PER_WAKE {
            match self.sub.poll(Duration::ZERO) {
                Ok(updates) if updates.is_empty() => return,
                Ok(updates) => self.neighbors_changed(updates),
                Err(e) => {
                    self.record_error(&e);
                    self.resubscribe();
                    return;
                }
            }
        }
        self.timers.set(TimerKey::NeighborRead, Instant::now());
    }

    fn neighbors_changed(&mut self, updates: Vec<NeighborUpdate>) {
        if self.apply(updates) {
            let at = Instant::now() + self.options.coalesce;
            self.timers.set_if_unset(TimerKey::NeighborRebuild, at);
        }
    }

    /// Replaces a failed subscription and re-reads the whole table. On
    /// failure it tries again one poll interval later.
    fn resubscribe(&mut self) {
        let fresh = NeighborSubscription::with_receive_queue(self.options.receive_queue)
            .and_then(|mut sub| sub.dump().map(|table| (sub, table)));
        match fresh {
            Ok((sub, table)) => {
                let old = self.sub.as_raw_fd();
                let _ = self.poll.registry().deregister(&mut SourceFd(&old));
                self.sub = sub;
                if let Err(e) = self.register_neighbors() {
                    self.record_error(&e);
                }
                self.neighbors_changed(vec![NeighborUpdate::Resync(table)]);
            }
            Err(e) => {
                self.record_error(&e);
                let at = Instant::now() + self.options.poll_interval;
                self.timers.set(TimerKey::Resubscribe, at);
            }
        }
    }

    /// `ferroute reload`: the routing inputs, then the static neighbours;
    /// the answer names the settings that wait for a restart (the daemon
    /// knows which: `not_applied`).
    fn reload(
        &mut self,
        inputs: &ControlInputs,
        not_applied: Vec<String>,
    ) -> Result<serde_json::Value, String> {
        let answer = self.engine.reload(inputs);
        // Instances the reload stopped lose their sockets (also when it
        // failed half-way: the engine says who runs).
        let alive = self.engine.instance_keys();
        self.sockets.retain_owners(self.poll.registry(), &alive);
        let mut answer = answer?;
        if let Some(version) = answer["fib_version"].as_u64() {
            self.published(version);
        }
        if self.table.set_statics(&inputs.static_neighbors) {
            if let Err(e) = self.rebuild() {
                self.record_error(&e);
            }
            answer["fib_version"] = self.lock_status().fib_version.into();
        }
        answer["not_applied"] = not_applied.into();
        Ok(answer)
    }

    /// Answers the requests other threads sent (never blocks).
    fn serve_requests(&mut self) {
        while let Ok(request) = self.requests.try_recv() {
            match request {
                Request::Show(what, reply) => {
                    let _ = reply.send(self.engine.show(&what));
                }
                Request::Reload(inputs, not_applied, reply) => {
                    let _ = reply.send(self.reload(&inputs, not_applied));
                }
                Request::Operators(socket, handler, reply) => {
                    let _ = reply.send(self.take_operators(*socket, handler));
                }
            }
        }
    }

    fn take_operators(
        &mut self,
        mut socket: OperatorSocket,
        handler: OperatorHandler,
    ) -> Result<(), String> {
        socket
            .register(self.poll.registry(), OPERATOR)
            .map_err(|e| format!("operator socket: {e}"))?;
        self.operator = Some((socket, handler));
        Ok(())
    }

    fn accept_operators(&mut self) {
        let Some((socket, _)) = &mut self.operator else {
            return;
        };
        let ids = socket.accept(self.poll.registry(), |id| Token(FIRST_CONNECTION + id));
        let until = Instant::now() + CONNECTION_TIMEOUT;
        for id in ids {
            self.timers.set(TimerKey::Operator(id), until);
            self.serve_operator(id);
        }
    }

    /// Reads or writes operator connection `id`; a complete request is
    /// answered here (`show`, `neighbors`, `reload`'s work) or by the
    /// daemon's handler (`stats`).
    fn serve_operator(&mut self, id: usize) {
        let Some((mut socket, mut handler)) = self.operator.take() else {
            return;
        };
        let mut state = socket.service(id, self.poll.registry());
        if let Service::Request(line) = state {
            let reply = self.answer_operator(line.trim(), &mut handler);
            state = socket.answer(id, self.poll.registry(), reply);
        }
        if state == Service::Closed {
            self.timers.cancel(TimerKey::Operator(id));
        }
        self.operator = Some((socket, handler));
    }

    fn answer_operator(
        &mut self,
        line: &str,
        handler: &mut OperatorHandler,
    ) -> Result<serde_json::Value, String> {
        if line == "neighbors" {
            let entries = self.table.entries();
            let lines = entries.iter().map(|e| e.to_string().into()).collect();
            return Ok(serde_json::Value::Array(lines));
        }
        if let Some(what) = line.strip_prefix("show ") {
            // The data plane's lists are the daemon's (handler's) to show.
            if what != "acl" && !what.starts_with("acl ") {
                return self.engine.show(what);
            }
        }
        if let Some(answer) = self.engine.act(line) {
            return answer; // a protocol's action (`bgp reset ...`)
        }
        match handler(line) {
            OperatorRequest::Answer(Ok(mut answer)) if line == "stats" => {
                // The data plane's counters are the handler's; the
                // sessions and route changes are the engine's.
                if let Ok(bgp) = self.engine.show("bgp summary") {
                    answer["bgp"] = bgp;
                }
                Ok(answer)
            }
            OperatorRequest::Answer(answer) => answer,
            OperatorRequest::Reload {
                inputs,
                not_applied,
                then,
            } => {
                let mut answer = self.reload(&inputs, not_applied)?;
                if let Some(then) = then {
                    answer["stages"] = then();
                }
                Ok(answer)
            }
        }
    }

    /// Hands the engine the ports whose link changed state.
    fn links_changed(&mut self, states: Vec<LinkState>) {
        let now = Instant::now();
        let mut changes = Vec::new();
        for state in states {
            for link in self.links.iter_mut().filter(|l| l.ifindex == state.ifindex) {
                if link.up != state.up {
                    link.up = state.up;
                    changes.push((link.port, state.up));
                }
            }
        }
        if !changes.is_empty() {
            self.lock_status().link_changes += changes.len() as u64;
        }
        for (port, up) in changes {
            self.engine.link_changed(now, port, up);
        }
    }

    /// Applies a batch of kernel updates; true when the FIB needs a rebuild.
    fn apply(&mut self, updates: Vec<NeighborUpdate>) -> bool {
        let mut changed = false;
        let (mut events, mut resyncs) = (0, 0);
        let mut links = Vec::new();
        for update in updates {
            changed |= match update {
                NeighborUpdate::Link(state) => {
                    links.push(state);
                    false
                }
                NeighborUpdate::Event(e) => {
                    events += 1;
                    self.table.apply(&e)
                }
                NeighborUpdate::Resync(table) => {
                    resyncs += 1;
                    self.table.replace_all(&table)
                }
            };
        }
        self.links_changed(links);
        if events + resyncs > 0 {
            let neighbors = self.table.entries();
            let mut status = self.lock_status();
            status.neighbor_events += events;
            status.resyncs += resyncs;
            status.neighbors = neighbors;
        }
        changed
    }

    fn record_error(&self, error: &dyn std::fmt::Display) {
        let mut status = self.lock_status();
        status.errors += 1;
        status.last_error = Some(error.to_string());
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, ControlStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
