//! The routing state `ferroute run` publishes first, built without the
//! kernel or the network, for the commands that work offline
//! (`check-config`, `replay`).
//!
//! It is the daemon's own path, not an imitation of it: the same
//! [`Engine`] over the same [`Config::control_inputs`] (static routes, the
//! `[linkstate]` file, the `[bgp]` files), publishing into a
//! [`FibHandle`] that starts, as the daemon's does, from the static table.
//! What differs is only what the network would have added: the resolved
//! neighbours are the configured static ones (the daemon adds what the
//! kernel learns), and live sessions (`[[bgp.peer]]`, `[ospf]`,
//! `[ospfv3]`) are configured but never come up — the engine's socket
//! requests are not served — so they contribute no routes.

use std::sync::Arc;
use std::time::Duration;

use super::engine::Engine;
use super::SYSTEM_HOST;
use crate::config::Config;
use crate::fib::{Fib, FibError, FibHandle};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The static table cannot be built (a route that does not resolve).
    #[error(transparent)]
    Fib(#[from] FibError),
    /// A routing input file is unreadable or malformed (the message names
    /// the file and, where it can, the position).
    #[error("{0}")]
    Routing(String),
}

/// The engine after its first publication, and the handle it publishes to.
pub struct OfflineRouting {
    pub engine: Engine,
    pub fib: FibHandle,
}

impl OfflineRouting {
    /// Loads every routing input of `config`, lets the protocols settle,
    /// hands the engine the static neighbours and publishes the whole RIB.
    pub fn build(config: &Config) -> Result<Self, OfflineError> {
        let inputs = config.control_inputs();
        let fib = FibHandle::new(config.fib()?);
        // No coalescing: nothing else will publish after this one.
        let mut engine = Engine::new(&inputs, fib.clone(), Duration::ZERO, SYSTEM_HOST)
            .map_err(OfflineError::Routing)?;
        engine.set_neighbors(inputs.static_neighbors);
        engine.publish_now();
        Ok(OfflineRouting { engine, fib })
    }

    /// The published table.
    pub fn table(&self) -> Arc<Fib> {
        self.fib.load()
    }
}
