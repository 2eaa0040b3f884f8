//! Interface addresses over rtnetlink (`ip address add`), for the TAPs of
//! VLAN sub-interfaces (`kernel::linux_cp`), which carry the
//! sub-interface's addresses in the kernel.

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::{family, NetlinkError, Rtnl};

/// `ip address replace NET dev IFINDEX` (IPv6 with `nodad`: the address is
/// the configuration's, usable at once, not a guess to be checked).
pub(super) fn address_request(ifindex: u32, net: IpNet) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(net.addr());
    msg.header.prefix_len = net.prefix_len();
    msg.header.index = ifindex;
    msg.attributes.push(AddressAttribute::Local(net.addr()));
    msg.attributes.push(AddressAttribute::Address(net.addr()));
    if let IpNet::V4(v4) = net {
        if v4.prefix_len() < 31 {
            msg.attributes
                .push(AddressAttribute::Broadcast(v4.broadcast()));
        }
    }
    if net.addr().is_ipv6() {
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    msg
}

impl Rtnl {
    /// Gives interface `ifindex` the address `net` (kept if it has it).
    pub fn add_address(&mut self, ifindex: u32, net: IpNet) -> Result<(), NetlinkError> {
        let request = RouteNetlinkMessage::NewAddress(address_request(ifindex, net));
        self.transact(
            "address add",
            request,
            NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
        )
        .map(|_| ())
    }
}
