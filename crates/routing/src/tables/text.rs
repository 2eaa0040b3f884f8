//! The line-oriented table formats and the update trace.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{
    nexthop_of_asn, nexthop_of_prefix, LoadOptions, ParseError, RouteSink, Routes, TableFormat,
    Update,
};
use crate::lpm::NextHopId;

/// Data lines with their 1-based line numbers: CR stripped, blank lines and
/// `%` / `#` comments skipped.
fn data_lines(data: &[u8]) -> impl Iterator<Item = (usize, Result<&str, ParseError>)> {
    data.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(raw).map_err(|_| ParseError::Line {
                line: i + 1,
                message: "not UTF-8 text".into(),
            });
            (i + 1, line.map(str::trim))
        })
        .filter(|(_, l)| match l {
            Ok(s) => !(s.is_empty() || s.starts_with('%') || s.starts_with('#')),
            Err(_) => true,
        })
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::Line {
        line,
        message: message.into(),
    }
}

fn detect(fields: &[&str]) -> Option<TableFormat> {
    match fields {
        [net, len, _] if net.parse::<IpAddr>().is_ok() && len.parse::<u8>().is_ok() => {
            Some(TableFormat::Pfx2as)
        }
        [_, pfx, _] if pfx.contains('/') => Some(TableFormat::RisWhois),
        [pfx] if pfx.contains('/') => Some(TableFormat::CidrList),
        [pfx, _] if pfx.contains('/') => Some(TableFormat::PrefixNextHop),
        _ => None,
    }
}

fn parse_net(line: usize, s: &str) -> Result<IpNet, ParseError> {
    s.parse::<IpNet>()
        .map_err(|_| err(line, format!("bad prefix {s:?}")))
}

/// The first AS number of an origin field: `13335`, `24151_24409`,
/// `{7860,8111}`, `AS1,AS2` all work.
fn first_asn(line: usize, s: &str) -> Result<u32, ParseError> {
    let digits: &str = s
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    digits
        .parse()
        .map_err(|_| err(line, format!("bad origin AS {s:?}")))
}

pub(super) fn parse(data: &[u8], opts: &LoadOptions) -> Result<Routes, ParseError> {
    let mut format = None;
    let mut sink = RouteSink::default();
    // RIS: (prefix, peers, origin) per line, resolved after reading.
    let mut ris: Vec<(IpNet, u32, u32)> = Vec::new();
    let mut addr_ids: HashMap<IpAddr, NextHopId> = HashMap::new();
    for (n, line) in data_lines(data) {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let fmt = match format {
            Some(f) => f,
            None => {
                if matches!(fields.as_slice(), [_, "a" | "w", _, _]) {
                    return Err(ParseError::IsUpdateTrace);
                }
                let f = detect(&fields)
                    .ok_or_else(|| err(n, format!("unrecognised table line {line:?}")))?;
                format = Some(f);
                f
            }
        };
        match (fmt, fields.as_slice()) {
            (TableFormat::Pfx2as, [net, len, origin]) => {
                let net = parse_net(n, &format!("{net}/{len}"))?;
                sink.push(net, nexthop_of_asn(first_asn(n, origin)?, opts.nexthops));
            }
            (TableFormat::CidrList, [pfx]) => {
                let net = parse_net(n, pfx)?;
                sink.push(net, nexthop_of_prefix(net.trunc(), opts.nexthops));
            }
            (TableFormat::RisWhois, [origin, pfx, peers]) => {
                let net = parse_net(n, pfx)?.trunc();
                let peers = peers
                    .parse()
                    .map_err(|_| err(n, format!("bad peer count {peers:?}")))?;
                ris.push((net, peers, first_asn(n, origin)?));
            }
            (TableFormat::PrefixNextHop, [pfx, nh]) => {
                let net = parse_net(n, pfx)?;
                let id = if let Ok(id) = nh.parse::<NextHopId>() {
                    id
                } else if let Ok(addr) = nh.parse::<IpAddr>() {
                    let next = addr_ids.len() as NextHopId;
                    *addr_ids.entry(addr).or_insert(next)
                } else {
                    return Err(err(n, format!("bad next hop {nh:?}")));
                };
                sink.push(net, id);
            }
            (f, _) => {
                return Err(err(
                    n,
                    format!("line {line:?} does not fit the {f:?} format of the lines before"),
                ))
            }
        }
    }
    let format = format.ok_or(ParseError::Empty)?;
    if format == TableFormat::RisWhois {
        // Per prefix, the origin seen by the most peers (ties: file order).
        ris.sort_by_key(|&(net, peers, _)| (net, std::cmp::Reverse(peers)));
        ris.dedup_by_key(|&mut (net, _, _)| net);
        for (net, peers, asn) in ris {
            if peers >= opts.min_peers {
                sink.push(net, nexthop_of_asn(asn, opts.nexthops));
            }
        }
    }
    Ok(sink.finish(format))
}

pub(super) fn parse_updates(data: &[u8]) -> Result<Vec<Update>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in data_lines(data) {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [time, kind, pfx, nh] = fields.as_slice() else {
            return Err(err(
                n,
                format!("expected `time a|w prefix next-hop`: {line:?}"),
            ));
        };
        let time = time
            .parse()
            .map_err(|_| err(n, format!("bad time {time:?}")))?;
        let prefix = parse_net(n, pfx)?.trunc();
        let next_hop = match *kind {
            "a" => Some(
                nh.parse::<IpAddr>()
                    .map_err(|_| err(n, format!("bad next hop {nh:?}")))?,
            ),
            "w" => None,
            k => return Err(err(n, format!("update kind {k:?} is neither a nor w"))),
        };
        out.push(Update {
            time,
            prefix,
            next_hop,
        });
    }
    Ok(out)
}
