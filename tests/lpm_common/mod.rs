//! Shared helpers of the `lpm_*` integration tests: where the real data is.
#![allow(dead_code)]

use std::path::PathBuf;

/// `$FERROUTE_DATA/data` (default `../shared/data` from the crate root), or
/// `None` after printing a skip message. Under `CI=true` absence is a failure.
pub fn data_dir() -> Option<PathBuf> {
    let root = std::env::var_os("FERROUTE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = root.join("data");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("real data missing at {} (CI=true)", dir.display());
    }
    eprintln!("skipping: no real data at {}", dir.display());
    None
}

/// One file of the data dir, with the same skip rules.
pub fn data_file(name: &str) -> Option<PathBuf> {
    let p = data_dir()?.join(name);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("real data file missing: {} (CI=true)", p.display());
    }
    eprintln!("skipping: {} missing", p.display());
    None
}

pub const CAIDA_2024: &str = "caida-routeviews-rv2-20240406.pfx2as.gz";
pub const CAIDA_2017: &str = "caida-routeviews-rv2-20170329-0200.pfx2as.gz";
pub const TIER1: &str = "tier1-fulltable-v4v6-2023-02.prefixes.txt.gz";
pub const RIS_V6: &str = "ripe-ris-riswhoisdump-IPv6-20241220.gz";
pub const AS293_V6: &str = "routeviews-peer-as293-ipv6-fib-20210117.txt.gz";
pub const MRT_2002: &str = "ripe-ris-rrc00-bview.20020722.2337.mrt.gz";
pub const LINX_V6: &str = "linx-rib-ipv6.20141225.0000.p69.txt.gz";
pub const LINX_UPDATES: &str = "linx-update.20141217.0000-p52.txt.gz";
