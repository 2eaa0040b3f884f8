//! The AF_XDP backend: the XDP program that steers frames (`program`) and
//! the worker's sockets that carry them (`socket`).
//!
//! ```text
//!  NIC A queue q ─► ferroute_xdp ─► XSKMAP[A·64+q] ─► XdpIo(q).recv(A) ─┐ same UMEM
//!                    └─ XDP_PASS (ARP, ND, local, group, not IP) ─► kernel │ frame
//!  NIC B queue q ◄──────────────────────────────── XdpIo(q).send(B) ◄───┘
//! ```
//!
//! Start-up, from a thread inside the router's network namespace:
//! [`XdpProgram::load`] (attaches to every port), then per worker
//! [`XdpIo::open`] and [`XdpIo::register_with`]. Drop (or
//! [`XdpProgram::detach`]) removes the program from every interface.
//!
//! The benchmark's programs live here too: the traffic generator
//! ([`Generator`], BPF_PROG_RUN live frames), the counting [`Sink`] and the
//! blind-forwarding upper bound ([`RedirectBound`]).

mod error;
mod gen;
mod link;
mod program;
mod query;
mod redirect;
mod sink;
mod socket;
mod wait;
mod xsk_stats;

pub use error::{interface_index, interface_name, XdpError};
pub use gen::{Generator, GeneratorTraffic, GEN_PROGRAM_NAME, XDP_REDIRECT};
pub use link::{XdpLink, XdpMode};
pub use program::{
    XdpCounters, XdpPort, XdpProgram, XdpVlan, MAX_PORTS, MAX_QUEUES, PORT_SLOTS, PROGRAM_NAME,
};
pub use query::{attached_programs, AttachedProgram};
pub use redirect::{RedirectBound, RedirectCounters, RedirectRoute, REDIRECT_PROGRAM_NAME};
pub use sink::{Sink, SinkCounters, SINK_PROGRAM_NAME};
pub use socket::{
    frame_size_for_mtu, BindMode, XdpIo, XdpIoConfig, DEFAULT_FRAMES, DEFAULT_RING_SIZE,
    FRAME_SIZE, SMALL_FRAME_SIZE,
};
pub use wait::set_fifo_priority;
pub use xsk_stats::XskStatistics;

/// The compiled router program (tests load it outside `XdpProgram`).
#[doc(hidden)]
pub const PROGRAM_OBJECT: &str = concat!(env!("OUT_DIR"), "/ferroute.bpf.o");

// Workers open their sockets in the router's namespace and may then move
// them; the daemon moves the program to its control thread.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<XdpIo>();
    is_send::<XdpProgram>();
};
