//! ferroute's routing: the RIB, its publication into the data plane's FIB,
//! the protocol instances (sans-IO) and the table loaders they read. No
//! socket, no clock: the daemon's event loop hands both in.

#![forbid(unsafe_op_in_unsafe_fn)]

pub use ferroute_dataplane::{dataplane, fib};
pub use ferroute_lpm as lpm;
pub use ferroute_wire as wire;

pub mod control;
pub mod position;
pub mod tables;

#[doc(hidden)]
pub use ferroute_dataplane::testkit;
