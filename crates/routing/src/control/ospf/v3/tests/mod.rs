//! OSPFv3 over the shared speaker, sans IO, on the OSPFv2 tests' [`Lab`]:
//! adjacencies (p2p, and a LAN with DR/BDR), what is originated, link-local
//! flooding scope and unknown LS types (§4.8), and SPF's IPv6 routes with
//! link-local next hops.

mod adjacency;
mod beyond;
mod flooding;
mod instance;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use ipnet::Ipv6Net;

use crate::control::linkstate::{spf, SpfResult};
use crate::control::ospf::interface::{InterfaceConfig, NetworkType, V3Link};
use crate::control::ospf::tests::{rid, Lab};
use crate::control::ospf::wire::Authentication;
use crate::control::rib::route::Via;

/// Router `n`'s link-local address on port `port`.
fn link_local(n: u8, port: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, u16::from(n), port)
}

/// An OSPFv3 interface of router `n` on port `port` with global prefixes.
fn iface(
    n: u8,
    port: u16,
    prefixes: &[&str],
    network: NetworkType,
    priority: u8,
) -> InterfaceConfig {
    InterfaceConfig {
        port,
        name: format!("p{port}"),
        address: ipnet::Ipv4Net::default(),
        network,
        cost: 10,
        hello_interval: 10,
        dead_interval: 40,
        priority,
        retransmit_interval: 5,
        mtu: 1500,
        authentication: Authentication::Null,
        v3: Some(V3Link {
            interface_id: u32::from(port) + 1,
            link_local: link_local(n, port),
            prefixes: prefixes
                .iter()
                .map(|p| p.parse::<Ipv6Net>().unwrap())
                .collect(),
        }),
    }
}

/// Adds OSPFv3 router `n` with interfaces (prefixes, network, priority)
/// on ports 0, 1, ...
fn router(lab: &mut Lab, n: u8, interfaces: &[(&[&str], NetworkType, u8)]) -> usize {
    let configs = interfaces
        .iter()
        .enumerate()
        .map(|(port, &(prefixes, network, priority))| {
            iface(n, port as u16, prefixes, network, priority)
        })
        .collect();
    lab.add_v3(rid(n), configs)
}

/// SPF as speaker `s` runs it over its v3 database.
fn spf_of(lab: &Lab, s: usize) -> SpfResult {
    let sp = &lab.speakers[s];
    let lsdb = super::routes::to_linkstate(sp, lab.now);
    let names: Vec<String> = (0..4).map(|p| format!("p{p}")).collect();
    spf::run(&lsdb, sp.router_id(), |n| {
        names.iter().position(|x| x == n).map(|i| i as u16)
    })
}

/// The first hops of the route to `prefix` in `result`, if it has one.
fn hops(result: &SpfResult, prefix: &str) -> Option<Vec<Via>> {
    let p: ipnet::IpNet = prefix.parse().unwrap();
    result
        .routes()
        .iter()
        .find(|r| r.prefix == p)
        .map(|r| r.paths.clone())
}

/// A first hop through router `n`'s link-local address on `port`
/// (theirs), leaving by our port `ours`.
fn via(ours: u16, n: u8, port: u16) -> Via {
    Via::Gateway {
        port: ours,
        gateway: IpAddr::V6(link_local(n, port)),
    }
}

fn lab() -> Lab {
    Lab::new(Instant::now())
}
