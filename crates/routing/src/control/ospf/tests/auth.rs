//! Authentication between speakers (RFC 2328 Appendix D): the same
//! password or key forms the adjacency, a different one or a different
//! kind does not (each drop counted), and an MD5 packet replayed with an
//! older cryptographic sequence number is dropped.

use std::time::{Duration, Instant};

use super::*;
use crate::control::ospf::wire::Authentication;

fn md5(key: &[u8], key_id: u8) -> Authentication {
    let mut k = [0; 16];
    k[..key.len()].copy_from_slice(key);
    Authentication::Md5 { key_id, key: k }
}

/// Routers 1 and 2 on a p2p link, each with its authentication.
fn pair(a: Authentication, b: Authentication) -> Lab {
    let mut lab = Lab::new(Instant::now());
    let mut ia = iface(0, "10.0.12.1/30", P2P, 1);
    ia.authentication = a;
    let mut ib = iface(0, "10.0.12.2/30", P2P, 1);
    ib.authentication = b;
    let x = lab.add(rid(1), vec![ia]);
    let y = lab.add(rid(2), vec![ib]);
    lab.connect(&[(x, 0), (y, 0)]);
    lab
}

fn count(lab: &Lab, s: usize, what: &str) -> u64 {
    lab.speakers[s].counters().get(what).copied().unwrap_or(0)
}

#[test]
fn the_same_secret_forms_the_adjacency() {
    for auth in [
        Authentication::Simple(*b"pass\0\0\0\0"),
        md5(b"sixteen-byte-key", 3),
    ] {
        let mut lab = pair(auth.clone(), auth.clone());
        lab.run_for(Duration::from_secs(60));
        assert_eq!(
            lab.state(0, 0, rid(2)),
            Some(NeighborState::Full),
            "{auth:?}"
        );
        assert!(lab.databases_agree());
        assert_eq!(count(&lab, 0, "authentication failed"), 0);
    }
}

#[test]
fn a_different_secret_or_kind_is_refused_and_counted() {
    let cases = [
        (md5(b"one", 1), md5(b"two", 1), "authentication failed"),
        (md5(b"key", 1), md5(b"key", 2), "authentication failed"),
        (
            Authentication::Simple(*b"a\0\0\0\0\0\0\0"),
            Authentication::Simple(*b"b\0\0\0\0\0\0\0"),
            "authentication failed",
        ),
        (
            md5(b"key", 1),
            Authentication::Null,
            "authentication type mismatch",
        ),
    ];
    for (a, b, reason) in cases {
        let mut lab = pair(a.clone(), b.clone());
        lab.run_for(Duration::from_secs(60));
        assert_eq!(lab.state(0, 0, rid(2)), None, "{a:?} / {b:?}");
        assert!(
            count(&lab, 0, reason) > 0,
            "{a:?} / {b:?}: {:?}",
            lab.speakers[0].counters()
        );
    }
}

#[test]
fn an_md5_packet_replayed_with_an_older_sequence_number_is_dropped() {
    let key = md5(b"key", 1);
    let mut lab = pair(key.clone(), key);
    // Router 2's first packets, kept aside (lost on the way).
    let t = lab.speakers[1].poll_timeout().unwrap();
    lab.speakers[1].handle_timeout(t);
    let hello = drain(&mut lab.speakers[1]).swap_remove(0);
    let source = lab.speakers[1].interfaces()[0].addr();
    lab.run_for(Duration::from_secs(60));
    assert_eq!(lab.state(0, 0, rid(2)), Some(NeighborState::Full));
    let before = count(&lab, 0, "cryptographic sequence number went back");
    let now = lab.now;
    lab.speakers[0].receive(now, 0, source, hello.destination, &hello.bytes);
    assert_eq!(
        count(&lab, 0, "cryptographic sequence number went back"),
        before + 1
    );
}
