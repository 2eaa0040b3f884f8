//! The control thread: keeps the FIB current as the kernel's neighbour tables
//! change.
//!
//! The kernel keeps owning ARP/ND and the router's own addresses (the XDP
//! program passes ARP, ND and frames for local addresses to it). This thread
//! reads the kernel's neighbour state over rtnetlink, asks the kernel to keep
//! every static route's gateway resolved (managed entries, Linux 5.16+),
//! merges what the kernel knows with the configuration's static neighbours
//! (static wins), and rebuilds and publishes the FIB when the resolved set
//! changes — at most once per burst of changes.
//!
//! Everything happens in the network namespace of the thread that calls
//! [`Control::start`]: its sockets are opened there, and the thread it spawns
//! inherits that namespace.

pub mod bgp;
pub mod gateways;
pub mod glean;
pub mod linkstate;
pub mod neighbor;
pub mod netlink;
pub mod reload;
pub mod rib;
pub mod route;
pub mod routing;
pub mod subscription;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::fib::{FibError, FibHandle};
use glean::{GleanQueue, GleanResolver};
use neighbor::{NeighborEntry, NeighborTable, PortBinding};
use netlink::{ManagedOutcome, NetlinkError, Rtnl};
use routing::Routing;
use subscription::{NeighborSubscription, NeighborUpdate};

/// Timing of the control loop.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// Longest wait for kernel notifications; also bounds how long
    /// [`ControlHandle::stop`] waits for the loop to notice.
    pub poll_interval: Duration,
    /// Changes arriving within this window after a first one share one FIB
    /// build.
    pub coalesce: Duration,
    /// How often managed entries are checked and re-created (after an
    /// operator's `ip neigh del`, or garbage collection of a long-failed one).
    pub managed_refresh: Duration,
    /// Requested receive queue of the notification socket.
    pub receive_queue: usize,
}

impl Default for ControlOptions {
    fn default() -> Self {
        ControlOptions {
            poll_interval: Duration::from_millis(100),
            coalesce: Duration::from_millis(50),
            managed_refresh: Duration::from_secs(10),
            receive_queue: subscription::DEFAULT_RECEIVE_QUEUE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("port {port} (interface {interface:?}): {source}")]
    Port {
        port: String,
        interface: String,
        #[source]
        source: NetlinkError,
    },
    #[error("{ports} ports are configured but {ifindexes} interface indexes were given")]
    PortCount { ports: usize, ifindexes: usize },
    #[error("gateway {gateway} on interface {ifindex}: {source}")]
    Managed {
        gateway: IpAddr,
        ifindex: u32,
        #[source]
        source: NetlinkError,
    },
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("FIB build: {0}")]
    Fib(#[from] FibError),
    #[error("routing inputs: {0}")]
    Routing(String),
    #[error("cannot spawn the control thread: {0}")]
    Spawn(std::io::Error),
    #[error("the control thread panicked")]
    Panicked,
}

/// The interface index of every configured port, in port order.
pub fn port_ifindexes(config: &Config) -> Result<Vec<u32>, ControlError> {
    let mut rtnl = Rtnl::open()?;
    config
        .ports
        .iter()
        .map(|p| {
            rtnl.link_by_name(&p.interface)
                .map(|l| l.ifindex)
                .map_err(|source| ControlError::Port {
                    port: p.name.clone(),
                    interface: p.interface.clone(),
                    source,
                })
        })
        .collect()
}

/// A managed entry this thread created or adopted (and removes at stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagedEntry {
    pub ifindex: u32,
    pub address: IpAddr,
}

/// What operators see of the control thread.
#[derive(Debug, Clone, Default)]
pub struct ControlStatus {
    /// Version of the last FIB this thread published.
    pub fib_version: u64,
    pub fib_builds: u64,
    /// Kernel notifications applied.
    pub neighbor_events: u64,
    /// Full re-dumps after the notification queue overflowed.
    pub resyncs: u64,
    /// The resolved neighbours as of the last change.
    pub neighbors: Vec<NeighborEntry>,
    /// Managed entries this thread owns.
    pub managed: Vec<ManagedEntry>,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// What [`ControlHandle::stop`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Managed entries deleted.
    pub removed: Vec<ManagedEntry>,
    /// Entries that could not be deleted, with why.
    pub failures: Vec<String>,
}

/// The control thread's state (lives on that thread).
pub struct Control {
    routing: Routing,
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
    /// What the data plane was started with (a reload cannot change it).
    restart_only: reload::RestartOnly,
}

/// The running control thread.
pub struct ControlHandle {
    stop: Arc<AtomicBool>,
    requests: Mutex<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<StopReport>>,
    status: Arc<Mutex<ControlStatus>>,
    fib: FibHandle,
    glean: GleanQueue,
}

impl Control {
    /// [`Control::start_with`] with the default timing.
    pub fn start(
        config: &Config,
        fib: FibHandle,
        port_ifindexes: &[u32],
    ) -> Result<ControlHandle, ControlError> {
        Self::start_with(config, fib, port_ifindexes, ControlOptions::default())
    }

    /// Subscribes to neighbour changes, creates the managed entries, dumps
    /// the kernel's tables and publishes a first FIB — all before returning,
    /// so errors surface here — then spawns the thread that follows changes.
    /// `port_ifindexes[i]` is the interface of port `i` (see
    /// [`port_ifindexes`]).
    pub fn start_with(
        config: &Config,
        fib: FibHandle,
        port_ifindexes: &[u32],
        options: ControlOptions,
    ) -> Result<ControlHandle, ControlError> {
        if port_ifindexes.len() != config.ports.len() {
            return Err(ControlError::PortCount {
                ports: config.ports.len(),
                ifindexes: port_ifindexes.len(),
            });
        }
        let ports = config.connected_ports();
        let bindings = ports
            .iter()
            .zip(port_ifindexes)
            .map(|(p, &ifindex)| PortBinding {
                port: p.id,
                ifindex,
                subnets: p.addresses.clone(),
            })
            .collect();
        let statics = config.static_neighbors();
        let table = NeighborTable::new(bindings, &statics);
        let status = Arc::new(Mutex::new(ControlStatus::default()));
        let routing =
            Routing::new(config, fib.clone(), options.coalesce).map_err(ControlError::Routing)?;
        let (request_tx, requests) = mpsc::channel();
        let mut control = Control {
            routing,
            requests,
            table,
            gateways: Vec::new(),
            owned: BTreeSet::new(),
            sub: NeighborSubscription::with_receive_queue(options.receive_queue)?,
            glean: GleanResolver::default(),
            gleaned: BTreeSet::new(),
            options,
            status: Arc::clone(&status),
            restart_only: reload::RestartOnly::of(config),
        };
        let first_sync = |control: &mut Control| -> Result<(), ControlError> {
            // Static routes' gateways before the first table goes out (an
            // error here stops start-up: e.g. a kernel without managed
            // entries); later publications add what SPF and BGP bring.
            control.gateways = gateways::wanted(&control.table, control.routing.gateways());
            control.ensure_gateways()?;
            let dump = control.sub.dump()?;
            control.table.replace_all(&dump);
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
            thread: Some(thread),
            status,
            fib,
            glean,
        })
    }

    /// Makes every gateway a managed entry and remembers the ones it made;
    /// one gateway's failure does not stop the others (the first is returned).
    fn ensure_gateways(&mut self) -> Result<(), ControlError> {
        let mut first_error = None;
        for i in 0..self.gateways.len() {
            let g = self.gateways[i];
            match self.sub.rtnl().ensure_managed(g.ifindex, g.address) {
                Ok(ManagedOutcome::Created | ManagedOutcome::Adopted) => {
                    self.owned.insert(g);
                }
                Ok(ManagedOutcome::AlreadyManaged | ManagedOutcome::LeftStatic(_)) => {}
                Err(source) => {
                    first_error.get_or_insert(ControlError::Managed {
                        gateway: g.address,
                        ifindex: g.ifindex,
                        source,
                    });
                }
            }
        }
        self.lock_status().managed = self.owned.iter().copied().collect();
        first_error.map_or(Ok(()), Err)
    }

    /// Asks the kernel to resolve the next hops workers found unresolved
    /// (on-link addresses only; the notification that follows rebuilds the FIB).
    fn resolve_gleaned(&mut self) {
        let table = &self.table;
        let wanted = self
            .glean
            .take(Instant::now(), self.gleaned.len(), |port, addr| {
                table.has_static(addr) || table.learned(addr, port).is_some()
            });
        for (_, addr) in wanted {
            let Some(ifindex) = self.table.connected_port(addr).map(|p| p.ifindex) else {
                continue;
            };
            let entry = ManagedEntry {
                ifindex,
                address: addr,
            };
            match self.sub.rtnl().ensure_managed(ifindex, addr) {
                Ok(ManagedOutcome::Created | ManagedOutcome::Adopted) => {
                    if self.owned.insert(entry) {
                        self.gleaned.insert(entry);
                    }
                }
                Ok(_) => {}
                Err(e) => self.record_error(&e),
            }
        }
    }

    /// Hands the current neighbours to the RIB and publishes what changed.
    fn rebuild(&mut self) -> Result<(), FibError> {
        self.routing.set_neighbors(self.table.resolved());
        let version = self.routing.publish_now();
        self.published(version);
        Ok(())
    }

    fn published(&mut self, version: u64) {
        {
            let mut status = self.lock_status();
            status.fib_version = version;
            status.fib_builds += 1;
        }
        self.refresh_gateways();
    }

    /// Follows the RIB's gateways after a publication: entries for new ones
    /// are made, the ones made for gateways no longer used are deleted
    /// (entries made for gleaning stay until stop).
    fn refresh_gateways(&mut self) {
        let wanted = gateways::wanted(&self.table, self.routing.gateways());
        if wanted == self.gateways {
            return;
        }
        let old = std::mem::replace(&mut self.gateways, wanted);
        for gone in old.iter().filter(|g| !self.gateways.contains(g)) {
            if self.gleaned.contains(gone) || !self.owned.remove(gone) {
                continue;
            }
            if let Err(e) = self.sub.rtnl().remove_managed(gone.ifindex, gone.address) {
                self.record_error(&e);
            }
        }
        if let Err(e) = self.ensure_gateways() {
            self.record_error(&e);
        }
    }

    /// `ferroute reload`: the routing inputs, then the static neighbours;
    /// the answer names the settings that wait for a restart.
    fn reload(&mut self, config: &Config) -> Result<serde_json::Value, String> {
        let mut answer = self.routing.reload(config)?;
        if let Some(version) = answer["fib_version"].as_u64() {
            self.published(version);
        }
        if self.table.set_statics(&config.static_neighbors()) {
            if let Err(e) = self.rebuild() {
                self.record_error(&e);
            }
            answer["fib_version"] = self.lock_status().fib_version.into();
        }
        answer["not_applied"] = self.restart_only.changed(config).into();
        Ok(answer)
    }

    /// Answers the operator requests that arrived (never blocks).
    fn serve_requests(&mut self) {
        while let Ok(request) = self.requests.try_recv() {
            let (answer, reply) = match request {
                Request::Show(what, reply) => (self.routing.show(&what), reply),
                Request::Reload(config, reply) => (self.reload(&config), reply),
            };
            let _ = reply.send(answer);
        }
    }

    /// Applies a batch of kernel updates; true when the FIB needs a rebuild.
    fn apply(&mut self, updates: Vec<NeighborUpdate>) -> bool {
        let mut changed = false;
        let (mut events, mut resyncs) = (0, 0);
        for update in updates {
            changed |= match update {
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

    /// The loop: wait for notifications (bounded), apply them, rebuild once
    /// the burst's coalescing window has passed, re-check managed entries
    /// now and then; at stop, delete the managed entries it owns.
    fn run(mut self, stop: &AtomicBool) -> StopReport {
        let mut dirty_since: Option<Instant> = None;
        let mut next_refresh = Instant::now() + self.options.managed_refresh;
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            let mut wait = self
                .options
                .poll_interval
                .min(next_refresh.saturating_duration_since(now));
            if let Some(since) = dirty_since {
                wait = wait.min((since + self.options.coalesce).saturating_duration_since(now));
            }
            if let Some(at) = self.routing.deadline() {
                wait = wait.min(at.saturating_duration_since(now));
            }
            match self.sub.poll(wait) {
                Ok(updates) => {
                    if self.apply(updates) && dirty_since.is_none() {
                        dirty_since = Some(Instant::now());
                    }
                }
                Err(e) => {
                    self.record_error(&e);
                    if self.resubscribe() {
                        dirty_since.get_or_insert_with(Instant::now);
                    }
                }
            }
            self.resolve_gleaned();
            self.serve_requests();
            let now = Instant::now();
            if let Some(version) = self.routing.poll(now) {
                self.published(version);
            }
            if dirty_since.is_some_and(|since| now >= since + self.options.coalesce) {
                dirty_since = None;
                if let Err(e) = self.rebuild() {
                    self.record_error(&e);
                }
            }
            if now >= next_refresh {
                next_refresh = now + self.options.managed_refresh;
                if let Err(e) = self.ensure_gateways() {
                    self.record_error(&e);
                }
            }
        }
        self.remove_owned()
    }

    /// Replaces a failed subscription and re-reads the whole table; true when
    /// the resolved set changed. On failure it waits one poll interval, so a
    /// persistent error does not spin.
    fn resubscribe(&mut self) -> bool {
        let fresh = NeighborSubscription::with_receive_queue(self.options.receive_queue)
            .and_then(|mut sub| sub.dump().map(|table| (sub, table)));
        match fresh {
            Ok((sub, table)) => {
                self.sub = sub;
                self.apply(vec![NeighborUpdate::Resync(table)])
            }
            Err(e) => {
                self.record_error(&e);
                std::thread::sleep(self.options.poll_interval);
                false
            }
        }
    }

    fn remove_owned(&mut self) -> StopReport {
        let mut report = StopReport::default();
        for g in std::mem::take(&mut self.owned) {
            match self.sub.rtnl().remove_managed(g.ifindex, g.address) {
                Ok(true) => report.removed.push(g),
                Ok(false) => {}
                Err(e) => report
                    .failures
                    .push(format!("{} on interface {}: {e}", g.address, g.ifindex)),
            }
        }
        self.lock_status().managed.clear();
        report
    }
}

/// An operator request for the control thread, with where to answer.
enum Request {
    Show(String, mpsc::Sender<Result<serde_json::Value, String>>),
    Reload(Box<Config>, mpsc::Sender<Result<serde_json::Value, String>>),
}

/// How long an operator request waits for the control thread (which looks
/// at requests at least once per poll interval; a reload of a big table
/// takes a few seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl ControlHandle {
    /// `show routes [PREFIX|ADDRESS]`, `show fib-stats`, `show linkstate`,
    /// `show bgp`: `what` is the part after `show`.
    pub fn show(&self, what: &str) -> Result<serde_json::Value, String> {
        self.ask(|reply| Request::Show(what.to_string(), reply))
    }

    /// Re-reads routes, distances, the LSDB and the BGP inputs from
    /// `config`; on error the old state stays and the error is returned.
    pub fn reload(&self, config: Config) -> Result<serde_json::Value, String> {
        self.ask(|reply| Request::Reload(Box::new(config), reply))
    }

    fn ask(
        &self,
        request: impl FnOnce(mpsc::Sender<Result<serde_json::Value, String>>) -> Request,
    ) -> Result<serde_json::Value, String> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(request(tx))
            .map_err(|_| "the control thread has stopped".to_string())?;
        rx.recv_timeout(REQUEST_TIMEOUT)
            .map_err(|_| "the control thread did not answer".to_string())?
    }

    /// Stops the thread (within one poll interval), waits for it, and
    /// deletes the managed entries it created or adopted.
    pub fn stop(mut self) -> Result<StopReport, ControlError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| ControlError::Panicked),
            None => Ok(StopReport::default()),
        }
    }

    /// The resolved neighbours (static and kernel-learned) as of the last
    /// kernel change.
    /// Where workers report unresolved next hops
    /// ([`Worker::set_glean_sink`](crate::dataplane::Worker::set_glean_sink)).
    pub fn glean_queue(&self) -> GleanQueue {
        Arc::clone(&self.glean)
    }

    pub fn neighbors(&self) -> Vec<NeighborEntry> {
        self.status().neighbors
    }

    /// Version of the FIB currently published.
    pub fn fib_version(&self) -> u64 {
        self.fib.load().version
    }

    pub fn status(&self) -> ControlStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// False once the thread has ended.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
