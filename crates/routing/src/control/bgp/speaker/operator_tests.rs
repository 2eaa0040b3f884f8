//! Operator actions and views over the fake network ([`super::net`]):
//! `bgp reset` hard and soft, `show bgp neighbors ADDRESS`, `show bgp
//! summary`; and the sockets a peer's TCP MD5 key and GTSM ask for.

use serde_json::Value;

use super::net::*;
use super::*;

/// R (AS 65000) with an eBGP peer E (65001, passive) and two iBGP peers
/// ([`super::tests::topology`]).
fn two_peers() -> (Net, [usize; 3]) {
    let (net, [r, e, i1, _]) = super::tests::topology();
    (net, [r, e, i1])
}

/// Peer `address`'s `show bgp peers` entry at router `r`.
fn shown(net: &mut Net, r: usize, address: &str) -> Value {
    let peers = net.routers[r].show(net.now, "bgp peers").unwrap();
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == address)
        .unwrap()
        .clone()
}

fn act(net: &mut Net, r: usize, action: &str) -> Result<Value, String> {
    let answer = net.routers[r].act(net.now, action).expect("BGP's action");
    net.settle();
    answer
}

#[test]
fn a_hard_reset_sends_an_administrative_reset_and_the_session_comes_back() {
    let (mut net, [r, e, _]) = two_peers();
    assert_eq!(net.routers[r].state(net.now, "192.0.2.2"), "established");
    let answer = act(&mut net, r, "bgp reset 192.0.2.2").unwrap();
    assert_eq!(net.routers[r].state(net.now, "192.0.2.2"), "idle");
    net.advance(1);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("administrative reset"),
        "{answer}"
    );
    // E heard Cease 6/4 (RFC 4486); R connected again after its idle hold
    // (E accepts a connection in its own).
    let at_e = shown(&mut net, e, "192.0.2.1");
    assert_eq!(
        at_e["stats"]["last_error_received"],
        "6/4 (cease: administrative reset)"
    );
    let at_r = shown(&mut net, r, "192.0.2.2");
    assert_eq!(at_r["state"], "established", "{at_r}");
    assert_eq!(at_r["stats"]["established"], 2);
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_some());
}

#[test]
fn a_soft_reset_in_asks_for_the_routes_and_out_sends_ours_again() {
    let (mut net, [r, e, _]) = two_peers();
    let before_e = shown(&mut net, e, "192.0.2.1");
    let answer = act(&mut net, r, "bgp reset 192.0.2.2 soft in").unwrap();
    assert!(
        answer["text"].as_str().unwrap().contains("route refresh"),
        "{answer}"
    );
    let at_r = shown(&mut net, r, "192.0.2.2");
    let at_e = shown(&mut net, e, "192.0.2.1");
    // One ROUTE-REFRESH per negotiated family; E answered with its table
    // again (UPDATEs and End-of-RIB), and the session stayed up.
    assert_eq!(at_r["stats"]["route_refresh_out"], 2);
    assert_eq!(at_e["stats"]["route_refresh_in"], 2);
    let out = |p: &Value| p["stats"]["updates_out"].as_u64().unwrap();
    assert!(out(&at_e) > out(&before_e), "{at_e}");
    assert_eq!(
        (
            at_r["state"].as_str(),
            at_r["stats"]["established"].as_u64()
        ),
        (Some("established"), Some(1))
    );
    assert!(net.routers[r]
        .route("10.2.0.0/16", RouteSource::EBGP)
        .is_some());

    let before_e = shown(&mut net, e, "192.0.2.1");
    act(&mut net, r, "bgp reset 192.0.2.2 soft out").unwrap();
    let at_e = shown(&mut net, e, "192.0.2.1");
    let inn = |p: &Value| p["stats"]["updates_in"].as_u64().unwrap();
    assert!(inn(&at_e) > inn(&before_e), "{at_e}");
    assert_eq!(at_e["accepted"], before_e["accepted"], "the same routes");
    assert_eq!(at_e["stats"]["established"], 1);
    assert!(net.routers[e]
        .route("10.1.0.0/16", RouteSource::EBGP)
        .is_some());
}

#[test]
fn resets_name_what_is_wrong() {
    let (mut net, [r, _, _]) = two_peers();
    let now = net.now;
    let router = &mut net.routers[r];
    let err = |router: &mut Router, action: &str| router.act(now, action).unwrap().unwrap_err();
    let e = err(router, "bgp reset 192.0.2.9");
    assert!(
        e.contains("192.0.2.9 is not a BGP neighbor")
            && e.contains("configured: 192.0.2.2, 198.51.100.2, 203.0.113.2"),
        "{e}"
    );
    assert!(err(router, "bgp reset bogus").contains("not an address"));
    assert!(err(router, "bgp reset 192.0.2.2 soft sideways").contains("`in` or `out`"));
    assert!(err(router, "bgp frobnicate").contains("try: bgp reset"));
    assert!(router.act(now, "stats").is_none(), "not BGP's");
    // A session that is not up has nothing to refresh.
    let mut net = Net::new();
    let lonely = net.add(
        "10.0.0.1",
        vec![port(0, &["192.0.2.1/24"])],
        bgp_config(65000, vec![peer("192.0.2.2", 65001, 65000, false)], false),
    );
    net.settle();
    let e = err(&mut net.routers[lonely], "bgp reset 192.0.2.2 soft in");
    assert!(e.contains("not established"), "{e}");
}

#[test]
fn show_one_neighbor_in_detail_and_the_summary() {
    let (mut net, [r, _, _]) = two_peers();
    let now = net.now;
    let one = net.routers[r].show(now, "bgp neighbors 192.0.2.2").unwrap();
    let peers = one["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    let p = &peers[0];
    assert_eq!(p["address"], "192.0.2.2");
    let v4 = &p["per_family"]["ipv4-unicast"];
    // E sends its two connected /16 and /24; R advertises its four IPv4
    // subnets plus I1's 10.3/16 (no IPv6: no IPv6 next hop on E's port).
    assert_eq!(
        (v4["received"].as_u64(), v4["accepted"].as_u64()),
        (Some(2), Some(2)),
        "{p}"
    );
    assert_eq!(v4["advertised"], 5, "{p}");
    assert_eq!(v4["end_of_rib"], true);
    assert_eq!(p["capabilities"]["route_refresh"], true);
    assert_eq!(p["capabilities"]["four_octet_as"], true);
    assert_eq!(
        (p["tcp_md5"].as_bool(), p["ttl_security"].as_bool()),
        (Some(false), Some(false))
    );
    let text = one["text"].as_str().unwrap();
    for part in [
        "BGP neighbor 192.0.2.2, AS 65001 (eBGP), router id 10.0.0.2",
        "state established",
        "hold time 90s",
        "route refresh",
        "ipv4-unicast           2         2           5  yes",
        "last error sent: -",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    let e = net.routers[r]
        .bgp
        .handle_command(now, "bgp neighbors 192.0.2.77", &no_rib())
        .unwrap()
        .unwrap_err();
    assert!(e.contains("not a BGP neighbor"), "{e}");

    let summary = net.routers[r].show(now, "bgp summary").unwrap();
    assert_eq!(
        (
            summary["sessions"].as_u64(),
            summary["established"].as_u64()
        ),
        (Some(3), Some(3))
    );
    // E's two routes and I1's two, each a change of the selection.
    assert_eq!(summary["route_changes"], 4, "{summary}");
    assert_eq!(
        summary["text"],
        "BGP: 3/3 sessions established, 4 route changes\n"
    );
}

/// What a speaker asks of the event loop after a (re)configuration.
fn requests(bgp: &mut BgpSpeaker) -> Vec<SocketRequest> {
    std::iter::from_fn(|| bgp.poll_socket_request()).collect()
}

fn reconfigure(bgp: &mut BgpSpeaker, peers: Vec<BgpPeerConfig>) -> Vec<SocketRequest> {
    let pc = ProtocolConfig::new(
        "10.0.0.1".parse().unwrap(),
        vec![port(0, &["192.0.2.1/24"])],
    )
    .with_section(NAME, bgp_config(65000, peers, false));
    bgp.reconfigure(crate::control::protocol::frozen_clock(), &pc)
        .unwrap();
    requests(bgp)
}

#[test]
fn md5_keys_and_gtsm_go_to_the_connect_and_the_listener_and_follow_reloads() {
    let key = |k: &[u8]| crate::control::protocol::Md5Key::new(k);
    let secured = |password: &[u8]| {
        let mut p = peer("192.0.2.2", 65001, 65000, false);
        p.password = key(password);
        p.ttl_security = true;
        p
    };
    let plain = peer("192.0.2.3", 65001, 65000, true);
    let mut bgp = BgpSpeaker::new(None);
    let asked = reconfigure(&mut bgp, vec![secured(b"one"), plain.clone()]);
    let gtsm_one = TcpOptions {
        ttl: Some(255),
        min_ttl: Some(255),
        dscp: Some(48),
        md5: key(b"one"),
    };
    let connect = asked
        .iter()
        .find_map(|q| match q {
            SocketRequest::TcpConnect { options, .. } => Some(options.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(connect, gtsm_one);
    let listen = asked
        .iter()
        .find_map(|q| match q {
            SocketRequest::TcpListen { peers, .. } => Some(peers.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(listen.len(), 2);
    assert_eq!(listen[0].options, gtsm_one);
    assert_eq!(
        (listen[1].options.md5.clone(), listen[1].options.ttl),
        (None, Some(1))
    );

    // A new password: the listener's settings change in place (no second
    // listener); the old session ends and a new one connects with it.
    let asked = reconfigure(&mut bgp, vec![secured(b"two"), plain.clone()]);
    assert!(!asked
        .iter()
        .any(|q| matches!(q, SocketRequest::TcpListen { .. })));
    let update = asked
        .iter()
        .find_map(|q| match q {
            SocketRequest::TcpListenPeers { socket, peers } => Some((*socket, peers.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(update.0, LISTENERS[0]);
    assert_eq!(update.1[0].options.md5, key(b"two"));
    // The same configuration again asks for nothing.
    let asked = reconfigure(&mut bgp, vec![secured(b"two"), plain.clone()]);
    assert!(asked.is_empty(), "{asked:?}");
    // The password removed: the key leaves the listener.
    let asked = reconfigure(&mut bgp, vec![plain]);
    let peers = asked
        .iter()
        .find_map(|q| match q {
            SocketRequest::TcpListenPeers { peers, .. } => Some(peers.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(peers.len(), 1);
    assert!(peers[0].options.md5.is_none());
    // The key never shows in what gets logged.
    assert!(!format!("{gtsm_one:?}").contains("one"));
}

#[test]
fn gtsm_with_multihop_accepts_the_hops_it_allows() {
    let mut p = peer("192.0.2.2", 65001, 65000, false);
    p.ttl_security = true;
    p.multihop = Some(3);
    let c = p.session(65000, "10.0.0.1".parse().unwrap());
    // RFC 5082 §3: sent with 255, at most two routers between: >= 253.
    assert_eq!((c.ttl, c.min_ttl), (Some(255), Some(253)));
}
