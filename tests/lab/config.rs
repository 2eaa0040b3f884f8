//! Router configurations for the lab, written by the tests themselves when
//! scripts/lab's own (connected routes only, Ethernet MTUs) does not fit.

use std::fmt::Write as _;
use std::path::Path;

/// What differs from scripts/lab's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouterConfig {
    /// IP MTU of p1 (the port towards host B); Ethernet's 1500 when None.
    pub p1_mtu: Option<u16>,
    /// Default routes (0.0.0.0/0 and ::/0) via host B, so that any
    /// destination of a foreign capture leaves towards B.
    pub default_routes_via_b: bool,
    /// Lift ICMP rate limiting out of the way (the bucket's largest
    /// setting), so that the live router and the offline replay, which see
    /// different clocks, send the same errors.
    pub unlimited_icmp: bool,
    /// One FIFO queue per port instead of the default flow scheduler, so
    /// frames leave in the order they arrived, as `ferroute replay` (which
    /// has no output queues) writes them.
    pub fifo_queues: bool,
    /// Leave out the static neighbours of hosts A and B, so the router
    /// resolves them through the kernel (managed entries or gleaning).
    pub no_static_neighbors: bool,
}

impl RouterConfig {
    pub fn toml(&self) -> String {
        let mut s = String::from("# Written by the lab tests.\n[router]\nid = \"192.0.2.1\"\n");
        if self.unlimited_icmp {
            s.push_str("icmp_rate = 1000000\nicmp_burst = 1000000\n");
        }
        s.push_str(
            "\n[[port]]\nname = \"p0\"\nmac = \"02:00:00:00:00:01\"\n\
             addresses = [\"192.0.2.1/24\", \"2001:db8::1/64\"]\n",
        );
        if self.fifo_queues {
            s.push_str("scheduler = \"fifo\"\n");
        }
        s.push_str(
            "\n[[port]]\nname = \"p1\"\nmac = \"02:00:00:00:01:01\"\n\
             addresses = [\"203.0.113.1/24\", \"2001:db8:1::1/64\"]\n",
        );
        if let Some(mtu) = self.p1_mtu {
            let _ = writeln!(s, "mtu = {mtu}");
        }
        if self.fifo_queues {
            s.push_str("scheduler = \"fifo\"\n");
        }
        if self.default_routes_via_b {
            s.push_str("\n[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"203.0.113.2\"\n");
            s.push_str("\n[[route]]\nprefix = \"::/0\"\nvia = \"2001:db8:1::2\"\n");
        }
        let statics = if self.no_static_neighbors { 0 } else { 4 };
        for (address, mac, port) in [
            ("192.0.2.10", "02:00:00:00:00:0a", "p0"),
            ("2001:db8::10", "02:00:00:00:00:0a", "p0"),
            ("203.0.113.2", "02:00:00:00:01:02", "p1"),
            ("2001:db8:1::2", "02:00:00:00:01:02", "p1"),
        ]
        .into_iter()
        .take(statics)
        {
            let _ = write!(
                s,
                "\n[[neighbor]]\naddress = \"{address}\"\nmac = \"{mac}\"\nport = \"{port}\"\n"
            );
        }
        s
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.toml()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
