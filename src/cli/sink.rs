//! `ferroute sink`: counts and drops what arrives on an interface (an XDP
//! program with per-CPU counters, see `io::xdp::sink`), printing the
//! received rate each second and the total at the end. The program is
//! detached on exit, on SIGINT/SIGTERM, and by the kernel if the process dies.
//!
//! For benchmarks it can wait for traffic and skip a warm-up (`--warmup`),
//! and report the CPU time other processes or threads used during the same
//! window (`--cpu-of`), which gives CPU time per received packet.

use std::io::Write;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::CliError;
use crate::io::xdp::{interface_index, Sink, SinkCounters, XdpMode};
use crate::traffic::cputime::cpu_time_ns;
use crate::traffic::StopSignals;

/// Count and drop the frames arriving on an interface (XDP; needs root).
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Interface to count on (in the current network namespace).
    #[arg(long, short)]
    pub interface: String,
    /// Measure for this many seconds, then stop.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Wait for the first frame, then this many seconds more, before
    /// measuring (for benchmarks: skips the generator's start-up).
    #[arg(long, value_name = "SECONDS")]
    pub warmup: Option<f64>,
    /// Also report the CPU time these processes (all their threads) or
    /// threads used during the measurement, and per received frame.
    #[arg(long, value_delimiter = ',', value_name = "PID,...")]
    pub cpu_of: Vec<u32>,
    /// Attach in generic (skb) mode instead of native mode.
    #[arg(long)]
    pub generic: bool,
    /// Print JSON (one object per second, then a summary with "total": true).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct CpuTime {
    id: u32,
    seconds: f64,
}

/// The summary line of `ferroute sink --json`.
#[derive(Debug, Serialize)]
struct SinkSummary {
    total: bool,
    interface: String,
    packets: u64,
    bytes: u64,
    passed: u64,
    seconds: f64,
    pps: f64,
    /// Frame bits per second (without FCS, preamble and gap).
    bps: f64,
    /// CPU time of each --cpu-of task during the measurement.
    cpu: Vec<CpuTime>,
    /// Their sum divided by the packets received.
    cpu_ns_per_packet: Option<f64>,
    stopped_by: &'static str,
}

#[derive(Debug, Serialize)]
struct SinkSecond {
    total: bool,
    elapsed_s: f64,
    /// Frames in this second.
    packets: u64,
    pps: f64,
    /// Frames since the measurement started.
    total_packets: u64,
}

fn positive(value: Option<f64>, flag: &str) -> Result<Option<Duration>, CliError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(Duration::from_secs_f64(v))),
        Some(_) => Err(CliError::usage(anyhow::anyhow!(
            "{flag} must be a non-negative number of seconds"
        ))),
    }
}

pub fn run(args: SinkArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let duration = positive(args.duration, "--duration")?;
    let warmup = positive(args.warmup, "--warmup")?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::runtime(anyhow::anyhow!(
            "ferroute sink needs root (CAP_BPF and CAP_NET_ADMIN to attach XDP programs): run it with sudo"
        )));
    }
    let signals = StopSignals::new().map_err(CliError::runtime)?;
    sink(&args, duration, warmup, &signals, out).map_err(CliError::runtime)
}

fn cpu_times(ids: &[u32]) -> anyhow::Result<Vec<u64>> {
    ids.iter()
        .map(|&id| {
            cpu_time_ns(id).map_err(|e| anyhow::anyhow!("reading the CPU time of task {id}: {e}"))
        })
        .collect()
}

fn sink(
    args: &SinkArgs,
    duration: Option<Duration>,
    warmup: Option<Duration>,
    signals: &StopSignals,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let ifindex = interface_index(&args.interface)?;
    let mode = if args.generic {
        XdpMode::Generic
    } else {
        XdpMode::Native
    };
    let mut storage = MaybeUninit::uninit();
    let mut sink = Sink::attach(&mut storage, ifindex, mode)?;
    if !args.json {
        writeln!(
            out,
            "sink: counting and dropping on {} (XDP {} mode); Ctrl-C stops",
            args.interface,
            mode.name()
        )?;
        out.flush()?;
    }
    let result = measure(args, &sink, duration, warmup, signals, out);
    let detached = sink.detach();
    let summary = result?;
    detached?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        writeln!(
            out,
            "sink: stopped ({}); received {} frames ({} bytes) in {:.3} s = {:.0} pps ({:.3} Gbit/s); \
             passed {} group/ARP/ICMPv6 frames to the kernel",
            summary.stopped_by,
            summary.packets,
            summary.bytes,
            summary.seconds,
            summary.pps,
            summary.bps / 1e9,
            summary.passed
        )?;
        for c in &summary.cpu {
            writeln!(out, "sink: task {} used {:.3} s of CPU", c.id, c.seconds)?;
        }
        if let Some(ns) = summary.cpu_ns_per_packet {
            writeln!(out, "sink: {ns:.1} ns of CPU per received frame")?;
        }
    }
    Ok(())
}

fn measure(
    args: &SinkArgs,
    sink: &Sink<'_>,
    duration: Option<Duration>,
    warmup: Option<Duration>,
    signals: &StopSignals,
    out: &mut dyn Write,
) -> anyhow::Result<SinkSummary> {
    if let Some(warmup) = warmup {
        // Wait for the first frame, then let the warm-up pass.
        let start = sink.counters()?;
        loop {
            if let Some(signal) = signals.wait(Duration::from_millis(10)) {
                return Ok(empty_summary(args, signal));
            }
            if sink.counters()?.packets > start.packets {
                break;
            }
        }
        if let Some(signal) = signals.wait(warmup) {
            return Ok(empty_summary(args, signal));
        }
    }
    let first = sink.counters()?;
    let first_cpu = cpu_times(&args.cpu_of)?;
    let start = Instant::now();
    let mut last = (start, first);
    let stopped_by = loop {
        let now = Instant::now();
        let next_report = last.0 + Duration::from_secs(1);
        let end = duration.map(|d| start + d);
        let until = end.map_or(next_report, |e| e.min(next_report));
        if let Some(signal) = signals.wait(until.saturating_duration_since(now)) {
            break signal;
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break "--duration";
        }
        if now >= next_report {
            let counters = sink.counters()?;
            let packets = counters.since(&last.1).packets;
            let pps = packets as f64 / (now - last.0).as_secs_f64();
            if args.json {
                let line = SinkSecond {
                    total: false,
                    elapsed_s: (now - start).as_secs_f64(),
                    packets,
                    pps,
                    total_packets: counters.since(&first).packets,
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            } else {
                writeln!(out, "sink: {pps:.0} pps")?;
            }
            out.flush()?;
            last = (now, counters);
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let total: SinkCounters = sink.counters()?.since(&first);
    let cpu: Vec<CpuTime> = cpu_times(&args.cpu_of)?
        .iter()
        .zip(&first_cpu)
        .zip(&args.cpu_of)
        .map(|((after, before), &id)| CpuTime {
            id,
            seconds: after.saturating_sub(*before) as f64 / 1e9,
        })
        .collect();
    let cpu_total: f64 = cpu.iter().map(|c| c.seconds).sum();
    Ok(SinkSummary {
        total: true,
        interface: args.interface.clone(),
        packets: total.packets,
        bytes: total.bytes,
        passed: total.passed,
        seconds,
        pps: total.packets as f64 / seconds.max(1e-9),
        bps: total.bytes as f64 * 8.0 / seconds.max(1e-9),
        cpu_ns_per_packet: (!cpu.is_empty() && total.packets > 0)
            .then(|| cpu_total * 1e9 / total.packets as f64),
        cpu,
        stopped_by,
    })
}

fn empty_summary(args: &SinkArgs, stopped_by: &'static str) -> SinkSummary {
    SinkSummary {
        total: true,
        interface: args.interface.clone(),
        packets: 0,
        bytes: 0,
        passed: 0,
        seconds: 0.0,
        pps: 0.0,
        bps: 0.0,
        cpu: Vec::new(),
        cpu_ns_per_packet: None,
        stopped_by,
    }
}
