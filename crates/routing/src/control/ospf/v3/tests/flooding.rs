//! Flooding scope (RFC 5340 §4.5, §4.8.2): Link-LSAs and unknown types
//! without the U bit stay on their link; unknown types with U set and
//! area scope are flooded on.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{lab, link_local, router};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::tests::{rid, P2P};
use crate::control::ospf::v3::wire::{self as v3wire, ALL_SPF_ROUTERS};
use crate::control::ospf::wire::lsa::{assemble, LsaKey, LsaType};
use crate::control::ospf::wire::PacketType;

#[test]
fn unknown_types_are_flooded_by_their_u_and_s_bits() {
    let mut lab = lab();
    let a = router(&mut lab, 1, &[(&[], P2P, 1)]);
    let b = router(&mut lab, 2, &[(&[], P2P, 1), (&[], P2P, 1)]);
    let c = router(&mut lab, 3, &[(&[], P2P, 1)]);
    lab.connect(&[(a, 0), (b, 0)]);
    lab.connect(&[(b, 1), (c, 0)]);
    let full = lab.run_until(Duration::from_secs(60), |l| {
        l.state(a, 0, rid(2)) == Some(NeighborState::Full)
            && l.state(c, 0, rid(2)) == Some(NeighborState::Full)
    });
    assert!(full.is_some());
    // Router 1 floods, on behalf of 10.255.255.9, three LSAs of types no
    // one knows: U set with area scope, U set with link scope, U clear
    // with area scope bits (treated as link-local).
    let lsa = |code: u16| {
        let key = LsaKey {
            ls_type: LsaType::V3(code),
            ls_id: Ipv4Addr::new(0, 0, 0, 1),
            adv_router: Ipv4Addr::new(10, 255, 255, 9),
        };
        (
            key,
            assemble(key, 1, 0, 0x8000_0001_u32 as i32, &[1, 2, 3, 4]),
        )
    };
    let (area, area_bytes) = lsa(0xa00a);
    let (link, link_bytes) = lsa(0x800b);
    let (no_u, no_u_bytes) = lsa(0x200c);
    let update = v3wire::emit(
        PacketType::LsUpdate,
        rid(1),
        Ipv4Addr::UNSPECIFIED,
        0,
        |o| {
            o.extend_from_slice(&3u32.to_be_bytes());
            for l in [&area_bytes, &link_bytes, &no_u_bytes] {
                o.extend_from_slice(l);
            }
        },
    );
    let now = lab.now;
    lab.speakers[b].receive(now, 0, link_local(1, 0), ALL_SPF_ROUTERS, &update);
    lab.run_for(Duration::from_secs(30));
    for k in [area, link, no_u] {
        assert!(
            lab.speakers[b].database().get(&k).is_some(),
            "{k:?} not held"
        );
    }
    let at_c = |k| lab.speakers[c].database().get(&k).is_some();
    assert!(at_c(area), "area scope, U set: flooded on");
    assert!(!at_c(link), "link scope: kept to its link");
    assert!(!at_c(no_u), "U clear: link-local");
    // Acknowledged: nothing left to retransmit from b to a.
    let n = &lab.speakers[b].interfaces()[0].neighbors[&rid(1)];
    let left: Vec<_> = n.retransmit.keys().collect();
    assert!(left.is_empty(), "{left:?}");
}
