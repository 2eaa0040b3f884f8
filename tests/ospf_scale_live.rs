//! A quick run of `scripts/bench-ospf --size 10` (the OSPF scale benchmark
//! with a 10 x 10 grid): the scripted speaker forms its three adjacencies,
//! and ferroute, BIRD and FRR all reach Full and hold every stub of the
//! grid. It checks the benchmark works, not how fast anything is.
//! Needs root, BIRD, FRR ospfd, jq and python3 (skips otherwise, fails
//! under CI=true).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use ferroute::testkit::daemons::{require_daemon, FRR_DAEMONS};
use ferroute::testkit::netns::{poll_until, require_root};

/// The whole script: lab up, three daemons and the speaker, one round.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn bench_ospf_quick_run_fills_every_receiver() {
    let test = "bench_ospf_quick_run_fills_every_receiver";
    if !require_root(test, "network namespaces")
        || !require_daemon(test, "bird")
        || !require_daemon(test, &format!("{FRR_DAEMONS}/ospfd"))
        || !require_daemon(test, "jq")
        || !require_daemon(test, "python3")
    {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench-ospf");
    let out = std::env::temp_dir().join(format!("ferroute-bench-ospf-{}.out", std::process::id()));
    let mut child = Command::new(script)
        .args(["--size", "10", "--rounds", "1"])
        .env("FERROUTE", env!("CARGO_BIN_EXE_ferroute"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start scripts/bench-ospf");
    let mut status = None;
    poll_until(LIMIT, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        // SIGTERM lets the script's trap take its lab down.
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = child.wait();
        panic!("scripts/bench-ospf did not finish within {LIMIT:?}");
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(status.success(), "scripts/bench-ospf: {status}\n{text}");
    let round = text
        .lines()
        .find(|l| l.starts_with("round=1 "))
        .unwrap_or_else(|| panic!("no round in:\n{text}"));
    let values: HashMap<&str, &str> = round
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    // 100 grid stubs and the two other receivers' links.
    assert_eq!(values["expected_routes"], "102", "{round}");
    for key in ["ferroute_routes", "bird_routes", "frr_routes"] {
        let n: u64 = values[key].parse().unwrap_or(0);
        assert!(n >= 102, "{key}: {round}");
    }
    for key in [
        "ferroute_full_s",
        "ferroute_fib_s",
        "bird_full_s",
        "bird_fib_s",
        "frr_full_s",
        "frr_fib_s",
    ] {
        assert!(
            values[key].parse::<f64>().is_ok(),
            "{key} not reached: {round}"
        );
    }
    println!("measured (quick run, not a benchmark): {round}");
}
