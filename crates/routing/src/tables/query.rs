//! Operator lookups (`ferroute lookup`): addresses in, one line out per
//! address, `ADDRESS PREFIX NEXT-HOP`, with `-` for no match, in input order.
//! The prefix comes from the route record, so this is not the fast path.

use std::io::{self, Write};
use std::net::IpAddr;

use ipnet::IpNet;

use super::Routes;
use crate::lpm::{Ipv4Table, Ipv6Table, LpmError, NextHopId};

/// Both families' tables, as a FIB holds them.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub v4: Ipv4Table,
    pub v6: Ipv6Table,
}

impl Tables {
    pub fn from_routes(routes: &Routes) -> Result<Self, LpmError> {
        Ok(Tables {
            v4: Ipv4Table::try_from_routes(routes.v4.iter().copied())?,
            v6: Ipv6Table::try_from_routes(routes.v6.iter().copied())?,
        })
    }

    /// The longest matching prefix of `addr` and its next hop.
    pub fn lookup_prefix(&self, addr: IpAddr) -> Option<(IpNet, NextHopId)> {
        match addr {
            IpAddr::V4(a) => self.v4.lookup_prefix(a).map(|(p, nh)| (IpNet::V4(p), nh)),
            IpAddr::V6(a) => self.v6.lookup_prefix(a).map(|(p, nh)| (IpNet::V6(p), nh)),
        }
    }
}

/// One output line (without the newline).
pub fn format_lookup(tables: &Tables, addr: IpAddr) -> String {
    match tables.lookup_prefix(addr) {
        Some((prefix, nh)) => format!("{addr} {prefix} {nh}"),
        None => format!("{addr} - -"),
    }
}

/// Writes one line per address, in order.
pub fn write_lookups(tables: &Tables, addrs: &[IpAddr], out: &mut dyn Write) -> io::Result<()> {
    for &a in addrs {
        writeln!(out, "{}", format_lookup(tables, a))?;
    }
    Ok(())
}

/// An address that does not parse, located for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {text:?} is not an IPv4 or IPv6 address")]
pub struct BadAddress {
    /// `argument 2`, `line 7`, ...
    pub origin: String,
    pub text: String,
}

/// Parses an address list, one per line; blank lines and `#` comments are
/// skipped.
pub fn parse_address_lines(text: &str) -> Result<Vec<IpAddr>, BadAddress> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(line.parse().map_err(|_| BadAddress {
            origin: format!("line {}", i + 1),
            text: line.to_string(),
        })?);
    }
    Ok(out)
}

/// Parses command-line address arguments.
pub fn parse_address_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<IpAddr>, BadAddress> {
    args.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_ref().trim();
            s.parse().map_err(|_| BadAddress {
                origin: format!("argument {}", i + 1),
                text: s.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{parse_routes, LoadOptions};

    fn tables() -> Tables {
        let routes = parse_routes(
            b"10.0.0.0/8 1\n10.1.0.0/16 2\n0.0.0.0/0 3\n2001:db8::/32 4\n2001:db8::1/128 5\n",
            &LoadOptions::default(),
        )
        .unwrap();
        Tables::from_routes(&routes).unwrap()
    }

    #[test]
    fn lines_in_input_order_with_dash_for_no_match() {
        let t = tables();
        let addrs =
            parse_address_args(&["10.1.2.3", "2001:db8::1", "192.0.2.1", "2001:db9::1"]).unwrap();
        let mut out = Vec::new();
        write_lookups(&t, &addrs, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.1.2.3 10.1.0.0/16 2\n2001:db8::1 2001:db8::1/128 5\n192.0.2.1 0.0.0.0/0 3\n2001:db9::1 - -\n"
        );
    }

    #[test]
    fn address_lists_and_their_errors() {
        assert_eq!(
            parse_address_lines("# probes\n10.0.0.1\r\n\n  ::1  \n").unwrap(),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        let e = parse_address_lines("10.0.0.1\n10.0.0.300\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: \"10.0.0.300\" is not an IPv4 or IPv6 address"
        );
        let e = parse_address_args(&["::1", "bogus"]).unwrap_err();
        assert_eq!(e.origin, "argument 2");
    }
}
