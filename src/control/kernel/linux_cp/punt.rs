//! The punt thread: carries frames between a link's wire and the TAPs of
//! its VLAN sub-interfaces.
//!
//! * In: the XDP program passes what a VLAN's frames hold for the router
//!   (ARP, ND, its addresses, group traffic) to the kernel on the link, which
//!   strips the tag into the packet's metadata and, having no 802.1Q device,
//!   drops the packet — after its packet taps saw it. One AF_PACKET socket
//!   per link (a classic-BPF filter lets only tagged frames through) reads
//!   them with the tag (`PACKET_AUXDATA`) and writes each, untagged, into
//!   its VLAN's TAP: the kernel receives it there as on the sub-interface.
//! * Out: what the kernel sends through a TAP (ARP replies and requests,
//!   ND, ICMP, routing protocols) is read, tagged with the VLAN (priority
//!   from the IP precedence, as the pipeline tags), and sent on the link
//!   through the same socket.
//!
//! * Carrier: every [`STOP_CHECK`] the thread reads each link's state and
//!   gives its TAPs the same carrier, so a link going down takes its
//!   sub-interfaces down for the kernel and the routing protocols too.
//!
//! This is control traffic, off the workers: a system call per frame is
//! what the kernel's own path costs too. Bursts are bounded per wake so one
//! busy VLAN cannot starve the rest.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tap::{self, Tap};
use crate::forward::pcp_of;
use crate::io::set_int_option;
use crate::wire::ethernet::ethertype;
use crate::wire::vlan::{pop_tag, push_tag, Tci, VlanFrame, TAG_LEN};
use crate::wire::MacAddr;

const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_UNICAST: libc::c_ushort = 3;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const SO_ATTACH_FILTER: libc::c_int = 26;
/// Classic BPF ancillary load offsets (`<linux/filter.h>`).
const SKF_AD_OFF: u32 = 0xffff_f000;
const SKF_AD_VLAN_TAG_PRESENT: u32 = 48;
/// Frames taken from one descriptor per wake.
const BURST: usize = 64;
/// Largest frame carried (a TAP's MTU is at most its link's).
const BUFFER: usize = 65536 + TAG_LEN;
/// How long the thread sleeps before looking at its stop flag again.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// `struct packet_mreq` (`<linux/if_packet.h>`).
#[repr(C)]
struct PacketMreq {
    ifindex: libc::c_int,
    kind: libc::c_ushort,
    alen: libc::c_ushort,
    address: [u8; 8],
}

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

/// What the punt thread carried, for `ferroute stats`.
#[derive(Debug, Default)]
pub struct PuntCounters {
    /// Frames written into a TAP (from the wire, untagged).
    pub to_kernel: AtomicU64,
    /// Frames the kernel sent through a TAP, tagged onto the wire.
    pub from_kernel: AtomicU64,
    /// Tagged frames the kernel saw of a VLAN without a TAP (priority tags).
    pub not_served: AtomicU64,
    /// Frames a TAP or a link did not take (the error is the last one).
    pub errors: AtomicU64,
}

impl PuntCounters {
    /// The counters by name (stable: scripts read them).
    pub fn by_name(&self) -> [(&'static str, u64); 4] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("to_kernel", get(&self.to_kernel)),
            ("from_kernel", get(&self.from_kernel)),
            ("not_served", get(&self.not_served)),
            ("errors", get(&self.errors)),
        ]
    }
}

/// One VLAN's TAP as the thread sees it.
pub(super) struct TapEnd {
    pub tap: Tap,
    /// Index into the thread's links.
    pub link: usize,
    pub vid: u16,
}

/// One read of a link's socket.
enum Received {
    /// Nothing queued.
    Nothing,
    /// A frame not ours to carry (our own, cut, not 802.1Q).
    Skipped,
    /// The untagged frame's range in the buffer and its VLAN id.
    Frame(usize, usize, u16),
}

/// A link's AF_PACKET socket.
pub(super) struct LinkSocket {
    fd: OwnedFd,
    ifindex: u32,
    interface: String,
    /// The link's state as last given to its TAPs.
    running: Option<bool>,
    /// TAP index by VLAN id (`u16::MAX`: none).
    taps: Box<[u16; 4096]>,
}

fn os_error(what: String) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl LinkSocket {
    /// A socket on link `ifindex` that receives the kernel's tagged frames
    /// (tag in the auxiliary data, or still in the frame), not our own.
    pub fn open(ifindex: u32, interface: &str) -> io::Result<LinkSocket> {
        // Protocol 0: nothing is received before the filter is attached
        // and the bind below names the protocol.
        // SAFETY: plain socket call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(os_error(format!("AF_PACKET socket for {interface}")));
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        let code = |class: u16, k: u32, jt: u8, jf: u8| libc::sock_filter {
            code: class,
            jt,
            jf,
            k,
        };
        // A = vlan_tag_present; if 0: A = ethertype; accept 0x8100 only.
        let filter = [
            code(0x20, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT, 0, 0), // ld  vlan_avail
            code(0x15, 0, 0, 2),                                    // jeq #0, next, accept
            code(0x28, 12, 0, 0),                                   // ldh [12]
            code(0x15, u32::from(ethertype::VLAN), 0, 1),           // jeq #0x8100, accept, drop
            code(0x06, 0x0004_0000, 0, 0),                          // accept
            code(0x06, 0, 0, 0),                                    // drop
        ];
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `program` points at `filter`, alive for the call.
        let ret = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                SO_ATTACH_FILTER,
                (&program as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(os_error(format!(
                "filter on the punt socket of {interface}"
            )));
        }
        if set_int_option(&raw, libc::SOL_PACKET, PACKET_AUXDATA, 1).is_err() {
            return Err(os_error(format!("PACKET_AUXDATA on {interface}")));
        }
        // Without it (Linux < 4.20) our own frames come back: they are
        // skipped by their packet type instead. A smaller buffer only
        // drops sooner.
        let _ = set_int_option(&raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
        let _ = set_int_option(&raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
        // SAFETY: sockaddr_ll is plain data.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: a valid sockaddr_ll of its length.
        let ret = unsafe {
            libc::bind(
                raw,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(os_error(format!("binding the punt socket to {interface}")));
        }
        Ok(LinkSocket {
            fd,
            ifindex,
            interface: interface.to_string(),
            running: None,
            taps: Box::new([u16::MAX; 4096]),
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Makes the link accept unicast frames to `mac` (a sub-interface's
    /// own MAC): the kernel adds it to the device's unicast filter, or
    /// makes the device promiscuous where it has none, for as long as
    /// this socket is open — a crash leaves nothing behind.
    pub fn accept_mac(&self, mac: MacAddr) -> io::Result<()> {
        let mut address = [0u8; 8];
        address[..6].copy_from_slice(&mac.0);
        let request = PacketMreq {
            ifindex: self.ifindex as libc::c_int,
            kind: PACKET_MR_UNICAST,
            alen: 6,
            address,
        };
        // SAFETY: a packet_mreq of its length.
        let ret = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_ADD_MEMBERSHIP,
                (&request as *const PacketMreq).cast(),
                std::mem::size_of::<PacketMreq>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            return Err(os_error(format!("accepting {mac} on {}", self.interface)));
        }
        Ok(())
    }

    pub fn serve(&mut self, vid: u16, tap: usize) {
        self.taps[usize::from(vid & 0xfff)] = tap as u16;
    }

    /// The next frame the kernel received on the link, into `buf`.
    fn recv(&self, buf: &mut [u8]) -> Received {
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
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: every buffer `msg` names is valid for its length.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            return Received::Nothing;
        }
        let n = n as usize;
        if n > buf.len() || from.sll_pkttype == libc::PACKET_OUTGOING {
            return Received::Skipped;
        }
        let mut aux = AuxData::default();
        // SAFETY: walking the control messages the kernel wrote into
        // `control` through `msg`, reading one of the size it says.
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
        if aux.status & TP_STATUS_VLAN_VALID != 0 {
            return Received::Frame(0, n, aux.vlan_tci & 0xfff);
        }
        // The tag still in the frame (a path that did not strip it).
        let Ok(tagged) = VlanFrame::new_checked(&buf[..n]) else {
            return Received::Skipped;
        };
        if tagged.tpid() != ethertype::VLAN {
            return Received::Skipped;
        }
        let vid = tagged.tci().vid();
        pop_tag(buf, 0);
        Received::Frame(TAG_LEN, n, vid)
    }
}

/// The thread's loop until `stop`: frames from the links into their TAPs
/// and from the TAPs onto their links.
pub(super) fn run(
    mut links: Vec<LinkSocket>,
    taps: Vec<TapEnd>,
    stop: Arc<AtomicBool>,
    counters: Arc<PuntCounters>,
) {
    for (i, t) in taps.iter().enumerate() {
        if let Some(link) = links.get_mut(t.link) {
            link.serve(t.vid, i);
        }
    }
    let mut fds: Vec<libc::pollfd> = links
        .iter()
        .map(|l| l.fd.as_raw_fd())
        .chain(taps.iter().map(|t| t.tap.fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = vec![0u8; BUFFER];
    let ioctls = tap::ioctl_socket().ok();
    let mut carrier_checked: Option<Instant> = None;
    let timeout = libc::timespec {
        tv_sec: STOP_CHECK.as_secs() as libc::time_t,
        tv_nsec: STOP_CHECK.subsec_nanos() as libc::c_long,
    };
    while !stop.load(Ordering::Relaxed) {
        if let Some(sock) = &ioctls {
            if carrier_checked.is_none_or(|at| at.elapsed() >= STOP_CHECK) {
                follow_carriers(sock.as_raw_fd(), &mut links, &taps, &counters);
                carrier_checked = Some(Instant::now());
            }
        }
        // SAFETY: `fds` is a valid array of its length; no signal mask.
        let ready = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &timeout,
                std::ptr::null(),
            )
        };
        if ready <= 0 {
            continue;
        }
        for (i, link) in links.iter().enumerate() {
            if fds[i].revents & libc::POLLIN != 0 {
                to_taps(link, &taps, &mut buf, &counters);
            }
        }
        for (i, t) in taps.iter().enumerate() {
            if fds[links.len() + i].revents & libc::POLLIN != 0 {
                if let Some(link) = links.get(t.link) {
                    to_link(t, link, &mut buf, &counters);
                }
            }
        }
    }
}

/// Gives each link's TAPs the link's carrier when it changed.
fn follow_carriers(
    sock: RawFd,
    links: &mut [LinkSocket],
    taps: &[TapEnd],
    counters: &PuntCounters,
) {
    for (i, link) in links.iter_mut().enumerate() {
        let Some(running) = tap::link_running(sock, &link.interface) else {
            continue;
        };
        if link.running == Some(running) {
            continue;
        }
        link.running = Some(running);
        for t in taps.iter().filter(|t| t.link == i) {
            if t.tap.set_carrier(running).is_err() {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn to_taps(link: &LinkSocket, taps: &[TapEnd], buf: &mut [u8], counters: &PuntCounters) {
    // Skipped frames count against the burst too: a flood of them cannot
    // hold the thread here.
    for _ in 0..BURST {
        let (start, end, vid) = match link.recv(buf) {
            Received::Nothing => return,
            Received::Skipped => continue,
            Received::Frame(start, end, vid) => (start, end, vid),
        };
        let slot = link.taps[usize::from(vid)];
        let Some(t) = taps.get(usize::from(slot)) else {
            counters.not_served.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let frame = &buf[start..end];
        // SAFETY: `frame` is readable for its length.
        let n = unsafe { libc::write(t.tap.fd(), frame.as_ptr().cast(), frame.len()) };
        if n == frame.len() as isize {
            counters.to_kernel.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn to_link(t: &TapEnd, link: &LinkSocket, buf: &mut [u8], counters: &PuntCounters) {
    for _ in 0..BURST {
        // Read behind TAG_LEN bytes of room for the tag.
        let room = &mut buf[TAG_LEN..];
        // SAFETY: `room` is writable for its length.
        let n = unsafe { libc::read(t.tap.fd(), room.as_mut_ptr().cast(), room.len()) };
        if n <= 0 {
            return;
        }
        let end = TAG_LEN + n as usize;
        let pcp = pcp_of(&buf[TAG_LEN..end]);
        let Some(start) = push_tag(&mut buf[..end], TAG_LEN, Tci::new(pcp, t.vid)) else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let frame = &buf[start..end];
        // SAFETY: `frame` is readable for its length.
        let sent =
            unsafe { libc::send(link.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if sent == frame.len() as isize {
            counters.from_kernel.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}
