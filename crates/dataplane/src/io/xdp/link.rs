//! What every XDP program here shares: the attach mode, and for the
//! benchmark programs (generator, sink, redirect bound) an
//! XDP attachment held as a BPF link, per-CPU counter sums and libbpf error
//! conversion.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags};

use super::error::{interface_name, XdpError};

/// Where the XDP program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (fast; veth and most NICs support it).
    Native,
    /// On the generic skb path (any interface; slow).
    Generic,
}

impl XdpMode {
    pub(super) fn flags(self) -> u32 {
        match self {
            XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

/// A libbpf error from step `what`, on one line.
pub(super) fn bpf_error(what: impl Into<String>, e: libbpf_rs::Error) -> XdpError {
    let what = what.into();
    match e.kind() {
        libbpf_rs::ErrorKind::PermissionDenied => XdpError::Permission { what },
        libbpf_rs::ErrorKind::Unsupported => XdpError::Unsupported { what },
        _ => XdpError::Os {
            what,
            source: std::io::Error::other(e.to_string().replace('\n', "; ")),
        },
    }
}

/// Slot `slot` of a per-CPU array of u64 counters, summed over CPUs.
pub(super) fn percpu_sum(map: &impl MapCore, slot: u32, what: &str) -> Result<u64, XdpError> {
    let per_cpu = map
        .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| bpf_error(format!("reading the counters of {what}"), e))?
        .unwrap_or_default();
    Ok(per_cpu
        .iter()
        .filter_map(|v| v.get(..8))
        .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
        .sum())
}

/// An XDP program attached to one interface through a BPF link: detached by
/// [`detach`](XdpLink::detach) or on drop, and by the kernel when the
/// process dies, so nothing is left behind.
#[derive(Debug)]
pub struct XdpLink {
    fd: Option<OwnedFd>,
    interface: String,
    program: &'static str,
}

impl XdpLink {
    /// Attaches `prog` (named `program`, for messages) to `ifindex` in `mode`.
    pub(super) fn attach(
        prog: BorrowedFd<'_>,
        program: &'static str,
        ifindex: u32,
        mode: XdpMode,
    ) -> Result<XdpLink, XdpError> {
        let interface = interface_name(ifindex);
        // SAFETY: zeroed is the documented initial state of libbpf option
        // structs; `sz` is set as libbpf requires.
        let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        opts.flags = mode.flags();
        // SAFETY: a valid program descriptor and option struct.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(
                prog.as_raw_fd(),
                ifindex as i32,
                libbpf_sys::BPF_XDP,
                &opts,
            )
        };
        if fd < 0 {
            let what = format!("attaching {program} to {interface} in {} mode", mode.name());
            return Err(match -fd {
                libc::EBUSY | libc::EEXIST => XdpError::Invalid {
                    what: format!(
                        "{what}: the interface already has an XDP program: see `ip link show dev {interface}`"
                    ),
                },
                libc::EOPNOTSUPP if mode == XdpMode::Native => XdpError::Invalid {
                    what: format!("{what}: the driver has no native XDP: use generic mode"),
                },
                libc::ENODEV => XdpError::NoSuchInterface { interface },
                _ => XdpError::from_ret(what, fd),
            });
        }
        Ok(XdpLink {
            // SAFETY: a new descriptor that nothing else owns.
            fd: Some(unsafe { OwnedFd::from_raw_fd(fd) }),
            interface,
            program,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Detaches now (idempotent), not when the last copy of the link's
    /// descriptor closes (a child forked meanwhile may hold one).
    pub fn detach(&mut self) -> Result<(), XdpError> {
        let Some(fd) = self.fd.take() else {
            return Ok(());
        };
        // SAFETY: a link descriptor we own.
        let ret = unsafe { libbpf_sys::bpf_link_detach(fd.as_raw_fd()) };
        if ret < 0 && ret != -libc::EOPNOTSUPP {
            return Err(XdpError::from_ret(
                format!("detaching {} from {}", self.program, self.interface),
                ret,
            ));
        }
        Ok(())
    }
}

impl Drop for XdpLink {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            eprintln!("ferroute: {e}");
        }
    }
}
