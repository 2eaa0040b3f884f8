//! Raw AF_PACKET sockets on a lab interface: inject frames byte for byte,
//! and capture what arrives (a tcpdump without the process); the socket is
//! `ferroute::testkit::netns::PacketSocket`, opened in a lab host.

use std::net::Ipv4Addr;
use std::ops::Deref;
use std::time::Duration;

use ferroute::testkit::netns;
use ferroute::wire::{EthernetFrame, Ipv4Packet};

use super::{Host, Lab};

/// An AF_PACKET socket bound to one interface of one lab host.
pub struct PacketSocket(netns::PacketSocket);

impl PacketSocket {
    /// Opens the socket inside `host`'s namespace. It receives from the
    /// moment it is opened, so open it before sending what it must see.
    pub fn open(lab: &Lab, host: Host, interface: &str) -> PacketSocket {
        PacketSocket(lab.enter(host, || netns::PacketSocket::open(interface)))
    }

    /// [`PacketSocket::open`] for a host speaking 802.1Q itself: frames
    /// are received with their tag (`netns::PacketSocket::open_tagged`).
    pub fn open_tagged(lab: &Lab, host: Host, interface: &str) -> PacketSocket {
        PacketSocket(lab.enter(host, || netns::PacketSocket::open_tagged(interface)))
    }
}

impl Deref for PacketSocket {
    type Target = netns::PacketSocket;
    fn deref(&self) -> &netns::PacketSocket {
        &self.0
    }
}

/// The (ICMP identifier, sequence number) of `frame` when it is an IPv4
/// echo request to `to`.
pub fn echo_request_to(frame: &[u8], to: Ipv4Addr) -> Option<(u16, u16)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let icmp = ip.payload();
    if eth.ethertype() != 0x0800 || ip.protocol() != 1 || ip.dst() != to || icmp.first() != Some(&8)
    {
        return None;
    }
    let id_seq = icmp.get(4..8)?;
    Some((
        u16::from_be_bytes([id_seq[0], id_seq[1]]),
        u16::from_be_bytes([id_seq[2], id_seq[3]]),
    ))
}

/// The echo requests to `to` already queued on `socket` (drained: a
/// deadline in the past only takes what is there), as (identifier,
/// sequence number), in arrival order.
pub fn echo_requests_queued(socket: &netns::PacketSocket, to: Ipv4Addr) -> Vec<(u16, u16)> {
    let wanted = |frame: &[u8]| echo_request_to(frame, to).is_some();
    let frames = socket.collect(usize::MAX, Duration::ZERO, wanted).0;
    frames
        .iter()
        .filter_map(|f| echo_request_to(f, to))
        .collect()
}
