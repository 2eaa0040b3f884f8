//! Workers: one per core, pinned, each owning queue q of every port and one
//! UMEM, running the batch loop of [`worker::Worker`] over any
//! [`PacketIo`](crate::io::PacketIo) backend.

mod frames;
pub mod report;
pub mod stats;
pub mod threads;
pub mod worker;

pub use stats::{StatsSnapshot, WorkerExtra, WorkerStats};
pub use threads::{Dataplane, WorkerFactory};
pub use worker::{Worker, RX_BATCH};

#[cfg(test)]
mod tests;
