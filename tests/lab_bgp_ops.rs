//! Live BGP, the operator's side and robustness: TCP MD5 (RFC 2385) with
//! BIRD and FRR (the right password brings the session up, a wrong one
//! keeps it down, a reload with the right one brings it up), GTSM (RFC
//! 5082) with BIRD and FRR, `ferroute bgp reset` hard and soft, a scripted peer
//! sending malformed UPDATEs (RFC 7606) beside a BIRD session that stays
//! up, and BIRD restarting gracefully while host A's traffic to the prefix
//! behind it keeps flowing.
//!
//! ```text
//!   R (ferroute, AS 65000)  p1 203.0.113.1  <-- eBGP -->  203.0.113.2  B (BIRD / FRR)
//!                                                          203.0.113.3  B (the script)
//! ```
//!
//! Every wait polls with a bound; "stays down" is a bounded window of
//! several connect-retry periods. Needs root and the daemons (skips
//! otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use support::bgp::{
    ferroute, kernel_counter, learned, learned_via, neighbor, ping, router_config_with, session,
    show, B_PREFIX, LIMIT, PEER,
};
use support::bgp_script::{update, ScriptedPeer};
use support::daemon::Daemon;
use support::{poll_until, require_root, Host, Lab};

const PASSWORD: &str = "s3cret-md5";
/// ferroute's and the peers' connect retry in these tests (seconds).
const RETRY: u64 = 2;
/// How long a session that must not come up is watched: several connect
/// retries of both sides.
const DOWN_WINDOW: Duration = Duration::from_secs(4 * RETRY);

/// BIRD in B announcing 198.51.100.0/24 (and 2001:db8:100::/48), with
/// `extra` in its `protocol bgp r`.
fn bird_config(extra: &str) -> String {
    format!(
        "router id 203.0.113.2;\nprotocol device {{}}\n\
         protocol static s4 {{ ipv4; route 198.51.100.0/24 blackhole; }}\n\
         protocol static s6 {{ ipv6; route 2001:db8:100::/48 blackhole; }}\n\
         protocol bgp r {{\n  local 203.0.113.2 as 65002;\n  neighbor 203.0.113.1 as 65000;\n\
           hold time 9;\n  connect retry time {RETRY};\n  error wait time 1, 4;\n{extra}\n\
           ipv4 {{ import all; export all; }};\n\
           ipv6 {{ import all; export all; next hop address 2001:db8:1::2; }};\n}}\n"
    )
}

/// `[[bgp.peer]]` settings of the tests: short connect retry plus `extra`.
fn peer_settings(extra: &str) -> String {
    format!("connect_retry = {RETRY}\n{extra}")
}

fn established(lab: &Lab, daemon: &Daemon) -> bool {
    session(lab, daemon).0 == "established"
}

/// The MD5 scenario with a daemon already configured with [`PASSWORD`]:
/// ferroute with a wrong password stays down for [`DOWN_WINDOW`]; a
/// reload with the right one brings the session and B's route up; `show`
/// says a key is set and never shows it.
fn md5_scenario(lab: &Lab, remote_as: u32, log: &dyn Fn() -> String) {
    let with = |password: &str| peer_settings(&format!("password = \"{password}\"\n"));
    let config = router_config_with(&lab.dir, remote_as, &with("not-the-password"));
    let daemon = Daemon::start(lab, &config);
    assert!(
        !poll_until(DOWN_WINDOW, || established(lab, &daemon)),
        "established with a wrong password: {:?}",
        show(lab, &daemon, &["bgp"])
    );
    // The kernels dropped the segments signed with the other key.
    let failures = |host| kernel_counter(lab, host, "TcpExtTCPMD5Failure");
    assert!(
        failures(Host::R) > 0 || failures(Host::B) > 0,
        "no MD5 failure counted"
    );
    router_config_with(&lab.dir, remote_as, &with(PASSWORD));
    let reload = ferroute(lab, &daemon, &["reload"]);
    assert!(reload.status.success(), "{}", reload.text());
    assert!(
        poll_until(LIMIT, || established(lab, &daemon)),
        "no session with the right password: {:?}\n{}",
        show(lab, &daemon, &["bgp"]),
        log()
    );
    assert!(poll_until(LIMIT, || learned(lab, &daemon, B_PREFIX)));
    let shown = neighbor(lab, &daemon, PEER);
    assert_eq!(shown["tcp_md5"], true, "{shown}");
    let text = ferroute(lab, &daemon, &["show", "bgp", "neighbors", PEER]).stdout;
    assert!(text.contains("transport security: TCP MD5"), "{text}");
    let stopped = daemon.stop_cleanly(lab);
    for output in [&stopped.stdout, &stopped.stderr, &text, &shown.to_string()] {
        assert!(!output.contains(PASSWORD), "the password leaked: {output}");
    }
}

#[test]
fn md5_with_bird() {
    if !require_root("md5_with_bird") || !require_daemon("md5_with_bird", "bird") {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(
        &lab.netns(Host::B),
        &bird_config(&format!("  password \"{PASSWORD}\";")),
    );
    md5_scenario(&lab, 65002, &|| bird.log());
}

/// FRR's bgpd in B announcing 198.51.100.0/24, with `neighbor
/// 203.0.113.1 {neighbor}`.
fn start_frr(lab: &Lab, neighbor: &str) -> Frr {
    Frr::start(
        &lab.netns(Host::B),
        &[FrrDaemon::Bgpd],
        &format!(
            "frr defaults traditional\n\
             router bgp 65003\n bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n\
              no bgp network import-check\n neighbor 203.0.113.1 remote-as 65000\n\
              neighbor 203.0.113.1 {neighbor}\n\
              neighbor 203.0.113.1 timers 3 9\n neighbor 203.0.113.1 timers connect {RETRY}\n\
              address-family ipv4 unicast\n  network 198.51.100.0/24\n exit-address-family\n"
        ),
    )
}

#[test]
fn md5_with_frr() {
    let bgpd = format!("{FRR_DAEMONS}/bgpd");
    if !require_root("md5_with_frr") || !require_daemon("md5_with_frr", &bgpd) {
        return;
    }
    let lab = Lab::up();
    let frr = start_frr(&lab, &format!("password {PASSWORD}"));
    md5_scenario(&lab, 65003, &|| frr.log("bgpd"));
}

/// GTSM: with BIRD's `ttl security` the session comes up (both send TTL
/// 255 and accept no less); with BIRD sending TTL 1 (no GTSM), ferroute
/// drops its segments and the session stays down.
#[test]
fn gtsm_with_bird() {
    if !require_root("gtsm_with_bird") || !require_daemon("gtsm_with_bird", "bird") {
        return;
    }
    let lab = Lab::up();
    let mut bird = Bird::start(&lab.netns(Host::B), &bird_config(""));
    let config = router_config_with(&lab.dir, 65002, &peer_settings("ttl_security = true\n"));
    let daemon = Daemon::start(&lab, &config);
    assert!(
        !poll_until(DOWN_WINDOW, || established(&lab, &daemon)),
        "established with a peer sending TTL 1"
    );
    let dropped = kernel_counter(&lab, Host::R, "TcpExtTCPMinTTLDrop");
    assert!(
        dropped > 0,
        "R's kernel dropped nothing below the minimum TTL"
    );
    drop(bird);
    bird = Bird::start(&lab.netns(Host::B), &bird_config("  ttl security on;"));
    assert!(
        poll_until(LIMIT, || established(&lab, &daemon)),
        "no GTSM session: {:?}\n{}",
        show(&lab, &daemon, &["bgp"]),
        bird.birdc("show protocols all r")
    );
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));
    let shown = neighbor(&lab, &daemon, PEER);
    assert_eq!(shown["ttl_security"], true, "{shown}");
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// GTSM with FRR's `ttl-security hops 1`: the session comes up and B's
/// route is learned.
#[test]
fn gtsm_with_frr() {
    let bgpd = format!("{FRR_DAEMONS}/bgpd");
    if !require_root("gtsm_with_frr") || !require_daemon("gtsm_with_frr", &bgpd) {
        return;
    }
    let lab = Lab::up();
    let frr = start_frr(&lab, "ttl-security hops 1");
    let config = router_config_with(&lab.dir, 65003, &peer_settings("ttl_security = true\n"));
    let daemon = Daemon::start(&lab, &config);
    assert!(
        poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)),
        "no GTSM session with FRR: {:?}\n{}",
        show(&lab, &daemon, &["bgp"]),
        frr.log("bgpd")
    );
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// The first number after `label` in `text` (BIRD's route change stats).
fn number_after(text: &str, label: &str) -> u64 {
    text.lines()
        .find_map(|l| l.split_once(label))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `ferroute bgp reset` against BIRD: hard (BIRD hears Cease /
/// administrative reset; the session comes back), soft in (ROUTE-REFRESH
/// counted; BIRD sends its routes again), soft out (BIRD receives ours
/// again); an unknown peer is an error; `ferroute stats` counts the
/// sessions.
#[test]
fn bgp_reset_with_bird() {
    if !require_root("bgp_reset_with_bird") || !require_daemon("bgp_reset_with_bird", "bird") {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(&lab.netns(Host::B), &bird_config(""));
    let config = router_config_with(&lab.dir, 65002, &peer_settings(""));
    let daemon = Daemon::start_with(&lab, &config, &["--status"]);
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));
    assert!(poll_until(LIMIT, || bird
        .birdc("show route 192.0.2.0/24")
        .contains("203.0.113.1")));

    let reset = ferroute(&lab, &daemon, &["bgp", "reset", PEER]);
    assert!(reset.status.success(), "{}", reset.text());
    assert!(
        poll_until(LIMIT, || bird
            .birdc("show protocols all r")
            .contains("Administrative reset")),
        "{}",
        bird.birdc("show protocols all r")
    );
    assert!(
        poll_until(LIMIT, || session(&lab, &daemon)
            == ("established".into(), 2)),
        "not back after the reset: {:?}\n{}",
        show(&lab, &daemon, &["bgp"]),
        bird.log()
    );
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));

    let before = neighbor(&lab, &daemon, PEER);
    let soft_in = ferroute(&lab, &daemon, &["bgp", "reset", PEER, "--soft", "in"]);
    assert!(soft_in.status.success(), "{}", soft_in.text());
    let updates_in = |v: &serde_json::Value| v["stats"]["updates_in"].as_u64().unwrap_or(0);
    assert!(
        poll_until(LIMIT, || updates_in(&neighbor(&lab, &daemon, PEER))
            > updates_in(&before)),
        "BIRD did not send its routes again: {}",
        neighbor(&lab, &daemon, PEER)
    );
    let after = neighbor(&lab, &daemon, PEER);
    assert_eq!(after["stats"]["route_refresh_out"], 2, "{after}");
    assert_eq!(after["stats"]["established"], 2, "no reset: {after}");

    let bird_updates = || number_after(&bird.birdc("show protocols all r"), "Import updates:");
    let before = bird_updates();
    let soft_out = ferroute(&lab, &daemon, &["bgp", "reset", PEER, "--soft", "out"]);
    assert!(soft_out.status.success(), "{}", soft_out.text());
    assert!(
        poll_until(LIMIT, || bird_updates() > before),
        "BIRD received nothing again: {}",
        bird.birdc("show protocols all r")
    );
    assert_eq!(session(&lab, &daemon), ("established".into(), 2));

    let unknown = ferroute(&lab, &daemon, &["bgp", "reset", "203.0.113.99"]);
    assert!(!unknown.status.success());
    assert!(
        unknown
            .stderr
            .contains("203.0.113.99 is not a BGP neighbor"),
        "{}",
        unknown.text()
    );
    let stats = ferroute(&lab, &daemon, &["stats"]).stdout;
    assert!(stats.contains("BGP: 1/1 sessions established"), "{stats}");
    // The status line (each second, on stdout) counts the sessions and
    // the route changes per second: changes while the session came up
    // and was reset, none once it is steady.
    let status = || std::fs::read_to_string(lab.dir.join("daemon.out")).unwrap_or_default();
    let bgp_parts = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once("  bgp ").map(|(_, b)| b.to_string()))
            .collect()
    };
    assert!(
        poll_until(LIMIT, || bgp_parts(&status())
            .contains(&"1/1 up 0 chg/s".into())),
        "{}",
        status()
    );
    assert!(
        bgp_parts(&status())
            .iter()
            .any(|b| !b.ends_with(" 0 chg/s")),
        "no route changes on the status line: {}",
        status()
    );
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

const SCRIPT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 3);
const SCRIPT_AS: u16 = 65010;
/// 198.18.0.0/24, the scripted peer's prefix.
const SCRIPT_NLRI: [u8; 4] = [24, 198, 18, 0];

/// ORIGIN IGP, AS_PATH [65010] (4-octet), NEXT_HOP 203.0.113.3.
fn good_attributes() -> Vec<u8> {
    let mut a = vec![0x40, 1, 1, 0];
    a.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xf2]);
    a.extend_from_slice(&[0x40, 3, 4, 203, 0, 113, 3]);
    a
}

/// A scripted peer sends malformed UPDATEs over live sessions. Bad
/// attribute flags and an AS_PATH with a zero-length segment withdraw the
/// prefix and keep the session (RFC 7606 treat-as-withdraw); a bad message
/// length, a withdrawn-routes length running past the message and a
/// truncated MP_REACH_NLRI each get their NOTIFICATION (read and checked
/// by the script). BIRD's session beside it stays up with its routes.
#[test]
fn malformed_updates_from_a_scripted_peer() {
    let test = "malformed_updates_from_a_scripted_peer";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    lab.ip(Host::B, &["addr", "add", "203.0.113.3/24", "dev", "b0"]);
    let bird = Bird::start(&lab.netns(Host::B), &bird_config(""));
    let script_peer = format!(
        "\n[[bgp.peer]]\naddress = \"{SCRIPT}\"\nremote_as = {SCRIPT_AS}\npassive = true\n\
         import = \"all\"\nexport = \"none\"\n"
    );
    let config = router_config_with(&lab.dir, 65002, &(peer_settings("") + &script_peer));
    let daemon = Daemon::start(&lab, &config);
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));
    let r = Ipv4Addr::new(203, 0, 113, 1);
    let connect = || {
        let mut peer = None;
        poll_until(LIMIT, || {
            peer = ScriptedPeer::establish(&lab, SCRIPT, r, SCRIPT_AS, LIMIT).ok();
            peer.is_some()
        });
        peer.expect("the scripted peer's session")
    };
    let script = SCRIPT.to_string();
    let prefix = "198.18.0.0/24";
    let mut peer = connect();
    let good = update(&[], &good_attributes(), &SCRIPT_NLRI);
    peer.send(&good);
    assert!(poll_until(LIMIT, || learned_via(
        &lab, &daemon, prefix, &script
    )));

    // Treat-as-withdraw: ORIGIN marked optional; an empty AS_SEQUENCE.
    let mut bad_flags = good_attributes();
    bad_flags[0] = 0xc0;
    let mut empty_segment = vec![0x40, 1, 1, 0, 0x40, 2, 2, 2, 0];
    empty_segment.extend_from_slice(&[0x40, 3, 4, 203, 0, 113, 3]);
    for (n, attributes) in [bad_flags, empty_segment].into_iter().enumerate() {
        peer.send(&update(&[], &attributes, &SCRIPT_NLRI));
        assert!(
            poll_until(LIMIT, || !learned_via(&lab, &daemon, prefix, &script)),
            "case {n}: the prefix was not withdrawn"
        );
        let shown = neighbor(&lab, &daemon, &script);
        assert_eq!(shown["state"], "established", "case {n}: {shown}");
        assert_eq!(shown["treat_as_withdraw"], n as u64 + 1, "{shown}");
        peer.send(&good);
        assert!(poll_until(LIMIT, || learned_via(
            &lab, &daemon, prefix, &script
        )));
    }

    // Session resets, each with its NOTIFICATION: (bytes, code, subcode,
    // data).
    let mut short = update(&[], &[], &[]);
    short[16..18].copy_from_slice(&19u16.to_be_bytes());
    short.truncate(19);
    let mut overrun = update(&[], &[], &[]);
    overrun[19..21].copy_from_slice(&0x0100u16.to_be_bytes());
    // MP_REACH_NLRI for IPv6 unicast whose 16-byte next hop is cut short.
    let truncated_mp = update(&[], &[0x80, 14, 5, 0, 2, 1, 16, 0], &[]);
    let cases: [(Vec<u8>, u8, u8, Vec<u8>); 3] = [
        (short, 1, 2, vec![0, 19]),
        (overrun, 3, 1, Vec::new()),
        (truncated_mp, 3, 9, Vec::new()),
    ];
    for (n, (bytes, code, subcode, data)) in cases.into_iter().enumerate() {
        if n > 0 {
            peer = connect();
        }
        peer.send(&bytes);
        let got = peer.notification(LIMIT);
        assert_eq!(
            got.as_ref().map(|(c, s, _)| (*c, *s)),
            Some((code, subcode)),
            "case {n}: {got:?}"
        );
        if !data.is_empty() {
            assert_eq!(got.unwrap().2, data, "case {n}: the NOTIFICATION's data");
        }
        assert!(peer.closed(LIMIT), "case {n}: not closed after it");
        assert!(
            poll_until(LIMIT, || show(&lab, &daemon, &["routes", prefix]).is_err()),
            "case {n}: the reset session's route stayed"
        );
    }
    let shown = neighbor(&lab, &daemon, &script);
    assert_eq!(
        shown["stats"]["last_error_sent"], "3/9 (UPDATE message error)",
        "{shown}"
    );
    // BIRD's session never noticed.
    assert_eq!(session(&lab, &daemon), ("established".into(), 1));
    assert!(learned(&lab, &daemon, B_PREFIX));
    assert!(bird.birdc("show protocols r").contains("Established"));
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// BIRD with graceful restart is killed and started again in recovery
/// mode (`bird -R`): ferroute keeps its routes (stale) and host A's pings
/// to the address behind B keep being answered through the restart; after
/// BIRD's End-of-RIB the route is no longer stale.
#[test]
fn graceful_restart_keeps_forwarding_while_bird_restarts() {
    let test = "graceful_restart_keeps_forwarding_while_bird_restarts";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    lab.ip(
        Host::B,
        &["-4", "addr", "add", "198.51.100.1/32", "dev", "lo"],
    );
    let config = bird_config("  graceful restart on;\n  graceful restart time 60;");
    let bird = Bird::start(&lab.netns(Host::B), &config);
    let router = router_config_with(&lab.dir, 65002, &peer_settings(""));
    let daemon = Daemon::start(&lab, &router);
    assert!(poll_until(LIMIT, || learned(&lab, &daemon, B_PREFIX)));
    assert!(poll_until(LIMIT, || ping(&lab, "198.51.100.1")));
    // Pings every 100 ms from A for as long as the restart takes (a
    // process of this test, stopped by its PID with SIGINT: it prints its
    // counts).
    let out = lab.dir.join("ping.out");
    let mut pinger = lab
        .command(
            Host::A,
            "ping",
            &["-i", "0.1", "-W", "1", "-w", "120", "198.51.100.1"],
        )
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let count_replies = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .matches("bytes from")
            .count()
    };
    assert!(poll_until(LIMIT, || count_replies() >= 5), "no replies");
    // SAFETY: kill(2) on the BIRD this test started (its guard reaps it).
    unsafe { libc::kill(bird.pid() as libc::pid_t, libc::SIGKILL) };
    assert!(poll_until(LIMIT, || !established(&lab, &daemon)));
    let stale = neighbor(&lab, &daemon, PEER)["stale"].as_u64();
    assert!(stale >= Some(1), "{:?}", show(&lab, &daemon, &["bgp"]));
    drop(bird);
    let bird = Bird::start_with(&lab.netns(Host::B), &config, &["-R"]);
    assert!(
        poll_until(LIMIT, || {
            let n = neighbor(&lab, &daemon, PEER);
            n["state"] == "established"
                && n["stale"] == 0
                && n["per_family"]["ipv4-unicast"]["end_of_rib"] == true
        }),
        "BIRD's End-of-RIB did not clear the stale routes: {}\n{}",
        neighbor(&lab, &daemon, PEER),
        bird.log()
    );
    assert!(learned(&lab, &daemon, B_PREFIX));
    let replies = count_replies();
    assert!(poll_until(LIMIT, || count_replies() >= replies + 5));
    // SAFETY: SIGINT to the ping this test spawned (not yet reaped).
    unsafe { libc::kill(pinger.id() as libc::pid_t, libc::SIGINT) };
    let status = pinger.wait().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_default()
        .to_string();
    println!("graceful restart: {summary}");
    let number = |label: &str| {
        summary
            .split(", ")
            .find(|p| p.contains(label))
            .and_then(|p| p.split_whitespace().next()?.parse::<u64>().ok())
    };
    let (sent, received) = (number("transmitted"), number("received"));
    assert!(
        sent.is_some() && sent == received,
        "lost pings ({status}): {summary}"
    );
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
