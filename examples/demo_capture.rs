//! Writes the demo's capture: a little of every kind of traffic a router
//! meets, as seen arriving on port p0 of the router in
//! `examples/demo/router.toml`.
//!
//! ```text
//! cargo run --example demo_capture -- OUT.pcap     # write it, list the frames
//! cargo run --example demo_capture -- --check examples/demo/router.toml OUT.pcap
//!                         # also run each frame through a Forwarder set up
//!                         # from that file and compare with the list
//! ```
//!
//! The router: p0 (02:00:00:00:00:01, 192.0.2.1/24, 2001:db8::1/64, MTU
//! 1500) and p1 (02:00:00:00:01:01, 203.0.113.1/24, 2001:db8:1::1/64, MTU
//! 1400); 198.51.100.0/24 via 203.0.113.2 and 2001:db8:2::/48 via
//! 2001:db8:1::2, both gateways static neighbours on p1. The sender is the
//! host 192.0.2.10 / 2001:db8::10 (02:00:00:00:00:02) on p0's link.
//!
//! `--check` fails if any frame's verdict differs from what the list says;
//! `scripts/test` runs it so the demo (capture, config and listed outcomes)
//! cannot silently drift apart.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use etherparse::{IpHeaders, Ipv4Header, PacketBuilder};
use ferroute::config::Config;
use ferroute::fib::PortId;
use ferroute::forward::{Emit, Forwarder, Verdict};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

#[derive(Parser, Debug)]
#[command(about = "Write the demo capture (frames arriving on p0 of examples/demo/router.toml)")]
struct Args {
    /// Run every frame through a Forwarder configured by this router TOML
    /// (the demo's) and check that it behaves as listed.
    #[arg(long, value_name = "CONFIG")]
    check: Option<PathBuf>,
    /// Where to write the capture.
    out: PathBuf,
}

const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const P0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const HOST_V4: [u8; 4] = [192, 0, 2, 10];
const ROUTER_V4: [u8; 4] = [192, 0, 2, 1];
const FAR_V4: [u8; 4] = [198, 51, 100, 7];
const UNROUTED_V4: [u8; 4] = [8, 8, 8, 8];
const HOST_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const FAR_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 7);
const UNROUTED_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
/// Ethernet's minimum frame (without FCS): shorter frames are padded, as on a wire.
const MIN_FRAME: usize = 60;

/// What the router should do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Forward(&'static str),
    Fragments(&'static str, u16),
    Local,
    /// Drop reason, and the ICMP error sent back out of p0, if any.
    Drop(&'static str, Option<&'static str>),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Forward(port) => write!(f, "forwarded out {port}"),
            Expect::Fragments(port, n) => write!(f, "{n} fragments out {port}"),
            Expect::Local => write!(f, "local (host stack)"),
            Expect::Drop(reason, None) => write!(f, "dropped: {reason}"),
            Expect::Drop(reason, Some(icmp)) => write!(f, "dropped: {reason}, {icmp} back out p0"),
        }
    }
}

struct DemoFrame {
    what: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

fn udp_v4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload_len: usize) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
        .ipv4(src, dst, ttl)
        .udp(40000, 9);
    write(builder, payload_len)
}

fn udp_v6(dst: Ipv6Addr, hop_limit: u8, payload_len: usize) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
        .ipv6(HOST_V6.octets(), dst.octets(), hop_limit)
        .udp(40000, 9);
    write(builder, payload_len)
}

/// Serialises any etherparse builder step with a patterned payload, padded to 60 bytes.
fn write<B: Serialise>(builder: B, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    let mut frame = Vec::with_capacity(builder.size_of(payload_len).max(MIN_FRAME));
    builder.write_to(&mut frame, &payload);
    frame.resize(frame.len().max(MIN_FRAME), 0);
    frame
}

/// The final steps of etherparse's builder (UDP, TCP, ICMP) share no trait; this is one.
trait Serialise {
    fn size_of(&self, payload_len: usize) -> usize;
    fn write_to(self, out: &mut Vec<u8>, payload: &[u8]);
}

macro_rules! serialise {
    ($($t:ty),*) => {$(
        impl Serialise for etherparse::PacketBuilderStep<$t> {
            fn size_of(&self, payload_len: usize) -> usize {
                self.size(payload_len)
            }
            fn write_to(self, out: &mut Vec<u8>, payload: &[u8]) {
                self.write(out, payload).expect("the demo's packets are well formed");
            }
        }
    )*};
}
serialise!(
    etherparse::UdpHeader,
    etherparse::TcpHeader,
    etherparse::Icmpv4Header
);

fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    // Ethernet/IPv4, lengths 6/4, opcode 1 (request).
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f.resize(MIN_FRAME, 0);
    f
}

fn demo_frames() -> Vec<DemoFrame> {
    // UDP payload sizes that make 1450-byte IP packets (p1's MTU is 1400).
    const BIG_V4: usize = 1450 - 20 - 8;
    const BIG_V6: usize = 1450 - 40 - 8;
    let mut bad_checksum = udp_v4(HOST_V4, FAR_V4, 64, 32);
    bad_checksum[14 + 10] ^= 0xff;
    let no_df = PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
        .ip(IpHeaders::Ipv4(
            Ipv4Header {
                source: HOST_V4,
                destination: FAR_V4,
                time_to_live: 64,
                identification: 0x4242,
                dont_fragment: false,
                ..Default::default()
            },
            Default::default(),
        ))
        .udp(40000, 9);
    let v4 = |what, bytes, expect| DemoFrame {
        what,
        bytes,
        expect,
    };
    vec![
        v4(
            "IPv4 UDP 192.0.2.10 > 198.51.100.7:9",
            udp_v4(HOST_V4, FAR_V4, 64, 32),
            Expect::Forward("p1"),
        ),
        v4(
            "IPv4 TCP SYN 192.0.2.10 > 198.51.100.7:80",
            write(
                PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
                    .ipv4(HOST_V4, FAR_V4, 64)
                    .tcp(40000, 80, 1, 64240)
                    .syn(),
                0,
            ),
            Expect::Forward("p1"),
        ),
        v4(
            "IPv4 ICMP echo request 192.0.2.10 > 198.51.100.7",
            write(
                PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
                    .ipv4(HOST_V4, FAR_V4, 64)
                    .icmpv4_echo_request(7, 1),
                56,
            ),
            Expect::Forward("p1"),
        ),
        v4(
            "IPv4 UDP with TTL 1",
            udp_v4(HOST_V4, FAR_V4, 1, 32),
            Expect::Drop("ttl_expired", Some("ICMP time exceeded")),
        ),
        v4(
            "IPv4 UDP to 8.8.8.8 (no route)",
            udp_v4(HOST_V4, UNROUTED_V4, 64, 32),
            Expect::Drop("no_route", Some("ICMP net unreachable")),
        ),
        v4(
            "IPv4 UDP 1450 bytes, DF set",
            udp_v4(HOST_V4, FAR_V4, 64, BIG_V4),
            Expect::Drop("mtu_df", Some("ICMP fragmentation needed (MTU 1400)")),
        ),
        v4(
            "IPv4 UDP 1450 bytes, DF clear",
            write(no_df, BIG_V4),
            Expect::Fragments("p1", 2),
        ),
        v4(
            "IPv4 UDP with a bad header checksum",
            bad_checksum,
            Expect::Drop("bad_checksum", None),
        ),
        v4(
            "IPv6 UDP 2001:db8::10 > 2001:db8:2::7",
            udp_v6(FAR_V6, 64, 32),
            Expect::Forward("p1"),
        ),
        v4(
            "IPv6 UDP with hop limit 1",
            udp_v6(FAR_V6, 1, 32),
            Expect::Drop("ttl_expired", Some("ICMPv6 time exceeded")),
        ),
        v4(
            "IPv6 UDP 1450 bytes",
            udp_v6(FAR_V6, 64, BIG_V6),
            Expect::Drop("packet_too_big", Some("ICMPv6 packet too big (MTU 1400)")),
        ),
        v4(
            "IPv6 UDP to 2001:db8:ffff::1 (no route)",
            udp_v6(UNROUTED_V6, 64, 32),
            Expect::Drop("no_route", Some("ICMPv6 no route")),
        ),
        v4(
            "ARP who-has 192.0.2.1 tell 192.0.2.10",
            arp_request(HOST_V4, ROUTER_V4),
            Expect::Local,
        ),
        v4(
            "IPv4 ICMP echo request to the router (192.0.2.1)",
            write(
                PacketBuilder::ethernet2(HOST_MAC, P0_MAC)
                    .ipv4(HOST_V4, ROUTER_V4, 64)
                    .icmpv4_echo_request(7, 2),
                56,
            ),
            Expect::Local,
        ),
    ]
}

fn write_capture(path: &Path, frames: &[DemoFrame]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = PcapWriter::with_header(BufWriter::new(file), PcapHeader::default())?;
    // 2026-01-01T00:00:00Z, one frame per millisecond: fixed, so the file is too.
    let start = Duration::from_secs(1_767_225_600);
    for (i, f) in frames.iter().enumerate() {
        let ts = start + Duration::from_millis(i as u64);
        writer.write_packet(&PcapPacket::new(ts, f.bytes.len() as u32, &f.bytes))?;
    }
    Ok(())
}

/// Collects what the Forwarder emits (ICMP errors, fragments).
struct Collect(Vec<(PortId, usize)>);

impl Emit for Collect {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut buf = [0u8; 2048];
        let len = build(&mut buf);
        if len > 0 {
            self.0.push((port, len));
        }
        len > 0
    }
}

/// Runs every frame through the demo router; returns the mismatches.
fn check(config_path: &Path, frames: &[DemoFrame]) -> Result<Vec<String>> {
    let config = Config::load(config_path)?;
    let fib = config.fib()?;
    let mut forwarder = Forwarder::new(config.forwarder_config());
    let ingress = config
        .port_id("p0")
        .with_context(|| format!("{}: no port p0", config_path.display()))?;
    let port_name = |id: PortId| config.port_name(id).unwrap_or("an unknown port");
    let mut mismatches = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let mut emit = Collect(Vec::new());
        let mut bytes = f.bytes.clone();
        let verdict = forwarder.process(&fib, ingress, &mut bytes, i as u64 * 1_000_000, &mut emit);
        let errors_back = emit.0.iter().filter(|(port, _)| *port == ingress).count();
        let ok = match (verdict, f.expect) {
            (Verdict::Forward { port, .. }, Expect::Forward(name)) => port_name(port) == name,
            (Verdict::Fragmented { port, fragments }, Expect::Fragments(name, n)) => {
                port_name(port) == name && fragments == n
            }
            (Verdict::Local, Expect::Local) => true,
            (Verdict::Drop(reason), Expect::Drop(name, icmp)) => {
                reason.name() == name && errors_back == usize::from(icmp.is_some())
            }
            _ => false,
        };
        if !ok {
            mismatches.push(format!(
                "frame #{i} ({}): got {verdict:?} with {} frame(s) emitted ({errors_back} back out p0); expected {}",
                f.what,
                emit.0.len(),
                f.expect
            ));
        }
    }
    Ok(mismatches)
}

fn run(args: Args) -> Result<bool> {
    let frames = demo_frames();
    write_capture(&args.out, &frames)?;
    println!(
        "wrote {} frames to {} (all arrive on p0):",
        frames.len(),
        args.out.display()
    );
    for (i, f) in frames.iter().enumerate() {
        println!(
            "  #{i:<2} {:<50} {:>5} B  expect: {}",
            f.what,
            f.bytes.len(),
            f.expect
        );
    }
    let Some(config) = args.check else {
        return Ok(true);
    };
    let mismatches = check(&config, &frames)?;
    for m in &mismatches {
        eprintln!("demo_capture: MISMATCH {m}");
    }
    if mismatches.is_empty() {
        println!(
            "check: all {} frames behave as listed with {}",
            frames.len(),
            config.display()
        );
    }
    Ok(mismatches.is_empty())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo_capture: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
