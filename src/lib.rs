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
pub mod dataplane;
pub mod fib;
pub mod forward;
pub mod io;
pub mod lpm;
pub mod position;
pub mod qos;
pub mod replay;
pub mod tables;
#[doc(hidden)]
pub mod testkit;
pub mod traffic;
pub mod wire;
