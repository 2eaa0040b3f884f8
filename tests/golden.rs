//! Golden tests: every real capture under `$FERROUTE_DATA/pcaps` is replayed
//! through the `ferroute replay` binary, and the outcome of every frame (the
//! verdict, the drop reason, the egress port, each transmitted frame and the
//! counters) is compared with an independent prediction made from the
//! forwarding rules (`golden/predict.rs`), not from the router's code.
//!
//! Each capture is replayed three times: with Ethernet MTUs; with small
//! egress MTUs (IPv4 out of a 576-byte port, IPv6 out of a 1280-byte port) so
//! that fragmentation, frag-needed and packet-too-big happen on real traffic;
//! and with the minimum IPv4 MTU of 68 so that packets with options are
//! fragmented too.

#[path = "golden/capture.rs"]
mod capture;
#[path = "golden/check.rs"]
mod check;
#[path = "golden/expect.rs"]
mod expect;
#[path = "golden/model.rs"]
mod model;
#[path = "golden/options.rs"]
mod options;
#[path = "golden/predict.rs"]
mod predict;
#[path = "golden/replay.rs"]
mod replay;

use std::path::PathBuf;

use check::{check_capture, Coverage};
use ferroute::testkit::pcaps_dir;
use model::Setup;

#[test]
fn every_capture_replays_as_the_rules_predict() {
    let Some(dir) = pcaps_dir() else {
        return;
    };
    let captures = capture::find_captures(&dir);
    assert!(!captures.is_empty(), "no captures under {}", dir.display());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ferroute"));
    let setups = [Setup::plain(), Setup::small_mtu(), Setup::tiny_mtu()];
    let mut coverage = Coverage::default();
    let mut failed = Vec::new();
    for path in &captures {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(path)
            .display()
            .to_string();
        for setup in &setups {
            match check_capture(&bin, path, setup, &mut coverage) {
                Ok(tally) => println!("ok   [{}] {name}: {tally}", setup.label),
                Err((tally, problems)) => {
                    println!("FAIL [{}] {name}: {tally}", setup.label);
                    for p in &problems {
                        println!("       {p}");
                    }
                    failed.push(format!("[{}] {name}", setup.label));
                }
            }
        }
    }
    println!("coverage across all captures:");
    for (outcome, n) in &coverage.seen {
        println!("  {outcome}: {n}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} replays disagree with the rules: {failed:#?}",
        failed.len(),
        captures.len() * setups.len()
    );
    let missing = coverage.missing();
    assert!(
        missing.is_empty(),
        "outcomes never verified on real traffic: {missing:?}"
    );
}
