//! The benchmark tools, end to end (root; skipped without it, failing under
//! CI=true):
//!
//! * the generator program's frames have valid checksums and cycle through
//!   the flows (BPF_PROG_RUN in test mode, nothing sent);
//! * `ferroute gen --count` → `ferroute run` in the veth lab
//!   (scripts/lab) → `ferroute sink`: the sink counts exactly what ferroute
//!   forwarded, which is exactly what the generator sent;
//! * the same through the redirect bound (`ferroute bench-redirect`).
//!
//! The throughput benchmark itself is scripts/bench-forwarding.

mod xdp_support;

use std::io::{BufRead, BufReader};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etherparse::{NetHeaders, PacketHeaders, PayloadSlice, TransportHeader};
use ferroute::io::xdp::{interface_index, Generator, XDP_REDIRECT};
use ferroute::traffic::UdpTraffic;
use ferroute::wire::MacAddr;
use xdp_support::{require_root, Netns, GEN_A_TO_B};

const BIN: &str = env!("CARGO_BIN_EXE_ferroute");
/// Frames per end-to-end test: fewer than the 1024 frames ferroute keeps
/// in a port's fill ring, so none can be refused for want of a buffer.
const COUNT: u64 = 1000;

/// Checks `frame`'s IPv4 header and UDP checksums with etherparse; returns
/// the UDP source port.
fn valid_udp_source_port(frame: &[u8]) -> u16 {
    let headers = PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the frame");
    let Some(NetHeaders::Ipv4(ip, _)) = &headers.net else {
        panic!("not IPv4: {:?}", headers.net);
    };
    assert_eq!(ip.header_checksum, ip.calc_header_checksum());
    let Some(TransportHeader::Udp(udp)) = &headers.transport else {
        panic!("not UDP");
    };
    let PayloadSlice::Udp(payload) = headers.payload else {
        panic!("no UDP payload");
    };
    assert_eq!(
        udp.checksum,
        udp.calc_checksum_ipv4(ip, payload).expect("checksum")
    );
    udp.source_port
}

/// 64-byte frames of `flows` flows from host A to host B of the lab
/// (`GEN_A_TO_B`'s addresses), source ports from 1024.
fn lab_traffic(flows: u32) -> UdpTraffic {
    UdpTraffic {
        dst_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
        src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x0a]),
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        dst: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
        frame_size: 64,
        flows,
        base_port: 1024,
        dst_port: 9,
    }
}

/// The generator for `traffic`, "sending" out of `lo` (test mode only).
fn load_on_lo<'o>(
    storage: &'o mut MaybeUninit<libbpf_rs::OpenObject>,
    traffic: &UdpTraffic,
) -> Generator<'o> {
    let lo = interface_index("lo").expect("lo");
    Generator::load(
        storage,
        lo,
        &traffic.generator_traffic().expect("valid traffic"),
    )
    .expect("load the generator")
}

#[test]
fn generator_program_sends_valid_frames_of_every_flow() {
    if !require_root("generator_program_sends_valid_frames_of_every_flow") {
        return;
    }
    // A namespace of its own: the generator parks its program on `lo`.
    let ns = Netns::new("g");
    ns.run(|| {
        let mut storage = MaybeUninit::uninit();
        let generator = load_on_lo(&mut storage, &lab_traffic(5));
        assert_eq!(generator.dispatcher_warning(), None);
        let mut ports = Vec::new();
        for _ in 0..12 {
            let (action, frame) = generator.dry_run().expect("dry run");
            assert_eq!(action, XDP_REDIRECT);
            assert_eq!(frame.len(), 60);
            ports.push(valid_udp_source_port(&frame));
        }
        assert_eq!(
            ports,
            [1024, 1025, 1026, 1027, 1028, 1024, 1025, 1026, 1027, 1028, 1024, 1025]
        );
        assert_eq!(generator.generated().expect("counters"), 12);
        assert_eq!(generator.truncated().expect("counters"), 0);
    });
}

/// The AF_PACKET path (`--tx packet`, the fallback where live frames are
/// refused) sends the program's own frames, one per flow in flow order: a
/// veth peer receives exactly the frames the program's test-mode runs
/// produce, which are also what `UdpTraffic` builds in user space.
#[test]
fn packet_path_sends_the_programs_frames_in_flow_order() {
    if !require_root("packet_path_sends_the_programs_frames_in_flow_order") {
        return;
    }
    const FLOWS: u32 = 5;
    const SENT: usize = 12;
    let ns = Netns::new("p");
    ns.ip(&["link", "add", "x0", "type", "veth", "peer", "name", "x1"]);
    ns.ip(&["link", "set", "x0", "up"]);
    ns.ip(&["link", "set", "x1", "up"]);
    let traffic = lab_traffic(FLOWS);
    let (program_frames, receiver) = ns.run(|| {
        // One CPU: the program's flow sequence is per CPU, and the dry runs
        // below must see one sequence from its start.
        // SAFETY: a CPU set of the right size, for the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        let mut storage = MaybeUninit::uninit();
        let generator = load_on_lo(&mut storage, &traffic);
        let dry: Vec<Vec<u8>> = (0..FLOWS)
            .map(|_| generator.dry_run().expect("dry run").1)
            .collect();
        let frames = generator.flow_frames().expect("flow frames");
        assert_eq!(frames.flows(), FLOWS as usize);
        for (flow, frame) in dry.iter().enumerate() {
            assert_eq!(frames.frame(flow), &frame[..], "flow {flow}");
            assert_eq!(frame, &traffic.frame(flow as u32), "flow {flow}");
            assert_eq!(valid_udp_source_port(frame), 1024 + flow as u16);
        }
        (dry, xdp_support::PacketSocket::open("x1"))
    });

    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, BIN])
        .args(GEN_A_TO_B.map(|a| if a == "a0" { "x0" } else { a }))
        .args(["--flows", "5", "--count", "12"])
        .args(["--tx", "packet", "--json"])
        .output()
        .expect("running ferroute gen");
    assert!(
        out.status.success(),
        "ferroute gen --tx packet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["tx"], "packet", "{summary}");
    assert_eq!(summary["sent"], SENT, "{summary}");
    assert_eq!(summary["tx_dropped"], 0, "{summary}");

    let (received, _) = receiver.collect(SENT, Duration::from_secs(5), |f| {
        f.len() == 60 && f[..6] == traffic.dst_mac.0
    });
    let expected: Vec<Vec<u8>> = (0..SENT)
        .map(|i| program_frames[i % FLOWS as usize].clone())
        .collect();
    assert_eq!(received, expected);
}

/// A lab from scripts/lab, removed (with every process started in it) on drop.
struct Lab {
    name: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn up(tag: &str) -> Lab {
        // At most 12 characters (the lab's limit).
        let name = format!("fx{tag}{}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("ferroute-{name}"));
        let lab = Lab {
            name,
            dir,
            children: Vec::new(),
        };
        let status = Command::new(lab.script())
            .args(["up", &lab.name])
            .env("LAB_DIR", &lab.dir)
            .stdout(Stdio::null())
            .status()
            .expect("running scripts/lab");
        assert!(status.success(), "scripts/lab up {} failed", lab.name);
        lab
    }

    fn script(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lab")
    }

    /// `ferroute ARGS` in namespace `host` (a, r or b), stdout piped.
    fn spawn(&mut self, host: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{}-{host}", self.name), BIN])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting ferroute");
        self.children.push(child);
        self.children.len() - 1
    }

    /// Runs `ferroute ARGS` in namespace `host` to completion.
    fn run(&self, host: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{}-{host}", self.name), BIN])
            .args(args)
            .output()
            .expect("running ferroute");
        assert!(
            out.status.success(),
            "ferroute {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `CMD ARGS` in namespace `host`, which must succeed.
    fn run_command(&self, host: &str, command: &[&str]) {
        let status = Command::new("ip")
            .args(["netns", "exec", &format!("{}-{host}", self.name)])
            .args(command)
            .status()
            .expect("ip netns exec");
        assert!(status.success(), "{command:?} in {host} failed");
    }

    /// Sends SIGINT to child `index` and returns the rest of its output.
    fn stop(&mut self, index: usize, lines: &mpsc::Receiver<String>) -> Vec<String> {
        let child = &mut self.children[index];
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        let status = child.wait().expect("wait");
        assert!(status.success(), "ferroute exited with {status}");
        // The thread reading the child's output may not have passed its last
        // lines on yet (it lags on a loaded host): take lines until it ends
        // at end of file and drops its sender (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut rest = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(_) => break,
            }
        }
        rest
    }

    /// A statistics counter of `interface` in namespace `host`.
    fn counter(&self, host: &str, interface: &str, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{}-{host}", self.name), "cat"])
            .arg(format!("/sys/class/net/{interface}/statistics/{name}"))
            .output()
            .expect("reading interface statistics");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{interface} {name}: {e}"))
    }

    fn gen(&self, extra: &[&str]) -> serde_json::Value {
        let count = COUNT.to_string();
        let mut args = GEN_A_TO_B.to_vec();
        args.extend_from_slice(&[
            "--flows", "16", "--rate", "10000", "--count", &count, "--json",
        ]);
        args.extend_from_slice(extra);
        let out = self.run("a", &args);
        let last = out.lines().last().expect("gen prints a summary");
        serde_json::from_str(last).expect("gen summary is JSON")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = child.wait();
        }
        let _ = Command::new(self.script())
            .args(["down", &self.name])
            .env("LAB_DIR", &self.dir)
            .status();
    }
}

/// Reads a child's stdout lines on a thread (so the test can poll them).
fn lines_of(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts `ferroute sink` on b0 and returns (child index, its lines) once
/// its program is attached.
fn start_sink(lab: &mut Lab) -> (usize, mpsc::Receiver<String>) {
    start_sink_on(lab, "b", "b0")
}

/// Starts `ferroute sink` on `interface` of namespace `host`.
fn start_sink_on(lab: &mut Lab, host: &str, interface: &str) -> (usize, mpsc::Receiver<String>) {
    let index = lab.spawn(host, &["sink", "--interface", interface, "--json"]);
    let lines = lines_of(lab.children[index].stdout.take().expect("piped"));
    let ns = format!("{}-{host}", lab.name);
    assert!(
        xdp_support::poll_until(Duration::from_secs(10), || {
            let out = Command::new("ip")
                .args(["-n", &ns, "link", "show", interface])
                .output()
                .expect("ip link");
            String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
        }),
        "the sink did not attach to {interface}"
    );
    (index, lines)
}

/// Waits (bounded) until the sink's per-second report shows `expected`
/// frames received in total.
fn wait_for_sink_total(lines: &mpsc::Receiver<String>, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut total = 0;
    while Instant::now() < deadline && total < expected {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(&line).expect("sink line is JSON");
        total = value["total_packets"].as_u64().expect("total_packets");
    }
    total
}

fn summary(lines: &[String]) -> serde_json::Value {
    let last = lines
        .iter()
        .rev()
        .find(|l| l.contains("\"total\":true"))
        .expect("a summary line");
    serde_json::from_str(last).expect("summary is JSON")
}

#[test]
fn sink_counts_exactly_what_ferroute_forwarded() {
    if !require_root("sink_counts_exactly_what_ferroute_forwarded") {
        return;
    }
    sink_counts_what_ferroute_forwarded("f", &[]);
}

/// The same through the AF_PACKET path, tested even where live frames work.
#[test]
fn sink_counts_exactly_what_ferroute_forwarded_from_a_packet_socket() {
    if !require_root("sink_counts_exactly_what_ferroute_forwarded_from_a_packet_socket") {
        return;
    }
    sink_counts_what_ferroute_forwarded("p", &["--tx", "packet"]);
}

/// `ferroute gen EXTRA` → `ferroute run` → `ferroute sink`, every frame
/// accounted for.
fn sink_counts_what_ferroute_forwarded(tag: &str, extra: &[&str]) {
    let mut lab = Lab::up(tag);
    let config = lab.dir.join("router.toml");
    let socket = lab.dir.join("ferroute.sock");
    lab.spawn(
        "r",
        &[
            "run",
            "--config",
            config.to_str().expect("utf-8 path"),
            "--socket",
            socket.to_str().expect("utf-8 path"),
        ],
    );
    let stats = || -> Option<serde_json::Value> {
        let out = Command::new(BIN)
            .args(["stats", "--json", "--socket"])
            .arg(&socket)
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };
    assert!(
        xdp_support::poll_until(Duration::from_secs(20), || stats().is_some()),
        "ferroute run did not start"
    );
    let (sink, lines) = start_sink(&mut lab);

    let sent = lab.gen(extra);
    assert_eq!(sent["sent"], COUNT);
    if !extra.is_empty() {
        assert_eq!(sent["tx"], "packet", "{sent}");
    }
    // On a busy machine the veth ring into the router (256 frames) may
    // overflow before the router's side runs: those frames are dropped by
    // a0 and counted in its statistics; every other frame reaches ferroute.
    let reached = COUNT - lab.counter("a", "a0", "tx_dropped");
    assert!(reached > 0, "a0 dropped every frame");

    // Poll ferroute until it has seen every frame that reached it.
    let mut forwarded = 0;
    let mut report = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        report = stats().expect("stats");
        forwarded = report["counters"]["forwarded"].as_u64().unwrap_or(0);
        if report["counters"]["rx_frames"].as_u64() == Some(reached) && forwarded == reached {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(
        (report["counters"]["rx_frames"].as_u64(), forwarded),
        (Some(reached), reached),
        "ferroute did not forward every frame that reached it: {report}"
    );
    let sent_out = forwarded - report["tx_dropped"].as_u64().expect("tx_dropped");
    assert_eq!(wait_for_sink_total(&lines, sent_out), sent_out);
    let rest = lab.stop(sink, &lines);
    let sink_summary = summary(&rest);
    assert_eq!(sink_summary["packets"], sent_out, "{sink_summary}");
    assert_eq!(sink_summary["bytes"], sent_out * 60, "{sink_summary}");
}

/// The AF_PACKET path counts the frames the driver dropped: with p0's
/// NAPI in a thread of its own, a burst at full speed may overflow the
/// veth's ring; gen's `tx_dropped` must then be exactly what a0 counts as
/// dropped, and the sink on p0 must count exactly the rest.
#[test]
fn packet_path_counts_the_frames_the_driver_dropped() {
    if !require_root("packet_path_counts_the_frames_the_driver_dropped") {
        return;
    }
    const BURST: u64 = 100_000;
    let mut lab = Lab::up("d");
    // Nothing but gen's frames leaves a0 (no IPv6 chatter to be dropped).
    lab.run_command("a", &["sysctl", "-qw", "net.ipv6.conf.a0.disable_ipv6=1"]);
    let (sink, lines) = start_sink_on(&mut lab, "r", "p0");
    // The sink's program gave p0 a NAPI instance: run it in a thread.
    lab.run_command("r", &["sh", "-c", "echo 1 > /sys/class/net/p0/threaded"]);
    let before = lab.counter("a", "a0", "tx_dropped");
    let burst = BURST.to_string();
    let mut args = GEN_A_TO_B.to_vec();
    args.extend_from_slice(&["--flows", "16", "--count", &burst, "--tx", "packet"]);
    args.push("--json");
    let out = lab.run("a", &args);
    let sent: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("a summary")).expect("JSON");
    let dropped = lab.counter("a", "a0", "tx_dropped") - before;
    assert_eq!(sent["sent"], BURST, "{sent}");
    assert_eq!(sent["tx_dropped"], dropped, "{sent}");
    let delivered = BURST - dropped;
    assert_eq!(wait_for_sink_total(&lines, delivered), delivered);
    let sink_summary = summary(&lab.stop(sink, &lines));
    assert_eq!(sink_summary["packets"], delivered, "{sink_summary}");
    println!("{BURST} frames: {dropped} dropped by a0, {delivered} counted by the sink");
}

#[test]
fn sink_counts_exactly_what_the_redirect_bound_redirected() {
    if !require_root("sink_counts_exactly_what_the_redirect_bound_redirected") {
        return;
    }
    let mut lab = Lab::up("r");
    // The redirect sends XDP frames to p1; the generator's reach p0 as XDP
    // frames too: both receivers have an XDP program (sink, redirect).
    let redirect = lab.spawn(
        "r",
        &[
            "bench-redirect",
            "--from",
            "p0",
            "--to",
            "p1",
            "--dst-mac",
            "02:00:00:00:01:02",
            "--src-mac",
            "02:00:00:00:01:01",
        ],
    );
    let redirect_lines = lines_of(lab.children[redirect].stdout.take().expect("piped"));
    let started = redirect_lines
        .recv_timeout(Duration::from_secs(10))
        .expect("bench-redirect starts");
    assert!(started.contains("redirecting"), "{started}");
    let (sink, lines) = start_sink(&mut lab);

    let sent = lab.gen(&["--size", "1500"]);
    assert_eq!(sent["sent"], COUNT);
    // As above: what a0 could not hand to p0 is counted there.
    let reached = COUNT - lab.counter("a", "a0", "tx_dropped");
    assert!(reached > 0, "a0 dropped every frame");
    // Every frame that reached p0 is redirected, and none is lost on the
    // way to b0 (p1 counts those it could not hand over).
    let delivered = reached - lab.counter("r", "p1", "tx_dropped");
    assert_eq!(wait_for_sink_total(&lines, delivered), delivered);
    let sink_summary = summary(&lab.stop(sink, &lines));
    assert_eq!(sink_summary["packets"], delivered, "{sink_summary}");
    assert_eq!(sink_summary["bytes"], delivered * 1496, "{sink_summary}");
    let rest = lab.stop(redirect, &redirect_lines);
    let last = rest.last().expect("bench-redirect prints its counters");
    assert!(
        last.contains(&format!("redirected {reached} passed")),
        "bench-redirect: {last}"
    );
}
