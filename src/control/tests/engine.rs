use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
#[allow(unused_imports)]
use crate::control::engine::*;
#[allow(unused_imports)]
use crate::control::protocol::{Protocol, ProtocolConfig, RouteOutput};
#[allow(unused_imports)]
use crate::control::rib::route::{RibRoute, RouteSource};
#[allow(unused_imports)]
use crate::control::rib::Rib;
use crate::control::SYSTEM_HOST;
use crate::fib::NextHop;
#[allow(unused_imports)]
use crate::fib::{FibHandle, StaticNeighbor};

fn examples() -> PathBuf {
    crate::testkit::repo_path("examples")
}

/// An engine over `config` with its static neighbours, published once (as
/// `Control::start` does it, with the static FIB in the handle first): the
/// engine, the handle and the version published.
pub(super) fn published(config: &Config) -> (Engine, FibHandle, u64) {
    let handle = FibHandle::new(config.fib().unwrap());
    let inputs = config.control_inputs();
    let mut engine = Engine::new(&inputs, handle.clone(), Duration::ZERO, SYSTEM_HOST).unwrap();
    engine.set_neighbors(config.static_neighbors());
    let version = engine.publish_now();
    (engine, handle, version)
}

/// The demo router with link-state from `lsdb`.
fn demo_config(lsdb: &Path, extra: &str) -> Config {
    let base = std::fs::read_to_string(examples().join("demo/router.toml")).unwrap();
    let text = format!(
        "{base}\n{extra}\n[linkstate]\nfile = {:?}\n",
        lsdb.display().to_string()
    );
    Config::parse(&text, "router.toml").unwrap()
}

#[test]
fn link_state_routes_reach_the_fib_with_ecmp_and_reload_is_all_or_nothing() {
    let lsdb = examples().join("lsdb.toml");
    let config = demo_config(&lsdb, "");
    // The handle starts with the static FIB, as `ferroute run` does; the
    // first publication replaces it whole (no group id of it survives).
    let (mut engine, handle, v1) = published(&config);
    let fib = handle.load();
    assert_eq!(fib.version, v1);
    let routed = fib.v4.len() + fib.v6.len();
    assert_eq!(routed, engine.rib().summary().installed);
    assert_eq!(fib.groups().len(), engine.rib().summary().path_sets);

    // 198.18.0.0/24 is 15 away over both 10.255.0.2 and .3: two members.
    let id = fib.v4.lookup("198.18.0.7".parse().unwrap()).unwrap();
    let members = fib.groups().members(id);
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.contains(&NextHop::Adjacency {
        port: 1,
        mac: "02:00:00:00:01:02".parse().unwrap()
    }));
    assert!(members.contains(&NextHop::Unresolved {
        port: 1,
        gateway: "203.0.113.3".parse().unwrap()
    }));
    let picked: std::collections::HashSet<_> = (0..64u32)
        .map(|h| *fib.select(id, h.wrapping_mul(0x9e37_79b9)).unwrap())
        .collect();
    assert_eq!(picked.len(), 2, "flows spread over both members");
    // Static and connected behave as before.
    assert_eq!(
        fib.lookup_v4("198.51.100.1".parse().unwrap()),
        Some(&NextHop::Adjacency {
            port: 1,
            mac: "02:00:00:00:01:02".parse().unwrap()
        })
    );
    assert_eq!(
        fib.lookup_v4("192.0.2.77".parse().unwrap()),
        Some(&NextHop::Glean { port: 0 })
    );

    let shown = engine.show("routes 198.18.0.7").unwrap();
    let text = shown["text"].as_str().unwrap();
    assert!(
        text.contains("longest match 198.18.0.0/24") && text.contains("link-state"),
        "{text}"
    );
    assert_eq!(shown["route"]["selected"], "link-state");
    let stats = engine.show("fib-stats").unwrap();
    assert_eq!(stats["stats"]["version"], v1);
    // A few next-hop groups: the workers' IPv4 table is packed.
    assert_eq!(stats["stats"]["ipv4_lookup"], "packed");
    assert!(stats["text"]
        .as_str()
        .unwrap()
        .contains("IPv4 lookups read the packed copy"));
    assert!(engine.show("linkstate").unwrap()["text"]
        .as_str()
        .unwrap()
        .contains("10.255.0.4"));
    assert!(engine.show("routes nonsense").is_err());
    assert!(engine.show("bogus").is_err());

    // A broken LSDB rejects the reload whole: routes and FIB stay.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("lsdb.toml");
    let good = std::fs::read_to_string(&lsdb).unwrap();
    std::fs::write(&broken, good.replace("cost = 20", "cost = 0")).unwrap();
    let err = engine
        .reload(&demo_config(&broken, "").control_inputs())
        .unwrap_err();
    assert!(err.contains("lsdb.toml") && err.contains("cost"), "{err}");
    assert_eq!(handle.load().version, v1, "nothing published");
    assert!(engine
        .rib()
        .installed("198.18.0.0/24".parse().unwrap())
        .is_some());

    // A good reload applies: a new static route, link-state withdrawn by a
    // distance above static for an overlapping prefix.
    let extra = "[[route]]\nprefix = \"198.18.0.0/24\"\nvia = \"203.0.113.9\"\n";
    let answer = engine
        .reload(&demo_config(&lsdb, extra).control_inputs())
        .unwrap();
    let v2 = answer["fib_version"].as_u64().unwrap();
    assert!(v2 > v1);
    assert_eq!(
        handle.load().lookup_v4("198.18.0.7".parse().unwrap()),
        Some(&NextHop::Unresolved {
            port: 1,
            gateway: "203.0.113.9".parse().unwrap()
        })
    );
}

/// The addresses routes go through, as the control thread makes managed
/// neighbour entries for them: static gateways and link-state first hops,
/// not a neighbour that only has its own host route.
#[test]
fn gateways_are_the_next_hops_routes_use() {
    let sorted = |engine: &Engine| {
        let mut g: Vec<String> = engine.gateways().map(|a| a.to_string()).collect();
        g.sort();
        g
    };
    let config = demo_config(&examples().join("lsdb.toml"), "");
    let handle = FibHandle::new(config.fib().unwrap());
    let mut engine = Engine::new(
        &config.control_inputs(),
        handle,
        Duration::ZERO,
        SYSTEM_HOST,
    )
    .unwrap();
    let mut neighbors = config.static_neighbors();
    // A host the kernel resolved on p0: no route goes through it.
    neighbors.push(StaticNeighbor {
        address: "192.0.2.77".parse().unwrap(),
        mac: "02:00:00:00:00:77".parse().unwrap(),
        port: 0,
    });
    engine.set_neighbors(neighbors.clone());
    engine.publish_now();
    // Static routes go through .2 (both families); SPF's ECMP first hops
    // are .2 and .3 (both families).
    let all = [
        "2001:db8:1::2",
        "2001:db8:1::3",
        "203.0.113.2",
        "203.0.113.3",
    ];
    assert_eq!(sorted(&engine), all);

    // Without link-state only the static routes' gateways remain.
    let plain = Config::parse(
        &std::fs::read_to_string(examples().join("demo/router.toml")).unwrap(),
        "router.toml",
    )
    .unwrap();
    engine.reload(&plain.control_inputs()).unwrap();
    engine.set_neighbors(neighbors);
    engine.publish_now();
    assert_eq!(sorted(&engine), ["2001:db8:1::2", "203.0.113.2"]);
}

/// More next-hop groups than a packed copy's bytes hold: `show fib-stats`
/// says the workers read the trie, why, and in how many publications.
#[test]
fn fib_stats_say_why_the_ipv4_copy_is_not_packed() {
    // 300 static routes, each through its own gateway on p0 or p1.
    let routes: String = (0..300u32)
        .map(|i| {
            let via = if i % 2 == 0 { "192.0.2" } else { "203.0.113" };
            format!(
                "[[route]]\nprefix = \"100.{}.{}.0/24\"\nvia = \"{via}.{}\"\n",
                64 + i / 256,
                i % 256,
                10 + i / 2
            )
        })
        .collect();
    let config = demo_config(&examples().join("lsdb.toml"), &routes);
    let (mut engine, handle, _) = published(&config);
    assert!(!handle.load().v4.is_packed());
    let stats = engine.show("fib-stats").unwrap();
    assert_eq!(stats["stats"]["ipv4_lookup"], "trie");
    assert_eq!(stats["stats"]["ipv4_unpacked_publications"], 1);
    let why = stats["stats"]["ipv4_unpacked_because"].as_str().unwrap();
    assert!(why.ends_with("past 254"), "{why}");
    let text = stats["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "IPv4 lookups read the trie copy ({why}; 1 of 1 publications unpacked)"
        )),
        "{text}"
    );
}
