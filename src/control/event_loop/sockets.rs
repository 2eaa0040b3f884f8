//! The protocol instances' sockets, opened and served for them: what an
//! instance asks for ([`SocketRequest`]) becomes a TCP listener, a TCP
//! stream or a raw IPv4 socket registered with the event loop's poller,
//! and what happens on it comes back as owned events
//! ([`OwnedSocketEvent`]) for the engine to hand to the instance.
//!
//! Streams are written from a per-stream queue as the kernel takes bytes
//! (a transmit never blocks the thread); a queue that passes
//! [`STREAM_BUFFER_LIMIT`] means a peer that stopped reading, and the
//! stream is closed. Reads are bounded per wake ([`READS_PER_WAKE`]) so one
//! busy peer cannot starve the rest; a socket with more to read is served
//! again at the next turn ([`ProtocolSockets::has_pending_reads`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{SockAddr, Socket};

use open::{connect, connect_outcome, listen, raw_ipv4, set_listen_peers, set_tcp_options};

use crate::control::protocol::{
    ListenPeer, SocketEvent, SocketId, SocketRequest, TcpOptions, Transmit, STREAM_BUFFER_HIGH,
    STREAM_BUFFER_LIMIT,
};

/// Which instance a socket belongs to (the engine's instance key).
pub type Owner = u64;

/// Reads of one socket per wake (each up to [`READ_CHUNK`] bytes).
const READS_PER_WAKE: usize = 16;
const READ_CHUNK: usize = 64 * 1024;
/// Connections a listener accepts per wake.
const ACCEPTS_PER_WAKE: usize = 64;
const LISTEN_BACKLOG: i32 = 64;

/// A [`SocketEvent`] that owns its bytes (it waits in a queue until the
/// engine hands it over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedSocketEvent {
    Accepted {
        listener: SocketId,
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Connected {
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    Stream {
        socket: SocketId,
        bytes: Vec<u8>,
    },
    Datagram {
        socket: SocketId,
        packet: Vec<u8>,
    },
    Drained {
        socket: SocketId,
    },
    Bound {
        socket: SocketId,
        local: std::net::IpAddr,
    },
    Closed {
        socket: SocketId,
        error: Option<String>,
    },
}

impl OwnedSocketEvent {
    pub fn as_event(&self) -> SocketEvent<'_> {
        match self {
            OwnedSocketEvent::Accepted {
                listener,
                socket,
                local,
                remote,
            } => SocketEvent::Accepted {
                listener: *listener,
                socket: *socket,
                local: *local,
                remote: *remote,
            },
            OwnedSocketEvent::Connected {
                socket,
                local,
                remote,
            } => SocketEvent::Connected {
                socket: *socket,
                local: *local,
                remote: *remote,
            },
            OwnedSocketEvent::Stream { socket, bytes } => SocketEvent::Stream {
                socket: *socket,
                bytes,
            },
            OwnedSocketEvent::Datagram { socket, packet } => SocketEvent::Datagram {
                socket: *socket,
                packet,
            },
            OwnedSocketEvent::Drained { socket } => SocketEvent::Drained { socket: *socket },
            OwnedSocketEvent::Bound { socket, local } => SocketEvent::Bound {
                socket: *socket,
                local: *local,
            },
            OwnedSocketEvent::Closed { socket, error } => SocketEvent::Closed {
                socket: *socket,
                error: error.as_deref(),
            },
        }
    }
}

/// A port's kernel interface, for raw sockets on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInterface {
    pub name: String,
    pub ifindex: u32,
}

#[derive(Debug)]
struct Stream {
    stream: TcpStream,
    /// A connect is in progress (the first writable event says how it
    /// went).
    connecting: bool,
    /// Bytes handed over but not yet taken by the kernel.
    queue: Vec<u8>,
    /// Bytes handed over since the last `Drained`: past
    /// [`STREAM_BUFFER_HIGH`], an empty queue is reported (the instance
    /// counts the same bytes, so it knows a report is coming even when the
    /// kernel took everything at once).
    handed: usize,
    /// The instance closed it: close once the queue is sent.
    closing: bool,
}

#[derive(Debug)]
enum Kind {
    Listener {
        listener: TcpListener,
        /// For connections from addresses not in `peers`.
        options: TcpOptions,
        peers: Vec<ListenPeer>,
    },
    Stream(Stream),
    Raw(Socket),
    Raw6 {
        socket: Socket,
        ifindex: u32,
        protocol: u8,
    },
}

#[derive(Debug)]
struct Entry {
    owner: Owner,
    id: SocketId,
    kind: Kind,
}

/// Every instance's sockets (lives in the event loop).
#[derive(Debug)]
pub struct ProtocolSockets {
    /// Tokens are `first_token + n`, never reused.
    first_token: usize,
    next_token: usize,
    entries: BTreeMap<usize, Entry>,
    by_id: BTreeMap<(Owner, SocketId), usize>,
    /// The next id for a connection an instance's listener accepts.
    next_accepted: BTreeMap<Owner, u32>,
    ports: Vec<PortInterface>,
    /// Sockets that stopped reading at [`READS_PER_WAKE`] with more there.
    pending_reads: BTreeSet<usize>,
    events: Vec<(Owner, OwnedSocketEvent)>,
    buffer: Vec<u8>,
}

impl ProtocolSockets {
    /// Sockets take poller tokens from `first_token` up; raw sockets bind
    /// to `ports[port]`.
    pub fn new(first_token: usize, ports: Vec<PortInterface>) -> Self {
        ProtocolSockets {
            first_token,
            next_token: first_token,
            entries: BTreeMap::new(),
            by_id: BTreeMap::new(),
            next_accepted: BTreeMap::new(),
            ports,
            pending_reads: BTreeSet::new(),
            events: Vec::new(),
            buffer: vec![0; READ_CHUNK],
        }
    }

    /// Whether `token` is one of these sockets'.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.first_token
    }

    /// The events that happened since the last call, in order.
    pub fn take_events(&mut self) -> Vec<(Owner, OwnedSocketEvent)> {
        std::mem::take(&mut self.events)
    }

    pub fn has_pending_reads(&self) -> bool {
        !self.pending_reads.is_empty()
    }

    /// How many sockets are open.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Carries out `owner`'s request; a socket that cannot be opened is
    /// reported [`OwnedSocketEvent::Closed`] with the reason.
    pub fn request(&mut self, registry: &Registry, owner: Owner, request: SocketRequest) {
        let id = request.socket();
        match request {
            SocketRequest::Close { .. } => return self.close_by_instance(registry, owner, id),
            SocketRequest::TcpListenPeers { peers, .. } => {
                return self.set_listen_peers(registry, owner, id, peers)
            }
            _ => {}
        }
        if self.by_id.contains_key(&(owner, id)) {
            let error = format!("socket {} is already open", id.0);
            self.closed_event(owner, id, Some(error));
            return;
        }
        let opened = match request {
            SocketRequest::TcpListen {
                local,
                options,
                peers,
                ..
            } => listen(local, &options, &peers).map(|listener| Kind::Listener {
                listener,
                options,
                peers,
            }),
            SocketRequest::TcpConnect {
                local,
                remote,
                options,
                ..
            } => connect(local, remote, &options).map(|stream| {
                Kind::Stream(Stream {
                    stream,
                    connecting: true,
                    queue: Vec::new(),
                    handed: 0,
                    closing: false,
                })
            }),
            SocketRequest::RawIpv4 {
                protocol,
                port,
                ref groups,
                dscp,
                ..
            } => match self.ports.get(usize::from(port)) {
                Some(interface) => raw_ipv4(protocol, interface, groups, dscp).map(Kind::Raw),
                None => Err(std::io::Error::other(format!("no port {port}"))),
            },
            SocketRequest::RawIpv6 {
                protocol,
                port,
                ref groups,
                dscp,
                checksum_offset,
                ..
            } => match self.ports.get(usize::from(port)) {
                Some(interface) => {
                    raw6::raw_ipv6(protocol, interface, groups, dscp, checksum_offset).map(
                        |socket| Kind::Raw6 {
                            socket,
                            ifindex: interface.ifindex,
                            protocol,
                        },
                    )
                }
                None => Err(std::io::Error::other(format!("no port {port}"))),
            },
            SocketRequest::Close { .. } | SocketRequest::TcpListenPeers { .. } => {
                unreachable!("handled above")
            }
        };
        let bound = match &opened {
            Ok(Kind::Raw6 { ifindex, .. }) => raw6::link_local(*ifindex),
            _ => None,
        };
        match opened {
            Ok(kind) => {
                if let Err(e) = self.insert(registry, owner, id, kind) {
                    self.closed_event(owner, id, Some(e.to_string()));
                } else if let Some(local) = bound {
                    let local = local.into();
                    let event = OwnedSocketEvent::Bound { socket: id, local };
                    self.events.push((owner, event));
                }
            }
            Err(e) => self.closed_event(owner, id, Some(e.to_string())),
        }
    }

    /// A listener's new per-peer settings; a failure closes it.
    fn set_listen_peers(
        &mut self,
        registry: &Registry,
        owner: Owner,
        id: SocketId,
        new: Vec<ListenPeer>,
    ) {
        let Some(&token) = self.by_id.get(&(owner, id)) else {
            let error = format!("socket {} is not open", id.0);
            return self.closed_event(owner, id, Some(error));
        };
        let entry = self.entries.get_mut(&token).expect("indexed entry");
        let Kind::Listener {
            listener, peers, ..
        } = &mut entry.kind
        else {
            let error = format!("socket {} is not a listener", id.0);
            return self.fail(registry, token, error);
        };
        let v6 = listener.local_addr().is_ok_and(|a| a.is_ipv6());
        match set_listen_peers(&socket2::SockRef::from(&*listener), v6, peers, &new) {
            Ok(()) => *peers = new,
            Err(e) => self.fail(registry, token, format!("listener settings: {e}")),
        }
    }

    fn insert(
        &mut self,
        registry: &Registry,
        owner: Owner,
        id: SocketId,
        mut kind: Kind,
    ) -> std::io::Result<()> {
        let token = Token(self.next_token);
        match &mut kind {
            Kind::Listener { listener, .. } => {
                registry.register(listener, token, Interest::READABLE)?
            }
            Kind::Stream(s) => registry.register(
                &mut s.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?,
            Kind::Raw(socket) | Kind::Raw6 { socket, .. } => registry.register(
                &mut SourceFd(&socket.as_raw_fd()),
                token,
                Interest::READABLE,
            )?,
        }
        self.next_token += 1;
        self.entries.insert(token.0, Entry { owner, id, kind });
        self.by_id.insert((owner, id), token.0);
        Ok(())
    }

    /// Sends `transmit` for `owner` (queued for a stream, at once for a
    /// raw socket); a failure closes the socket with the reason.
    pub fn transmit(&mut self, registry: &Registry, owner: Owner, transmit: Transmit) {
        let Some(&token) = self.by_id.get(&(owner, transmit.socket)) else {
            return; // closed meanwhile: its Closed event is on the way
        };
        let entry = self.entries.get_mut(&token).expect("indexed entry");
        let result = match &mut entry.kind {
            Kind::Listener { .. } => Err(std::io::Error::other("a listener cannot send")),
            Kind::Stream(s) => {
                s.queue.extend_from_slice(&transmit.bytes);
                s.handed += transmit.bytes.len();
                if s.queue.len() > STREAM_BUFFER_LIMIT {
                    Err(std::io::Error::other(format!(
                        "more than {STREAM_BUFFER_LIMIT} bytes queued: the peer is not reading"
                    )))
                } else {
                    Ok(())
                }
            }
            Kind::Raw(socket) => match transmit.destination {
                Some(destination) => {
                    let to = SockAddr::from(SocketAddr::new(destination, 0));
                    match socket.send_to(&transmit.bytes, &to) {
                        // A full socket buffer loses the datagram, as a
                        // full link would; the protocol retransmits.
                        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
                        other => other.map(|_| ()),
                    }
                }
                None => Err(std::io::Error::other("a raw datagram needs a destination")),
            },
            Kind::Raw6 {
                socket, ifindex, ..
            } => raw6::v6(transmit.destination).and_then(|to| {
                match socket.send_to(&transmit.bytes, &raw6::destination(to, *ifindex)) {
                    Err(e) if raw6::lost(&e) => Ok(()),
                    other => other.map(|_| ()),
                }
            }),
        };
        match result {
            Ok(()) => self.flush(registry, token),
            Err(e) => self.fail(registry, token, e.to_string()),
        }
    }

    /// Handles the poller's readiness of `token`.
    pub fn ready(&mut self, registry: &Registry, token: Token, readable: bool, writable: bool) {
        if writable {
            self.flush(registry, token.0);
        }
        if readable {
            self.read(registry, token.0);
        }
    }

    /// Reads the sockets that had more than one wake's share.
    pub fn continue_reads(&mut self, registry: &Registry) {
        for token in std::mem::take(&mut self.pending_reads) {
            self.read(registry, token);
        }
    }

    /// Closes every socket of an owner that is not in `alive` (instances a
    /// reload removed). No events: the instance is gone.
    pub fn retain_owners(&mut self, registry: &Registry, alive: &[Owner]) {
        let gone: Vec<usize> = self
            .entries
            .iter()
            .filter(|(_, e)| !alive.contains(&e.owner))
            .map(|(&t, _)| t)
            .collect();
        for token in gone {
            self.remove(registry, token);
        }
        self.next_accepted.retain(|owner, _| alive.contains(owner));
        self.events.retain(|(owner, _)| alive.contains(owner));
    }

    fn close_by_instance(&mut self, registry: &Registry, owner: Owner, id: SocketId) {
        let Some(&token) = self.by_id.get(&(owner, id)) else {
            return;
        };
        let entry = self.entries.get_mut(&token).expect("indexed entry");
        if let Kind::Stream(s) = &mut entry.kind {
            if !s.queue.is_empty() && !s.connecting {
                // Sent first (a NOTIFICATION before the close), then closed
                // by flush; the id is free for the instance at once.
                s.closing = true;
                self.by_id.remove(&(owner, id));
                return;
            }
        }
        self.remove(registry, token);
    }

    fn remove(&mut self, registry: &Registry, token: usize) {
        let Some(mut entry) = self.entries.remove(&token) else {
            return;
        };
        if self.by_id.get(&(entry.owner, entry.id)) == Some(&token) {
            self.by_id.remove(&(entry.owner, entry.id));
        }
        self.pending_reads.remove(&token);
        let _ = match &mut entry.kind {
            Kind::Listener { listener, .. } => registry.deregister(listener),
            Kind::Stream(s) => registry.deregister(&mut s.stream),
            Kind::Raw(socket) | Kind::Raw6 { socket, .. } => {
                registry.deregister(&mut SourceFd(&socket.as_raw_fd()))
            }
        };
    }

    /// Closes `token` because of `error` and tells its instance (unless
    /// the instance closed it already).
    fn fail(&mut self, registry: &Registry, token: usize, error: String) {
        let Some(entry) = self.entries.get(&token) else {
            return;
        };
        let (owner, id) = (entry.owner, entry.id);
        let told = self.by_id.get(&(owner, id)) == Some(&token);
        self.remove(registry, token);
        if told {
            self.closed_event(owner, id, Some(error));
        }
    }

    fn closed_event(&mut self, owner: Owner, socket: SocketId, error: Option<String>) {
        self.events
            .push((owner, OwnedSocketEvent::Closed { socket, error }));
    }
}

mod open;
mod raw6;
mod serve;
#[cfg(test)]
mod tests;
