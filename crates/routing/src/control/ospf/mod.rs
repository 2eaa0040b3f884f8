//! OSPFv2 (RFC 2328), area 0 only: the packet codec ([`wire`]), the
//! link-state database with aging ([`database`]), and the sans-IO speaker
//! (interfaces, neighbours, database exchange, flooding, origination) whose
//! router and network LSAs feed the link-state SPF of
//! [`crate::control::linkstate`].

pub mod database;
pub mod external;
pub mod instance;
pub mod interface;
pub mod neighbor;
mod plumbing;
pub mod routes;
mod show;
pub mod speaker;
mod spf_log;
pub mod v3;
pub mod wire;

pub use instance::{OspfConfig, OspfInterfaceConfig, REGISTRATION};

#[cfg(test)]
mod tests;
