//! `[[bgp.peer]]` and `[bgp] redistribute`: live sessions and what they
//! advertise.

use std::time::Duration;

use super::context::Ctx;
use super::raw::{RawBgp, RawBgpPeer};
use super::ConfigError;
use crate::control::bgp::speaker::{BgpPeerConfig, Policy};
use crate::control::rib::route::RouteSource;

/// `redistribute`: "connected" and "static".
pub(super) fn redistribute(cx: &Ctx, raw: &RawBgp) -> Result<Vec<RouteSource>, ConfigError> {
    let mut out = Vec::new();
    for (i, name) in raw.redistribute.iter().enumerate() {
        let source = match name.get_ref().as_str() {
            "connected" => RouteSource::CONNECTED,
            "static" => RouteSource::STATIC,
            other => {
                return Err(cx.err(
                    name.span(),
                    format!("bgp.redistribute[{i}]"),
                    format!("{other:?}: only \"connected\" and \"static\" are redistributed"),
                ))
            }
        };
        if !out.contains(&source) {
            out.push(source);
        }
    }
    Ok(out)
}

pub(super) fn peers(
    cx: &Ctx,
    raw: &RawBgp,
    local_as: u32,
) -> Result<Vec<BgpPeerConfig>, ConfigError> {
    let mut out: Vec<BgpPeerConfig> = Vec::new();
    for (i, p) in raw.peer.iter().enumerate() {
        let peer = peer(cx, i, p.get_ref(), local_as)?;
        if let Some(j) = out.iter().position(|o| o.address == peer.address) {
            let a = &p.get_ref().address;
            return Err(cx.err(
                a.span(),
                format!("bgp.peer[{i}].address"),
                format!("{} is already bgp.peer[{j}]", peer.address),
            ));
        }
        out.push(peer);
    }
    Ok(out)
}

fn peer(cx: &Ctx, i: usize, p: &RawBgpPeer, local_as: u32) -> Result<BgpPeerConfig, ConfigError> {
    let field = |f: &str| format!("bgp.peer[{i}].{f}");
    let address = cx.ip(&p.address, field("address"))?;
    if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
        return Err(cx.err(
            p.address.span(),
            field("address"),
            format!("{address} cannot be a peer's address"),
        ));
    }
    let remote_as = cx.bounded(&p.remote_as, &field("remote_as"), 1..=u32::MAX as i64)? as u32;
    let mut c = BgpPeerConfig::new(address, remote_as, local_as);
    if let Some(a) = &p.local_address {
        c.local_address = Some(cx.ip(a, field("local_address"))?);
    }
    c.passive = p.passive.as_ref().is_some_and(|v| *v.get_ref());
    c.graceful_restart = p.graceful_restart.as_ref().is_none_or(|v| *v.get_ref());
    if let Some(h) = &p.hold_time {
        let h = cx.bounded(h, &field("hold_time"), 0..=65535)? as u16;
        if h == 1 || h == 2 {
            return Err(cx.err(
                p.hold_time.as_ref().map_or(0..0, |h| h.span()),
                field("hold_time"),
                "0, or 3 seconds and more (RFC 4271 §4.2)".to_string(),
            ));
        }
        c.hold_time = h;
    }
    if let Some(r) = &p.connect_retry {
        c.connect_retry =
            Duration::from_secs(cx.bounded(r, &field("connect_retry"), 1..=3600)? as u64);
    }
    if let Some(m) = &p.multihop {
        c.multihop = Some(cx.bounded(m, &field("multihop"), 1..=255)? as u8);
    }
    for (value, slot, name) in [
        (&p.import, &mut c.import, "import"),
        (&p.export, &mut c.export, "export"),
    ] {
        let Some(v) = value else {
            continue;
        };
        *slot = match v.get_ref().as_str() {
            "all" => Policy::All,
            "none" => Policy::None,
            other => {
                return Err(cx.err(
                    v.span(),
                    field(name),
                    format!(
                        "{other:?}: \"all\" or \"none\" (named policies are not supported yet)"
                    ),
                ))
            }
        };
    }
    Ok(c)
}
