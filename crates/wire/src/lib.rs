//! Zero-copy views and emitters of the headers the router reads and writes.
//!
//! Modelled on smoltcp's `wire`: a view wraps `T: AsRef<[u8]>`, `new_checked`
//! validates lengths once, and accessors then read fixed byte ranges without
//! copying. Nothing here knows about ports, tables or I/O.

pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod vlan;

pub use ethernet::{EthernetFrame, MacAddr};
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;

/// Why a header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: the buffer ends before the header or packet does")]
    Truncated,
    #[error("wrong IP version")]
    BadVersion,
    #[error("header length field too small")]
    BadHeaderLength,
    #[error("total/payload length inconsistent with the header")]
    BadTotalLength,
    #[error("malformed IPv4 option")]
    BadOption,
    #[error("malformed or overlong IPv6 extension-header chain")]
    BadExtensionHeader,
}
