//! A subscription to the kernel's neighbour notifications (`RTNLGRP_NEIGH`,
//! IPv4 and IPv6 alike) and link notifications (`RTNLGRP_LINK`: an
//! interface losing or regaining its carrier) that never loses sync
//! silently.
//!
//! When the socket's receive queue overflows the kernel drops notifications,
//! reports `ENOBUFS` once, and delivers nothing more until the queue is empty.
//! The subscription then discards what is queued and takes a fresh dump: the
//! caller gets a [`NeighborUpdate::Resync`] with the full table instead of
//! events, and every link's state anew, and every later event applies on top
//! of them (each event carries the entry's complete state, so the last one
//! per entry wins).

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::netlink::{
    kernel_neighbor, link_state, messages, KernelNeighbor, LinkState, NeighborEvent, NetlinkError,
    Rtnl, RECV_BUFFER,
};

/// `RTNLGRP_LINK` and `RTNLGRP_NEIGH` of `<linux/rtnetlink.h>`.
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NEIGH: u32 = 3;
/// Requested receive queue; the kernel caps it at `net.core.rmem_max`.
pub const DEFAULT_RECEIVE_QUEUE: usize = 1 << 20;
/// Datagrams read per [`NeighborSubscription::poll`]: bounds the time one call
/// takes when the kernel keeps announcing changes.
const MAX_READS_PER_POLL: usize = 256;
/// Datagrams dropped at most while emptying an overflowed queue.
const MAX_DISCARDED_READS: usize = 1 << 16;

/// What the kernel's neighbour tables did since the last poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighborUpdate {
    Event(NeighborEvent),
    /// Notifications were lost: this is the complete table as dumped after
    /// the loss; it replaces whatever the caller knew.
    Resync(Vec<KernelNeighbor>),
    /// An interface's state as announced (every change of its flags, so
    /// often unchanged), or as dumped after a loss.
    Link(LinkState),
}

/// A non-blocking subscription socket plus a request socket for re-dumps.
pub struct NeighborSubscription {
    socket: Socket,
    rtnl: Rtnl,
    buf: Vec<u8>,
    overruns: u64,
    undecodable: u64,
}

/// The notification socket, for the event loop's poller.
impl AsRawFd for NeighborSubscription {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl NeighborSubscription {
    /// Subscribes in the calling thread's network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        Self::with_receive_queue(DEFAULT_RECEIVE_QUEUE)
    }

    /// Subscribes with a receive queue of about `bytes` (tests use a small one
    /// to provoke overruns).
    pub fn with_receive_queue(bytes: usize) -> Result<Self, NetlinkError> {
        let op = "neighbour subscription";
        let io = |source| NetlinkError::Io { op, source };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        let bytes = bytes.min(i32::MAX as usize) as libc::c_int;
        socket.set_rx_buf_sz(bytes).map_err(io)?;
        socket.add_membership(RTNLGRP_NEIGH).map_err(io)?;
        socket.add_membership(RTNLGRP_LINK).map_err(io)?;
        socket.set_non_blocking(true).map_err(io)?;
        Ok(NeighborSubscription {
            socket,
            rtnl: Rtnl::open()?,
            buf: vec![0; RECV_BUFFER],
            overruns: 0,
            undecodable: 0,
        })
    }

    /// A dump through the subscription's request socket. Subscribe first,
    /// dump second: a change racing with the dump then also arrives as an
    /// event, and applying it again converges on the kernel's state.
    pub fn dump(&mut self) -> Result<Vec<KernelNeighbor>, NetlinkError> {
        self.rtnl.dump_neighbors()
    }

    /// The request socket, for look-ups and managed entries.
    pub fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }

    /// Times the queue overflowed (each answered by a re-dump).
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Notifications that could not be decoded (skipped).
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Waits up to `timeout` for notifications, then returns everything that
    /// is ready, in the kernel's order. Empty when nothing happened.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<NeighborUpdate>, NetlinkError> {
        let mut updates = Vec::new();
        if !self.wait_readable(timeout)? {
            return Ok(updates);
        }
        for _ in 0..MAX_READS_PER_POLL {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => {
                    let n = n.min(self.buf.len());
                    self.decode(n, &mut updates);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.overruns += 1;
                    self.discard_queue()?;
                    let table = self.rtnl.dump_neighbors()?;
                    let links = self.rtnl.dump_links()?;
                    // Events read before the loss are superseded by the dump.
                    updates.clear();
                    updates.push(NeighborUpdate::Resync(table));
                    updates.extend(links.into_iter().map(NeighborUpdate::Link));
                }
                Err(source) => {
                    return Err(NetlinkError::Io {
                        op: "neighbour subscription",
                        source,
                    })
                }
            }
        }
        Ok(updates)
    }

    fn decode(&mut self, len: usize, updates: &mut Vec<NeighborUpdate>) {
        for msg in messages(&self.buf[..len]) {
            let Ok(msg) = msg else {
                self.undecodable += 1;
                continue;
            };
            let event = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                    kernel_neighbor(&n).map(NeighborEvent::New)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                    kernel_neighbor(&n).map(NeighborEvent::Deleted)
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                    updates.push(NeighborUpdate::Link(link_state(&l)));
                    None
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                    let gone = LinkState {
                        ifindex: l.header.index,
                        up: false,
                    };
                    updates.push(NeighborUpdate::Link(gone));
                    None
                }
                _ => None,
            };
            if let Some(event) = event {
                updates.push(NeighborUpdate::Event(event));
            }
        }
    }

    /// Reads and drops everything queued. The kernel resumes delivery only
    /// once the queue is empty, and what was queued is older than the dump
    /// that follows.
    fn discard_queue(&mut self) -> Result<(), NetlinkError> {
        // Bounded so that a flood cannot hold the caller here; if the queue
        // is still not empty the kernel reports the next overflow.
        for _ in 0..MAX_DISCARDED_READS {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A second overflow while draining changes nothing: the dump
                // comes after the drain either way.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(source) => {
                    return Err(NetlinkError::Io {
                        op: "neighbour subscription",
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// True when the socket has something to read (or an error to report).
    fn wait_readable(&self, timeout: Duration) -> Result<bool, NetlinkError> {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(false),
            Err(e) => Err(NetlinkError::Io {
                op: "neighbour subscription",
                source: io::Error::from(e),
            }),
        }
    }
}
