//! The `[bgp]` table: decision knobs and the files BGP routes come from.

use super::context::Ctx;
use super::raw::RawConfig;
use super::{BgpConfig, BgpMrtConfig, BgpTableConfig, ConfigError};
use crate::control::bgp::policy::Policy;

pub(super) fn bgp(cx: &Ctx, raw: &RawConfig) -> Result<Option<BgpConfig>, ConfigError> {
    let Some(section) = &raw.bgp else {
        return Ok(None);
    };
    let r = section.get_ref();
    let local_as = match &r.local_as {
        Some(v) => cx.bounded(v, "bgp.local_as", 1..=u32::MAX as i64)? as u32,
        None => {
            return Err(cx.err(
                section.span(),
                "bgp.local_as",
                "required when [bgp] is present".to_string(),
            ))
        }
    };
    let policies = super::bgp_policy::policies(cx, &r.policy)?;
    // A file's routes pass "all" unless it names a policy.
    let import = |v: &Option<toml::Spanned<String>>, field: String| {
        v.as_ref().map_or(Ok(Policy::All), |v| {
            super::bgp_peer::policy(cx, v, field, &policies)
        })
    };
    let mut mrt = Vec::with_capacity(r.mrt.len());
    for (i, m) in r.mrt.iter().enumerate() {
        let file = &m.get_ref().file;
        if file.get_ref().is_empty() {
            return Err(cx.err(
                file.span(),
                format!("bgp.mrt[{i}].file"),
                "an empty path".to_string(),
            ));
        }
        mrt.push(BgpMrtConfig {
            file: file.get_ref().into(),
            import: import(&m.get_ref().import, format!("bgp.mrt[{i}].import"))?,
        });
    }
    let mut tables = Vec::with_capacity(r.table.len());
    for (i, t) in r.table.iter().enumerate() {
        let t = t.get_ref();
        if t.file.get_ref().is_empty() {
            return Err(cx.err(
                t.file.span(),
                format!("bgp.table[{i}].file"),
                "an empty path".to_string(),
            ));
        }
        let peer = cx.ip(&t.peer, format!("bgp.table[{i}].peer"))?;
        if peer.is_unspecified() || peer.is_multicast() {
            return Err(cx.err(
                t.peer.span(),
                format!("bgp.table[{i}].peer"),
                format!("{peer} cannot be a peer's (next hop) address"),
            ));
        }
        let field = format!("bgp.table[{i}].peer_as");
        let peer_as = cx.bounded(&t.peer_as, &field, 1..=u32::MAX as i64)? as u32;
        if let Some(j) = tables.iter().position(|o: &BgpTableConfig| o.peer == peer) {
            return Err(cx.err(
                t.peer.span(),
                format!("bgp.table[{i}].peer"),
                format!("{peer} is already the peer of bgp.table[{j}]"),
            ));
        }
        tables.push(BgpTableConfig {
            file: t.file.get_ref().into(),
            peer,
            peer_as,
            import: import(&t.import, format!("bgp.table[{i}].import"))?,
        });
    }
    Ok(Some(BgpConfig {
        local_as,
        always_compare_med: r.always_compare_med.as_ref().is_some_and(|v| *v.get_ref()),
        multipath: r.multipath.as_ref().is_some_and(|v| *v.get_ref()),
        mrt,
        tables,
        peers: super::bgp_peer::peers(cx, r, local_as, &policies)?,
        redistribute: super::bgp_peer::redistribute(cx, r)?,
    }))
}
