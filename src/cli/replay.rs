//! `ferroute replay`: forward capture files offline.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::Config;
use crate::forward::DropReason;
use crate::replay::{replay, FrameTrace, ReplayInput, ReplayOptions, ReplayReport};

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  ferroute replay --config router.toml --input p0=in.pcap \
                        --input p1=b.pcap --output-dir out/ --trace"
)]
pub struct ReplayArgs {
    /// Router configuration (TOML).
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Frames arriving on port PORT, from a pcap or pcapng file (repeatable;
    /// inputs are merged by timestamp, ties in the order given).
    #[arg(long = "input", short, value_name = "PORT=FILE", required = true, value_parser = parse_input)]
    pub inputs: Vec<ReplayInput>,
    /// Directory for the output captures, one `<port>.pcap` per configured port.
    #[arg(long, short, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Print one JSON object instead of the text summary.
    #[arg(long)]
    pub json: bool,
    /// Rewrite each unicast frame's destination MAC to its ingress port's MAC
    /// first (for captures taken on other networks).
    #[arg(long)]
    pub retarget: bool,
    /// Also report every input frame (a line each, or `frames` in the JSON).
    #[arg(long)]
    pub trace: bool,
}

fn parse_input(s: &str) -> Result<ReplayInput, String> {
    match s.split_once('=') {
        Some((port, path)) if !port.is_empty() && !path.is_empty() => Ok(ReplayInput {
            port: port.to_string(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!("`{s}` is not PORT=FILE (e.g. p0=in.pcap)")),
    }
}

pub fn run(args: ReplayArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config = Config::load(&args.config)?;
    let mut frames: Vec<FrameTrace> = Vec::new();
    let mut write_error: Option<std::io::Error> = None;
    let mut observe = |t: &FrameTrace| {
        if args.json {
            frames.push(t.clone());
        } else if write_error.is_none() {
            if let Err(e) = writeln!(out, "{t}") {
                write_error = Some(e);
            }
        }
    };
    let observer: Option<&mut dyn FnMut(&FrameTrace)> =
        if args.trace { Some(&mut observe) } else { None };
    let report = replay(
        &config,
        &args.inputs,
        &args.output_dir,
        ReplayOptions {
            retarget_unicast_mac: args.retarget,
        },
        observer,
    )
    .map_err(|e| {
        if e.is_usage() {
            CliError::usage(e)
        } else {
            CliError::runtime(e)
        }
    })?;
    if let Some(e) = write_error {
        return Err(CliError::runtime(e));
    }
    let written = if args.json {
        let json = report
            .to_json(args.trace.then_some(&frames[..]))
            .map_err(CliError::runtime)?;
        writeln!(out, "{json}")
    } else {
        write_summary(out, &report, &args.inputs)
    };
    written.map_err(CliError::runtime)
}

fn write_summary(
    out: &mut dyn Write,
    report: &ReplayReport,
    inputs: &[ReplayInput],
) -> std::io::Result<()> {
    let c = &report.counters;
    let per_input: Vec<String> = inputs
        .iter()
        .zip(&report.frames_per_input)
        .map(|(i, n)| format!("{}={}: {n}", i.port, i.path.display()))
        .collect();
    writeln!(
        out,
        "frames in:    {:>8}  ({})",
        report.frames_in,
        per_input.join(", ")
    )?;
    writeln!(
        out,
        "forwarded:    {:>8}  ({} bytes)",
        c.forwarded, c.forwarded_bytes
    )?;
    writeln!(
        out,
        "fragmented:   {:>8}  ({} fragments sent)",
        c.fragmented, c.fragments_sent
    )?;
    writeln!(out, "local:        {:>8}", c.local)?;
    writeln!(out, "dropped:      {:>8}", c.total_dropped())?;
    for &reason in DropReason::ALL {
        let n = c.dropped(reason);
        if n > 0 {
            writeln!(
                out,
                "  {:<22}{n:>8}  {}",
                reason.name(),
                reason.description()
            )?;
        }
    }
    write!(
        out,
        "icmp errors:  sent {}, rate limited {}, suppressed {}",
        c.icmp_sent, c.icmp_rate_limited, c.icmp_suppressed
    )?;
    if c.icmp_no_buffer > 0 {
        write!(out, ", no buffer {}", c.icmp_no_buffer)?;
    }
    writeln!(out)?;
    let options = c.summary().options;
    if options != Default::default() {
        writeln!(out, "ipv4 options: {options}")?;
    }
    writeln!(out, "tx per port:")?;
    for p in &report.ports {
        writeln!(
            out,
            "  {:<16}{:>8} frames {:>10} bytes  -> {}",
            p.name, p.tx_frames, p.tx_bytes, p.output
        )?;
    }
    if report.ports.iter().any(|p| p.stages != Default::default()) {
        writeln!(out, "stages per port:")?;
        for p in report
            .ports
            .iter()
            .filter(|p| p.stages != Default::default())
        {
            writeln!(out, "  {:<16}{}", p.name, p.stages)?;
        }
    }
    for hits in &report.acl {
        writeln!(out, "acl {hits}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_spec_is_port_equals_file() {
        let i = parse_input("p0=dir/in=1.pcap").unwrap();
        assert_eq!(
            (i.port.as_str(), i.path.to_str()),
            ("p0", Some("dir/in=1.pcap"))
        );
        assert!(parse_input("in.pcap").unwrap_err().contains("PORT=FILE"));
        assert!(parse_input("=in.pcap").is_err());
        assert!(parse_input("p0=").is_err());
    }
}
