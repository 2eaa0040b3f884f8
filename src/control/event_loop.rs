//! The control thread's loop.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::engine::{Engine, Host};
use super::handle::{ControlHandle, Request};
use super::kernel::gateways::{self, ManagedEntry};
use super::kernel::glean::GleanResolver;
use super::kernel::neighbor::{NeighborTable, PortBinding};
use super::kernel::netlink::ManagedOutcome;
use super::kernel::subscription::{NeighborSubscription, NeighborUpdate};
use super::{reload, ControlError, ControlOptions, ControlStatus, StopReport};
use crate::config::Config;
use crate::fib::{FibError, FibHandle};
use crate::tables::read_maybe_gzip;

/// The real world for the [`Engine`]: the system clock and the file system.
pub const SYSTEM_HOST: Host = Host {
    clock: Instant::now,
    read_file: read_input_file,
};

/// An input file's contents, gunzipped if it is gzip.
fn read_input_file(path: &Path) -> Result<Vec<u8>, String> {
    read_maybe_gzip(path).map_err(|e| e.to_string())
}

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
    /// What the data plane was started with (a reload cannot change it).
    restart_only: reload::RestartOnly,
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
        let engine = Engine::new(config, fib.clone(), options.coalesce, SYSTEM_HOST)
            .map_err(ControlError::Routing)?;
        let (request_tx, requests) = mpsc::channel();
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
            restart_only: reload::RestartOnly::of(config),
        };
        let first_sync = |control: &mut Control| -> Result<(), ControlError> {
            // Static routes' gateways before the first table goes out (an
            // error here stops start-up: e.g. a kernel without managed
            // entries); later publications add what SPF and BGP bring.
            control.gateways = gateways::wanted(&control.table, control.engine.gateways());
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
        self.engine.set_neighbors(self.table.resolved());
        let version = self.engine.publish_now();
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
        let wanted = gateways::wanted(&self.table, self.engine.gateways());
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
        let mut answer = self.engine.reload(config)?;
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
                Request::Show(what, reply) => (self.engine.show(&what), reply),
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
            if let Some(at) = self.engine.deadline() {
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
            if let Some(version) = self.engine.poll(now) {
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
