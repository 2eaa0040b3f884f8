//! Neighbour state machine and database exchange of one speaker, driven by
//! hand-made packets from a played neighbour on a point-to-point link:
//! negotiation both ways, the MTU check, duplicates, sequence mismatches,
//! requests and BadLSReq (§10.3, §10.6-10.8).

use std::time::{Duration, Instant};

use super::*;
use crate::control::ospf::wire::body::{DD_INIT, DD_MASTER, DD_MORE, OPTION_E};
use crate::control::ospf::wire::lsa::{build, LsaBody, LsaKey, LsaType};
use crate::control::ospf::wire::{Body, DbDescription, Hello, OspfPacket};

const OURS: u8 = 5;
pub(super) const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

pub(super) struct One {
    pub s: Speaker,
    pub now: Instant,
    pub peer: Ipv4Addr,
}

impl One {
    pub fn new(peer: u8) -> Self {
        let now = Instant::now();
        let s = Speaker::new(
            rid(OURS),
            Ipv4Addr::UNSPECIFIED,
            vec![iface(0, "10.0.0.1/30", NetworkType::PointToPoint, 1)],
            now,
        );
        One {
            s,
            now,
            peer: rid(peer),
        }
    }

    pub fn send(&mut self, kind: PacketType, body: impl FnOnce(&mut Vec<u8>)) {
        let bytes = packet(kind, self.peer, body);
        self.s
            .receive(self.now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    }

    pub fn hello(&mut self, sees_us: bool) {
        let neighbors = if sees_us {
            rid(OURS).octets().to_vec()
        } else {
            Vec::new()
        };
        let h = Hello {
            mask: Ipv4Addr::UNSPECIFIED,
            interface_id: 0,
            hello_interval: 10,
            options: u32::from(OPTION_E),
            priority: 1,
            dead_interval: 40,
            dr: Ipv4Addr::UNSPECIFIED,
            bdr: Ipv4Addr::UNSPECIFIED,
            neighbors: &neighbors,
        };
        self.send(PacketType::Hello, |o| h.emit(o));
    }

    pub fn dd(&mut self, mtu: u16, flags: u8, seq: u32, headers: &[&[u8]]) {
        self.send(PacketType::DbDescription, |o| {
            DbDescription::emit_fixed(mtu, u32::from(OPTION_E), flags, seq, o);
            for h in headers {
                o.extend_from_slice(&h[..20]);
            }
        });
    }

    pub fn state(&self) -> Option<NeighborState> {
        self.s.interfaces()[0]
            .neighbors
            .get(&self.peer)
            .map(|n| n.state)
    }

    /// What the speaker sent since the last call, hellos left out.
    pub fn sent(&mut self) -> Vec<Vec<u8>> {
        drain(&mut self.s)
            .into_iter()
            .map(|o| o.bytes)
            .filter(|b| b[1] != PacketType::Hello as u8)
            .collect()
    }
}

/// The (flags, sequence, header count) of a DD the speaker sent.
pub(super) fn dd_of(bytes: &[u8]) -> (u8, u32, usize) {
    let p = OspfPacket::new_checked(bytes).unwrap();
    match p.parse_body().unwrap() {
        Body::DbDescription(d) => (d.flags, d.sequence, d.headers.len()),
        other => panic!("not a DD: {other:?}"),
    }
}

/// A router LSA of router `n` with one stub.
pub(super) fn foreign_lsa(n: u8, seq: i32) -> Vec<u8> {
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(n),
        adv_router: rid(n),
    };
    let body = LsaBody::Router {
        flags: 0,
        links: vec![crate::control::ospf::wire::RouterLink {
            kind: crate::control::ospf::wire::RouterLinkType::Stub,
            id: Ipv4Addr::new(198, 51, 100, 0),
            data: Ipv4Addr::new(255, 255, 255, 0),
            metric: 1,
        }],
    };
    build(key, 1, OPTION_E, seq, &body)
}

#[test]
fn hellos_move_the_neighbour_through_init_to_exstart() {
    let mut one = One::new(9);
    one.sent();
    one.hello(false);
    assert_eq!(one.state(), Some(NeighborState::Init));
    assert!(one.sent().is_empty());
    one.hello(true);
    assert_eq!(one.state(), Some(NeighborState::ExStart));
    let sent = one.sent();
    assert_eq!(sent.len(), 1);
    let (flags, _, headers) = dd_of(&sent[0]);
    assert_eq!((flags, headers), (DD_INIT | DD_MORE | DD_MASTER, 0));
    // 1-WayReceived: it stops listing us.
    one.hello(false);
    assert_eq!(one.state(), Some(NeighborState::Init));
}

#[test]
fn higher_router_id_is_master_and_we_answer_as_slave_until_full() {
    let mut one = One::new(9);
    one.hello(true);
    one.sent();
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    assert_eq!(one.state(), Some(NeighborState::Exchange));
    let sent = one.sent();
    // Our one LSA (the router LSA), the master's sequence, no M, no MS.
    assert_eq!(dd_of(&sent[0]), (0, 1000, 1));
    // A duplicate of the master's packet is answered with the same bytes.
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    assert_eq!(one.state(), Some(NeighborState::Exchange));
    one.dd(1500, DD_MASTER, 1001, &[]);
    assert_eq!(one.state(), Some(NeighborState::Full));
    assert_eq!(dd_of(&one.sent()[1]), (0, 1001, 0));
}

#[test]
fn lower_router_id_makes_us_master_and_our_dd_is_retransmitted_until_answered() {
    let mut one = One::new(2);
    one.hello(true);
    let (_, seq, _) = dd_of(&one.sent()[0]);
    // Its own I|M|MS is ignored: we are master.
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 77, &[]);
    assert_eq!(one.state(), Some(NeighborState::ExStart));
    assert_eq!(one.s.counters()["DD: ignored in ExStart"], 1);
    // Unanswered, the DD goes again after RxmtInterval.
    one.now += Duration::from_secs(5);
    one.s.handle_timeout(one.now);
    assert_eq!(
        dd_of(&one.sent()[0]),
        (DD_INIT | DD_MORE | DD_MASTER, seq, 0)
    );
    // The slave answers with our sequence: Exchange; we describe our LSA.
    one.dd(1500, DD_MORE, seq, &[]);
    assert_eq!(one.state(), Some(NeighborState::Exchange));
    assert_eq!(dd_of(&one.sent()[0]), (DD_MASTER, seq + 1, 1));
    one.dd(1500, 0, seq + 1, &[]);
    assert_eq!(one.state(), Some(NeighborState::Full));
}

#[test]
fn a_dd_with_a_larger_mtu_is_refused() {
    let mut one = One::new(9);
    one.hello(true);
    one.dd(9000, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    assert_eq!(one.state(), Some(NeighborState::ExStart));
    assert_eq!(one.s.counters()["DD: MTU mismatch"], 1);
}

#[test]
fn an_out_of_sequence_dd_restarts_the_exchange() {
    let mut one = One::new(9);
    one.hello(true);
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    one.sent();
    one.dd(1500, DD_MASTER | DD_MORE, 1005, &[]);
    assert_eq!(one.state(), Some(NeighborState::ExStart));
    let (flags, _, _) = dd_of(&one.sent()[0]);
    assert_eq!(flags, DD_INIT | DD_MORE | DD_MASTER);
    // So does a DD in Full that is no duplicate.
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 2000, &[]);
    one.dd(1500, DD_MASTER, 2001, &[]);
    assert_eq!(one.state(), Some(NeighborState::Full));
    one.dd(1500, DD_MASTER, 2002, &[]);
    assert_eq!(one.state(), Some(NeighborState::ExStart));
}

#[test]
fn what_the_neighbour_describes_is_requested_then_loading_then_full() {
    let mut one = One::new(9);
    one.hello(true);
    let lsa = foreign_lsa(9, 0x8000_0003_u32 as i32);
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    one.dd(1500, DD_MASTER, 1001, &[&lsa]);
    assert_eq!(one.state(), Some(NeighborState::Loading));
    let sent = one.sent();
    let request = sent
        .iter()
        .find(|b| b[1] == PacketType::LsRequest as u8)
        .expect("a request");
    let p = OspfPacket::new_checked(&request[..]).unwrap();
    let Body::LsRequest(r) = p.parse_body().unwrap() else {
        unreachable!()
    };
    let keys: Vec<_> = r.iter().map(Result::unwrap).collect();
    assert_eq!(
        keys,
        vec![LsaKey {
            ls_type: LsaType::Router,
            ls_id: rid(9),
            adv_router: rid(9)
        }]
    );
    // Unanswered: asked again after RxmtInterval.
    one.now += Duration::from_secs(5);
    one.s.handle_timeout(one.now);
    assert!(one
        .sent()
        .iter()
        .any(|b| b[1] == PacketType::LsRequest as u8));
    // The update answers it: Full, the LSA held, acknowledged (delayed).
    one.send(PacketType::LsUpdate, |o| {
        o.extend_from_slice(&1u32.to_be_bytes());
        o.extend_from_slice(&lsa);
    });
    assert_eq!(one.state(), Some(NeighborState::Full));
    assert_eq!(one.s.database().len(), 2);
    one.now += Duration::from_secs(1);
    one.s.handle_timeout(one.now);
    let acks: Vec<_> = one
        .sent()
        .into_iter()
        .filter(|b| b[1] == PacketType::LsAck as u8)
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(&acks[0][24..44], &lsa[..20]);
}

#[test]
fn a_request_for_what_we_do_not_hold_is_bad_ls_req() {
    let mut one = One::new(9);
    one.hello(true);
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    one.dd(1500, DD_MASTER, 1001, &[]);
    assert_eq!(one.state(), Some(NeighborState::Full));
    one.send(PacketType::LsRequest, |o| {
        LsaKey {
            ls_type: LsaType::Router,
            ls_id: rid(77),
            adv_router: rid(77),
        }
        .emit_request(o)
    });
    assert_eq!(one.state(), Some(NeighborState::ExStart));
    assert_eq!(one.s.counters()["LSR: bad request"], 1);
    // A request for our own router LSA is answered with it.
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 3000, &[]);
    one.dd(1500, DD_MASTER, 3001, &[]);
    one.sent();
    one.send(PacketType::LsRequest, |o| {
        LsaKey {
            ls_type: LsaType::Router,
            ls_id: rid(OURS),
            adv_router: rid(OURS),
        }
        .emit_request(o)
    });
    let sent = one.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][1], PacketType::LsUpdate as u8);
}

#[test]
fn packets_from_strangers_or_other_areas_are_counted_and_dropped() {
    let mut one = One::new(9);
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    assert_eq!(one.s.counters()["from unknown neighbour"], 1);
    let bytes = wire::emit(PacketType::Hello, rid(9), Ipv4Addr::new(0, 0, 0, 1), |o| {
        o.extend_from_slice(&[0; 20])
    });
    one.s
        .receive(one.now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bytes);
    assert_eq!(one.s.counters()["wrong area"], 1);
    let mut bad = bytes.clone();
    bad[30] ^= 1;
    one.s.receive(one.now, 0, PEER_ADDR, ALL_SPF_ROUTERS, &bad);
    assert_eq!(one.s.counters()["bad checksum"], 1);
    let hello = packet(PacketType::Hello, rid(9), |o| o.extend_from_slice(&[0; 20]));
    one.s.receive(one.now, 0, PEER_ADDR, ALL_D_ROUTERS, &hello);
    assert_eq!(one.s.counters()["to AllDRouters, not DR"], 1);
    assert!(one.s.interfaces()[0].neighbors.is_empty());
}

#[test]
fn a_neighbour_on_two_links_reaches_full_on_both_whichever_link_answers() {
    // Routers 1 and 2 share a LAN and a point-to-point link: an LSA
    // flooded over one adjacency may answer the other's requests, which
    // must then finish loading too. (The simulated network's ordering did
    // not hit that case; the live test against BIRD did, once in three
    // runs, before receive_update finished such neighbours' loading.)
    for seed in 0..8u64 {
        let mut lab = Lab::new(Instant::now());
        let a = lab.router(1, &[("192.0.2.1/24", LAN, 1), ("10.0.12.1/30", P2P, 1)]);
        let b = lab.router(2, &[("192.0.2.2/24", LAN, 2), ("10.0.12.2/30", P2P, 1)]);
        lab.connect(&[(a, 0), (b, 0)]);
        lab.connect(&[(a, 1), (b, 1)]);
        // Staggered starts change which exchange runs ahead.
        lab.run_for(Duration::from_millis(700 * seed));
        let c = lab.router(3, &[("192.0.2.3/24", LAN, 3)]);
        lab.segments[0].push((c, 0));
        lab.run_for(Duration::from_secs(120));
        for (s, i, n) in [(a, 0, 2), (a, 1, 2), (b, 0, 1), (b, 1, 1)] {
            assert_eq!(
                lab.state(s, i, rid(n)),
                Some(NeighborState::Full),
                "seed {seed}: router {} interface {i}",
                s + 1
            );
        }
        assert!(lab.databases_agree());
    }
}

/// The keys of the LSRs among `sent`, one list per packet.
fn requested(sent: &[Vec<u8>]) -> Vec<Vec<LsaKey>> {
    sent.iter()
        .filter(|b| b[1] == PacketType::LsRequest as u8)
        .map(|b| {
            let p = OspfPacket::new_checked(&b[..]).unwrap();
            let Body::LsRequest(r) = p.parse_body().unwrap() else {
                unreachable!()
            };
            r.iter().map(Result::unwrap).collect()
        })
        .collect()
}

#[test]
fn a_request_still_outstanding_at_exchange_done_is_not_sent_again() {
    // We are master; the slave describes one LSA in each of its two
    // answers. The first is requested at once; at ExchangeDone it is still
    // unanswered, and only the second may be asked for (once the first
    // batch is answered). The live scale benchmark saw ferroute ask for
    // one batch twice in every exchange (71 of 10,000 LSAs).
    let mut one = One::new(2);
    one.hello(true);
    let (_, seq, _) = dd_of(&one.sent()[0]);
    let (first, second) = (
        foreign_lsa(7, 0x8000_0001_u32 as i32),
        foreign_lsa(8, 0x8000_0001_u32 as i32),
    );
    let key = |n| LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(n),
        adv_router: rid(n),
    };
    one.dd(1500, DD_MORE, seq, &[&first]);
    assert_eq!(requested(&one.sent()), vec![vec![key(7)]]);
    one.dd(1500, 0, seq + 1, &[&second]);
    assert_eq!(one.state(), Some(NeighborState::Loading));
    assert_eq!(requested(&one.sent()), Vec::<Vec<LsaKey>>::new());
    one.send(PacketType::LsUpdate, |o| {
        o.extend_from_slice(&1u32.to_be_bytes());
        o.extend_from_slice(&first);
    });
    assert_eq!(requested(&one.sent()), vec![vec![key(8)]]);
    one.send(PacketType::LsUpdate, |o| {
        o.extend_from_slice(&1u32.to_be_bytes());
        o.extend_from_slice(&second);
    });
    assert_eq!(one.state(), Some(NeighborState::Full));
}
