//! `[[bgp.peer]]`: one live session's settings.

use std::net::IpAddr;
use std::time::Duration;

use crate::control::bgp::session::{Family, SessionConfig};

/// What a peer's routes may do: all pass or none (named policies: later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    All,
    None,
}

/// One configured neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeerConfig {
    pub address: IpAddr,
    pub remote_as: u32,
    /// Connect from this address (default: the kernel's choice).
    pub local_address: Option<IpAddr>,
    /// Wait for the peer to connect.
    pub passive: bool,
    /// Proposed hold time, seconds (default 90).
    pub hold_time: u16,
    /// Seconds between connection attempts (default 5).
    pub connect_retry: Duration,
    /// The TTL of what is sent to an eBGP peer not directly connected
    /// (default: 1 for eBGP, the system's for iBGP).
    pub multihop: Option<u8>,
    /// Default: `all` for iBGP; eBGP needs it said (RFC 8212).
    pub import: Policy,
    pub export: Policy,
    /// Graceful restart helper (RFC 4724; default on): a peer that
    /// announced it keeps its routes while it restarts.
    pub graceful_restart: bool,
    /// Minimum route advertisement interval (RFC 4271 §9.2.1.1): rounds of
    /// announcements at least this far apart; withdrawals are not held.
    /// Default [`EBGP_ADVERTISEMENT_INTERVAL`] for eBGP, none for iBGP.
    pub advertisement_interval: Duration,
}

/// The default minimum advertisement interval towards eBGP peers: short,
/// as FRR's (0) and BIRD's (none) are, rather than RFC 4271's suggested
/// 30 s, yet enough to batch a flapping prefix.
pub const EBGP_ADVERTISEMENT_INTERVAL: Duration = Duration::from_secs(1);

impl BgpPeerConfig {
    /// A peer with the defaults (tests, and the configuration layer's
    /// starting point).
    pub fn new(address: IpAddr, remote_as: u32, local_as: u32) -> Self {
        let default = if remote_as == local_as {
            Policy::All
        } else {
            Policy::None
        };
        BgpPeerConfig {
            address,
            remote_as,
            local_address: None,
            passive: false,
            hold_time: 90,
            connect_retry: Duration::from_secs(5),
            multihop: None,
            import: default,
            export: default,
            graceful_restart: true,
            advertisement_interval: if remote_as == local_as {
                Duration::ZERO
            } else {
                EBGP_ADVERTISEMENT_INTERVAL
            },
        }
    }

    pub(super) fn session(&self, local_as: u32, router_id: std::net::Ipv4Addr) -> SessionConfig {
        let ebgp = self.remote_as != local_as;
        SessionConfig {
            local_as,
            router_id,
            remote_as: self.remote_as,
            remote: self.address,
            local: self.local_address,
            passive: self.passive,
            hold_time: self.hold_time,
            connect_retry: self.connect_retry,
            ttl: match (ebgp, self.multihop) {
                (_, Some(ttl)) => Some(ttl),
                (true, None) => Some(1),
                (false, None) => None,
            },
            families: Family::ALL.to_vec(),
            graceful_restart: self.graceful_restart,
        }
    }
}
