//! 802.1Q sub-interfaces at the pipeline's edges.
//!
//! A *link* (a port without a parent: rings, UMEM, queues on the wire) may
//! carry *sub-interfaces*: ports of their own (addresses, MTU, MAC, stages,
//! queues, counters) whose frames carry one 802.1Q tag with their VLAN id.
//! The rest of the pipeline never sees a tag:
//!
//! * on receive, [`Forwarder::resolve_ingress`] maps (link, VLAN id) to the
//!   sub-interface's port through a direct 4,096-entry table per link that
//!   has sub-interfaces, and pops the tag in place (the MACs move 4 bytes);
//! * on transmit, a frame leaving through a sub-interface gets its tag
//!   pushed in place into the 4 bytes before it ([`Forwarder::tag_egress`]),
//!   and frames the pipeline creates (ICMP errors, fragments) are built
//!   untagged by the same code as always and tagged by [`emit_on`].
//!
//! The priority bits (PCP) of a pushed tag are the packet's IP precedence
//! (the top three bits of its DSCP), the mapping most switches apply by
//! default; the DEI bit is clear.

use super::{DropReason, Emit, Forwarder, Port};
use crate::fib::PortId;
use crate::wire::ethernet::{ethertype, HEADER_LEN};
use crate::wire::vlan::{self, Tci, VlanFrame, TAG_LEN};

/// A port that is a VLAN on another port (its link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// The port whose wire carries the tagged frames (never itself a VLAN).
    pub parent: PortId,
    /// The VLAN id, 1..=4094.
    pub id: u16,
}

/// No sub-interface for this VLAN id.
const NONE: PortId = PortId::MAX;

/// Per link: its sub-interfaces by VLAN id, and whether untagged frames
/// are refused (the link has sub-interfaces and no address of its own).
#[derive(Debug, Clone, Default)]
pub(super) struct VlanTable {
    by_vid: Vec<Option<Box<[PortId; 4096]>>>,
    tagged_only: Vec<bool>,
}

impl VlanTable {
    pub(super) fn new(ports: &[Port]) -> VlanTable {
        let mut by_vid: Vec<Option<Box<[PortId; 4096]>>> = vec![None; ports.len()];
        for (id, port) in ports.iter().enumerate() {
            let Some(v) = port.vlan else { continue };
            if let Some(slot) = by_vid.get_mut(v.parent as usize) {
                let table = slot.get_or_insert_with(|| Box::new([NONE; 4096]));
                table[(v.id & 0xfff) as usize] = id as PortId;
            }
        }
        let tagged_only = ports
            .iter()
            .zip(&by_vid)
            .map(|(p, t)| t.is_some() && p.ipv4.is_none() && p.ipv6.is_none())
            .collect();
        VlanTable {
            by_vid,
            tagged_only,
        }
    }

    #[inline]
    fn lookup(&self, link: PortId, vid: u16) -> Option<PortId> {
        let table = self.by_vid.get(link as usize)?.as_ref()?;
        let port = table[(vid & 0xfff) as usize];
        (port != NONE).then_some(port)
    }

    #[inline]
    pub(super) fn tagged_only(&self, link: PortId) -> bool {
        self.tagged_only
            .get(link as usize)
            .copied()
            .unwrap_or(false)
    }
}

/// The 802.1Q priority for a packet: its IP precedence (DSCP's top three
/// bits), read from the untagged frame's IP header; 0 for anything else.
#[inline]
pub fn pcp_of(frame: &[u8]) -> u8 {
    let (Some(t), Some(tos)) = (frame.get(12..14), frame.get(HEADER_LEN..HEADER_LEN + 2)) else {
        return 0;
    };
    match u16::from_be_bytes([t[0], t[1]]) {
        ethertype::IPV4 => tos[1] >> 5,
        // The traffic class straddles bytes 0 and 1: its top three bits
        // are bits 3..1 of byte 0.
        ethertype::IPV6 => (tos[0] >> 1) & 0x7,
        _ => 0,
    }
}

impl Forwarder {
    /// The interface a frame received on `link` arrived on, with the start
    /// of its untagged frame in `buf` (the tag, if any, popped in place),
    /// or why it is dropped. `buf[start..]` is the received frame.
    #[inline]
    pub(super) fn resolve_ingress(
        &self,
        link: PortId,
        buf: &mut [u8],
        start: usize,
    ) -> Result<(PortId, usize), DropReason> {
        let frame = &buf[start..];
        let Some(t) = frame.get(12..14) else {
            return Err(DropReason::Truncated);
        };
        let outer = u16::from_be_bytes([t[0], t[1]]);
        if outer != ethertype::VLAN && outer != ethertype::QINQ {
            if self.vlans.tagged_only(link) {
                return Err(DropReason::VlanUntagged);
            }
            return Ok((link, start));
        }
        let tagged = VlanFrame::new_checked(frame).map_err(|_| DropReason::Truncated)?;
        let inner = tagged.inner_ethertype();
        if outer == ethertype::QINQ || inner == ethertype::VLAN || inner == ethertype::QINQ {
            return Err(DropReason::VlanStacked);
        }
        let vid = tagged.tci().vid();
        let port = match vid {
            // Priority-tagged (802.1Q §6.9.1): the link's own traffic.
            0 if self.vlans.tagged_only(link) => return Err(DropReason::VlanUntagged),
            0 => link,
            _ => self
                .vlans
                .lookup(link, vid)
                .ok_or(DropReason::VlanUnknown)?,
        };
        vlan::pop_tag(buf, start);
        Ok((port, start + TAG_LEN))
    }

    /// Tags the untagged frame `buf[start..start + len]` for `port` if that
    /// is a sub-interface. Returns the frame's new start (and its length
    /// grows by the tag), or `no_headroom` when there is no room before it.
    #[inline]
    pub(super) fn tag_egress(
        &self,
        port: PortId,
        buf: &mut [u8],
        start: usize,
    ) -> Result<Option<usize>, DropReason> {
        let Some(v) = self.port(port).and_then(|p| p.vlan) else {
            return Ok(None);
        };
        let tci = Tci::new(pcp_of(&buf[start..]), v.id);
        vlan::push_tag(buf, start, tci)
            .map(Some)
            .ok_or(DropReason::NoHeadroom)
    }
}

/// Hands `build` to `emit` for `port`; when the port is a VLAN, `build`
/// writes the usual untagged frame 4 bytes into the buffer and the tag is
/// pushed in front of it (so ICMP errors and fragments need no VLAN code).
pub(super) fn emit_on<E: Emit + ?Sized>(
    emit: &mut E,
    port: PortId,
    vlan: Option<Vlan>,
    build: &mut dyn FnMut(&mut [u8]) -> usize,
) -> bool {
    let Some(v) = vlan else {
        return emit.emit(port, build);
    };
    emit.emit(port, &mut |buf: &mut [u8]| {
        let Some(room) = buf.get_mut(TAG_LEN..) else {
            return 0;
        };
        let written = build(room);
        if written == 0 {
            return 0;
        }
        let tci = Tci::new(pcp_of(&buf[TAG_LEN..TAG_LEN + written]), v.id);
        match vlan::push_tag(buf, TAG_LEN, tci) {
            Some(_) => written + TAG_LEN,
            None => 0,
        }
    })
}
