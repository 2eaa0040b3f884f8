//! A fake network for BGP instances: the test plays the event loop
//! (sockets, streams, the clock, the RIB's side of route changes) for
//! every router.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde_json::Value;

use super::*;
use crate::control::protocol::frozen_clock;
use crate::control::rib::route::RibRoute;

/// One router: its instance, its ports and the routes it gave the RIB.
pub(super) struct Router {
    pub(super) bgp: BgpSpeaker,
    pub(super) ports: Vec<ProtocolPort>,
    pub(super) installed: BTreeMap<(IpNet, RouteSource), RibRoute>,
    pub(super) listening: bool,
}

impl Router {
    /// Next hops on its ports' subnets resolve (cost 0), nothing else.
    fn rib(&self) -> ResolveWith<impl Fn(IpAddr) -> Option<u32>> {
        let ports = self.ports.clone();
        ResolveWith(move |a: IpAddr| {
            ports
                .iter()
                .any(|p| p.addresses.iter().any(|n| n.contains(&a)))
                .then_some(0)
        })
    }

    pub(super) fn show(&mut self, now: Instant, command: &str) -> Option<Value> {
        let rib = self.rib();
        self.bgp
            .handle_command(now, command, &rib)
            .map(|r| r.unwrap())
    }

    /// An operator action (`bgp reset ...`); `None`: not BGP's.
    pub(super) fn act(&mut self, now: Instant, action: &str) -> Option<Result<Value, String>> {
        let rib = self.rib();
        self.bgp.handle_action(now, action, &rib)
    }

    pub(super) fn state(&mut self, now: Instant, peer: &str) -> String {
        let peers = self.show(now, "bgp peers").unwrap();
        let p = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["address"] == peer)
            .unwrap()
            .clone();
        p["state"].as_str().unwrap().to_string()
    }

    /// What the RIB would do with a route change (the parts BGP uses).
    pub(super) fn apply(&mut self, out: RouteOutput) {
        match out {
            RouteOutput::Update {
                source,
                prefix,
                route: Some(rt),
            } => {
                self.installed.insert((prefix, source), rt);
            }
            RouteOutput::Update {
                source,
                prefix,
                route: None,
            } => {
                self.installed.remove(&(prefix, source));
            }
            RouteOutput::ReplaceTable(table) => {
                self.installed.retain(|(_, s), _| *s != table.source);
                for r in &table.routes {
                    let route = RibRoute {
                        prefix: r.prefix,
                        source: table.source,
                        metric: r.metric,
                        paths: table.path_lists[r.paths as usize].clone(),
                    };
                    self.installed.insert((r.prefix, table.source), route);
                }
            }
            RouteOutput::Withdraw { sources, prefixes } => {
                for prefix in prefixes {
                    for source in sources {
                        self.installed.remove(&(prefix, *source));
                    }
                }
            }
            RouteOutput::ReplaceSource { .. } => panic!("BGP replaces tables, not sources"),
        }
    }

    pub(super) fn route(&self, prefix: &str, source: RouteSource) -> Option<&RibRoute> {
        self.installed.get(&(prefix.parse().unwrap(), source))
    }
}

/// Routers joined by fake TCP connections.
pub(super) struct Net {
    pub(super) routers: Vec<Router>,
    /// (router, socket) -> (router, socket) of the other end.
    pub(super) links: BTreeMap<(usize, SocketId), (usize, SocketId)>,
    pub(super) accepted: u32,
    pub(super) now: Instant,
    /// Bytes each (router, socket) sent since its last `Drained`, counted
    /// as the event loop counts them; [`Net::drain`] reports them.
    pub(super) handed: BTreeMap<(usize, SocketId), usize>,
}

pub(super) fn port(id: u16, addresses: &[&str]) -> ProtocolPort {
    let mut p = ProtocolPort::named(id as crate::fib::PortId, &format!("p{id}"));
    p.addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
    p
}

pub(super) fn peer(address: &str, remote_as: u32, local_as: u32, passive: bool) -> BgpPeerConfig {
    let mut p = BgpPeerConfig::new(address.parse().unwrap(), remote_as, local_as);
    p.passive = passive;
    p.import = Policy::All;
    p.export = Policy::All;
    // Changes go at once unless a test is about the interval.
    p.advertisement_interval = Duration::ZERO;
    p
}

pub(super) fn bgp_config(local_as: u32, peers: Vec<BgpPeerConfig>, connected: bool) -> BgpConfig {
    BgpConfig {
        local_as,
        always_compare_med: false,
        multipath: false,
        mrt: Vec::new(),
        tables: Vec::new(),
        peers,
        redistribute: if connected {
            vec![RouteSource::CONNECTED]
        } else {
            Vec::new()
        },
    }
}

/// R (AS 65000, redistributing static routes and, with `connected`, its
/// subnet; `interval` its advertisement interval towards E) and its eBGP
/// peer E (65001), established; `before_up` runs once R has decided,
/// before the session comes up.
pub(super) fn static_pair(
    interval: Duration,
    connected: bool,
    before_up: impl FnOnce(&mut Net, usize),
) -> (Net, usize, usize) {
    let mut net = Net::new();
    let mut to_e = peer("192.0.2.2", 65001, 65000, false);
    to_e.advertisement_interval = interval;
    let mut config = bgp_config(65000, vec![to_e], connected);
    config.redistribute.push(RouteSource::STATIC);
    let r = net.add("10.0.0.1", vec![port(0, &["192.0.2.1/24"])], config);
    let e = net.add(
        "10.0.0.2",
        vec![port(0, &["192.0.2.2/24"])],
        bgp_config(65001, vec![peer("192.0.2.1", 65000, 65001, true)], false),
    );
    net.settle();
    before_up(&mut net, r);
    net.advance(5);
    assert_eq!(net.routers[r].state(net.now, "192.0.2.2"), "established");
    (net, r, e)
}

impl Net {
    pub(super) fn new() -> Self {
        Net {
            routers: Vec::new(),
            links: BTreeMap::new(),
            accepted: SocketId::ACCEPTED,
            now: frozen_clock(),
            handed: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, id: &str, ports: Vec<ProtocolPort>, config: BgpConfig) -> usize {
        let pc = ProtocolConfig::new(id.parse().unwrap(), ports.clone()).with_section(NAME, config);
        let mut bgp = BgpSpeaker::new(None);
        bgp.reconfigure(self.now, &pc).unwrap();
        self.routers.push(Router {
            bgp,
            ports,
            installed: BTreeMap::new(),
            listening: false,
        });
        self.routers.len() - 1
    }

    pub(super) fn reconfigure(&mut self, r: usize, id: &str, config: BgpConfig) {
        let ports = self.routers[r].ports.clone();
        let pc = ProtocolConfig::new(id.parse().unwrap(), ports).with_section(NAME, config);
        self.routers[r].bgp.reconfigure(self.now, &pc).unwrap();
    }

    pub(super) fn owner(&self, a: IpAddr) -> Option<usize> {
        self.routers.iter().position(|r| {
            r.ports
                .iter()
                .any(|p| p.addresses.iter().any(|n| n.addr() == a))
        })
    }

    pub(super) fn event(&mut self, r: usize, event: SocketEvent<'_>) {
        let router = &mut self.routers[r];
        let ports = router.ports.clone();
        let rib = ResolveWith(move |a: IpAddr| {
            ports
                .iter()
                .any(|p| p.addresses.iter().any(|n| n.contains(&a)))
                .then_some(0)
        });
        router
            .bgp
            .handle_input(self.now, ProtocolInput::Socket(event), &rib)
            .unwrap();
    }

    /// Local address of router `r` towards `remote`.
    pub(super) fn local_towards(&self, r: usize, remote: IpAddr) -> IpAddr {
        self.routers[r]
            .ports
            .iter()
            .flat_map(|p| p.addresses.iter())
            .find(|n| n.contains(&remote))
            .unwrap()
            .addr()
    }

    /// Moves sockets, bytes, deadlines and routes until nothing moves.
    pub(super) fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for r in 0..self.routers.len() {
                let due = self.routers[r]
                    .bgp
                    .poll_timeout()
                    .is_some_and(|t| t <= self.now);
                if due {
                    let ports = self.routers[r].ports.clone();
                    let rib = ResolveWith(move |a: IpAddr| {
                        ports
                            .iter()
                            .any(|p| p.addresses.iter().any(|n| n.contains(&a)))
                            .then_some(0)
                    });
                    self.routers[r].bgp.handle_timeout(self.now, &rib);
                    moved = true;
                }
                // As the engine does: opens, then transmits, then closes.
                let requests: Vec<SocketRequest> =
                    std::iter::from_fn(|| self.routers[r].bgp.poll_socket_request()).collect();
                let (closes, opens): (Vec<_>, Vec<_>) = requests
                    .into_iter()
                    .partition(|q| matches!(q, SocketRequest::Close { .. }));
                moved |= !closes.is_empty() || !opens.is_empty();
                for req in opens {
                    self.request(r, req);
                }
                while let Some(t) = self.routers[r].bgp.poll_transmit() {
                    moved = true;
                    *self.handed.entry((r, t.socket)).or_default() += t.bytes.len();
                    if let Some(&(o, os)) = self.links.get(&(r, t.socket)) {
                        let bytes = &t.bytes;
                        self.event(o, SocketEvent::Stream { socket: os, bytes });
                    }
                }
                for req in closes {
                    self.request(r, req);
                }
                while let Some(out) = self.routers[r].bgp.poll_route() {
                    moved = true;
                    self.routers[r].apply(out);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never settled");
    }

    pub(super) fn request(&mut self, r: usize, req: SocketRequest) {
        match req {
            SocketRequest::TcpListen { .. } => self.routers[r].listening = true,
            // No keys or TTLs in the fake network.
            SocketRequest::TcpListenPeers { .. } => {}
            SocketRequest::TcpConnect { socket, remote, .. } => {
                let target = self
                    .owner(remote.ip())
                    .filter(|&o| self.routers[o].listening);
                let Some(o) = target else {
                    return self.event(
                        r,
                        SocketEvent::Closed {
                            socket,
                            error: Some("refused"),
                        },
                    );
                };
                let local =
                    SocketAddr::new(self.local_towards(r, remote.ip()), 40000 + socket.0 as u16);
                let theirs = SocketId(self.accepted);
                self.accepted += 1;
                self.links.insert((r, socket), (o, theirs));
                self.links.insert((o, theirs), (r, socket));
                let listener = LISTENERS[usize::from(remote.is_ipv6())];
                self.event(
                    o,
                    SocketEvent::Accepted {
                        listener,
                        socket: theirs,
                        local: remote,
                        remote: local,
                    },
                );
                self.event(
                    r,
                    SocketEvent::Connected {
                        socket,
                        local,
                        remote,
                    },
                );
            }
            SocketRequest::Close { socket } => {
                if let Some((o, os)) = self.links.remove(&(r, socket)) {
                    self.links.remove(&(o, os));
                    self.event(
                        o,
                        SocketEvent::Closed {
                            socket: os,
                            error: None,
                        },
                    );
                }
            }
            SocketRequest::RawIpv4 { .. } | SocketRequest::RawIpv6 { .. } => {
                panic!("BGP asked for a raw socket")
            }
        }
    }

    /// As the event loop does once its queue is written: `Drained` for
    /// each of router `r`'s sockets that was handed more than
    /// [`STREAM_BUFFER_HIGH`](crate::control::protocol::STREAM_BUFFER_HIGH)
    /// bytes since its last one; the largest such count (0: none).
    pub(super) fn drain(&mut self, r: usize) -> usize {
        let high = crate::control::protocol::STREAM_BUFFER_HIGH;
        let full: Vec<(SocketId, usize)> = self
            .handed
            .iter()
            .filter(|(&(o, _), &n)| o == r && n > high)
            .map(|(&(_, s), &n)| (s, n))
            .collect();
        for &(socket, _) in &full {
            self.handed.remove(&(r, socket));
            self.event(r, SocketEvent::Drained { socket });
        }
        full.iter().map(|&(_, n)| n).max().unwrap_or(0)
    }

    pub(super) fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.settle();
    }
}

/// An UPDATE body-and-header from raw attributes and IPv4 NLRI.
pub(super) fn raw_update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut m = crate::control::bgp::session::message::header(
        crate::control::bgp::session::message::UPDATE,
        4 + attrs.len() + nlri.len(),
    );
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

impl Net {
    /// Router `r`'s end of its connection with router `o`.
    pub(super) fn socket_between(&self, r: usize, o: usize) -> SocketId {
        *self
            .links
            .iter()
            .find(|(&(a, _), &(b, _))| a == r && b == o)
            .map(|((_, s), _)| s)
            .unwrap()
    }

    /// `bytes` arrive at router `r` on its connection with router `o`.
    pub(super) fn stream_from(&mut self, r: usize, o: usize, bytes: &[u8]) {
        let socket = self.socket_between(r, o);
        self.event(r, SocketEvent::Stream { socket, bytes });
        self.settle();
    }
}
