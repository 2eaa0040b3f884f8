//! The forwarding benchmark's upper bound: bpf/redirect.bpf.c on the ingress
//! interface rewrites the Ethernet addresses of every unicast IP frame and
//! redirects it to one egress interface through a devmap. No lookup, no TTL:
//! the cost of the XDP redirect path alone.

use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::error::XdpError;
use super::link::{bpf_error, percpu_sum, XdpLink, XdpMode};
use crate::wire::MacAddr;

#[allow(clippy::all, clippy::pedantic)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/redirect.skel.rs"));
}
use skel::{RedirectSkel, RedirectSkelBuilder};

/// The redirect program's name, as the kernel shows it.
pub const REDIRECT_PROGRAM_NAME: &str = "ferroute_redirect";

const C_REDIRECTED: u32 = 0;
const C_PASSED: u32 = 1;

/// Where the redirect program sends frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectRoute {
    pub ingress_ifindex: u32,
    pub egress_ifindex: u32,
    /// Destination MAC written into every redirected frame (the next hop).
    pub dst_mac: MacAddr,
    /// Source MAC written into every redirected frame (the egress port's).
    pub src_mac: MacAddr,
}

/// What the redirect program did, summed over CPUs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RedirectCounters {
    pub redirected: u64,
    /// Group-addressed, not IP, too short, or the redirect failed: passed to
    /// the kernel.
    pub passed: u64,
}

/// The redirect program, attached until dropped or detached.
pub struct RedirectBound<'obj> {
    // Field order: the link goes before the program it attaches.
    link: XdpLink,
    skel: RedirectSkel<'obj>,
}

impl std::fmt::Debug for RedirectBound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectBound")
            .field("link", &self.link)
            .finish()
    }
}

impl<'obj> RedirectBound<'obj> {
    /// Loads the program for `route` and attaches it to the ingress
    /// interface (interfaces of the calling thread's namespace).
    pub fn attach(
        storage: &'obj mut MaybeUninit<OpenObject>,
        route: &RedirectRoute,
        mode: XdpMode,
    ) -> Result<RedirectBound<'obj>, XdpError> {
        let mut open = RedirectSkelBuilder::default()
            .open(storage)
            .map_err(|e| bpf_error("opening the redirect program", e))?;
        let config = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| XdpError::Invalid {
                what: "the redirect program has no configuration section".into(),
            })?;
        config.dst_mac = route.dst_mac.0;
        config.src_mac = route.src_mac.0;
        let skel = open
            .load()
            .map_err(|e| bpf_error("loading the redirect program into the kernel", e))?;
        skel.maps
            .egress
            .update(
                &0u32.to_ne_bytes(),
                &route.egress_ifindex.to_ne_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| bpf_error("setting the redirect program's egress interface", e))?;
        let link = XdpLink::attach(
            skel.progs.ferroute_redirect.as_fd(),
            REDIRECT_PROGRAM_NAME,
            route.ingress_ifindex,
            mode,
        )?;
        Ok(RedirectBound { link, skel })
    }

    pub fn counters(&self) -> Result<RedirectCounters, XdpError> {
        let map = &self.skel.maps.counters;
        Ok(RedirectCounters {
            redirected: percpu_sum(map, C_REDIRECTED, REDIRECT_PROGRAM_NAME)?,
            passed: percpu_sum(map, C_PASSED, REDIRECT_PROGRAM_NAME)?,
        })
    }

    pub fn detach(&mut self) -> Result<(), XdpError> {
        self.link.detach()
    }
}
