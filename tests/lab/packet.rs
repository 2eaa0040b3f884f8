//! Raw AF_PACKET sockets on a lab interface: inject frames byte for byte,
//! and capture what arrives (a tcpdump without the process).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{Host, Lab};

/// A captured frame that came in from the wire (not one we sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub data: Vec<u8>,
    /// PACKET_HOST, PACKET_OTHERHOST, PACKET_BROADCAST, ...
    pub kind: u8,
}

/// An AF_PACKET socket bound to one interface of one lab host.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
    name: String,
}

/// Largest frame we ever read (veth MTUs stay at or below 1500 here).
const BUFFER: usize = 65536;

impl PacketSocket {
    /// Opens the socket inside `host`'s namespace. It receives from the
    /// moment it is opened, so open it before sending what it must see.
    pub fn open(lab: &Lab, host: Host, interface: &str) -> PacketSocket {
        let name = format!("{}:{interface}", lab.netns(host));
        let interface = interface.to_string();
        lab.enter(host, move || {
            let protocol = (libc::ETH_P_ALL as u16).to_be();
            // SAFETY: plain socket call.
            let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol as i32) };
            assert!(
                fd >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: a new descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let c_name = std::ffi::CString::new(interface.clone()).expect("interface name");
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) } as i32;
            assert!(ifindex > 0, "no interface {name}");
            // SAFETY: sockaddr_ll is plain data.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = protocol;
            addr.sll_ifindex = ifindex;
            // SAFETY: `addr` is a valid sockaddr_ll of the given length.
            let ret = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(
                ret,
                0,
                "bind AF_PACKET to {name}: {}",
                std::io::Error::last_os_error()
            );
            let size: libc::c_int = 64 << 20;
            // SAFETY: an int option of the right length (root may force sizes).
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    4,
                );
            }
            PacketSocket { fd, ifindex, name }
        })
    }

    /// Sends one frame as it is.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        // SAFETY: `frame` is readable for its length.
        let ret = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if ret < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if ret as usize != frame.len() {
            return Err(std::io::Error::other(format!(
                "sent {ret} of {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }

    /// The next incoming frame on our interface, waiting at most until
    /// `deadline` (returns at once with None when it has passed).
    fn next(&self, deadline: Instant, buf: &mut [u8]) -> Option<Received> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let timeout = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
            if ready <= 0 {
                if Instant::now() >= deadline {
                    return None;
                }
                continue;
            }
            // SAFETY: sockaddr_ll is plain data.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buffers valid for their lengths.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if n <= 0 {
                continue;
            }
            let n = n as usize;
            assert!(n <= buf.len(), "{}: a {n}-byte frame", self.name);
            if from.sll_pkttype == libc::PACKET_OUTGOING || from.sll_ifindex != self.ifindex {
                continue;
            }
            return Some(Received {
                data: buf[..n].to_vec(),
                kind: from.sll_pkttype,
            });
        }
    }

    /// Collects incoming frames accepted by `wanted` until `count` of them
    /// arrived or `limit` passed, then takes whatever else is already
    /// queued (so a surplus shows). Frames `wanted` rejects are returned
    /// apart, for the record.
    pub fn collect(
        &self,
        count: usize,
        limit: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> (Vec<Vec<u8>>, Vec<Received>) {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; BUFFER];
        let mut taken = Vec::new();
        let mut others = Vec::new();
        let mut sort = |r: Received, taken: &mut Vec<Vec<u8>>| {
            if wanted(&r.data) {
                taken.push(r.data);
            } else {
                others.push(r);
            }
        };
        while taken.len() < count {
            match self.next(deadline, &mut buf) {
                Some(r) => sort(r, &mut taken),
                None => break,
            }
        }
        // Already queued: a deadline in the past only drains.
        while let Some(r) = self.next(Instant::now(), &mut buf) {
            sort(r, &mut taken);
        }
        (taken, others)
    }
}
