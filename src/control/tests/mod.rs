//! Engine tests that build their inputs from configuration files (the
//! configuration is the daemon's, above the routing crate).

mod engine;
mod engine_bgp;
