//! `ferroute replay` over real 802.1Q captures (`../shared/pcaps/vlan/`)
//! with VLAN sub-interfaces, every frame's verdict checked against a
//! prediction made independently with etherparse from its own headers, and
//! the frames written out checked for the tag of the sub-interface they
//! left through.
//!
//! The router: `trunk` carries only VLANs (no address of its own), VLAN
//! 4093 on it is `trunk.4093` (10.20.80.0/24); `p1` is an untagged link
//! (10.1.0.0/24) with VLAN 200 `p1.200` (10.0.0.0/24, its own MAC). The
//! zeek capture's TCP flow between 10.20.80.1 and 10.0.0.15, tagged 4093,
//! comes in on the trunk: one direction leaves retagged 200 on p1.200, the
//! other hairpins out of trunk.4093 again; its untagged and MPLS frames are
//! refused by the trunk. The other captures come in on p1, which serves no
//! VLAN they carry (PcapPlusPlus: stacked tags and CDP on VLANs 118/209;
//! tcpdump: 802.1ad; suricata: IPv6 fragments on VLAN 6).

use std::net::Ipv4Addr;

use etherparse::{NetSlice, SlicedPacket, VlanSlice};
use serde_json::Value;

mod replay_common;
use replay_common::{ferroute, read_pcap, replay_json, text};

const CONFIG: &str = r#"
[router]
id = "10.1.0.1"

[[port]]
name = "trunk"
mac = "02:00:00:00:00:01"

[[port]]
name = "trunk.4093"
parent = "trunk"
vlan = 4093
addresses = ["10.20.80.254/24"]

[[port]]
name = "p1"
mac = "02:00:00:00:01:01"
addresses = ["10.1.0.1/24"]

[[port]]
name = "p1.200"
parent = "p1"
vlan = 200
mac = "02:00:00:00:02:01"
addresses = ["10.0.0.254/24"]

[[neighbor]]
address = "10.20.80.1"
mac = "00:01:d7:7e:cc:05"
port = "trunk.4093"

[[neighbor]]
address = "10.0.0.15"
mac = "00:10:f3:02:1c:00"
port = "p1.200"
"#;

const TRUNK_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const P1_200_MAC: [u8; 6] = [2, 0, 0, 0, 2, 1];

/// What the router does with one frame, predicted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Predicted {
    Forward { port: &'static str },
    Drop(&'static str),
}

/// The verdict for `frame` arriving on `link` ("trunk" or "p1"), from
/// etherparse's reading of it and the configuration above.
fn predict(link: &str, frame: &[u8]) -> Predicted {
    let Ok(packet) = SlicedPacket::from_ethernet(frame) else {
        // etherparse refuses frames it cannot read to the end (truncated
        // IP): only the tag decides those here, as below.
        return Predicted::Drop(tag_reason(link, frame));
    };
    let vid = match &packet.vlan {
        None if link == "trunk" => return Predicted::Drop("vlan_untagged"),
        None => return untagged_on_p1(&packet),
        Some(VlanSlice::DoubleVlan(_)) => return Predicted::Drop("vlan_stacked"),
        Some(VlanSlice::SingleVlan(s)) => s.vlan_identifier().value(),
    };
    if frame[12..14] == [0x88, 0xa8] {
        return Predicted::Drop("vlan_stacked");
    }
    if !(link == "trunk" && vid == 4093) {
        return Predicted::Drop("vlan_unknown");
    }
    let Some(NetSlice::Ipv4(ip)) = &packet.net else {
        return Predicted::Drop("unsupported_ethertype");
    };
    let h = ip.header().to_header();
    if h.calc_header_checksum() != h.header_checksum {
        return Predicted::Drop("bad_checksum");
    }
    if h.time_to_live <= 1 {
        return Predicted::Drop("ttl_expired");
    }
    // Both sub-interfaces have the default MTU, 1500.
    assert!(h.total_len <= 1500, "the capture's packets fit");
    match Ipv4Addr::from(h.destination) {
        a if a == Ipv4Addr::new(10, 0, 0, 15) => Predicted::Forward { port: "p1.200" },
        a if a == Ipv4Addr::new(10, 20, 80, 1) => Predicted::Forward { port: "trunk.4093" },
        a => panic!("the capture has no packet to {a}"),
    }
}

/// For frames etherparse cannot slice: the reason from the tags alone.
fn tag_reason(link: &str, frame: &[u8]) -> &'static str {
    let outer = u16::from_be_bytes([frame[12], frame[13]]);
    let inner = u16::from_be_bytes([frame[16], frame[17]]);
    match (outer, inner) {
        (0x88a8, _) | (0x8100, 0x8100 | 0x88a8) => "vlan_stacked",
        (0x8100, _) => "vlan_unknown",
        _ if link == "trunk" => "vlan_untagged",
        _ => panic!("an untagged frame etherparse cannot read"),
    }
}

/// Untagged frames on p1 in these captures: 802.3 (CDP: a length, not an
/// EtherType).
fn untagged_on_p1(packet: &SlicedPacket) -> Predicted {
    assert!(
        packet.net.is_none(),
        "the captures have no untagged IP on p1"
    );
    Predicted::Drop("unsupported_ethertype")
}

fn replay(dir: &std::path::Path, inputs: &[(&str, &std::path::Path)]) -> Value {
    let config = dir.join("router.toml");
    std::fs::write(&config, CONFIG).unwrap();
    replay_json(&config, inputs, &dir.join("out"), &["--retarget"])
}

#[test]
fn vlan_captures_match_an_independent_prediction() {
    let captures = [
        ("trunk", "pcaps/vlan/zeek__mixed-vlan-mpls.pcap"),
        ("p1", "pcaps/vlan/pcapplusplus__VlanPackets.pcap"),
        ("p1", "pcaps/vlan/tcpdump__802.1ad_QinQ.pcap"),
        (
            "p1",
            "pcaps/vlan/suricata__bug-6887-defrag-eth-vlan-ipv6-tcp__frag-eth-vlan-ipv6-tcp.pcap",
        ),
    ];
    let mut total: std::collections::BTreeMap<String, u64> = Default::default();
    let mut forwarded: std::collections::BTreeMap<&str, Vec<Vec<u8>>> = Default::default();
    for (i, (link, name)) in captures.iter().enumerate() {
        let Some(path) = ferroute::testkit::shared_path(name) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let json = replay(dir.path(), &[(link, &path)]);
        let frames = read_pcap(&path);
        let traced = json["frames"].as_array().unwrap();
        assert_eq!(traced.len(), frames.len(), "{name}");
        for (k, (frame, got)) in frames.iter().zip(traced).enumerate() {
            let want = predict(link, &frame.data);
            let seen = match got["verdict"].as_str().unwrap() {
                "forward" => Predicted::Forward {
                    port: match got["egress"].as_str().unwrap() {
                        "p1.200" => "p1.200",
                        "trunk.4093" => "trunk.4093",
                        other => panic!("frame {k} of {name} left through {other}"),
                    },
                },
                "drop" => Predicted::Drop(
                    DROPS
                        .iter()
                        .find(|r| **r == got["reason"].as_str().unwrap())
                        .copied()
                        .unwrap_or("other"),
                ),
                v => panic!("frame {k} of {name}: {v}"),
            };
            assert_eq!(seen, want, "frame {k} of {name}");
            let key = match &want {
                Predicted::Forward { port } => format!("forward {port}"),
                Predicted::Drop(r) => r.to_string(),
            };
            *total.entry(key).or_default() += 1;
            if let Predicted::Forward { port } = want {
                forwarded.entry(port).or_default().push(frame.data.clone());
            }
        }
        // Every frame has one outcome, and the drop counters say the same.
        let c = &json["counters"];
        let drops: u64 = c["drops"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            c["forwarded"].as_u64().unwrap() + drops + c["local"].as_u64().unwrap(),
            frames.len() as u64,
            "{name}"
        );
        if i == 0 {
            check_outputs(&dir.path().join("out"), &forwarded);
        }
    }
    eprintln!("outcomes: {total:?}");
    // Each path was taken by real frames.
    for key in [
        "forward p1.200",
        "forward trunk.4093",
        "vlan_untagged",
        "vlan_unknown",
        "vlan_stacked",
        "unsupported_ethertype",
    ] {
        assert!(total.get(key).copied().unwrap_or(0) > 0, "{key}: {total:?}");
    }
}

const DROPS: &[&str] = &[
    "vlan_untagged",
    "vlan_unknown",
    "vlan_stacked",
    "unsupported_ethertype",
    "bad_checksum",
    "ttl_expired",
    "truncated",
];

/// The sub-interfaces' captures hold the forwarded frames, in order, each
/// tagged with the sub-interface's VLAN, priority = IP precedence, MACs of
/// the neighbour and the sub-interface, TTL one less, the rest unchanged.
fn check_outputs(
    out: &std::path::Path,
    forwarded: &std::collections::BTreeMap<&str, Vec<Vec<u8>>>,
) {
    for (port, vid, mac) in [
        ("p1.200", 200u16, P1_200_MAC),
        ("trunk.4093", 4093, TRUNK_MAC),
    ] {
        let sent = read_pcap(&out.join(format!("{port}.pcap")));
        let inputs = &forwarded[port];
        assert_eq!(sent.len(), inputs.len(), "{port}");
        for (o, i) in sent.iter().zip(inputs) {
            let (o, i) = (&o.data, i);
            // One tag in, one tag out; trailers after the IP packet (the
            // capture has F5 Ethernet trailers) are not forwarded.
            let ip_len = u16::from_be_bytes([i[18 + 2], i[18 + 3]]) as usize;
            assert_eq!(o.len(), 18 + ip_len, "{port}");
            assert_eq!(&o[12..14], &[0x81, 0x00]);
            let tci = u16::from_be_bytes([o[14], o[15]]);
            assert_eq!(tci & 0x0fff, vid, "{port}");
            assert_eq!(tci >> 13, (i[19] >> 5) as u16, "PCP = precedence");
            assert_eq!(&o[6..12], &mac, "{port}'s MAC");
            let ttl = 18 + 8;
            assert_eq!(o[ttl], i[ttl] - 1);
            assert_eq!(&o[16..ttl], &i[16..ttl]);
            assert_eq!(&o[ttl + 3..], &i[ttl + 3..o.len()], "addresses and payload");
        }
    }
    for idle in ["trunk.pcap", "p1.pcap"] {
        assert!(read_pcap(&out.join(idle)).is_empty(), "{idle}");
    }
}

/// `check-config` names each VLAN and its parent.
#[test]
fn check_config_shows_vlans() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("router.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let path = config.to_str().unwrap();
    let out = ferroute(&["check-config", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("1: trunk.4093  vlan 4093 on trunk  mac 02:00:00:00:00:01"),
        "{shown}"
    );
    assert!(
        shown.contains("3: p1.200  vlan 200 on p1  mac 02:00:00:00:02:01"),
        "{shown}"
    );
}
