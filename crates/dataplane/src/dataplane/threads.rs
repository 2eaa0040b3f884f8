//! Starting, pinning, watching and stopping worker threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::stats::{StatsSnapshot, WorkerStats};
use super::worker::Worker;
use crate::io::PacketIo;

/// Builds a worker inside its own thread (so per-thread state such as the
/// network namespace or the CPU pinning applies to the sockets it opens).
pub type WorkerFactory<I> = Box<dyn FnOnce() -> anyhow::Result<Worker<I>> + Send>;

/// Running workers.
pub struct Dataplane {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Vec<Arc<WorkerStats>>,
}

impl Dataplane {
    /// Starts one thread per factory, pinned to the given core when there is
    /// one. Returns once every worker is built, or the first error.
    pub fn start<I: PacketIo + 'static>(
        workers: Vec<(Option<usize>, WorkerFactory<I>)>,
    ) -> anyhow::Result<Dataplane> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut dp = Dataplane {
            stop: stop.clone(),
            threads: Vec::new(),
            stats: Vec::new(),
        };
        for (index, (core, factory)) in workers.into_iter().enumerate() {
            let (ready_tx, ready_rx) = mpsc::sync_channel(1);
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ferroute-w{index}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: core });
                    }
                    let mut worker = match factory() {
                        Ok(w) => w,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(worker.stats()));
                    worker.run(&stop);
                })?;
            dp.threads.push(thread);
            match ready_rx.recv() {
                Ok(Ok(stats)) => dp.stats.push(stats),
                Ok(Err(e)) => {
                    dp.shutdown();
                    return Err(e.context(format!("worker {index}")));
                }
                Err(_) => {
                    dp.shutdown();
                    anyhow::bail!("worker {index} died while starting");
                }
            }
        }
        Ok(dp)
    }

    /// Per-worker statistics handles.
    pub fn worker_stats(&self) -> &[Arc<WorkerStats>] {
        &self.stats
    }

    /// The sum over all workers.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut total = StatsSnapshot::default();
        for s in &self.stats {
            total.merge(&s.snapshot());
        }
        total
    }

    /// True while every worker thread is alive.
    pub fn healthy(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }

    /// Stops every worker and waits for it (their sockets close on the way out).
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.shutdown();
    }
}
