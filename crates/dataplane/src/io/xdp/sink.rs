//! The benchmark sink: bpf/sink.bpf.c attached to one interface counts every
//! frame per CPU and drops it. The hosts' own chatter passes to the kernel
//! uncounted (group-addressed frames, ARP, ICMPv6 including MLD), so the
//! host still resolves addresses and a benchmark counts only its traffic.
//! The counters are read from user space; nothing is copied to it.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::OpenObject;

use super::error::XdpError;
use super::link::{bpf_error, percpu_sum, XdpLink, XdpMode};

#[allow(clippy::all, clippy::pedantic)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/sink.skel.rs"));
}
use skel::{SinkSkel, SinkSkelBuilder};

/// The sink program's name, as the kernel shows it.
pub const SINK_PROGRAM_NAME: &str = "ferroute_sink";

const C_DROPPED_PACKETS: u32 = 0;
const C_DROPPED_BYTES: u32 = 1;
const C_PASSED_PACKETS: u32 = 2;

/// What the sink has seen since it was attached, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SinkCounters {
    /// Frames counted and dropped.
    pub packets: u64,
    /// Their bytes (without FCS).
    pub bytes: u64,
    /// Group-addressed, ARP and ICMPv6 frames passed to the kernel (not
    /// counted above).
    pub passed: u64,
}

impl SinkCounters {
    /// What arrived between `earlier` and `self`.
    pub fn since(&self, earlier: &SinkCounters) -> SinkCounters {
        SinkCounters {
            packets: self.packets.saturating_sub(earlier.packets),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            passed: self.passed.saturating_sub(earlier.passed),
        }
    }
}

/// The sink program, attached until dropped or [`detach`](Sink::detach)ed.
pub struct Sink<'obj> {
    // Field order: the link goes before the program it attaches.
    link: XdpLink,
    skel: SinkSkel<'obj>,
}

impl std::fmt::Debug for Sink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("link", &self.link).finish()
    }
}

impl<'obj> Sink<'obj> {
    /// Loads the sink and attaches it to `ifindex` (of the calling thread's
    /// network namespace) in `mode`.
    pub fn attach(
        storage: &'obj mut MaybeUninit<OpenObject>,
        ifindex: u32,
        mode: XdpMode,
    ) -> Result<Sink<'obj>, XdpError> {
        let skel = SinkSkelBuilder::default()
            .open(storage)
            .map_err(|e| bpf_error("opening the sink program", e))?
            .load()
            .map_err(|e| bpf_error("loading the sink program into the kernel", e))?;
        let link = XdpLink::attach(
            skel.progs.ferroute_sink.as_fd(),
            SINK_PROGRAM_NAME,
            ifindex,
            mode,
        )?;
        Ok(Sink { link, skel })
    }

    pub fn interface(&self) -> &str {
        self.link.interface()
    }

    pub fn counters(&self) -> Result<SinkCounters, XdpError> {
        let map = &self.skel.maps.counters;
        Ok(SinkCounters {
            packets: percpu_sum(map, C_DROPPED_PACKETS, SINK_PROGRAM_NAME)?,
            bytes: percpu_sum(map, C_DROPPED_BYTES, SINK_PROGRAM_NAME)?,
            passed: percpu_sum(map, C_PASSED_PACKETS, SINK_PROGRAM_NAME)?,
        })
    }

    /// Detaches the program now (idempotent); the counters stay readable.
    pub fn detach(&mut self) -> Result<(), XdpError> {
        self.link.detach()
    }
}
