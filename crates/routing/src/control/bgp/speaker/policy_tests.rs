//! Policies and roles between BGP instances in the fake network: the
//! valley-free export of RFC 9234 roles, route leaks stopped on import,
//! a role mismatch refused, named import/export policies (and their
//! reload), and BLACKHOLE routes installed as discard routes.

use std::sync::Arc;

use super::net::*;
use super::*;
use crate::control::bgp::policy::{syntax, Action, Changes, Conditions, Role, RoutePolicy, Term};
use crate::control::rib::route::Via;
use crate::fib::Discard;

const R: &str = "10.0.0.1";

fn with_role(mut p: BgpPeerConfig, role: Role) -> BgpPeerConfig {
    p.role = Some(role);
    p
}

/// R's peers: P its provider (AS 65010), C its customer (65020), L a
/// lateral peer (65030); each announces its connected /16.
fn r_config(c_import: Policy, l_export: Policy) -> BgpConfig {
    let mut c = with_role(peer("198.51.100.2", 65020, 65000, false), Role::Provider);
    c.import = c_import;
    let mut l = with_role(peer("203.0.113.2", 65030, 65000, false), Role::Peer);
    l.export = l_export;
    bgp_config(
        65000,
        vec![
            with_role(peer("192.0.2.2", 65010, 65000, false), Role::Customer),
            c,
            l,
        ],
        true,
    )
}

fn roles(c_import: Policy, l_export: Policy) -> (Net, [usize; 4]) {
    let mut net = Net::new();
    let r = net.add(
        R,
        vec![
            port(0, &["192.0.2.1/24"]),
            port(1, &["198.51.100.1/24"]),
            port(2, &["203.0.113.1/24"]),
            port(3, &["10.1.0.1/16"]),
        ],
        r_config(c_import, l_export),
    );
    let mut add = |id: &str, link: &str, lan: &str, asn: u32, r_at: &str, role: Role| {
        net.add(
            id,
            vec![port(0, &[link]), port(1, &[lan])],
            bgp_config(
                asn,
                vec![with_role(peer(r_at, 65000, asn, true), role)],
                true,
            ),
        )
    };
    let p = add(
        "10.0.0.2",
        "192.0.2.2/24",
        "10.2.0.1/16",
        65010,
        "192.0.2.1",
        Role::Provider,
    );
    let c = add(
        "10.0.0.3",
        "198.51.100.2/24",
        "10.3.0.1/16",
        65020,
        "198.51.100.1",
        Role::Customer,
    );
    let l = add(
        "10.0.0.4",
        "203.0.113.2/24",
        "10.4.0.1/16",
        65030,
        "203.0.113.1",
        Role::Peer,
    );
    net.settle();
    net.advance(5);
    (net, [r, p, c, l])
}

fn has(net: &Net, router: usize, prefix: &str) -> bool {
    net.routers[router]
        .route(prefix, RouteSource::EBGP)
        .is_some()
}

/// The best candidate of `prefix` at `router`, as `show routes` gives it.
fn best(net: &mut Net, router: usize, prefix: &str) -> serde_json::Value {
    let now = net.now;
    let shown = net.routers[router]
        .show(now, &format!("routes {prefix}"))
        .unwrap();
    shown["bgp"]["candidates"][0].clone()
}

#[test]
fn roles_export_valley_free_and_mark_routes_only_to_customer() {
    let (mut net, [r, p, c, l]) = roles(Policy::All, Policy::All);
    let now = net.now;
    for a in ["192.0.2.2", "198.51.100.2", "203.0.113.2"] {
        assert_eq!(net.routers[r].state(now, a), "established", "{a}");
    }
    let peers = net.routers[r].show(now, "bgp peers").unwrap();
    let p0 = &peers["peers"][0];
    assert_eq!(
        (p0["role"].clone(), p0["capabilities"]["role"].clone()),
        ("customer".into(), "provider".into())
    );
    let shown = net.routers[r].show(now, "bgp neighbors 192.0.2.2").unwrap();
    let text = shown["text"].as_str().unwrap();
    assert!(
        text.contains("our role customer") && text.contains("role provider"),
        "{text}"
    );
    // The customer's route and ours go everywhere...
    for to in [p, l] {
        assert!(has(&net, to, "10.3.0.0/16"), "C's route to {to}");
        assert!(has(&net, to, "10.1.0.0/16"), "R's route to {to}");
    }
    // ...the provider's and the peer's only to the customer.
    assert!(!has(&net, l, "10.2.0.0/16"), "P's route leaked to L");
    assert!(!has(&net, p, "10.4.0.0/16"), "L's route leaked to P");
    assert!(has(&net, c, "10.2.0.0/16") && has(&net, c, "10.4.0.0/16"));
    // R marked what it learned from above with the sender's AS (ingress)
    // and what it sends down or sideways with its own (egress).
    assert_eq!(best(&mut net, r, "10.2.0.0/16")["otc"], 65010);
    assert_eq!(
        best(&mut net, r, "10.3.0.0/16")["otc"],
        serde_json::Value::Null
    );
    assert_eq!(best(&mut net, c, "10.2.0.0/16")["otc"], 65010);
    assert_eq!(best(&mut net, c, "10.1.0.0/16")["otc"], 65000);
    assert_eq!(best(&mut net, l, "10.3.0.0/16")["otc"], 65000);
    // P and L (roles provider and peer towards R) marked theirs too.
    assert_eq!(best(&mut net, r, "10.4.0.0/16")["otc"], 65030);
}

/// R's attributes for a route from C (AS 65020, next hop 198.51.100.2),
/// with `extra` attributes.
fn from_c(extra: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut attrs = vec![
        0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xfc, 0x40, 3, 4, 198, 51, 100, 2,
    ];
    attrs.extend_from_slice(extra);
    raw_update(&attrs, nlri)
}

#[test]
fn a_route_leak_is_ineligible_and_a_malformed_otc_withdraws() {
    let (mut net, [r, _p, c, l]) = roles(Policy::All, Policy::All);
    // C re-announces its /16 carrying OTC: it got it from above (a leak).
    net.stream_from(
        r,
        c,
        &from_c(&[0xc0, 35, 4, 0, 0, 0xfd, 0xf2], &[16, 10, 3]),
    );
    assert!(!has(&net, r, "10.3.0.0/16"), "the leak was used");
    assert!(!has(&net, l, "10.3.0.0/16"), "the leak went on");
    assert_eq!(net.routers[r].state(net.now, "198.51.100.2"), "established");
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    let cp = &peers["peers"][1];
    assert_eq!(cp["address"], "198.51.100.2");
    assert!(cp["received"].as_u64().unwrap() > cp["accepted"].as_u64().unwrap());
    // Without OTC it is fine again.
    net.stream_from(r, c, &from_c(&[], &[16, 10, 3]));
    assert!(has(&net, r, "10.3.0.0/16") && has(&net, l, "10.3.0.0/16"));
    // An OTC of 3 octets: treat-as-withdraw (RFC 7606 through RFC 9234).
    net.stream_from(r, c, &from_c(&[0xc0, 35, 3, 0, 0xfd, 0xf2], &[16, 10, 3]));
    assert!(!has(&net, r, "10.3.0.0/16"));
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    assert_eq!(peers["peers"][1]["treat_as_withdraw"], 1);
}

#[test]
fn roles_that_do_not_pair_never_come_up() {
    let mut net = Net::new();
    let r = net.add(
        R,
        vec![port(0, &["192.0.2.1/24"])],
        bgp_config(
            65000,
            vec![with_role(
                peer("192.0.2.2", 65010, 65000, false),
                Role::Peer,
            )],
            false,
        ),
    );
    let p = net.add(
        "10.0.0.2",
        vec![port(0, &["192.0.2.2/24"])],
        bgp_config(
            65010,
            vec![with_role(
                peer("192.0.2.1", 65000, 65010, true),
                Role::Provider,
            )],
            false,
        ),
    );
    net.settle();
    net.advance(5);
    let now = net.now;
    assert_ne!(net.routers[r].state(now, "192.0.2.2"), "established");
    let shown = net.routers[r].show(now, "bgp peers").unwrap().to_string();
    assert!(shown.contains("2/11 (OPEN: role mismatch)"), "{shown}");
    let theirs = net.routers[p].show(now, "bgp peers").unwrap().to_string();
    assert!(theirs.contains("2/11"), "{theirs}");
}

fn named(name: &str, terms: Vec<Term>, default_accept: bool) -> Policy {
    Policy::Named(Arc::new(RoutePolicy {
        name: name.into(),
        terms,
        default_accept,
    }))
}

/// Rejects `prefix`; sets LOCAL_PREF 300 on routes tagged 65020:300;
/// installs BLACKHOLE-tagged routes as blackholes; accepts the rest.
fn from_customer(prefix: &str) -> Policy {
    let tagged = |c: &str| Conditions {
        community: vec![syntax::community(c).unwrap()],
        ..Default::default()
    };
    named(
        "from-c",
        vec![
            Term {
                conditions: Conditions {
                    prefix: vec![syntax::prefix_entry(prefix).unwrap()],
                    ..Default::default()
                },
                changes: Changes::default(),
                action: Action::Reject,
            },
            Term {
                conditions: tagged("65020:300"),
                changes: Changes {
                    local_pref: Some(300),
                    ..Default::default()
                },
                action: Action::Accept,
            },
            Term {
                conditions: tagged("blackhole"),
                changes: Changes {
                    blackhole: true,
                    ..Default::default()
                },
                action: Action::Accept,
            },
        ],
        true,
    )
}

#[test]
fn import_policy_rejects_sets_and_a_reload_refreshes_in_place() {
    let (mut net, [r, _p, c, _l]) = roles(from_customer("10.3.0.0/16"), Policy::All);
    assert!(!has(&net, r, "10.3.0.0/16"), "rejected by prefix");
    assert!(has(&net, r, "198.51.100.0/24"), "the rest accepted");
    // 10.5/16 tagged 65020:300: LOCAL_PREF 300.
    let tag = [0xc0, 8, 4, 0xfd, 0xfc, 0x01, 0x2c];
    net.stream_from(r, c, &from_c(&tag, &[16, 10, 5]));
    let b = best(&mut net, r, "10.5.0.0/16");
    assert_eq!(
        (b["local_pref"].clone(), b["communities"][0].clone()),
        (300.into(), "65020:300".into())
    );
    // A reload that rejects another prefix: ROUTE-REFRESH, session kept.
    net.reconfigure(r, R, r_config(from_customer("10.9.0.0/16"), Policy::All));
    // Until C answers, R keeps what it had (no gap in forwarding).
    let now = net.now;
    assert!(net.routers[r].show(now, "routes 10.5.0.0/16").is_some());
    net.settle();
    assert!(
        has(&net, r, "10.3.0.0/16"),
        "re-evaluated after the refresh"
    );
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    assert_eq!(peers["peers"][1]["stats"]["established"], 1);
    assert_eq!(peers["peers"][1]["import"], "from-c");
}

#[test]
fn export_policy_prepends_tags_and_sets_med_and_reloads_by_difference() {
    let to_l = named(
        "to-l",
        vec![Term {
            conditions: Conditions {
                origin_as: vec![65020],
                ..Default::default()
            },
            changes: Changes {
                prepend: 2,
                med: Some(5),
                add_community: vec![syntax::community("65000:7").unwrap()],
                ..Default::default()
            },
            action: Action::Accept,
        }],
        false,
    );
    let (mut net, [r, _p, _c, l]) = roles(Policy::All, to_l);
    let b = best(&mut net, l, "10.3.0.0/16");
    assert_eq!(b["as_path"], "65000 65000 65000 65020");
    assert_eq!(b["med"], 5);
    assert_eq!(b["communities"], serde_json::json!(["65000:7"]));
    // The default rejects R's own routes.
    assert!(!has(&net, l, "10.1.0.0/16"));
    // Back to all: the Adj-RIB-Out follows, the session stays.
    net.reconfigure(r, R, r_config(Policy::All, Policy::All));
    net.settle();
    net.advance(1);
    assert!(has(&net, l, "10.1.0.0/16"));
    assert_eq!(best(&mut net, l, "10.3.0.0/16")["as_path"], "65000 65020");
    assert_eq!(net.routers[l].state(net.now, "203.0.113.1"), "established");
}

#[test]
fn a_blackhole_route_allowed_by_policy_is_a_discard_route() {
    let blackhole = [0xc0, 8, 4, 0xff, 0xff, 0x02, 0x9a];
    // Without a policy saying so, BLACKHOLE is just a community.
    let (mut net, [r, _p, c, l]) = roles(Policy::All, Policy::All);
    net.stream_from(r, c, &from_c(&blackhole, &[24, 10, 3, 7]));
    let route = net.routers[r]
        .route("10.3.7.0/24", RouteSource::EBGP)
        .unwrap();
    assert!(matches!(route.paths[..], [Via::Recursive { .. }]));
    assert!(has(&net, l, "10.3.7.0/24"));
    // With one, the route drops what it wins, and stays in the AS.
    let (mut net, [r, _p, c, l]) = roles(from_customer("10.99.0.0/16"), Policy::All);
    net.stream_from(r, c, &from_c(&blackhole, &[24, 10, 3, 7]));
    let route = net.routers[r]
        .route("10.3.7.0/24", RouteSource::EBGP)
        .unwrap();
    assert_eq!(
        route.paths,
        vec![Via::Discard {
            action: Discard::Blackhole
        }]
    );
    assert_eq!(best(&mut net, r, "10.3.7.0/24")["blackhole"], true);
    assert!(
        !has(&net, l, "10.3.7.0/24"),
        "a blackhole route left the AS"
    );
}
