//! What the kernel has attached to an interface, and removal of a stale
//! `ferroute_xdp` left there by a crashed run.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;

use super::error::{interface_name, XdpError};
use super::link::XdpMode;

/// An XDP program attached to an interface, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProgram {
    pub id: u32,
    pub name: String,
    pub mode: XdpMode,
}

/// The XDP programs attached to interface `ifindex` (in the calling thread's
/// namespace), in any mode.
pub fn attached_programs(ifindex: u32) -> Result<Vec<AttachedProgram>, XdpError> {
    // SAFETY: zeroed options with `sz` set, as libbpf requires.
    let mut opts: libbpf_sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _;
    // SAFETY: valid options struct.
    let ret = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if ret < 0 {
        if -ret == libc::ENODEV {
            return Err(XdpError::NoSuchInterface {
                interface: format!("ifindex {ifindex}"),
            });
        }
        return Err(XdpError::from_ret(
            format!("querying the XDP programs of {}", interface_name(ifindex)),
            ret,
        ));
    }
    let mut found = Vec::new();
    for (id, mode) in [
        (opts.drv_prog_id, XdpMode::Native),
        (opts.skb_prog_id, XdpMode::Generic),
    ] {
        if id == 0 {
            continue;
        }
        if let Some(name) = program_name(id)? {
            found.push(AttachedProgram { id, name, mode });
        }
    }
    Ok(found)
}

/// The name of BPF program `id`, or None if it is gone.
fn program_name(id: u32) -> Result<Option<String>, XdpError> {
    // SAFETY: plain syscall wrapper.
    let fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) };
    if fd == -libc::ENOENT {
        return Ok(None);
    }
    if fd < 0 {
        return Err(XdpError::from_ret(
            format!("inspecting BPF program {id}"),
            fd,
        ));
    }
    // SAFETY: a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: bpf_prog_info is plain data; zero is its initial state.
    let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` has `len` writable bytes.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    if ret < 0 {
        return Err(XdpError::from_ret(
            format!("inspecting BPF program {id}"),
            ret,
        ));
    }
    let name: Vec<u8> = info
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(Some(String::from_utf8_lossy(&name).into_owned()))
}

/// Removes a program called `ours` left on `ifindex` by a crashed run;
/// refuses to touch anyone else's program.
pub(super) fn remove_stale(ifindex: u32, interface: &str, ours: &str) -> Result<(), XdpError> {
    for program in attached_programs(ifindex)? {
        if program.name != ours {
            return Err(XdpError::ForeignProgram {
                interface: interface.to_string(),
                name: program.name,
                id: program.id,
                ip_keyword: match program.mode {
                    XdpMode::Native => "xdpdrv",
                    XdpMode::Generic => "xdpgeneric",
                },
            });
        }
        // SAFETY: plain syscall wrapper.
        let old_fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(program.id) };
        if old_fd < 0 {
            continue; // gone meanwhile
        }
        // SAFETY: a new descriptor that nothing else owns.
        let old_fd = unsafe { OwnedFd::from_raw_fd(old_fd) };
        // SAFETY: zeroed options with `sz` set, as libbpf requires.
        let mut opts: libbpf_sys::bpf_xdp_attach_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _;
        opts.old_prog_fd = old_fd.as_raw_fd();
        let flags = program.mode.flags() | libbpf_sys::XDP_FLAGS_REPLACE;
        // SAFETY: valid options; REPLACE removes exactly the program we inspected.
        let ret = unsafe { libbpf_sys::bpf_xdp_detach(ifindex as i32, flags, &opts) };
        if ret == -libc::EBUSY {
            // Attached through a link, which a live process holds.
            return Err(XdpError::InUse {
                interface: interface.to_string(),
                id: program.id,
            });
        }
        if ret < 0 {
            return Err(XdpError::from_ret(
                format!("removing the stale {ours} from {interface}"),
                ret,
            ));
        }
    }
    Ok(())
}
