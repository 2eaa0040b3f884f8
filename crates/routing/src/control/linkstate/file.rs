//! The LSDB file: TOML, one `[[router]]` table per router LSA.
//!
//! The whole file is checked before anything is returned, so a caller
//! either gets every LSA or an error naming the file, line and field — a
//! database is never half-replaced. See the [module docs](super) for the
//! format.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::lsdb::{Link, RouterLsa, Stub, MAX_COST};
use crate::position::{line_of, locate, one_line};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLsdb {
    #[serde(default)]
    router: Vec<Spanned<RawRouter>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    id: Spanned<String>,
    sequence: Spanned<i64>,
    #[serde(default)]
    link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    stub: Vec<Spanned<RawStub>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    neighbor: Spanned<String>,
    cost: Spanned<i64>,
    /// One address, or a list of at most one per family.
    via: Option<Spanned<toml::Value>>,
    port: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStub {
    prefix: Spanned<String>,
    cost: Spanned<i64>,
}

/// An LSDB file that cannot be used, with where the problem is
/// (`lsdb.toml:14: router[1].link[0].cost: ...`).
pub type LsdbFileError = crate::position::FileError;

/// Reads and checks the LSDB file at `path`.
pub fn load(path: &Path) -> Result<Vec<RouterLsa>, LsdbFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LsdbFileError {
        file: file.clone(),
        line: None,
        field: String::new(),
        message: format!("cannot read the link-state database: {e}"),
    })?;
    parse(&text, &file)
}

/// Checks `text`; errors name `file`. LSAs come back in file order.
pub fn parse(text: &str, file: &str) -> Result<Vec<RouterLsa>, LsdbFileError> {
    let ctx = Ctx { text, file };
    let raw: RawLsdb = toml::from_str(text).map_err(|e| {
        // Every key of the top level is optional, so no error is about the
        // document as a whole: a span always points at something.
        let (line, field) = match e.span() {
            Some(span) => {
                let (line, field) = locate(text, &span);
                (Some(line), field)
            }
            None => (None, String::new()),
        };
        LsdbFileError {
            file: file.to_string(),
            line,
            field,
            message: one_line(e.message()),
        }
    })?;
    // Byte offsets of first occurrences, turned into lines only for an
    // error: counting the line of every entry made a large file quadratic
    // (test profile: a 4,000-router file took 2.7 s, now 0.36 s).
    let mut seen: HashMap<Ipv4Addr, usize> = HashMap::with_capacity(raw.router.len());
    let mut lsas = Vec::with_capacity(raw.router.len());
    for (i, router) in raw.router.iter().enumerate() {
        let lsa = ctx.router(router.get_ref(), i)?;
        if let Some(first) = seen.insert(lsa.router_id, router.span().start) {
            return Err(ctx.err(
                router.get_ref().id.span(),
                format!("router[{i}].id"),
                format!(
                    "router {} is already defined at line {}",
                    lsa.router_id,
                    line_of(text, first)
                ),
            ));
        }
        lsas.push(lsa);
    }
    Ok(lsas)
}

/// Writes `lsas` in the file format ([`parse`] reads it back unchanged):
/// for tools that generate an LSDB, and for tests.
pub fn to_toml<'a>(lsas: impl IntoIterator<Item = &'a RouterLsa>) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    for lsa in lsas {
        let _ = write!(
            out,
            "[[router]]\nid = \"{}\"\nsequence = {}\n",
            lsa.router_id, lsa.sequence
        );
        for link in &lsa.links {
            let _ = write!(
                out,
                "\n[[router.link]]\nneighbor = \"{}\"\ncost = {}\n",
                link.neighbor, link.cost
            );
            match link.next_hops.as_slice() {
                [] => {}
                [one] => {
                    let _ = writeln!(out, "via = \"{one}\"");
                }
                many => {
                    let list: Vec<String> = many.iter().map(|a| format!("\"{a}\"")).collect();
                    let _ = writeln!(out, "via = [{}]", list.join(", "));
                }
            }
            if let Some(port) = &link.port {
                let _ = writeln!(out, "port = {}", quote(port));
            }
        }
        for stub in &lsa.stubs {
            let _ = write!(
                out,
                "\n[[router.stub]]\nprefix = \"{}\"\ncost = {}\n",
                stub.prefix, stub.cost
            );
        }
        out.push('\n');
    }
    out
}

/// Builds errors that point into one file.
struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, field: String, message: String) -> LsdbFileError {
        LsdbFileError {
            file: self.file.to_string(),
            line: Some(line_of(self.text, span.start)),
            field,
            message,
        }
    }

    fn router(&self, raw: &RawRouter, i: usize) -> Result<RouterLsa, LsdbFileError> {
        let at = format!("router[{i}]");
        let router_id = self.router_id(&raw.id, format!("{at}.id"))?;
        let sequence = self.integer(&raw.sequence, format!("{at}.sequence"), 0, i64::MAX)?;
        let mut links = Vec::with_capacity(raw.link.len());
        // Parallel links (several to one neighbour) are allowed, as in OSPF.
        for (j, link) in raw.link.iter().enumerate() {
            let field = format!("{at}.link[{j}]");
            let link = self.link(link.get_ref(), router_id, &field)?;
            links.push(link);
        }
        let mut stub_lines = BTreeMap::new();
        let mut stubs = Vec::with_capacity(raw.stub.len());
        for (j, stub) in raw.stub.iter().enumerate() {
            let field = format!("{at}.stub[{j}]");
            let stub_raw = stub.get_ref();
            let prefix = self.prefix(&stub_raw.prefix, format!("{field}.prefix"))?;
            let cost = self.integer(&stub_raw.cost, format!("{field}.cost"), 0, MAX_COST.into())?;
            if let Some(first) = stub_lines.insert(prefix, stub.span().start) {
                return Err(self.err(
                    stub_raw.prefix.span(),
                    format!("{field}.prefix"),
                    format!(
                        "stub {prefix} is already listed at line {}",
                        line_of(self.text, first)
                    ),
                ));
            }
            stubs.push(Stub {
                prefix,
                cost: cost as u32,
            });
        }
        Ok(RouterLsa {
            router_id,
            sequence: sequence as u64,
            links,
            stubs,
            transits: Vec::new(),
        })
    }

    fn link(&self, raw: &RawLink, owner: Ipv4Addr, field: &str) -> Result<Link, LsdbFileError> {
        let neighbor = self.router_id(&raw.neighbor, format!("{field}.neighbor"))?;
        if neighbor == owner {
            return Err(self.err(
                raw.neighbor.span(),
                format!("{field}.neighbor"),
                format!("{neighbor} is the router itself"),
            ));
        }
        let cost = self.integer(&raw.cost, format!("{field}.cost"), 1, MAX_COST.into())? as u32;
        let next_hops = match &raw.via {
            Some(via) => self.gateways(via, format!("{field}.via"))?,
            None => Vec::new(),
        };
        let port = match &raw.port {
            Some(port) if port.get_ref().trim().is_empty() => {
                return Err(self.err(
                    port.span(),
                    format!("{field}.port"),
                    "the port name is empty".to_string(),
                ))
            }
            Some(port) => Some(port.get_ref().clone()),
            None => None,
        };
        match (&raw.via, &raw.port) {
            (Some(via), None) => Err(self.err(
                via.span(),
                format!("{field}.via"),
                "via needs a port (they name a first hop together)".to_string(),
            )),
            (None, Some(port)) => Err(self.err(
                port.span(),
                format!("{field}.port"),
                "port needs a via (they name a first hop together)".to_string(),
            )),
            _ => Ok(Link {
                neighbor,
                cost,
                next_hops,
                port,
            }),
        }
    }

    fn router_id(&self, value: &Spanned<String>, field: String) -> Result<Ipv4Addr, LsdbFileError> {
        let s = value.get_ref();
        match s.parse::<Ipv4Addr>() {
            Ok(id) if !id.is_unspecified() => Ok(id),
            Ok(id) => Err(self.err(value.span(), field, format!("{id} is not a router id"))),
            Err(_) => Err(self.err(
                value.span(),
                field,
                format!("{s:?} is not a router id (an IPv4 address)"),
            )),
        }
    }

    /// `"192.0.2.2"` or `["192.0.2.2", "2001:db8::2"]`.
    fn gateways(
        &self,
        value: &Spanned<toml::Value>,
        field: String,
    ) -> Result<Vec<IpAddr>, LsdbFileError> {
        let bad = |message: String| self.err(value.span(), field.clone(), message);
        let texts: Vec<&str> = match value.get_ref() {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str())
                .collect::<Option<_>>()
                .ok_or_else(|| bad("expected an address or a list of addresses".into()))?,
            _ => return Err(bad("expected an address or a list of addresses".into())),
        };
        let mut out: Vec<IpAddr> = Vec::with_capacity(texts.len());
        for s in texts {
            let addr = self.gateway(s).map_err(&bad)?;
            if out.iter().any(|a| a.is_ipv4() == addr.is_ipv4()) {
                return Err(bad(format!("{addr}: at most one address per family")));
            }
            out.push(addr);
        }
        if out.is_empty() {
            return Err(bad("the list of addresses is empty".into()));
        }
        Ok(out)
    }

    fn gateway(&self, s: &str) -> Result<IpAddr, String> {
        let addr: IpAddr = s
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address"))?;
        if addr.is_unspecified() || addr.is_multicast() {
            return Err(format!("{addr} cannot be a next hop"));
        }
        Ok(addr)
    }

    fn prefix(&self, value: &Spanned<String>, field: String) -> Result<IpNet, LsdbFileError> {
        let s = value.get_ref();
        let prefix: IpNet = s.parse().map_err(|_| {
            self.err(
                value.span(),
                field.clone(),
                format!("{s:?} is not a prefix (address/length)"),
            )
        })?;
        if prefix.trunc() != prefix {
            return Err(self.err(
                value.span(),
                field,
                format!(
                    "{prefix} has host bits set (did you mean {}?)",
                    prefix.trunc()
                ),
            ));
        }
        Ok(prefix)
    }

    fn integer(
        &self,
        value: &Spanned<i64>,
        field: String,
        min: i64,
        max: i64,
    ) -> Result<i64, LsdbFileError> {
        let v = *value.get_ref();
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(
                value.span(),
                field,
                format!("{v} is out of range ({min}..={max})"),
            ))
        }
    }
}
