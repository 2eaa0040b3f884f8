//! AF_XDP sockets for one worker: [`XdpIo`] implements [`PacketIo`] over one
//! UMEM shared by the worker's sockets on every port, so a frame received on
//! port A leaves port B from the same buffer.
//!
//! Layout (xdpilone's terms): the first port's socket is the UMEM's own
//! descriptor (it registers the memory); every other port gets a socket bound
//! with `XDP_SHARED_UMEM`. Each (device, queue) has its own fill and
//! completion rings; each socket its rx and tx rings. Shared binds carry no
//! other flags (the kernel rejects them) and inherit the first socket's
//! copy/zero-copy mode and need_wakeup setting.
//!
//! Sockets are created in the calling thread's network namespace: open an
//! `XdpIo` from a thread inside the router's namespace.

use std::num::NonZeroU32;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::Arc;

use xdpilone::xdp::XdpDesc;
use xdpilone::{
    CompletionQueue, Errno, FillQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, UmemConfig,
    User,
};

use super::error::{interface_name, XdpError};
use super::program::XdpProgram;
use super::wait::Sleeper;
use super::xsk_stats::XskStatistics;
use crate::fib::PortId;
use crate::io::packet::{PacketIo, SocketDrops};
use crate::io::umem::{Frame, FrameBatch, FramePool, Umem};

const SOL_XDP: libc::c_int = 283;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// How the first socket binds (the others follow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy where the driver supports it, copy mode otherwise (the
    /// kernel falls back by itself when neither is forced).
    Auto,
    /// Force copy mode.
    Copy,
    /// Force zero-copy: fail where the driver cannot.
    ZeroCopy,
}

/// Default UMEM frames per worker (64 MiB) and ring entries. The fill ring
/// is the only buffer between the kernel's copy into the UMEM (softirq,
/// which never waits for the worker) and the worker, so it must cover the
/// longest time a worker may be off its core at full rate: with 1024 frames
/// per fill ring (4096 frames, 2048 entries), TCP through the veth lab lost
/// one frame in 50 to an empty fill ring on a loaded machine, with 4096
/// none (issue 11; README, "The veth lab").
pub const DEFAULT_FRAMES: u32 = 16384;
pub const DEFAULT_RING_SIZE: u32 = 4096;

/// Sizes and the queue of an [`XdpIo`].
#[derive(Debug, Clone)]
pub struct XdpIoConfig {
    /// The rx queue (on every port) this worker serves.
    pub queue: u32,
    /// UMEM frames.
    pub frame_count: u32,
    /// Bytes per UMEM frame: [`FRAME_SIZE`] or [`SMALL_FRAME_SIZE`] (see
    /// [`frame_size_for_mtu`]).
    pub frame_size: u32,
    /// Entries of every ring (rx, tx, fill, completion); a power of two.
    pub ring_size: u32,
    /// Frames kept in each port's fill ring; by default
    /// `min(ring_size, frame_count / (2 × ports))`, leaving half the UMEM to
    /// frames in flight.
    pub fill_per_port: Option<u32>,
    pub bind: BindMode,
}

impl Default for XdpIoConfig {
    fn default() -> Self {
        XdpIoConfig {
            queue: 0,
            frame_count: DEFAULT_FRAMES,
            frame_size: FRAME_SIZE,
            ring_size: DEFAULT_RING_SIZE,
            fill_per_port: None,
            bind: BindMode::Auto,
        }
    }
}

/// Bytes per UMEM frame: room for any MTU up to 3,818 (after the 256
/// bytes of headroom AF_XDP leaves and two VLAN tags).
pub const FRAME_SIZE: u32 = 4096;
/// The smaller frame, for ports whose MTU allows it: half the UMEM, which
/// the kernel pins whole (the default 16,384 frames are 64 MiB at 4 KiB and
/// 32 MiB at 2 KiB, the larger share of an idle router's memory).
pub const SMALL_FRAME_SIZE: u32 = 2048;
/// What AF_XDP leaves before received data (XDP_PACKET_HEADROOM).
const RX_HEADROOM: u32 = 256;
/// Ethernet header plus two VLAN tags.
const L2_OVERHEAD: u32 = 14 + 2 * 4;

/// The UMEM frame size for ports whose largest MTU is `mtu`: the small
/// frame when a frame of that MTU (with its L2 header, two tags and the
/// receive headroom) fits in it, else the large one. A frame larger than
/// the UMEM's is dropped by the kernel and counted (`rx_dropped`).
pub fn frame_size_for_mtu(mtu: u32) -> u32 {
    if mtu + L2_OVERHEAD + RX_HEADROOM <= SMALL_FRAME_SIZE {
        SMALL_FRAME_SIZE
    } else {
        FRAME_SIZE
    }
}

struct XskPort {
    ifindex: u32,
    interface: String,
    fd: RawFd,
    fill: FillQueue,
    completion: CompletionQueue,
    rx: RingRx,
    tx: RingTx,
    user: User,
    fill_target: u32,
    /// Frames given to the fill ring and not yet back through rx.
    in_fill: u32,
    /// Frames on the tx ring not yet back through the completion ring.
    in_tx: u32,
    /// Entries of the tx ring.
    tx_size: u32,
    /// The kernel's counters as last read (kept when a read fails).
    last_statistics: XskStatistics,
}

/// One worker's AF_XDP sockets, one per link, all on queue `queue`.
pub struct XdpIo {
    /// By [`PortId`]: a socket for each link, none for a VLAN
    /// sub-interface (its frames travel on its link's socket).
    ports: Vec<Option<XskPort>>,
    queue: u32,
    zero_copy: bool,
    /// Frames `recv` could not hand over (never in practice: it asks the
    /// ring for at most the batch's room); returned to the pool in `service`.
    spill: FramePool,
    sleeper: Sleeper,
    /// Owns the first socket (the UMEM registration). Dropped after `ports`.
    _registration: UmemRegistration,
    /// Dropped last: the memory outlives every socket.
    umem: Arc<Umem>,
}

impl std::fmt::Debug for XdpIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpIo")
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field(
                "ports",
                &self
                    .sockets_iter()
                    .map(|p| &p.interface)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// xdpilone's UMEM handle, kept for its descriptor (the first socket).
struct UmemRegistration(#[allow(dead_code)] xdpilone::Umem);

// SAFETY: the handle holds a pointer to the UMEM area (memory owned by the
// `Arc<Umem>` beside it, which is Send and Sync), the socket descriptor and
// a thread-safe registration set; nothing in it is tied to a thread.
unsafe impl Send for UmemRegistration {}

fn errno(what: impl Into<String>, e: Errno) -> XdpError {
    XdpError::os(what, std::io::Error::from_raw_os_error(e.get_raw().abs()))
}

/// Anonymous, populated memory for the UMEM.
fn map_umem(frame_size: u32, frame_count: u32) -> Result<Umem, XdpError> {
    let len = frame_size as usize * frame_count as usize;
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(XdpError::last_os(format!(
            "allocating {} MiB of UMEM",
            len >> 20
        )));
    }
    let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| XdpError::Invalid {
        what: "mmap returned a null UMEM".into(),
    })?;
    // SAFETY: `base` is our mapping of frame_size × frame_count bytes,
    // read-write, used only through this Umem and the kernel's rings.
    Ok(unsafe { Umem::from_mmap(base, frame_size, frame_count) })
}

impl XdpIo {
    /// Opens one AF_XDP socket on queue `config.queue` of each interface in
    /// `ifindexes` (port i = `ifindexes[i]`, the [`PortId`] of the pipeline
    /// and the `port_index` given to [`XdpProgram`]), pre-fills their fill
    /// rings and returns the worker's pool holding the rest of the frames.
    pub fn open(ifindexes: &[u32], config: &XdpIoConfig) -> Result<(XdpIo, FramePool), XdpError> {
        let links: Vec<Option<u32>> = ifindexes.iter().map(|&i| Some(i)).collect();
        XdpIo::open_links(&links, config)
    }

    /// [`XdpIo::open`] for ports some of which are VLAN sub-interfaces
    /// (`None`): sockets on the links only, port numbers kept, so port i
    /// is still the pipeline's [`PortId`] i.
    pub fn open_links(
        links: &[Option<u32>],
        config: &XdpIoConfig,
    ) -> Result<(XdpIo, FramePool), XdpError> {
        let link_count = links.iter().flatten().count();
        if link_count == 0 {
            return Err(XdpError::Invalid {
                what: "an AF_XDP worker needs at least one port".into(),
            });
        }
        if !config.ring_size.is_power_of_two() || config.frame_count < 2 * config.ring_size {
            return Err(XdpError::Invalid {
                what: format!(
                    "ring size {} must be a power of two with at least twice as many frames ({})",
                    config.ring_size, config.frame_count
                ),
            });
        }
        if config.frame_size != FRAME_SIZE && config.frame_size != SMALL_FRAME_SIZE {
            return Err(XdpError::Invalid {
                what: format!(
                    "UMEM frame size {} must be {SMALL_FRAME_SIZE} or {FRAME_SIZE}",
                    config.frame_size
                ),
            });
        }
        let umem = Arc::new(map_umem(config.frame_size, config.frame_count)?);
        let area = NonNull::slice_from_raw_parts(umem.as_ptr(), umem.len());
        let umem_config = UmemConfig {
            fill_size: config.ring_size,
            complete_size: config.ring_size,
            frame_size: config.frame_size,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: `area` is the page-aligned mapping owned by `umem`, which
        // the returned XdpIo keeps alive longer than every socket.
        let xsk_umem = unsafe { xdpilone::Umem::new(umem_config, area) }
            .map_err(|e| errno("creating the AF_XDP UMEM", e))?;

        let ring = NonZeroU32::new(config.ring_size);
        let first_flags = SocketConfig::XDP_BIND_NEED_WAKEUP
            | match config.bind {
                BindMode::Auto => 0,
                BindMode::Copy => SocketConfig::XDP_BIND_COPY,
                BindMode::ZeroCopy => SocketConfig::XDP_BIND_ZEROCOPY,
            };
        let fill_target = config
            .fill_per_port
            .unwrap_or(config.frame_count / (2 * link_count as u32))
            .min(config.ring_size);

        let mut ports = Vec::with_capacity(links.len());
        for &ifindex in links {
            let Some(ifindex) = ifindex else {
                ports.push(None);
                continue;
            };
            // The first socket registers the UMEM; the others share it.
            let first = ports.iter().all(Option::is_none);
            let interface = interface_name(ifindex);
            let mut info = IfInfo::invalid();
            info.from_ifindex(ifindex)
                .map_err(|_| XdpError::NoSuchInterface {
                    interface: interface.clone(),
                })?;
            info.set_queue(config.queue);
            let at = |step: &str| format!("{step} for {interface} queue {}", config.queue);
            let socket = if first {
                Socket::with_shared(&info, &xsk_umem)
            } else {
                Socket::new(&info)
            }
            .map_err(|e| errno(at("creating the AF_XDP socket"), e))?;
            let device = xsk_umem
                .fq_cq(&socket)
                .map_err(|e| errno(at("creating the fill and completion rings"), e))?;
            let socket_config = SocketConfig {
                rx_size: ring,
                tx_size: ring,
                // The kernel rejects any flag besides XDP_SHARED_UMEM on a
                // shared bind.
                bind_flags: if first { first_flags } else { 0 },
            };
            let user = xsk_umem
                .rx_tx(&socket, &socket_config)
                .map_err(|e| errno(at("creating the rx and tx rings"), e))?;
            let rx = user
                .map_rx()
                .map_err(|e| errno(at("mapping the rx ring"), e))?;
            let tx = user
                .map_tx()
                .map_err(|e| errno(at("mapping the tx ring"), e))?;
            xsk_umem.bind(&user).map_err(|e| {
                let what = at("binding the AF_XDP socket");
                match e.get_raw().abs() {
                    libc::EOPNOTSUPP if config.bind == BindMode::ZeroCopy => XdpError::Invalid {
                        what: format!("{what}: the driver has no zero-copy AF_XDP: use copy mode"),
                    },
                    libc::EINVAL => XdpError::Invalid {
                        what: format!(
                            "{what}: invalid argument: check that the interface has rx queue {} \
                             (`ethtool -l {interface}`){}",
                            config.queue,
                            if !first {
                                " and that all ports support the same AF_XDP mode (else force \
                                 copy mode)"
                            } else {
                                ""
                            }
                        ),
                    },
                    _ => errno(what, e),
                }
            })?;
            let fd = user.as_raw_fd();
            set_tx_budget(fd, config.ring_size);
            let (fill, completion) = device.into_parts();
            ports.push(Some(XskPort {
                ifindex,
                interface,
                fd,
                fill,
                completion,
                rx,
                tx,
                user,
                fill_target,
                in_fill: 0,
                in_tx: 0,
                tx_size: config.ring_size,
                last_statistics: XskStatistics::default(),
            }));
        }
        let zero_copy = ports
            .iter()
            .flatten()
            .next()
            .is_some_and(|p| socket_is_zero_copy(p.fd));

        // SAFETY: the UMEM is new; this pool and the (empty) spill pool are
        // the only holders of its chunks.
        let (mut pool, spill) = unsafe {
            (
                FramePool::new(&umem, 0, config.frame_count),
                FramePool::new(&umem, 0, 0),
            )
        };
        let mut io = XdpIo {
            ports,
            queue: config.queue,
            zero_copy,
            spill,
            sleeper: Sleeper::default(),
            _registration: UmemRegistration(xsk_umem),
            umem,
        };
        io.service(&mut pool);
        Ok((io, pool))
    }

    /// Registers every socket with `program` (port i, this worker's queue).
    pub fn register_with(&self, program: &XdpProgram) -> Result<(), XdpError> {
        for (port_index, queue, fd) in self.sockets() {
            program.register_socket(port_index, queue, fd)?;
        }
        Ok(())
    }

    /// (port index, queue, socket descriptor) of every socket, for the
    /// program's XSKMAP.
    pub fn sockets(&self) -> impl Iterator<Item = (u32, u32, RawFd)> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i as u32, self.queue, p.fd)))
    }

    fn sockets_iter(&self) -> impl Iterator<Item = &XskPort> {
        self.ports.iter().flatten()
    }

    fn socket(&self, port: PortId) -> Option<&XskPort> {
        self.ports.get(port as usize)?.as_ref()
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Whether the sockets run in zero-copy mode (false: copy mode).
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Interface index of `port`.
    pub fn ifindex(&self, port: PortId) -> Option<u32> {
        self.socket(port).map(|p| p.ifindex)
    }

    /// The kernel's statistics of `port`'s socket (a syscall; not per packet).
    pub fn statistics(&self, port: PortId) -> Result<XskStatistics, XdpError> {
        let Some(p) = self.socket(port) else {
            return Err(XdpError::Invalid {
                what: format!("no socket on port {port}"),
            });
        };
        let s = p
            .user
            .statistics_v2()
            .map_err(|e| errno(format!("reading statistics of {}", p.interface), e))?;
        Ok(XskStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    /// Frames the kernel holds for `port`: (in its fill ring, on its tx ring).
    pub fn in_flight(&self, port: PortId) -> Option<(u32, u32)> {
        self.socket(port).map(|p| (p.in_fill, p.in_tx))
    }
}

/// Lets one `sendto` in copy mode transmit a whole ring instead of the
/// kernel's default 32 frames (Linux >= 6.17; ignored elsewhere).
fn set_tx_budget(fd: RawFd, budget: u32) {
    let budget = budget.min(i32::MAX as u32) as libc::c_int;
    let _ = crate::io::set_int_option(&fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, budget);
}

fn socket_is_zero_copy(fd: RawFd) -> bool {
    let mut flags: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `flags` has `len` writable bytes.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            (&mut flags as *mut u32).cast(),
            &mut len,
        )
    };
    ret == 0 && flags & XDP_OPTIONS_ZEROCOPY != 0
}

mod packet_io;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_only_where_the_largest_frame_fits() {
        assert_eq!(frame_size_for_mtu(1500), SMALL_FRAME_SIZE);
        // 1770 + 14 + 2 tags + 256 headroom = 2048 exactly.
        assert_eq!(frame_size_for_mtu(1770), SMALL_FRAME_SIZE);
        assert_eq!(frame_size_for_mtu(1771), FRAME_SIZE);
        assert_eq!(frame_size_for_mtu(3000), FRAME_SIZE);
    }
}
