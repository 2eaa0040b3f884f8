//! Round trips: any OSPFv3 LSA body with any header fields assembles into
//! bytes whose header (read as v3) and body parse back the same, with a
//! Fletcher checksum that verifies; any Hello and DD emitted in the v3
//! layout parses back into the same fields; arbitrary bytes never panic
//! the parsers.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use proptest::prelude::*;

use super::lsa::{Lsa3Body, Prefix, RouterInterface, RouterInterfaceType};
use super::{
    emit, emit_dd_fixed, emit_hello, parse_body, Ospf3Packet, AS_EXTERNAL_LSA,
    INTER_AREA_PREFIX_LSA, INTRA_AREA_PREFIX_LSA, LINK_LSA, NETWORK_LSA, ROUTER_LSA,
};
use crate::control::ospf::wire::body::{Body, Hello};
use crate::control::ospf::wire::lsa::{assemble, fletcher_verify, LsaHeader, LsaKey, LsaType};
use crate::control::ospf::wire::{PacketType, Version};

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn options() -> impl Strategy<Value = u32> {
    0..0x0100_0000u32
}

fn metric24() -> impl Strategy<Value = u32> {
    0..0x0100_0000u32
}

fn prefix(with_metric: bool) -> impl Strategy<Value = Prefix> {
    (v6(), 0..=128u8, any::<u8>(), any::<u16>()).prop_map(move |(a, len, options, metric)| Prefix {
        prefix: Ipv6Net::new(a, len).unwrap().trunc(),
        options,
        metric: if with_metric { metric } else { 0 },
    })
}

fn interface() -> impl Strategy<Value = RouterInterface> {
    (0..3usize, any::<u16>(), any::<u32>(), any::<u32>(), addr()).prop_map(
        |(k, metric, interface_id, neighbor_interface_id, neighbor_router_id)| RouterInterface {
            kind: [
                RouterInterfaceType::PointToPoint,
                RouterInterfaceType::Transit,
                RouterInterfaceType::Virtual,
            ][k],
            metric,
            interface_id,
            neighbor_interface_id,
            neighbor_router_id,
        },
    )
}

fn body() -> impl Strategy<Value = (LsaType, Lsa3Body)> {
    prop_oneof![
        (
            any::<u8>(),
            options(),
            prop::collection::vec(interface(), 0..30)
        )
            .prop_map(|(flags, options, interfaces)| (
                ROUTER_LSA,
                Lsa3Body::Router {
                    flags,
                    options,
                    interfaces
                }
            )),
        (options(), prop::collection::vec(addr(), 1..30))
            .prop_map(|(options, attached)| (NETWORK_LSA, Lsa3Body::Network { options, attached })),
        (metric24(), prefix(false)).prop_map(|(metric, prefix)| (
            INTER_AREA_PREFIX_LSA,
            Lsa3Body::InterAreaPrefix { metric, prefix }
        )),
        (
            any::<bool>(),
            metric24(),
            prefix(false),
            prop::option::of(v6()),
            prop::option::of(any::<u32>()),
            (1..=u16::MAX, prop::option::of(addr()))
        )
            .prop_map(|(type2, metric, prefix, forwarding, tag, (t, id))| (
                AS_EXTERNAL_LSA,
                Lsa3Body::AsExternal {
                    type2,
                    metric,
                    prefix,
                    forwarding,
                    tag,
                    referenced_type: if id.is_some() { t } else { 0 },
                    referenced_id: id,
                }
            )),
        (
            any::<u8>(),
            options(),
            v6(),
            prop::collection::vec(prefix(false), 0..20)
        )
            .prop_map(|(priority, options, link_local, prefixes)| (
                LINK_LSA,
                Lsa3Body::Link {
                    priority,
                    options,
                    link_local,
                    prefixes
                }
            )),
        (
            any::<u16>(),
            addr(),
            addr(),
            prop::collection::vec(prefix(true), 0..20)
        )
            .prop_map(
                |(referenced_type, referenced_id, referenced_router, prefixes)| (
                    INTRA_AREA_PREFIX_LSA,
                    Lsa3Body::IntraAreaPrefix {
                        referenced_type,
                        referenced_id,
                        referenced_router,
                        prefixes
                    }
                )
            ),
    ]
}

proptest! {
    #[test]
    fn lsas_round_trip((ls_type, body) in body(), id in addr(), adv in addr(), age in 0..3600u16, sequence in any::<i32>()) {
        let key = LsaKey { ls_type, ls_id: id, adv_router: adv };
        let mut bytes = Vec::new();
        body.emit(&mut bytes);
        let lsa = assemble(key, age, 0, sequence, &bytes);
        let h = LsaHeader::lsa_in(Version::V3, &lsa[..]).unwrap();
        prop_assert_eq!((h.key(), h.age(), h.sequence()), (key, age, sequence));
        prop_assert!(fletcher_verify(&lsa));
        prop_assert_eq!(Lsa3Body::parse(ls_type, h.body()).unwrap(), body);
    }

    #[test]
    fn hellos_and_dds_round_trip(
        interface_id in any::<u32>(), priority in any::<u8>(), options in options(),
        hello_interval in any::<u16>(), dead in any::<u16>(), dr in addr(), bdr in addr(),
        neighbors in prop::collection::vec(addr(), 0..20), mtu in any::<u16>(), flags in 0..8u8,
        sequence in any::<u32>(), router in addr(), area in addr(), instance in any::<u8>(),
    ) {
        let ids: Vec<u8> = neighbors.iter().flat_map(|n| n.octets()).collect();
        let hello = Hello {
            mask: Ipv4Addr::UNSPECIFIED,
            interface_id,
            hello_interval,
            options,
            priority,
            dead_interval: u32::from(dead),
            dr,
            bdr,
            neighbors: &ids,
        };
        let bytes = emit(PacketType::Hello, router, area, instance, |o| emit_hello(&hello, o));
        let p = Ospf3Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!((p.router_id(), p.area_id(), p.instance_id()), (router, area, instance));
        prop_assert_eq!(p.parse_body().unwrap(), Body::Hello(hello.clone()));

        let dd = emit(PacketType::DbDescription, router, area, instance, |o| {
            emit_dd_fixed(mtu, options, flags, sequence, o)
        });
        let p = Ospf3Packet::new_checked(&dd[..]).unwrap();
        let Body::DbDescription(d) = p.parse_body().unwrap() else {
            panic!("not a DD");
        };
        prop_assert_eq!((d.mtu, d.options, d.flags, d.sequence, d.headers.len()), (mtu, options, flags, sequence, 0));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), kind in 1..=5u8, code in any::<u16>()) {
        let _ = Ospf3Packet::new_checked(&bytes[..]).map(|p| p.parse_body().map(|b| format!("{b:?}")));
        let _ = parse_body(PacketType::from_u8(kind).unwrap(), &bytes);
        let _ = Lsa3Body::parse(LsaType::V3(code), &bytes);
    }
}
