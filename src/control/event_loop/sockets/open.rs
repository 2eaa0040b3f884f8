//! Opening the instances' sockets the way their requests describe: TCP
//! listeners and connects with TTL, minimum TTL (GTSM) and DSCP, and raw
//! IPv4 sockets bound to a port's interface and joined to its groups. All
//! of them non-blocking and closed on exec.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol as IpProtocol, Socket, Type};

use super::{PortInterface, LISTEN_BACKLOG};
use crate::control::protocol::TcpOptions;

fn domain(address: IpAddr) -> Domain {
    match address {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    }
}

fn tcp_socket(
    address: IpAddr,
    remote: Option<SocketAddr>,
    options: &TcpOptions,
) -> std::io::Result<Socket> {
    let socket = Socket::new(domain(address), Type::STREAM, Some(IpProtocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    if let Some(remote) = remote {
        set_tcp_options(&socket, remote, options)?;
    }
    Ok(socket)
}

/// TTL, minimum TTL and DSCP for a socket that talks to `peer`'s family.
pub(super) fn set_tcp_options(
    socket: &Socket,
    peer: SocketAddr,
    options: &TcpOptions,
) -> std::io::Result<()> {
    let v6 = peer.is_ipv6() && !is_mapped(peer.ip());
    if let Some(ttl) = options.ttl {
        if v6 {
            socket.set_unicast_hops_v6(ttl.into())?;
        } else {
            socket.set_ttl_v4(ttl.into())?;
        }
    }
    if let Some(dscp) = options.dscp {
        let tos = u32::from(dscp) << 2;
        if v6 {
            socket.set_tclass_v6(tos)?;
        } else {
            socket.set_tos_v4(tos)?;
        }
    }
    if let Some(min) = options.min_ttl {
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
        } else {
            (libc::IPPROTO_IP, libc::IP_MINTTL)
        };
        let value = libc::c_int::from(min);
        // SAFETY: a valid descriptor and a pointer to a c_int of the size
        // passed; the kernel copies it.
        let ret = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if ret != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn is_mapped(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

pub(super) fn listen(local: SocketAddr, options: &TcpOptions) -> std::io::Result<TcpListener> {
    let socket = tcp_socket(local.ip(), None, options)?;
    socket.set_reuse_address(true)?;
    if local.is_ipv6() {
        // An IPv4 listener on the same port may sit beside it.
        socket.set_only_v6(true)?;
    }
    // Options for the accepted connections are set per connection (they
    // depend on the peer's family); DSCP and TTL of SYN-ACKs follow the
    // listener's.
    if let Some(ttl) = options.ttl {
        if local.is_ipv6() {
            socket.set_unicast_hops_v6(ttl.into())?;
        } else {
            socket.set_ttl_v4(ttl.into())?;
        }
    }
    socket.bind(&local.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

pub(super) fn connect(
    local: Option<IpAddr>,
    remote: SocketAddr,
    options: &TcpOptions,
) -> std::io::Result<TcpStream> {
    let socket = tcp_socket(remote.ip(), Some(remote), options)?;
    if let Some(local) = local {
        socket.bind(&SocketAddr::new(local, 0).into())?;
    }
    match socket.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// `None` while a connect is in progress; the addresses once it is
/// established; the error if it failed.
pub(super) fn connect_outcome(
    stream: &TcpStream,
) -> std::io::Result<Option<(SocketAddr, SocketAddr)>> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(remote) => Ok(Some((stream.local_addr()?, remote))),
        Err(e) if e.kind() == ErrorKind::NotConnected => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn raw_ipv4(
    protocol: u8,
    interface: &PortInterface,
    groups: &[Ipv4Addr],
    dscp: Option<u8>,
) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(IpProtocol::from(i32::from(protocol))),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind_device_by_index_v4(NonZeroU32::new(interface.ifindex))?;
    let index = InterfaceIndexOrAddress::Index(interface.ifindex);
    for group in groups {
        socket.join_multicast_v4_n(group, &index)?;
    }
    socket.set_multicast_loop_v4(false)?;
    socket.set_multicast_ttl_v4(1)?;
    socket.set_ttl_v4(1)?;
    if let Some(dscp) = dscp {
        socket.set_tos_v4(u32::from(dscp) << 2)?;
    }
    Ok(socket)
}
