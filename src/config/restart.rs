//! What `ferroute reload` cannot apply to a running router.
//!
//! A reload re-reads the routing inputs (static routes and neighbours, the
//! LSDB, BGP) and the control thread applies them; the ports' stages
//! (`urpf`, `acl_in`, `acl_out`) and the `[[acl]]` lists are compiled
//! again and published to the workers (`forward::StagesHandle`), as long
//! as the port list is the same. Settings the workers
//! or the XDP program were built with — a port's MAC, MTU, interface and
//! queueing, the ICMP error rate, source routing — stay as they were until
//! a restart; the reload answer names every one that differs, so an
//! operator is never left believing an edit took effect.

use super::{Config, PortConfig, RouterSettings};

/// The restart-only settings the running router was started with.
#[derive(Debug, Clone)]
pub struct RestartOnly {
    router: RouterSettings,
    ports: Vec<PortConfig>,
}

impl RestartOnly {
    pub fn of(config: &Config) -> Self {
        RestartOnly {
            router: config.router.clone(),
            ports: config.ports.clone(),
        }
    }

    /// The settings of `config` that differ from the running ones, as
    /// `router.icmp_rate` or `port p1: mtu, queueing`.
    pub fn changed(&self, config: &Config) -> Vec<String> {
        let (old, new) = (&self.router, &config.router);
        let mut out: Vec<String> = [
            ("router.icmp_rate", old.icmp_rate != new.icmp_rate),
            ("router.icmp_burst", old.icmp_burst != new.icmp_burst),
            (
                "router.accept_source_route",
                old.accept_source_route != new.accept_source_route,
            ),
            (
                "router.worker_priority",
                old.worker_priority != new.worker_priority,
            ),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_string())
        .collect();
        if !self.same_ports(config) {
            out.push(PORTS_CHANGED.to_string());
        }
        for (old, new) in self.ports.iter().zip(&config.ports) {
            let fields: Vec<&str> = [
                ("interface", old.interface != new.interface),
                ("mac", old.mac != new.mac),
                ("mtu", old.mtu != new.mtu),
                ("queueing", old.qos != new.qos),
                ("vlan", old.vlan != new.vlan),
            ]
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name)
            .collect();
            if !fields.is_empty() {
                out.push(format!("port {}: {}", old.name, fields.join(", ")));
            }
        }
        out
    }

    /// Whether `config` has the running ports, by name in the same order
    /// (port ids stay valid; the stages can be swapped in).
    pub fn same_ports(&self, config: &Config) -> bool {
        self.ports.len() == config.ports.len()
            && self
                .ports
                .iter()
                .zip(&config.ports)
                .all(|(a, b)| a.name == b.name)
    }
}

/// What a reload that adds, removes, renames or reorders ports leaves.
pub const PORTS_CHANGED: &str =
    "ports added, removed, renamed or reordered (and so every port's urpf, acl_in, acl_out and the [[acl]] lists)";

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(edit: impl Fn(String) -> String) -> Config {
        let path = crate::testkit::repo_path("examples/demo/router.toml");
        let text = std::fs::read_to_string(path).unwrap();
        Config::parse(&edit(text), "router.toml").unwrap()
    }

    #[test]
    fn every_restart_only_change_is_named_and_routing_changes_are_not() {
        let running = RestartOnly::of(&demo(|t| t));
        assert!(running.changed(&demo(|t| t)).is_empty());
        // Routes and neighbours are the reload's business.
        let routes = demo(|t| t.replace("198.51.100.0/24", "198.51.101.0/24"));
        assert!(running.changed(&routes).is_empty());
        let edited = demo(|t| {
            t.replace("icmp_rate = 100", "icmp_rate = 5\nworker_priority = 3")
                .replace("mtu = 1400", "mtu = 1300\nscheduler = \"fifo\"")
                .replace("02:00:00:00:00:01", "02:00:00:00:00:09")
        });
        assert_eq!(
            running.changed(&edited),
            [
                "router.icmp_rate",
                "router.icmp_burst",
                "router.worker_priority",
                "port p0: mac",
                "port p1: mtu, queueing"
            ]
        );
    }
}
