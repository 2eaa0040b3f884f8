//! Network namespaces and raw AF_PACKET sockets for the tests that need a
//! kernel (root). Everything created here is deleted by a guard's Drop, so
//! a failing test cleans up too. Names carry the pid and a counter, so tests
//! run in parallel and beside other users of the machine. Nothing here
//! sleeps to wait for something: waits poll a condition with a bound.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True when the test can run (root). Otherwise prints why it is skipped
/// (`needs`: what for), or fails under `CI=true`.
pub fn require_root(test: &str, needs: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip(test, &format!("needs root ({needs})"));
    false
}

/// Says why `test` is skipped; under `CI=true`, where nothing may be
/// skipped, fails instead.
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {why}, and CI=true"
    );
    eprintln!("skipping {test}: {why}");
}

/// Polls `condition` every millisecond until it holds or `limit` passes;
/// returns whether it held.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs a command to completion, panicking with its stderr when it fails;
/// returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a thread inside the named namespace (setns changes only the
/// calling thread; threads it spawns inherit it). Sockets opened there
/// stay in that namespace.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(move || {
            enter_netns(name);
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Moves the calling thread into the named namespace (for long-running
/// threads of a test).
pub fn enter_netns(name: &str) {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: a namespace descriptor; affects this thread only.
    let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(ret, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace `PREFIX-PID-N` with its loopback up, deleted (with
/// its interfaces) on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Writes `/proc/sys/KEY` as seen from inside the namespace.
    pub fn write_sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        self.run(|| std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("writing {key} in {}: {e}", self.name));
    }

    /// See [`enter_netns`].
    pub fn enter(&self) {
        enter_netns(&self.name);
    }

    /// See [`in_netns`].
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.name, f)
    }

    /// `ip -n NAME args...`, which must succeed; its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A frame that came in from the wire (not one this host sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub data: Vec<u8>,
    /// PACKET_HOST, PACKET_OTHERHOST, PACKET_BROADCAST, ...
    pub kind: u8,
}

/// Largest frame read (veth MTUs stay well below).
const BUFFER: usize = 65536;

const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_STATISTICS: libc::c_int = 6;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;

/// `struct tpacket_auxdata` (`<linux/if_packet.h>`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct AuxData {
    status: u32,
    len: u32,
    snaplen: u32,
    mac: u16,
    net: u16,
    vlan_tci: u16,
    vlan_tpid: u16,
}

/// What the kernel counted for a packet socket since the last reading
/// (`PACKET_STATISTICS`; reading resets both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketCounts {
    /// Frames the socket received, queued or not (`tp_packets`).
    pub packets: u32,
    /// Frames dropped because the receive buffer was full (`tp_drops`).
    pub drops: u32,
}

/// A raw AF_PACKET socket bound to one interface of the namespace it was
/// opened in, usable from any thread afterwards. It receives from the
/// moment it is opened, so open it before sending what it must see.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
    name: String,
    /// Put 802.1Q tags the kernel moved into metadata back into received
    /// frames ([`PacketSocket::open_tagged`]).
    restore_tags: bool,
}

impl PacketSocket {
    /// [`PacketSocket::open`] for a host that speaks 802.1Q itself (hosts
    /// here have no VLAN devices): received frames are as on the wire,
    /// tag included. The receiving kernel strips a tag into the packet's
    /// metadata before packet sockets see it (on veth too), so the tag is
    /// read from `PACKET_AUXDATA` and put back. Send tagged frames as they
    /// are, with [`PacketSocket::send`].
    pub fn open_tagged(interface: &str) -> PacketSocket {
        let mut socket = PacketSocket::open(interface);
        let on: libc::c_int = 1;
        // SAFETY: an int option of the right length.
        let ret = unsafe {
            libc::setsockopt(
                socket.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_AUXDATA,
                (&on as *const libc::c_int).cast(),
                4,
            )
        };
        assert_eq!(
            ret,
            0,
            "PACKET_AUXDATA on {interface}: {}",
            std::io::Error::last_os_error()
        );
        socket.restore_tags = true;
        socket
    }

    /// Opens a socket on `interface` of the calling thread's namespace.
    pub fn open(interface: &str) -> PacketSocket {
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
        let c_name = std::ffi::CString::new(interface).expect("interface name");
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) } as i32;
        assert!(ifindex > 0, "no interface {interface}");
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
            "bind AF_PACKET to {interface}: {}",
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
        PacketSocket {
            fd,
            ifindex,
            name: interface.to_string(),
            restore_tags: false,
        }
    }

    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// The kernel's counts since the last call (or the opening): a capture
    /// that missed frames tells here whether its buffer overflowed.
    pub fn counts(&self) -> SocketCounts {
        // `struct tpacket_stats` (`<linux/if_packet.h>`): packets, drops.
        let mut stats = [0u32; 2];
        let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
        // SAFETY: a buffer of `len` bytes and its length, both writable.
        let ret = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                stats.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(
            ret,
            0,
            "PACKET_STATISTICS on {}: {}",
            self.name,
            std::io::Error::last_os_error()
        );
        SocketCounts {
            packets: stats[0],
            drops: stats[1],
        }
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
    pub fn next(&self, deadline: Instant, buf: &mut [u8]) -> Option<Received> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let timeout = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: one valid pollfd, a valid timespec, no signal mask.
            let ready = unsafe { libc::ppoll(&mut pfd, 1, &timeout, std::ptr::null()) };
            if ready <= 0 {
                if Instant::now() >= deadline {
                    return None;
                }
                continue;
            }
            let Some((n, from, aux)) = self.recv_one(buf) else {
                continue;
            };
            assert!(n <= buf.len(), "{}: a {n}-byte frame", self.name);
            if from.sll_pkttype == libc::PACKET_OUTGOING || from.sll_ifindex != self.ifindex {
                continue;
            }
            let mut data = buf[..n].to_vec();
            if self.restore_tags && aux.status & TP_STATUS_VLAN_VALID != 0 && n >= 12 {
                let tpid = match aux.vlan_tpid {
                    0 => 0x8100,
                    tpid => tpid,
                };
                let mut tag = [0u8; 4];
                tag[..2].copy_from_slice(&tpid.to_be_bytes());
                tag[2..].copy_from_slice(&aux.vlan_tci.to_be_bytes());
                data.splice(12..12, tag);
            }
            return Some(Received {
                data,
                kind: from.sll_pkttype,
            });
        }
    }

    /// One queued frame into `buf`: its length, sender and auxiliary data
    /// (a VLAN tag the kernel stripped; only with `restore_tags`).
    fn recv_one(&self, buf: &mut [u8]) -> Option<(usize, libc::sockaddr_ll, AuxData)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64s: aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: sockaddr_ll and msghdr are plain data.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every buffer `msg` names is valid for its length.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n <= 0 {
            return None;
        }
        let mut aux = AuxData::default();
        // SAFETY: walking the control messages the kernel wrote through
        // `msg`, reading one only when it is as long as the struct.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_PACKET
                    && (*cmsg).cmsg_type == PACKET_AUXDATA
                    && (*cmsg).cmsg_len as usize
                        >= libc::CMSG_LEN(std::mem::size_of::<AuxData>() as u32) as usize
                {
                    aux = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<AuxData>());
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Some((n as usize, from, aux))
    }

    /// The next incoming frame accepted by `wanted`, waiting at most `limit`.
    pub fn recv_matching(
        &self,
        limit: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let r = self.next(deadline, &mut buf)?;
            if wanted(&r.data) {
                return Some(r.data);
            }
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
