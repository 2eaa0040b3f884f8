//! `NeighborTable` logic without sockets: which kernel entries count, static
//! entries winning, and change detection (only a change of the resolved set
//! asks for a FIB rebuild).

use std::net::IpAddr;

use ferroute::control::kernel::neighbor::{NeighborSource, NeighborTable, PortBinding};
use ferroute::control::kernel::netlink::{
    KernelNeighbor, NeighborEvent, NeighborFlags, NeighborState,
};
use ferroute::fib::{self, NextHop, RouteTarget, StaticNeighbor, StaticRoute};
use ferroute::wire::MacAddr;

const IF_P0: u32 = 7;
const IF_P1: u32 = 9;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(last: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, last])
}

fn ports() -> Vec<PortBinding> {
    vec![
        PortBinding {
            port: 0,
            ifindex: IF_P0,
            subnets: vec![
                "192.0.2.1/24".parse().unwrap(),
                "2001:db8::1/64".parse().unwrap(),
            ],
        },
        PortBinding {
            port: 1,
            ifindex: IF_P1,
            subnets: vec!["203.0.113.1/24".parse().unwrap()],
        },
    ]
}

fn statics() -> Vec<StaticNeighbor> {
    vec![StaticNeighbor {
        address: ip("203.0.113.2"),
        mac: mac(0xaa),
        port: 1,
    }]
}

fn kernel(ifindex: u32, address: &str, m: Option<MacAddr>, state: NeighborState) -> KernelNeighbor {
    KernelNeighbor {
        ifindex,
        address: ip(address),
        mac: m,
        state,
        flags: NeighborFlags(0),
    }
}

fn new(n: KernelNeighbor) -> NeighborEvent {
    NeighborEvent::New(n)
}

fn resolved(t: &NeighborTable) -> Vec<(IpAddr, u16, MacAddr)> {
    t.resolved()
        .iter()
        .map(|n| (n.address, n.port, n.mac))
        .collect()
}

#[test]
fn usable_states_resolve_and_unusable_ones_remove() {
    for state in [
        NeighborState::REACHABLE,
        NeighborState::STALE,
        NeighborState::DELAY,
        NeighborState::PROBE,
        NeighborState::PERMANENT,
        NeighborState::NOARP,
    ] {
        let mut t = NeighborTable::new(ports(), &[]);
        let n = kernel(IF_P0, "192.0.2.5", Some(mac(5)), state);
        assert!(t.apply(&new(n)), "{state} must resolve");
        assert_eq!(resolved(&t), vec![(ip("192.0.2.5"), 0, mac(5))], "{state}");
        for gone in [
            NeighborState::FAILED,
            NeighborState::INCOMPLETE,
            NeighborState::NONE,
        ] {
            let mut t2 = t.clone();
            let n = kernel(IF_P0, "192.0.2.5", None, gone);
            assert!(t2.apply(&new(n)), "{state} -> {gone} must unresolve");
            assert!(t2.resolved().is_empty());
        }
        let mut t3 = t.clone();
        assert!(t3.apply(&NeighborEvent::Deleted(n)));
        assert!(t3.resolved().is_empty());
    }
}

#[test]
fn a_state_change_that_keeps_the_mac_is_not_a_change() {
    let mut t = NeighborTable::new(ports(), &[]);
    let reach = kernel(IF_P0, "2001:db8::9", Some(mac(9)), NeighborState::REACHABLE);
    assert!(t.apply(&new(reach)));
    for state in [
        NeighborState::STALE,
        NeighborState::DELAY,
        NeighborState::PROBE,
        NeighborState::REACHABLE,
    ] {
        let n = kernel(IF_P0, "2001:db8::9", Some(mac(9)), state);
        assert!(!t.apply(&new(n)), "{state} with the same MAC");
        // The operator's view follows the state all the same.
        assert_eq!(t.learned(ip("2001:db8::9"), 0), Some((mac(9), state)));
    }
    // A new MAC is a change.
    let moved = kernel(
        IF_P0,
        "2001:db8::9",
        Some(mac(10)),
        NeighborState::REACHABLE,
    );
    assert!(t.apply(&new(moved)));
    assert_eq!(resolved(&t), vec![(ip("2001:db8::9"), 0, mac(10))]);
    // Deleting what is not there is not a change.
    let other = kernel(IF_P0, "2001:db8::77", None, NeighborState::FAILED);
    assert!(!t.apply(&NeighborEvent::Deleted(other)));
}

#[test]
fn entries_off_the_ports_or_their_subnets_are_ignored() {
    let mut t = NeighborTable::new(ports(), &[]);
    let cases = [
        // Not a router port.
        kernel(99, "192.0.2.5", Some(mac(5)), NeighborState::REACHABLE),
        // A port, but the address is in the other port's subnet.
        kernel(IF_P1, "192.0.2.5", Some(mac(5)), NeighborState::REACHABLE),
        // Link-local: never a next hop of ours.
        kernel(IF_P0, "fe80::5", Some(mac(5)), NeighborState::REACHABLE),
        // Multicast NOARP entries the kernel keeps with group MACs.
        kernel(
            IF_P0,
            "ff02::1:ff00:2",
            Some(MacAddr([0x33, 0x33, 0xff, 0, 0, 2])),
            NeighborState::NOARP,
        ),
        // The subnet's broadcast address with the broadcast MAC.
        kernel(
            IF_P0,
            "192.0.2.255",
            Some(MacAddr::BROADCAST),
            NeighborState::NOARP,
        ),
        // A zero MAC, or none at all.
        kernel(
            IF_P0,
            "192.0.2.6",
            Some(MacAddr::ZERO),
            NeighborState::NOARP,
        ),
        kernel(IF_P0, "192.0.2.7", None, NeighborState::REACHABLE),
    ];
    for n in cases {
        assert!(!t.apply(&new(n)), "{n:?}");
    }
    assert!(t.resolved().is_empty());
    assert_eq!(t.learned_len(), 0);
    assert!(!t.replace_all(&cases));
}

#[test]
fn static_neighbours_win_over_the_kernel() {
    let mut t = NeighborTable::new(ports(), &statics());
    assert_eq!(resolved(&t), vec![(ip("203.0.113.2"), 1, mac(0xaa))]);
    // The kernel learns another MAC for the same address: not a change.
    let k = kernel(
        IF_P1,
        "203.0.113.2",
        Some(mac(0xbb)),
        NeighborState::REACHABLE,
    );
    assert!(!t.apply(&new(k)));
    assert_eq!(resolved(&t), vec![(ip("203.0.113.2"), 1, mac(0xaa))]);
    assert_eq!(t.entries()[0].source, NeighborSource::Static);
    // ... but it is known (shadowed) and its removal is not a change either.
    assert_eq!(
        t.learned(ip("203.0.113.2"), 1),
        Some((mac(0xbb), NeighborState::REACHABLE))
    );
    assert!(!t.apply(&NeighborEvent::Deleted(k)));
    assert_eq!(resolved(&t), vec![(ip("203.0.113.2"), 1, mac(0xaa))]);
}

#[test]
fn replace_all_reports_changes_of_the_resolved_set_only() {
    let mut t = NeighborTable::new(ports(), &statics());
    let a = kernel(IF_P0, "192.0.2.5", Some(mac(5)), NeighborState::REACHABLE);
    let mut b = kernel(IF_P1, "203.0.113.9", Some(mac(9)), NeighborState::STALE);
    b.flags = NeighborFlags(NeighborFlags::MANAGED);
    assert!(t.replace_all(&[a, b]));
    assert_eq!(
        resolved(&t),
        vec![
            (ip("192.0.2.5"), 0, mac(5)),
            (ip("203.0.113.2"), 1, mac(0xaa)),
            (ip("203.0.113.9"), 1, mac(9)),
        ]
    );
    let managed = t
        .entries()
        .into_iter()
        .find(|e| e.address == ip("203.0.113.9"))
        .unwrap();
    assert_eq!(
        managed.source,
        NeighborSource::Kernel {
            state: NeighborState::STALE,
            managed: true
        }
    );
    // Same set, other states: no change.
    let a2 = KernelNeighbor {
        state: NeighborState::DELAY,
        ..a
    };
    assert!(!t.replace_all(&[b, a2]));
    // One entry gone: a change; the static one stays.
    assert!(t.replace_all(&[a2]));
    assert_eq!(
        resolved(&t),
        vec![
            (ip("192.0.2.5"), 0, mac(5)),
            (ip("203.0.113.2"), 1, mac(0xaa))
        ]
    );
    assert!(t.replace_all(&[]));
    assert_eq!(resolved(&t), vec![(ip("203.0.113.2"), 1, mac(0xaa))]);
}

#[test]
fn the_resolved_set_turns_gateways_into_adjacencies() {
    let connected = ferroute::testkit::rig::connected();
    let routes = vec![StaticRoute {
        prefix: "198.51.100.0/24".parse().unwrap(),
        target: RouteTarget::Via(ip("192.0.2.5")),
    }];
    let mut t = NeighborTable::new(ports(), &statics());
    let lookup = |t: &NeighborTable| {
        fib::build_static(&connected, &routes, &t.resolved())
            .unwrap()
            .lookup_v4("198.51.100.1".parse().unwrap())
            .copied()
    };
    assert_eq!(
        lookup(&t),
        Some(NextHop::Unresolved {
            port: 0,
            gateway: ip("192.0.2.5")
        })
    );
    let n = kernel(IF_P0, "192.0.2.5", Some(mac(5)), NeighborState::STALE);
    assert!(t.apply(&new(n)));
    assert_eq!(
        lookup(&t),
        Some(NextHop::Adjacency {
            port: 0,
            mac: mac(5)
        })
    );
    let failed = kernel(IF_P0, "192.0.2.5", None, NeighborState::FAILED);
    assert!(t.apply(&new(failed)));
    assert!(matches!(lookup(&t), Some(NextHop::Unresolved { .. })));
}
