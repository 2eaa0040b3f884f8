//! The next hops the control thread keeps resolved ahead of traffic.
//!
//! Every neighbour address a route's next-hop group depends on — a static
//! route's gateway, a link-state first hop, the connected neighbour a BGP
//! next hop resolves to — gets a managed kernel entry (`NTF_EXT_MANAGED`),
//! so the kernel resolves it before the first packet needs it and keeps it
//! fresh. Without one, the first packets towards a new next hop would be
//! dropped while gleaning resolves it. Addresses with a static neighbour
//! need nothing; addresses outside every connected subnet cannot be
//! resolved on a link (the RIB never uses them as a neighbour).

use std::net::IpAddr;

use super::neighbor::NeighborTable;

/// A managed entry this thread created or adopted (and removes at stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManagedEntry {
    pub ifindex: u32,
    pub address: IpAddr,
}

/// At most this many route gateways are kept as managed entries (the
/// lowest addresses first); more would mean a misconfiguration, and the
/// rest still resolve on demand (gleaning).
pub const MAX_ROUTE_GATEWAYS: usize = 1024;

/// The managed entries `addresses` (the RIB's gateways) call for, sorted.
pub fn wanted(
    table: &NeighborTable,
    addresses: impl IntoIterator<Item = IpAddr>,
) -> Vec<ManagedEntry> {
    let mut entries: Vec<ManagedEntry> = addresses
        .into_iter()
        .filter(|a| !table.has_static(*a))
        .filter_map(|address| {
            table.connected_port(address).map(|p| ManagedEntry {
                ifindex: p.ifindex,
                address,
            })
        })
        .collect();
    entries.sort_unstable();
    entries.dedup();
    entries.truncate(MAX_ROUTE_GATEWAYS);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::kernel::neighbor::PortBinding;
    use crate::fib::StaticNeighbor;

    fn table() -> NeighborTable {
        let port = |port, ifindex, subnet: &str| PortBinding {
            port,
            ifindex,
            subnets: vec![subnet.parse().unwrap()],
        };
        let statics = [StaticNeighbor {
            address: "203.0.113.2".parse().unwrap(),
            mac: "02:00:00:00:01:02".parse().unwrap(),
            port: 1,
        }];
        NeighborTable::new(
            vec![port(0, 7, "192.0.2.0/24"), port(1, 9, "203.0.113.0/24")],
            &statics,
        )
    }

    fn entry(ifindex: u32, address: &str) -> ManagedEntry {
        ManagedEntry {
            ifindex,
            address: address.parse().unwrap(),
        }
    }

    #[test]
    fn on_link_gateways_without_static_neighbours_are_wanted_once() {
        let addrs = [
            "203.0.113.9",
            "192.0.2.10",
            "203.0.113.2",
            "198.51.100.1",
            "192.0.2.10",
        ];
        let got = wanted(&table(), addrs.iter().map(|a| a.parse().unwrap()));
        // 203.0.113.2 has a static neighbour; 198.51.100.1 is on no link.
        assert_eq!(got, [entry(7, "192.0.2.10"), entry(9, "203.0.113.9")]);
    }

    #[test]
    fn the_number_of_entries_is_bounded() {
        let many =
            (0..=255u8).flat_map(|a| (0..8u8).map(move |b| IpAddr::from([192, 0, 2, a ^ b])));
        let addrs: Vec<IpAddr> = (0..3000u32)
            .map(|i| IpAddr::from([203, 0, 113, (i % 250) as u8 + 3]))
            .chain(many)
            .collect();
        let got = wanted(&table(), addrs);
        assert_eq!(
            got.len(),
            250 + 256,
            "distinct on-link addresses below the bound"
        );
        let flood: Vec<IpAddr> = (0..5000u32)
            .map(|i| IpAddr::from([10, 0, (i >> 8) as u8, i as u8]))
            .collect();
        let port = PortBinding {
            port: 0,
            ifindex: 3,
            subnets: vec!["10.0.0.0/8".parse().unwrap()],
        };
        let big = NeighborTable::new(vec![port], &[]);
        let got = wanted(&big, flood);
        assert_eq!(got.len(), MAX_ROUTE_GATEWAYS);
        assert_eq!(got[0], entry(3, "10.0.0.0"), "lowest addresses first");
    }
}
