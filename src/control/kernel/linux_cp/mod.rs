//! VLAN sub-interfaces in the kernel, in the model of VPP's linux-cp: a TAP
//! per sub-interface, named after it, with its MAC, MTU and addresses, so
//! the kernel keeps doing for the sub-interface what it does for a port
//! (ARP/ND, its addresses, ICMP to them, OSPF/BGP sockets bound to it), and
//! its neighbours (learnt on the TAP, whose index stands for the
//! sub-interface) reach the FIB as any port's do. The punt thread
//! ([`punt`]) carries that VLAN's frames between the wire and the TAP.
//!
//! Needs no 802.1Q support in the kernel (this machine has none); the TAPs
//! are not persistent, so they go with the process however it ends.

mod punt;
mod tap;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ipnet::IpNet;

use crate::control::kernel::netlink::Rtnl;
use crate::fib::PortId;
use crate::wire::MacAddr;
pub use punt::PuntCounters;
use punt::{LinkSocket, TapEnd};
use tap::Tap;

/// A VLAN sub-interface to stand for in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubInterface {
    pub port: PortId,
    /// The port of the link carrying it.
    pub link: PortId,
    /// The TAP's name (the port's interface name).
    pub interface: String,
    /// The link carrying the VLAN: its interface index, name and MAC.
    pub link_ifindex: u32,
    pub link_interface: String,
    pub link_mac: MacAddr,
    pub vid: u16,
    pub mac: MacAddr,
    pub mtu: u16,
    pub addresses: Vec<IpNet>,
}

/// The TAPs of the VLAN sub-interfaces and, once started, the punt thread.
/// Dropping it stops the thread and removes every TAP.
#[derive(Debug)]
pub struct LinuxCp {
    subs: Vec<SubInterface>,
    /// The TAPs until [`LinuxCp::start`] hands them to the thread.
    taps: Vec<Tap>,
    ifindexes: Vec<u32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<PuntCounters>,
}

impl LinuxCp {
    /// Creates and configures a TAP per sub-interface (none are left
    /// behind on error: those made so far close with the returned error).
    pub fn create(subs: Vec<SubInterface>) -> io::Result<LinuxCp> {
        let mut taps = Vec::with_capacity(subs.len());
        if !subs.is_empty() {
            let mut rtnl = Rtnl::open().map_err(io::Error::other)?;
            for s in &subs {
                let tap = tap::create(&s.interface, s.mac, s.mtu, &s.addresses, &mut rtnl)
                    .map_err(|e| io::Error::new(e.kind(), format!("port {}: {e}", s.interface)))?;
                taps.push(tap);
            }
        }
        Ok(LinuxCp {
            ifindexes: taps.iter().map(|t| t.ifindex).collect(),
            subs,
            taps,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            counters: Arc::new(PuntCounters::default()),
        })
    }

    /// The interface index of `port`'s TAP, if it is a sub-interface.
    pub fn ifindex(&self, port: PortId) -> Option<u32> {
        let i = self.subs.iter().position(|s| s.port == port)?;
        self.ifindexes.get(i).copied()
    }

    /// The TAPs' names.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.subs.iter().map(|s| s.interface.as_str())
    }

    /// Opens a punt socket on every link with sub-interfaces and starts
    /// the thread carrying frames between them and the TAPs. Without
    /// sub-interfaces, does nothing.
    pub fn start(&mut self) -> io::Result<()> {
        if self.taps.is_empty() || self.thread.is_some() {
            return Ok(());
        }
        let mut links: Vec<LinkSocket> = Vec::new();
        let mut ends = Vec::with_capacity(self.taps.len());
        for (s, tap) in self.subs.iter().zip(self.taps.drain(..)) {
            let link = match links.iter().position(|l| l.ifindex() == s.link_ifindex) {
                Some(i) => i,
                None => {
                    links.push(LinkSocket::open(s.link_ifindex, &s.link_interface)?);
                    links.len() - 1
                }
            };
            if s.mac != s.link_mac {
                links[link].accept_mac(s.mac)?;
            }
            ends.push(TapEnd {
                tap,
                link,
                vid: s.vid,
            });
        }
        let (stop, counters) = (self.stop.clone(), self.counters.clone());
        let thread = std::thread::Builder::new()
            .name("ferroute-punt".into())
            .spawn(move || punt::run(links, ends, stop, counters))?;
        self.thread = Some(thread);
        Ok(())
    }

    /// What the punt thread carried so far.
    pub fn counters(&self) -> &Arc<PuntCounters> {
        &self.counters
    }

    /// Stops the thread (its TAPs close with it) and closes the TAPs not
    /// handed over; idempotent.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.taps.clear();
    }
}

impl Drop for LinuxCp {
    fn drop(&mut self) {
        self.stop();
    }
}
