//! The two-port router every pipeline test and bench starts from:
//!
//! ```text
//!  host 192.0.2.10 ── p0 192.0.2.1/24, 2001:db8::1/64
//!                     p1 203.0.113.1/24, 2001:db8:1::1/64 ── gateway 203.0.113.2 ── 198.51.100.0/24
//! ```
//!
//! with its FIB, forwarder and a worker over the in-memory backend.

use std::net::Ipv4Addr;

use crate::dataplane::Worker;
use crate::fib::{
    build_static, ConnectedPort, Fib, FibHandle, NextHop, PortId, RouteTarget, StaticNeighbor,
    StaticRoute,
};
use crate::forward::{Emit, Forwarder, ForwarderConfig, Port, PortFeatures, Vlan};
use crate::io::LoopbackIo;
use crate::wire::MacAddr;

pub use super::frames::{GW_MAC, P0_MAC, P1_MAC};

/// The MAC of the VLAN sub-interface p3 of [`vlan_ports`] (p2 has p0's).
pub const P3_MAC: MacAddr = MacAddr([2, 0, 0, 0, 3, 1]);

/// p0 and p1, both families, MTU 1500.
pub fn ports() -> Vec<Port> {
    vec![
        Port {
            name: "p0".into(),
            mac: P0_MAC,
            mtu: 1500,
            ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ipv6: Some("2001:db8::1".parse().expect("address")),
            features: PortFeatures::default(),
            vlan: None,
        },
        Port {
            name: "p1".into(),
            mac: P1_MAC,
            mtu: 1500,
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 1)),
            ipv6: Some("2001:db8:1::1".parse().expect("address")),
            features: PortFeatures::default(),
            vlan: None,
        },
    ]
}

/// [`ports`] plus two VLAN sub-interfaces: p2 = VLAN 100 on p0
/// (100.64.0.1/24, 2001:db8:64::1/64, p0's MAC) and p3 = VLAN 200 on p1
/// (100.65.0.1/24, its own MAC [`P3_MAC`], MTU 1400).
pub fn vlan_ports() -> Vec<Port> {
    let mut ports = ports();
    ports.push(Port {
        name: "p0.100".into(),
        mac: P0_MAC,
        mtu: 1500,
        ipv4: Some(Ipv4Addr::new(100, 64, 0, 1)),
        ipv6: Some("2001:db8:64::1".parse().expect("address")),
        features: PortFeatures::default(),
        vlan: Some(Vlan { parent: 0, id: 100 }),
    });
    ports.push(Port {
        name: "p1.200".into(),
        mac: P3_MAC,
        mtu: 1400,
        ipv4: Some(Ipv4Addr::new(100, 65, 0, 1)),
        ipv6: None,
        features: PortFeatures::default(),
        vlan: Some(Vlan { parent: 1, id: 200 }),
    });
    ports
}

/// The connected prefixes of [`vlan_ports`].
pub fn vlan_connected() -> Vec<ConnectedPort> {
    let mut ports = connected();
    ports.push(ConnectedPort {
        id: 2,
        addresses: vec![
            "100.64.0.1/24".parse().expect("prefix"),
            "2001:db8:64::1/64".parse().expect("prefix"),
        ],
    });
    ports.push(ConnectedPort {
        id: 3,
        addresses: vec!["100.65.0.1/24".parse().expect("prefix")],
    });
    ports
}

/// The ports' connected prefixes.
pub fn connected() -> Vec<ConnectedPort> {
    let prefixes = |list: [&str; 2]| list.iter().map(|p| p.parse().expect("prefix")).collect();
    vec![
        ConnectedPort {
            id: 0,
            addresses: prefixes(["192.0.2.1/24", "2001:db8::1/64"]),
        },
        ConnectedPort {
            id: 1,
            addresses: prefixes(["203.0.113.1/24", "2001:db8:1::1/64"]),
        },
    ]
}

/// The connected prefixes plus `routes` (prefix, via) and static
/// `neighbors` (address, MAC, port).
pub fn static_fib(routes: &[(&str, &str)], neighbors: &[(&str, MacAddr, PortId)]) -> Fib {
    static_fib_on(&connected(), routes, neighbors)
}

/// [`static_fib`] over other ports' prefixes (e.g. [`vlan_connected`]).
pub fn static_fib_on(
    connected: &[ConnectedPort],
    routes: &[(&str, &str)],
    neighbors: &[(&str, MacAddr, PortId)],
) -> Fib {
    let routes: Vec<StaticRoute> = routes
        .iter()
        .map(|(prefix, via)| StaticRoute {
            prefix: prefix.parse().expect("prefix"),
            target: RouteTarget::Via(via.parse().expect("address")),
        })
        .collect();
    let neighbors: Vec<StaticNeighbor> = neighbors
        .iter()
        .map(|&(address, mac, port)| StaticNeighbor {
            address: address.parse().expect("address"),
            mac,
            port,
        })
        .collect();
    build_static(connected, &routes, &neighbors).expect("static FIB")
}

/// 198.51.100.0/24 via the gateway behind p1, whose MAC is known.
pub fn gateway_fib() -> Fib {
    static_fib(
        &[("198.51.100.0/24", "203.0.113.2")],
        &[("203.0.113.2", GW_MAC, 1)],
    )
}

/// A FIB with no routes yet and `count` next hops, all complete
/// adjacencies on p1 (MAC 02:00:00:01:00:i), for tables loaded from files.
pub fn adjacency_fib(count: u32) -> Fib {
    Fib::with_next_hops(
        (0..count)
            .map(|i| NextHop::Adjacency {
                port: 1,
                mac: MacAddr([2, 0, 0, 1, 0, i as u8]),
            })
            .collect(),
    )
}

pub fn forwarder(ports: Vec<Port>, icmp_rate: u32, icmp_burst: u32) -> Forwarder {
    Forwarder::new(ForwarderConfig {
        ports,
        icmp_rate,
        icmp_burst,
        accept_source_route: false,
        acls: Default::default(),
    })
}

/// A worker over the in-memory backend with both ports, `frames` frames
/// of its own and `reserve` more in the pool.
pub fn loopback_worker(
    fib: FibHandle,
    forwarder: Forwarder,
    frames: u32,
    reserve: u32,
) -> Worker<LoopbackIo> {
    let (io, pool) = LoopbackIo::new(2, frames, reserve);
    Worker::new(io, pool, forwarder, fib)
}

/// An [`Emit`] that refuses: for frames the pipeline must not answer.
pub struct NoEmit;

impl Emit for NoEmit {
    fn emit(&mut self, _: PortId, _: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        false
    }
}

/// The worker the benches time: both ports, ICMP errors at 1000/s (burst
/// 50), 4096 frames plus 256 in reserve, transmitted frames counted but not
/// kept.
pub fn bench_worker(fib: Fib) -> Worker<LoopbackIo> {
    let mut w = loopback_worker(FibHandle::new(fib), forwarder(ports(), 1000, 50), 4096, 256);
    w.io_mut().keep_transmitted = false;
    w
}
