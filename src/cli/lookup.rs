//! `ferroute lookup`: longest-prefix match of addresses against a routing
//! table file, one line per address: `ADDRESS PREFIX NEXT-HOP` (`-` for no
//! match), in input order. The formatting lives in `tables::query`.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::CliError;
use crate::tables::query::{parse_address_args, parse_address_lines, write_lookups, Tables};
use crate::tables::{load_routes, LoadOptions};

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Routing table: CAIDA pfx2as, CIDR list, RIS whois dump, `prefix next-hop`
    /// text or MRT TABLE_DUMP(_V2); gzip'ed or not.
    #[arg(long, value_name = "FILE")]
    pub table: PathBuf,
    /// Next hops assigned (hash of origin AS or prefix) where the file has none.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub nexthops: u32,
    /// RIS whois dumps: keep only prefixes seen by at least this many peers.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_peers: u32,
    /// File of addresses, one per line (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub addresses: Option<PathBuf>,
    /// Addresses to look up (before those of --addresses).
    #[arg(value_name = "ADDR")]
    pub addrs: Vec<String>,
}

pub fn run(args: LookupArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut addrs = parse_address_args(&args.addrs).map_err(CliError::usage)?;
    if let Some(path) = &args.addresses {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading addresses from standard input")
                .map_err(CliError::runtime)?;
            s
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(CliError::runtime)?
        };
        let more = parse_address_lines(&text)
            .with_context(|| format!("{}", path.display()))
            .map_err(CliError::usage)?;
        addrs.extend(more);
    }
    if addrs.is_empty() {
        return Err(CliError::usage(anyhow::anyhow!(
            "no addresses: give them as arguments or with --addresses FILE"
        )));
    }
    let opts = LoadOptions {
        nexthops: args.nexthops,
        min_peers: args.min_peers,
    };
    let routes = load_routes(&args.table, &opts).map_err(CliError::runtime)?;
    let tables = Tables::from_routes(&routes)
        .with_context(|| format!("{}", args.table.display()))
        .map_err(CliError::runtime)?;
    write_lookups(&tables, &addrs, out)
        .context("writing output")
        .map_err(CliError::runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(table: PathBuf, addrs: &[&str], addresses: Option<PathBuf>) -> LookupArgs {
        LookupArgs {
            table,
            nexthops: 64,
            min_peers: 0,
            addresses,
            addrs: addrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn prints_one_line_per_address_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("t.txt");
        std::fs::write(&table, "10.0.0.0/8 7\n10.1.0.0/16 9\n2001:db8::/32 3\n").unwrap();
        let list = dir.path().join("a.txt");
        std::fs::write(&list, "2001:db8::5\n# comment\n8.8.8.8\n").unwrap();
        let mut out = Vec::new();
        run(
            args(table.clone(), &["10.1.0.1", "10.2.0.1"], Some(list)),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.1.0.1 10.1.0.0/16 9\n10.2.0.1 10.0.0.0/8 7\n2001:db8::5 2001:db8::/32 3\n8.8.8.8 - -\n"
        );
        let e = run(args(table.clone(), &["10.0.0.x"], None), &mut Vec::new()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("argument 1"), "{e}");
        let e = run(args(table, &[], None), &mut Vec::new()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = run(
            args(dir.path().join("missing"), &["::1"], None),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 1);
    }
}
