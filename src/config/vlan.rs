//! `[[port]] parent = "p0", vlan = 100`: a port that is an 802.1Q VLAN on
//! an earlier port (see `forward/vlan.rs` for what the pipeline does).

use super::context::Ctx;
use super::raw::RawPort;
use super::{ConfigError, PortConfig};
use crate::fib::PortId;
use crate::forward::Vlan;
use crate::wire::vlan::MAX_VID;
use crate::wire::MacAddr;

#[cfg(test)]
mod tests;

/// The port's VLAN, if it is a sub-interface, checked against the earlier
/// ports: a parent declared before it that is itself no VLAN, an id in
/// 1..=4094 no sibling has, both keys or neither.
pub(super) fn sub_interface(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    earlier: &[PortConfig],
) -> Result<Option<Vlan>, ConfigError> {
    let field = |name: &str| format!("port[{i}].{name}");
    let (parent, vid) = match (&p.parent, &p.vlan) {
        (None, None) => return Ok(None),
        (Some(parent), Some(vid)) => (parent, vid),
        (Some(parent), None) => {
            return Err(cx.err(
                parent.span(),
                field("vlan"),
                "a port with a parent needs its `vlan` id".to_string(),
            ))
        }
        (None, Some(vid)) => {
            return Err(cx.err(
                vid.span(),
                field("parent"),
                "a port with a `vlan` id needs its `parent` port".to_string(),
            ))
        }
    };
    let name = parent.get_ref();
    let Some(parent_id) = earlier.iter().position(|q| &q.name == name) else {
        return Err(cx.err(
            parent.span(),
            field("parent"),
            format!("{name:?} is not an earlier port (a parent comes before its VLANs)"),
        ));
    };
    if earlier[parent_id].vlan.is_some() {
        return Err(cx.err(
            parent.span(),
            field("parent"),
            format!("{name:?} is itself a VLAN; nested (QinQ) sub-interfaces are not supported"),
        ));
    }
    let id = cx.bounded(vid, &field("vlan"), 1..=MAX_VID as i64)? as u16;
    let vlan = Vlan {
        parent: parent_id as PortId,
        id,
    };
    if let Some(j) = earlier.iter().position(|q| q.vlan == Some(vlan)) {
        return Err(cx.err(
            vid.span(),
            field("vlan"),
            format!("VLAN {id} on {name:?} is already port[{j}]"),
        ));
    }
    Ok(Some(vlan))
}

/// The port's MAC: its own, or (a VLAN only) its parent's.
pub(super) fn mac(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    vlan: Option<Vlan>,
    earlier: &[PortConfig],
) -> Result<MacAddr, ConfigError> {
    match (&p.mac, vlan) {
        (Some(mac), _) => cx.mac(mac, format!("port[{i}].mac")),
        (None, Some(v)) => Ok(earlier[v.parent as usize].mac),
        (None, None) => Err(cx.err(
            p.name.span(),
            format!("port[{i}].mac"),
            "missing field `mac` (only a VLAN sub-interface may take its parent's)".to_string(),
        )),
    }
}

/// A VLAN's MTU may not exceed its parent's: its frames cross the same wire.
pub(super) fn check_mtu(
    cx: &Ctx,
    i: usize,
    p: &RawPort,
    port: &PortConfig,
    earlier: &[PortConfig],
) -> Result<(), ConfigError> {
    let Some(v) = port.vlan else { return Ok(()) };
    let parent = &earlier[v.parent as usize];
    if port.mtu > parent.mtu {
        let span = p.mtu.as_ref().map_or(p.name.span(), |m| m.span());
        return Err(cx.err(
            span,
            format!("port[{i}].mtu"),
            format!(
                "{} is above the MTU of its parent {:?} ({})",
                port.mtu, parent.name, parent.mtu
            ),
        ));
    }
    Ok(())
}
