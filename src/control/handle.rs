//! What other threads hold of the control thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::kernel::glean::GleanQueue;
use super::kernel::neighbor::NeighborEntry;
use super::{ControlError, ControlStatus, StopReport};
use crate::config::Config;
use crate::fib::FibHandle;

/// The running control thread.
pub struct ControlHandle {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) requests: Mutex<mpsc::Sender<Request>>,
    pub(super) thread: Option<JoinHandle<StopReport>>,
    pub(super) status: Arc<Mutex<ControlStatus>>,
    pub(super) fib: FibHandle,
    pub(super) glean: GleanQueue,
}

/// An operator request for the control thread, with where to answer.
pub(super) enum Request {
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
