//! `ferroute gen`: a UDP traffic generator for benchmarks. The kernel sends
//! the frames itself (XDP live frames, see `io::xdp::gen`): one system call
//! per chunk of up to 65536 frames, no skb per frame. Where the kernel
//! refuses live frames (EPERM without CAP_SYS_RESOURCE, EOPNOTSUPP), or with
//! `--tx packet`, the same frames (the program's own, from test-mode runs)
//! go out through an AF_PACKET socket instead (`io::packet_tx`), one skb
//! per frame. Prints the sent rate each second and the total at the end.

use std::cell::OnceCell;
use std::io::Write;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::CliError;
use crate::io::packet_tx::{FlowFrames, PacketSender};
use crate::io::xdp::{interface_index, Generator};
use crate::traffic::{Pacer, StopSignals, UdpTraffic};
use crate::wire::MacAddr;

/// Frames per BPF_PROG_RUN call at full speed: about 10 ms of work, so
/// signals, --duration and the per-second report are handled promptly.
const MAX_CHUNK: u32 = 1 << 16;
/// The same for the AF_PACKET path, about 3 µs per frame here: ~25 ms.
const PACKET_MAX_CHUNK: u32 = 1 << 13;

/// Send UDP test traffic out of an interface (XDP live frames, or an
/// AF_PACKET socket where the kernel refuses them; needs root).
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Interface to send from (in the current network namespace).
    #[arg(long, short)]
    pub interface: String,
    /// Destination MAC (the next hop: the router's port).
    #[arg(long, value_name = "MAC")]
    pub dst_mac: MacAddr,
    /// Source MAC (the sending interface's).
    #[arg(long, value_name = "MAC")]
    pub src_mac: MacAddr,
    /// Source IP address (IPv4 or IPv6, like --dst).
    #[arg(long, value_name = "IP")]
    pub src: IpAddr,
    /// Destination IP address.
    #[arg(long, value_name = "IP")]
    pub dst: IpAddr,
    /// Ethernet frame size in bytes, FCS included (RFC 2544): 64..=1518
    /// (IPv6: 66..=1518).
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub size: usize,
    /// Number of flows: UDP source ports --src-port .. --src-port + N - 1.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub flows: u32,
    /// First UDP source port.
    #[arg(long, default_value_t = 1024, value_name = "PORT")]
    pub src_port: u16,
    /// UDP destination port (default: discard).
    #[arg(long, default_value_t = 9, value_name = "PORT")]
    pub dst_port: u16,
    /// Frames per second (default: as fast as possible).
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print JSON (one object per second, then a summary with "total": true).
    #[arg(long)]
    pub json: bool,
    /// How frames leave: XDP live frames, an AF_PACKET socket (slower, one
    /// skb per frame), or live frames unless the kernel refuses them.
    #[arg(long, value_enum, default_value_t = TxPath::Auto)]
    pub tx: TxPath,
}

/// `--tx`: the transmit path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TxPath {
    /// XDP live frames, or AF_PACKET where the kernel refuses them.
    Auto,
    /// XDP live frames only (BPF_PROG_RUN, BPF_F_TEST_XDP_LIVE_FRAMES).
    XdpLive,
    /// An AF_PACKET socket (sendmmsg, PACKET_QDISC_BYPASS).
    Packet,
}

impl TxPath {
    /// The name in the --json summary.
    fn name(self) -> &'static str {
        match self {
            TxPath::Auto => "auto",
            TxPath::XdpLive => "xdp-live",
            TxPath::Packet => "packet",
        }
    }
}

/// The summary line of `ferroute gen --json`.
#[derive(Debug, Serialize)]
struct GenSummary {
    total: bool,
    interface: String,
    sent: u64,
    seconds: f64,
    pps: f64,
    frame_size: usize,
    flows: u32,
    stopped_by: &'static str,
    /// The transmit path used: "xdp-live" or "packet".
    tx: &'static str,
    /// AF_PACKET only: frames (counted in `sent`) the driver dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    tx_dropped: Option<u64>,
}

#[derive(Debug, Serialize)]
struct GenSecond {
    total: bool,
    elapsed_s: f64,
    sent: u64,
    pps: f64,
}

pub fn run(args: GenArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let traffic = UdpTraffic {
        dst_mac: args.dst_mac,
        src_mac: args.src_mac,
        src: args.src,
        dst: args.dst,
        frame_size: args.size,
        flows: args.flows,
        base_port: args.src_port,
        dst_port: args.dst_port,
    };
    traffic.validate().map_err(CliError::usage)?;
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(CliError::usage(anyhow::anyhow!(
                "--duration must be a positive number of seconds"
            )));
        }
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::runtime(anyhow::anyhow!(
            "ferroute gen needs root (CAP_BPF and CAP_NET_ADMIN to run XDP programs): run it with sudo"
        )));
    }
    let signals = StopSignals::new().map_err(CliError::runtime)?;
    generate(&args, &traffic, &signals, out).map_err(CliError::runtime)
}

fn generate(
    args: &GenArgs,
    traffic: &UdpTraffic,
    signals: &StopSignals,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ifindex = interface_index(&args.interface)?;
    let mut storage = MaybeUninit::uninit();
    let generator = Generator::load(&mut storage, ifindex, &traffic.generator_traffic()?)?;
    if let Some(warning) = generator.dispatcher_warning() {
        eprintln!("gen: warning: {warning}");
    }
    if !args.json {
        writeln!(
            out,
            "gen: sending {}-byte {} UDP frames ({} flow(s)) out of {} at {}; Ctrl-C stops",
            traffic.frame_size,
            if traffic.is_ipv6() { "IPv6" } else { "IPv4" },
            traffic.flows,
            args.interface,
            args.rate
                .map_or("full speed".to_string(), |r| format!("{r} frames/s")),
        )?;
        out.flush()?;
    }
    // The AF_PACKET path's frames and socket, made when it is chosen.
    let frames: OnceCell<FlowFrames> = OnceCell::new();
    let mut packet: Option<PacketSender> = None;
    if args.tx == TxPath::Packet {
        packet = Some(packet_sender(&generator, ifindex, &frames)?);
    }
    let mut tx_dropped = 0u64;
    let pacer = Pacer::new(args.rate, MAX_CHUNK);
    let limit = args.duration.map(Duration::from_secs_f64);
    let mut start = Instant::now();
    let mut sent = 0u64;
    let mut reported = (start, 0u64);
    let stopped_by = loop {
        if let Some(signal) = signals.check() {
            break signal;
        }
        let elapsed = start.elapsed();
        if limit.is_some_and(|l| elapsed >= l) {
            break "--duration";
        }
        let left = args.count.map(|c| c - sent);
        if left == Some(0) {
            break "--count";
        }
        if reported.0.elapsed() >= Duration::from_secs(1) {
            let now = Instant::now();
            let pps = (sent - reported.1) as f64 / (now - reported.0).as_secs_f64();
            report_second(out, args.json, (now - start).as_secs_f64(), sent, pps)?;
            reported = (now, sent);
        }
        let chunk = pacer.allowance(elapsed, sent, left);
        if chunk == 0 {
            let mut wait = pacer.wait(elapsed, sent);
            if let Some(l) = limit {
                wait = wait.min(l.saturating_sub(elapsed));
            }
            if let Some(signal) = signals.wait(wait.min(Duration::from_millis(100))) {
                break signal;
            }
            continue;
        }
        if let Some(sender) = &mut packet {
            let chunk = chunk.min(PACKET_MAX_CHUNK);
            let done = sender.send(chunk as u64)?;
            sent += chunk as u64;
            tx_dropped += done.dropped;
        } else {
            match generator.send(chunk) {
                Ok(()) => {}
                Err(e) if args.tx == TxPath::Auto && sent == 0 => {
                    let Some(why) = Generator::live_frames_refusal(&e) else {
                        return Err(e.into());
                    };
                    eprintln!(
                        "gen: the kernel refuses XDP live frames ({why}); sending the same \
                         frames through an AF_PACKET socket instead (slower; --tx packet skips \
                         this try)"
                    );
                    packet = Some(packet_sender(&generator, ifindex, &frames)?);
                    // Nothing was sent: the clock starts now, without the
                    // time spent building the frames (the pacer would
                    // otherwise burst to catch up).
                    start = Instant::now();
                    reported = (start, 0);
                    continue;
                }
                Err(e) => {
                    return Err(match Generator::live_frames_refusal(&e) {
                        Some(why) => anyhow::anyhow!(
                            "the kernel refuses XDP live frames ({why}): --tx auto or --tx \
                             packet sends through an AF_PACKET socket instead"
                        ),
                        None => e.into(),
                    })
                }
            }
            sent += chunk as u64;
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let tx = if packet.is_some() {
        TxPath::Packet
    } else {
        // The program counts every frame it handled, so live frames must
        // account for each one asked for.
        let handled = generator.generated()?;
        if handled != sent {
            anyhow::bail!("the generator program handled {handled} frames, {sent} were asked for");
        }
        TxPath::XdpLive
    };
    let summary = GenSummary {
        total: true,
        interface: args.interface.clone(),
        sent,
        seconds,
        pps: sent as f64 / seconds.max(1e-9),
        frame_size: traffic.frame_size,
        flows: traffic.flows,
        stopped_by,
        tx: tx.name(),
        tx_dropped: packet.is_some().then_some(tx_dropped),
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        writeln!(
            out,
            "gen: stopped ({stopped_by}); sent {} frames in {:.3} s = {:.0} pps ({:.3} Gbit/s of frames) via {}",
            summary.sent,
            summary.seconds,
            summary.pps,
            summary.pps * (traffic.frame_size * 8) as f64 / 1e9,
            summary.tx
        )?;
    }
    Ok(())
}

/// The AF_PACKET sender of the program's frames (built on first use).
fn packet_sender<'f>(
    generator: &Generator,
    ifindex: u32,
    frames: &'f OnceCell<FlowFrames>,
) -> anyhow::Result<PacketSender<'f>> {
    if frames.get().is_none() {
        let _ = frames.set(generator.flow_frames()?);
    }
    let frames = frames
        .get()
        .ok_or_else(|| anyhow::anyhow!("no frames for the AF_PACKET socket"))?;
    PacketSender::open(ifindex, frames, 0, true)
        .map_err(|e| anyhow::anyhow!("AF_PACKET socket on ifindex {ifindex}: {e}"))
}

fn report_second(
    out: &mut dyn Write,
    json: bool,
    elapsed_s: f64,
    sent: u64,
    pps: f64,
) -> anyhow::Result<()> {
    if json {
        let line = GenSecond {
            total: false,
            elapsed_s,
            sent,
            pps,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    } else {
        writeln!(out, "gen: {pps:.0} pps")?;
    }
    out.flush()?;
    Ok(())
}
