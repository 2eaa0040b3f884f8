//! ferroute: a software IPv4/IPv6 router.
//!
//! The layers follow `ARCHITECTURE.md`: [`wire`] (packet views) and [`lpm`]
//! (longest-prefix match) at the bottom, [`fib`] over `lpm`, the sans-IO
//! [`forward`] pipeline over both, [`io`] backends beside them, and the
//! configuration and command line on top.

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod cli;
pub mod config;
pub mod control;
pub mod replay;

pub use ferroute_dataplane::{dataplane, fib, forward, io, qos, traffic};
pub use ferroute_lpm as lpm;
pub use ferroute_routing::{position, tables};
pub use ferroute_wire as wire;

#[doc(hidden)]
pub use ferroute_dataplane::testkit;
