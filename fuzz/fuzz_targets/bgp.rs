//! Fuzz target `bgp`: the BGP session's message parser and state machine
//! (`control::bgp::session`) over arbitrary bytes. The first byte picks:
//! * even: one message body of each kind is read (OPEN, UPDATE with and
//!   without 4-octet AS, ROUTE-REFRESH, NOTIFICATION): no panic; every
//!   announcement's prefixes are of its next hop's family; an UPDATE read
//!   with 4-octet AS numbers, written again and read back, gives the same
//!   announcements;
//!   every announcement also goes through the RFC 9234 rules for each role
//!   (a route kept from above carries OTC afterwards);
//! * odd: a session brought to Established (or left in OpenSent) is fed the
//!   rest in chunks: no panic, and every NOTIFICATION it sends is followed
//!   by closing that connection. Bit 2 of the first byte gives the session
//!   a role (peer, strict), so the peer's OPEN is checked for a pairing one.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ferroute::control::bgp::policy::{role, Role};
use ferroute::control::bgp::session::message::{self, Capabilities, Family, Notification, Open};
use ferroute::control::bgp::session::update::{parse_update, UpdateContext};
use ferroute::control::bgp::session::update_out::encode_announce;
use ferroute::control::bgp::session::{Session, SessionConfig, SessionOutput, SocketIds};
use ferroute::control::protocol::{SocketId, SocketRequest};
use libfuzzer_sys::fuzz_target;

fn messages(data: &[u8]) {
    let _ = Open::parse(data);
    let _ = message::parse_route_refresh(data);
    let _ = Notification::parse(data).describe();
    let _ = message::frame(data);
    for four_octet_as in [false, true] {
        let cx = UpdateContext {
            four_octet_as,
            ebgp: data.first().is_some_and(|b| b & 2 != 0),
            peer_as: 65001,
        };
        let Ok(u) = parse_update(data, &cx) else {
            continue;
        };
        for a in &u.announced {
            for role in Role::ALL {
                let mut attrs = a.attrs.clone();
                let kept = role::ingress(role, cx.peer_as, &mut attrs);
                if kept && matches!(role, Role::Customer | Role::Peer | Role::RsClient) {
                    assert!(attrs.otc.is_some(), "a route from above without OTC");
                }
                let _ = role::egress(role, 65000, &mut attrs);
            }
            assert!(a
                .prefixes
                .iter()
                .all(|p| p.addr().is_ipv4() == a.attrs.next_hop.is_ipv4()));
            if !four_octet_as {
                continue;
            }
            let mut out = Vec::new();
            encode_announce(&a.attrs, &a.prefixes, true, &mut out);
            let mut back = Vec::new();
            for m in &out {
                assert!(m.len() <= message::MAX_MESSAGE_LEN);
                let again = parse_update(&m[message::HEADER_LEN..], &cx).expect("own UPDATE");
                assert_eq!(again.announced.len(), 1);
                assert_eq!(again.announced[0].attrs, a.attrs);
                back.extend(again.announced[0].prefixes.iter().copied());
            }
            assert_eq!(back, a.prefixes);
        }
    }
}

fn session(data: &[u8], established: bool, with_role: bool) {
    let t0 = Instant::now();
    let config = SessionConfig {
        local_as: 65000,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        remote_as: 65001,
        remote: "192.0.2.2".parse().unwrap(),
        local: None,
        passive: false,
        hold_time: 90,
        connect_retry: Duration::from_secs(5),
        ttl: None,
        min_ttl: None,
        md5: None,
        families: Family::ALL.to_vec(),
        graceful_restart: true,
        role: with_role.then_some(Role::Peer),
        strict_role: with_role,
    };
    let mut s = Session::new(config, t0);
    let mut ids = SocketIds::new(1);
    s.start(t0, &mut ids);
    let local: SocketAddr = "192.0.2.1:40000".parse().unwrap();
    let remote: SocketAddr = "192.0.2.2:179".parse().unwrap();
    let socket = SocketId(1);
    s.connected(t0, socket, local, remote);
    if established {
        let open = Open {
            asn: 65001,
            hold_time: 90,
            router_id: Ipv4Addr::new(192, 0, 2, 2),
            capabilities: Capabilities {
                families: Family::ALL.to_vec(),
                multiprotocol: true,
                route_refresh: true,
                four_octet_as: Some(65001),
                graceful_restart: None,
                role: Some(Role::Peer as u8),
                role_conflict: false,
            },
        };
        s.received(t0, socket, &open.encode());
        s.received(t0, socket, &message::keepalive());
    }
    for (i, chunk) in data.chunks(97).enumerate() {
        s.received(t0 + Duration::from_millis(i as u64), socket, chunk);
    }
    s.timeout(t0 + Duration::from_secs(1000), &mut ids);
    let out: Vec<SessionOutput> = std::iter::from_fn(|| s.poll()).collect();
    for (i, o) in out.iter().enumerate() {
        if let SessionOutput::Send { socket, bytes } = o {
            if bytes[18] == message::NOTIFICATION {
                let close = SessionOutput::Socket(SocketRequest::Close { socket: *socket });
                assert!(out[i..].contains(&close), "NOTIFICATION without close");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        messages(rest);
    } else {
        session(rest, mode & 2 != 0, mode & 4 != 0);
    }
});
