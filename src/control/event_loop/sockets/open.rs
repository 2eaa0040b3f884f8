//! Opening the instances' sockets the way their requests describe: TCP
//! listeners and connects with TTL, minimum TTL (GTSM), DSCP and TCP MD5
//! keys, and raw IPv4 sockets bound to a port's interface and joined to
//! its groups. All of them non-blocking and closed on exec.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol as IpProtocol, Socket, Type};

use super::{PortInterface, LISTEN_BACKLOG};
use crate::control::protocol::{ListenPeer, Md5Key, TcpOptions};
use crate::io::set_int_option;

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
        if let Some(key) = &options.md5 {
            set_md5_key(&socket, remote.ip(), Some(key))?;
        }
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
        set_min_ttl(socket, v6, min)?;
    }
    Ok(())
}

/// Drops received segments with a TTL (hop limit) below `min`; 0 turns
/// the check off.
fn set_min_ttl(socket: &Socket, v6: bool, min: u8) -> std::io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    set_int_option(socket, level, name, min.into())
}

/// `struct tcp_md5sig` of `<linux/tcp.h>` (what `TCP_MD5SIG` takes).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    /// Extension flags (`TCP_MD5SIG_EXT` only; zero here).
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: libc::c_int,
    key: [u8; Md5Key::MAX_LEN],
}

const _: () = assert!(std::mem::size_of::<TcpMd5Sig>() == 216);

/// Sets (`Some`) or removes (`None`) the TCP MD5 key for segments to and
/// from `peer` on `socket` (RFC 2385). On a listener the key applies to
/// SYNs from `peer` and the accepted socket inherits it.
pub(super) fn set_md5_key(
    socket: &Socket,
    peer: IpAddr,
    key: Option<&Md5Key>,
) -> std::io::Result<()> {
    // An IPv6 socket talks to an IPv4 peer through the mapped address.
    let peer = match (peer, socket.domain()?) {
        (IpAddr::V4(v4), d) if d == Domain::IPV6 => IpAddr::V6(v4.to_ipv6_mapped()),
        (other, _) => other,
    };
    let address = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: all zeros is a valid value of this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let len = (address.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `address` holds `address.len()` initialised bytes of a
    // sockaddr, `sig.addr` has room for `len` of them (bounded above), and
    // the two do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            address.as_ptr().cast::<u8>(),
            (&mut sig.addr as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        );
    }
    if let Some(key) = key {
        let bytes = key.as_bytes();
        sig.key[..bytes.len()].copy_from_slice(bytes);
        sig.key_len = bytes.len() as u16;
    }
    // SAFETY: a valid descriptor and a pointer to a fully initialised
    // `tcp_md5sig` of the size passed; the kernel copies it.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (&sig as *const TcpMd5Sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        let e = std::io::Error::last_os_error();
        // Removing a key that is not there is done.
        if key.is_none() && e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Brings a listener from per-peer settings `old` to `new`: MD5 keys
/// removed, changed and added for each address, and the listener's own
/// minimum TTL (the smallest of its peers' when every peer has one, else
/// none).
pub(super) fn set_listen_peers(
    socket: &Socket,
    v6: bool,
    old: &[ListenPeer],
    new: &[ListenPeer],
) -> std::io::Result<()> {
    let key_of = |peers: &[ListenPeer], a: IpAddr| {
        peers
            .iter()
            .find(|p| p.address == a)
            .and_then(|p| p.options.md5.clone())
    };
    for p in old {
        if p.options.md5.is_some() && key_of(new, p.address).is_none() {
            set_md5_key(socket, p.address, None)?;
        }
    }
    for p in new {
        if let Some(key) = &p.options.md5 {
            if key_of(old, p.address).as_ref() != Some(key) {
                set_md5_key(socket, p.address, Some(key))?;
            }
        }
    }
    let min_ttl = new
        .iter()
        .map(|p| p.options.min_ttl)
        .collect::<Option<Vec<u8>>>()
        .and_then(|m| m.into_iter().min())
        .unwrap_or(0);
    set_min_ttl(socket, v6, min_ttl)?;
    set_listener_ttl(socket, v6, new)
}

/// The kernel's default TTL (`net.ipv4.ip_default_ttl`, unless changed).
const DEFAULT_TTL: u8 = 64;

/// The TTL of a listener's SYN-ACKs, sent before the connection is known:
/// high enough for every peer (GTSM peers drop a SYN-ACK below 255), so
/// the highest TTL a peer asks for, or the system's default when a peer
/// wants the default and no peer asks for more.
fn set_listener_ttl(socket: &Socket, v6: bool, peers: &[ListenPeer]) -> std::io::Result<()> {
    let ttls: Vec<Option<u8>> = peers.iter().map(|p| p.options.ttl).collect();
    let ttl: libc::c_int = match ttls.iter().flatten().max() {
        Some(&t) if t >= DEFAULT_TTL || !ttls.contains(&None) => t.into(),
        _ => -1, // the system's default
    };
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TTL)
    };
    set_int_option(socket, level, name, ttl)
}

fn is_mapped(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

pub(super) fn listen(
    local: SocketAddr,
    options: &TcpOptions,
    peers: &[ListenPeer],
) -> std::io::Result<TcpListener> {
    let socket = tcp_socket(local.ip(), None, options)?;
    socket.set_reuse_address(true)?;
    if local.is_ipv6() {
        // An IPv4 listener on the same port may sit beside it.
        socket.set_only_v6(true)?;
    }
    // Options for the accepted connections are set per connection (they
    // depend on the peer); DSCP of SYN-ACKs follows the listener's options,
    // their TTL its peers' (or its options' without peers), MD5 keys are
    // checked by it.
    set_listen_peers(&socket, local.is_ipv6(), &[], peers)?;
    if let Some(ttl) = options.ttl.filter(|_| peers.is_empty()) {
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
