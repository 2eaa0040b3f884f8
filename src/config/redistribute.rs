//! `redistribute = [...]`: which routes of other sources a protocol
//! announces, by source name.

use toml::Spanned;

use super::context::Ctx;
use super::ConfigError;
use crate::control::rib::route::RouteSource;

/// The sources named in `names` (the list at `key`), each one of
/// `allowed`: "connected", "static", and "bgp" (eBGP and iBGP routes).
pub(super) fn sources(
    cx: &Ctx,
    names: &[Spanned<String>],
    key: &str,
    allowed: &[&str],
) -> Result<Vec<RouteSource>, ConfigError> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let wanted: &[RouteSource] = match name.get_ref().as_str() {
            n if !allowed.contains(&n) => &[],
            "connected" => &[RouteSource::CONNECTED],
            "static" => &[RouteSource::STATIC],
            "bgp" => &[RouteSource::EBGP, RouteSource::IBGP],
            _ => &[],
        };
        if wanted.is_empty() {
            let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            return Err(cx.err(
                name.span(),
                format!("{key}[{i}]"),
                format!(
                    "{:?}: only {} are redistributed",
                    name.get_ref(),
                    quoted.join(", ")
                ),
            ));
        }
        for s in wanted {
            if !out.contains(s) {
                out.push(*s);
            }
        }
    }
    Ok(out)
}
