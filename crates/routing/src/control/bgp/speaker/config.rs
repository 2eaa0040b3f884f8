//! `[[bgp.peer]]`: one live session's settings.

use std::net::IpAddr;
use std::time::Duration;

pub use crate::control::bgp::policy::Policy;
use crate::control::bgp::policy::Role;
use crate::control::bgp::session::{Family, SessionConfig};
use crate::control::protocol::Md5Key;

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
    /// Default: `all` for iBGP and for eBGP with a role; eBGP without a
    /// role needs it said (RFC 8212).
    pub import: Policy,
    pub export: Policy,
    /// Graceful restart helper (RFC 4724; default on): a peer that
    /// announced it keeps its routes while it restarts.
    pub graceful_restart: bool,
    /// TCP MD5 signatures (RFC 2385) with this key (`password`).
    pub password: Option<Md5Key>,
    /// GTSM (RFC 5082, `ttl_security`): send TTL 255 and accept only
    /// segments that arrive with at least 256 - hops, hops being
    /// `multihop` (default 1: directly connected, TTL 255).
    pub ttl_security: bool,
    /// Our role towards the peer (RFC 9234): announced, checked, and the
    /// ONLY_TO_CUSTOMER rules on both directions.
    pub role: Option<Role>,
    /// Refuse the peer if it announces no role.
    pub strict_role: bool,
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
            import: default.clone(),
            export: default,
            graceful_restart: true,
            password: None,
            ttl_security: false,
            role: None,
            strict_role: false,
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
            ttl: match (self.ttl_security, ebgp, self.multihop) {
                (true, _, _) => Some(255),
                (false, _, Some(ttl)) => Some(ttl),
                (false, true, None) => Some(1),
                (false, false, None) => None,
            },
            min_ttl: self
                .ttl_security
                .then(|| (256 - u16::from(self.multihop.unwrap_or(1))) as u8),
            md5: self.password.clone(),
            families: Family::ALL.to_vec(),
            graceful_restart: self.graceful_restart,
            role: self.role,
            strict_role: self.strict_role,
        }
    }
}
