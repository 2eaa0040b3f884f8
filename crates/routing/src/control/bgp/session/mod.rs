//! BGP-4 sessions with live peers, sans IO: the messages
//! ([`message`], [`update`]) and one peer's state machine ([`fsm`]). The
//! speaker ([`super::speaker`]) owns one [`Session`] per configured peer,
//! hands it socket events and deadlines, and takes what it asks for.

pub mod fsm;
pub mod message;
pub mod update;
pub mod update_out;

#[cfg(test)]
mod collision_tests;
#[cfg(test)]
mod role_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

pub use fsm::{Negotiated, Session, SessionOutput, SessionStats, State};
pub use message::{Family, Notification};
pub use update::{Announcement, ParsedUpdate, UpdateContext};

use crate::control::bgp::policy::Role;
use crate::control::protocol::{Md5Key, SocketId};

/// One session's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    pub remote_as: u32,
    /// The peer's address (TCP port 179).
    pub remote: IpAddr,
    /// The address to connect from (`None`: the kernel's choice).
    pub local: Option<IpAddr>,
    /// Never connect; wait for the peer.
    pub passive: bool,
    /// Proposed hold time in seconds (0, or 3 and more).
    pub hold_time: u16,
    pub connect_retry: Duration,
    /// IP TTL of what the session sends (`None`: the system's).
    pub ttl: Option<u8>,
    /// The lowest TTL accepted from the peer (GTSM, RFC 5082).
    pub min_ttl: Option<u8>,
    /// TCP MD5 signature key (RFC 2385).
    pub md5: Option<Md5Key>,
    /// Families offered (multiprotocol capabilities).
    pub families: Vec<Family>,
    /// Act as graceful restart helper (RFC 4724): announce the capability
    /// and keep a restarting peer's routes.
    pub graceful_restart: bool,
    /// Our BGP role towards the peer (RFC 9234; eBGP only), announced in
    /// the Role capability and checked against the peer's.
    pub role: Option<Role>,
    /// Refuse a peer that announces no role (strict mode, §4.2).
    pub strict_role: bool,
}

impl SessionConfig {
    /// The peer is in another AS.
    pub fn ebgp(&self) -> bool {
        self.local_as != self.remote_as
    }
}

/// Numbers the connections an instance opens: ids from `first` up to
/// [`SocketId::ACCEPTED`], wrapping (two billion connections apart).
#[derive(Debug, Clone)]
pub struct SocketIds {
    first: u32,
    next: u32,
}

impl SocketIds {
    pub fn new(first: u32) -> Self {
        SocketIds { first, next: first }
    }

    pub fn allocate(&mut self) -> SocketId {
        let id = SocketId(self.next);
        self.next = if self.next + 1 >= SocketId::ACCEPTED {
            self.first
        } else {
            self.next + 1
        };
        id
    }
}
