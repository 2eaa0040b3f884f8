//! Sockets for protocol instances, described rather than opened: an
//! instance asks for a socket with a [`SocketRequest`] (from
//! [`Protocol::poll_socket_request`](super::Protocol::poll_socket_request)),
//! the event loop opens it and reports what happens to it as
//! [`SocketEvent`]s; bytes go out as [`Transmit`]s. The instance never
//! touches a file descriptor, so a test plays the event loop with plain
//! values.
//!
//! Ids: an instance numbers the sockets it asks for itself (any `u32`
//! below [`SocketId::ACCEPTED`]); the event loop numbers the connections a
//! listener accepts from [`SocketId::ACCEPTED`] up, so the two never meet.
//! Ids are per instance.

use std::net::{IpAddr, SocketAddr};

use crate::fib::PortId;

/// Bytes handed to a stream beyond which the event loop reports
/// [`SocketEvent::Drained`] once they are all written to the kernel (it
/// counts from its last report; an instance that counts the same bytes
/// knows a report will come). An instance should not queue much more: the
/// event loop closes a stream whose queue passes [`STREAM_BUFFER_LIMIT`]
/// (a peer that stopped reading).
pub const STREAM_BUFFER_HIGH: usize = 1 << 20;
/// See [`STREAM_BUFFER_HIGH`].
pub const STREAM_BUFFER_LIMIT: usize = 64 << 20;

/// A socket of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u32);

impl SocketId {
    /// The first id the event loop gives an accepted connection.
    pub const ACCEPTED: u32 = 1 << 31;

    /// Whether the event loop numbered this socket (an accepted
    /// connection).
    pub fn is_accepted(self) -> bool {
        self.0 >= Self::ACCEPTED
    }
}

/// A TCP MD5 signature key (RFC 2385): the password as bytes, 1 to
/// [`Md5Key::MAX_LEN`]. Its `Debug` never shows it (configurations and
/// requests get logged).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Md5Key(Vec<u8>);

impl Md5Key {
    /// The kernel's limit (`TCP_MD5SIG_MAXKEYLEN`).
    pub const MAX_LEN: usize = 80;

    /// `None` when empty or longer than [`Md5Key::MAX_LEN`].
    pub fn new(key: &[u8]) -> Option<Self> {
        (1..=Self::MAX_LEN)
            .contains(&key.len())
            .then(|| Md5Key(key.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5Key(<hidden>)")
    }
}

/// Options of a TCP socket (listening or connecting).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// The IP TTL / IPv6 hop limit of what it sends (`None`: the system's
    /// default). Directly connected eBGP sends 1 (RFC 4271 §5.1.3's
    /// practice); GTSM (RFC 5082) sends 255.
    pub ttl: Option<u8>,
    /// Drop received segments whose TTL is below this (GTSM: 256 - hops).
    pub min_ttl: Option<u8>,
    /// DSCP of what it sends (routing traffic: CS6 = 48).
    pub dscp: Option<u8>,
    /// Sign every segment with this key and drop segments not signed with
    /// it (TCP MD5, RFC 2385). On a connect, the key for the remote
    /// address; on a listener, see [`ListenPeer`].
    pub md5: Option<Md5Key>,
}

/// A listener's settings for connections from one address: the kernel
/// checks the MD5 key on the listener itself (a SYN from `address` not
/// signed with it is dropped, and the accepted socket inherits it); TTL,
/// minimum TTL and DSCP are set on the accepted socket before its first
/// byte is read. A listener whose every peer has a minimum TTL gets the
/// smallest one too, so that a SYN no peer would accept is dropped by the
/// kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenPeer {
    pub address: IpAddr,
    pub options: TcpOptions,
}

/// A socket an instance wants opened or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketRequest {
    /// Accept TCP connections on `local` (BGP: port 179 on an address of
    /// the router or the unspecified address). Accepted connections arrive
    /// as [`SocketEvent::Accepted`].
    TcpListen {
        socket: SocketId,
        local: SocketAddr,
        options: TcpOptions,
        /// Settings per peer address (connections from other addresses
        /// get `options`).
        peers: Vec<ListenPeer>,
    },
    /// Replaces listener `socket`'s per-peer settings (keys added,
    /// changed and removed in place: the listener stays open and its
    /// accepted connections are not touched). A failure closes the
    /// listener with [`SocketEvent::Closed`].
    TcpListenPeers {
        socket: SocketId,
        peers: Vec<ListenPeer>,
    },
    /// Connect to `remote`, from `local` if given (port 0: any port). The
    /// outcome arrives as [`SocketEvent::Connected`] or
    /// [`SocketEvent::Closed`].
    TcpConnect {
        socket: SocketId,
        local: Option<IpAddr>,
        remote: SocketAddr,
        options: TcpOptions,
    },
    /// A raw IPv4 socket for IP protocol `protocol` (OSPF: 89) on port
    /// `port`'s kernel interface, member of the multicast `groups` there;
    /// what it sends leaves that interface with TTL 1 and `dscp`, and its
    /// own multicast is not looped back.
    RawIpv4 {
        socket: SocketId,
        protocol: u8,
        port: PortId,
        groups: Vec<std::net::Ipv4Addr>,
        dscp: Option<u8>,
    },
    /// A raw IPv6 socket for `protocol` (OSPFv3: 89) on port `port`'s
    /// kernel interface, member of the multicast `groups` there; what it
    /// sends leaves that interface with hop limit 1 and `dscp`, and its own
    /// multicast is not looped back. With `checksum_offset` the kernel
    /// computes and verifies the checksum there (`IPV6_CHECKSUM`, over the
    /// pseudo-header). Datagrams arrive with an IPv6 header put back
    /// (source, destination, next header, payload length: the kernel hands
    /// raw IPv6 payloads without one); once open, [`SocketEvent::Bound`]
    /// names the interface's link-local address.
    RawIpv6 {
        socket: SocketId,
        protocol: u8,
        port: PortId,
        groups: Vec<std::net::Ipv6Addr>,
        dscp: Option<u8>,
        checksum_offset: Option<u16>,
    },
    /// Close the socket. It takes effect after the instance's other
    /// requests and its transmits of the same turn (bytes handed over
    /// before it, such as a NOTIFICATION, are sent first), so do not reuse
    /// its id before the next event. No event follows.
    Close { socket: SocketId },
}

impl SocketRequest {
    pub fn socket(&self) -> SocketId {
        match self {
            SocketRequest::TcpListen { socket, .. }
            | SocketRequest::TcpListenPeers { socket, .. }
            | SocketRequest::TcpConnect { socket, .. }
            | SocketRequest::RawIpv4 { socket, .. }
            | SocketRequest::RawIpv6 { socket, .. }
            | SocketRequest::Close { socket } => *socket,
        }
    }
}

/// What happened to an instance's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketEvent<'a> {
    /// Listener `listener` accepted a connection, now socket `socket`.
    Accepted {
        listener: SocketId,
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// A [`SocketRequest::TcpConnect`] succeeded.
    Connected {
        socket: SocketId,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Bytes of a TCP stream, in order (any split).
    Stream { socket: SocketId, bytes: &'a [u8] },
    /// One datagram of a raw socket: `packet` is the whole IP packet,
    /// header included (the kernel's raw IPv4 sockets hand it so; for raw
    /// IPv6 ones the event loop puts the header back).
    Datagram { socket: SocketId, packet: &'a [u8] },
    /// A [`SocketRequest::RawIpv6`] socket is open on an interface whose
    /// link-local address is `local`.
    Bound { socket: SocketId, local: IpAddr },
    /// More than [`STREAM_BUFFER_HIGH`] bytes were handed to the stream
    /// since the last `Drained` (or since it opened), and all of them are
    /// written to the kernel: an instance that holds back output while a
    /// stream is full (a full table for a peer) goes on.
    Drained { socket: SocketId },
    /// The socket is gone: the peer closed it, a connect failed or an error
    /// occurred (`error`), or opening it failed. Its id is free again.
    Closed {
        socket: SocketId,
        error: Option<&'a str>,
    },
}

impl SocketEvent<'_> {
    pub fn socket(&self) -> SocketId {
        match self {
            SocketEvent::Accepted { socket, .. }
            | SocketEvent::Connected { socket, .. }
            | SocketEvent::Stream { socket, .. }
            | SocketEvent::Datagram { socket, .. }
            | SocketEvent::Bound { socket, .. }
            | SocketEvent::Drained { socket }
            | SocketEvent::Closed { socket, .. } => *socket,
        }
    }
}

/// Bytes an instance wants sent: appended to a TCP stream, or one datagram
/// to `destination` (raw sockets; the kernel writes the IP header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub socket: SocketId,
    pub destination: Option<IpAddr>,
    pub bytes: Vec<u8>,
}
