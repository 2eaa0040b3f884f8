//! A TAP device standing for one VLAN sub-interface in the kernel: created
//! with the sub-interface's name, MAC and MTU, up, with its addresses.
//! Not persistent: the kernel removes it when its descriptor closes, so it
//! goes with the process however that ends (SIGKILL included).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use ipnet::IpNet;

use crate::control::kernel::netlink::Rtnl;
use crate::wire::MacAddr;

/// An open TAP device.
#[derive(Debug)]
pub(super) struct Tap {
    fd: OwnedFd,
    pub ifindex: u32,
}

impl Tap {
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Raises or drops the TAP's carrier (as its link's goes), so the
    /// kernel and the control thread see the sub-interface go down too.
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        let value = libc::c_int::from(on);
        // SAFETY: TUNSETCARRIER reads one int.
        let ret = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::TUNSETCARRIER, &value) };
        check(ret, "setting the carrier", "a TAP")
    }
}

/// Whether interface `name` is up with a carrier (IFF_UP and IFF_RUNNING),
/// asked through `sock` (any AF_INET datagram socket); `None` when it
/// cannot be read.
pub(super) fn link_running(sock: RawFd, name: &str) -> Option<bool> {
    let mut req = ifreq(name).ok()?;
    // SAFETY: SIOCGIFFLAGS fills the flags of one ifreq.
    let ret = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) };
    if ret < 0 {
        return None;
    }
    // SAFETY: the flags member was just written by the kernel.
    let flags = libc::c_int::from(unsafe { req.ifr_ifru.ifru_flags });
    Some(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
}

/// A datagram socket for interface ioctls.
pub(super) fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket call.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(sock, "a socket for interface settings", "the TAPs")?;
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(sock) })
}

/// An `ifreq` naming `name` (checked to fit IFNAMSIZ with its NUL).
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{name:?} is not a valid interface name (1 to {} bytes)",
                libc::IFNAMSIZ - 1
            ),
        ));
    }
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, &b) in req.ifr_name.iter_mut().zip(bytes) {
        *slot = b as libc::c_char;
    }
    Ok(req)
}

fn check(ret: libc::c_int, what: &str, name: &str) -> io::Result<()> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what} of {name}: {e}")));
    }
    Ok(())
}

/// The index of interface `name`, 0 when there is none.
fn index_of(name: &str) -> u32 {
    let Ok(c_name) = CString::new(name) else {
        return 0;
    };
    // SAFETY: a NUL-terminated name.
    unsafe { libc::if_nametoindex(c_name.as_ptr()) }
}

/// Creates TAP `name` with `mac`, `mtu` and `addresses`, up. Refuses a name
/// already in use (attaching to someone's persistent TAP would share it).
pub(super) fn create(
    name: &str,
    mac: MacAddr,
    mtu: u16,
    addresses: &[IpNet],
    rtnl: &mut Rtnl,
) -> io::Result<Tap> {
    if index_of(name) != 0 {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "interface {name} exists already: ferroute creates the VLAN's TAP itself \
                 (`ip link del {name}`, or give the port another interface name)"
            ),
        ));
    }
    // SAFETY: a plain open of a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    check(fd, "opening /dev/net/tun for the TAP", name)?;
    // SAFETY: a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads (and writes back) one ifreq.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
    check(ret, "creating the TAP", name)?;

    // Link settings go through an ordinary socket's ioctls.
    let sock = ioctl_socket()?;
    let mut req = ifreq(name)?;
    // SAFETY: writing the hwaddr member of the union; sockaddr is plain data.
    unsafe {
        req.ifr_ifru.ifru_hwaddr.sa_family = libc::ARPHRD_ETHER;
        for (slot, &b) in req.ifr_ifru.ifru_hwaddr.sa_data.iter_mut().zip(&mac.0) {
            *slot = b as libc::c_char;
        }
    }
    // SAFETY: SIOCSIFHWADDR reads one ifreq.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFHWADDR, &req) };
    check(ret, "setting the MAC", name)?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = libc::c_int::from(mtu);
    // SAFETY: SIOCSIFMTU reads one ifreq.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &req) };
    check(ret, "setting the MTU", name)?;
    let mut req = ifreq(name)?;
    // SAFETY: SIOCGIFFLAGS fills the flags of one ifreq.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) };
    check(ret, "reading the flags", name)?;
    // SAFETY: the flags member was just written by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads one ifreq.
    let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) };
    check(ret, "bringing up", name)?;

    let ifindex = index_of(name);
    if ifindex == 0 {
        return Err(io::Error::other(format!("the TAP {name} has no index")));
    }
    for &net in addresses {
        rtnl.add_address(ifindex, net)
            .map_err(|e| io::Error::other(format!("adding {net} to {name}: {e}")))?;
    }
    Ok(Tap { fd, ifindex })
}
