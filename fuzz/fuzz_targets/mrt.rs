//! Fuzz target `mrt`: the one MRT reader (`tables::mrt`; record bodies by
//! bgpkit-parser) over arbitrary bytes, through both of its users, the BGP
//! import (`control::bgp::mrt::parse_mrt`) and the table loader
//! (`tables::parse_routes`). Seeds: runs of records of the real RIS dump
//! (`examples/mrt_records.rs`, written by `scripts/test`). For any input:
//! * neither user panics;
//! * they agree on the framing: when the BGP import rejects the file, the
//!   loader rejects it at the same byte offset, and the loader accepts
//!   nothing the import rejects;
//! * every route the import keeps names a known peer; skip samples are
//!   bounded and never outnumber the skips; ignored records never outnumber
//!   records;
//! * the loader's prefixes are truncated, sorted, unique, with next hops
//!   below the configured count.
#![no_main]

use ferroute::control::bgp::mrt::{parse_mrt, SKIP_SAMPLES};
use ferroute::tables::mrt::looks_like_mrt;
use ferroute::tables::{parse_routes, LoadOptions, ParseError};
use libfuzzer_sys::fuzz_target;

const NEXT_HOPS: u32 = 7;

fn sorted_unique<N: Copy + Ord>(keys: impl Iterator<Item = N>) -> bool {
    let keys: Vec<N> = keys.collect();
    keys.windows(2).all(|w| w[0] < w[1])
}

fuzz_target!(|data: &[u8]| {
    let dump = parse_mrt(data);
    match &dump {
        Ok(d) => {
            assert!(d.routes.iter().all(|r| r.peer < d.peers.len()));
            assert!(d.skip_samples.len() as u64 <= d.skipped);
            assert!(d.skip_samples.len() <= SKIP_SAMPLES);
            assert!(d.ignored <= d.records);
        }
        Err((_, offset, _)) => assert!(*offset < data.len()),
    }
    if !looks_like_mrt(data) {
        return;
    }
    let opts = LoadOptions {
        nexthops: NEXT_HOPS,
        min_peers: 0,
    };
    match (parse_routes(data, &opts), &dump) {
        (Ok(r), Ok(_)) => {
            assert!(sorted_unique(
                r.v4.iter().map(|(p, _)| (p.network(), p.prefix_len()))
            ));
            assert!(sorted_unique(
                r.v6.iter().map(|(p, _)| (p.network(), p.prefix_len()))
            ));
            assert!(r
                .v4
                .iter()
                .all(|(p, nh)| *p == p.trunc() && *nh < NEXT_HOPS));
            assert!(r
                .v6
                .iter()
                .all(|(p, nh)| *p == p.trunc() && *nh < NEXT_HOPS));
        }
        (Ok(_), Err((_, _, m))) => panic!("the loader took a file the import rejects: {m}"),
        (Err(ParseError::Mrt { offset, .. }), Err((_, framing, _))) => {
            assert_eq!(offset, *framing, "the two users disagree on the framing")
        }
        (Err(e), Err((_, _, m))) => panic!("framing error {m} reported by the loader as {e}"),
        (Err(_), Ok(_)) => {}
    }
});
