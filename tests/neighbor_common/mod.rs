//! A two-namespace lab for the kernel tests: a "router" namespace and a
//! "host" namespace joined by a veth pair (`r0` — `h0`), both addressed.
//! Namespace names carry the pid and a counter; dropping the lab deletes
//! them (and with them the veth pair), also when a test panics.

// Each test file uses its own part of this.
#![allow(dead_code)]

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use ferroute::control::kernel::netlink::{link_by_name, KernelNeighbor};
use ferroute::testkit::netns::{self, in_netns, Netns};
use ferroute::wire::MacAddr;

pub use ferroute::testkit::netns::run;

pub const ROUTER_V4: &str = "192.0.2.1";
pub const HOST_V4: &str = "192.0.2.2";
pub const ROUTER_V6: &str = "2001:db8::1";
pub const HOST_V6: &str = "2001:db8::2";

/// How long a test waits for the kernel (or the control thread) to act.
pub const LIMIT: Duration = Duration::from_secs(10);

/// True when the kernel's entry is usable and holds `mac`.
pub fn resolved_to(n: &KernelNeighbor, mac: MacAddr) -> bool {
    n.state.has_usable_mac() && n.mac == Some(mac)
}

/// True when the test can run (root, with `ip` and `ping`); otherwise prints
/// why and returns false, or fails under `CI=true`.
pub fn can_run(test: &str) -> bool {
    if !netns::require_root(test, "network namespaces") {
        return false;
    }
    let tools = ["ip", "ping"].iter().all(|t| {
        Command::new(t)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        tools || std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs `ip` (iproute2) and `ping` (iputils) (CI=true)"
    );
    if !tools {
        eprintln!("skipping {test}: needs `ip` (iproute2) and `ping` (iputils)");
    }
    tools
}

/// Calls `probe` until it yields a value, at most for `limit`.
pub fn poll_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    let held = netns::poll_until(limit, || {
        found = probe();
        found.is_some()
    });
    assert!(held, "gave up after {limit:?} waiting for {what}");
    found.expect("held")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub struct Lab {
    // Field order: the host goes first, the router (holding r0) last.
    host: Netns,
    router: Netns,
    pub host_mac: MacAddr,
    pub router_mac: MacAddr,
}

impl Lab {
    pub fn new() -> Lab {
        let host = Netns::new("fr-h");
        let router = Netns::new("fr-r");
        let (r, h) = (router.name.as_str(), host.name.as_str());
        // No duplicate address detection, also on link-local addresses: while
        // those are tentative the first neighbour solicitations go nowhere
        // and IPv6 resolution takes seconds instead of microseconds.
        // (/proc/sys/net shows the namespace of the thread that opens it.)
        for ns in [&router, &host] {
            for conf in ["all", "default"] {
                ns.write_sysctl(&format!("net/ipv6/conf/{conf}/accept_dad"), "0");
            }
        }
        run(
            "ip",
            &[
                "-n", r, "link", "add", "r0", "type", "veth", "peer", "name", "h0", "netns", h,
            ],
        );
        for (ns, dev, v4, v6) in [(r, "r0", ROUTER_V4, ROUTER_V6), (h, "h0", HOST_V4, HOST_V6)] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev],
            );
            let v6 = format!("{v6}/64");
            run("ip", &["-n", ns, "addr", "add", &v6, "dev", dev, "nodad"]);
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        let mut lab = Lab {
            host,
            router,
            host_mac: MacAddr::ZERO,
            router_mac: MacAddr::ZERO,
        };
        lab.host_mac = lab.in_host(|| link_by_name("h0").unwrap().mac.unwrap());
        lab.router_mac = lab.in_router(|| link_by_name("r0").unwrap().mac.unwrap());
        lab
    }

    pub fn router(&self) -> &str {
        &self.router.name
    }

    pub fn host(&self) -> &str {
        &self.host.name
    }

    /// Runs `f` on a thread inside the router namespace (setns affects only
    /// the calling thread, and threads it spawns inherit it).
    pub fn in_router<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.router.name, f)
    }

    pub fn in_host<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.host.name, f)
    }

    /// `ip -n ROUTER args...`
    pub fn ip_router(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.router()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// One ping from the host to `dst` (`-6` chosen from the address).
    pub fn host_pings(&self, dst: &str) {
        let family = if dst.contains(':') { "-6" } else { "-4" };
        run(
            "ip",
            &[
                "netns",
                "exec",
                self.host(),
                "ping",
                family,
                "-c1",
                "-W2",
                dst,
            ],
        );
    }
}
