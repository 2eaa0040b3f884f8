//! The written forms of a policy's values, read by the configuration and
//! shown back: communities `65001:100` (or `blackhole`, `no-export`,
//! `no-advertise`, `no-export-subconfed`), large communities
//! `65001:1:2`, prefix-list entries `198.51.100.0/24 ge 25 le 32`.

use ipnet::IpNet;

use super::PrefixEntry;
use crate::control::bgp::attrs::{LargeCommunity, BLACKHOLE, NO_EXPORT};

/// Well-known communities by name (RFC 1997, RFC 7999).
const WELL_KNOWN: [(&str, u32); 4] = [
    ("blackhole", BLACKHOLE),
    ("no-export", NO_EXPORT),
    ("no-advertise", 0xffff_ff02),
    ("no-export-subconfed", 0xffff_ff03),
];

/// `ASN:VALUE` (each 0..=65535) or a well-known name.
pub fn community(s: &str) -> Result<u32, String> {
    if let Some((_, v)) = WELL_KNOWN.iter().find(|(n, _)| *n == s) {
        return Ok(*v);
    }
    let bad = || {
        format!("{s:?} is not a community (ASN:VALUE with both 0..=65535, or blackhole, no-export, no-advertise, no-export-subconfed)")
    };
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    Ok(u32::from(a) << 16 | u32::from(b))
}

/// How a community is shown: its well-known name, or `ASN:VALUE`.
pub fn show_community(c: u32) -> String {
    match WELL_KNOWN.iter().find(|(_, v)| *v == c) {
        Some((name, _)) => (*name).to_string(),
        None => format!("{}:{}", c >> 16, c & 0xffff),
    }
}

/// `GLOBAL:LOCAL1:LOCAL2`, each a 32-bit number.
pub fn large_community(s: &str) -> Result<LargeCommunity, String> {
    let bad = || format!("{s:?} is not a large community (GLOBAL:LOCAL1:LOCAL2, 32-bit each)");
    let parts: Vec<u32> = s
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    <[u32; 3]>::try_from(parts).map_err(|_| bad())
}

/// `PREFIX [ge N] [le M]`.
pub fn prefix_entry(s: &str) -> Result<PrefixEntry, String> {
    let bad = |why: &str| {
        format!("{s:?}: {why} (like \"198.51.100.0/24\", \"10.0.0.0/8 le 24\", \"2001:db8::/32 ge 48 le 64\")")
    };
    let mut words = s.split_whitespace();
    let prefix: IpNet = words
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad("not a prefix"))?;
    if prefix.trunc() != prefix {
        return Err(bad("host bits set"));
    }
    let (mut ge, mut le) = (None, None);
    while let Some(word) = words.next() {
        let slot = match word {
            "ge" if ge.is_none() => &mut ge,
            "le" if le.is_none() => &mut le,
            _ => return Err(bad("expected ge or le (once each)")),
        };
        let n: u8 = words
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("ge/le need a length"))?;
        *slot = Some(n);
    }
    PrefixEntry::new(prefix, ge, le)
        .ok_or_else(|| bad("lengths must satisfy prefix length <= ge <= le <= 32 or 128"))
}
