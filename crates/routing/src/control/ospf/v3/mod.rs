//! OSPFv3 (RFC 5340) for IPv6: its packet and LSA formats ([`wire`]) over
//! the OSPFv2 speaker's state machines (`ospf::speaker` with
//! [`Version::V3`]), its SPF input ([`routes`]) and its `[ospfv3]`
//! instance ([`instance`]).
//!
//! [`Version::V3`]: super::wire::Version

pub mod instance;
pub mod routes;
pub mod wire;

#[cfg(test)]
mod tests;
