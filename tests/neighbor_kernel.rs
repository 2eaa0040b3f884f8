//! The rtnetlink layer against the real kernel (the control thread over it
//! is tested in `neighbor_control.rs`), in throw-away network namespaces
//! (root only; skipped otherwise, failing under CI=true). Every wait is a
//! bounded poll.

mod neighbor_common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ferroute::control::kernel::netlink::{
    link_by_name, KernelNeighbor, ManagedOutcome, NeighborEvent, NeighborState, NetlinkError, Rtnl,
};
use ferroute::control::kernel::subscription::{NeighborSubscription, NeighborUpdate};
use ferroute::wire::MacAddr;
use neighbor_common::{
    ip, poll_until, resolved_to, Lab, HOST_V4, HOST_V6, LIMIT, ROUTER_V4, ROUTER_V6,
};

#[test]
fn links_are_found_by_name_with_clear_errors() {
    if !neighbor_common::can_run("links_are_found_by_name_with_clear_errors") {
        return;
    }
    let lab = Lab::new();
    lab.in_router(|| {
        let r0 = link_by_name("r0").unwrap();
        assert_eq!(r0.name, "r0");
        assert_eq!(r0.mtu, Some(1500));
        assert_eq!(r0.mac, Some(lab.router_mac));
        let text = lab.ip_router(&["-o", "link", "show", "r0"]);
        assert!(text.starts_with(&format!("{}: r0", r0.ifindex)), "{text}");
        let lo = link_by_name("lo").unwrap();
        assert_eq!(lo.mac, Some(MacAddr::ZERO));
        // h0 lives in the other namespace.
        let err = link_by_name("h0").unwrap_err();
        assert!(
            matches!(err, NetlinkError::NoSuchInterface { .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "interface \"h0\" does not exist in this network namespace"
        );
    });
}

#[test]
fn a_dump_sees_the_host_after_it_pings() {
    if !neighbor_common::can_run("a_dump_sees_the_host_after_it_pings") {
        return;
    }
    let lab = Lab::new();
    lab.host_pings(ROUTER_V4);
    lab.host_pings(ROUTER_V6);
    lab.in_router(|| {
        let r0 = link_by_name("r0").unwrap().ifindex;
        for host in [HOST_V4, HOST_V6] {
            let entry = poll_until(&format!("{host} in the dump"), LIMIT, || {
                let mut rtnl = Rtnl::open().unwrap();
                rtnl.dump_neighbors()
                    .unwrap()
                    .into_iter()
                    .find(|n| n.address == ip(host) && resolved_to(n, lab.host_mac))
            });
            assert_eq!(entry.ifindex, r0);
            assert!(!entry.flags.is_managed());
            // The single-entry look-up agrees with the dump.
            let got = Rtnl::open().unwrap().get_neighbor(r0, ip(host)).unwrap();
            assert_eq!(got.map(|n| n.mac), Some(Some(lab.host_mac)));
        }
        assert_eq!(
            Rtnl::open()
                .unwrap()
                .get_neighbor(r0, ip("192.0.2.77"))
                .unwrap(),
            None
        );
    });
}

#[test]
fn a_subscription_sees_adds_and_deletes() {
    if !neighbor_common::can_run("a_subscription_sees_adds_and_deletes") {
        return;
    }
    let lab = Lab::new();
    lab.in_router(|| {
        let mut sub = NeighborSubscription::open().unwrap();
        lab.host_pings(ROUTER_V4);
        lab.host_pings(ROUTER_V6);
        let mut seen_new: Vec<IpAddr> = Vec::new();
        poll_until("add events for both host addresses", LIMIT, || {
            for u in sub.poll(Duration::from_millis(100)).unwrap() {
                if let NeighborUpdate::Event(NeighborEvent::New(n)) = u {
                    if resolved_to(&n, lab.host_mac) && !seen_new.contains(&n.address) {
                        seen_new.push(n.address);
                    }
                }
            }
            (seen_new.contains(&ip(HOST_V4)) && seen_new.contains(&ip(HOST_V6))).then_some(())
        });
        lab.ip_router(&["neigh", "del", HOST_V4, "dev", "r0"]);
        poll_until("the delete event", LIMIT, || {
            sub.poll(Duration::from_millis(100))
                .unwrap()
                .into_iter()
                .find(|u| {
                    matches!(u, NeighborUpdate::Event(NeighborEvent::Deleted(n))
                        if n.address == ip(HOST_V4))
                })
        });
        assert_eq!(sub.overruns(), 0);
    });
}

#[test]
fn a_subscription_sees_a_link_lose_and_regain_its_carrier() {
    if !neighbor_common::can_run("a_subscription_sees_a_link_lose_and_regain_its_carrier") {
        return;
    }
    let lab = Lab::new();
    lab.in_router(|| {
        let r0 = link_by_name("r0").unwrap().ifindex;
        let mut sub = NeighborSubscription::open().unwrap();
        let dumped = |up: bool| {
            Rtnl::open()
                .unwrap()
                .dump_links()
                .unwrap()
                .into_iter()
                .any(|l| l.ifindex == r0 && l.up == up)
        };
        assert!(dumped(true), "r0 up in the dump");
        let mut link_event = |up: bool| {
            poll_until(
                &format!("r0 up={up} through the subscription"),
                LIMIT,
                || {
                    sub.poll(Duration::from_millis(100))
                    .unwrap()
                    .into_iter()
                    .find(|u| matches!(u, NeighborUpdate::Link(l) if l.ifindex == r0 && l.up == up))
                },
            )
        };
        lab.ip_router(&["link", "set", "r0", "down"]);
        link_event(false);
        assert!(dumped(false), "r0 down in the dump");
        lab.ip_router(&["link", "set", "r0", "up"]);
        link_event(true);
    });
}

#[test]
fn managed_entries_resolve_and_static_ones_are_left_alone() {
    if !neighbor_common::can_run("managed_entries_resolve_and_static_ones_are_left_alone") {
        return;
    }
    let lab = Lab::new();
    lab.in_router(|| {
        let mut rtnl = Rtnl::open().unwrap();
        let r0 = rtnl.link_by_name("r0").unwrap().ifindex;
        for host in [HOST_V4, HOST_V6] {
            assert_eq!(rtnl.get_neighbor(r0, ip(host)).unwrap(), None);
            assert_eq!(
                rtnl.ensure_managed(r0, ip(host)).unwrap(),
                ManagedOutcome::Created
            );
            // The kernel resolves it by itself: nothing here sends traffic.
            let asked = std::time::Instant::now();
            let n = poll_until(&format!("{host} resolved"), LIMIT, || {
                rtnl.get_neighbor(r0, ip(host))
                    .unwrap()
                    .filter(|n| resolved_to(n, lab.host_mac))
            });
            eprintln!("{host}: managed entry resolved after {:?}", asked.elapsed());
            assert!(n.flags.is_managed(), "{n:?}");
            assert!(
                n.state == NeighborState::REACHABLE || n.state == NeighborState::STALE,
                "{n:?}"
            );
            assert_eq!(
                rtnl.ensure_managed(r0, ip(host)).unwrap(),
                ManagedOutcome::AlreadyManaged
            );
        }

        // A permanent entry is never converted (the kernel would) nor removed.
        let operator_mac = "02:00:00:00:00:03";
        lab.ip_router(&[
            "neigh",
            "add",
            "192.0.2.3",
            "dev",
            "r0",
            "lladdr",
            operator_mac,
            "nud",
            "permanent",
        ]);
        let outcome = rtnl.ensure_managed(r0, ip("192.0.2.3")).unwrap();
        let ManagedOutcome::LeftStatic(kept) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(kept.state, NeighborState::PERMANENT);
        assert!(!rtnl.remove_managed(r0, ip("192.0.2.3")).unwrap());
        let after = rtnl.get_neighbor(r0, ip("192.0.2.3")).unwrap().unwrap();
        assert_eq!(after.state, NeighborState::PERMANENT);
        assert_eq!(after.mac, Some(operator_mac.parse().unwrap()));
        assert!(!after.flags.is_managed());

        // A dynamic entry is adopted without losing its MAC.
        lab.ip_router(&[
            "neigh",
            "add",
            "192.0.2.4",
            "dev",
            "r0",
            "lladdr",
            "02:00:00:00:00:04",
            "nud",
            "stale",
        ]);
        assert_eq!(
            rtnl.ensure_managed(r0, ip("192.0.2.4")).unwrap(),
            ManagedOutcome::Adopted
        );
        let adopted = rtnl.get_neighbor(r0, ip("192.0.2.4")).unwrap().unwrap();
        assert!(adopted.flags.is_managed());
        assert_eq!(adopted.mac, Some("02:00:00:00:00:04".parse().unwrap()));

        for host in [HOST_V4, HOST_V6] {
            assert!(rtnl.remove_managed(r0, ip(host)).unwrap());
            assert_eq!(rtnl.get_neighbor(r0, ip(host)).unwrap(), None);
            assert!(!rtnl.remove_managed(r0, ip(host)).unwrap());
        }
    });
}

#[test]
fn an_overrun_is_answered_by_a_resync() {
    if !neighbor_common::can_run("an_overrun_is_answered_by_a_resync") {
        return;
    }
    let lab = Lab::new();
    lab.in_router(|| {
        // The smallest queue the kernel grants holds a handful of messages.
        let mut sub = NeighborSubscription::with_receive_queue(1).unwrap();
        let r0 = link_by_name("r0").unwrap().ifindex;
        let batch: String = (0..400u32)
            .map(|i| {
                format!(
                    "neigh add 198.18.{}.{} dev r0 lladdr 02:00:00:00:{:02x}:{:02x} nud permanent\n",
                    i / 250,
                    i % 250 + 1,
                    i / 256,
                    i % 256
                )
            })
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), batch).unwrap();
        lab.ip_router(&["-batch", file.path().to_str().unwrap()]);
        let sentinel = "198.18.9.9";
        lab.ip_router(&[
            "neigh", "add", sentinel, "dev", "r0", "lladdr", "02:00:00:00:09:09", "nud",
            "permanent",
        ]);

        // Mirror the kernel from the subscription alone.
        let mut mirror: HashMap<(u32, IpAddr), KernelNeighbor> = HashMap::new();
        poll_until("the sentinel through the subscription", LIMIT, || {
            for u in sub.poll(Duration::from_millis(100)).unwrap() {
                match u {
                    NeighborUpdate::Event(NeighborEvent::New(n)) => {
                        mirror.insert((n.ifindex, n.address), n);
                    }
                    NeighborUpdate::Event(NeighborEvent::Deleted(n)) => {
                        mirror.remove(&(n.ifindex, n.address));
                    }
                    NeighborUpdate::Resync(table) => {
                        mirror = table.into_iter().map(|n| ((n.ifindex, n.address), n)).collect();
                    }
                    NeighborUpdate::Link(_) => {}
                }
            }
            mirror.contains_key(&(r0, ip(sentinel))).then_some(())
        });
        assert!(sub.overruns() >= 1, "401 notifications fit a tiny queue?");
        let in_range = |n: &KernelNeighbor| matches!(n.address, IpAddr::V4(a) if a.octets()[..2] == [198, 18]);
        let mut seen: Vec<(IpAddr, Option<MacAddr>)> = mirror
            .values()
            .filter(|n| in_range(n))
            .map(|n| (n.address, n.mac))
            .collect();
        let mut kernel: Vec<(IpAddr, Option<MacAddr>)> = sub
            .dump()
            .unwrap()
            .iter()
            .filter(|n| in_range(n))
            .map(|n| (n.address, n.mac))
            .collect();
        seen.sort();
        kernel.sort();
        assert_eq!(kernel.len(), 401);
        assert_eq!(seen, kernel);
    });
}
