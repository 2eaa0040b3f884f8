//! Packet backends. The forwarding pipeline (`forward/`) never touches these:
//! a backend delivers received frames to it and carries away what it sends,
//! so the same pipeline runs over every backend.
//!
//! * [`pcap`]: capture files (classic pcap and pcapng in, classic pcap out),
//!   used by `ferroute replay` and by tests.
//! * [`memory`]: an in-memory transmit collector implementing
//!   [`forward::Emit`](crate::forward::Emit) for tests and replay (it
//!   allocates; it is not a fast path).
//!
//! The AF_XDP backend (UMEM, fill/completion/rx/tx rings, need_wakeup) will
//! live here too, behind the same small interface; it is the only place in
//! the crate where `unsafe` is expected, each block with a `// SAFETY:` note.

pub mod memory;
pub mod pcap;

pub use memory::{EmittedFrame, MemoryTx};
pub use pcap::{CapturedFrame, PcapError, PcapReader, PcapWriter};
