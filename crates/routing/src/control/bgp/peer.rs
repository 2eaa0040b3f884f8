//! A BGP neighbour as the decision process sees it.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::control::rib::route::RouteSource;

/// External (another AS) or internal (our AS) peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerKind {
    Ebgp,
    Ibgp,
}

impl PeerKind {
    pub fn source(self) -> RouteSource {
        match self {
            PeerKind::Ebgp => RouteSource::EBGP,
            PeerKind::Ibgp => RouteSource::IBGP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Ebgp => "ebgp",
            PeerKind::Ibgp => "ibgp",
        }
    }
}

/// One neighbour: the session's address (unique among peers), its AS and BGP
/// identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Peer {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub kind: PeerKind,
}

impl Peer {
    /// A peer whose kind follows from comparing its AS with ours.
    pub fn new(address: IpAddr, asn: u32, router_id: Ipv4Addr, local_as: u32) -> Self {
        let kind = if asn == local_as {
            PeerKind::Ibgp
        } else {
            PeerKind::Ebgp
        };
        Peer {
            address,
            asn,
            router_id,
            kind,
        }
    }
}

/// Index of a peer in a [`BgpRib`](super::BgpRib); stable while the RIB lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PeerId(pub u32);
