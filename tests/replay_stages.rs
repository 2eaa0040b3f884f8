//! `ferroute replay` with uRPF and an ACL on the ingress port, over a real
//! capture, against a prediction made independently with etherparse.
//!
//! The capture is replayed twice with the same routes: without the stages
//! (the baseline) and with them. The stages run after validation, martian
//! checks and local delivery, and before everything else, so a frame the
//! baseline forwards must now be forwarded or stopped exactly as predicted
//! from its own headers; a frame the baseline stopped before the stages
//! keeps its verdict.

use std::collections::BTreeMap;
use std::net::IpAddr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use serde_json::Value;

mod replay_common;
use replay_common::{read_pcap, replay_json, CONFIG};

/// Half of each family is routed back through p0, half through p1.
const ROUTES: &str = r#"
[[route]]
prefix = "0.0.0.0/1"
via = "192.0.2.10"

[[route]]
prefix = "128.0.0.0/1"
via = "203.0.113.2"

[[route]]
prefix = "::/1"
via = "2001:db8::10"

[[route]]
prefix = "8000::/1"
via = "2001:db8:1::2"

[[neighbor]]
address = "2001:db8::10"
mac = "02:00:00:00:00:aa"
port = "p0"
"#;

const STAGES: &str = r#"
[[acl]]
name = "golden"

[[acl.rule]]
action = "deny"
protocol = "tcp"
destination_port = "443"

[[acl.rule]]
action = "reject"
protocol = "udp"
destination_port = "53"
"#;

/// Reasons a frame gets before the stages run.
const BEFORE_STAGES: &[&str] = &[
    "not_our_mac",
    "l2_multicast",
    "vlan_unknown",
    "vlan_untagged",
    "vlan_stacked",
    "unsupported_ethertype",
    "truncated",
    "bad_version",
    "bad_header_length",
    "bad_total_length",
    "bad_checksum",
    "martian_source",
    "martian_destination",
    "multicast_destination",
];

/// What the stages do to `frame`, from its own headers: the ACL first
/// (ports only of unfragmented TCP/UDP), then strict uRPF (sources in the
/// upper half of either family are routed through p1; link-local IPv6
/// sources are left to their own rule). `None` for fragments, which are
/// not predicted.
fn predict(frame: &[u8]) -> Option<Option<&'static str>> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let (src, fragmented) = match packet.net.as_ref()? {
        NetSlice::Ipv4(ip) => (
            IpAddr::V4(ip.header().source_addr()),
            ip.is_payload_fragmented(),
        ),
        NetSlice::Ipv6(ip) => (
            IpAddr::V6(ip.header().source_addr()),
            ip.is_payload_fragmented(),
        ),
    };
    if fragmented {
        return None;
    }
    match packet.transport {
        Some(TransportSlice::Tcp(t)) if t.destination_port() == 443 => {
            return Some(Some("acl_in_deny"))
        }
        Some(TransportSlice::Udp(u)) if u.destination_port() == 53 => {
            return Some(Some("acl_in_reject"))
        }
        _ => {}
    }
    let upper_half = match src {
        IpAddr::V4(a) => a.octets()[0] >= 128,
        IpAddr::V6(a) => a.segments()[0] >= 0x8000 && a.segments()[0] & 0xffc0 != 0xfe80,
    };
    Some(upper_half.then_some("urpf_strict"))
}

/// Replays `capture` into p0 under configuration `text`; the JSON report.
fn replay(dir: &std::path::Path, name: &str, text_: &str, capture: &std::path::Path) -> Value {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text_).unwrap();
    replay_json(
        &config,
        &[("p0", capture)],
        &dir.join(name),
        &["--retarget"],
    )
}

fn outcome(f: &Value) -> (String, String) {
    (
        f["verdict"].as_str().unwrap().to_string(),
        f["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn stages_over_a_real_capture_match_an_independent_prediction() {
    let Some(capture) =
        ferroute::testkit::shared_path("pcaps/mixed/pcapplusplus__many-protocols.pcap")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let base = replay(dir.path(), "base", &format!("{CONFIG}{ROUTES}"), &capture);
    let p0 = CONFIG.replacen(
        "addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]",
        "addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\nurpf = \"strict\"\nacl_in = \"golden\"",
        1,
    );
    assert_ne!(p0, CONFIG);
    let with = replay(
        dir.path(),
        "staged",
        &format!("{p0}{ROUTES}{STAGES}"),
        &capture,
    );

    let frames = read_pcap(&capture);
    let (b, w) = (
        base["frames"].as_array().unwrap(),
        with["frames"].as_array().unwrap(),
    );
    assert_eq!((b.len(), w.len()), (frames.len(), frames.len()));
    let mut predicted: BTreeMap<&str, u64> = BTreeMap::new();
    let mut checked = 0;
    for ((frame, before), after) in frames.iter().zip(b).zip(w) {
        let (before, after) = (outcome(before), outcome(after));
        let stage = predict(&frame.data);
        if before.0 == "local" || BEFORE_STAGES.contains(&before.1.as_str()) {
            assert_eq!(after, before, "stopped before the stages: unchanged");
            continue;
        }
        match stage {
            Some(Some(reason)) => {
                assert_eq!(after, ("drop".to_string(), reason.to_string()));
                *predicted.entry(reason).or_default() += 1;
                checked += 1;
            }
            Some(None) => {
                assert_eq!(after, before, "passes the stages: as without them");
                checked += 1;
            }
            None => assert!(
                after == before || after.1.starts_with("acl_in") || after.1 == "urpf_strict",
                "{after:?}"
            ),
        }
    }
    // Enough of the capture reaches the stages, and each stage acts.
    assert!(checked > 100, "only {checked} frames checked");
    for reason in ["acl_in_deny", "acl_in_reject", "urpf_strict"] {
        assert!(
            predicted.get(reason).copied().unwrap_or(0) > 0,
            "{reason}: {predicted:?}"
        );
    }
    // Counters: drop reasons, the port's stage counters and the rule hits agree.
    let drops = &with["counters"]["drops"];
    let count = |r: &str| drops[r].as_u64().unwrap_or(0);
    assert_eq!(count("acl_in_deny"), predicted["acl_in_deny"]);
    assert_eq!(count("acl_in_reject"), predicted["acl_in_reject"]);
    let p0 = &with["ports"][0]["stages"];
    assert_eq!(p0["urpf_dropped"], count("urpf_strict"));
    assert_eq!(
        p0["acl_in_dropped"],
        count("acl_in_deny") + count("acl_in_reject")
    );
    let acl = &with["acl"][0];
    assert_eq!(acl["name"], "golden");
    assert_eq!(acl["rules"][0], count("acl_in_deny"));
    assert_eq!(acl["rules"][1], count("acl_in_reject"));
    eprintln!("checked {checked} frames; stopped by stage: {predicted:?}");
}
