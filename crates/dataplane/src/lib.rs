//! ferroute's data plane: the FIB over the LPM, the sans-IO forwarding
//! pipeline, queueing, the packet backends (AF_XDP with its XDP program,
//! loopback, pcap), traffic generation and the worker loop. No routing
//! protocol, no configuration file: the layers above hand it tables.

#![forbid(unsafe_op_in_unsafe_fn)]

pub use ferroute_lpm as lpm;
pub use ferroute_wire as wire;

pub mod dataplane;
pub mod fib;
pub mod forward;
pub mod io;
pub mod qos;
pub mod traffic;

/// The shared test scaffolding, with the two-port FIB/forwarder/worker
/// set-up that needs this crate ([`testkit::rig`]).
#[doc(hidden)]
pub mod testkit {
    pub use ferroute_testkit::*;
    pub mod rig;
}
