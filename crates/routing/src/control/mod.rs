//! The routing side of the control plane, without I/O: the RIB, the
//! engine that drives the protocol instances, the sans-IO protocol
//! interface and the protocols. The daemon's event loop (crate `ferroute`)
//! owns their sockets, files and clock.

use crate::fib::{ConnectedPort, StaticNeighbor, StaticRoute};
use protocol::ProtocolConfig;
use rib::route::AdminDistances;

pub mod bgp;
pub mod engine;
pub mod hash;
pub mod linkstate;
pub mod ospf;
pub mod prefix_map;
pub mod protocol;
pub mod queue;
pub mod rib;
pub mod sorted_map;

/// What the control plane needs of the configuration, as plain values:
/// the configuration layer builds it (`Config::control_inputs`), and
/// nothing in `control` reads the configuration itself.
#[derive(Debug, Clone)]
pub struct ControlInputs {
    /// Every port's id (its index) and addresses, in port order.
    pub ports: Vec<ConnectedPort>,
    /// Every port's interface, in port order.
    pub interfaces: Vec<String>,
    pub static_routes: Vec<StaticRoute>,
    pub static_neighbors: Vec<StaticNeighbor>,
    pub distances: AdminDistances,
    /// The router id, the port names and each configured protocol's section.
    pub protocols: ProtocolConfig,
}
