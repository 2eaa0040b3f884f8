//! `ferroute stats`: the running daemon's counters.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::ops::{request, DEFAULT_SOCKET};
use super::CliError;
use crate::dataplane::report::StatsReport;

/// Show the live counters of a running `ferroute run`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The daemon's operator socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let value = request(&args.socket, "stats").map_err(CliError::runtime)?;
    let written = if args.json {
        writeln!(out, "{value}")
    } else {
        // BGP's counts (`show bgp summary`) ride along when BGP runs.
        let bgp = value["bgp"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let report: StatsReport = serde_json::from_value(value)
            .map_err(|e| CliError::runtime(anyhow::anyhow!("unexpected stats answer: {e}")))?;
        write!(out, "{}{bgp}", report.to_text())
    };
    written.map_err(CliError::runtime)
}
