//! Where a problem in a TOML input file is, for errors that name the file,
//! the line and the field (`router.toml:14: port[1].mac: ...`). Shared by the
//! configuration and the link-state database file (below both, so that the
//! control plane does not depend on the configuration).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// An input file that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// Dotted path of the field (`port[1].mac`, `router[2].link[0].cost`);
    /// empty for file-level problems.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// 1-based line of byte `offset` in `src`.
pub fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a TOML syntax or type error points: its line and the dotted path of
/// the field, rebuilt from the table headers above it and the key on its
/// line (toml's own error does not expose the key path). Arrays of tables
/// are numbered per parent: `[[port.class]]` under the second `[[port]]` is
/// `port[1].class[0]`, since a new `[[port]]` restarts the count of its
/// classes. For a key split over several lines the path names the table only.
pub fn locate(src: &str, span: &Range<usize>) -> (usize, String) {
    let line = line_of(src, span.start);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut table = String::new();
    let mut key = None;
    for (n, text) in src.lines().enumerate().take(line) {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or("").trim().to_string();
            let nested = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&nested));
            *counts.entry(name.clone()).or_insert(0) += 1;
            // router.link -> router[i].link[j], with each level's current index.
            let mut path = String::new();
            let mut prefix = String::new();
            for part in name.split('.') {
                if !prefix.is_empty() {
                    prefix.push('.');
                    path.push('.');
                }
                prefix.push_str(part);
                let index = counts.get(&prefix).map_or(0, |c| c.saturating_sub(1));
                path.push_str(&format!("{part}[{index}]"));
            }
            table = path;
            key = None;
        } else if let Some(rest) = text.strip_prefix('[') {
            table = rest.split(']').next().unwrap_or("").trim().to_string();
            key = None;
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
pub fn one_line(message: &str) -> String {
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
    fn nested_arrays_count_per_parent() {
        let src = "[[port]]\n[[port.class]]\nweight = 1\n[[port]]\n[[port.class]]\nweight = 2\n\
                   [[port.class]]\nweight = x\n";
        let start = src.find("x").unwrap();
        assert_eq!(
            locate(src, &(start..start + 1)),
            (8, "port[1].class[1].weight".to_string())
        );
    }

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
