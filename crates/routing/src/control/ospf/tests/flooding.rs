//! Updates, acknowledgements and flooding (§13), aging (§14) and this
//! router's own LSAs (§12.4, §13.4).

use std::time::Duration;

use super::exchange::{foreign_lsa, One, PEER_ADDR};
use super::*;
use crate::control::ospf::database::{INITIAL_SEQUENCE, MAX_AGE};
use crate::control::ospf::wire::body::{DD_INIT, DD_MASTER, DD_MORE};
use crate::control::ospf::wire::lsa::{LsaHeader, LsaKey, LsaType};
use crate::control::ospf::wire::{Body, OspfPacket};

/// A speaker Full with neighbour 9, which holds nothing.
pub(super) fn full() -> One {
    let mut one = One::new(9);
    one.hello(true);
    one.dd(1500, DD_INIT | DD_MORE | DD_MASTER, 1000, &[]);
    one.dd(1500, DD_MASTER, 1001, &[]);
    assert_eq!(one.state(), Some(NeighborState::Full));
    one.sent();
    one
}

pub(super) fn update(one: &mut One, lsas: &[&[u8]]) {
    one.send(PacketType::LsUpdate, |o| {
        o.extend_from_slice(&(lsas.len() as u32).to_be_bytes());
        for l in lsas {
            o.extend_from_slice(l);
        }
    });
}

/// The LSAs of the updates among `sent`.
fn updated(sent: &[Vec<u8>]) -> Vec<Vec<u8>> {
    sent.iter()
        .filter_map(|b| {
            let p = OspfPacket::new_checked(&b[..]).ok()?;
            match p.parse_body().ok()? {
                Body::LsUpdate(u) => Some(
                    u.iter()
                        .map(|l| l.unwrap().bytes().to_vec())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            }
        })
        .flatten()
        .collect()
}

fn own_router_key() -> LsaKey {
    LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(5),
        adv_router: rid(5),
    }
}

#[test]
fn an_originated_change_is_retransmitted_until_acknowledged() {
    let mut one = full();
    one.now += Duration::from_secs(6); // past MinLSInterval
    set_cost(&mut one.s, one.now, 0, 20);
    let sent = one.sent();
    let lsas = updated(&sent);
    assert_eq!(lsas.len(), 1);
    let header = LsaHeader::new_lsa(&lsas[0][..]).unwrap();
    assert_eq!(header.key(), own_router_key());
    one.now += Duration::from_secs(5);
    one.s.handle_timeout(one.now);
    assert_eq!(updated(&one.sent()).len(), 1, "retransmitted");
    assert_eq!(one.s.counters()["LSU retransmissions"], 1);
    one.send(PacketType::LsAck, |o| o.extend_from_slice(&lsas[0][..20]));
    one.now += Duration::from_secs(5);
    one.s.handle_timeout(one.now);
    assert!(
        updated(&one.sent()).is_empty(),
        "acknowledged: not sent again"
    );
}

#[test]
fn newer_lsas_are_installed_and_acked_duplicates_acked_directly_older_answered() {
    let mut one = full();
    let v3 = foreign_lsa(9, INITIAL_SEQUENCE + 2);
    update(&mut one, &[&v3]);
    assert_eq!(one.s.database().len(), 2);
    // Same instance again: a direct ack (unicast to the neighbour).
    update(&mut one, &[&v3]);
    let out = drain(&mut one.s);
    let direct: Vec<_> = out
        .iter()
        .filter(|o| o.bytes[1] == PacketType::LsAck as u8)
        .collect();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].destination, PEER_ADDR);
    // An older instance: our newer copy goes back.
    let v2 = foreign_lsa(9, INITIAL_SEQUENCE + 1);
    update(&mut one, &[&v2]);
    assert_eq!(
        updated(&one.sent()),
        vec![{
            let mut v = v3.clone();
            v[1] += 1; // aged by InfTransDelay
            v
        }]
    );
    // A newer one within MinLSArrival of the last: dropped, not acked.
    let v4 = foreign_lsa(9, INITIAL_SEQUENCE + 3);
    update(&mut one, &[&v4]);
    assert_eq!(one.s.counters()["LSU: within MinLSArrival"], 1);
    one.now += Duration::from_secs(1);
    update(&mut one, &[&v4]);
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(9),
        adv_router: rid(9),
    };
    assert_eq!(
        one.s.database().get(&key).unwrap().sequence(),
        INITIAL_SEQUENCE + 3
    );
    // A corrupted LSA is dropped.
    let mut bad = foreign_lsa(9, INITIAL_SEQUENCE + 9);
    bad[30] ^= 0x0f; // (0xff for 0x00 is the one change Fletcher cannot see)
    one.now += Duration::from_secs(2);
    update(&mut one, &[&bad]);
    assert_eq!(
        one.s.counters().get("LSU: bad LSA checksum"),
        Some(&1),
        "{:?}",
        one.s.counters()
    );
    assert_eq!(
        one.s.database().get(&key).unwrap().sequence(),
        INITIAL_SEQUENCE + 3
    );
}

#[test]
fn our_own_lsa_from_an_earlier_life_is_superseded() {
    let mut one = full();
    one.now += Duration::from_secs(2); // past MinLSArrival of our first LSA
                                       // The neighbour holds our router LSA at a higher sequence (before a restart).
    let mut old = foreign_lsa(5, INITIAL_SEQUENCE + 0x50);
    old[4..8].copy_from_slice(&rid(5).octets());
    crate::control::ospf::wire::lsa::fletcher_fill(&mut old);
    update(&mut one, &[&old]);
    let e = one.s.database().get(&own_router_key()).unwrap();
    assert_eq!(e.sequence(), INITIAL_SEQUENCE + 0x51);
    // And it is flooded, with what we say now (not the old stub).
    let sent = updated(&one.sent());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        LsaHeader::new_lsa(&sent[0][..]).unwrap().sequence(),
        INITIAL_SEQUENCE + 0x51
    );
    assert_ne!(sent[0][20..], old[20..]);
}

#[test]
fn our_own_unwanted_network_lsa_is_flushed() {
    let mut one = full();
    // A network LSA for our p2p address from an earlier life as DR.
    let key = LsaKey {
        ls_type: LsaType::Network,
        ls_id: Ipv4Addr::new(10, 0, 0, 1),
        adv_router: rid(5),
    };
    let body = crate::control::ospf::wire::lsa::LsaBody::Network {
        mask: Ipv4Addr::new(255, 255, 255, 252),
        attached: vec![rid(5), rid(9)],
    };
    let old = crate::control::ospf::wire::lsa::build(key, 10, 2, INITIAL_SEQUENCE + 4, &body);
    update(&mut one, &[&old]);
    let sent = updated(&one.sent());
    assert_eq!(sent.len(), 1);
    let h = LsaHeader::new_lsa(&sent[0][..]).unwrap();
    assert_eq!(
        (h.key(), h.age(), h.sequence()),
        (key, MAX_AGE, INITIAL_SEQUENCE + 4)
    );
    // Acknowledged, it leaves the database at the next aging pass.
    one.send(PacketType::LsAck, |o| o.extend_from_slice(&sent[0][..20]));
    one.now += Duration::from_secs(2);
    one.s.handle_timeout(one.now);
    assert!(one.s.database().get(&key).is_none());
}

#[test]
fn lsas_reaching_max_age_are_flooded_and_then_removed() {
    let mut one = full();
    let mut lsa = foreign_lsa(9, INITIAL_SEQUENCE);
    lsa[0..2].copy_from_slice(&(MAX_AGE - 2).to_be_bytes());
    update(&mut one, &[&lsa]);
    assert_eq!(one.s.database().len(), 2);
    one.now += Duration::from_secs(3);
    one.s.handle_timeout(one.now);
    let sent = updated(&one.sent());
    assert_eq!(sent.len(), 1);
    assert_eq!(LsaHeader::new_lsa(&sent[0][..]).unwrap().age(), MAX_AGE);
    one.send(PacketType::LsAck, |o| o.extend_from_slice(&sent[0][..20]));
    one.now += Duration::from_secs(1);
    one.s.handle_timeout(one.now);
    assert_eq!(one.s.database().len(), 1);
}

#[test]
fn changes_flood_along_a_chain_and_every_database_agrees() {
    let mut lab = Lab::new(std::time::Instant::now());
    let a = lab.router(1, &[("10.0.12.1/30", P2P, 1)]);
    let b = lab.router(2, &[("10.0.12.2/30", P2P, 1), ("10.0.23.2/30", P2P, 1)]);
    let c = lab.router(3, &[("10.0.23.3/30", P2P, 1)]);
    lab.connect(&[(a, 0), (b, 0)]);
    lab.connect(&[(b, 1), (c, 0)]);
    lab.run_for(Duration::from_secs(30));
    assert!(lab.databases_agree());
    assert_eq!(lab.speakers[c].database().len(), 3);
    let now = lab.now;
    set_cost(&mut lab.speakers[a], now, 0, 77);
    lab.run_for(Duration::from_secs(2));
    assert!(lab.databases_agree());
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(1),
        adv_router: rid(1),
    };
    let e = lab.speakers[c].database().get(&key).unwrap();
    assert!(e.bytes.windows(2).any(|w| w == 77u16.to_be_bytes()));
    for s in &lab.speakers {
        for f in s.interfaces() {
            assert!(f.neighbors.values().all(|n| n.retransmit.is_empty()));
        }
    }
}

#[test]
fn own_lsas_are_refreshed_every_ls_refresh_time() {
    let mut lab = Lab::p2p_pair();
    let b = 1;
    lab.run_for(Duration::from_secs(60));
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(1),
        adv_router: rid(1),
    };
    let seq = lab.speakers[b].database().get(&key).unwrap().sequence();
    lab.run_for(Duration::from_secs(1800));
    let e = lab.speakers[b].database().get(&key).unwrap();
    assert_eq!(e.sequence(), seq + 1);
    assert!(e.age(lab.now) < 100);
    assert!(lab.databases_agree());
}

#[test]
fn at_max_sequence_number_an_lsa_is_flushed_then_starts_again_from_the_initial_one() {
    use crate::control::ospf::database::{INITIAL_SEQUENCE, MAX_AGE, MAX_SEQUENCE};
    use crate::control::ospf::wire::lsa::{self, LsaBody, LsaKey, LsaType};
    let mut lab = Lab::p2p_pair();
    lab.run_for(Duration::from_secs(60));
    let key = LsaKey {
        ls_type: LsaType::Router,
        ls_id: rid(1),
        adv_router: rid(1),
    };
    // Router 1's own LSA has reached MaxSequenceNumber (planted there).
    let held = lab.speakers[0].database().get(&key).unwrap();
    let body = LsaBody::parse(LsaType::Router, held.header().body()).unwrap();
    let now = lab.now;
    let at_max = lsa::build(key, 0, 0x02, MAX_SEQUENCE, &body);
    assert!(lab.speakers[0].database_mut().install(at_max.clone(), now));
    assert!(lab.speakers[1].database_mut().install(at_max, now));
    // A change makes it originate: flushed first (MaxAge everywhere, acked,
    // removed), then the new instance at InitialSequenceNumber.
    let now = lab.now;
    set_cost(&mut lab.speakers[0], now, 0, 25);
    let took = lab.run_until(Duration::from_secs(60), |lab| {
        lab.speakers.iter().all(|s| {
            s.database()
                .get(&key)
                .is_some_and(|e| e.sequence() == INITIAL_SEQUENCE && e.age(lab.now) < MAX_AGE)
        })
    });
    assert!(
        took.is_some(),
        "{:?}",
        lab.speakers[1].database().get(&key).map(|e| e.sequence())
    );
    assert!(lab.databases_agree());
    assert_eq!(lab.state(0, 0, rid(2)), Some(NeighborState::Full));
    println!("wrapped in {took:?} of simulated time");
}
