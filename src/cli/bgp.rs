//! `ferroute bgp reset PEER [--soft in|out]`: operator actions on a running
//! daemon's BGP sessions (answered by the BGP instance through the
//! operator socket and the engine).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::ops::{request, DEFAULT_SOCKET};
use super::CliError;

/// Act on the BGP sessions of a running `ferroute run`.
#[derive(Debug, Args)]
pub struct BgpArgs {
    #[command(subcommand)]
    pub action: BgpAction,
    /// The daemon's operator socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BgpAction {
    /// Reset a session: without --soft, a NOTIFICATION Cease /
    /// administrative reset and a new session; `--soft in` asks the peer
    /// for its routes again (ROUTE-REFRESH); `--soft out` sends it ours
    /// again.
    Reset {
        /// The neighbor's address.
        peer: String,
        #[arg(long, value_enum)]
        soft: Option<Direction>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Direction {
    In,
    Out,
}

/// The request line the daemon answers.
fn request_line(action: &BgpAction) -> String {
    match action {
        BgpAction::Reset { peer, soft: None } => format!("bgp reset {peer}"),
        BgpAction::Reset {
            peer,
            soft: Some(Direction::In),
        } => format!("bgp reset {peer} soft in"),
        BgpAction::Reset {
            peer,
            soft: Some(Direction::Out),
        } => format!("bgp reset {peer} soft out"),
    }
}

pub fn run(args: BgpArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let value = request(&args.socket, &request_line(&args.action)).map_err(CliError::runtime)?;
    let text = value["text"].as_str().unwrap_or_default();
    out.write_all(text.as_bytes()).map_err(CliError::runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::operator::{serve_connections, OperatorSocket};

    #[test]
    fn reset_sends_its_line_and_fails_on_the_daemons_error() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("ops.sock");
        let answer = |req: &str| match req {
            "bgp reset 192.0.2.2 soft in" => Ok(serde_json::json!({
                "text": "192.0.2.2: route refresh sent (ipv4-unicast)\n"
            })),
            other => Err(format!("unexpected {other}")),
        };
        let mut server = OperatorSocket::bind(&socket).unwrap();
        let server = std::thread::spawn(move || serve_connections(&mut server, 2, &answer));
        let reset = |peer: &str, soft| {
            let mut out = Vec::new();
            let action = BgpAction::Reset {
                peer: peer.into(),
                soft,
            };
            let args = BgpArgs {
                action,
                socket: socket.clone(),
            };
            run(args, &mut out).map(|()| String::from_utf8(out).unwrap())
        };
        assert_eq!(
            reset("192.0.2.2", Some(Direction::In)).unwrap(),
            "192.0.2.2: route refresh sent (ipv4-unicast)\n"
        );
        let e = reset("192.0.2.9", None).unwrap_err();
        assert!(
            e.to_string().contains("unexpected bgp reset 192.0.2.9"),
            "{e}"
        );
        server.join().unwrap();
    }
}
