//! The kernel side of the control plane: rtnetlink, the neighbour table the
//! FIB's adjacencies come from, the managed entries that keep next hops
//! resolved, the glean requests workers raise for unresolved ones, and the
//! TAPs that stand for VLAN sub-interfaces in the kernel (`linux_cp`).
//!
//! Only the event loop calls the parts that own sockets
//! ([`netlink::Rtnl`], [`subscription::NeighborSubscription`]); the rest is
//! plain state it feeds.

pub mod gateways;
pub mod glean;
pub mod linux_cp;
pub mod neighbor;
pub mod netlink;
pub mod subscription;
