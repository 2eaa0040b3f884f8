//! Raw AF_PACKET sockets on a lab interface: inject frames byte for byte,
//! and capture what arrives (a tcpdump without the process); the socket is
//! `ferroute::testkit::netns::PacketSocket`, opened in a lab host.

use std::ops::Deref;

use ferroute::testkit::netns;

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
