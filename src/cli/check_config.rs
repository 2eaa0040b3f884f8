//! `ferroute check-config`: validate a configuration and summarise it.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::Config;
use crate::fib::NextHop;

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: CheckConfigArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config = Config::load(&args.file)?;
    // Building the FIB proves the routes resolve the way the router will use them.
    let fib = config
        .fib()
        .map_err(|e| CliError::usage(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    write_summary(out, &args.file.display().to_string(), &config, &fib).map_err(CliError::runtime)
}

fn write_summary(
    out: &mut dyn Write,
    file: &str,
    config: &Config,
    fib: &crate::fib::Fib,
) -> std::io::Result<()> {
    let r = &config.router;
    writeln!(out, "{file}: OK")?;
    writeln!(
        out,
        "router {}: icmp errors {}/s, burst {}",
        r.id, r.icmp_rate, r.icmp_burst
    )?;
    writeln!(out, "ports ({}):", config.ports.len())?;
    for (i, p) in config.ports.iter().enumerate() {
        let addresses: Vec<String> = p.addresses.iter().map(|a| a.to_string()).collect();
        let interface = if p.interface == p.name {
            String::new()
        } else {
            format!(" (interface {})", p.interface)
        };
        writeln!(
            out,
            "  {i}: {}{interface}  mac {}  mtu {}  {}",
            p.name,
            p.mac,
            p.mtu,
            addresses.join(" ")
        )?;
    }
    writeln!(out, "routes ({}):", config.routes.len())?;
    for route in &config.routes {
        let resolved = match route.prefix {
            ipnet::IpNet::V4(p) => fib.lookup_v4(p.network()),
            ipnet::IpNet::V6(p) => fib.lookup_v6(p.network()),
        };
        let how = match resolved {
            Some(NextHop::Adjacency { port, mac }) => {
                format!("on {} to {mac}", config.port_name(*port).unwrap_or("?"))
            }
            Some(NextHop::Unresolved { port, .. }) => format!(
                "on {}, no neighbor entry (frames will be dropped as neighbor_unresolved)",
                config.port_name(*port).unwrap_or("?")
            ),
            // A more specific connected or local prefix covers the network address.
            Some(other) => format!("network address shadowed by {other:?}"),
            None => "not installed".to_string(),
        };
        writeln!(out, "  {} via {}  {how}", route.prefix, route.via)?;
    }
    writeln!(out, "neighbors ({}):", config.neighbors.len())?;
    for n in &config.neighbors {
        writeln!(
            out,
            "  {} is {} on {}",
            n.address,
            n.mac,
            config.port_name(n.port).unwrap_or("?")
        )?;
    }
    writeln!(
        out,
        "fib: {} IPv4 and {} IPv6 prefixes, {} next hops",
        fib.v4.len(),
        fib.v6.len(),
        fib.groups().len()
    )?;
    Ok(())
}
