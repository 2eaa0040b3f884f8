//! Errors of the AF_XDP backend: one line each, saying what went wrong and
//! what to do about it.

use std::fmt;
use std::io;

/// Why the XDP program or an AF_XDP socket could not be set up.
#[derive(Debug)]
pub enum XdpError {
    /// No interface of that name (or index) in this network namespace.
    NoSuchInterface { interface: String },
    /// The kernel refused for lack of privileges.
    Permission { what: String },
    /// The kernel has no AF_XDP sockets (or no XDP/BPF support).
    Unsupported { what: String },
    /// Another XDP program is attached to an interface we need.
    ForeignProgram {
        interface: String,
        name: String,
        id: u32,
        /// `xdpdrv` or `xdpgeneric`: the `ip link` keyword that removes it.
        ip_keyword: &'static str,
    },
    /// Our own program is attached by another, still running, process.
    InUse { interface: String, id: u32 },
    /// Bad arguments (port or queue out of range, ...).
    Invalid { what: String },
    /// Any other failure of a system call.
    Os { what: String, source: io::Error },
}

impl XdpError {
    /// Classifies an OS error from the step `what`.
    pub(crate) fn os(what: impl Into<String>, source: io::Error) -> XdpError {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => XdpError::Permission { what },
            Some(libc::EAFNOSUPPORT) | Some(libc::ENOSYS) | Some(libc::EPROTONOSUPPORT) => {
                XdpError::Unsupported { what }
            }
            _ => XdpError::Os { what, source },
        }
    }

    /// From a negative errno as libbpf returns it.
    pub(crate) fn from_ret(what: impl Into<String>, ret: i32) -> XdpError {
        XdpError::os(what, io::Error::from_raw_os_error(-ret))
    }

    pub(crate) fn last_os(what: impl Into<String>) -> XdpError {
        XdpError::os(what, io::Error::last_os_error())
    }
}

impl fmt::Display for XdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XdpError::NoSuchInterface { interface } => write!(
                f,
                "interface {interface:?} does not exist in this network namespace: \
                 check the name with `ip link show`"
            ),
            XdpError::Permission { what } => write!(
                f,
                "{what}: permission denied: run as root (or with CAP_NET_ADMIN, CAP_NET_RAW, \
                 CAP_BPF and CAP_IPC_LOCK)"
            ),
            XdpError::Unsupported { what } => write!(
                f,
                "{what}: this kernel has no AF_XDP/XDP support: use Linux >= 5.10 built with \
                 CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS"
            ),
            XdpError::ForeignProgram {
                interface,
                name,
                id,
                ip_keyword,
            } => write!(
                f,
                "interface {interface:?} already has another XDP program ({name:?}, id {id}): \
                 remove it with `ip link set dev {interface} {ip_keyword} off` if it is not \
                 needed"
            ),
            XdpError::InUse { interface, id } => write!(
                f,
                "interface {interface:?} is served by another running ferroute (XDP program \
                 id {id}, attached by link): stop that process first"
            ),
            XdpError::Invalid { what } => write!(f, "{what}"),
            XdpError::Os { what, source } => {
                write!(f, "{what}: {source}")?;
                if source.raw_os_error() == Some(libc::ENOMEM)
                    || source.raw_os_error() == Some(libc::ENOBUFS)
                {
                    write!(f, " (raise the locked-memory limit: `ulimit -l unlimited`)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for XdpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            XdpError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The interface index of `name` in the calling thread's network namespace.
pub fn interface_index(name: &str) -> Result<u32, XdpError> {
    let missing = || XdpError::NoSuchInterface {
        interface: name.to_string(),
    };
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(missing());
    }
    let c_name = std::ffi::CString::new(name).map_err(|_| missing())?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(missing());
    }
    Ok(index)
}

/// The name of interface `ifindex` (for messages), or the index as text.
pub fn interface_name(ifindex: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: `buf` has the IFNAMSIZ bytes `if_indextoname` may write.
    let ptr = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if ptr.is_null() {
        return format!("ifindex {ifindex}");
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
