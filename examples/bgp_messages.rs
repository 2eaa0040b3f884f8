//! Writes fuzz seeds for the `bgp` target: BGP messages this speaker writes
//! itself (OPEN with capabilities, UPDATEs of both families with 2- and
//! 4-octet AS paths, withdrawals, End-of-RIB, ROUTE-REFRESH, KEEPALIVE,
//! NOTIFICATION), each in the target's two modes: a message body to read
//! (first byte 0), and a stream for a session in Established (first byte 3).
//!
//! ```text
//! cargo run --example bgp_messages -- OUT_DIR
//! ```

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use ferroute::control::bgp::policy::Role;
use ferroute::control::bgp::session::message::{
    self, Capabilities, Family, Notification, Open, HEADER_LEN,
};
use ferroute::control::bgp::session::update_out::{encode_announce, encode_withdraw, end_of_rib};
use ferroute::control::bgp::{AsPath, AsSegment, Origin, PathAttrs};

fn main() -> Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: bgp_messages OUT_DIR")?;
    std::fs::create_dir_all(&out)?;
    let mut messages = vec![
        Open {
            asn: 65001,
            hold_time: 90,
            router_id: Ipv4Addr::new(192, 0, 2, 2),
            capabilities: Capabilities {
                families: Family::ALL.to_vec(),
                multiprotocol: true,
                route_refresh: true,
                four_octet_as: Some(65001),
                graceful_restart: None,
                // RFC 9234: the fuzz target's sessions are lateral peers.
                role: Some(Role::Peer as u8),
                role_conflict: false,
            },
        }
        .encode(),
        message::keepalive(),
        message::route_refresh(Family::Ipv6Unicast),
        Notification::cease(6).encode(),
        end_of_rib(Family::Ipv4Unicast),
        end_of_rib(Family::Ipv6Unicast),
    ];
    let path = AsPath::new(vec![
        AsSegment::Sequence(vec![65001, 4_200_000_000, 3356].into()),
        AsSegment::Set(vec![64512, 64513].into()),
    ]);
    for (hop, prefixes) in [
        (
            "192.0.2.2",
            vec!["10.0.0.0/8", "198.51.100.0/24", "203.0.113.128/25"],
        ),
        ("2001:db8:1::2", vec!["2001:db8:100::/48", "2001:db8::/32"]),
    ] {
        let mut attrs = PathAttrs::new(Origin::Igp, path.clone(), hop.parse()?);
        attrs.med = Some(10);
        attrs.communities = vec![0xfde9_0064].into_boxed_slice();
        attrs.large_communities = vec![[65001, 1, 2]].into_boxed_slice();
        attrs.otc = Some(65001);
        let prefixes: Vec<_> = prefixes
            .iter()
            .map(|p| p.parse())
            .collect::<Result<_, _>>()?;
        for four_octet_as in [true, false] {
            encode_announce(&attrs, &prefixes, four_octet_as, &mut messages);
        }
        encode_withdraw(&prefixes, &mut messages);
    }
    for (i, m) in messages.iter().enumerate() {
        let mut body = vec![0u8];
        body.extend_from_slice(&m[HEADER_LEN..]);
        std::fs::write(format!("{out}/body{i:02}"), body)?;
        let mut stream = vec![3u8];
        stream.extend_from_slice(m);
        std::fs::write(format!("{out}/stream{i:02}"), stream)?;
    }
    println!("bgp_messages: {} seeds in {out}", messages.len() * 2);
    Ok(())
}
