//! The router set-ups the golden test replays captures through, as plain data:
//! ports, the default routes and the static neighbours. The same data renders
//! the TOML handed to `ferroute replay` and answers the predictor's questions
//! ("is this address the router's?", "where does this destination go?"), so
//! the configuration and the prediction cannot drift apart.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub type Mac = [u8; 6];

/// The ingress port of every replayed frame (index into [`Setup::ports`]).
pub const INGRESS: usize = 0;

#[derive(Debug, Clone)]
pub struct PortSpec {
    pub name: &'static str,
    pub mac: Mac,
    pub v4: Option<(Ipv4Addr, u8)>,
    pub v6: Option<(Ipv6Addr, u8)>,
    /// IP MTU (Ethernet header excluded).
    pub mtu: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct Neighbour {
    pub addr: IpAddr,
    pub mac: Mac,
    pub port: usize,
}

/// One router configuration.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Short label used in the summaries ("mtu1500", "mtu576", "mtu68").
    pub label: &'static str,
    pub ports: Vec<PortSpec>,
    /// Gateway of 0.0.0.0/0.
    pub v4_gateway: Ipv4Addr,
    /// Gateway of ::/0.
    pub v6_gateway: Ipv6Addr,
    pub neighbours: Vec<Neighbour>,
}

/// Where a unicast destination that is not the router's own goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Out of `port` to the neighbour with `mac`.
    Resolved { port: usize, mac: Mac },
    /// On a connected subnet but not a known neighbour.
    Unresolved,
    /// No route at all.
    None,
}

const P0_MAC: Mac = [0x02, 0, 0, 0, 0x00, 0x01];
const P1_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x01];
const P2_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x01];
const P1_PEER_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x02];
const P2_PEER_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x02];

fn p0() -> PortSpec {
    PortSpec {
        name: "p0",
        mac: P0_MAC,
        v4: Some((Ipv4Addr::new(192, 0, 2, 1), 24)),
        v6: Some(("2001:db8::1".parse().unwrap(), 64)),
        mtu: 1500,
    }
}

fn p1(mtu: u16) -> PortSpec {
    PortSpec {
        name: "p1",
        mac: P1_MAC,
        v4: Some((Ipv4Addr::new(203, 0, 113, 1), 24)),
        v6: Some(("2001:db8:1::1".parse().unwrap(), 64)),
        mtu,
    }
}

fn p1_neighbours() -> Vec<Neighbour> {
    vec![
        Neighbour {
            addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
            mac: P1_PEER_MAC,
            port: 1,
        },
        Neighbour {
            addr: IpAddr::V6("2001:db8:1::2".parse().unwrap()),
            mac: P1_PEER_MAC,
            port: 1,
        },
    ]
}

impl Setup {
    /// Two ports with Ethernet MTUs: everything routes out of p1.
    pub fn plain() -> Setup {
        Setup {
            label: "mtu1500",
            ports: vec![p0(), p1(1500)],
            v4_gateway: Ipv4Addr::new(203, 0, 113, 2),
            v6_gateway: "2001:db8:1::2".parse().unwrap(),
            neighbours: p1_neighbours(),
        }
    }

    /// Small egress MTUs: IPv4 routes out of p2 (MTU 576, fragmentation and
    /// frag-needed), IPv6 out of p1 (MTU 1280, packet-too-big).
    pub fn small_mtu() -> Setup {
        Setup::v4_via_p2("mtu576", 576)
    }

    /// The smallest IPv4 MTU (RFC 791: 68): nearly every IPv4 packet without
    /// DF is fragmented, including the ones carrying options, so the rule
    /// "later fragments carry only the copied options" meets real options.
    pub fn tiny_mtu() -> Setup {
        Setup::v4_via_p2("mtu68", 68)
    }

    fn v4_via_p2(label: &'static str, p2_mtu: u16) -> Setup {
        let mut neighbours = p1_neighbours();
        neighbours.push(Neighbour {
            addr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            mac: P2_PEER_MAC,
            port: 2,
        });
        Setup {
            label,
            ports: vec![
                p0(),
                p1(1280),
                PortSpec {
                    name: "p2",
                    mac: P2_MAC,
                    v4: Some((Ipv4Addr::new(198, 18, 0, 1), 24)),
                    v6: None,
                    mtu: p2_mtu,
                },
            ],
            v4_gateway: Ipv4Addr::new(198, 18, 0, 2),
            v6_gateway: "2001:db8:1::2".parse().unwrap(),
            neighbours,
        }
    }

    pub fn ingress(&self) -> &PortSpec {
        &self.ports[INGRESS]
    }

    /// One of the router's IPv4 addresses or a connected subnet's broadcast.
    pub fn is_local_v4(&self, dst: Ipv4Addr) -> bool {
        self.ports
            .iter()
            .filter_map(|p| p.v4)
            .any(|(addr, len)| dst == addr || (len < 31 && dst == v4_broadcast(addr, len)))
    }

    pub fn is_router_v6(&self, dst: Ipv6Addr) -> bool {
        self.ports
            .iter()
            .filter_map(|p| p.v6)
            .any(|(addr, _)| dst == addr)
    }

    /// The route of a destination that is not local.
    pub fn route(&self, dst: IpAddr) -> Route {
        if let Some(n) = self.neighbours.iter().find(|n| n.addr == dst) {
            return Route::Resolved {
                port: n.port,
                mac: n.mac,
            };
        }
        let connected = self.ports.iter().any(|p| match dst {
            IpAddr::V4(d) => p.v4.is_some_and(|(a, len)| same_v4_subnet(a, d, len)),
            IpAddr::V6(d) => p.v6.is_some_and(|(a, len)| same_v6_subnet(a, d, len)),
        });
        if connected {
            return Route::Unresolved;
        }
        let gateway = match dst {
            IpAddr::V4(_) => IpAddr::V4(self.v4_gateway),
            IpAddr::V6(_) => IpAddr::V6(self.v6_gateway),
        };
        match self.neighbours.iter().find(|n| n.addr == gateway) {
            Some(n) => Route::Resolved {
                port: n.port,
                mac: n.mac,
            },
            None => Route::None,
        }
    }

    /// The configuration file for `ferroute replay` (format of `src/config.rs`).
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        let id = self.ingress().v4.map(|(a, _)| a).unwrap();
        writeln!(t, "[router]\nid = \"{id}\"").unwrap();
        // The configuration's ceiling: a burst of a million errors is far
        // more than any capture provokes, so nothing is rate limited.
        writeln!(t, "icmp_rate = 1000000\nicmp_burst = 1000000\n").unwrap();
        for p in &self.ports {
            let mut addrs = Vec::new();
            if let Some((a, l)) = p.v4 {
                addrs.push(format!("\"{a}/{l}\""));
            }
            if let Some((a, l)) = p.v6 {
                addrs.push(format!("\"{a}/{l}\""));
            }
            writeln!(
                t,
                "[[port]]\nname = \"{}\"\nmac = \"{}\"\naddresses = [{}]\nmtu = {}\n",
                p.name,
                mac_str(&p.mac),
                addrs.join(", "),
                p.mtu
            )
            .unwrap();
        }
        writeln!(
            t,
            "[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"{}\"\n",
            self.v4_gateway
        )
        .unwrap();
        writeln!(
            t,
            "[[route]]\nprefix = \"::/0\"\nvia = \"{}\"\n",
            self.v6_gateway
        )
        .unwrap();
        for n in &self.neighbours {
            writeln!(
                t,
                "[[neighbor]]\naddress = \"{}\"\nmac = \"{}\"\nport = \"{}\"\n",
                n.addr,
                mac_str(&n.mac),
                self.ports[n.port].name
            )
            .unwrap();
        }
        t
    }
}

pub fn mac_str(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn v4_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

fn v4_broadcast(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) | !v4_mask(len))
}

fn same_v4_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let m = v4_mask(len);
    u32::from(a) & m == u32::from(b) & m
}

fn same_v6_subnet(a: Ipv6Addr, b: Ipv6Addr, len: u8) -> bool {
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    };
    u128::from(a) & m == u128::from(b) & m
}
