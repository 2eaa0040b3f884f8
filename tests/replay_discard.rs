//! `ferroute replay` over discard routes: blackhole, unreachable and
//! prohibit, offline exactly as the workers act live.

use ferroute::testkit::frames::{V4Frame, V6Frame};

mod replay_common;
use replay_common::{read_pcap, replay_json, us, write_pcap, CONFIG};

/// Discard routes offline: a blackhole /16 around the forwarding /24, an
/// unreachable and two prohibit routes, each frame built with the shared
/// testkit builder; verdicts, drop reasons and the ICMP errors on p0.
#[test]
fn replay_shows_blackhole_unreachable_and_prohibit_routes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("router.toml");
    let discard = r#"
[[route]]
prefix = "198.51.0.0/16"
action = "blackhole"

[[route]]
prefix = "100.64.0.0/10"
action = "unreachable"

[[route]]
prefix = "172.16.0.0/12"
action = "prohibit"

[[route]]
prefix = "2001:db8:ff::/48"
action = "prohibit"
"#;
    std::fs::write(&config, format!("{CONFIG}{discard}")).unwrap();
    let v4 = |dst: &str| V4Frame {
        payload: vec![0x5a; 20],
        ..V4Frame::udp(dst.parse().unwrap())
    };
    let frames = [
        v4("198.51.100.7").build(),
        v4("198.51.7.7").build(),
        v4("100.64.1.1").build(),
        v4("172.16.1.1").build(),
        V6Frame {
            payload: vec![0x5a; 20],
            ..V6Frame::udp("2001:db8:ff::1".parse().unwrap())
        }
        .build(),
    ];
    let in0 = dir.path().join("in0.pcap");
    let timed: Vec<(u64, Vec<u8>)> = (0..).map(us).zip(frames.iter().cloned()).collect();
    write_pcap(&in0, &timed);
    let out = dir.path().join("out");
    let json = replay_json(&config, &[("p0", &in0)], &out, &[]);
    let got: Vec<(&str, &str, usize)> = json["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["verdict"].as_str().unwrap(),
                f["reason"].as_str().unwrap_or(""),
                f["emitted"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("forward", "", 0),
            ("drop", "blackhole_route", 0),
            ("drop", "unreachable_route", 1),
            ("drop", "prohibit_route", 1),
            ("drop", "prohibit_route", 1),
        ]
    );
    let c = &json["counters"];
    assert_eq!(c["icmp_sent"], 3);
    assert_eq!(c["drops"]["blackhole_route"], 1);
    assert_eq!(c["drops"]["unreachable_route"], 1);
    assert_eq!(c["drops"]["prohibit_route"], 2);
    // The errors on p0: (type, code) after the IPv4 / IPv6 header.
    let errors: Vec<(u8, u8)> = read_pcap(&out.join("p0.pcap"))
        .iter()
        .map(|f| match u16::from_be_bytes([f.data[12], f.data[13]]) {
            0x0800 => (f.data[34], f.data[35]),
            _ => (f.data[54], f.data[55]),
        })
        .collect();
    assert_eq!(errors, [(3, 1), (3, 13), (1, 1)]);
    assert_eq!(
        read_pcap(&out.join("p1.pcap")).len(),
        1,
        "only the /24 forwards"
    );
}
