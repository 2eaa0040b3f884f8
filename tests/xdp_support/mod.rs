//! Network namespaces, veth pairs and raw packet sockets for the AF_XDP
//! tests. Everything created here is deleted by a guard's Drop, so a failing
//! test cleans up too. Names carry the pid and a counter, so tests can run
//! in parallel and next to other users of the machine.

#![allow(dead_code)]

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferroute::wire::MacAddr;

/// True when the test can run (root). Otherwise prints why it is skipped,
/// or fails under CI=true.
pub fn require_root(test: &str) -> bool {
    // SAFETY: plain syscall without arguments.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: AF_XDP tests need root, and CI=true");
    }
    eprintln!("skipping {test}: AF_XDP tests need root");
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` ({e}): install iproute2 (scripts/setup)"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// `ferroute gen` arguments for UDP from host A (a0) to host B through the
/// router's p0, with the lab's addresses (scripts/lab, xdp_bench's topology).
pub const GEN_A_TO_B: [&str; 11] = [
    "gen",
    "--interface",
    "a0",
    "--dst-mac",
    "02:00:00:00:00:01",
    "--src-mac",
    "02:00:00:00:00:0a",
    "--src",
    "192.0.2.10",
    "--dst",
    "203.0.113.2",
];

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted (with its interfaces) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(role: &str) -> Netns {
        let name = format!(
            "fx{role}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        // No IPv6 chatter (router solicitations, MLD, DAD) to disturb counts.
        ns.write_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
        ns.write_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    fn write_sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        let value = value.to_string();
        self.run(move || std::fs::write(&path, value))
            .unwrap_or_else(|e| panic!("writing {key}: {e}"));
    }

    /// Moves the calling thread into this namespace (for long-running
    /// threads; setns affects only the calling thread).
    pub fn enter(&self) {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a namespace descriptor; affects this thread only.
        let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(ret, 0, "setns {path}: {}", std::io::Error::last_os_error());
    }

    /// Runs `f` on a thread that has entered this namespace (setns affects
    /// only the calling thread).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(move || {
                self.enter();
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Netns {
    /// Packets transmitted by `interface` so far (`ip -s` statistics).
    pub fn tx_packets(&self, interface: &str) -> u64 {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-s", "-j", "link", "show", interface])
            .output()
            .expect("ip -s link");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
        json[0]["stats64"]["tx"]["packets"]
            .as_u64()
            .expect("tx packets")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub const MAC_RA: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x01]);
pub const MAC_PA: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x02]);
pub const MAC_RB: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x01]);
pub const MAC_PB: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x02]);

fn mac_text(mac: MacAddr) -> String {
    mac.0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Router namespace `r` with ports `ra` (10.1.0.1/24) and `rb`
/// (10.2.0.1/24), wired to peers `pa` in namespace `a` (10.1.0.2) and `pb`
/// in namespace `b` (10.2.0.2). Fields drop in order: the router first.
pub struct Topology {
    pub r: Netns,
    pub a: Netns,
    pub b: Netns,
}

impl Topology {
    pub fn new() -> Topology {
        let topo = Topology {
            r: Netns::new("r"),
            a: Netns::new("a"),
            b: Netns::new("b"),
        };
        for (ri, pi, peer, rmac, pmac, net) in [
            ("ra", "pa", &topo.a, MAC_RA, MAC_PA, "10.1.0"),
            ("rb", "pb", &topo.b, MAC_RB, MAC_PB, "10.2.0"),
        ] {
            topo.r.ip(&[
                "link", "add", ri, "type", "veth", "peer", "name", pi, "netns", &peer.name,
            ]);
            topo.r
                .ip(&["link", "set", ri, "address", &mac_text(rmac), "up"]);
            peer.ip(&["link", "set", pi, "address", &mac_text(pmac), "up"]);
            topo.r
                .ip(&["addr", "add", &format!("{net}.1/24"), "dev", ri]);
            peer.ip(&["addr", "add", &format!("{net}.2/24"), "dev", pi]);
            // Static neighbours: no ARP traffic of the kernels' own to
            // disturb the counts (the kernel still answers ARP requests).
            topo.r.ip(&[
                "neigh",
                "replace",
                &format!("{net}.2"),
                "lladdr",
                &mac_text(pmac),
                "dev",
                ri,
                "nud",
                "permanent",
            ]);
            peer.ip(&[
                "neigh",
                "replace",
                &format!("{net}.1"),
                "lladdr",
                &mac_text(rmac),
                "dev",
                pi,
                "nud",
                "permanent",
            ]);
        }
        topo
    }
}

/// A raw AF_PACKET socket on one interface (of the namespace it was opened
/// in; usable from any thread afterwards).
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    /// Opens a socket on `interface`; call inside the interface's namespace.
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
        let ifindex = ferroute::io::xdp::interface_index(interface).expect("interface") as i32;
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
            "bind AF_PACKET: {}",
            std::io::Error::last_os_error()
        );
        let size: libc::c_int = 16 << 20;
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
        PacketSocket { fd, ifindex }
    }

    pub fn send(&self, frame: &[u8]) {
        // SAFETY: `frame` is readable for its length.
        let ret = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            ret,
            frame.len() as isize,
            "AF_PACKET send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The next received (not outgoing) frame accepted by `wanted`, waiting
    /// at most `limit`.
    pub fn recv_matching(
        &self,
        limit: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if ready <= 0 {
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
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut from_len,
                )
            };
            if n <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let frame = &buf[..n as usize];
            if wanted(frame) {
                return Some(frame.to_vec());
            }
        }
    }

    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }
}

/// Polls `condition` until it holds or `limit` passes.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::yield_now();
    }
    condition()
}
