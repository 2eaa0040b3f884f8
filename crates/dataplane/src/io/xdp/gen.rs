//! The traffic generator: bpf/gen.bpf.c run by the kernel through
//! BPF_PROG_RUN in live-frames mode (`BPF_F_TEST_XDP_LIVE_FRAMES`, Linux >=
//! 5.18), the mechanism of xdp-tools' xdp-trafficgen. One system call sends
//! a whole chunk: the kernel copies the template into page-pool frames, runs
//! the program on each (which picks the flow and redirects the frame out of
//! the interface) and transmits them in batches through the driver's XDP
//! transmit path, with no skb per frame.
//!
//! Frames leave as if the interface's driver had sent them with XDP_REDIRECT:
//! on a veth the peer must accept XDP frames (an XDP program or GRO on the
//! peer, which gives it a NAPI instance); otherwise the kernel drops them.
//!
//! Two kernel details shape this module:
//! * Each BPF_PROG_RUN of an XDP program adds it to the kernel's XDP
//!   dispatcher and removes it afterwards, and each change waits for an RCU
//!   grace period (measured: ~16 ms per call on a busy 2-core VM, which
//!   capped the generator at 1.5 Mpps). A program already in the dispatcher
//!   is only reference-counted, so the generator keeps its program attached
//!   to `lo` in generic mode for its whole life (3.5 Mpps measured).
//!   There it does nothing: frames that arrive on an interface carry no XDP
//!   metadata, generated frames carry [`META_LEN`] bytes of it, and the
//!   program passes anything without.
//! * Page-pool pages are recycled without resetting their bytes, so the
//!   program rewrites the headers of every frame (see bpf/gen.bpf.c).

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::OpenObject;

use super::error::{interface_index, XdpError};
use super::link::{bpf_error, percpu_sum, XdpLink, XdpMode};
use crate::io::packet_tx::FlowFrames;

#[allow(clippy::all, clippy::pedantic)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/gen.skel.rs"));
}
use skel::{GenSkel, GenSkelBuilder};

/// The generator program's name, as the kernel shows it.
pub const GEN_PROGRAM_NAME: &str = "ferroute_gen";
/// The XDP action the generator returns for every frame it sends.
pub const XDP_REDIRECT: u32 = 4;

/// Frames per batch of a live-frames run, the kernel's maximum: the run's
/// page pool holds this many pages, and frames still in flight downstream
/// (veth rings hold 256) beyond it are freed and reallocated instead of
/// recycled (64, the default, measured 2.2 Mpps; 256, 3.2–3.7 Mpps).
const BATCH_SIZE: u32 = 256;

/// Bytes of XDP metadata before each generated frame: how the program tells
/// its own frames from frames arriving on an interface it is attached to.
const META_LEN: usize = 4;

const C_GENERATED: u32 = 0;
const C_TRUNCATED: u32 = 1;

/// The loaded generator program for one interface and one set of flows.
pub struct Generator<'obj> {
    /// The program attached (doing nothing) to `lo`, or why it is not.
    /// Declared first: detached before the program is closed.
    holder: Result<XdpLink, XdpError>,
    skel: GenSkel<'obj>,
    /// Metadata (zeros) followed by the template frame.
    data_in: Vec<u8>,
    template: Vec<u8>,
    ifindex: u32,
    flows: u32,
    base_port: u16,
    udp_offset: usize,
}

impl std::fmt::Debug for Generator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("ifindex", &self.ifindex)
            .field("frame_len", &self.template.len())
            .finish()
    }
}

/// What the generator sends: `template`'s headers, once per flow, with UDP
/// source port `base_port + flow` (`crate::traffic::UdpTraffic` describes
/// such traffic and builds this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorTraffic {
    /// The frame of flow 0; its headers up to the end of the UDP header are
    /// what the program writes into every frame.
    pub template: Vec<u8>,
    pub flows: u32,
    pub base_port: u16,
    /// Where the UDP header starts in the frame.
    pub udp_offset: usize,
    /// IPv6: a zero UDP checksum is not "no checksum" (RFC 8200).
    pub ipv6: bool,
}

impl<'obj> Generator<'obj> {
    /// Loads the program configured for `traffic`, sending out of `ifindex`
    /// (an interface of the calling thread's network namespace).
    pub fn load(
        storage: &'obj mut MaybeUninit<OpenObject>,
        ifindex: u32,
        traffic: &GeneratorTraffic,
    ) -> Result<Generator<'obj>, XdpError> {
        let mut open = GenSkelBuilder::default()
            .open(storage)
            .map_err(|e| bpf_error("opening the generator program", e))?;
        let config = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| XdpError::Invalid {
                what: "the generator program has no configuration section".into(),
            })?;
        config.ifindex = ifindex;
        config.flows = traffic.flows;
        config.base_port = traffic.base_port;
        config.udp_offset = traffic.udp_offset as u32;
        config.checksum_zero_is_none = u8::from(!traffic.ipv6);
        let template = traffic.template.clone();
        let header_len = traffic.udp_offset + 8;
        let headers = open
            .maps
            .bss_data
            .as_deref_mut()
            .ok_or_else(|| XdpError::Invalid {
                what: "the generator program has no header section".into(),
            })?;
        match (
            headers.headers.get_mut(..header_len),
            template.get(..header_len),
        ) {
            (Some(to), Some(from)) => to.copy_from_slice(from),
            _ => {
                return Err(XdpError::Invalid {
                    what: format!("headers of {header_len} bytes do not fit the generator"),
                })
            }
        }
        let skel = open
            .load()
            .map_err(|e| bpf_error("loading the generator program into the kernel", e))?;
        let mut data_in = vec![0u8; META_LEN];
        data_in.extend_from_slice(&template);
        // Keep the program in the kernel's XDP dispatcher for as long as
        // it lives (see `hold_dispatcher`); without it every send pays two
        // RCU grace periods.
        let holder = interface_index("lo").and_then(|lo| {
            XdpLink::attach(
                skel.progs.ferroute_gen.as_fd(),
                GEN_PROGRAM_NAME,
                lo,
                XdpMode::Generic,
            )
        });
        Ok(Generator {
            holder,
            skel,
            data_in,
            template,
            ifindex,
            flows: traffic.flows,
            base_port: traffic.base_port,
            udp_offset: traffic.udp_offset,
        })
    }

    /// Why the program could not be kept in the XDP dispatcher, if it could
    /// not: then every [`send`](Self::send) waits for two RCU grace periods
    /// (milliseconds on a busy machine), which caps the rate of small chunks.
    pub fn dispatcher_warning(&self) -> Option<String> {
        self.holder.as_ref().err().map(|e| {
            format!(
                "could not park {GEN_PROGRAM_NAME} on lo ({e}): each chunk of frames will wait                  for RCU grace periods"
            )
        })
    }

    /// Frames of the template's size.
    pub fn frame_len(&self) -> usize {
        self.template.len()
    }

    /// Runs the program `count` times in live-frames mode: returns once the
    /// kernel has sent (or, where the interface's transmit ring was full,
    /// dropped) `count` frames. Signals blocked by the caller do not
    /// interrupt it: keep `count` to a few milliseconds' worth.
    pub fn send(&self, count: u32) -> Result<(), XdpError> {
        if count == 0 {
            return Ok(());
        }
        let mut ctx = self.context();
        // SAFETY: zeroed options with `sz` set, as libbpf requires.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = self.data_in.as_ptr().cast();
        opts.data_size_in = self.data_in.len() as u32;
        opts.ctx_in = (&mut ctx as *mut skel::types::xdp_md).cast();
        opts.ctx_size_in = std::mem::size_of::<skel::types::xdp_md>() as u32;
        opts.repeat = count.min(i32::MAX as u32) as i32;
        opts.flags = libbpf_sys::BPF_F_TEST_XDP_LIVE_FRAMES;
        opts.batch_size = BATCH_SIZE;
        let fd = self.skel.progs.ferroute_gen.as_fd().as_raw_fd();
        // SAFETY: the options point at the template and the context, both
        // alive and unaliased for the call; no output buffers.
        let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd, &mut opts) };
        if ret < 0 {
            let what = format!("sending {count} frames (BPF_PROG_RUN, live frames)");
            return Err(match -ret {
                libc::EINVAL => XdpError::Invalid {
                    what: format!(
                        "{what}: invalid argument: live-frames mode needs Linux >= 5.18 \
                         and frames smaller than a page"
                    ),
                },
                _ => XdpError::from_ret(what, ret),
            });
        }
        Ok(())
    }

    /// Why the kernel refuses live frames altogether, if `error` (from
    /// [`send`](Self::send)) says it does, rather than failing this one
    /// send: EPERM/EACCES (e.g. CAP_SYS_RESOURCE missing from the bounding
    /// set, even for root) or EOPNOTSUPP.
    pub fn live_frames_refusal(error: &XdpError) -> Option<&'static str> {
        match error {
            XdpError::Permission { .. } => Some(
                "BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: permission denied; the kernel \
                 may want capabilities this process cannot have, such as CAP_SYS_RESOURCE",
            ),
            XdpError::Os { source, .. } if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                Some("BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: not supported")
            }
            _ => None,
        }
    }

    /// Runs the program once on a copy of the template without sending
    /// anything (plain test mode): the action it returned and the frame it
    /// produced. The flow sequence advances as for a sent frame.
    pub fn dry_run(&self) -> Result<(u32, Vec<u8>), XdpError> {
        let mut out = vec![0u8; self.data_in.len()];
        let mut ctx = self.context();
        // SAFETY: zeroed options with `sz` set, as libbpf requires.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = self.data_in.as_ptr().cast();
        opts.data_size_in = self.data_in.len() as u32;
        opts.data_out = out.as_mut_ptr().cast();
        opts.data_size_out = out.len() as u32;
        opts.ctx_in = (&mut ctx as *mut skel::types::xdp_md).cast();
        opts.ctx_size_in = std::mem::size_of::<skel::types::xdp_md>() as u32;
        opts.repeat = 1;
        let fd = self.skel.progs.ferroute_gen.as_fd().as_raw_fd();
        // SAFETY: input and output buffers are valid for their sizes and
        // alive for the call.
        let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd, &mut opts) };
        if ret < 0 {
            return Err(XdpError::from_ret(
                "running the generator program (BPF_PROG_RUN)",
                ret,
            ));
        }
        // The output starts at the metadata.
        out.truncate(opts.data_size_out as usize);
        let frame = out.get(META_LEN..).unwrap_or_default().to_vec();
        Ok((opts.retval, frame))
    }

    /// The frame the program produces for each flow, in flow order, from
    /// [`dry_run`](Self::dry_run)s: what `ferroute gen` sends through an
    /// AF_PACKET socket where live frames are refused. The flow sequence is
    /// per CPU, so each frame is placed by its UDP source port; the runs
    /// continue (bounded) until every flow has its frame.
    pub fn flow_frames(&self) -> Result<FlowFrames, XdpError> {
        let flows = self.flows as usize;
        let mut frames = FlowFrames::zeroed(flows, self.template.len());
        let mut missing = flows;
        let mut seen = vec![false; flows];
        let mut runs = 0usize;
        let limit = 4 * flows + 64;
        while missing > 0 {
            if runs == limit {
                return Err(XdpError::Invalid {
                    what: format!(
                        "{runs} runs of the generator program gave frames of only \
                         {} of {flows} flows",
                        flows - missing
                    ),
                });
            }
            runs += 1;
            let (action, frame) = self.dry_run()?;
            let port = frame
                .get(self.udp_offset..self.udp_offset + 2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            let flow = port.map(|p| p.wrapping_sub(self.base_port) as usize);
            match flow {
                Some(flow)
                    if action == XDP_REDIRECT
                        && flow < flows
                        && frame.len() == frames.frame_len() =>
                {
                    if !seen[flow] {
                        seen[flow] = true;
                        missing -= 1;
                        frames.frame_mut(flow).copy_from_slice(&frame);
                    }
                }
                _ => {
                    return Err(XdpError::Invalid {
                        what: format!(
                            "the generator program returned action {action} and a frame of \
                             {} bytes (source port {port:?})",
                            frame.len()
                        ),
                    })
                }
            }
        }
        Ok(frames)
    }

    /// Frames the program has handled so far (sent or dropped on the way out).
    pub fn generated(&self) -> Result<u64, XdpError> {
        percpu_sum(&self.skel.maps.counters, C_GENERATED, GEN_PROGRAM_NAME)
    }

    /// Frames the program refused as too short for their UDP header (never,
    /// with a template from `UdpTraffic`).
    pub fn truncated(&self) -> Result<u64, XdpError> {
        percpu_sum(&self.skel.maps.counters, C_TRUNCATED, GEN_PROGRAM_NAME)
    }

    fn context(&self) -> skel::types::xdp_md {
        skel::types::xdp_md {
            data: META_LEN as u32,
            data_end: self.data_in.len() as u32,
            data_meta: 0,
            ingress_ifindex: self.ifindex,
            rx_queue_index: 0,
            egress_ifindex: 0,
        }
    }
}
