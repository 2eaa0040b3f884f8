//! A two-namespace lab for the kernel tests: a "router" namespace and a
//! "host" namespace joined by a veth pair (`r0` — `h0`), both addressed.
//! Namespace names carry the pid and a counter; dropping the lab deletes
//! them (and with them the veth pair), also when a test panics.

use std::fs::File;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ferroute::control::kernel::netlink::link_by_name;
use ferroute::wire::MacAddr;
use nix::sched::{setns, CloneFlags};

pub const ROUTER_V4: &str = "192.0.2.1";
pub const HOST_V4: &str = "192.0.2.2";
pub const ROUTER_V6: &str = "2001:db8::1";
pub const HOST_V6: &str = "2001:db8::2";

/// True when the test can run (root, with `ip` and `ping`); otherwise prints
/// why and returns false, or fails under `CI=true`.
pub fn can_run(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = ["ip", "ping"].iter().all(|t| {
        Command::new(t)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if root && tools {
        return true;
    }
    let why = if root {
        "needs `ip` (iproute2) and `ping` (iputils)"
    } else {
        "needs root"
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {why} (CI=true)");
    }
    eprintln!("skipping {test}: {why}");
    false
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Calls `probe` until it yields a value, at most for `limit`.
pub fn poll_until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Netns(String);

impl Netns {
    fn add(role: &str) -> Netns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("fr-{role}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
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
        let host = Netns::add("h");
        let router = Netns::add("r");
        let (r, h) = (router.0.as_str(), host.0.as_str());
        // No duplicate address detection, also on link-local addresses: while
        // those are tentative the first neighbour solicitations go nowhere
        // and IPv6 resolution takes seconds instead of microseconds.
        // (/proc/sys/net shows the namespace of the thread that opens it.)
        for ns in [r, h] {
            in_netns(ns, || {
                for conf in ["all", "default"] {
                    let knob = format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad");
                    std::fs::write(&knob, "0").unwrap_or_else(|e| panic!("{knob}: {e}"));
                }
            });
        }
        run(
            "ip",
            &[
                "-n", r, "link", "add", "r0", "type", "veth", "peer", "name", "h0", "netns", h,
            ],
        );
        for (ns, dev, v4, v6) in [(r, "r0", ROUTER_V4, ROUTER_V6), (h, "h0", HOST_V4, HOST_V6)] {
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
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
        &self.router.0
    }

    pub fn host(&self) -> &str {
        &self.host.0
    }

    /// Runs `f` on a thread inside the router namespace (setns affects only
    /// the calling thread, and threads it spawns inherit it).
    pub fn in_router<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.router.0, f)
    }

    pub fn in_host<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.host.0, f)
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

fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let ns = File::open(format!("/run/netns/{name}"))
                .unwrap_or_else(|e| panic!("open netns {name}: {e}"));
            setns(&ns, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {name}: {e}"));
            f()
        });
        match worker.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
