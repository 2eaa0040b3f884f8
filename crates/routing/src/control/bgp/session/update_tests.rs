//! UPDATE reading and writing: round trips, packing, and every RFC 7606
//! action (treat-as-withdraw, attribute discard, session reset).

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;

use super::message::{code, Family};
use super::update::*;
use super::update_out::*;
use crate::control::bgp::attrs::{AsPath, AsSegment, Origin, PathAttrs};

const EBGP: UpdateContext = UpdateContext {
    four_octet_as: true,
    ebgp: true,
    peer_as: 65001,
};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn attrs(next_hop: &str) -> PathAttrs {
    let mut a = PathAttrs::new(
        Origin::Igp,
        AsPath::sequence(&[65001, 4_200_000_000]),
        next_hop.parse().unwrap(),
    );
    a.med = Some(7);
    a.communities = vec![0xfde9_0001].into_boxed_slice();
    a
}

/// One announcement encoded and read back.
fn one(attrs: &PathAttrs, prefixes: &[IpNet], cx: &UpdateContext) -> ParsedUpdate {
    let mut out = Vec::new();
    encode_announce(attrs, prefixes, cx.four_octet_as, &mut out);
    assert_eq!(out.len(), 1);
    parse_update(&out[0][19..], cx).unwrap()
}

#[test]
fn ipv4_and_ipv6_announcements_round_trip() {
    let v4 = attrs("192.0.2.2");
    let u = one(&v4, &[net("10.0.0.0/8"), net("10.1.2.0/24")], &EBGP);
    assert_eq!(
        u.announced,
        [Announcement {
            attrs: v4,
            prefixes: vec![net("10.0.0.0/8"), net("10.1.2.0/24")]
        }]
    );
    assert_eq!((u.withdrawn.len(), u.treat_as_withdraw.clone()), (0, None));
    let v6 = attrs("2001:db8::2");
    let u = one(&v6, &[net("2001:db8:1::/48")], &EBGP);
    assert_eq!(u.announced[0].attrs, v6);
    assert_eq!(u.announced[0].prefixes, [net("2001:db8:1::/48")]);
}

#[test]
fn a_two_octet_speaker_gets_as_trans_and_as4_path_merged_back() {
    let cx = UpdateContext {
        four_octet_as: false,
        ..EBGP
    };
    let a = attrs("192.0.2.2");
    let mut out = Vec::new();
    encode_announce(&a, &[net("10.0.0.0/8")], false, &mut out);
    // AS_PATH holds 65001 23456; AS4_PATH the real path.
    let u = parse_update(&out[0][19..], &cx).unwrap();
    assert_eq!(u.announced[0].attrs.as_path, a.as_path);
    let bytes = &out[0];
    assert!(
        bytes.windows(4).any(|w| w == [2, 2, 0xfd, 0xe9]),
        "2-octet AS_PATH"
    );
}

#[test]
fn many_prefixes_are_packed_into_full_messages_and_withdrawn_alike() {
    let prefixes: Vec<IpNet> = (0..3000u32)
        .map(|i| IpNet::new(IpAddr::from((10u32 << 24 | i << 8).to_be_bytes()), 24).unwrap())
        .collect();
    let mut out = Vec::new();
    encode_announce(&attrs("192.0.2.2"), &prefixes, true, &mut out);
    assert!(out.len() <= 4, "3000 /24s in {} messages", out.len());
    let mut back = Vec::new();
    for m in &out {
        assert!(m.len() <= 4096);
        back.extend(
            parse_update(&m[19..], &EBGP).unwrap().announced[0]
                .prefixes
                .clone(),
        );
    }
    assert_eq!(back, prefixes);
    let v6: Vec<IpNet> = (0..2000u16)
        .map(|i| IpNet::new(IpAddr::from([0x2001, 0xdb8, i, 0, 0, 0, 0, 0]), 48).unwrap())
        .collect();
    let mut out = Vec::new();
    encode_withdraw(&[&prefixes[..], &v6[..]].concat(), &mut out);
    let mut gone = Vec::new();
    for m in &out {
        assert!(m.len() <= 4096);
        gone.extend(parse_update(&m[19..], &EBGP).unwrap().withdrawn);
    }
    assert_eq!(gone, [&prefixes[..], &v6[..]].concat());
}

#[test]
fn communities_large_communities_and_otc_round_trip() {
    let mut a = attrs("192.0.2.2");
    a.communities = vec![0xfde9_0064, 0xffff_029a].into_boxed_slice();
    a.large_communities = vec![[4_200_000_000, 1, 2], [65001, 0, 7]].into_boxed_slice();
    a.otc = Some(65010);
    let u = one(&a, &[net("10.0.0.0/8")], &EBGP);
    assert_eq!(u.announced[0].attrs, a);
    // The blackhole mark is ours: it is never sent.
    a.blackhole = true;
    let u = one(&a, &[net("10.0.0.0/8")], &EBGP);
    assert!(!u.announced[0].attrs.blackhole);
}

#[test]
fn end_of_rib_markers_are_recognised() {
    for f in Family::ALL {
        let m = end_of_rib(f);
        assert_eq!(parse_update(&m[19..], &EBGP).unwrap().end_of_rib, Some(f));
    }
}

/// An UPDATE body from raw attributes and NLRI.
fn body(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const PATH_65001: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 2];
const NLRI: [u8; 2] = [8, 10];

fn with(extra: &[&[u8]]) -> Vec<u8> {
    let mut a = Vec::new();
    for e in extra {
        a.extend_from_slice(e);
    }
    body(&a, &NLRI)
}

#[test]
fn well_formed_raw_update_is_an_announcement() {
    let u = parse_update(&with(&[&ORIGIN_IGP, &PATH_65001, &NEXT_HOP]), &EBGP).unwrap();
    assert_eq!(u.announced[0].prefixes, [net("10.0.0.0/8")]);
}

#[test]
fn malformed_attributes_withdraw_the_routes_of_their_update() {
    let cases: [(&str, Vec<u8>); 10] = [
        // RFC 9234 §5: an OTC not 4 octets long.
        (
            "ONLY_TO_CUSTOMER of 3 bytes",
            with(&[
                &ORIGIN_IGP,
                &PATH_65001,
                &NEXT_HOP,
                &[0xc0, 35, 3, 0, 0xfd, 0xe9],
            ]),
        ),
        (
            "ONLY_TO_CUSTOMER flagged non-transitive",
            with(&[
                &ORIGIN_IGP,
                &PATH_65001,
                &NEXT_HOP,
                &[0x80, 35, 4, 0, 0, 0xfd, 0xe9],
            ]),
        ),
        (
            "LARGE_COMMUNITY of 8 bytes",
            with(&[
                &ORIGIN_IGP,
                &PATH_65001,
                &NEXT_HOP,
                &[0xc0, 32, 8, 0, 0, 0, 1, 0, 0, 0, 2],
            ]),
        ),
        (
            "bad ORIGIN",
            with(&[&[0x40, 1, 1, 3], &PATH_65001, &NEXT_HOP]),
        ),
        (
            "zero-length segment",
            with(&[&ORIGIN_IGP, &[0x40, 2, 2, 2, 0], &NEXT_HOP]),
        ),
        (
            "ORIGIN flagged optional",
            with(&[&[0xc0, 1, 1, 0], &PATH_65001, &NEXT_HOP]),
        ),
        ("NEXT_HOP missing", with(&[&ORIGIN_IGP, &PATH_65001])),
        (
            "NEXT_HOP 0.0.0.0",
            with(&[&ORIGIN_IGP, &PATH_65001, &[0x40, 3, 4, 0, 0, 0, 0]]),
        ),
        (
            "path not from the peer",
            with(&[&ORIGIN_IGP, &[0x40, 2, 6, 2, 1, 0, 0, 0, 9], &NEXT_HOP]),
        ),
        (
            "COMMUNITIES of 3 bytes",
            with(&[&ORIGIN_IGP, &PATH_65001, &NEXT_HOP, &[0xc0, 8, 3, 1, 2, 3]]),
        ),
    ];
    for (what, b) in cases {
        let u = parse_update(&b, &EBGP).unwrap_or_else(|n| panic!("{what}: reset {n:?}"));
        assert!(u.announced.is_empty(), "{what}");
        assert_eq!(u.withdrawn, [net("10.0.0.0/8")], "{what}");
        assert!(u.treat_as_withdraw.is_some(), "{what}");
    }
}

#[test]
fn some_malformed_attributes_are_discarded_and_the_route_kept() {
    let local_pref = [0x40, 5, 4, 0, 0, 0, 200];
    let atomic = [0x40, 6, 1, 0];
    let as4_bad = [0xc0, 17, 3, 2, 1, 0];
    let path2 = [0x40u8, 2, 4, 2, 1, 0xfd, 0xe9];
    let b = with(&[
        &ORIGIN_IGP,
        &path2,
        &NEXT_HOP,
        &local_pref,
        &atomic,
        &as4_bad,
    ]);
    let u = parse_update(&b, &EBGP_TWO).unwrap();
    assert_eq!(
        u.announced[0].attrs.local_pref, None,
        "LOCAL_PREF from eBGP"
    );
    assert_eq!(u.discarded, [5, 6, 17]);
    // A repeated attribute: the first one counts.
    let b = with(&[&ORIGIN_IGP, &[0x40, 1, 1, 2], &PATH_65001, &NEXT_HOP]);
    let u = parse_update(&b, &EBGP).unwrap();
    assert_eq!(u.announced[0].attrs.origin, Origin::Igp);
}

/// A 2-octet session (its AS_PATH: `[2, 1, 0xfd, 0xe9]`).
const EBGP_TWO: UpdateContext = UpdateContext {
    four_octet_as: false,
    ebgp: true,
    peer_as: 65001,
};

#[test]
fn what_hides_the_nlri_resets_the_session() {
    let two = |b: Vec<u8>| parse_update(&b, &EBGP_TWO).map(|_| ()).unwrap_err();
    let path2 = [0x40u8, 2, 4, 2, 1, 0xfd, 0xe9];
    // Truncated MP_REACH_NLRI: optional attribute error.
    let mp = [0x80u8, 14, 5, 0, 2, 1, 16, 0];
    let n = two(with(&[&ORIGIN_IGP, &path2, &mp]));
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_OPTIONAL_ATTRIBUTE)
    );
    // Two MP_UNREACH_NLRI.
    let unreach = [0x80u8, 15, 3, 0, 2, 1];
    let n = two(with(&[&unreach, &unreach]));
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_MALFORMED_ATTRIBUTE_LIST)
    );
    // An attribute running past the list, with no MP attribute before it.
    let n = two(with(&[&ORIGIN_IGP, &[0x40, 2, 40, 2, 1]]));
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_ATTRIBUTE_LENGTH)
    );
    // An unknown well-known attribute.
    let n = two(with(&[&ORIGIN_IGP, &path2, &NEXT_HOP, &[0x40, 99, 0]]));
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_UNRECOGNIZED_WELL_KNOWN)
    );
    // A /33 in the NLRI.
    let n = two(body(&[], &[33, 1, 2, 3, 4, 5]));
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_INVALID_NETWORK)
    );
    // Withdrawn length past the end.
    let n = two(vec![0, 200, 0, 0]);
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE, code::UPDATE_MALFORMED_ATTRIBUTE_LIST)
    );
}

#[test]
fn an_overrun_after_mp_reach_withdraws_what_it_announced() {
    let mut mp = vec![0x80u8, 14, 0, 0, 2, 1, 16];
    mp.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    mp.extend_from_slice(&[0, 32, 0x20, 0x01, 0x0d, 0xb8]);
    mp[2] = (mp.len() - 3) as u8;
    let u = parse_update(
        &body(&[&mp[..], &ORIGIN_IGP, &[0x40, 2, 40, 2]].concat(), &[]),
        &EBGP,
    )
    .unwrap();
    assert_eq!(u.withdrawn, [net("2001:db8::/32")]);
    assert!(u.treat_as_withdraw.is_some());
}

#[test]
fn as_paths_with_sets_and_long_sequences_round_trip() {
    let long: Vec<u32> = (1..=300).collect();
    let mut path = vec![AsSegment::Sequence(long.into())];
    path.insert(0, AsSegment::Sequence(vec![65001].into()));
    path.push(AsSegment::Set(vec![7, 8].into()));
    let mut a = attrs("192.0.2.2");
    a.as_path = AsPath::new(path);
    let u = one(&a, &[net("10.0.0.0/8")], &EBGP);
    // 301 ASes in a row come back as one sequence of 255 and one of 46.
    assert_eq!(u.announced[0].attrs.as_path.length(), a.as_path.length());
    assert_eq!(
        u.announced[0].attrs.as_path.to_string(),
        a.as_path.to_string()
    );
}

proptest! {
    /// Arbitrary bodies never panic, and whatever is announced is in the
    /// family its next hop says.
    #[test]
    fn arbitrary_bodies_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300), four in any::<bool>()) {
        let cx = UpdateContext { four_octet_as: four, ..EBGP };
        if let Ok(u) = parse_update(&b, &cx) {
            for a in &u.announced {
                prop_assert!(a.prefixes.iter().all(|p| p.addr().is_ipv4() == a.attrs.next_hop.is_ipv4()));
            }
        }
    }
}
