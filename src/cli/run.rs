//! `ferroute run`: the router daemon. Attaches the XDP program to every
//! link (a port without a parent), creates a TAP per VLAN sub-interface
//! (`control::kernel::linux_cp`), starts one pinned worker per queue, prints
//! a status line per second on a terminal, serves the operator socket, and
//! on SIGINT/SIGTERM stops the workers, detaches every program it attached
//! and removes the TAPs.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::ops::DEFAULT_SOCKET;
use super::run_stages;
use super::CliError;
use crate::config::{Config, PortConfig, RestartOnly};
use crate::control::kernel::linux_cp::{LinuxCp, PuntCounters, SubInterface};
use crate::control::operator::{OperatorHandler, OperatorRequest, OperatorSocket};
use crate::control::{Control, ControlHandle};
use crate::dataplane::report::{status_line, StatsReport, WorkerShare};
use crate::dataplane::{Dataplane, StatsSnapshot, Worker, WorkerFactory, WorkerStats};
use crate::fib::{FibHandle, PortId};
use crate::forward::{Forwarder, StagesHandle};
use crate::io::xdp::{
    frame_size_for_mtu, interface_index, XdpIo, XdpIoConfig, XdpMode, XdpPort, XdpProgram, XdpVlan,
    DEFAULT_FRAMES, DEFAULT_RING_SIZE,
};
use crate::wire::MacAddr;

/// Run the router on the configured interfaces (AF_XDP).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Router configuration (TOML).
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// Attach the XDP program in generic (skb) mode instead of native mode.
    #[arg(long)]
    pub generic: bool,
    /// Number of workers; worker q serves receive queue q of every port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
    /// Cores to pin workers to, in order (default: worker q on core q).
    #[arg(long, value_delimiter = ',', value_name = "CORE,...")]
    pub cores: Vec<usize>,
    /// Operator socket for `ferroute stats`.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the status line each second even when stdout is not a terminal.
    #[arg(long)]
    pub status: bool,
    /// Stop by itself after this many seconds (for scripts and tests).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<u64>,
    /// Frames of packet memory (UMEM) per worker: 2 KiB each when every
    /// port's MTU is at most 1,770, else 4 KiB. The output
    /// queues of all ports may hold a quarter of them, so this bounds how
    /// much a congested port can buffer (`queue_limit` is capped by it).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FRAMES,
          value_parser = clap::value_parser!(u32).range(64..=1 << 20))]
    pub frames: u32,
    /// Entries of every AF_XDP ring (rx, tx, fill, completion); a power of
    /// two, at most half of `--frames`.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RING_SIZE, value_parser = ring_size)]
    pub ring_size: u32,
}

fn ring_size(text: &str) -> Result<u32, String> {
    let n: u32 = text.parse().map_err(|e| format!("{e}"))?;
    match n.is_power_of_two() && (32..=1 << 16).contains(&n) {
        true => Ok(n),
        false => Err(format!("{n} is not a power of two between 32 and 65536")),
    }
}

fn read_sys(interface: &str, file: &str) -> anyhow::Result<String> {
    let path = Path::new("/sys/class/net").join(interface).join(file);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

/// The interface of `port`, checked against the configuration.
fn resolve_port(index: usize, port: &PortConfig) -> anyhow::Result<XdpPort> {
    let ifindex =
        interface_index(&port.interface).map_err(|e| anyhow::anyhow!("port {}: {e}", port.name))?;
    let actual: MacAddr = read_sys(&port.interface, "address")?
        .parse()
        .map_err(|e: String| anyhow::anyhow!("port {}: {e}", port.name))?;
    if actual != port.mac {
        anyhow::bail!(
            "port {}: interface {} has MAC {actual} but the configuration says {} \
             (set mac = \"{actual}\", or `ip link set {} address {}`)",
            port.name,
            port.interface,
            port.mac,
            port.interface,
            port.mac
        );
    }
    let link_mtu: u32 = read_sys(&port.interface, "mtu")?.parse().unwrap_or(0);
    if (port.mtu as u32) > link_mtu {
        anyhow::bail!(
            "port {}: mtu {} is above interface {}'s MTU {link_mtu} \
             (lower it, or `ip link set {} mtu {}`)",
            port.name,
            port.mtu,
            port.interface,
            port.interface,
            port.mtu
        );
    }
    Ok(XdpPort {
        ifindex,
        port_index: index as u32,
        mac: port.mac,
    })
}

/// Blocks SIGINT and SIGTERM in this thread (and the threads it starts), so
/// they can be taken synchronously with `sigtimedwait`.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local, zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal if one came.
fn wait_for_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` is a valid signal set, `ts` a valid timeout; no info wanted.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

fn xdp_counters(program: &Mutex<XdpProgram>) -> BTreeMap<String, u64> {
    let Ok(program) = program.lock() else {
        return BTreeMap::new();
    };
    let Ok(counters) = program.counters() else {
        return BTreeMap::new();
    };
    match serde_json::to_value(counters) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_u64().map(|n| (k, n)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The status line's BGP part (established sessions, route changes per
/// second since `before` changes), and the change count now; `None`
/// without BGP.
fn bgp_status(control: &ControlHandle, before: u64, elapsed: Duration) -> Option<(String, u64)> {
    let summary = control.show("bgp summary").ok()?;
    let changes = summary["route_changes"].as_u64()?;
    let rate = changes.saturating_sub(before) as f64 / elapsed.as_secs_f64().max(1e-9);
    let part = format!(
        "  bgp {}/{} up {:.0} chg/s",
        summary["established"], summary["sessions"], rate
    );
    Some((part, changes))
}

/// The TAP of every VLAN sub-interface: its port's interface name, MAC,
/// MTU and addresses, on its parent link.
fn sub_interfaces(config: &Config, links: &[Option<XdpPort>]) -> Vec<SubInterface> {
    config
        .ports
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let v = p.vlan?;
            let link = links.get(v.parent as usize).copied().flatten()?;
            Some(SubInterface {
                port: i as PortId,
                link: v.parent,
                interface: p.interface.clone(),
                link_ifindex: link.ifindex,
                link_interface: config.ports[v.parent as usize].interface.clone(),
                link_mac: link.mac,
                vid: v.id,
                mac: p.mac,
                mtu: p.mtu,
                addresses: p.addresses.clone(),
            })
        })
        .collect()
}

/// The XDP program's VLAN table: (link, VLAN id) → the sub-interface's MAC,
/// its frames on the link's sockets.
fn xdp_vlans(subs: &[SubInterface]) -> Vec<XdpVlan> {
    subs.iter()
        .map(|s| XdpVlan {
            ifindex: s.link_ifindex,
            vid: s.vid,
            link_index: u32::from(s.link),
            mac: s.mac,
        })
        .collect()
}

/// The punt thread's counters for `stats` (none without VLANs).
fn punt_counts(counters: &PuntCounters, has_vlans: bool) -> BTreeMap<String, u64> {
    if !has_vlans {
        return BTreeMap::new();
    }
    counters
        .by_name()
        .iter()
        .map(|(name, n)| (name.to_string(), *n))
        .collect()
}

fn snapshot(stats: &[Arc<WorkerStats>]) -> StatsSnapshot {
    let mut total = StatsSnapshot::default();
    for s in stats {
        total.merge(&s.snapshot());
    }
    total
}

pub fn run(args: RunArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let process_start = Instant::now();
    let config = Config::load(&args.config)?;
    if args.frames < 2 * args.ring_size {
        return Err(CliError::usage(anyhow::anyhow!(
            "--frames {} must be at least twice --ring-size {} \
             (every port's fill ring and the frames in flight share them)",
            args.frames,
            args.ring_size
        )));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CliError::runtime(anyhow::anyhow!(
            "ferroute run needs root (CAP_NET_ADMIN and CAP_BPF to attach XDP programs and open AF_XDP sockets): run it with sudo"
        )));
    }
    let signals = block_stop_signals();
    daemon(&config, &args, &signals, process_start, out).map_err(CliError::runtime)
}

fn daemon(
    config: &Config,
    args: &RunArgs,
    signals: &libc::sigset_t,
    process_start: Instant,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    // Links carry the sockets and the XDP program; a VLAN sub-interface is
    // a TAP in the kernel (removed when `linux_cp` goes, however we stop).
    let links: Vec<Option<XdpPort>> = config
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| match p.vlan {
            None => resolve_port(i, p).map(Some),
            Some(_) => Ok(None),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let subs = sub_interfaces(config, &links);
    let vlans = xdp_vlans(&subs);
    let mut linux_cp = LinuxCp::create(subs)?;
    let ports: Vec<XdpPort> = links.iter().flatten().copied().collect();
    // The kernel's view of every port: a link's interface, a VLAN's TAP
    // (neighbours learnt there are the sub-interface's).
    let ifindexes: Vec<u32> = (0..config.ports.len())
        .map(|i| match &links[i] {
            Some(link) => link.ifindex,
            None => linux_cp.ifindex(i as PortId).unwrap_or(0),
        })
        .collect();
    let socket_links: Vec<Option<u32>> = links.iter().map(|l| l.map(|l| l.ifindex)).collect();
    let fib = FibHandle::new(config.fib()?);
    // The ports' stages and the ACLs, compiled once for every worker and
    // replaced by `reload` like the FIB.
    let stages = StagesHandle::new(config.stage_table(None));
    // The control thread follows the kernel's neighbour table (it must run
    // in this namespace, like everything here) and republishes the FIB.
    let control = Control::start(&config.control_inputs(), fib.clone(), &ifindexes)?;
    // The whole RIB (static, link-state, BGP tables) is in this first table.
    let first = fib.load();
    writeln!(
        out,
        "ferroute: FIB version {}: {} IPv4 + {} IPv6 prefixes, {} next-hop groups, published {} ms after start",
        first.version,
        first.v4.len(),
        first.v6.len(),
        first.groups().len(),
        process_start.elapsed().as_millis()
    )?;
    // Held for the daemon's lifetime, this reference would keep the first
    // table alive and stop the publisher from updating it in place later.
    drop(first);
    let glean = control.glean_queue();
    let mode = if args.generic {
        XdpMode::Generic
    } else {
        XdpMode::Native
    };
    let program = XdpProgram::load(&ports, mode)?;
    program.set_vlans(&vlans)?;
    linux_cp.start().context("starting the VLAN punt thread")?;
    let punt_counters = linux_cp.counters().clone();
    // The router's addresses and its subnets' directed broadcasts go to the
    // kernel, exactly the destinations the FIB calls `Local`.
    let local: Vec<IpAddr> = config
        .ports
        .iter()
        .flat_map(|p| p.addresses.iter())
        .flat_map(|a| {
            let broadcast = match a {
                ipnet::IpNet::V4(v4) if v4.prefix_len() < 31 => Some(IpAddr::V4(v4.broadcast())),
                _ => None,
            };
            std::iter::once(a.addr()).chain(broadcast)
        })
        .collect();
    program.set_local_addresses(&local)?;
    let program = Arc::new(Mutex::new(program));

    let (frame_count, ring_size) = (args.frames, args.ring_size);
    let largest_mtu = config
        .ports
        .iter()
        .map(|p| u32::from(p.mtu))
        .max()
        .unwrap_or(1500);
    let frame_size = frame_size_for_mtu(largest_mtu);
    let mut factories: Vec<(Option<usize>, WorkerFactory<XdpIo>)> = Vec::new();
    for q in 0..args.workers {
        let core = args.cores.get(q as usize).copied().or(Some(q as usize));
        let socket_links = socket_links.clone();
        let program = program.clone();
        let fib = fib.clone();
        let glean = glean.clone();
        let stages = stages.clone();
        let forwarder = Forwarder::new(config.forwarder_config_with(&stages.load()));
        let qos: Vec<crate::qos::QosConfig> = config.ports.iter().map(|p| p.qos.clone()).collect();
        let priority = config.router.worker_priority;
        factories.push((
            core,
            Box::new(move || {
                if let Some(priority) = priority {
                    crate::io::xdp::set_fifo_priority(priority).map_err(|e| {
                        anyhow::anyhow!(
                            "router.worker_priority = {priority}: cannot make the worker \
                             SCHED_FIFO: {e}"
                        )
                    })?;
                }
                let io_config = XdpIoConfig {
                    queue: q,
                    frame_count,
                    frame_size,
                    ring_size,
                    ..XdpIoConfig::default()
                };
                let (io, pool) = XdpIo::open_links(&socket_links, &io_config)?;
                {
                    let program = program
                        .lock()
                        .map_err(|_| anyhow::anyhow!("XDP program lock poisoned"))?;
                    io.register_with(&program)?;
                }
                let mut worker = Worker::new(io, pool, forwarder, fib);
                worker.set_glean_sink(glean);
                worker.set_stages(stages);
                worker.set_qos(&qos);
                Ok(worker)
            }),
        ));
    }
    let mut dataplane = Dataplane::start(factories)?;
    let stats: Vec<Arc<WorkerStats>> = dataplane.worker_stats().to_vec();
    let started = Instant::now();
    let workers = stats.len();
    // The control thread serves the operator socket from its event loop:
    // `show`, `neighbors` and the work of `reload` are its own; the data
    // plane's counters and reading the configuration are answered here.
    let handler: OperatorHandler = {
        let stats = stats.clone();
        let program = program.clone();
        let config_path = args.config.clone();
        let restart_only = RestartOnly::of(config);
        let has_vlans = !vlans.is_empty();
        let stages = stages.clone();
        let port_names: Vec<String> = config.ports.iter().map(|p| p.name.clone()).collect();
        Box::new(move |request: &str| match request {
            "stats" => {
                let mut report = StatsReport::new(
                    &snapshot(&stats),
                    workers,
                    started.elapsed(),
                    xdp_counters(&program),
                );
                report.linux_cp = punt_counts(&punt_counters, has_vlans);
                report.per_worker = stats
                    .iter()
                    .map(|s| WorkerShare::of(&s.snapshot()))
                    .collect();
                OperatorRequest::Answer(serde_json::to_value(report).map_err(|e| e.to_string()))
            }
            "reload" => match Config::load(&config_path) {
                Ok(fresh) => OperatorRequest::Reload {
                    not_applied: restart_only.changed(&fresh),
                    then: restart_only
                        .same_ports(&fresh)
                        .then(|| run_stages::after_reload(&stages, &fresh)),
                    inputs: Box::new(fresh.control_inputs()),
                },
                Err(e) => OperatorRequest::Answer(Err(e.to_string())),
            },
            show if show == "show acl" || show.starts_with("show acl ") => OperatorRequest::Answer(
                run_stages::show_acl(show, &stages, &snapshot(&stats).stages, &port_names),
            ),
            other => OperatorRequest::Answer(Err(format!(
                "unknown request `{other}` (try: stats, neighbors, show ..., reload)"
            ))),
        })
    };
    let socket = OperatorSocket::bind(&args.socket).map_err(|e| anyhow::anyhow!(e))?;
    let socket_path = socket.path().to_owned();
    control
        .serve_operators(socket, handler)
        .map_err(|e| anyhow::anyhow!(e))?;
    let names: Vec<String> = config
        .ports
        .iter()
        .map(|p| format!("{} ({})", p.name, p.interface))
        .collect();
    writeln!(
        out,
        "ferroute: forwarding on {} with {} worker(s), XDP {} mode; stats on {}; Ctrl-C stops",
        names.join(", "),
        workers,
        mode.name(),
        socket_path.display()
    )?;
    out.flush()?;

    let show_status = args.status || std::io::stdout().is_terminal();
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let mut before = snapshot(&stats);
    let mut before_at = Instant::now();
    let mut bgp_changes = 0;
    let program_interfaces: Vec<String> = config
        .ports
        .iter()
        .filter(|p| p.vlan.is_none())
        .map(|p| format!("{} ({})", p.name, p.interface))
        .collect();
    let taps: Vec<String> = linux_cp.interfaces().map(str::to_string).collect();
    let stop_reason = loop {
        if let Some(sig) = wait_for_signal(signals, Duration::from_secs(1)) {
            break if sig == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
        }
        if !dataplane.healthy() {
            break "a worker stopped unexpectedly";
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break "--duration elapsed";
        }
        if show_status {
            let now = snapshot(&stats);
            let at = Instant::now();
            let mut line = status_line(&now, &before, at - before_at);
            if let Some((bgp, changes)) = bgp_status(&control, bgp_changes, at - before_at) {
                line.push_str(&bgp);
                bgp_changes = changes;
            }
            writeln!(out, "{line}")?;
            out.flush()?;
            before = now;
            before_at = at;
        }
    };
    dataplane.shutdown();
    linux_cp.stop();
    let total = snapshot(&stats);
    // Stopping the control thread also closes the operator socket.
    let control_stopped = control.stop().map(|report| report.failures);
    let detached = match program.lock() {
        Ok(mut p) => p.detach(),
        Err(poisoned) => poisoned.into_inner().detach(),
    };
    writeln!(
        out,
        "ferroute: stopped ({stop_reason}); rx {} forwarded {} local {} dropped {} \
         (+{} at the AF_XDP sockets); XDP program detached from {}{}",
        total.counters.rx_frames,
        total.counters.forwarded,
        total.counters.local,
        total.counters.total_dropped(),
        total.socket_drops.total(),
        program_interfaces.join(", "),
        if taps.is_empty() {
            String::new()
        } else {
            format!("; TAPs {} removed", taps.join(", "))
        }
    )?;
    detached?;
    for failure in control_stopped? {
        writeln!(out, "ferroute: warning: {failure}")?;
    }
    if stop_reason == "a worker stopped unexpectedly" {
        anyhow::bail!("a worker thread stopped unexpectedly");
    }
    Ok(())
}
