//! `ferroute show routes|linkstate|fib-stats|bgp|ospf|ospfv3|acl` and `ferroute reload`: the
//! running daemon's routing state and ACLs, and re-reading its inputs.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ops::{request, DEFAULT_SOCKET};
use super::CliError;

/// Show the routing state of a running `ferroute run`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(subcommand)]
    pub what: ShowWhat,
    /// The daemon's operator socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// The RIB: a summary, or every route for a prefix (exact) or an
    /// address (longest match), which one won and why.
    Routes {
        /// A prefix (198.51.100.0/24) or an address (198.51.100.7).
        target: Option<String>,
    },
    /// The link-state database and the last SPF run.
    Linkstate,
    /// The published FIB: version, prefixes, groups, memory, build time.
    FibStats,
    /// BGP: decision settings, table size, per peer routes received and
    /// selected, the loaded inputs and the live sessions; `show bgp
    /// neighbors [ADDRESS]` only the sessions (one in detail).
    Bgp {
        /// `neighbors` (or `peers`): the sessions only; `summary`: counts.
        #[arg(value_parser = ["neighbors", "peers", "summary"])]
        what: Option<String>,
        /// With `neighbors`: this neighbor only, in detail.
        address: Option<String>,
    },
    /// OSPF: interfaces (state, DR, BDR), neighbours (state), the LSDB
    /// (ages, sequence numbers), inter-area and external routes, counters;
    /// or one of the four.
    Ospf {
        /// `interfaces`, `neighbors`, `database` or `routes` (all when omitted).
        what: Option<String>,
    },
    /// OSPFv3: the same four views of the `[ospfv3]` speaker.
    Ospfv3 {
        /// `interfaces`, `neighbors` or `database` (all when omitted).
        what: Option<String>,
    },
    /// The ACLs the workers run: each list's default, its rules in order
    /// with their hits (summed over workers), and the ports using it.
    Acl {
        /// This list only.
        name: Option<String>,
    },
}

/// Re-read the configuration and the routing inputs of a running
/// `ferroute run`, without dropping traffic.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The daemon's operator socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn print(value: &serde_json::Value, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let written = if json {
        let body = value.get("text").map_or(value.clone(), |_| {
            let mut v = value.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("text");
            }
            v
        });
        writeln!(out, "{body}")
    } else {
        match value.get("text").and_then(|t| t.as_str()) {
            Some(text) => write!(out, "{text}"),
            None => writeln!(out, "{value:#}"),
        }
    };
    written.map_err(CliError::runtime)
}

pub fn run(args: ShowArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let req = match &args.what {
        ShowWhat::Routes { target: None } => "show routes".to_string(),
        ShowWhat::Routes { target: Some(t) } => format!("show routes {t}"),
        ShowWhat::Linkstate => "show linkstate".to_string(),
        ShowWhat::FibStats => "show fib-stats".to_string(),
        ShowWhat::Bgp { what: None, .. } => "show bgp".to_string(),
        ShowWhat::Bgp {
            what: Some(w),
            address: None,
        } => format!("show bgp {w}"),
        ShowWhat::Bgp {
            what: Some(w),
            address: Some(a),
        } => format!("show bgp {w} {a}"),
        ShowWhat::Ospf { what: None } => "show ospf".to_string(),
        ShowWhat::Ospf { what: Some(w) } => format!("show ospf {w}"),
        ShowWhat::Ospfv3 { what: None } => "show ospfv3".to_string(),
        ShowWhat::Ospfv3 { what: Some(w) } => format!("show ospfv3 {w}"),
        ShowWhat::Acl { name: None } => "show acl".to_string(),
        ShowWhat::Acl { name: Some(n) } => format!("show acl {n}"),
    };
    let value = request(&args.socket, &req).map_err(CliError::runtime)?;
    print(&value, args.json, out)
}

pub fn reload(args: ReloadArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let value = request(&args.socket, "reload").map_err(CliError::runtime)?;
    if args.json {
        return print(&value, true, out);
    }
    let version = value["fib_version"].as_u64().unwrap_or_default();
    let mut text = format!("reloaded: FIB version {version}\n");
    if let Some(stages) = value["stages"]["version"].as_u64() {
        let changed: Vec<&str> = value["stages"]["acl_changed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        text.push_str(&format!(
            "stages and ACLs: version {stages}{}\n",
            if changed.is_empty() {
                String::new()
            } else {
                format!(" (changed, counts from zero: {})", changed.join(", "))
            }
        ));
    }
    let waiting: Vec<&str> = value["not_applied"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if !waiting.is_empty() {
        text.push_str(&format!(
            "not applied until ferroute restarts: {}\n",
            waiting.join("; ")
        ));
    }
    out.write_all(text.as_bytes()).map_err(CliError::runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::operator::{serve_connections, OperatorSocket};

    #[test]
    fn show_and_reload_print_text_or_json_from_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("ops.sock");
        let answer = |req: &str| match req {
            "show fib-stats" => {
                Ok(serde_json::json!({"stats": {"version": 7}, "text": "FIB version 7\n"}))
            }
            "show routes 10.0.0.1" => Err("no route for 10.0.0.1".to_string()),
            "reload" => Ok(serde_json::json!({
                "fib_version": 8,
                "not_applied": ["router.icmp_rate", "port p1: mtu, queueing"],
                "stages": {"version": 3, "acl_changed": ["no-ssh"]}
            })),
            "show bgp" => {
                Ok(serde_json::json!({"bgp": {"peers": []}, "text": "BGP: 0 prefixes\n"}))
            }
            other => Err(format!("unexpected {other}")),
        };
        let mut server = OperatorSocket::bind(&socket).unwrap();
        let server = std::thread::spawn(move || serve_connections(&mut server, 6, &answer));
        let show = |what, json| {
            let mut out = Vec::new();
            run(
                ShowArgs {
                    what,
                    socket: socket.clone(),
                    json,
                },
                &mut out,
            )
            .map(|()| String::from_utf8(out).unwrap())
        };
        assert_eq!(show(ShowWhat::FibStats, false).unwrap(), "FIB version 7\n");
        assert_eq!(
            show(
                ShowWhat::Bgp {
                    what: None,
                    address: None
                },
                false
            )
            .unwrap(),
            "BGP: 0 prefixes\n"
        );
        let json: serde_json::Value = serde_json::from_str(
            &show(
                ShowWhat::Bgp {
                    what: None,
                    address: None,
                },
                true,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(json, serde_json::json!({"bgp": {"peers": []}}));
        let json: serde_json::Value =
            serde_json::from_str(&show(ShowWhat::FibStats, true).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"stats": {"version": 7}}),
            "no text in JSON"
        );
        let err = show(
            ShowWhat::Routes {
                target: Some("10.0.0.1".into()),
            },
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no route for 10.0.0.1"), "{err}");
        let mut out = Vec::new();
        reload(
            ReloadArgs {
                socket: socket.clone(),
                json: false,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "reloaded: FIB version 8\n\
             stages and ACLs: version 3 (changed, counts from zero: no-ssh)\n\
             not applied until ferroute restarts: router.icmp_rate; port p1: mtu, queueing\n"
        );
        server.join().unwrap();
    }
}
