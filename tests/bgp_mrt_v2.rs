//! TABLE_DUMP_V2 (RFC 6396 §4.3) with IPv4 and IPv6 RIBs, built byte by
//! byte here (the real dump in shared/data is TABLE_DUMP v1): peer table,
//! abbreviated MP_REACH_NLRI next hops, 4-octet AS paths, an attribute with
//! flags 0x00 as BIRD 2.0.12 writes them, standard and large communities,
//! and the skip rules.

use std::net::{IpAddr, Ipv4Addr};

use ferroute::control::bgp::mrt::{parse_mrt, MrtPeer};
use ferroute::control::bgp::{
    BgpRib, DecisionConfig, RejectReason, ResolveWith, RouteChange, RouteStatus,
};
use ferroute::control::rib::route::{RouteSource, Via};
use ferroute::testkit::mrt::record;
use ipnet::IpNet;

const LOCAL_AS: u32 = 65000;

/// PEER_INDEX_TABLE: an IPv6 eBGP peer and an IPv4 iBGP peer, 4-octet ASes.
fn peer_table() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[10, 0, 0, 1]); // collector id
    b.extend_from_slice(&0u16.to_be_bytes()); // no view name
    b.extend_from_slice(&2u16.to_be_bytes());
    b.push(0b11); // IPv6 address, AS4
    b.extend_from_slice(&[1, 1, 1, 1]);
    b.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    b.extend_from_slice(&4_200_000_001u32.to_be_bytes());
    b.push(0b10); // IPv4 address, AS4
    b.extend_from_slice(&[2, 2, 2, 2]);
    b.extend_from_slice(&[192, 0, 2, 2]);
    b.extend_from_slice(&LOCAL_AS.to_be_bytes());
    record(1, &b)
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code, value.len() as u8];
    a.extend_from_slice(value);
    a
}

fn as_path(asns: &[u32]) -> Vec<u8> {
    let mut v = vec![2, asns.len() as u8]; // AS_SEQUENCE
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    attr(0x40, 2, &v)
}

fn entry(peer_index: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut e = Vec::new();
    e.extend_from_slice(&peer_index.to_be_bytes());
    e.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    e.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    e.extend_from_slice(&attrs);
    e
}

fn rib(subtype: u16, seq: u32, prefix: IpNet, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&seq.to_be_bytes());
    b.push(prefix.prefix_len());
    let bytes = usize::from(prefix.prefix_len()).div_ceil(8);
    match prefix {
        IpNet::V4(n) => b.extend_from_slice(&n.network().octets()[..bytes]),
        IpNet::V6(n) => b.extend_from_slice(&n.network().octets()[..bytes]),
    }
    b.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for e in entries {
        b.extend_from_slice(e);
    }
    record(subtype, &b)
}

fn mp_next_hop(addr: &str) -> Vec<u8> {
    let a: std::net::Ipv6Addr = addr.parse().unwrap();
    let mut v = vec![16];
    v.extend_from_slice(&a.octets());
    attr(0x80, 14, &v)
}

fn dump() -> Vec<u8> {
    let v6: IpNet = "2001:db8:100::/48".parse().unwrap();
    let v4: IpNet = "198.51.100.0/24".parse().unwrap();
    let origin_igp = attr(0x40, 1, &[0]);
    let local_pref_200_bird = attr(0x00, 5, &200u32.to_be_bytes()); // flags 0x00
    let med_5 = attr(0x80, 4, &5u32.to_be_bytes());
    [
        peer_table(),
        rib(
            4,
            0,
            v6,
            &[
                entry(
                    0,
                    &[
                        origin_igp.clone(),
                        as_path(&[4_200_000_001, 64510]),
                        mp_next_hop("2001:db8::1"),
                    ],
                ),
                entry(
                    1,
                    &[
                        origin_igp.clone(),
                        as_path(&[64520, 64521, 64510]),
                        mp_next_hop("2001:db8::2"),
                        local_pref_200_bird,
                    ],
                ),
            ],
        ),
        rib(
            2,
            1,
            v4,
            &[
                entry(
                    0,
                    &[
                        origin_igp.clone(),
                        as_path(&[4_200_000_001]),
                        attr(0x40, 3, &[192, 0, 2, 1]),
                        med_5,
                        // 65535:666 (BLACKHOLE), NO_EXPORT, 64500:7.
                        attr(
                            0xc0,
                            8,
                            &[
                                0xff, 0xff, 0x02, 0x9a, 0xff, 0xff, 0xff, 0x01, 0xfb, 0xf4, 0, 7,
                            ],
                        ),
                        // Large community 4200000001:1:2.
                        attr(
                            0xc0,
                            32,
                            &[
                                &4_200_000_001u32.to_be_bytes()[..],
                                &[0, 0, 0, 1, 0, 0, 0, 2],
                            ]
                            .concat(),
                        ),
                    ],
                ),
                entry(
                    7,
                    &[
                        origin_igp.clone(),
                        as_path(&[1]),
                        attr(0x40, 3, &[192, 0, 2, 7]),
                    ],
                ),
            ],
        ),
    ]
    .concat()
}

#[test]
fn table_dump_v2_peers_routes_and_next_hops() {
    let d = parse_mrt(&dump()).unwrap();
    assert_eq!(d.records, 3);
    assert_eq!(
        d.peers,
        vec![
            MrtPeer {
                address: "2001:db8::1".parse().unwrap(),
                asn: 4_200_000_001,
                router_id: Ipv4Addr::new(1, 1, 1, 1),
            },
            MrtPeer {
                address: "192.0.2.2".parse().unwrap(),
                asn: LOCAL_AS,
                router_id: Ipv4Addr::new(2, 2, 2, 2),
            },
        ]
    );
    // The entry naming peer index 7 is skipped and counted at its record.
    assert_eq!(d.skipped, 1);
    assert_eq!(d.skip_samples[0].record, 2);
    assert!(
        d.skip_samples[0].message.contains("peer index 7"),
        "{:?}",
        d.skip_samples
    );
    assert_eq!(d.routes.len(), 3);
    let v6: Vec<_> = d
        .routes
        .iter()
        .filter(|r| r.prefix.addr().is_ipv6())
        .collect();
    assert_eq!(
        v6[0].attrs.next_hop,
        "2001:db8::1".parse::<IpAddr>().unwrap()
    );
    assert_eq!(v6[0].attrs.as_path.to_string(), "4200000001 64510");
    assert_eq!(
        v6[1].attrs.local_pref,
        Some(200),
        "flags 0x00 attribute read"
    );
    let v4 = d.routes.iter().find(|r| r.prefix.addr().is_ipv4()).unwrap();
    assert_eq!(v4.attrs.med, Some(5));
    // Communities are kept, for import policies to match.
    assert_eq!(
        &v4.attrs.communities[..],
        [0xffff_029a, 0xffff_ff01, (64500 << 16) | 7]
    );
    assert_eq!(&v4.attrs.large_communities[..], [[4_200_000_001, 1, 2]]);
    assert_eq!(v4.attrs.next_hop, "192.0.2.1".parse::<IpAddr>().unwrap());

    // Loaded: the iBGP route wins the IPv6 prefix on LOCAL_PREF despite its
    // longer path; the eBGP one lost for that reason.
    let resolver = ResolveWith(|_| Some(10));
    let mut rib = BgpRib::new(DecisionConfig::default());
    let mut changes = Vec::new();
    rib.load_mrt(d, LOCAL_AS, &resolver, |c| changes.push(c))
        .unwrap();
    let v6net: IpNet = "2001:db8:100::/48".parse().unwrap();
    let e = rib.explain(&v6net, &resolver).unwrap();
    assert_eq!(e.candidates[0].peer, "192.0.2.2".parse::<IpAddr>().unwrap());
    assert_eq!(e.candidates[0].status, RouteStatus::Best);
    assert_eq!(
        e.candidates[1].status,
        RouteStatus::Rejected(RejectReason::LocalPref)
    );
    let last_v6 = changes
        .iter()
        .rev()
        .find_map(|c| match c {
            RouteChange::Installed(r) if r.prefix == v6net => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(last_v6.source, RouteSource::IBGP);
    assert_eq!(
        last_v6.paths,
        vec![Via::Recursive {
            address: "2001:db8::2".parse().unwrap()
        }]
    );
}

#[test]
fn a_rib_record_before_the_peer_table_is_skipped() {
    let data = dump();
    let table_len = peer_table().len();
    // RIB records first, peer table last.
    let reordered = [&data[table_len..], &data[..table_len]].concat();
    let d = parse_mrt(&reordered).unwrap();
    assert_eq!(d.records, 3);
    assert_eq!(d.routes.len(), 0);
    assert_eq!(d.skipped, 2);
    assert_eq!(d.skip_samples[0].offset, 0);
    assert!(d.skip_samples[0].message.contains("before the peer table"));
}
