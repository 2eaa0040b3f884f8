//! Round trips of whole LSAs: any router, network or AS-external body with
//! any header fields builds into bytes whose header and body parse back
//! the same, with a Fletcher checksum that verifies at any age and fails
//! after any single-byte change of the checksummed part (but 0x00 ↔ 0xff,
//! which mod-255 sums cannot tell apart).

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::lsa::{build, fletcher_verify, LsaBody, LsaHeader, LsaKey, LsaType};
use super::{RouterLink, RouterLinkType};

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn link() -> impl Strategy<Value = RouterLink> {
    (0..4usize, addr(), addr(), any::<u16>()).prop_map(|(k, id, data, metric)| RouterLink {
        kind: [
            RouterLinkType::PointToPoint,
            RouterLinkType::Transit,
            RouterLinkType::Stub,
            RouterLinkType::Virtual,
        ][k],
        id,
        data,
        metric,
    })
}

fn body() -> impl Strategy<Value = (LsaType, LsaBody)> {
    prop_oneof![
        (any::<u8>(), prop::collection::vec(link(), 0..40))
            .prop_map(|(flags, links)| (LsaType::Router, LsaBody::Router { flags, links })),
        (addr(), prop::collection::vec(addr(), 1..40))
            .prop_map(|(mask, attached)| (LsaType::Network, LsaBody::Network { mask, attached })),
        (
            addr(),
            any::<bool>(),
            0..0x0100_0000u32,
            addr(),
            any::<u32>()
        )
            .prop_map(|(mask, type2, metric, forwarding, tag)| (
                LsaType::AsExternal,
                LsaBody::AsExternal {
                    mask,
                    type2,
                    metric,
                    forwarding,
                    tag
                }
            )),
        (addr(), 0..0x0100_0000u32, any::<bool>()).prop_map(|(mask, metric, asbr)| (
            if asbr {
                LsaType::SummaryAsbr
            } else {
                LsaType::SummaryNetwork
            },
            LsaBody::Summary { mask, metric }
        )),
    ]
}

proptest! {
    #[test]
    fn lsas_round_trip_and_their_checksums_catch_changes(
        (ls_type, body) in body(),
        ls_id in addr(),
        adv_router in addr(),
        age in 0..=3600u16,
        options in any::<u8>(),
        sequence in any::<i32>(),
        flip in any::<prop::sample::Index>(),
        delta in 1..=254u8,
        new_age in 0..=3600u16,
    ) {
        let key = LsaKey { ls_type, ls_id, adv_router };
        let mut bytes = build(key, age, options, sequence, &body);
        prop_assert!(fletcher_verify(&bytes));
        let h = LsaHeader::new_lsa(&bytes[..]).unwrap();
        prop_assert_eq!((h.key(), h.age(), h.options(), h.sequence()), (key, age, options, sequence));
        prop_assert_eq!(h.length(), bytes.len());
        prop_assert_eq!(LsaBody::parse(ls_type, h.body()).unwrap(), body);
        // The age is outside the checksum.
        bytes[0..2].copy_from_slice(&new_age.to_be_bytes());
        prop_assert!(fletcher_verify(&bytes));
        // Any other byte changed by a non-multiple of 255 is caught.
        let at = 2 + flip.index(bytes.len() - 2);
        // (new ≡ old + delta mod 255, delta in 1..=254: never ≡ old.)
        bytes[at] = ((u16::from(bytes[at]) + u16::from(delta)) % 255) as u8;
        prop_assert!(!fletcher_verify(&bytes));
    }
}
