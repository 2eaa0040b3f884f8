//! The real data (`../shared/data`, `../shared/pcaps`), found through
//! `FERROUTE_DATA` (default `<crate>/../shared`). What is missing is skipped
//! with a message, except under `CI=true`, where it fails the run.

use std::path::PathBuf;

/// `relative` in the repository (`examples/`, `scripts/`), wherever the
/// crate asking is built.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The shared data root: `$FERROUTE_DATA`, or `../shared` next to the
/// repository.
pub fn shared_root() -> PathBuf {
    std::env::var_os("FERROUTE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("../shared"))
}

/// `<root>/relative` if it exists (file or directory); otherwise `None`
/// after printing a skip message, or a panic under `CI=true`.
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_root().join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the real data {} is missing (set FERROUTE_DATA)",
        path.display()
    );
    eprintln!("skipping: {} not found (set FERROUTE_DATA)", path.display());
    None
}

/// `<root>/data`, the routing tables.
pub fn data_dir() -> Option<PathBuf> {
    shared_path("data")
}

/// `<root>/data/NAME`, one routing table or trace.
pub fn data_file(name: &str) -> Option<PathBuf> {
    shared_path(&format!("data/{name}"))
}

/// `<root>/pcaps`, the capture corpus.
pub fn pcaps_dir() -> Option<PathBuf> {
    shared_path("pcaps")
}

/// The real tables, by the name the tests and benches use for them.
pub mod names {
    pub const CAIDA_2024: &str = "caida-routeviews-rv2-20240406.pfx2as.gz";
    pub const CAIDA_2017: &str = "caida-routeviews-rv2-20170329-0200.pfx2as.gz";
    pub const TIER1: &str = "tier1-fulltable-v4v6-2023-02.prefixes.txt.gz";
    pub const RIS_V6: &str = "ripe-ris-riswhoisdump-IPv6-20241220.gz";
    pub const AS293_V6: &str = "routeviews-peer-as293-ipv6-fib-20210117.txt.gz";
    pub const MRT_2002: &str = "ripe-ris-rrc00-bview.20020722.2337.mrt.gz";
    pub const LINX_V6: &str = "linx-rib-ipv6.20141225.0000.p69.txt.gz";
    pub const LINX_UPDATES: &str = "linx-update.20141217.0000-p52.txt.gz";
}
