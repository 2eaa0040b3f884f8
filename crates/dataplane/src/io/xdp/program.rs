//! Loading, attaching and feeding the XDP program (bpf/ferroute.bpf.c).
//!
//! The program is attached through BPF links: the kernel detaches it when the
//! last link descriptor closes, so even a process killed with SIGKILL leaves
//! no program behind. On kernels without XDP links (before 5.9) it falls
//! back to a netlink attachment, which a crash does leave behind; such a
//! stale `ferroute_xdp` is removed at the next start. A foreign program on an
//! interface is never touched: that is an error naming the interface.
//!
//! Interface indices belong to the calling thread's network namespace: call
//! [`XdpProgram::load`] from a thread inside the router's namespace.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::error::{interface_name, XdpError};
use super::link::{bpf_error, XdpMode};
use super::query::remove_stale;
use crate::wire::MacAddr;

#[allow(clippy::all, clippy::pedantic)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/ferroute.skel.rs"));
}
use skel::{FerrouteSkel, FerrouteSkelBuilder};

mod local;

/// Ports the program can serve (size of its `ports` map).
pub const MAX_PORTS: u32 = 64;
/// Receive queues per port the XSKMAP has room for.
pub const MAX_QUEUES: u32 = 64;
/// The name the kernel shows for our program; a program of this name on an
/// interface is ours (from a crashed run) and may be replaced.
pub const PROGRAM_NAME: &str = "ferroute_xdp";

/// A port the program serves: frames arriving on `ifindex` addressed to
/// `mac` go to the sockets registered for `port_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpPort {
    pub ifindex: u32,
    pub port_index: u32,
    pub mac: MacAddr,
}

/// A VLAN sub-interface the program serves: frames on link `ifindex`
/// tagged `vid` are judged against `mac` and the router's addresses, and
/// transit ones go to the sockets of the link's `link_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpVlan {
    pub ifindex: u32,
    pub vid: u16,
    pub link_index: u32,
    pub mac: MacAddr,
}

/// `port_info.flags` bits: the link carries VLAN sub-interfaces; (in the
/// VLAN table) the entry is a sub-interface.
const PORT_HAS_VLANS: u8 = 1;
const VLAN_SERVED: u8 = 2;
/// `port_info.flags` bit: (in the direct port array) the slot is a port.
const PORT_PRESENT: u8 = 4;
/// Interfaces whose index is below this are found in the program's direct
/// port array, the others in its port hash (bpf/ferroute.bpf.c).
pub const PORT_SLOTS: u32 = 4096;
/// VLAN ids per link in the program's VLAN table.
const VLAN_IDS: u32 = 4096;

/// The program's `port_info` value: port index, MAC, flags, padding.
fn port_info(port_index: u32, mac: MacAddr, flags: u8) -> [u8; 12] {
    let mut value = [0u8; 12];
    value[..4].copy_from_slice(&port_index.to_ne_bytes());
    value[4..10].copy_from_slice(&mac.0);
    value[10] = flags;
    value
}

/// What the program did with the frames it saw, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct XdpCounters {
    /// Handed to an AF_XDP socket.
    pub redirected: u64,
    pub passed_arp: u64,
    /// ICMPv6 neighbour discovery (types 133–137).
    pub passed_nd: u64,
    /// Addressed to one of the router's own addresses.
    pub passed_local: u64,
    /// Broadcast or multicast destination MAC.
    pub passed_group: u64,
    pub passed_not_ip: u64,
    /// Transit frame, but no socket registered for (port, queue).
    pub passed_no_socket: u64,
    /// Unicast to another MAC (promiscuous mode, bridges).
    pub passed_not_our_mac: u64,
    /// IPv6 link-local destination.
    pub passed_link_local: u64,
    pub passed_vlan: u64,
    /// Arrived on an interface that is not a port of the program.
    pub passed_unknown_port: u64,
    /// Too short for its headers.
    pub passed_truncated: u64,
}

/// Number of counter slots in the program (`C_COUNT`).
const COUNTER_SLOTS: u32 = 12;

impl XdpCounters {
    fn set(&mut self, slot: u32, value: u64) {
        let field = match slot {
            0 => &mut self.redirected,
            1 => &mut self.passed_arp,
            2 => &mut self.passed_nd,
            3 => &mut self.passed_local,
            4 => &mut self.passed_group,
            5 => &mut self.passed_not_ip,
            6 => &mut self.passed_no_socket,
            7 => &mut self.passed_not_our_mac,
            8 => &mut self.passed_link_local,
            9 => &mut self.passed_vlan,
            10 => &mut self.passed_unknown_port,
            11 => &mut self.passed_truncated,
            _ => return,
        };
        *field = value;
    }

    /// Frames passed to the kernel, for any reason.
    pub fn passed(&self) -> u64 {
        self.passed_arp
            + self.passed_nd
            + self.passed_local
            + self.passed_group
            + self.passed_not_ip
            + self.passed_no_socket
            + self.passed_not_our_mac
            + self.passed_link_local
            + self.passed_vlan
            + self.passed_unknown_port
            + self.passed_truncated
    }
}

enum Attachment {
    /// A BPF link: detached explicitly, and by the kernel when it closes.
    Link(OwnedFd),
    /// A netlink attachment (kernels without XDP links).
    Netlink,
}

struct Attached {
    ifindex: u32,
    interface: String,
    attachment: Attachment,
}

/// The loaded program, attached to every port until dropped or
/// [`detach`](XdpProgram::detach)ed.
pub struct XdpProgram {
    skel: ManuallyDrop<FerrouteSkel<'static>>,
    /// The skeleton's object, boxed so it has a stable address; freed in
    /// `Drop` after the skeleton.
    storage: NonNull<MaybeUninit<OpenObject>>,
    attached: Vec<Attached>,
    mode: XdpMode,
    /// The ports as loaded (`set_vlans` rewrites their flags).
    ports: Vec<XdpPort>,
}

// SAFETY: the skeleton (itself Send) refers only to `storage`, which moves
// with it; libbpf objects are not tied to a thread.
unsafe impl Send for XdpProgram {}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("mode", &self.mode)
            .field(
                "attached",
                &self
                    .attached
                    .iter()
                    .map(|a| &a.interface)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Opens and loads the skeleton into `storage`.
///
/// # Safety
/// `storage` must stay allocated, and not be used otherwise, for as long as
/// the returned skeleton lives.
unsafe fn open_skeleton(
    storage: NonNull<MaybeUninit<OpenObject>>,
    vlan_entries: u32,
) -> Result<FerrouteSkel<'static>, XdpError> {
    // SAFETY: the caller keeps `storage` alive and unaliased while the
    // skeleton (which borrows it) lives.
    let object: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *storage.as_ptr() };
    let mut open = FerrouteSkelBuilder::default()
        .open(object)
        .map_err(|e| bpf_error("opening the XDP program", e))?;
    // The VLAN table is a direct array: room for the ports there are.
    open.maps
        .vlans
        .set_max_entries(vlan_entries)
        .map_err(|e| bpf_error("sizing the XDP VLAN table", e))?;
    open.load()
        .map_err(|e| bpf_error("loading the XDP program into the kernel", e))
}

impl XdpProgram {
    /// Loads the program, fills its port table and attaches it to every
    /// port's interface, first removing a stale `ferroute_xdp` left there by
    /// a crashed run. Fails (detaching whatever it attached) if an interface
    /// is missing, carries a foreign program, or refuses the mode.
    pub fn load(ports: &[XdpPort], mode: XdpMode) -> Result<XdpProgram, XdpError> {
        for (i, port) in ports.iter().enumerate() {
            if port.port_index >= MAX_PORTS {
                return Err(XdpError::Invalid {
                    what: format!("port index {} exceeds {}", port.port_index, MAX_PORTS - 1),
                });
            }
            if ports[..i].iter().any(|p| p.ifindex == port.ifindex) {
                return Err(XdpError::Invalid {
                    what: format!(
                        "interface {} is given to two ports",
                        interface_name(port.ifindex)
                    ),
                });
            }
        }
        let storage = NonNull::from(Box::leak(Box::new(MaybeUninit::<OpenObject>::uninit())));
        // SAFETY: `storage` is owned by the `XdpProgram` built below, which
        // drops the skeleton before freeing it; on error it is freed here
        // after the failed skeleton is gone.
        let links = ports.iter().map(|p| p.port_index + 1).max().unwrap_or(1);
        let skel = match unsafe { open_skeleton(storage, links * VLAN_IDS) } {
            Ok(skel) => skel,
            Err(e) => {
                // SAFETY: from `Box::leak` above; nothing refers to it any more.
                drop(unsafe { Box::from_raw(storage.as_ptr()) });
                return Err(e);
            }
        };
        let mut program = XdpProgram {
            skel: ManuallyDrop::new(skel),
            storage,
            attached: Vec::with_capacity(ports.len()),
            mode,
            ports: ports.to_vec(),
        };
        for port in ports {
            program.write_port(port, 0)?;
        }
        for port in ports {
            // Dropping `program` on error detaches the interfaces done so far.
            program.attach(port.ifindex)?;
        }
        Ok(program)
    }

    fn attach(&mut self, ifindex: u32) -> Result<(), XdpError> {
        let interface = interface_name(ifindex);
        remove_stale(ifindex, &interface, PROGRAM_NAME)?;
        let prog_fd = self.skel.progs.ferroute_xdp.as_fd().as_raw_fd();
        let what = || {
            format!(
                "attaching {PROGRAM_NAME} to {interface} in {} mode",
                self.mode.name()
            )
        };
        // SAFETY: zeroed is the documented initial state of libbpf option
        // structs; `sz` is set as libbpf requires.
        let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        opts.flags = self.mode.flags();
        // SAFETY: valid program fd and option struct.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(prog_fd, ifindex as i32, libbpf_sys::BPF_XDP, &opts)
        };
        let attachment = if fd >= 0 {
            // SAFETY: a new descriptor that nothing else owns.
            Attachment::Link(unsafe { OwnedFd::from_raw_fd(fd) })
        } else if fd == -libc::EINVAL {
            // No XDP links in this kernel: attach through netlink, only if
            // the slot is (still) free.
            let flags = self.mode.flags() | libbpf_sys::XDP_FLAGS_UPDATE_IF_NOEXIST;
            // SAFETY: valid program fd; null options are allowed.
            let ret = unsafe {
                libbpf_sys::bpf_xdp_attach(ifindex as i32, prog_fd, flags, std::ptr::null())
            };
            if ret < 0 {
                return Err(attach_error(what(), &interface, self.mode, ret));
            }
            Attachment::Netlink
        } else {
            return Err(attach_error(what(), &interface, self.mode, fd));
        };
        self.attached.push(Attached {
            ifindex,
            interface,
            attachment,
        });
        Ok(())
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Interfaces the program is attached to.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.attached.iter().map(|a| a.interface.as_str())
    }

    /// Sends transit frames of (port, rx queue) to the AF_XDP socket `fd`.
    pub fn register_socket(&self, port_index: u32, queue: u32, fd: RawFd) -> Result<(), XdpError> {
        let key = xsk_key(port_index, queue)?;
        self.skel
            .maps
            .xsks
            .update(
                &key.to_ne_bytes(),
                &(fd as u32).to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| {
                bpf_error(
                    format!("registering the AF_XDP socket of port {port_index} queue {queue}"),
                    e,
                )
            })
    }

    /// Stops redirecting (port, queue): its frames go to the kernel again.
    pub fn unregister_socket(&self, port_index: u32, queue: u32) -> Result<(), XdpError> {
        let key = xsk_key(port_index, queue)?;
        match self.skel.maps.xsks.delete(&key.to_ne_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(bpf_error("unregistering an AF_XDP socket", e)),
        }
    }

    /// Serves `vlans` (control-plane call, once after [`XdpProgram::load`]):
    /// fills the program's VLAN table and marks their links, whose tagged
    /// frames are judged per VLAN from then on (before, they pass to the
    /// kernel, as on links without VLANs).
    pub fn set_vlans(&self, vlans: &[XdpVlan]) -> Result<(), XdpError> {
        for v in vlans {
            let link = self
                .ports
                .iter()
                .find(|p| p.ifindex == v.ifindex && p.port_index == v.link_index);
            if link.is_none() || !(1..VLAN_IDS as u16).contains(&v.vid) {
                return Err(XdpError::Invalid {
                    what: format!(
                        "VLAN {} on interface {} (port {}): not a VLAN id of a port the \
                         program serves",
                        v.vid,
                        interface_name(v.ifindex),
                        v.link_index
                    ),
                });
            }
            let key = v.link_index * VLAN_IDS + u32::from(v.vid);
            let value = port_info(v.link_index, v.mac, VLAN_SERVED);
            self.skel
                .maps
                .vlans
                .update(&key.to_ne_bytes(), &value, MapFlags::ANY)
                .map_err(|e| bpf_error("filling the XDP VLAN table", e))?;
        }
        for port in self.ports.iter() {
            if vlans.iter().any(|v| v.ifindex == port.ifindex) {
                self.write_port(port, PORT_HAS_VLANS)?;
            }
        }
        Ok(())
    }

    /// Writes `port`'s entry, with `flags`, where the program looks it up:
    /// the direct array below [`PORT_SLOTS`], else the hash.
    fn write_port(&self, port: &XdpPort, flags: u8) -> Result<(), XdpError> {
        let value = port_info(port.port_index, port.mac, flags | PORT_PRESENT);
        let map = if port.ifindex < PORT_SLOTS {
            &self.skel.maps.port_slots
        } else {
            &self.skel.maps.ports
        };
        map.update(&port.ifindex.to_ne_bytes(), &value, MapFlags::ANY)
            .map_err(|e| bpf_error("filling the XDP port table", e))
    }

    /// Runs the program on `frame` as if it arrived on `ifindex` queue 0,
    /// `repeat` times, in the kernel's test mode (BPF_PROG_RUN: nothing is
    /// received or sent; a redirect to an empty socket slot passes):
    /// the action and the mean time per run. For tests and measurements;
    /// the counters move as for real frames.
    pub fn test_run(
        &self,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<(u32, std::time::Duration), XdpError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex.
        let mut context = [0u8; 24];
        context[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        context[12..16].copy_from_slice(&ifindex.to_ne_bytes());
        let input = libbpf_rs::ProgramInput {
            context_in: Some(&mut context),
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        let output = self
            .skel
            .progs
            .ferroute_xdp
            .test_run(input)
            .map_err(|e| bpf_error("running the XDP program in test mode", e))?;
        Ok((output.return_value, output.duration))
    }

    /// The program's counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, XdpError> {
        let mut counters = XdpCounters::default();
        for slot in 0..COUNTER_SLOTS {
            let per_cpu = self
                .skel
                .maps
                .counters
                .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| bpf_error("reading the XDP counters", e))?
                .unwrap_or_default();
            let sum = per_cpu
                .iter()
                .filter_map(|v| v.get(..8))
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
                .sum();
            counters.set(slot, sum);
        }
        Ok(counters)
    }

    /// Detaches the program from every interface, synchronously
    /// (idempotent). A netlink attachment is removed only while it is still
    /// ours. Returns the first error after trying every interface.
    pub fn detach(&mut self) -> Result<(), XdpError> {
        let prog_fd = self.skel.progs.ferroute_xdp.as_fd().as_raw_fd();
        let mut first_error = None;
        for attached in self.attached.drain(..) {
            if let Attachment::Link(fd) = &attached.attachment {
                // Detach now, not when the last reference to the link's file
                // goes (a child forked meanwhile may hold one until exec).
                // SAFETY: a link descriptor we own.
                let ret = unsafe { libbpf_sys::bpf_link_detach(fd.as_raw_fd()) };
                if ret < 0 && ret != -libc::EOPNOTSUPP && first_error.is_none() {
                    first_error = Some(XdpError::from_ret(
                        format!("detaching {PROGRAM_NAME} from {}", attached.interface),
                        ret,
                    ));
                }
            }
            if let Attachment::Netlink = attached.attachment {
                // SAFETY: zeroed options with `sz` set, as libbpf requires.
                let mut opts: libbpf_sys::bpf_xdp_attach_opts = unsafe { std::mem::zeroed() };
                opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _;
                opts.old_prog_fd = prog_fd;
                let flags = self.mode.flags() | libbpf_sys::XDP_FLAGS_REPLACE;
                // SAFETY: valid options; REPLACE with our fd detaches only
                // our program, even if the thread's namespace changed.
                let ret =
                    unsafe { libbpf_sys::bpf_xdp_detach(attached.ifindex as i32, flags, &opts) };
                if ret < 0 && first_error.is_none() {
                    first_error = Some(XdpError::from_ret(
                        format!("detaching {PROGRAM_NAME} from {}", attached.interface),
                        ret,
                    ));
                }
            }
            // The link's descriptor closes here.
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            eprintln!("ferroute: {e}");
        }
        // SAFETY: dropped exactly once, before the storage it borrows.
        unsafe { ManuallyDrop::drop(&mut self.skel) };
        // SAFETY: allocated by `Box` in `load`; the skeleton that used it is gone.
        drop(unsafe { Box::from_raw(self.storage.as_ptr()) });
    }
}

fn xsk_key(port_index: u32, queue: u32) -> Result<u32, XdpError> {
    if port_index >= MAX_PORTS || queue >= MAX_QUEUES {
        return Err(XdpError::Invalid {
            what: format!(
                "port {port_index} queue {queue} is out of range (at most {} ports of {} queues)",
                MAX_PORTS, MAX_QUEUES
            ),
        });
    }
    Ok(port_index * MAX_QUEUES + queue)
}

fn attach_error(what: String, interface: &str, mode: XdpMode, ret: i32) -> XdpError {
    match -ret {
        libc::EOPNOTSUPP if mode == XdpMode::Native => XdpError::Invalid {
            what: format!(
                "{what}: the driver of {interface} has no native XDP: use generic (skb) mode"
            ),
        },
        libc::EBUSY | libc::EEXIST => XdpError::Invalid {
            what: format!(
                "{what}: another XDP program was attached meanwhile: see `ip link show dev {interface}`"
            ),
        },
        libc::ENODEV => XdpError::NoSuchInterface {
            interface: interface.to_string(),
        },
        _ => XdpError::from_ret(what, ret),
    }
}
