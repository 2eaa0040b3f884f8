//! The control plane's link to the kernel: rtnetlink neighbour state.

pub mod netlink;
pub mod subscription;
