//! `ferroute replay` end to end: captures built here, the real binary run on
//! them, verdicts and output captures checked.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Output;

use etherparse::{
    Ethernet2HeaderSlice, IpHeaders, IpNumber, Ipv4Header, Ipv4HeaderSlice, Ipv6HeaderSlice,
    PacketBuilder,
};
use ferroute::io::CapturedFrame;
use serde_json::Value;

mod replay_common;
use replay_common::{ferroute, read_pcap, text, us, write_pcap, CONFIG};

const P0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const P1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// The host 192.0.2.10 / 2001:db8::10 behind p0.
const HOST0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
/// The next hop 203.0.113.2 / 2001:db8:1::2 behind p1.
const GW1_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];

fn v4_udp(src: [u8; 4], dst: [u8; 4], ttl: u8, df: bool, payload: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4Header::new(0, ttl, IpNumber::UDP, src, dst).unwrap();
    ip.dont_fragment = df;
    let builder = PacketBuilder::ethernet2(HOST0_MAC, P0_MAC)
        .ip(IpHeaders::Ipv4(ip, Default::default()))
        .udp(4000, 53);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap();
    out
}

fn v6_udp(src: [u8; 16], dst: [u8; 16], hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(HOST0_MAC, P0_MAC)
        .ipv6(src, dst, hop_limit)
        .udp(4000, 53);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap();
    out
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// RFC 1071 checksum; 0 over a region that includes its own checksum.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The scenario's inputs, written into `dir`.
struct Scenario {
    dir: tempfile::TempDir,
    config: PathBuf,
    in0: PathBuf,
    in1: PathBuf,
    p0_frames: Vec<(u64, Vec<u8>)>,
    p1_frames: Vec<(u64, Vec<u8>)>,
}

const HOST0: [u8; 4] = [192, 0, 2, 10];
const REMOTE: [u8; 4] = [198, 51, 100, 7];

fn scenario() -> Scenario {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("router.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let small = [0x5a; 20];
    let big = [0x33; 1472]; // UDP payload of a 1500-byte IPv4 packet
    let p0_frames = vec![
        (us(1), v4_udp(HOST0, REMOTE, 64, true, &small)),
        (
            us(2),
            v6_udp(v6("2001:db8::10"), v6("2001:db8:100::7"), 64, &small),
        ),
        (us(3), v4_udp(HOST0, REMOTE, 1, true, &small)),
        (us(4), v4_udp(HOST0, [8, 8, 8, 8], 64, true, &small)),
        (us(5), v4_udp(HOST0, REMOTE, 64, true, &big)),
        (us(6), v4_udp(HOST0, REMOTE, 64, false, &big)),
    ];
    // Arrives on p1 at the same instant as the TTL-1 frame on p0: p0 was
    // given first on the command line, so it is processed first.
    let mut back = v4_udp(REMOTE, HOST0, 64, true, &small);
    back[..6].copy_from_slice(&P1_MAC);
    back[6..12].copy_from_slice(&GW1_MAC);
    let p1_frames = vec![(us(3), back)];
    let in0 = dir.path().join("in0.pcap");
    let in1 = dir.path().join("in1.pcap");
    write_pcap(&in0, &p0_frames);
    write_pcap(&in1, &p1_frames);
    Scenario {
        dir,
        config,
        in0,
        in1,
        p0_frames,
        p1_frames,
    }
}

impl Scenario {
    fn run(&self, extra: &[&str]) -> (Output, PathBuf) {
        let out = self.dir.path().join("out");
        let mut args = vec![
            "replay".to_string(),
            "--config".into(),
            self.config.display().to_string(),
            "--input".into(),
            format!("p0={}", self.in0.display()),
            "--input".into(),
            format!("p1={}", self.in1.display()),
            "--output-dir".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (ferroute(&args), out)
    }
}

/// Length of the ICMPv4 error about an IPv4 packet of `ip_len` bytes:
/// Ethernet + IPv4 + ICMP header + the quote, capped so the IP packet is
/// at most 576 bytes (RFC 1812 §4.3.2.3).
fn icmp4_len(ip_len: usize) -> usize {
    14 + 20 + 8 + ip_len.min(576 - 28)
}

#[test]
fn replay_json_trace_verdicts_and_outputs() {
    let s = scenario();
    let (output, out_dir) = s.run(&["--json", "--trace"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let frames = json["frames"].as_array().unwrap();
    assert_eq!(json["frames_in"], 7);
    assert_eq!(frames.len(), 7);

    let len = |i: usize| s.p0_frames[i].1.len();
    let verdicts: Vec<(String, String, Value, Value, Value)> = frames
        .iter()
        .map(|f| {
            (
                f["input"].as_str().unwrap().to_string(),
                f["verdict"].as_str().unwrap().to_string(),
                f["reason"].clone(),
                f["egress"].clone(),
                f["len"].clone(),
            )
        })
        .collect();
    let row = |input: &str, verdict: &str, reason: Value, egress: Value, len: Value| {
        (input.to_string(), verdict.to_string(), reason, egress, len)
    };
    let n = Value::Null;
    let back_len = s.p1_frames[0].1.len();
    assert_eq!(
        verdicts,
        vec![
            row("p0", "forward", n.clone(), "p1".into(), len(0).into()),
            row("p0", "forward", n.clone(), "p1".into(), len(1).into()),
            row("p0", "drop", "ttl_expired".into(), n.clone(), n.clone()),
            row("p1", "forward", n.clone(), "p0".into(), back_len.into()),
            row("p0", "drop", "no_route".into(), n.clone(), n.clone()),
            row("p0", "drop", "mtu_df".into(), n.clone(), n.clone()),
            row("p0", "fragmented", n.clone(), "p1".into(), n.clone()),
        ]
    );
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["index"], i);
    }
    let emitted = |i: usize| -> Vec<(String, u64)> {
        frames[i]["emitted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["port"].as_str().unwrap().to_string(),
                    e["len"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let ip_len = |i: usize| len(i) - 14;
    assert!(emitted(0).is_empty() && emitted(3).is_empty());
    assert_eq!(
        emitted(2),
        vec![("p0".to_string(), icmp4_len(ip_len(2)) as u64)]
    );
    assert_eq!(
        emitted(4),
        vec![("p0".to_string(), icmp4_len(ip_len(3)) as u64)]
    );
    assert_eq!(
        emitted(5),
        vec![("p0".to_string(), icmp4_len(ip_len(4)) as u64)]
    );
    // 1500-byte packet, MTU 1400: 1376 bytes of payload fit a first fragment
    // (a multiple of 8 within 1400 - 20), the other 104 follow.
    assert_eq!(
        emitted(6),
        vec![
            ("p1".to_string(), 14 + 20 + 1376),
            ("p1".to_string(), 14 + 20 + 104)
        ]
    );

    let c = &json["counters"];
    assert_eq!(c["rx_frames"], 7);
    assert_eq!(c["forwarded"], 4);
    assert_eq!(c["fragmented"], 1);
    assert_eq!(c["fragments_sent"], 2);
    assert_eq!(c["dropped"], 3);
    assert_eq!(c["icmp_sent"], 3);
    assert_eq!(c["drops"]["ttl_expired"], 1);
    assert_eq!(c["drops"]["no_route"], 1);
    assert_eq!(c["drops"]["mtu_df"], 1);

    // Output captures: every port has one, in configuration order.
    let ports = json["ports"].as_array().unwrap();
    let names: Vec<&str> = ports.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["p0", "p1", "p2"]);
    for p in ports {
        let path = PathBuf::from(p["output"].as_str().unwrap());
        assert_eq!(
            path,
            out_dir.join(format!("{}.pcap", p["name"].as_str().unwrap()))
        );
        let got = read_pcap(&path);
        assert_eq!(p["tx_frames"], got.len());
        assert_eq!(
            p["tx_bytes"],
            got.iter().map(|f| f.data.len()).sum::<usize>()
        );
    }
    assert_eq!(
        std::fs::metadata(out_dir.join("p2.pcap")).unwrap().len(),
        24
    );

    check_p0_output(&s, &read_pcap(&out_dir.join("p0.pcap")));
    check_p1_output(&s, &read_pcap(&out_dir.join("p1.pcap")));
}

/// p0 carries the three ICMP errors and the frame forwarded from p1.
fn check_p0_output(s: &Scenario, got: &[CapturedFrame]) {
    assert_eq!(got.len(), 4);
    let stamps: Vec<u64> = got.iter().map(|f| f.timestamp_ns).collect();
    assert_eq!(stamps, [us(3), us(3), us(4), us(5)]);
    // ICMP errors: back to the sender's MAC, from 192.0.2.1, valid checksums.
    for (frame, (icmp_type, code), quoted) in [
        (&got[0], (11u8, 0u8), 2usize),
        (&got[2], (3, 0), 3),
        (&got[3], (3, 4), 4),
    ] {
        let eth = Ethernet2HeaderSlice::from_slice(&frame.data).unwrap();
        assert_eq!((eth.destination(), eth.source()), (HOST0_MAC, P0_MAC));
        let ip = Ipv4HeaderSlice::from_slice(&frame.data[14..]).unwrap();
        assert_eq!(ip.source_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(ip.destination_addr(), Ipv4Addr::from(HOST0));
        assert_eq!(ip.protocol(), IpNumber::ICMP);
        assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
        let icmp = &frame.data[34..];
        assert_eq!((icmp[0], icmp[1]), (icmp_type, code));
        assert_eq!(internet_checksum(icmp), 0, "ICMP checksum");
        // The quote starts with the offending packet's own IP header.
        let original = &s.p0_frames[quoted].1[14..];
        assert_eq!(&icmp[8..8 + 20], &original[..20]);
    }
    // Fragmentation needed carries the egress MTU (RFC 1191).
    assert_eq!(u16::from_be_bytes([got[3].data[40], got[3].data[41]]), 1400);
    // The forwarded frame: rewritten MACs, TTL decremented, checksum fixed.
    let fwd = &got[1].data;
    let eth = Ethernet2HeaderSlice::from_slice(fwd).unwrap();
    assert_eq!((eth.destination(), eth.source()), (HOST0_MAC, P0_MAC));
    let ip = Ipv4HeaderSlice::from_slice(&fwd[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    assert_eq!(&fwd[34..], &s.p1_frames[0].1[34..], "payload untouched");
}

/// p1 carries the forwarded IPv4 and IPv6 packets and the two fragments.
fn check_p1_output(s: &Scenario, got: &[CapturedFrame]) {
    assert_eq!(got.len(), 4);
    let stamps: Vec<u64> = got.iter().map(|f| f.timestamp_ns).collect();
    assert_eq!(stamps, [us(1), us(2), us(6), us(6)]);
    for f in got {
        let eth = Ethernet2HeaderSlice::from_slice(&f.data).unwrap();
        assert_eq!((eth.destination(), eth.source()), (GW1_MAC, P1_MAC));
    }
    let ip = Ipv4HeaderSlice::from_slice(&got[0].data[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    assert_eq!(got[0].data.len(), s.p0_frames[0].1.len());
    let ip6 = Ipv6HeaderSlice::from_slice(&got[1].data[14..]).unwrap();
    assert_eq!(ip6.hop_limit(), 63);
    assert_eq!(&got[1].data[54..], &s.p0_frames[1].1[54..]);
    // The fragments reassemble into the original payload.
    let original = &s.p0_frames[5].1[14 + 20..];
    let mut reassembled = vec![0u8; original.len()];
    for (i, f) in got[2..].iter().enumerate() {
        let ip = Ipv4HeaderSlice::from_slice(&f.data[14..]).unwrap();
        assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.more_fragments(), i == 0);
        assert!(ip.total_len() <= 1400);
        let offset = ip.fragments_offset().value() as usize * 8;
        let piece = &f.data[14 + 20..];
        reassembled[offset..offset + piece.len()].copy_from_slice(piece);
    }
    assert_eq!(reassembled, original);
}

#[test]
fn replay_text_mode_prints_trace_and_summary() {
    let s = scenario();
    let (output, _) = s.run(&["--trace"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let out = text(&output.stdout);
    let first = format!("#0 p0 → forward p1 ({} bytes)", s.p0_frames[0].1.len());
    assert!(out.lines().any(|l| l == first), "{out}");
    let ttl = format!(
        "#2 p0 → drop ttl_expired (+icmp on p0, {} bytes)",
        icmp4_len(s.p0_frames[2].1.len() - 14)
    );
    assert!(out.lines().any(|l| l == ttl), "{out}");
    assert!(
        out.contains("#6 p0 → fragmented p1 (2 fragments: 1410 + 138 bytes)"),
        "{out}"
    );
    for needle in [
        "frames in:",
        "forwarded:",
        "fragmented:",
        "local:",
        "TTL or hop limit would reach zero",
        "no matching route",
        "icmp errors:  sent 3, rate limited 0, suppressed 0",
        "tx per port:",
        "p2.pcap",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
    let summary_only = s.run(&[]).0;
    let summary = text(&summary_only.stdout);
    assert!(
        !summary.contains('#'),
        "no trace lines without --trace:\n{summary}"
    );
    assert!(summary.contains("dropped:             3"), "{summary}");
}

#[test]
fn config_syntax_error_stops_replay_with_file_and_line() {
    let s = scenario();
    let broken = CONFIG.replace("mtu = 1400", "mtu = 1400 1500");
    std::fs::write(&s.config, &broken).unwrap();
    let (output, out_dir) = s.run(&["--json"]);
    assert_eq!(output.status.code(), Some(2));
    let err = text(&output.stderr);
    let line = broken
        .lines()
        .position(|l| l.starts_with("mtu = 1400"))
        .unwrap()
        + 1;
    let expected = format!("error: {}:{line}: port[1].mtu: ", s.config.display());
    assert!(
        err.starts_with(&expected),
        "`{err}` should start with `{expected}`"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(output.stdout.is_empty());
    assert!(!out_dir.exists(), "nothing written on a bad config");
}

#[test]
fn missing_input_file_is_a_clear_error() {
    let s = scenario();
    std::fs::remove_file(&s.in1).unwrap();
    let (output, _) = s.run(&[]);
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&s.in1.display().to_string()), "{err}");
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn non_ethernet_capture_is_a_clear_error() {
    let s = scenario();
    // A classic pcap header for LINKTYPE_RAW (101), little-endian.
    let mut raw = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&s.in1, raw).unwrap();
    let (output, _) = s.run(&[]);
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(err.contains(&s.in1.display().to_string()), "{err}");
    assert!(err.contains("link type 101"), "{err}");
    assert!(err.contains("not Ethernet"), "{err}");
}

#[test]
fn unknown_port_and_bad_input_spec_are_usage_errors() {
    let s = scenario();
    let config = s.config.display().to_string();
    let input = format!("p7={}", s.in0.display());
    let out = s.dir.path().join("out").display().to_string();
    let o = ferroute(&["replay", "-c", &config, "-i", &input, "-o", &out]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("no port named \"p7\"") && err.contains("p0, p1, p2"),
        "{err}"
    );
    let o = ferroute(&["replay", "-c", &config, "-i", "in.pcap", "-o", &out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("PORT=FILE"));
}

#[test]
fn check_config_reports_ok_and_errors() {
    let s = scenario();
    let o = ferroute(&["check-config", &s.config.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("ports (3):") && out.contains("routes (2):"),
        "{out}"
    );
    assert!(out.contains("neighbors (3):"), "{out}");
    assert!(
        out.contains("198.51.100.0/24 via 203.0.113.2  on p1 to 02:00:00:00:01:02"),
        "{out}"
    );
    std::fs::write(
        &s.config,
        CONFIG.replace("\"02:00:00:00:00:03\"", "\"02:00:zz:00:00:03\""),
    )
    .unwrap();
    let o = ferroute(&["check-config", &s.config.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    let line = CONFIG.lines().position(|l| l.contains("00:00:03")).unwrap() + 1;
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}:{line}: port[2].mac: \"02:00:zz:00:00:03\" is not a MAC address",
            s.config.display()
        )
    );
}

/// A real capture through the router: the run completes and its counters
/// account for every frame read.
#[test]
fn real_capture_is_accounted_for() {
    let Some(capture) = ferroute::testkit::shared_path("pcaps/mixed/zeek__wikipedia.pcap") else {
        return;
    };
    let s = scenario();
    let out = s.dir.path().join("real");
    let input = format!("p0={}", capture.display());
    let o = ferroute(&[
        "replay",
        "--config",
        &s.config.display().to_string(),
        "--input",
        &input,
        "--output-dir",
        &out.display().to_string(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let read = read_pcap(&capture).len() as u64;
    let c = &json["counters"];
    assert_eq!(json["frames_in"], read);
    let sum = c["forwarded"].as_u64().unwrap()
        + c["local"].as_u64().unwrap()
        + c["dropped"].as_u64().unwrap();
    assert_eq!(sum, read);
    let by_reason: u64 = c["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_reason, c["dropped"].as_u64().unwrap());
    eprintln!("real capture: {read} frames, counters {c}");
}

#[test]
fn retarget_gives_foreign_captures_the_ingress_mac() {
    let s = scenario();
    let dir = s.dir.path();
    // The same first frame as captured on another network: a foreign router's MAC.
    let mut foreign = s.p0_frames[0].1.clone();
    foreign[..6].copy_from_slice(&[0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c]);
    let mut broadcast = s.p0_frames[0].1.clone();
    broadcast[..6].copy_from_slice(&[0xff; 6]);
    let input = dir.join("foreign.pcap");
    write_pcap(&input, &[(us(1), foreign), (us(2), broadcast)]);
    let run = |extra: &[&str]| {
        let out = dir.join("out-retarget");
        let mut args = vec![
            "replay".to_string(),
            "--config".into(),
            s.config.display().to_string(),
            "--input".into(),
            format!("p0={}", input.display()),
            "--output-dir".into(),
            out.display().to_string(),
            "--json".into(),
            "--trace".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = ferroute(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let v: Value = serde_json::from_slice(&output.stdout).unwrap();
        let verdicts: Vec<(String, Value)> = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["verdict"].as_str().unwrap().to_string(),
                    f["reason"].clone(),
                )
            })
            .collect();
        verdicts
    };
    let plain = run(&[]);
    assert_eq!(plain[0], ("drop".to_string(), Value::from("not_our_mac")));
    let retargeted = run(&["--retarget"]);
    assert_eq!(retargeted[0], ("forward".to_string(), Value::Null));
    // A broadcast frame keeps its destination: a unicast IP packet inside it is dropped.
    assert_eq!(
        retargeted[1],
        ("drop".to_string(), Value::from("l2_multicast"))
    );
}
