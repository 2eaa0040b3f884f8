//! The control plane's link to the kernel: rtnetlink neighbour state, and the
//! neighbours that matter to the router.

pub mod neighbor;
pub mod netlink;
pub mod subscription;
