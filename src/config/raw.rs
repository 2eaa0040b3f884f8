//! The configuration file as TOML gives it, before any meaning is checked.
//!
//! Every leaf keeps its byte span so that a semantic error can name the line
//! it comes from; leaves are read as strings and integers so that a wrong
//! address or MAC is reported by our checks (with the field's name) rather
//! than by a type error deep inside serde.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub router: Spanned<RawRouter>,
    #[serde(default)]
    pub port: Vec<Spanned<RawPort>>,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub neighbor: Vec<Spanned<RawNeighbor>>,
    pub distance: Option<Spanned<RawDistance>>,
    pub linkstate: Option<Spanned<RawLinkState>>,
    pub bgp: Option<Spanned<RawBgp>>,
}

/// `[bgp]`: the decision knobs and the route inputs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgp {
    pub local_as: Option<Spanned<i64>>,
    pub always_compare_med: Option<Spanned<bool>>,
    pub multipath: Option<Spanned<bool>>,
    #[serde(default)]
    pub mrt: Vec<Spanned<RawBgpMrt>>,
    #[serde(default)]
    pub table: Vec<Spanned<RawBgpTable>>,
}

/// `[[bgp.mrt]]`: an MRT RIB dump.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpMrt {
    pub file: Spanned<String>,
}

/// `[[bgp.table]]`: a pfx2as/CIDR table as one peer's routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgpTable {
    pub file: Spanned<String>,
    pub peer: Spanned<String>,
    pub peer_as: Spanned<i64>,
}

/// `[distance]`: administrative distance per route source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDistance {
    pub connected: Option<Spanned<i64>>,
    #[serde(rename = "static")]
    pub static_route: Option<Spanned<i64>>,
    pub ebgp: Option<Spanned<i64>>,
    pub linkstate: Option<Spanned<i64>>,
    pub ibgp: Option<Spanned<i64>>,
}

/// `[linkstate]`: where the LSDB comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLinkState {
    pub file: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouter {
    pub id: Spanned<String>,
    pub icmp_rate: Option<Spanned<i64>>,
    pub icmp_burst: Option<Spanned<i64>>,
    pub accept_source_route: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub name: Spanned<String>,
    pub interface: Option<Spanned<String>>,
    pub mac: Spanned<String>,
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    pub mtu: Option<Spanned<i64>>,
    // Output queueing (see `config/qos.rs`).
    pub scheduler: Option<Spanned<String>>,
    pub rate: Option<Spanned<RawRate>>,
    pub overhead: Option<Spanned<i64>>,
    pub codel_target_ms: Option<Spanned<f64>>,
    pub codel_interval_ms: Option<Spanned<f64>>,
    pub queue_limit: Option<Spanned<i64>>,
    #[serde(default)]
    pub class: Vec<Spanned<RawClass>>,
}

/// A rate: `"100mbit"` (bits/s with a unit) or an integer of bytes/s.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawRate {
    BytesPerSecond(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClass {
    pub name: Spanned<String>,
    #[serde(default)]
    pub dscp: Vec<Spanned<i64>>,
    pub weight: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub prefix: Spanned<String>,
    pub via: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub address: Spanned<String>,
    pub mac: Spanned<String>,
    pub port: Spanned<String>,
}

/// 1-based line of byte `offset` in `src`.
pub(super) fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a TOML error points: its line and the dotted path of the field
/// (`port[1].mac`), recovered from the table headers above it and the key on
/// its line. toml's own error does not expose the key path, so it is
/// reconstructed from the text; for a key split over several lines the path
/// names the table only.
pub(super) fn locate(src: &str, span: &Range<usize>) -> (usize, String) {
    let line = line_of(src, span.start);
    let mut table = String::new();
    let mut array_counts: Vec<(String, usize)> = Vec::new();
    let mut key = None;
    for (n, text) in src.lines().enumerate().take(line) {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let index = match array_counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    array_counts.push((name.clone(), 1));
                    0
                }
            };
            table = format!("{name}[{index}]");
        } else if let Some(rest) = text.strip_prefix('[') {
            table = rest.split(']').next().unwrap_or("").trim().to_string();
        } else if n + 1 == line {
            key = text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty() && !k.starts_with('#'));
        }
    }
    let path = match (table.is_empty(), key) {
        (_, None) => table,
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
    };
    (line, path)
}

/// toml's messages can span several lines; the error is shown on one.
pub(super) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .replace("expected i64", "expected an integer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_table_index_and_key() {
        let src =
            "[router]\nid = \"x\"\n\n[[port]]\nname = \"a\"\n[[port]]\nname = \"b\"\nmac = 5\n";
        let at = |needle: &str| {
            let start = src.find(needle).unwrap();
            locate(src, &(start..start + 1))
        };
        assert_eq!(at("\"x\""), (2, "router.id".to_string()));
        assert_eq!(at("\"a\""), (5, "port[0].name".to_string()));
        assert_eq!(at("5"), (8, "port[1].mac".to_string()));
        let header = src.rfind("[[port]]").unwrap();
        assert_eq!(
            locate(src, &(header..header + 8)),
            (6, "port[1]".to_string())
        );
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
