//! `ferroute replay` forwards with the table `ferroute run` publishes for
//! the same configuration: static routes, the `[linkstate]` database's SPF
//! routes (equal-cost groups included) and the `[bgp]` files' selection
//! (a BLACKHOLE route installed as a blackhole by the dump's import
//! policy), with uRPF checked against all of them; for IPv4 and IPv6.
//!
//! Every route these frames need comes from the link-state or BGP input
//! (the configuration's static routes cover none of them), so a replay that
//! read only static routes would drop them as `no_route` / `urpf_strict`.

use std::net::IpAddr;
use std::path::Path;

use ferroute::testkit::frames::{V4Frame, V6Frame, GW_MAC, HOST_MAC, P0_MAC};
use ferroute::testkit::lsdb::Lsdb;
use ferroute::testkit::mrt::{peer_index, rib_ipv4, rib_ipv6, MrtEntry, BLACKHOLE};
use ferroute::wire::MacAddr;
use serde_json::Value;

mod replay_common;
use replay_common::{read_pcap, replay_json, us, write_pcap, CONFIG};

/// The router's MACs on p1 and p2 (CONFIG), the host behind p0 and the
/// link-state neighbour behind p2.
const P1: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const P2: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);
const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
const R3_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 3]);

/// This router (192.0.2.1) reaches R2 over p1 (203.0.113.2,
/// 2001:db8:1::2) and R3 over p2 (10.9.0.3, 2001:db8:2::3), both at cost
/// 10; R2 and R3 both reach R4 at cost 5. So R4's prefixes (198.18.0.0/24,
/// 2001:db8:40::/48) are equal-cost groups over p1 and p2, and R2's
/// (198.18.2.0/24, 2001:db8:20::/48) leave through p1 only.
fn lsdb() -> String {
    Lsdb::default()
        .router("192.0.2.1", 1)
        .first_hop("10.255.0.2", 10, &["203.0.113.2", "2001:db8:1::2"], "p1")
        .first_hop("10.255.0.3", 10, &["10.9.0.3", "2001:db8:2::3"], "p2")
        .router("10.255.0.2", 1)
        .link("192.0.2.1", 10)
        .link("10.255.0.4", 5)
        .stub("198.18.2.0/24", 0)
        .stub("2001:db8:20::/48", 0)
        .router("10.255.0.3", 1)
        .link("192.0.2.1", 10)
        .link("10.255.0.4", 5)
        .router("10.255.0.4", 1)
        .link("10.255.0.2", 5)
        .link("10.255.0.3", 5)
        .stub("198.18.0.0/24", 0)
        .stub("2001:db8:40::/48", 0)
        .toml()
}

/// Routing inputs and the neighbour behind p2, after CONFIG's sections.
/// The BGP peer and OSPF are live sessions: replay never brings them up.
const INPUTS: &str = r#"
[[neighbor]]
address = "10.9.0.3"
mac = "02:00:00:00:02:03"
port = "p2"

[[neighbor]]
address = "2001:db8:2::3"
mac = "02:00:00:00:02:03"
port = "p2"

[[neighbor]]
address = "2001:db8::10"
mac = "02:00:00:00:00:aa"
port = "p0"

[linkstate]
file = "lsdb.toml"

[bgp]
local_as = 64496

[[bgp.table]]
file = "table.txt"
peer = "203.0.113.2"
peer_as = 64500

[[bgp.mrt]]
file = "rib.mrt"
import = "rtbh"

# Remotely triggered blackholing (RFC 7999): BLACKHOLE routes become
# blackholes, the rest pass.
[[bgp.policy]]
name = "rtbh"
default = "accept"

[[bgp.policy.term]]
match.community = ["blackhole"]
set.blackhole = true
action = "accept"

[[bgp.peer]]
address = "203.0.113.9"
remote_as = 64501

[ospf]
area = "0.0.0.0"

[[ospf.interface]]
port = "p1"
"#;

/// CONFIG with strict uRPF on p1 and p2 (which gets an IPv6 address) and
/// the routing inputs, written beside the LSDB and the BGP table.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let text = CONFIG
        .replacen(
            "addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]",
            "addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]\nurpf = \"strict\"",
            1,
        )
        .replacen(
            "addresses = [\"10.9.0.1/24\"]",
            "addresses = [\"10.9.0.1/24\", \"2001:db8:2::1/64\"]\nurpf = \"strict\"",
            1,
        );
    assert_eq!(text.matches("urpf = \"strict\"").count(), 2);
    std::fs::write(dir.join("lsdb.toml"), lsdb()).unwrap();
    std::fs::write(dir.join("table.txt"), "100.70.0.0/16\t64500\n").unwrap();
    // R3 (behind p2) announces a prefix tagged BLACKHOLE and an untagged
    // one per family.
    let mut rib = peer_index(&[("10.9.0.3", 64510)]);
    let r3 = MrtEntry::new(0, "10.9.0.3", &[64510]);
    rib.extend(rib_ipv4(
        0,
        "100.71.0.0/16",
        &[r3.communities(&[BLACKHOLE])],
    ));
    rib.extend(rib_ipv4(1, "100.72.0.0/16", &[r3]));
    let r3 = MrtEntry::new(0, "2001:db8:2::3", &[64510]);
    rib.extend(rib_ipv6(
        2,
        "2001:db8:71::/48",
        &[r3.communities(&[BLACKHOLE])],
    ));
    rib.extend(rib_ipv6(3, "2001:db8:72::/48", &[r3]));
    std::fs::write(dir.join("rib.mrt"), rib).unwrap();
    let config = dir.join("router.toml");
    std::fs::write(&config, format!("{text}{INPUTS}")).unwrap();
    config
}

/// A UDP datagram from `src` to `dst` (both IPv4 or both IPv6), port
/// `sport` to 9, arriving through the port whose MAC is `to` from the
/// neighbour `from`. An IPv6 one carries `sport` as its flow label too:
/// the IPv6 flow hash reads the label, not the ports (RFC 6438).
fn udp(src: &str, dst: &str, sport: u16, to: MacAddr, from: MacAddr) -> Vec<u8> {
    let (ports, payload) = (Some((sport, 9)), vec![0x5a; 16]);
    match (src.parse().unwrap(), dst.parse().unwrap()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => V4Frame {
            dst_mac: to,
            src_mac: from,
            src,
            ports,
            payload,
            ..V4Frame::udp(dst)
        }
        .build(),
        (IpAddr::V6(src), IpAddr::V6(dst)) => V6Frame {
            dst_mac: to,
            src_mac: from,
            src,
            flow_label: u32::from(sport),
            ports,
            payload,
            ..V6Frame::udp(dst)
        }
        .build(),
        _ => panic!("{src} and {dst} are of different families"),
    }
}

fn outcome(f: &Value) -> (&str, &str) {
    let egress = f["egress"].as_str();
    (
        f["verdict"].as_str().unwrap(),
        egress.or(f["reason"].as_str()).unwrap_or(""),
    )
}

/// The destination MACs of a port's output capture.
fn dst_macs(out: &Path, port: &str) -> Vec<MacAddr> {
    read_pcap(&out.join(format!("{port}.pcap")))
        .iter()
        .map(|f| MacAddr(f.data[..6].try_into().unwrap()))
        .collect()
}

/// One family's addresses in the topology: the host behind p0, one in
/// each link-state prefix (R4's equal-cost one, R2's), in the BGP text
/// table's (IPv4 only), in the dump's BLACKHOLE and untagged prefixes, and
/// a source no route covers.
struct Family {
    host: &'static str,
    r4: &'static str,
    r2: &'static str,
    table: Option<&'static str>,
    blackhole: &'static str,
    dump: &'static str,
    unrouted: &'static str,
}

const IPV4: Family = Family {
    host: "192.0.2.10",
    r4: "198.18.0.7",
    r2: "198.18.2.7",
    table: Some("100.70.1.1"),
    blackhole: "100.71.1.1",
    dump: "100.72.1.1",
    unrouted: "198.18.99.1",
};

const IPV6: Family = Family {
    host: "2001:db8::10",
    r4: "2001:db8:40::7",
    r2: "2001:db8:20::7",
    table: None,
    blackhole: "2001:db8:71::1",
    dump: "2001:db8:72::1",
    unrouted: "2001:db8:99::1",
};

/// Replays one family's frames through the configuration and checks where
/// each went.
fn replay_family(f: &Family) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let host = f.host;
    // From the host on p0: 16 flows to the equal-cost prefix, one to R2's
    // prefix, one to the BGP table's, one to each of the dump's.
    let mut from_host: Vec<Vec<u8>> = (0..16)
        .map(|i| udp(host, f.r4, 1000 + i, P0_MAC, HOST_MAC))
        .collect();
    let others = [Some(f.r2), f.table, Some(f.blackhole), Some(f.dump)];
    for dst in others.into_iter().flatten() {
        from_host.push(udp(host, dst, 1, P0_MAC, HOST_MAC));
    }
    // uRPF strict on p1: R2's and R4's sources come back through p1; a
    // source no route covers does not.
    let from_p1 = [
        udp(f.r2, host, 1, P1, GW_MAC),
        udp(f.r4, host, 1, P1, GW_MAC),
        udp(f.unrouted, host, 1, P1, GW_MAC),
    ];
    // On p2: R4's sources (the group has a member on p2) pass, R2's (p1
    // only) do not.
    let from_p2 = [
        udp(f.r4, host, 1, P2, R3_MAC),
        udp(f.r2, host, 1, P2, R3_MAC),
    ];
    let captures = [
        ("p0", from_host.as_slice(), 0),
        ("p1", &from_p1[..], 100),
        ("p2", &from_p2[..], 200),
    ];
    let mut inputs = Vec::new();
    for (port, frames, start) in captures {
        let path = dir.path().join(format!("in-{port}.pcap"));
        let timed: Vec<(u64, Vec<u8>)> = (start..).map(us).zip(frames.iter().cloned()).collect();
        write_pcap(&path, &timed);
        inputs.push((port, path));
    }
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(p, f)| (*p, f.as_path())).collect();
    let out = dir.path().join("out");
    let json = replay_json(&config, &inputs, &out, &[]);

    let frames = json["frames"].as_array().unwrap();
    let got: Vec<(&str, &str)> = frames.iter().map(outcome).collect();
    let table = usize::from(f.table.is_some());
    assert_eq!(got.len(), 24 + table, "{got:?}");
    // The equal-cost prefix: every flow forwarded, over both members.
    let ecmp = &got[..16];
    assert!(ecmp.iter().all(|(v, _)| *v == "forward"), "{ecmp:?}");
    let on_p1 = ecmp.iter().filter(|(_, e)| *e == "p1").count();
    let on_p2 = ecmp.iter().filter(|(_, e)| *e == "p2").count();
    assert!(on_p1 > 0 && on_p2 > 0 && on_p1 + on_p2 == 16, "{ecmp:?}");
    let mut expected = vec![("forward", "p1")];
    expected.extend(f.table.map(|_| ("forward", "p1")));
    expected.extend([
        ("drop", "blackhole_route"),
        ("forward", "p2"),
        ("forward", "p0"),
        ("forward", "p0"),
        ("drop", "urpf_strict"),
        ("forward", "p0"),
        ("drop", "urpf_strict"),
    ]);
    assert_eq!(&got[16..], expected);
    // Each frame went to the right next hop: R2 (and the table's peer)
    // behind p1, R3 (and the dump's peer) behind p2, the host behind p0.
    let p1_macs = dst_macs(&out, "p1");
    assert_eq!(p1_macs.len(), on_p1 + 1 + table);
    assert!(p1_macs.iter().all(|m| *m == GW_MAC), "{p1_macs:?}");
    let p2_macs = dst_macs(&out, "p2");
    assert_eq!(p2_macs.len(), on_p2 + 1);
    assert!(p2_macs.iter().all(|m| *m == R3_MAC), "{p2_macs:?}");
    assert_eq!(dst_macs(&out, "p0"), [HOST; 3]);
    assert_eq!(json["counters"]["drops"]["urpf_strict"], 2);
    assert_eq!(json["counters"]["drops"]["blackhole_route"], 1);
    assert_eq!(json["ports"][1]["stages"]["urpf_dropped"], 1);
    assert_eq!(json["ports"][2]["stages"]["urpf_dropped"], 1);
}

#[test]
fn replay_forwards_with_link_state_and_bgp_routes() {
    replay_family(&IPV4);
}

#[test]
fn replay_forwards_ipv6_with_link_state_and_bgp_routes() {
    replay_family(&IPV6);
}
