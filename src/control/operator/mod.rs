//! The operator socket, served by the event loop: a Unix stream socket
//! answering one request line per connection with one JSON document
//! (`{"ok": ...}` or `{"error": "..."}`), the protocol of `ferroute stats`,
//! `show`, `reload`. Connections are non-blocking and bounded: a request
//! longer than [`MAX_REQUEST`] is refused, and the event loop closes a
//! connection that has not finished within [`CONNECTION_TIMEOUT`].

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

/// The longest request line.
pub const MAX_REQUEST: usize = 4096;
/// How long a connection may take to send its line and read the answer.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound operator socket and its open connections; the socket's file is
/// removed on drop.
pub struct OperatorSocket {
    path: PathBuf,
    listener: UnixListener,
    connections: BTreeMap<usize, Connection>,
    next_id: usize,
}

struct Connection {
    stream: UnixStream,
    request: Vec<u8>,
    /// The answer, once there is one, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
}

/// What a connection needs after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// Its request line, to answer with [`OperatorSocket::answer`].
    Request(String),
    /// Nothing yet: more to read or to write.
    Open,
    /// Done (answered, gone, or refused).
    Closed,
}

/// Answers the requests that are not the control thread's own (`stats`
/// of the data plane; `reload` reads the configuration).
pub type OperatorHandler = Box<dyn FnMut(&str) -> OperatorRequest + Send>;

/// What the daemon's [`OperatorHandler`] makes of a request.
pub enum OperatorRequest {
    Answer(Result<serde_json::Value, String>),
    /// Reload the routing inputs; `not_applied` names the settings that
    /// wait for a restart.
    Reload {
        inputs: Box<crate::control::ControlInputs>,
        not_applied: Vec<String>,
        /// Run once the routing inputs are applied (not when that fails):
        /// publishes the data plane's share (the stages); its answer goes
        /// under `stages`.
        then: Option<AfterReload>,
    },
}

/// The data plane's share of a reload (see [`OperatorRequest::Reload`]).
pub type AfterReload = Box<dyn FnOnce() -> serde_json::Value + Send>;

impl OperatorSocket {
    /// Binds `path` (replacing a stale socket left by a crashed run, but not
    /// a live one).
    pub fn bind(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("creating {} for the operator socket: {e}", dir.display()))?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "{} is in use: another ferroute is running (stop it, or give --socket another path)",
                    path.display()
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("removing stale socket {}: {e}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("binding operator socket {}: {e}", path.display()))?;
        Ok(OperatorSocket {
            path: path.to_owned(),
            listener,
            connections: BTreeMap::new(),
            next_id: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    /// Accepts every waiting connection, registered under `token_of(id)`;
    /// returns the new connections' ids.
    pub fn accept(&mut self, registry: &Registry, token_of: impl Fn(usize) -> Token) -> Vec<usize> {
        let mut ids = Vec::new();
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if registry
                        .register(&mut stream, token_of(id), interest)
                        .is_err()
                    {
                        continue;
                    }
                    self.connections.insert(
                        id,
                        Connection {
                            stream,
                            request: Vec::new(),
                            answer: None,
                        },
                    );
                    ids.push(id);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: nothing more waits; another error: try again
                // on the next readiness event.
                Err(_) => return ids,
            }
        }
    }

    /// Reads what connection `id` sent, or writes more of its answer.
    pub fn service(&mut self, id: usize, registry: &Registry) -> Service {
        let Some(c) = self.connections.get_mut(&id) else {
            return Service::Closed;
        };
        if c.answer.is_some() {
            return self.write(id, registry);
        }
        match read_line(c) {
            Ok(Some(line)) => Service::Request(line),
            Ok(None) => Service::Open,
            Err(()) => {
                self.close(id, registry);
                Service::Closed
            }
        }
    }

    /// Answers connection `id`'s request and writes as much as the socket
    /// takes (the rest on the next writable event).
    pub fn answer(
        &mut self,
        id: usize,
        registry: &Registry,
        reply: Result<serde_json::Value, String>,
    ) -> Service {
        let Some(c) = self.connections.get_mut(&id) else {
            return Service::Closed;
        };
        let reply = match reply {
            Ok(v) => serde_json::json!({ "ok": v }),
            Err(e) => serde_json::json!({ "error": e }),
        };
        c.answer = Some((format!("{reply}\n").into_bytes(), 0));
        self.write(id, registry)
    }

    fn write(&mut self, id: usize, registry: &Registry) -> Service {
        let Some(c) = self.connections.get_mut(&id) else {
            return Service::Closed;
        };
        let Some((bytes, written)) = &mut c.answer else {
            return Service::Open;
        };
        while *written < bytes.len() {
            match c.stream.write(&bytes[*written..]) {
                Ok(0) => break,
                Ok(n) => *written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Service::Open,
                Err(_) => break,
            }
        }
        self.close(id, registry);
        Service::Closed
    }

    /// Closes connection `id` (done, failed or too slow).
    pub fn close(&mut self, id: usize, registry: &Registry) {
        if let Some(mut c) = self.connections.remove(&id) {
            let _ = registry.deregister(&mut c.stream);
        }
    }
}

/// The request line once complete (`Ok(None)`: not yet); `Err` when the
/// client went away or sent too much.
fn read_line(c: &mut Connection) -> Result<Option<String>, ()> {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = c.request.iter().position(|&b| b == b'\n') {
            return Ok(Some(
                String::from_utf8_lossy(&c.request[..end]).into_owned(),
            ));
        }
        if c.request.len() > MAX_REQUEST {
            return Err(());
        }
        match c.stream.read(&mut buf) {
            // End of the stream: a line without its newline still counts.
            Ok(0) if c.request.is_empty() => return Err(()),
            Ok(0) => return Ok(Some(String::from_utf8_lossy(&c.request).into_owned())),
            Ok(n) => c.request.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(_) => return Err(()),
        }
    }
}

impl Drop for OperatorSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves `socket` with `answer` on the calling thread until `clients`
/// connections are done (a test's stand-in for the event loop).
#[cfg(test)]
pub(crate) fn serve_connections(
    socket: &mut OperatorSocket,
    clients: usize,
    answer: &dyn Fn(&str) -> Result<serde_json::Value, String>,
) {
    const LISTENER: Token = Token(0);
    let mut poll = mio::Poll::new().unwrap();
    socket.register(poll.registry(), LISTENER).unwrap();
    let mut events = mio::Events::with_capacity(16);
    let mut closed = 0;
    while closed < clients {
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(!events.is_empty(), "no event within 10 s");
        for event in &events {
            let ids = match event.token() {
                LISTENER => socket.accept(poll.registry(), |id| Token(id + 1)),
                Token(t) => vec![t - 1],
            };
            for id in ids {
                let mut state = socket.service(id, poll.registry());
                if let Service::Request(line) = state {
                    state = socket.answer(id, poll.registry(), answer(line.trim()));
                }
                if state == Service::Closed {
                    closed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
