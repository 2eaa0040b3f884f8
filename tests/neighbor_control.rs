//! The control thread against the real kernel's neighbour table, in
//! throw-away network namespaces (root only; skipped otherwise, failing under
//! CI=true): adjacencies published as the kernel resolves, managed entries
//! recreated, bursts sharing one FIB build, reloads of static neighbours.
//! Every wait is a bounded poll.

mod neighbor_common;

use std::time::Duration;

use ferroute::config::{Config, RestartOnly};
use ferroute::control::kernel::netlink::Rtnl;
use ferroute::control::{self, Control, ControlHandle, ControlOptions, ManagedEntry};
use ferroute::fib::{FibHandle, NextHop};
use ferroute::wire::MacAddr;
use neighbor_common::{
    ip, poll_until, resolved_to, Lab, HOST_V4, HOST_V6, LIMIT, ROUTER_V4, ROUTER_V6,
};

/// A config whose single port is r0, with routes via both host addresses and
/// one via a static neighbour.
fn lab_config(lab: &Lab) -> Config {
    Config::parse(&lab_config_text(lab), "lab.toml").unwrap()
}

fn lab_config_text(lab: &Lab) -> String {
    format!(
        r#"
[router]
id = "{ROUTER_V4}"

[[port]]
name = "p0"
interface = "r0"
mac = "{}"
addresses = ["{ROUTER_V4}/24", "{ROUTER_V6}/64"]

[[route]]
prefix = "198.51.100.0/24"
via = "{HOST_V4}"

[[route]]
prefix = "2001:db8:100::/48"
via = "{HOST_V6}"

[[route]]
prefix = "203.0.113.0/24"
via = "192.0.2.9"

[[neighbor]]
address = "192.0.2.9"
mac = "02:00:00:00:00:09"
port = "p0"
"#,
        lab.router_mac
    )
}

/// Starts the control thread on `config` inside the router namespace (the
/// caller's): r0's ifindex, the FIB it publishes to, and its handle.
fn start_control(config: &Config, options: ControlOptions) -> (u32, FibHandle, ControlHandle) {
    let inputs = config.control_inputs();
    let ifindexes = control::port_ifindexes(&inputs).unwrap();
    let fib = FibHandle::new(config.fib().unwrap());
    let handle = Control::start_with(&inputs, fib.clone(), &ifindexes, options).unwrap();
    (ifindexes[0], fib, handle)
}

fn via_v4(fib: &FibHandle) -> Option<NextHop> {
    fib.load()
        .lookup_v4("198.51.100.1".parse().unwrap())
        .copied()
}

fn via_v6(fib: &FibHandle) -> Option<NextHop> {
    fib.load()
        .lookup_v6("2001:db8:100::1".parse().unwrap())
        .copied()
}

#[test]
fn the_control_thread_publishes_adjacencies_as_the_kernel_resolves() {
    if !neighbor_common::can_run("the_control_thread_publishes_adjacencies_as_the_kernel_resolves")
    {
        return;
    }
    let lab = Lab::new();
    let config = lab_config(&lab);
    let host = NextHop::Adjacency {
        port: 0,
        mac: lab.host_mac,
    };
    lab.in_router(|| {
        // Before the kernel is asked, the config's FIB has the gateways unresolved.
        let unstarted = FibHandle::new(config.fib().unwrap());
        assert!(matches!(
            via_v4(&unstarted),
            Some(NextHop::Unresolved { .. })
        ));
        let options = ControlOptions {
            // No re-creation during this test: the deletion must show.
            managed_refresh: Duration::from_secs(3600),
            ..ControlOptions::default()
        };
        let (r0, fib, handle) = start_control(&config, options);
        assert!(handle.fib_version() >= 1);
        poll_until("both gateways as adjacencies", LIMIT, || {
            (via_v4(&fib) == Some(host) && via_v6(&fib) == Some(host)).then_some(())
        });
        // The static neighbour's route never changes and gets no managed entry.
        let static_nh = fib
            .load()
            .lookup_v4("203.0.113.1".parse().unwrap())
            .copied();
        assert_eq!(
            static_nh,
            Some(NextHop::Adjacency {
                port: 0,
                mac: "02:00:00:00:00:09".parse().unwrap()
            })
        );
        let gateways = [
            ManagedEntry {
                ifindex: r0,
                address: ip(HOST_V4),
            },
            ManagedEntry {
                ifindex: r0,
                address: ip(HOST_V6),
            },
        ];
        let status = handle.status();
        assert_eq!(status.managed, gateways);
        assert_eq!(status.fib_version, handle.fib_version());
        let mut rtnl = Rtnl::open().unwrap();
        assert_eq!(rtnl.get_neighbor(r0, ip("192.0.2.9")).unwrap(), None);
        let neighbors = handle.neighbors();
        assert_eq!(neighbors.len(), 3, "{neighbors:?}");
        let shown: Vec<String> = neighbors.iter().map(|n| n.to_string()).collect();
        assert!(
            shown
                .iter()
                .any(|s| s.starts_with("192.0.2.2 port 0") && s.ends_with("managed")),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"192.0.2.9 port 0 lladdr 02:00:00:00:00:09 static".to_string()),
            "{shown:?}"
        );

        let version = handle.fib_version();
        lab.ip_router(&["neigh", "del", HOST_V4, "dev", "r0"]);
        let deleted = std::time::Instant::now();
        poll_until("the v4 gateway unresolved again", LIMIT, || {
            (via_v4(&fib)
                == Some(NextHop::Unresolved {
                    port: 0,
                    gateway: ip(HOST_V4),
                }))
            .then_some(())
        });
        eprintln!(
            "neighbour deleted -> FIB published in {:?}",
            deleted.elapsed()
        );
        assert!(handle.fib_version() > version);
        assert_eq!(via_v6(&fib), Some(host));
        assert!(handle.is_running());
        assert_eq!(
            handle.status().errors,
            0,
            "{:?}",
            handle.status().last_error
        );

        // Stopping deletes the managed entry that is left (the v4 one is gone).
        let report = handle.stop().unwrap();
        assert_eq!(report.removed, vec![gateways[1]]);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(rtnl.get_neighbor(r0, ip(HOST_V6)).unwrap(), None);
    });
}

#[test]
fn the_control_thread_recreates_a_deleted_managed_entry() {
    if !neighbor_common::can_run("the_control_thread_recreates_a_deleted_managed_entry") {
        return;
    }
    let lab = Lab::new();
    let config = lab_config(&lab);
    let host = NextHop::Adjacency {
        port: 0,
        mac: lab.host_mac,
    };
    lab.in_router(|| {
        let options = ControlOptions {
            managed_refresh: Duration::from_millis(200),
            ..ControlOptions::default()
        };
        let (r0, fib, handle) = start_control(&config, options);
        poll_until("the v4 gateway as an adjacency", LIMIT, || {
            (via_v4(&fib) == Some(host)).then_some(())
        });
        let mut rtnl = Rtnl::open().unwrap();
        lab.ip_router(&["neigh", "del", HOST_V4, "dev", "r0"]);
        poll_until("a re-created managed entry", LIMIT, || {
            rtnl.get_neighbor(r0, ip(HOST_V4))
                .unwrap()
                .filter(|n| n.flags.is_managed() && resolved_to(n, lab.host_mac))
        });
        poll_until("the v4 gateway as an adjacency again", LIMIT, || {
            (via_v4(&fib) == Some(host)).then_some(())
        });
        let report = handle.stop().unwrap();
        assert_eq!(report.removed.len(), 2, "{report:?}");
        for host in [HOST_V4, HOST_V6] {
            assert_eq!(rtnl.get_neighbor(r0, ip(host)).unwrap(), None);
        }
    });
}

#[test]
fn a_burst_of_changes_shares_one_fib_build() {
    if !neighbor_common::can_run("a_burst_of_changes_shares_one_fib_build") {
        return;
    }
    let lab = Lab::new();
    let config = lab_config(&lab);
    lab.in_router(|| {
        let (_, fib, handle) = start_control(&config, ControlOptions::default());
        let host = NextHop::Adjacency {
            port: 0,
            mac: lab.host_mac,
        };
        poll_until("both gateways as adjacencies", LIMIT, || {
            (via_v4(&fib) == Some(host) && via_v6(&fib) == Some(host)).then_some(())
        });
        let builds = handle.status().fib_builds;
        // 100 neighbours in one `ip -batch`: a few milliseconds of changes.
        let batch: String = (100..200u32)
            .map(|i| {
                format!(
                    "neigh add 192.0.2.{i} dev r0 lladdr 02:00:00:00:01:{i:02x} nud permanent\n"
                )
            })
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), batch).unwrap();
        lab.ip_router(&["-batch", file.path().to_str().unwrap()]);
        poll_until("all 100 neighbours in the FIB", LIMIT, || {
            let fib = fib.load();
            (100..200u32)
                .all(|i| {
                    let want = NextHop::Adjacency {
                        port: 0,
                        mac: MacAddr([2, 0, 0, 0, 1, i as u8]),
                    };
                    fib.lookup_v4(format!("192.0.2.{i}").parse().unwrap()) == Some(&want)
                })
                .then_some(())
        });
        let status = handle.status();
        let burst_builds = status.fib_builds - builds;
        assert!(status.neighbor_events >= 100, "{status:?}");
        // One build per 50 ms window; without coalescing this would be 100.
        assert!(
            (1..=5).contains(&burst_builds),
            "{burst_builds} builds for one burst"
        );
        eprintln!("100 neighbour additions -> {burst_builds} FIB build(s)");
        handle.stop().unwrap();
    });
}

/// `reload` applies a changed static neighbour at once, and names the
/// settings it cannot apply (they wait for a restart).
#[test]
fn a_reload_applies_static_neighbours_and_names_what_needs_a_restart() {
    if !neighbor_common::can_run("a_reload_applies_static_neighbours") {
        return;
    }
    let lab = Lab::new();
    let config = lab_config(&lab);
    let via_static = |fib: &FibHandle| {
        fib.load()
            .lookup_v4("203.0.113.1".parse().unwrap())
            .copied()
    };
    let adjacency = |mac: &str| NextHop::Adjacency {
        port: 0,
        mac: mac.parse().unwrap(),
    };
    lab.in_router(|| {
        let (_, fib, handle) = start_control(&config, ControlOptions::default());
        assert_eq!(via_static(&fib), Some(adjacency("02:00:00:00:00:09")));

        let text = lab_config_text(&lab)
            .replace("02:00:00:00:00:09", "02:00:00:00:00:0a")
            .replace("[router]", "[router]\nicmp_rate = 7");
        let edited = Config::parse(&text, "lab.toml").unwrap();
        let not_applied = RestartOnly::of(&config).changed(&edited);
        let answer = handle.reload(edited.control_inputs(), not_applied).unwrap();
        // Applied before the answer: the FIB already has the new MAC.
        assert_eq!(via_static(&fib), Some(adjacency("02:00:00:00:00:0a")));
        assert_eq!(answer["fib_version"], fib.load().version, "{answer}");
        assert_eq!(
            answer["not_applied"],
            serde_json::json!(["router.icmp_rate", "router.icmp_burst"]),
            "{answer}"
        );
        handle.stop().unwrap();
    });
}
