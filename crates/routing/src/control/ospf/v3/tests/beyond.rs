//! Inter-area and AS-external routes from OSPFv3 LSAs, through the
//! OSPFv2 code that ranks them (`ospf::external`).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{lab, router, spf_of, via};
use crate::control::ospf::external::{beyond_area_routes, PathType};
use crate::control::ospf::neighbor::NeighborState;
use crate::control::ospf::tests::{rid, P2P};
use crate::control::ospf::v3::wire::lsa::{Lsa3Body, Prefix, FLAG_B, FLAG_E};
use crate::control::ospf::v3::wire::{AS_EXTERNAL_LSA, INTER_AREA_PREFIX_LSA, ROUTER_LSA};
use crate::control::ospf::wire::lsa::{assemble, LsaKey, LsaType};

fn prefix(p: &str) -> Prefix {
    Prefix {
        prefix: p.parse().unwrap(),
        options: 0,
        metric: 0,
    }
}

#[test]
fn inter_area_and_external_prefixes_of_a_border_router_are_routed() {
    let mut lab = lab();
    let a = router(&mut lab, 1, &[(&["2001:db8:12::/64"], P2P, 1)]);
    let b = router(&mut lab, 2, &[(&["2001:db8:12::/64"], P2P, 1)]);
    lab.connect(&[(a, 0), (b, 0)]);
    let full = lab.run_until(Duration::from_secs(60), |l| {
        l.state(a, 0, rid(2)) == Some(NeighborState::Full)
    });
    assert!(full.is_some());
    lab.run_for(Duration::from_secs(10));
    // Router 2 becomes an area border router and an AS boundary router:
    // its Router-LSA gets B and E, and it "originates" an
    // Inter-Area-Prefix-LSA and two AS-External-LSAs (planted in a's
    // database as if flooded).
    let key = |ls_type: LsaType, id: u32| LsaKey {
        ls_type,
        ls_id: Ipv4Addr::from(id),
        adv_router: rid(2),
    };
    let db = lab.speakers[a].database_mut();
    let held = db.get(&key(ROUTER_LSA, 0)).unwrap();
    let sequence = held.sequence() + 1;
    let Ok(Lsa3Body::Router {
        options,
        interfaces,
        ..
    }) = Lsa3Body::parse(ROUTER_LSA, held.header().body())
    else {
        panic!("no router LSA of router 2");
    };
    let bodies = [
        (
            key(ROUTER_LSA, 0),
            Lsa3Body::Router {
                flags: FLAG_B | FLAG_E,
                options,
                interfaces,
            },
        ),
        (
            key(INTER_AREA_PREFIX_LSA, 1),
            Lsa3Body::InterAreaPrefix {
                metric: 30,
                prefix: prefix("2001:db8:30::/48"),
            },
        ),
        (
            key(AS_EXTERNAL_LSA, 1),
            Lsa3Body::AsExternal {
                type2: true,
                metric: 25,
                prefix: prefix("2001:db8:66::/64"),
                forwarding: None,
                tag: None,
                referenced_type: 0,
                referenced_id: None,
            },
        ),
        (
            key(AS_EXTERNAL_LSA, 2),
            Lsa3Body::AsExternal {
                type2: false,
                metric: 7,
                prefix: prefix("2001:db8:67::/64"),
                forwarding: None,
                tag: Some(9),
                referenced_type: 0,
                referenced_id: None,
            },
        ),
    ];
    let now = lab.now;
    for (k, body) in bodies {
        let mut bytes = Vec::new();
        body.emit(&mut bytes);
        let seq = if k.ls_type == ROUTER_LSA {
            sequence
        } else {
            0x8000_0001_u32 as i32
        };
        assert!(lab.speakers[a]
            .database_mut()
            .install(assemble(k, 1, 0, seq, &bytes), now));
    }
    let spf = spf_of(&lab, a);
    let routes = beyond_area_routes(&lab.speakers[a], &spf, spf.routes(), lab.now);
    let find = |p: &str| {
        let p: ipnet::IpNet = p.parse().unwrap();
        routes
            .iter()
            .find(|r| r.prefix == p)
            .cloned()
            .unwrap_or_else(|| panic!("no {p}: {routes:?}"))
    };
    let inter = find("2001:db8:30::/48");
    assert_eq!(
        (inter.path_type, inter.cost),
        (PathType::InterArea, 10 + 30)
    );
    assert_eq!(inter.paths, vec![via(0, 2, 0)]);
    let e2 = find("2001:db8:66::/64");
    assert_eq!(
        (e2.path_type, e2.type2_metric, e2.cost),
        (PathType::External2, Some(25), 10)
    );
    let e1 = find("2001:db8:67::/64");
    assert_eq!((e1.path_type, e1.cost), (PathType::External1, 10 + 7));
    assert_eq!(routes.len(), 3);
}
