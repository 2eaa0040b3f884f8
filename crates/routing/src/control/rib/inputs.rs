//! The configuration's routes as RIB routes: connected subnets, the
//! router's own addresses, neighbour host routes, static routes.
//!
//! Precedence among connected routes for one prefix (highest first): the
//! router's own address (and a subnet's directed broadcast), a neighbour's
//! host route, the subnet itself; the same order as
//! [`crate::fib::build_static`], so the RIB's FIB agrees with it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::route::{RibRoute, RouteSource, Via};
use crate::fib::{ConnectedPort, PortId, RouteTarget, StaticNeighbor, StaticRoute};

fn host_route(addr: IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::from(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::from(a)),
    }
}

fn connected(prefix: IpNet, via: Via) -> RibRoute {
    RibRoute {
        prefix,
        source: RouteSource::CONNECTED,
        metric: 0,
        paths: vec![via],
    }
}

/// Connected routes: each port's subnets (attached), a host route through
/// each resolved neighbour (so the fast path finds the adjacency in one
/// lookup), each own address and IPv4 directed broadcast (local).
pub fn connected_routes(ports: &[ConnectedPort], neighbors: &[StaticNeighbor]) -> Vec<RibRoute> {
    let mut by_prefix: BTreeMap<IpNet, RibRoute> = BTreeMap::new();
    for p in ports {
        for net in &p.addresses {
            let prefix = net.trunc();
            by_prefix.insert(prefix, connected(prefix, Via::Attached { port: p.id }));
        }
    }
    for n in neighbors {
        let prefix = host_route(n.address);
        by_prefix.insert(
            prefix,
            connected(
                prefix,
                Via::Gateway {
                    port: n.port,
                    gateway: n.address,
                },
            ),
        );
    }
    for p in ports {
        for net in &p.addresses {
            let own = host_route(net.addr());
            by_prefix.insert(own, connected(own, Via::Local));
            // A directed broadcast is for the host stack, never forwarded
            // (RFC 2644).
            if let IpNet::V4(v4) = net {
                if v4.prefix_len() < 31 {
                    let b = host_route(IpAddr::V4(v4.broadcast()));
                    by_prefix.insert(b, connected(b, Via::Local));
                }
            }
        }
    }
    by_prefix.into_values().collect()
}

/// The port whose connected subnets contain `address`.
pub fn connected_port(ports: &[ConnectedPort], address: IpAddr) -> Option<PortId> {
    ports
        .iter()
        .find(|p| p.addresses.iter().any(|n| n.trunc().contains(&address)))
        .map(|p| p.id)
}

/// Static routes: through a gateway on a connected subnet, or resolved
/// recursively when the gateway is further away.
pub fn static_routes(ports: &[ConnectedPort], routes: &[StaticRoute]) -> Vec<RibRoute> {
    routes
        .iter()
        .map(|r| RibRoute {
            prefix: r.prefix.trunc(),
            source: RouteSource::STATIC,
            metric: 0,
            paths: vec![match r.target {
                RouteTarget::Discard(action) => Via::Discard { action },
                RouteTarget::Via(via) => match connected_port(ports, via) {
                    Some(port) => Via::Gateway { port, gateway: via },
                    None => Via::Recursive { address: via },
                },
            }],
        })
        .collect()
}
