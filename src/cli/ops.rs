//! The client side of the running daemon's operator socket: one request
//! line per connection, one JSON document back (`ferroute stats`, `show`,
//! `reload`). The control thread's event loop serves it
//! ([`crate::control::operator`]).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// Where `ferroute run` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ferroute/ferroute.sock";

/// Sends `request` to the daemon at `path` and returns its JSON answer.
pub fn request(path: &Path, request: &str) -> anyhow::Result<serde_json::Value> {
    let mut conn = UnixStream::connect(path).with_context(|| {
        format!(
            "cannot reach ferroute at {} (is `ferroute run` running? see --socket)",
            path.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    writeln!(conn, "{request}")?;
    let mut body = String::new();
    conn.read_to_string(&mut body)
        .with_context(|| format!("reading the answer from {}", path.display()))?;
    let mut v: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("bad answer from {}", path.display()))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        anyhow::bail!("ferroute: {e}");
    }
    Ok(v.get_mut("ok")
        .map(serde_json::Value::take)
        .unwrap_or_default())
}
