//! The `ferroute` command line.
//!
//! Each subcommand lives in its own file with its `clap` arguments and a
//! `run` function; adding one (`lookup`, `run`, `stats`, ...) is a new file
//! plus one variant in [`Command`] and one arm in [`run`].

mod bgp;
mod check_config;
mod gen;
mod lookup;
pub mod ops;
mod redirect;
mod replay;
mod run;
mod run_stages;
mod show;
mod sink;
mod stats;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ConfigError;

/// ferroute: a software IPv4/IPv6 router.
#[derive(Debug, Parser)]
#[command(name = "ferroute", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forward capture files through the router offline, one output capture per port.
    Replay(replay::ReplayArgs),
    /// Validate a configuration file and summarise it.
    CheckConfig(check_config::CheckConfigArgs),
    /// Longest-prefix match of addresses over a routing-table file.
    Lookup(lookup::LookupArgs),
    /// Run the router on the configured interfaces (AF_XDP; needs root).
    Run(run::RunArgs),
    /// Show the live counters of a running `ferroute run`.
    Stats(stats::StatsArgs),
    /// Show the routing state of a running `ferroute run`.
    Show(show::ShowArgs),
    /// Re-read the configuration and routing inputs of a running `ferroute run`.
    Reload(show::ReloadArgs),
    /// Act on the BGP sessions of a running `ferroute run` (reset).
    Bgp(bgp::BgpArgs),
    /// Send UDP test traffic out of an interface (XDP live frames; needs root).
    Gen(gen::GenArgs),
    /// Count and drop the frames arriving on an interface (XDP; needs root).
    Sink(sink::SinkArgs),
    /// Benchmark bound: blindly redirect IP frames between two interfaces with XDP.
    #[command(hide = true)]
    BenchRedirect(redirect::RedirectArgs),
}

/// What kind of failure ended a command; decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Bad command line or configuration: exit status 2.
    Usage,
    /// Anything else (unreadable capture, full disk, ...): exit status 1.
    Runtime,
}

/// A failed command: printed as one line `error: ...`.
#[derive(Debug)]
pub struct CliError {
    pub kind: FailureKind,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: FailureKind::Usage,
            error: error.into(),
        }
    }

    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: FailureKind::Runtime,
            error: error.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FailureKind::Usage => 2,
            FailureKind::Runtime => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` joins the error's causes with ": " on one line.
        write!(f, "{:#}", self.error)
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::usage(e)
    }
}

/// Runs a parsed command, writing its normal output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Replay(args) => replay::run(args, out),
        Command::CheckConfig(args) => check_config::run(args, out),
        Command::Lookup(args) => lookup::run(args, out),
        Command::Run(args) => run::run(args, out),
        Command::Stats(args) => stats::run(args, out),
        Command::Show(args) => show::run(args, out),
        Command::Reload(args) => show::reload(args, out),
        Command::Bgp(args) => bgp::run(args, out),
        Command::Gen(args) => gen::run(args, out),
        Command::Sink(args) => sink::run(args, out),
        Command::BenchRedirect(args) => redirect::run(args, out),
    }
}

/// The program: parse the command line (clap prints usage errors itself and
/// exits with status 2), run the command, report a failure on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(cli, &mut out).and_then(|()| out.flush().map_err(CliError::runtime));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_are_one_line_with_their_causes() {
        let inner = std::io::Error::other("disk full");
        let e = CliError::runtime(anyhow::Error::new(inner).context("writing out/p0.pcap"));
        assert_eq!(e.to_string(), "writing out/p0.pcap: disk full");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::usage(anyhow::anyhow!("bad")).exit_code(), 2);
    }
}
