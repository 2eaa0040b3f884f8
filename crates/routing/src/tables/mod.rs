//! Routing tables from files: what the daemon's BGP inputs, `ferroute
//! lookup`, the benchmarks and the tests read. Above `lpm` (it produces
//! routes for the tries, and [`query`] looks addresses up in them), below
//! the control plane.
//!
//! One entry point, [`load_routes`], reads any of the formats below; the
//! format is detected from the first data line (or the MRT record header),
//! and gzip is undone transparently when the file starts with gzip's magic
//! bytes, whatever its name.
//!
//! | format | line | next hop |
//! |---|---|---|
//! | CAIDA pfx2as | `network<TAB>len<TAB>origin-AS` | hash(first origin AS) mod N |
//! | CIDR list | `1.0.0.0/24` (CRLF or LF) | hash(prefix) mod N |
//! | RIS whois dump | `origin-AS<TAB>prefix<TAB>peers` (`%` comments) | hash(origin seen by most peers) mod N |
//! | prefix + next hop | `prefix/len<WS>next-hop` | integer: as is; address: dense ids by first appearance |
//! | MRT TABLE_DUMP (12) / TABLE_DUMP_V2 (13) | binary | hash(origin AS of the first RIB entry) mod N |
//!
//! N is [`LoadOptions::nexthops`]. A prefix listed twice keeps its first
//! entry (RIS: the origin seen by the most peers). Prefixes come back
//! truncated to their length, de-duplicated and sorted by (network, length).
//! Update traces (`time a|w prefix next-hop`) are read by [`load_updates`].
//! MRT dumps are read by [`mrt`], the one MRT reader (BGP's Adj-RIBs-In use
//! it with full path attributes).

pub mod mrt;
pub mod query;
mod text;

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::lpm::NextHopId;
use mrt::{MrtEntry, MrtPeer, MrtPosition, MrtVisitor};

/// How to turn a table file into routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Number of distinct next hops assigned to files that carry none (ids
    /// `0..nexthops`). Must be at least 1.
    pub nexthops: u32,
    /// RIS whois dumps only: keep prefixes seen by at least this many RIS peers.
    pub min_peers: u32,
}

impl Default for LoadOptions {
    /// 64 next hops (the setting the Poptrie paper's numbers use), no peer filter.
    fn default() -> Self {
        LoadOptions {
            nexthops: 64,
            min_peers: 0,
        }
    }
}

/// The formats [`load_routes`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Pfx2as,
    CidrList,
    RisWhois,
    PrefixNextHop,
    Mrt,
}

/// The routes of one file, per family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub format: TableFormat,
    pub v4: Vec<(Ipv4Net, NextHopId)>,
    pub v6: Vec<(Ipv6Net, NextHopId)>,
}

/// What went wrong reading a table or trace.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // The cause is in the message, so it is not also exposed as `source`
    // (error chains would print it twice).
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Parse { path: PathBuf, error: ParseError },
}

/// A format error, located by line (text) or byte offset (MRT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("MRT record at byte {offset}: {message}")]
    Mrt { offset: usize, message: String },
    #[error("no routes and no recognisable data line")]
    Empty,
    #[error("this is a BGP update trace (time a|w prefix next-hop), not a routing table")]
    IsUpdateTrace,
    #[error("{0}")]
    Options(&'static str),
}

/// Reads the routing table at `path` (any format above, gzip or not).
pub fn load_routes(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Routes, LoadError> {
    let path = path.as_ref();
    let data = read_maybe_gzip(path)?;
    parse_routes(&data, opts).map_err(|error| LoadError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// Parses a table already in memory (decompressed).
pub fn parse_routes(data: &[u8], opts: &LoadOptions) -> Result<Routes, ParseError> {
    if opts.nexthops == 0 {
        return Err(ParseError::Options("nexthops must be at least 1"));
    }
    if mrt::looks_like_mrt(data) {
        return mrt_routes(data, opts);
    }
    text::parse(data, opts)
}

/// An MRT dump's prefixes, each with the next hop of its first entry's
/// origin AS (of its prefix when that entry has no AS_PATH). Stricter than
/// the BGP import: a record the reader skips is an error here.
fn mrt_routes(data: &[u8], opts: &LoadOptions) -> Result<Routes, ParseError> {
    struct Origins {
        sink: RouteSink,
        nexthops: u32,
        error: Option<ParseError>,
    }
    impl MrtVisitor for Origins {
        fn rib(&mut self, _: MrtPosition, _: &[MrtPeer], prefix: IpNet, entries: Vec<MrtEntry>) {
            let nh = match entries.first().and_then(|e| mrt::origin_as(&e.attributes)) {
                Some(asn) => nexthop_of_asn(asn, self.nexthops),
                None => nexthop_of_prefix(prefix, self.nexthops),
            };
            self.sink.push(prefix, nh);
        }
        fn skip(&mut self, at: MrtPosition, message: String) {
            self.error.get_or_insert(ParseError::Mrt {
                offset: at.offset,
                message,
            });
        }
    }
    let mut origins = Origins {
        sink: RouteSink::default(),
        nexthops: opts.nexthops,
        error: None,
    };
    mrt::read_mrt_records(data, &mut origins).map_err(|f| ParseError::Mrt {
        offset: f.at.offset,
        message: f.message.into(),
    })?;
    if let Some(e) = origins.error {
        return Err(e);
    }
    if origins.sink.v4.is_empty() && origins.sink.v6.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(origins.sink.finish(TableFormat::Mrt))
}

/// One line of a BGP update trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// Unix time of the update.
    pub time: u64,
    pub prefix: IpNet,
    /// `Some(next hop)` for an announcement, `None` for a withdrawal.
    pub next_hop: Option<IpAddr>,
}

/// Reads an update trace: `unix-time a|w prefix/len next-hop` per line.
pub fn load_updates(path: impl AsRef<Path>) -> Result<Vec<Update>, LoadError> {
    let path = path.as_ref();
    let data = read_maybe_gzip(path)?;
    text::parse_updates(&data).map_err(|error| LoadError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// Reads the whole file, gunzipping it if it starts with the gzip magic.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, LoadError> {
    let io_err = |error| LoadError::Io {
        path: path.to_owned(),
        error,
    };
    let raw = std::fs::read(path).map_err(io_err)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 6);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io_err)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// A fixed, portable mixer (splitmix64's finaliser): next-hop assignment
/// must not change between runs, machines or Rust versions.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Next hop for an origin AS.
fn nexthop_of_asn(asn: u32, n: u32) -> NextHopId {
    (mix64(u64::from(asn)) % u64::from(n)) as NextHopId
}

/// Next hop for a prefix (files without origin or next hop).
fn nexthop_of_prefix(net: IpNet, n: u32) -> NextHopId {
    let (bits, len) = match net {
        IpNet::V4(p) => (u128::from(u32::from(p.network())) << 96, p.prefix_len()),
        IpNet::V6(p) => (u128::from(p.network()), p.prefix_len()),
    };
    let h = mix64((bits >> 64) as u64 ^ mix64(bits as u64 ^ u64::from(len)));
    (h % u64::from(n)) as NextHopId
}

/// Collects (prefix, next hop) pairs, then sorts and de-duplicates them
/// keeping the first occurrence of each prefix.
#[derive(Default)]
struct RouteSink {
    v4: Vec<(Ipv4Net, NextHopId)>,
    v6: Vec<(Ipv6Net, NextHopId)>,
}

impl RouteSink {
    fn push(&mut self, net: IpNet, nh: NextHopId) {
        match net.trunc() {
            IpNet::V4(p) => self.v4.push((p, nh)),
            IpNet::V6(p) => self.v6.push((p, nh)),
        }
    }

    fn finish(mut self, format: TableFormat) -> Routes {
        // Stable sorts keep file order among equal prefixes, so dedup keeps the first.
        self.v4.sort_by_key(|(p, _)| (p.network(), p.prefix_len()));
        self.v4.dedup_by_key(|(p, _)| *p);
        self.v6.sort_by_key(|(p, _)| (p.network(), p.prefix_len()));
        self.v6.dedup_by_key(|(p, _)| *p);
        Routes {
            format,
            v4: self.v4,
            v6: self.v6,
        }
    }
}

#[cfg(test)]
mod tests;
