//! The running daemon's operator socket: a Unix stream socket answering one
//! request line per connection with one JSON document (`ferroute stats`
//! today; `show routes` and friends later).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

/// Where `ferroute run` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ferroute/ferroute.sock";

/// Answers a request line with a JSON value, or an error message.
pub type Handler = Arc<dyn Fn(&str) -> Result<serde_json::Value, String> + Send + Sync>;

/// A listening operator socket; removed from the file system on drop.
pub struct OpsServer {
    path: PathBuf,
    /// The listening socket's descriptor, shut down to wake `accept`.
    listener_fd: std::os::fd::RawFd,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OpsServer {
    /// Binds `path` (replacing a stale socket left by a crashed run, but not
    /// a live one) and serves requests on a thread.
    pub fn start(path: &Path, handler: Handler) -> anyhow::Result<OpsServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating {} for the operator socket", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                anyhow::bail!(
                    "{} is in use: another ferroute is running (stop it, or give --socket another path)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("binding operator socket {}", path.display()))?;
        let listener_fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ferroute-ops".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop_flag.load(Ordering::Relaxed) {
                        break;
                    }
                    match conn {
                        Ok(conn) => serve(conn, &handler),
                        // Shut down (see Drop), or a hard error: stop serving.
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                        Err(_) => {}
                    }
                }
            })?;
        Ok(OpsServer {
            path: path.to_owned(),
            listener_fd,
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn serve(conn: UnixStream, handler: &Handler) {
    // A client that never sends its line must not wedge the socket.
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = match handler(line.trim()) {
        Ok(v) => serde_json::json!({ "ok": v }),
        Err(e) => serde_json::json!({ "error": e }),
    };
    let mut w = &conn;
    let _ = writeln!(w, "{reply}");
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop: shutting a listening socket down makes a
        // blocked accept() fail with EINVAL on Linux, even when the socket's
        // file is already gone (connecting to it would then be impossible).
        // SAFETY: the descriptor belongs to the listener the thread owns,
        // which is still open (the thread has not been joined yet).
        unsafe {
            libc::shutdown(self.listener_fd, libc::SHUT_RDWR);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_reply_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops.sock");
        let handler: Handler = Arc::new(|req| match req {
            "stats" => Ok(serde_json::json!({"forwarded": 42})),
            other => Err(format!("unknown request `{other}`")),
        });
        let server = OpsServer::start(&path, handler.clone()).unwrap();
        assert_eq!(request(&path, "stats").unwrap()["forwarded"], 42);
        let err = request(&path, "bogus").unwrap_err().to_string();
        assert!(err.contains("unknown request `bogus`"), "{err}");
        // A second daemon on the same socket is refused while the first lives.
        let second = OpsServer::start(&path, handler.clone());
        assert!(second.err().unwrap().to_string().contains("in use"));
        drop(server);
        assert!(!path.exists(), "socket removed on shutdown");
        // Shutting down must not hang when the socket file was removed
        // behind the server's back (e.g. its directory cleaned up).
        let gone = OpsServer::start(&path, handler.clone()).unwrap();
        std::fs::remove_file(&path).unwrap();
        drop(gone);
        let err = request(&path, "stats").unwrap_err().to_string();
        assert!(err.contains("is `ferroute run` running"), "{err}");
        // A stale socket file (no listener) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        let server = OpsServer::start(&path, handler).unwrap();
        assert_eq!(request(&path, "stats").unwrap()["forwarded"], 42);
        drop(server);
    }
}
