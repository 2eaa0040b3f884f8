//! BGP roles (RFC 9234): the Role capability's values, which pairs of
//! roles agree, and the ONLY_TO_CUSTOMER (OTC) rules that stop route leaks
//! on import (§5 ingress) and keep routes valley-free on export (§5
//! egress). A role is always *ours* towards one neighbour, as in the
//! capability we send ("customer": we are the customer, the neighbour is
//! our provider).

use serde::Serialize;

use crate::control::bgp::attrs::PathAttrs;

/// Our role towards one eBGP neighbour (RFC 9234 §4.1 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Provider = 0,
    RsServer = 1,
    RsClient = 2,
    Customer = 3,
    Peer = 4,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Provider,
        Role::RsServer,
        Role::RsClient,
        Role::Customer,
        Role::Peer,
    ];

    /// The capability's value; `None` for an unassigned one.
    pub fn from_value(v: u8) -> Option<Role> {
        Role::ALL.into_iter().find(|r| *r as u8 == v)
    }

    /// The configuration's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::RsServer => "rs-server",
            Role::RsClient => "rs-client",
            Role::Customer => "customer",
            Role::Peer => "peer",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The role the neighbour must announce for the pair to agree (§4.2).
    pub fn expected_remote(self) -> Role {
        match self {
            Role::Provider => Role::Customer,
            Role::Customer => Role::Provider,
            Role::RsServer => Role::RsClient,
            Role::RsClient => Role::RsServer,
            Role::Peer => Role::Peer,
        }
    }

    /// The neighbour is below us (a customer, or a route server's client):
    /// everything may go to it.
    fn neighbour_is_downstream(self) -> bool {
        matches!(self, Role::Provider | Role::RsServer)
    }
}

/// Whether a route with `attrs` received from a neighbour at `remote_as`,
/// towards which we have `role`, may be used (RFC 9234 §5 ingress). An
/// OTC it lacks is added where the rules say so; `false` is a route leak
/// (ineligible).
pub fn ingress(role: Role, remote_as: u32, attrs: &mut PathAttrs) -> bool {
    match (role, attrs.otc) {
        // From a customer or a route server's client, OTC means a leak.
        (Role::Provider | Role::RsServer, Some(_)) => false,
        // From a lateral peer, only its own OTC is fine.
        (Role::Peer, Some(otc)) => otc == remote_as,
        // From a provider, a peer or a route server: marked as such.
        (Role::Customer | Role::Peer | Role::RsClient, None) => {
            attrs.otc = Some(remote_as);
            true
        }
        (Role::Customer | Role::RsClient, Some(_)) => true,
        (Role::Provider | Role::RsServer, None) => true,
    }
}

/// Whether a route with `attrs` may be sent to a neighbour towards which
/// we have `role` (RFC 9234 §5 egress), with the OTC our AS adds where it
/// is missing. A route that carries OTC goes only down, to customers and
/// route server clients: what keeps providers' and peers' routes away from
/// other providers and peers (valley-free).
pub fn egress(role: Role, local_as: u32, attrs: &mut PathAttrs) -> bool {
    if attrs.otc.is_some() && !role.neighbour_is_downstream() {
        return false;
    }
    if attrs.otc.is_none() && matches!(role, Role::Provider | Role::Peer | Role::RsServer) {
        attrs.otc = Some(local_as);
    }
    true
}
