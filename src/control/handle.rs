//! What other threads hold of the control thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::kernel::glean::GleanQueue;
use super::kernel::neighbor::NeighborEntry;
use super::operator::{OperatorHandler, OperatorSocket};
use super::ControlInputs;
use super::{ControlError, ControlStatus, StopReport};
use crate::fib::FibHandle;

/// The running control thread.
pub struct ControlHandle {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) requests: Mutex<mpsc::Sender<Request>>,
    /// Wakes the event loop for a request or stop.
    pub(super) waker: Arc<mio::Waker>,
    pub(super) thread: Option<JoinHandle<StopReport>>,
    pub(super) status: Arc<Mutex<ControlStatus>>,
    pub(super) fib: FibHandle,
    pub(super) glean: GleanQueue,
}

/// An operator request for the control thread, with where to answer.
pub(super) enum Request {
    Show(String, mpsc::Sender<Result<serde_json::Value, String>>),
    Reload(
        Box<ControlInputs>,
        Vec<String>,
        mpsc::Sender<Result<serde_json::Value, String>>,
    ),
    /// Serve this operator socket from now on.
    Operators(
        Box<OperatorSocket>,
        OperatorHandler,
        mpsc::Sender<Result<(), String>>,
    ),
}

/// How long a request waits for the control thread (woken for it; a
/// reload of a big table takes a few seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl ControlHandle {
    /// `show routes [PREFIX|ADDRESS]`, `show fib-stats`, `show linkstate`,
    /// `show bgp`: `what` is the part after `show`.
    pub fn show(&self, what: &str) -> Result<serde_json::Value, String> {
        self.ask(|reply| Request::Show(what.to_string(), reply))
    }

    /// Applies new routes, distances, static neighbours and protocol
    /// inputs (the LSDB, the BGP files are read again); on error the old
    /// state stays and the error is returned. `not_applied` (the settings
    /// that wait for a restart, which the daemon knows) goes into the answer.
    pub fn reload(
        &self,
        inputs: ControlInputs,
        not_applied: Vec<String>,
    ) -> Result<serde_json::Value, String> {
        self.ask(|reply| Request::Reload(Box::new(inputs), not_applied, reply))
    }

    /// Hands the operator socket to the control thread, which serves it
    /// from its event loop until it stops (and then removes the socket's
    /// file); `handler` answers what is not the control thread's own.
    pub fn serve_operators(
        &self,
        socket: OperatorSocket,
        handler: OperatorHandler,
    ) -> Result<(), String> {
        self.ask(|reply| Request::Operators(Box::new(socket), handler, reply))
    }

    fn ask<T>(
        &self,
        request: impl FnOnce(mpsc::Sender<Result<T, String>>) -> Request,
    ) -> Result<T, String> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(request(tx))
            .map_err(|_| "the control thread has stopped".to_string())?;
        self.waker
            .wake()
            .map_err(|e| format!("cannot wake the control thread: {e}"))?;
        rx.recv_timeout(REQUEST_TIMEOUT)
            .map_err(|_| "the control thread did not answer".to_string())?
    }

    /// Stops the thread (woken at once), waits for it, and
    /// deletes the managed entries it created or adopted.
    pub fn stop(mut self) -> Result<StopReport, ControlError> {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
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
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
