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

mod event_loop;
mod handle;
pub mod heap;
pub mod kernel;
pub mod offline;
pub use ferroute_routing::control::{
    bgp, engine, hash, linkstate, ospf, protocol, rib, ControlInputs,
};
pub mod operator;

pub use event_loop::{Control, SYSTEM_HOST};
pub use handle::ControlHandle;
pub use kernel::gateways::ManagedEntry;

use std::net::IpAddr;
use std::time::Duration;

use crate::fib::FibError;
use kernel::neighbor::NeighborEntry;
use kernel::netlink::{NetlinkError, Rtnl};

/// Timing of the control loop.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// How often the glean queue is looked at (workers push to it without
    /// a system call, so nothing wakes the loop for it), and how long a
    /// failed neighbour subscription waits before it is tried again.
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
            receive_queue: kernel::subscription::DEFAULT_RECEIVE_QUEUE,
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
    #[error("event loop: {0}")]
    Poll(std::io::Error),
    #[error("cannot spawn the control thread: {0}")]
    Spawn(std::io::Error),
    #[error("the control thread panicked")]
    Panicked,
}

/// The interface index of every configured port, in port order.
pub fn port_ifindexes(inputs: &ControlInputs) -> Result<Vec<u32>, ControlError> {
    let mut rtnl = Rtnl::open()?;
    inputs
        .interfaces
        .iter()
        .zip(&inputs.protocols.ports)
        .map(|(interface, port)| {
            rtnl.link_by_name(interface)
                .map(|l| l.ifindex)
                .map_err(|source| ControlError::Port {
                    port: port.name.clone(),
                    interface: interface.clone(),
                    source,
                })
        })
        .collect()
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
    /// Ports whose link went down or came back up (carrier), as handed to
    /// the protocols.
    pub link_changes: u64,
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

#[cfg(test)]
mod tests;
