//! The OSPF speaker live, in network namespaces, against BIRD 2 and FRR
//! ospfd: ferroute's control plane (event loop, engine, raw sockets; no
//! data plane) in namespace `rt`, BIRD in `bd`, FRR in `fr`, a bridge in
//! `hub` making LAN 192.0.2.0/24 of the three, and a point-to-point link
//! 10.0.12.0/30 between ferroute and BIRD.
//!
//! * ferroute starts alone and becomes DR of the LAN; BIRD (priority 5)
//!   and FRR (priority 10) join: both reach Full with ferroute on the LAN,
//!   BIRD on the p2p link too;
//! * their stub networks (198.51.100.0/24 behind BIRD, 203.0.113.0/24
//!   behind FRR) reach ferroute's RIB as `ospf` routes, BIRD's with two
//!   equal-cost paths (LAN and p2p);
//! * ferroute's router and network LSAs are in BIRD's and FRR's
//!   databases, and its stub (100.64.1.0/24) in their routing tables;
//! * the three databases agree (same LSAs, sequence numbers, checksums);
//! * FRR stopped: after the dead interval ferroute drops it and its route,
//!   in the RIB and the FIB;
//! * ferroute restarted: Full with BIRD again, its router LSA from before
//!   superseded (higher sequence) and its network LSA from its time as DR
//!   flushed (§13.4).
//!
//! FRR also has a point-to-point link to ferroute (10.0.13.0/30), so each
//! daemon is Full with ferroute on both network types.
//!
//! The LAN uses simple password authentication, the point-to-point links
//! cryptographic MD5 (key id 1): every adjacency above is authenticated.
//!
//! A link losing its carrier (set down on ferroute's side, then on FRR's)
//! moves ferroute's routes at once (the kernel's link notification, not
//! the dead interval), timed beside BIRD's own reaction to the same link.
//!
//! AS-external routes go both ways: BIRD exports a static route (type 2,
//! metric 25) and FRR its connected 100.67.0.0/24 (type 1, metric 30),
//! both routed by ferroute through each daemon's two links; ferroute
//! redistributes its blackhole static 100.68.0.0/24, which BIRD shows as
//! an E2 route from 10.0.0.1 and FRR installs as `ospf`. FRR's external
//! route goes when FRR does.

use std::time::{Duration, Instant};

use ferroute::config::Config;
use ferroute::control::ControlHandle;
use ferroute::fib::NextHop;
use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use ferroute::testkit::netns::{poll_until, require_root};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

#[path = "ospf_live/lab.rs"]
mod lab;
#[path = "ospf_live/lsdb.rs"]
mod lsdb;

use lab::{start_ferroute, Lab, BIRD, FERROUTE, FRR};
use lsdb::{bird_lsas, bird_sequence, ferroute_lsas, frr_lsas};

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn show(h: &ControlHandle, what: &str) -> Value {
    h.show(what).unwrap_or_else(|e| panic!("show {what}: {e}"))
}

/// The state of neighbour `router` on port `port` as ferroute sees it.
fn neighbor_state(h: &ControlHandle, port: &str, router: &str) -> Option<String> {
    let v = show(h, "ospf neighbors");
    v["neighbors"].as_array()?.iter().find_map(|n| {
        (n["port"] == port && n["router_id"] == router)
            .then(|| n["state"].as_str().unwrap_or_default().to_string())
    })
}

fn wait(what: &str, mut f: impl FnMut() -> bool, diagnose: impl FnOnce() -> String) {
    if !poll_until(LIMIT, &mut f) {
        panic!("{what} within {LIMIT:?}\n{}", diagnose());
    }
}

/// The source and gateways of ferroute's route for `prefix` (`None`: no route).
fn route(h: &ControlHandle, prefix: &str) -> Option<(String, Vec<String>)> {
    let v = h.show(&format!("routes {prefix}")).ok()?;
    let text = v["text"].as_str().unwrap_or_default().to_string();
    let best = text.lines().find(|l| l.contains("ospf"))?.to_string();
    let gateways = ["192.0.2.2", "192.0.2.3", "10.0.12.2", "10.0.13.2"]
        .iter()
        .filter(|g| text.contains(*g))
        .map(|g| g.to_string())
        .collect();
    Some((best, gateways))
}

#[test]
fn ospf_adjacencies_lsas_and_routes_with_bird_and_frr() {
    let test = "ospf_adjacencies_lsas_and_routes_with_bird_and_frr";
    if !require_root(test, "network namespaces")
        || !require_daemon(test, "bird")
        || !require_daemon(test, &format!("{FRR_DAEMONS}/ospfd"))
    {
        return;
    }
    let lab = Lab::new();
    let config = Config::parse(FERROUTE, "ospf.toml").unwrap();
    let (handle, fib) = start_ferroute(&lab.rt, &config);
    // Alone on the LAN, ferroute is DR once its wait timer ran out.
    wait(
        "ferroute DR of the LAN",
        || show(&handle, "ospf interfaces")["interfaces"][0]["state"] == "dr",
        || show(&handle, "ospf").to_string(),
    );
    let started = Instant::now();
    let bird = Bird::start(&lab.bd.name, BIRD);
    let frr = Frr::start(&lab.fr.name, &[FrrDaemon::Ospfd], FRR);
    let diagnose = || {
        format!(
            "{}\nBIRD:\n{}\nFRR:\n{}\nospfd log (tail):\n{}",
            show(&handle, "ospf")["text"].as_str().unwrap_or_default(),
            bird.birdc("show ospf neighbors"),
            frr.vtysh("show ip ospf neighbor"),
            {
                let log = frr.log("ospfd");
                let _ = std::fs::write("/tmp/ospf-live-ospfd.log", &log);
                tail(&log, 30)
            }
        )
    };
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "BIRD and FRR Full with ferroute",
        || {
            full("lan", "10.0.0.2")
                && full("p2p", "10.0.0.2")
                && full("lan", "10.0.0.3")
                && full("p2pf", "10.0.0.3")
        },
        diagnose,
    );
    let full_after = started.elapsed();
    // Their stubs in ferroute's RIB, each through both of its links.
    wait(
        "BIRD's and FRR's stubs routed",
        || {
            route(&handle, "198.51.100.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "203.0.113.0/24").is_some_and(|(_, g)| g.len() == 2)
        },
        || {
            format!(
                "{:?}\n{}\n{}",
                route(&handle, "198.51.100.0/24"),
                diagnose(),
                bird.birdc("show ospf state all")
            )
        },
    );
    let (_, via) = route(&handle, "198.51.100.0/24").unwrap();
    assert_eq!(via, ["192.0.2.2", "10.0.12.2"]);
    let (_, via) = route(&handle, "203.0.113.0/24").unwrap();
    assert_eq!(via, ["192.0.2.3", "10.0.13.2"]);
    // And in the FIB the workers read.
    let forwarded = |a: &str| {
        let fib = fib.load();
        fib.lookup_v4(a.parse().unwrap())
            .is_some_and(|nh| matches!(nh, NextHop::Adjacency { .. } | NextHop::Unresolved { .. }))
    };
    wait(
        "both stubs in the FIB",
        || forwarded("198.51.100.1") && forwarded("203.0.113.1"),
        diagnose,
    );
    // AS-external routes both ways: BIRD's static (type 2, metric 25) and
    // FRR's connected ext0 (type 1, metric 30) in ferroute's RIB; ferroute's
    // blackhole static (type 2, metric 20) in BIRD's and FRR's tables.
    wait(
        "BIRD's and FRR's external routes in ferroute's RIB",
        || {
            route(&handle, "100.66.0.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "100.67.0.0/24").is_some_and(|(_, g)| g.len() == 2)
        },
        || {
            format!(
                "{}\n{}",
                show(&handle, "ospf routes")["text"]
                    .as_str()
                    .unwrap_or_default(),
                diagnose()
            )
        },
    );
    assert_eq!(
        route(&handle, "100.66.0.0/24").unwrap().1,
        ["192.0.2.2", "10.0.12.2"]
    );
    assert_eq!(
        route(&handle, "100.67.0.0/24").unwrap().1,
        ["192.0.2.3", "10.0.13.2"]
    );
    let externals = show(&handle, "ospf routes");
    let external = |prefix: &str| {
        externals["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prefix"] == prefix)
            .cloned()
            .unwrap_or_else(|| panic!("{prefix} in {externals}"))
    };
    let e2 = external("100.66.0.0/24");
    assert_eq!(
        (
            &e2["path_type"],
            &e2["type2_metric"],
            &e2["cost"],
            &e2["advertised_by"]
        ),
        (
            &"external2".into(),
            &25.into(),
            &10.into(),
            &"10.0.0.2".into()
        ),
        "{e2}"
    );
    let e1 = external("100.67.0.0/24");
    assert_eq!(
        (&e1["path_type"], &e1["type2_metric"], &e1["cost"]),
        (&"external1".into(), &Value::Null, &40.into()),
        "{e1}"
    );
    wait(
        "ferroute's redistributed static in BIRD's and FRR's tables",
        || {
            let b = bird.birdc("show route 100.68.0.0/24 all");
            b.contains("E2")
                && b.contains("10.0.0.1")
                && frr.vtysh("show ip route 100.68.0.0/24").contains("ospf")
        },
        || {
            format!(
                "{}\n{}",
                bird.birdc("show route 100.68.0.0/24 all"),
                frr.vtysh("show ip ospf database external")
            )
        },
    );
    // ferroute's LSAs in theirs, its stub in their routing tables.
    wait(
        "ferroute's stub in BIRD's and FRR's tables",
        || {
            bird.birdc("show route 100.64.1.0/24")
                .contains("100.64.1.0/24")
                && frr.vtysh("show ip route 100.64.1.0/24").contains("ospf")
        },
        || {
            format!(
                "{}\n{}",
                bird.birdc("show ospf lsadb"),
                frr.vtysh("show ip ospf database")
            )
        },
    );
    // The three databases agree: same LSAs, sequence numbers, checksums.
    wait(
        "the three LSDBs agree",
        || {
            let ours = ferroute_lsas(&handle);
            // 3 router LSAs, the LAN's network LSA, 3 AS-external LSAs.
            ours.len() == 7
                && bird_lsas(&bird.birdc("show ospf lsadb")) == ours
                && frr_lsas(&frr.vtysh("show ip ospf database")) == ours
        },
        || {
            format!(
                "ferroute {:?}\nBIRD {:?}\nFRR {:?}",
                ferroute_lsas(&handle),
                bird_lsas(&bird.birdc("show ospf lsadb")),
                frr_lsas(&frr.vtysh("show ip ospf database"))
            )
        },
    );
    let lsadb = bird.birdc("show ospf lsadb");
    assert!(lsadb.contains("10.0.0.1"), "{lsadb}");
    let frr_db = frr.vtysh("show ip ospf database");
    assert!(frr_db.contains("10.0.0.1"), "{frr_db}");
    // The network LSA of the LAN is ferroute's (the DR's).
    assert!(
        frr_db
            .lines()
            .any(|l| l.starts_with("192.0.2.1") && l.contains("10.0.0.1")),
        "{frr_db}"
    );
    println!(
        "ferroute:\n{}",
        show(&handle, "ospf")["text"].as_str().unwrap_or_default()
    );
    println!("BIRD lsadb:\n{lsadb}\nFRR database:\n{frr_db}");
    // A link loses its carrier: ferroute hears it from the kernel and
    // routes around it at once, without waiting for the dead interval.
    // ferroute's p2p link to BIRD goes down on ferroute's side: both
    // routers see it; each one's route over it moves to the LAN.
    let bird_via_p2p = || bird.birdc("show route 100.64.1.0/24").contains("10.0.12.1");
    wait(
        "BIRD's route to ferroute's stub over both links",
        bird_via_p2p,
        || bird.birdc("show route 100.64.1.0/24"),
    );
    let down = Instant::now();
    lab.rt.ip(&["link", "set", "p2p0", "down"]);
    let (mut ours, mut theirs) = (None, None);
    wait(
        "ferroute's and BIRD's routes off the dead link",
        || {
            if ours.is_none()
                && route(&handle, "198.51.100.0/24").is_some_and(|(_, g)| g == ["192.0.2.2"])
            {
                ours = Some(down.elapsed());
            }
            if theirs.is_none() && !bird_via_p2p() {
                theirs = Some(down.elapsed());
            }
            ours.is_some() && theirs.is_some()
        },
        || {
            format!(
                "{:?}\n{}",
                route(&handle, "198.51.100.0/24"),
                bird.birdc("show route 100.64.1.0/24")
            )
        },
    );
    let (ours, theirs) = (ours.unwrap(), theirs.unwrap());
    assert_eq!(neighbor_state(&handle, "p2p", "10.0.0.2"), None);
    println!("measured: link down -> route moved: ferroute {ours:?}, BIRD {theirs:?} (dead interval 4 s)");
    // FRR's side of its p2p link: ferroute's p2pf loses its carrier.
    let down = Instant::now();
    lab.fr.ip(&["link", "set", "p2p0", "down"]);
    wait(
        "FRR's stub routed over the LAN only",
        || route(&handle, "203.0.113.0/24").is_some_and(|(_, g)| g == ["192.0.2.3"]),
        || format!("{:?}", route(&handle, "203.0.113.0/24")),
    );
    println!(
        "measured: peer's side down -> route moved in {:?}",
        down.elapsed()
    );
    // Both links back: the adjacencies form again, ECMP returns.
    lab.rt.ip(&["link", "set", "p2p0", "up"]);
    lab.fr.ip(&["link", "set", "p2p0", "up"]);
    wait(
        "both links back, two paths again",
        || {
            route(&handle, "198.51.100.0/24").is_some_and(|(_, g)| g.len() == 2)
                && route(&handle, "203.0.113.0/24").is_some_and(|(_, g)| g.len() == 2)
        },
        diagnose,
    );
    // FRR goes away: after the dead interval its route goes too.
    drop(frr);
    let stopped = Instant::now();
    wait(
        "FRR dropped after the dead interval",
        || neighbor_state(&handle, "lan", "10.0.0.3").is_none(),
        || show(&handle, "ospf").to_string(),
    );
    wait(
        "FRR's stub withdrawn",
        || route(&handle, "203.0.113.0/24").is_none(),
        || format!("{:?}", route(&handle, "203.0.113.0/24")),
    );
    let withdrawn_after = stopped.elapsed();
    assert!(!forwarded("203.0.113.1") || route(&handle, "203.0.113.0/24").is_none());
    wait(
        "FRR's stub out of the FIB",
        || !forwarded("203.0.113.1"),
        String::new,
    );
    assert!(route(&handle, "198.51.100.0/24").is_some() && forwarded("198.51.100.1"));
    // Its external route went with it (its LSA stays until it ages out,
    // but the ASBR is unreachable).
    wait(
        "FRR's external route withdrawn",
        || route(&handle, "100.67.0.0/24").is_none(),
        || format!("{:?}", route(&handle, "100.67.0.0/24")),
    );
    println!(
        "measured: all Full {full_after:?} after starting BIRD and FRR; \
         FRR's route withdrawn {withdrawn_after:?} after FRR stopped (dead interval 4 s)"
    );
    // ferroute restarts: BIRD holds its router LSA from before at a higher
    // sequence than a new start's, and its network LSA, which ferroute (no
    // longer DR: BIRD took over) must flush (§13.4).
    let router_before = bird_sequence(&bird, 1, "10.0.0.1", "10.0.0.1").expect("held");
    handle.stop().unwrap();
    wait(
        "BIRD DR after ferroute stopped",
        || bird.birdc("show ospf interface").contains("State: DR"),
        || bird.birdc("show ospf interface"),
    );
    let restarted = Instant::now();
    let (handle, _fib) = start_ferroute(&lab.rt, &config);
    let full =
        |port: &str, router: &str| neighbor_state(&handle, port, router).as_deref() == Some("full");
    wait(
        "Full with BIRD again on both links",
        || full("lan", "10.0.0.2") && full("p2p", "10.0.0.2"),
        || show(&handle, "ospf").to_string(),
    );
    let full_again = restarted.elapsed();
    wait(
        "the old router LSA superseded, the old network LSA flushed",
        || {
            bird_sequence(&bird, 1, "10.0.0.1", "10.0.0.1").is_some_and(|s| s > router_before)
                && bird_sequence(&bird, 2, "192.0.2.1", "10.0.0.1").is_none()
        },
        || {
            format!(
                "before {router_before:#x}\n{}",
                bird.birdc("show ospf lsadb")
            )
        },
    );
    println!(
        "measured: after a restart, Full with BIRD on both links in {full_again:?}, \
         stale LSAs superseded/flushed in {:?}",
        restarted.elapsed()
    );
    wait(
        "BIRD's stub routed again",
        || route(&handle, "198.51.100.0/24").is_some(),
        || show(&handle, "ospf").to_string(),
    );
    drop(bird);
    handle.stop().unwrap();
    drop(lab.rt);
}
