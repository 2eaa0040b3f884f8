//! Tables and traces without BGP attributes as one synthetic peer's routes:
//! the 1 M-route benchmark table exists only as CAIDA pfx2as (prefix and
//! origin AS), and the LINX trace as `time a|w prefix next-hop` lines.
//!
//! Tables are read with [`crate::tables`], which gives each prefix a next
//! hop id (hash of the origin AS mod N for pfx2as); id `k` becomes the
//! address [`synthetic_next_hop`]`(k)`. Every route gets AS_PATH = the peer's
//! AS, ORIGIN IGP, no MED or LOCAL_PREF.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::adj_rib_in::{BgpRib, BgpUpdate};
use super::attrs::{AsPath, Origin, PathAttrs};
use super::peer::PeerId;
use crate::lpm::NextHopId;
use crate::tables::{Routes, Update};

/// Next hop `id` of a synthetic table: 198.18.0.0/15 (RFC 2544 benchmarking)
/// for IPv4 routes, 2001:2::/48 (RFC 5180) for IPv6 ones.
pub fn synthetic_next_hop(id: NextHopId, ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            2,
            0,
            0,
            0,
            0,
            (id >> 16) as u16,
            id as u16,
        ))
    } else {
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 1));
        IpAddr::V4(Ipv4Addr::from(base.wrapping_add(id & 0x1_ffff)))
    }
}

/// Announcements of every route of `routes` from `peer` (whose AS is the
/// whole AS_PATH). Attribute sets are interned in `rib`.
pub fn table_updates(rib: &mut BgpRib, peer: PeerId, routes: &Routes) -> Vec<BgpUpdate> {
    let asn = rib.peer(peer).map_or(0, |p| p.asn);
    let mut by_id: Vec<Option<Arc<PathAttrs>>> = Vec::new();
    let mut attrs_of = |rib: &mut BgpRib, id: NextHopId, ipv6: bool| {
        let slot = (id as usize) * 2 + usize::from(ipv6);
        if by_id.len() <= slot {
            by_id.resize(slot + 1, None);
        }
        by_id[slot]
            .get_or_insert_with(|| {
                rib.intern(PathAttrs::new(
                    Origin::Igp,
                    AsPath::sequence(&[asn]),
                    synthetic_next_hop(id, ipv6),
                ))
            })
            .clone()
    };
    let mut out = Vec::with_capacity(routes.v4.len() + routes.v6.len());
    for &(net, id) in &routes.v4 {
        let attrs = attrs_of(rib, id, false);
        out.push(BgpUpdate {
            peer,
            prefix: IpNet::V4(net),
            attrs: Some(attrs),
        });
    }
    for &(net, id) in &routes.v6 {
        let attrs = attrs_of(rib, id, true);
        out.push(BgpUpdate {
            peer,
            prefix: IpNet::V6(net),
            attrs: Some(attrs),
        });
    }
    out
}

/// One line of an update trace as an update from `peer`: announcements get
/// AS_PATH = the peer's AS and the trace's next hop.
pub fn trace_update(rib: &mut BgpRib, peer: PeerId, update: &Update) -> BgpUpdate {
    let attrs = update.next_hop.map(|next_hop| {
        let asn = rib.peer(peer).map_or(0, |p| p.asn);
        rib.intern(PathAttrs::new(
            Origin::Igp,
            AsPath::sequence(&[asn]),
            next_hop,
        ))
    });
    BgpUpdate {
        peer,
        prefix: update.prefix,
        attrs,
    }
}
