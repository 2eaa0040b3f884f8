//! Raw IPv6 sockets (OSPFv3): bound to a port's interface and joined to
//! its groups, hop limit 1, no multicast loop, the kernel computing and
//! verifying the checksum at the offset asked (`IPV6_CHECKSUM`). The
//! kernel hands raw IPv6 datagrams without their header; the destination
//! comes from `IPV6_PKTINFO` and the header is put back, so instances see
//! whole packets as from raw IPv4 sockets. The interface's link-local
//! address (what OSPFv3 names in its Link-LSA) is read from
//! `/proc/thread-self/net/if_inet6` (the calling thread's namespace: the
//! event loop may run in another than the process's first thread).

use std::io::{ErrorKind, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, Protocol as IpProtocol, SockAddr, Socket, Type};

use super::{Entry, Kind, OwnedSocketEvent, Owner, PortInterface, ProtocolSockets, READS_PER_WAKE};
use crate::control::protocol::SocketId;
use crate::wire::ipv6::emit_header;

/// Length of the IPv6 header put back in front of a datagram.
const HEADER: usize = 40;

pub(super) fn raw_ipv6(
    protocol: u8,
    interface: &PortInterface,
    groups: &[Ipv6Addr],
    dscp: Option<u8>,
    checksum_offset: Option<u16>,
) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(IpProtocol::from(i32::from(protocol))),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind_device_by_index_v6(NonZeroU32::new(interface.ifindex))?;
    for group in groups {
        socket.join_multicast_v6(group, interface.ifindex)?;
    }
    socket.set_multicast_loop_v6(false)?;
    socket.set_multicast_hops_v6(1)?;
    socket.set_unicast_hops_v6(1)?;
    socket.set_multicast_if_v6(interface.ifindex)?;
    if let Some(dscp) = dscp {
        socket.set_tclass_v6(u32::from(dscp) << 2)?;
    }
    setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true).map_err(std::io::Error::from)?;
    if let Some(offset) = checksum_offset {
        let offset = libc::c_int::from(offset);
        // SAFETY: the descriptor is open (owned by `socket`), and the
        // option value is a live c_int whose size is the length passed.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_CHECKSUM,
                (&offset as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(socket)
}

/// The link-local address of interface `ifindex`, from the kernel's
/// `/proc/net/if_inet6` (lines: address in hex, ifindex, prefix length,
/// scope, flags, name).
pub(super) fn link_local(ifindex: u32) -> Option<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6").ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let address = u128::from_str_radix(fields.next()?, 16).ok()?;
        let index = u32::from_str_radix(fields.next()?, 16).ok()?;
        let address = Ipv6Addr::from(address);
        (index == ifindex && address.segments()[0] & 0xffc0 == 0xfe80).then_some(address)
    })
}

/// Where a datagram to `to` goes: link-local and multicast destinations
/// need the interface as scope.
pub(super) fn destination(to: Ipv6Addr, ifindex: u32) -> SockAddr {
    SockAddr::from(SocketAddrV6::new(to, 0, 0, ifindex))
}

impl ProtocolSockets {
    /// Reads what raw IPv6 socket `token` has, each datagram with an IPv6
    /// header (source, destination, next header, payload length; hop
    /// limit 1, the only one OSPFv3 sends) in front.
    pub(super) fn read_raw6(
        &mut self,
        registry: &mio::Registry,
        token: usize,
        owner: Owner,
        id: SocketId,
    ) {
        for _ in 0..READS_PER_WAKE {
            let Some(Entry {
                kind: Kind::Raw6 {
                    socket, protocol, ..
                },
                ..
            }) = self.entries.get(&token)
            else {
                return;
            };
            let protocol = *protocol;
            let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
            let payload = &mut self.buffer[HEADER..];
            let mut iov = [IoSliceMut::new(payload)];
            let received = recvmsg::<SockaddrIn6>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::empty(),
            );
            let (n, source, dest) = match received {
                Ok(m) => {
                    let source = m.address.map(|a| a.ip());
                    let dest = m.cmsgs().ok().and_then(|mut c| {
                        c.find_map(|c| match c {
                            ControlMessageOwned::Ipv6PacketInfo(info) => {
                                Some(Ipv6Addr::from(info.ipi6_addr.s6_addr))
                            }
                            _ => None,
                        })
                    });
                    (m.bytes, source, dest)
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return self.fail(registry, token, e.to_string()),
            };
            let (Some(source), Some(dest), Ok(len)) = (source, dest, u16::try_from(n)) else {
                continue; // no address to put back: not a datagram to report
            };
            let mut packet = vec![0; HEADER + n];
            emit_header(
                &mut packet,
                source.octets(),
                dest.octets(),
                protocol,
                1,
                len,
            );
            packet[HEADER..].copy_from_slice(&self.buffer[HEADER..HEADER + n]);
            self.events
                .push((owner, OwnedSocketEvent::Datagram { socket: id, packet }));
        }
        self.pending_reads.insert(token);
    }
}

/// Whether a send error only means the datagram was lost (a full buffer).
pub(super) fn lost(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

/// The destination of a raw IPv6 transmit, checked.
pub(super) fn v6(destination: Option<IpAddr>) -> std::io::Result<Ipv6Addr> {
    match destination {
        Some(IpAddr::V6(a)) => Ok(a),
        _ => Err(std::io::Error::other(
            "a raw IPv6 datagram needs an IPv6 destination",
        )),
    }
}
