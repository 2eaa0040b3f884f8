//! Instances' lives in the engine, with a protocol made for the test: the
//! order in which their socket wishes go out, events coming in, and reload
//! keeping a live instance or stopping it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};

use crate::control::engine::{MASS_CHANGE, SETTLE, SETTLING_CHANGES};
use serde_json::json;

use super::*;
use crate::control::protocol::{
    frozen_clock, BestRouteChange, Reconfigured, Registration, RibView, RouteOutput, SocketId,
    SourceFilter, TcpOptions,
};
use crate::control::rib::route::{RibRoute, RouteSource, Via};
use crate::control::ControlInputs;
use crate::fib::{Discard, FibHandle};

const NAME: &str = "echo";

/// Listens on configuration, echoes what a stream brings, closes after
/// "bye", installs discard routes on "route" (198.51.100.0/24), "route2"
/// (198.51.101.0/24), "table" and "tail" (see there), withdraws "table"
/// on "lose"; counts what happened
/// (shown as JSON).
#[derive(Default)]
struct Echo {
    configured: u32,
    accepted: u32,
    /// Best-route changes heard (it follows iBGP routes, and from its
    /// second configuration on static routes instead).
    changes: usize,
    actions: u32,
    compactions: u32,
    requests: VecDeque<SocketRequest>,
    transmits: VecDeque<Transmit>,
    routes: VecDeque<RouteOutput>,
}

impl Protocol for Echo {
    fn name(&self) -> &str {
        NAME
    }

    fn handle_input(
        &mut self,
        _: Instant,
        input: ProtocolInput<'_>,
        _: &dyn RibView,
    ) -> Result<(), String> {
        let ProtocolInput::Socket(event) = input else {
            return Err("no files".into());
        };
        match event {
            SocketEvent::Accepted { .. } => self.accepted += 1,
            SocketEvent::Stream { socket, bytes } => {
                self.transmits.push_back(Transmit {
                    socket,
                    destination: None,
                    bytes: bytes.to_vec(),
                });
                let one = match bytes {
                    b"route" => Some("198.51.100.0/24"),
                    b"route2" => Some("198.51.101.0/24"),
                    _ => None,
                };
                if let Some(prefix) = one {
                    let prefix = prefix.parse().unwrap();
                    self.routes.push_back(RouteOutput::Update {
                        source: RouteSource::EBGP,
                        prefix,
                        route: Some(discard_route(prefix)),
                    });
                }
                // A mass change (10.0.0.0/8 as /24s), its tail (11.0.0.0/12
                // as /24s), and the mass change lost (withdrawn).
                let more = match bytes {
                    b"table" => Some((0x0a00_0000u32, MASS_CHANGE, true)),
                    b"tail" => Some((0x0b00_0000, SETTLING_CHANGES, true)),
                    b"lose" => Some((0x0a00_0000, MASS_CHANGE, false)),
                    _ => None,
                };
                if let Some((base, n, announce)) = more {
                    for i in 0..n as u32 {
                        let prefix = IpNet::V4(Ipv4Net::new((base | i << 8).into(), 24).unwrap());
                        self.routes.push_back(RouteOutput::Update {
                            source: RouteSource::EBGP,
                            prefix,
                            route: announce.then(|| discard_route(prefix)),
                        });
                    }
                }
                if bytes == b"bye" {
                    self.requests.push_back(SocketRequest::Close { socket });
                    // A new connection asked for after the close: it goes
                    // out before the transmit and the close.
                    self.requests.push_back(SocketRequest::TcpConnect {
                        socket: SocketId(9),
                        local: None,
                        remote: "192.0.2.9:179".parse().unwrap(),
                        options: TcpOptions::default(),
                    });
                }
            }
            _ => return Err(format!("unexpected {event:?}")),
        }
        Ok(())
    }

    fn handle_timeout(&mut self, _: Instant, _: &dyn RibView) {}

    fn handle_rib_changes(&mut self, _: Instant, changes: &[BestRouteChange], _: &dyn RibView) {
        self.changes += changes.len();
    }

    fn handle_command(
        &mut self,
        _: Instant,
        command: &str,
        _: &dyn RibView,
    ) -> Option<Result<serde_json::Value, String>> {
        (command == NAME).then(|| {
            Ok(json!({ NAME: {
                "configured": self.configured,
                "accepted": self.accepted,
                "changes": self.changes,
                "actions": self.actions,
                "compactions": self.compactions,
            } }))
        })
    }

    fn handle_action(
        &mut self,
        _: Instant,
        action: &str,
        _: &dyn RibView,
    ) -> Option<Result<serde_json::Value, String>> {
        (action == "echo count").then(|| {
            self.actions += 1;
            Ok(json!({ "actions": self.actions }))
        })
    }

    fn reconfigure(&mut self, _: Instant, _: &ProtocolConfig) -> Result<Reconfigured, String> {
        self.configured += 1;
        if self.configured == 1 {
            self.requests.push_back(SocketRequest::TcpListen {
                socket: SocketId(1),
                local: "0.0.0.0:179".parse().unwrap(),
                options: TcpOptions::default(),
                peers: Vec::new(),
            });
        }
        Ok(Reconfigured::default())
    }

    fn poll_socket_request(&mut self) -> Option<SocketRequest> {
        self.requests.pop_front()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn poll_route(&mut self) -> Option<RouteOutput> {
        self.routes.pop_front()
    }

    fn compact(&mut self) {
        self.compactions += 1;
    }

    fn subscription(&self) -> SourceFilter {
        use crate::control::rib::route::RouteSource;
        // First iBGP (nothing comes of it here), then static routes.
        if self.configured >= 2 {
            SourceFilter::only(&[RouteSource::STATIC])
        } else {
            SourceFilter::only(&[RouteSource::IBGP])
        }
    }
}

fn discard_route(prefix: IpNet) -> RibRoute {
    RibRoute {
        prefix,
        source: RouteSource::EBGP,
        metric: 0,
        paths: vec![Via::Discard {
            action: Discard::Blackhole,
        }],
    }
}

static ECHO: &[Registration] = &[Registration {
    name: NAME,
    title: "echo",
    section: "[echo]",
    sources: &[],
    reload: ReloadStyle::InPlace,
    create: |config| {
        config
            .has_section(NAME)
            .then(|| Box::new(Echo::default()) as Box<dyn Protocol>)
    },
}];

fn inputs(echo: bool) -> ControlInputs {
    let mut protocols = ProtocolConfig::new("192.0.2.1".parse().unwrap(), Vec::new());
    if echo {
        protocols = protocols.with_section(NAME, ());
    }
    ControlInputs {
        ports: Vec::new(),
        interfaces: Vec::new(),
        static_routes: Vec::new(),
        static_neighbors: Vec::new(),
        distances: Default::default(),
        protocols,
    }
}

fn engine() -> Engine {
    engine_with(true)
}

fn engine_with(echo: bool) -> Engine {
    let inputs = inputs(echo);
    let fib = FibHandle::new(crate::fib::Fib::default());
    let host = Host {
        clock: frozen_clock,
        read_file: |path| Err(format!("{}: no files here", path.display())),
    };
    Engine::with_registry(&inputs, fib, Duration::ZERO, host, ECHO).unwrap()
}

fn shown(engine: &mut Engine) -> serde_json::Value {
    engine.show(NAME).unwrap()[NAME].clone()
}

#[test]
fn socket_wishes_go_out_as_requests_then_transmits_then_closes() {
    let mut engine = engine();
    let key = engine.instance_keys()[0];
    let listen = engine.poll_io().unwrap();
    assert!(
        matches!(listen, (k, InstanceIo::Request(SocketRequest::TcpListen { .. })) if k == key)
    );
    assert_eq!(engine.poll_io(), None);

    let now = frozen_clock();
    let accepted = SocketEvent::Accepted {
        listener: SocketId(1),
        socket: SocketId(SocketId::ACCEPTED),
        local: "192.0.2.1:179".parse().unwrap(),
        remote: "192.0.2.9:40000".parse().unwrap(),
    };
    engine.handle_socket(key, now, accepted).unwrap();
    let peer = SocketId(SocketId::ACCEPTED);
    engine.handle_socket(key, now, stream(b"bye")).unwrap();
    let out: Vec<_> = std::iter::from_fn(|| engine.poll_io())
        .map(|(_, io)| io)
        .collect();
    assert!(
        matches!(&out[0], InstanceIo::Request(SocketRequest::TcpConnect { socket, .. }) if *socket == SocketId(9)),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], InstanceIo::Transmit(t) if t.bytes == b"bye" && t.socket == peer),
        "{out:?}"
    );
    assert_eq!(
        out[2],
        InstanceIo::Request(SocketRequest::Close { socket: peer })
    );
    assert_eq!(out.len(), 3);
    assert_eq!(shown(&mut engine)["accepted"], 1);

    // An event for an instance that no longer runs is dropped quietly; one
    // the instance rejects is an error.
    assert_eq!(engine.handle_socket(key + 1, now, stream(b"bye")), Ok(()));
    let drained = SocketEvent::Drained { socket: peer };
    assert!(engine.handle_socket(key, now, drained).is_err());
}

#[test]
fn reload_keeps_a_live_instance_and_stops_an_unconfigured_one() {
    let mut engine = engine();
    let key = engine.instance_keys();
    assert_eq!(key.len(), 1);
    while engine.poll_io().is_some() {}

    engine.reload(&inputs(true)).unwrap();
    assert_eq!(engine.instance_keys(), key, "the same instance runs on");
    assert_eq!(shown(&mut engine)["configured"], 2, "reconfigured in place");
    assert_eq!(engine.poll_io(), None, "no second listener");

    engine.reload(&inputs(false)).unwrap();
    assert!(engine.instance_keys().is_empty());
    engine.reload(&inputs(true)).unwrap();
    let fresh = engine.instance_keys();
    assert_eq!(fresh.len(), 1);
    assert_ne!(fresh, key, "a new instance, a new key");
    assert_eq!(shown(&mut engine)["configured"], 1);
}

#[test]
fn a_kept_instance_that_follows_new_sources_gets_their_changes() {
    use crate::fib::{RouteTarget, StaticRoute};
    let mut engine = engine();
    let with_static = |prefix: &str| {
        let mut i = inputs(true);
        i.static_routes = vec![StaticRoute {
            prefix: prefix.parse().unwrap(),
            target: RouteTarget::Discard(crate::fib::Discard::Blackhole),
        }];
        i
    };
    // Reconfigured in place: from now on it follows static routes.
    engine.reload(&with_static("198.51.100.0/24")).unwrap();
    let before = shown(&mut engine)["changes"].as_u64().unwrap();
    engine.reload(&with_static("203.0.113.0/24")).unwrap();
    // One static route went, another came.
    assert_eq!(shown(&mut engine)["changes"].as_u64().unwrap(), before + 2);
}

#[test]
fn actions_go_to_the_instance_that_claims_them() {
    let mut engine = engine();
    assert_eq!(engine.act("echo count"), Some(Ok(json!({ "actions": 1 }))));
    assert_eq!(shown(&mut engine)["actions"], 1);
    assert_eq!(engine.act("stats"), None, "nobody's");
    let mut without = engine_with(false);
    assert_eq!(
        without.act("echo count"),
        Some(Err("echo is not configured ([echo])".to_string()))
    );
}

/// Bytes from the accepted connection (the fake protocol's commands).
fn stream(bytes: &'static [u8]) -> SocketEvent<'static> {
    SocketEvent::Stream {
        socket: SocketId(SocketId::ACCEPTED),
        bytes,
    }
}

#[test]
fn routes_from_a_socket_open_the_publication_window() {
    let mut engine = engine();
    let key = engine.instance_keys()[0];
    let now = frozen_clock();
    engine.publish_now();
    let before = engine.publish_stats().publications;
    assert_eq!(engine.deadline(), None, "nothing to do");
    engine.handle_socket(key, now, stream(b"route")).unwrap();
    // The window (zero here) closes at once: the event loop's timer is due.
    assert_eq!(engine.deadline(), Some(now));
    assert!(engine.poll(now).is_some());
    assert_eq!(engine.publish_stats().publications, before + 1);
    assert_eq!(engine.deadline(), None);
}

#[test]
fn a_mass_change_is_compacted_once_it_has_settled() {
    let mut engine = engine();
    let key = engine.instance_keys()[0];
    let now = frozen_clock();
    engine.publish_now();
    engine.handle_socket(key, now, stream(b"route")).unwrap();
    assert!(engine.poll(now).is_some());
    assert_eq!(engine.deadline(), None, "one route is no mass change");

    engine.handle_socket(key, now, stream(b"table")).unwrap();
    assert!(engine.poll(now).is_some());
    assert!(engine.publish_stats().last_prefix_changes >= MASS_CHANGE);
    assert_eq!(engine.deadline(), Some(now + SETTLE));
    // Its tail postpones the compaction; churn does not.
    let tail = now + SETTLE / 2;
    engine.handle_socket(key, tail, stream(b"tail")).unwrap();
    assert!(engine.poll(tail).is_some());
    assert_eq!(engine.deadline(), Some(tail + SETTLE));
    let churn = tail + SETTLE / 2;
    engine.handle_socket(key, churn, stream(b"route2")).unwrap();
    assert!(engine.poll(churn).is_some());
    assert_eq!(engine.deadline(), Some(tail + SETTLE));

    let early = tail + SETTLE - Duration::from_millis(1);
    assert_eq!(engine.poll(early), None);
    assert!(!engine.poll_compacted());
    assert_eq!(shown(&mut engine)["compactions"], 0);
    let settled = tail + SETTLE;
    assert_eq!(engine.poll(settled), None);
    assert!(engine.poll_compacted());
    assert!(!engine.poll_compacted(), "said once");
    assert_eq!(shown(&mut engine)["compactions"], 1);
    assert_eq!(engine.deadline(), None);
    // The compacted RIB still holds every route.
    assert_eq!(engine.rib().len(), MASS_CHANGE + SETTLING_CHANGES + 2);
}

/// Losing a full table is a mass change too, though the FIB it publishes
/// (rebuilt from what is left) holds a few routes: the maps it emptied
/// are compacted and the heap handed back.
#[test]
fn a_mass_withdrawal_is_compacted() {
    let mut engine = engine();
    let key = engine.instance_keys()[0];
    let now = frozen_clock();
    engine.publish_now();
    engine.handle_socket(key, now, stream(b"table")).unwrap();
    assert!(engine.poll(now).is_some());
    let settled = now + SETTLE;
    assert_eq!(engine.poll(settled), None);
    assert!(engine.poll_compacted());

    engine.handle_socket(key, settled, stream(b"lose")).unwrap();
    assert!(engine.poll(settled).is_some());
    assert_eq!(engine.rib().len(), 0, "every route withdrawn");
    assert!(engine.publish_stats().last_prefix_changes >= MASS_CHANGE);
    assert_eq!(engine.deadline(), Some(settled + SETTLE));
    assert_eq!(engine.poll(settled + SETTLE), None);
    assert!(engine.poll_compacted());
    assert_eq!(shown(&mut engine)["compactions"], 2);
}
