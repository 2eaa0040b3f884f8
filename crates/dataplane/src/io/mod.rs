//! Packet backends. The forwarding pipeline (`forward/`) never touches these:
//! a backend delivers received frames to it and carries away what it sends,
//! so the same pipeline runs over every backend.
//!
//! * [`packet::PacketIo`]: the interface of live backends — per-port receive
//!   and transmit in batches over one [`umem::Umem`] per worker, frames passed
//!   around as unique [`umem::Frame`] tokens (no copies).
//! * [`loopback`]: an in-memory `PacketIo` for tests and benchmarks.
//! * [`pcap`]: capture files (classic pcap and pcapng in, classic pcap out),
//!   used by `ferroute replay` and by tests.
//! * [`emit::Emit`]: how the pipeline borrows a transmit buffer for frames
//!   it creates; every backend implements it.
//! * [`memory`]: an in-memory transmit collector implementing [`Emit`] for
//!   tests and replay (it allocates; it is not a fast path).
//!
//! * [`packet_tx`]: prepared frames sent through an AF_PACKET socket
//!   (`ferroute gen` where XDP live frames are refused).
//!
//! The AF_XDP backend lives here too. `io/` is the only place in the crate
//! where `unsafe` is expected, each block with a `// SAFETY:` note.

pub mod emit;
pub mod loopback;
pub mod memory;
pub mod packet;
pub mod packet_tx;
pub mod pcap;
pub mod umem;
pub mod xdp;

use std::os::fd::AsRawFd;

/// Sets an integer socket option (one a socket library may not offer):
/// the project's one way of doing so, for the AF_PACKET, AF_XDP and
/// control-plane sockets alike.
pub fn set_int_option(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: a descriptor the caller holds and a pointer to a c_int of
    // the size passed; the kernel copies it.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub use emit::{Emit, MIN_EMIT_BUFFER};
pub use loopback::LoopbackIo;
pub use memory::{EmittedFrame, MemoryTx};
pub use packet::{PacketIo, SocketDrops};
pub use pcap::{CapturedFrame, PcapError, PcapReader, PcapWriter};
pub use umem::{Frame, FrameBatch, FramePool, Umem};
