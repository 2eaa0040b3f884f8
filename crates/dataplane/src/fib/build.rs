//! Builds a FIB from connected subnets, static routes and static neighbours.
//!
//! Each neighbour becomes a host route with a complete adjacency (as VPP's
//! adjacency per neighbour does), so the fast path needs one lookup and no
//! second ARP/ND table probe.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Discard, Fib, NextHop, PortId};
use crate::lpm::NextHopId;
use crate::wire::MacAddr;

/// A port's addresses (each gives a connected subnet and a local host route).
#[derive(Debug, Clone)]
pub struct ConnectedPort {
    pub id: PortId,
    pub addresses: Vec<IpNet>,
}

#[derive(Debug, Clone, Copy)]
pub struct StaticRoute {
    pub prefix: IpNet,
    pub target: RouteTarget,
}

/// Where a static route sends its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    /// Through this gateway.
    Via(IpAddr),
    /// Nowhere: dropped, with or without an ICMP error.
    Discard(Discard),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticNeighbor {
    pub address: IpAddr,
    pub mac: MacAddr,
    pub port: PortId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    #[error("route {prefix}: next hop {via} is not on a connected subnet of any port")]
    ViaNotConnected { prefix: IpNet, via: IpAddr },
}

struct Builder {
    fib: Fib,
    ids: HashMap<NextHop, NextHopId>,
}

impl Builder {
    fn id(&mut self, nh: NextHop) -> NextHopId {
        if let Some(&id) = self.ids.get(&nh) {
            return id;
        }
        let id = self.fib.add_next_hop(nh);
        self.ids.insert(nh, id);
        id
    }

    fn install(&mut self, prefix: IpNet, nh: NextHop) {
        let id = self.id(nh);
        match prefix {
            IpNet::V4(p) => {
                self.fib.v4.insert(p, id);
            }
            IpNet::V6(p) => {
                self.fib.v6.insert(p, id);
            }
        }
    }
}

fn host_route(addr: IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::from(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::from(a)),
    }
}

/// Builds the FIB. Precedence, lowest first (a later install of the same
/// prefix wins): static routes, connected subnets, neighbour host routes,
/// the router's own addresses.
pub fn build_static(
    ports: &[ConnectedPort],
    routes: &[StaticRoute],
    neighbors: &[StaticNeighbor],
) -> Result<Fib, FibError> {
    let mut b = Builder {
        fib: Fib::default(),
        ids: HashMap::new(),
    };
    let connected_port = |addr: IpAddr| -> Option<PortId> {
        ports
            .iter()
            .find(|p| p.addresses.iter().any(|n| n.trunc().contains(&addr)))
            .map(|p| p.id)
    };
    let neighbor = |addr: IpAddr| neighbors.iter().find(|n| n.address == addr);

    for r in routes {
        let via = match r.target {
            RouteTarget::Via(via) => via,
            RouteTarget::Discard(action) => {
                b.install(r.prefix.trunc(), NextHop::Discard(action));
                continue;
            }
        };
        let nh = match neighbor(via) {
            Some(n) => NextHop::Adjacency {
                port: n.port,
                mac: n.mac,
            },
            None => match connected_port(via) {
                Some(port) => NextHop::Unresolved { port, gateway: via },
                None => {
                    return Err(FibError::ViaNotConnected {
                        prefix: r.prefix,
                        via,
                    })
                }
            },
        };
        b.install(r.prefix.trunc(), nh);
    }
    for p in ports {
        for net in &p.addresses {
            b.install(net.trunc(), NextHop::Glean { port: p.id });
        }
    }
    for n in neighbors {
        b.install(
            host_route(n.address),
            NextHop::Adjacency {
                port: n.port,
                mac: n.mac,
            },
        );
    }
    for p in ports {
        for net in &p.addresses {
            b.install(host_route(net.addr()), NextHop::Local);
            // A directed broadcast to a connected subnet is for the host stack,
            // never forwarded (RFC 2644).
            if let IpNet::V4(v4) = net {
                if v4.prefix_len() < 31 {
                    b.install(host_route(IpAddr::V4(v4.broadcast())), NextHop::Local);
                }
            }
        }
    }
    Ok(b.fib)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, last])
    }

    fn sample() -> Fib {
        let ports = vec![
            ConnectedPort {
                id: 0,
                addresses: vec![
                    "192.0.2.1/24".parse().unwrap(),
                    "2001:db8::1/64".parse().unwrap(),
                ],
            },
            ConnectedPort {
                id: 1,
                addresses: vec!["203.0.113.1/24".parse().unwrap()],
            },
        ];
        let routes = vec![
            StaticRoute {
                prefix: "198.51.100.0/24".parse().unwrap(),
                target: RouteTarget::Via("203.0.113.2".parse().unwrap()),
            },
            StaticRoute {
                prefix: "10.0.0.0/8".parse().unwrap(),
                target: RouteTarget::Via("203.0.113.9".parse().unwrap()),
            },
        ];
        let neighbors = vec![StaticNeighbor {
            address: "203.0.113.2".parse().unwrap(),
            mac: mac(2),
            port: 1,
        }];
        build_static(&ports, &routes, &neighbors).unwrap()
    }

    #[test]
    fn routes_resolve_as_expected() {
        let fib = sample();
        let v4 = |s: &str| fib.lookup_v4(s.parse().unwrap()).copied();
        assert_eq!(
            v4("198.51.100.77"),
            Some(NextHop::Adjacency {
                port: 1,
                mac: mac(2)
            })
        );
        assert_eq!(
            v4("10.1.1.1"),
            Some(NextHop::Unresolved {
                port: 1,
                gateway: "203.0.113.9".parse().unwrap()
            })
        );
        assert_eq!(
            v4("203.0.113.2"),
            Some(NextHop::Adjacency {
                port: 1,
                mac: mac(2)
            })
        );
        assert_eq!(v4("203.0.113.3"), Some(NextHop::Glean { port: 1 }));
        assert_eq!(v4("203.0.113.1"), Some(NextHop::Local));
        assert_eq!(v4("203.0.113.255"), Some(NextHop::Local));
        assert_eq!(v4("8.8.8.8"), None);
        let v6 = fib.lookup_v6("2001:db8::1".parse().unwrap()).copied();
        assert_eq!(v6, Some(NextHop::Local));
        let v6 = fib.lookup_v6("2001:db8::5".parse().unwrap()).copied();
        assert_eq!(v6, Some(NextHop::Glean { port: 0 }));
        // Next hops are shared, not duplicated per prefix.
        assert_eq!(fib.groups().len(), 5);
    }

    #[test]
    fn via_off_link_is_an_error() {
        let err = build_static(
            &[],
            &[StaticRoute {
                prefix: "10.0.0.0/8".parse().unwrap(),
                target: RouteTarget::Via("1.2.3.4".parse().unwrap()),
            }],
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("1.2.3.4"));
    }

    #[test]
    fn publish_swaps_atomically() {
        let h = FibHandleTest::new();
        let before = h.0.load();
        let v = h.0.publish(sample());
        assert_eq!(v, before.version + 1);
        assert_eq!(h.0.load().version, v);
        // The old snapshot stays valid for its reader.
        assert!(before.lookup_v4("198.51.100.1".parse().unwrap()).is_none());
    }

    struct FibHandleTest(super::super::FibHandle);
    impl FibHandleTest {
        fn new() -> Self {
            FibHandleTest(super::super::FibHandle::new(Fib::default()))
        }
    }
}
