use super::*;

fn opts(nexthops: u32) -> LoadOptions {
    LoadOptions {
        nexthops,
        min_peers: 0,
    }
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

#[test]
fn pfx2as_assigns_next_hops_by_origin() {
    let data =
        b"1.0.0.0\t24\t13335\n1.0.4.0\t22\t38803\n1.0.5.0\t24\t38803\n1.2.4.0\t24\t24151_24409\n";
    let r = parse_routes(data, &opts(64)).unwrap();
    assert_eq!(r.format, TableFormat::Pfx2as);
    assert_eq!(r.v4.len(), 4);
    assert!(r.v6.is_empty());
    // Same origin, same next hop; a multi-origin set uses its first AS.
    assert_eq!(r.v4[1].1, r.v4[2].1);
    assert_eq!(r.v4[1].0, v4("1.0.4.0/22"));
    assert_eq!(r.v4[3].1, nexthop_of_asn(24151, 64));
    assert!(r.v4.iter().all(|&(_, nh)| nh < 64));
    // One next hop means every route gets id 0.
    let one = parse_routes(data, &opts(1)).unwrap();
    assert!(one.v4.iter().all(|&(_, nh)| nh == 0));
}

#[test]
fn cidr_list_with_crlf_and_both_families() {
    let data = b"1.0.0.0/24\r\n2001:db8::/32\r\n10.1.2.3/8\r\n\r\n1.0.0.0/24\r\n";
    let r = parse_routes(data, &opts(8)).unwrap();
    assert_eq!(r.format, TableFormat::CidrList);
    // Truncated, de-duplicated, sorted.
    let v4s: Vec<Ipv4Net> = r.v4.iter().map(|&(p, _)| p).collect();
    assert_eq!(v4s, vec![v4("1.0.0.0/24"), v4("10.0.0.0/8")]);
    assert_eq!(r.v6.len(), 1);
    assert_eq!(r.v6[0].0, "2001:db8::/32".parse::<Ipv6Net>().unwrap());
    assert!(r.v4.iter().all(|&(_, nh)| nh < 8));
}

#[test]
fn ris_dump_keeps_most_seen_origin_and_filters_by_peers() {
    let data = b"%\n% comment\n%\n\n3204\t::/0\t1\n{36786}\t2001:510::/32\t173\n{36786,64463}\t2001:510::/32\t32\n64500\t2001:db8::/48\t9\n64501\t2001:db8::/48\t3\n";
    let all = parse_routes(data, &opts(64)).unwrap();
    assert_eq!(all.format, TableFormat::RisWhois);
    assert_eq!(all.v6.len(), 3);
    let p510 = all
        .v6
        .iter()
        .find(|(p, _)| p.to_string() == "2001:510::/32")
        .unwrap();
    assert_eq!(p510.1, nexthop_of_asn(36786, 64));
    let filtered = parse_routes(
        data,
        &LoadOptions {
            nexthops: 64,
            min_peers: 10,
        },
    )
    .unwrap();
    let names: Vec<String> = filtered.v6.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(names, vec!["2001:510::/32"]);
}

#[test]
fn prefix_nexthop_integer_and_address() {
    let ints = parse_routes(b"2001::/32\t21\n2001:200::/32\t16\n", &opts(64)).unwrap();
    assert_eq!(ints.format, TableFormat::PrefixNextHop);
    assert_eq!(
        ints.v6.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![21, 16]
    );
    let addrs = parse_routes(
        b"2600:2004::/32 2001:7f8:4::1a0b:1\n2a00:86c0:1009::/48 2001:7f8:4::1a0b:1\n2607:f750:5000::/40 2001:7f8:4::1b1b:1\n",
        &opts(64),
    )
    .unwrap();
    let by_name = |s: &str| addrs.v6.iter().find(|(p, _)| p.to_string() == s).unwrap().1;
    assert_eq!(by_name("2600:2004::/32"), 0);
    assert_eq!(by_name("2a00:86c0:1009::/48"), 0);
    assert_eq!(by_name("2607:f750:5000::/40"), 1);
}

#[test]
fn bad_input_is_an_error_with_a_line_number() {
    let e = parse_routes(b"1.0.0.0/24\n1.0.0.0/33\n", &opts(4)).unwrap_err();
    assert_eq!(
        e,
        ParseError::Line {
            line: 2,
            message: "bad prefix \"1.0.0.0/33\"".into()
        }
    );
    assert!(matches!(
        parse_routes(b"hello world\n", &opts(4)),
        Err(ParseError::Line { line: 1, .. })
    ));
    assert_eq!(
        parse_routes(b"% only\n\n", &opts(4)),
        Err(ParseError::Empty)
    );
    assert!(matches!(
        parse_routes(b"1.0.0.0/24\n2.0.0.0\t8\t5\n", &opts(4)),
        Err(ParseError::Line { line: 2, .. })
    ));
    assert_eq!(
        parse_routes(b"1 a 1.0.0.0/24 1.2.3.4\n", &opts(4)),
        Err(ParseError::IsUpdateTrace)
    );
    assert!(matches!(
        parse_routes(b"1.0.0.0/24\n", &opts(0)),
        Err(ParseError::Options(_))
    ));
}

#[test]
fn update_trace() {
    let data = b"1418774413 w 202.70.88.0/21 0.0.0.0\n1418774413 a 202.70.88.0/21 195.66.226.74\n";
    let u = text::parse_updates(data).unwrap();
    assert_eq!(u.len(), 2);
    assert_eq!(u[0].next_hop, None);
    assert_eq!(u[1].next_hop, Some("195.66.226.74".parse().unwrap()));
    assert_eq!(u[1].prefix, "202.70.88.0/21".parse::<IpNet>().unwrap());
    assert_eq!(u[1].time, 1418774413);
    assert!(text::parse_updates(b"1 x 1.0.0.0/8 0.0.0.0\n").is_err());
    assert!(text::parse_updates(b"1 a 1.0.0.0/8\n").is_err());
}

/// Builds an MRT record: header + body.
fn mrt_record(kind: u16, subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&1_027_000_000u32.to_be_bytes());
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&subtype.to_be_bytes());
    r.extend_from_slice(&(body.len() as u32).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// AS_PATH attribute with one AS_SEQUENCE.
fn as_path(ases: &[u32], as_size: usize) -> Vec<u8> {
    let mut seg = vec![2u8, ases.len() as u8];
    for a in ases {
        seg.extend_from_slice(&a.to_be_bytes()[4 - as_size..]);
    }
    let mut attr = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attr.extend_from_slice(&[0x40, 2, seg.len() as u8]);
    attr.extend_from_slice(&seg);
    attr
}

#[test]
fn mrt_table_dump_v1_and_v2() {
    let mut data = Vec::new();
    // TABLE_DUMP, AFI IPv4: 193.0.0.0/21 via path 3333 1103.
    let attrs = as_path(&[3333, 1103], 2);
    let mut body = vec![0, 0, 0, 1, 193, 0, 0, 0, 21, 1];
    body.extend_from_slice(&[0; 4]); // time
    body.extend_from_slice(&[195, 66, 224, 1, 0x0d, 0x05]); // peer IP, peer AS
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    data.extend(mrt_record(12, 1, &body));
    let mut boundaries = vec![data.len()];
    // A record type we skip (BGP4MP).
    data.extend(mrt_record(16, 4, &[1, 2, 3]));
    boundaries.push(data.len());
    // TABLE_DUMP_V2 PEER_INDEX_TABLE (skipped) and RIB_IPV6_UNICAST 2001:db8::/33.
    data.extend(mrt_record(13, 1, &[0; 8]));
    boundaries.push(data.len());
    let attrs = as_path(&[64496, 4_200_000_000], 4);
    let mut body = vec![0, 0, 0, 7, 33, 0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 1, 0, 0];
    body.extend_from_slice(&[0; 4]);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    data.extend(mrt_record(13, 4, &body));

    let r = parse_routes(&data, &opts(64)).unwrap();
    assert_eq!(r.format, TableFormat::Mrt);
    assert_eq!(r.v4, vec![(v4("193.0.0.0/21"), nexthop_of_asn(1103, 64))]);
    assert_eq!(
        r.v6,
        vec![(
            "2001:db8:8000::/33".parse().unwrap(),
            nexthop_of_asn(4_200_000_000, 64)
        )]
    );

    // Truncation inside a record is an error, never a panic.
    for cut in 1..data.len() {
        let res = parse_routes(&data[..cut], &opts(64));
        if cut >= 12 && !boundaries.contains(&cut) {
            assert!(res.is_err(), "cut at {cut} accepted");
        }
    }
}

#[test]
fn mix64_is_fixed() {
    // Next-hop assignment must never change across builds: pin the mixer.
    assert_eq!(mix64(0), 0xe220_a839_7b1d_cdaf);
    assert_eq!(nexthop_of_asn(13335, 64), (mix64(13335) % 64) as u32);
}
