//! What `ferroute reload` cannot apply to a running router.
//!
//! A reload re-reads the routing inputs (static routes and neighbours, the
//! LSDB, BGP) and the control thread applies them. Settings the workers
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
    acls: Vec<crate::forward::acl::AclSpec>,
}

impl RestartOnly {
    pub fn of(config: &Config) -> Self {
        RestartOnly {
            router: config.router.clone(),
            ports: config.ports.clone(),
            acls: config.acls.clone(),
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
        // The workers compiled the lists at start (no swap on reload yet).
        if self.acls != config.acls {
            out.push("acl".to_string());
        }
        for (old, new) in self.ports.iter().zip(&config.ports) {
            let fields: Vec<&str> = [
                ("interface", old.interface != new.interface),
                ("mac", old.mac != new.mac),
                ("mtu", old.mtu != new.mtu),
                ("queueing", old.qos != new.qos),
                ("urpf", old.features.urpf != new.features.urpf),
                ("acl_in", old.features.acl_in != new.features.acl_in),
                ("acl_out", old.features.acl_out != new.features.acl_out),
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
}

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
