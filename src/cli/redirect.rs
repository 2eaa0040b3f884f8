//! `ferroute bench-redirect` (hidden): the forwarding benchmark's upper
//! bound. Attaches a blind XDP redirect program (`io::xdp::redirect`) to one
//! interface, sending every IP frame out of another with new Ethernet
//! addresses, until SIGINT/SIGTERM or `--duration`; then detaches it and
//! prints its counters.

use std::io::Write;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use clap::Args;

use super::CliError;
use crate::io::xdp::{interface_index, RedirectBound, RedirectRoute, XdpMode};
use crate::traffic::StopSignals;
use crate::wire::MacAddr;

/// Blindly redirect IP frames from one interface to another with XDP (benchmark bound).
#[derive(Debug, Args)]
pub struct RedirectArgs {
    /// Ingress interface (the program is attached here).
    #[arg(long, value_name = "IF")]
    pub from: String,
    /// Egress interface.
    #[arg(long, value_name = "IF")]
    pub to: String,
    /// Destination MAC written into every frame (the next hop's).
    #[arg(long, value_name = "MAC")]
    pub dst_mac: MacAddr,
    /// Source MAC written into every frame (the egress interface's).
    #[arg(long, value_name = "MAC")]
    pub src_mac: MacAddr,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
    /// Attach in generic (skb) mode instead of native mode.
    #[arg(long)]
    pub generic: bool,
}

pub fn run(args: RedirectArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::runtime(anyhow::anyhow!(
            "ferroute bench-redirect needs root (CAP_BPF and CAP_NET_ADMIN): run it with sudo"
        )));
    }
    let signals = StopSignals::new().map_err(CliError::runtime)?;
    redirect(&args, &signals, out).map_err(CliError::runtime)
}

fn redirect(args: &RedirectArgs, signals: &StopSignals, out: &mut dyn Write) -> anyhow::Result<()> {
    let route = RedirectRoute {
        ingress_ifindex: interface_index(&args.from)?,
        egress_ifindex: interface_index(&args.to)?,
        dst_mac: args.dst_mac,
        src_mac: args.src_mac,
    };
    let mode = if args.generic {
        XdpMode::Generic
    } else {
        XdpMode::Native
    };
    let mut storage = MaybeUninit::uninit();
    let mut bound = RedirectBound::attach(&mut storage, &route, mode)?;
    writeln!(
        out,
        "bench-redirect: redirecting IP frames {} -> {} (XDP {} mode); Ctrl-C stops",
        args.from,
        args.to,
        mode.name()
    )?;
    out.flush()?;
    let end = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let stopped_by = loop {
        let wait = end.map_or(Duration::from_secs(1), |e| {
            e.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1))
        });
        if let Some(signal) = signals.wait(wait) {
            break signal;
        }
        if end.is_some_and(|e| Instant::now() >= e) {
            break "--duration";
        }
    };
    let counters = bound.counters()?;
    bound.detach()?;
    writeln!(
        out,
        "bench-redirect: stopped ({stopped_by}); redirected {} passed {}; detached from {}",
        counters.redirected, counters.passed, args.from
    )?;
    Ok(())
}
