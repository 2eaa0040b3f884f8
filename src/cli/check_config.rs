//! `ferroute check-config`: validate a configuration and summarise it.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::Config;
use crate::control::engine::Engine;
use crate::control::offline::OfflineRouting;
use crate::control::rib::route::RouteSource;
use crate::fib::{NextHop, RouteTarget};
use crate::qos::{QosConfig, SchedulerKind};

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: CheckConfigArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config = Config::load(&args.file)?;
    let file = args.file.display().to_string();
    // The table `ferroute run` publishes first (and `ferroute replay`
    // forwards with), built the one offline way: building it proves the
    // routes resolve the way the router will use them, and the routing
    // inputs ([linkstate], [bgp]) are loaded exactly as the daemon loads
    // them, so a file it would refuse (or a reload would reject) is
    // refused here, with its position.
    let mut routing = OfflineRouting::build(&config)
        .map_err(|e| CliError::usage(anyhow::anyhow!("{file}: {e}")))?;
    let fib = routing.table();
    write_summary(out, &file, &config, &fib).map_err(CliError::runtime)?;
    write_qos(out, &config).map_err(CliError::runtime)?;
    if config.linkstate.is_some() || config.bgp.is_some() {
        write_routing(out, &config, &mut routing.engine).map_err(CliError::runtime)?;
    }
    Ok(())
}

/// Every port's queueing, and the administrative distances.
fn write_qos(out: &mut dyn Write, config: &Config) -> std::io::Result<()> {
    writeln!(out, "queues:")?;
    for p in &config.ports {
        writeln!(out, "  {}: {}", p.name, describe_qos(&p.qos))?;
    }
    let d = &config.distances;
    let each: Vec<String> = RouteSource::all()
        .map(|s| format!("{} {}", s.name(), d.of(s)))
        .collect();
    writeln!(out, "distance: {}", each.join(", "))
}

fn describe_qos(q: &QosConfig) -> String {
    let rate = match q.rate {
        Some(bytes) => format!(
            "shaped to {:.3} Mbit/s (+{} B per frame)",
            bytes as f64 * 8.0 / 1e6,
            q.overhead
        ),
        None => "unshaped".to_string(),
    };
    let mut text = format!(
        "{}, {rate}, codel target {} ms interval {} ms, {} packets",
        q.scheduler.name(),
        q.codel.target_ns as f64 / 1e6,
        q.codel.interval_ns as f64 / 1e6,
        q.queue_limit
    );
    if q.scheduler != SchedulerKind::Fifo {
        text.push_str(&format!(
            " ({} per flow), {} flow queues",
            q.flow_limit, q.flows
        ));
        for c in &q.classes {
            text.push_str(&format!(
                "; class {} weight {} dscp {:?}",
                c.name, c.weight, c.dscp
            ));
        }
    }
    text
}

/// The routing table the daemon would publish first: link-state SPF and
/// BGP decisions over the configured inputs, static neighbours applied.
fn write_routing(out: &mut dyn Write, config: &Config, engine: &mut Engine) -> std::io::Result<()> {
    let mut sections = vec!["routes", "fib-stats"];
    if config.linkstate.is_some() {
        sections.push("linkstate");
    }
    if config.bgp.is_some() {
        sections.push("bgp");
    }
    for what in sections {
        writeln!(out, "{what}:")?;
        let text = match engine.show(what) {
            Ok(v) => v["text"].as_str().unwrap_or_default().to_string(),
            Err(e) => e,
        };
        for line in text.lines().map(str::trim_end) {
            match line.is_empty() {
                true => writeln!(out)?,
                false => writeln!(out, "  {line}")?,
            }
        }
    }
    Ok(())
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
        let vlan = match p.vlan {
            Some(v) => format!(
                "  vlan {} on {}",
                v.id, config.ports[v.parent as usize].name
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "  {i}: {}{interface}{vlan}  mac {}  mtu {}  {}",
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
            Some(NextHop::Discard(action)) => {
                format!("installed, packets dropped ({})", action.name())
            }
            // A more specific connected or local prefix covers the network address.
            Some(other) => format!("network address shadowed by {other:?}"),
            None => "not installed".to_string(),
        };
        match route.target {
            RouteTarget::Via(via) => writeln!(out, "  {} via {via}  {how}", route.prefix)?,
            RouteTarget::Discard(action) => {
                writeln!(out, "  {} {}  {how}", route.prefix, action.name())?
            }
        }
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
