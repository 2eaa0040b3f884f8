//! Live BGP policy and roles: `ferroute run` in the lab's router namespace
//! with BIRD 2 and FRR bgpd 8.4 peers.
//!
//! ```text
//!   A (BIRD, AS 65030, peer)  192.0.2.10 -- R (ferroute, AS 65000) -- 203.0.113.2..4  B (BIRD)
//! ```
//!
//! * An import policy rejects one of B's prefixes, sets LOCAL_PREF 300 on
//!   the one tagged 65002:100, and installs the one tagged BLACKHOLE
//!   (65535:666) as a blackhole route: host A's traffic to it is dropped
//!   (`blackhole_route`) while its traffic to an untagged one passes; a
//!   reload that stops rejecting brings the prefix back by route refresh,
//!   the session staying up.
//! * Roles (RFC 9234): B plays ferroute's provider (AS 65010) and its
//!   customer (AS 65020), A a lateral peer: the customer's route reaches
//!   A, marked Only-to-Customer by ferroute; the provider's does not. A
//!   third session from B whose role does not pair is refused with Role
//!   Mismatch (2/11).
//! * FRR bgpd as a provider pairs with ferroute as its customer and
//!   refuses it as a lateral peer.
//!
//! Needs root and BIRD/FRR (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use ferroute::testkit::daemons::{require_daemon, Bird, Frr, FrrDaemon, FRR_DAEMONS};
use support::bgp::{neighbor, ping, reload, show, LIMIT};
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::{poll_until, require_root, Host, Lab};

/// The lab router with `[bgp]` (connected routes redistributed) and `rest`
/// (peers, policies) after it.
fn write_config(lab: &Lab, rest: &str) -> std::path::PathBuf {
    let mut config = RouterConfig::default().toml();
    config.push_str("\n[bgp]\nlocal_as = 65000\nredistribute = [\"connected\"]\n");
    config.push_str(rest);
    let path = lab.dir.join("router-bgp-policy.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `show routes PREFIX --json` as one string ("" if there is no route).
fn route(lab: &Lab, daemon: &Daemon, prefix: &str) -> String {
    show(lab, daemon, &["routes", prefix]).map_or(String::new(), |v| v.to_string())
}

const FROM_B: &str = r#"
[[bgp.peer]]
address = "203.0.113.2"
remote_as = 65002
import = "from-b"
export = "all"
hold_time = 9

[[bgp.policy]]
name = "from-b"
default = "accept"

[[bgp.policy.term]]
match.prefix = ["198.51.104.0/24"]
action = "reject"

[[bgp.policy.term]]
match.community = ["65002:100"]
set.local_pref = 300
action = "accept"

[[bgp.policy.term]]
match.community = ["blackhole"]
set.blackhole = true
action = "accept"
"#;

#[test]
fn bird_import_policy_rejects_sets_local_pref_and_blackholes() {
    let test = "bird_import_policy_rejects_sets_local_pref_and_blackholes";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    let bird = Bird::start(
        &lab.netns(Host::B),
        "router id 203.0.113.2;\nprotocol device {}\n\
         protocol static s4 { ipv4;\n\
           route 198.51.100.0/24 blackhole; route 198.51.102.0/24 blackhole;\n\
           route 198.51.103.0/24 blackhole; route 198.51.104.0/24 blackhole; }\n\
         protocol bgp r { local 203.0.113.2 as 65002; neighbor 203.0.113.1 as 65000; hold time 9;\n\
           ipv4 { import none; export filter {\n\
             if net = 198.51.100.0/24 then bgp_community.add((65002,100));\n\
             if net = 198.51.103.0/24 then bgp_community.add((65535,666));\n\
             accept; }; }; }\n",
    );
    for address in ["198.51.102.1/32", "198.51.103.1/32"] {
        lab.ip(Host::B, &["-4", "addr", "add", address, "dev", "lo"]);
    }
    let config = write_config(&lab, FROM_B);
    let daemon = Daemon::start(&lab, &config);
    let peer = || neighbor(&lab, &daemon, "203.0.113.2");
    assert!(
        poll_until(LIMIT, || peer()["accepted"].as_u64() == Some(3)),
        "{:?}\n{}",
        peer(),
        bird.birdc("show protocols all r")
    );
    // Four received, three accepted: 198.51.104.0/24 rejected.
    assert_eq!(peer()["received"], 4, "{}", peer());
    assert_eq!(route(&lab, &daemon, "198.51.104.0/24"), "");
    // LOCAL_PREF set by community.
    let tagged = route(&lab, &daemon, "198.51.100.0/24");
    assert!(
        tagged.contains("\"local_pref\":300") && tagged.contains("65002:100"),
        "{tagged}"
    );
    // BLACKHOLE allowed by the policy: installed as a blackhole; traffic
    // to it dropped, traffic to the untagged prefix forwarded.
    let blackholed = route(&lab, &daemon, "198.51.103.0/24");
    assert!(
        blackholed.contains("blackhole") && blackholed.contains("\"blackhole\":true"),
        "{blackholed}"
    );
    assert!(
        poll_until(LIMIT, || ping(&lab, "198.51.102.1")),
        "no traffic to the untagged prefix"
    );
    assert!(!ping(&lab, "198.51.103.1"), "traffic crossed a blackhole");
    let stats = daemon.stats_cli();
    let drops = stats["counters"]["drops"]["blackhole_route"].as_u64();
    assert!(drops.is_some_and(|d| d >= 1), "{stats}");
    // A reload that rejects nothing: ROUTE-REFRESH, the session stays up.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("198.51.104.0/24", "198.51.199.0/24")).unwrap();
    reload(&lab, &daemon);
    assert!(
        poll_until(LIMIT, || !route(&lab, &daemon, "198.51.104.0/24")
            .is_empty()),
        "not re-evaluated after the reload: {}",
        peer()
    );
    assert_eq!(peer()["stats"]["established"], 1, "{}", peer());
    println!("{}", route(&lab, &daemon, "198.51.100.0/24"));
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

const ROLES: &str = r#"
[[bgp.peer]]
address = "203.0.113.2"
remote_as = 65010
role = "customer"
hold_time = 9

[[bgp.peer]]
address = "203.0.113.3"
remote_as = 65020
role = "provider"
hold_time = 9

[[bgp.peer]]
address = "203.0.113.4"
remote_as = 65040
role = "peer"
hold_time = 9

[[bgp.peer]]
address = "192.0.2.10"
remote_as = 65030
role = "peer"
strict_role = true
hold_time = 9
"#;

/// A BIRD in host B at `address` (added to b0 unless it is B's own),
/// peering with R as AS `asn` in `role`, announcing `prefixes` and, once
/// `enable later` is said, 198.51.105.0/24.
fn bird_in_b(lab: &Lab, address: &str, asn: u32, role: &str, prefixes: &[&str]) -> Bird {
    if address != "203.0.113.2" {
        let with_len = format!("{address}/24");
        lab.ip(Host::B, &["-4", "addr", "add", &with_len, "dev", "b0"]);
    }
    let routes: String = prefixes
        .iter()
        .map(|p| format!("route {p} blackhole; "))
        .collect();
    Bird::start(
        &lab.netns(Host::B),
        &format!(
            "router id {address};\nprotocol device {{}}\n\
             protocol static mine {{ ipv4; {routes}}}\n\
             protocol static later {{ disabled; ipv4; route 198.51.105.0/24 blackhole; }}\n\
             protocol bgp r {{ local {address} as {asn}; neighbor 203.0.113.1 as 65000;\n\
               local role {role}; hold time 9; strict bind;\n\
               ipv4 {{ import none; export where proto = \"mine\" || proto = \"later\"; }}; }}\n"
        ),
    )
}

#[test]
fn bird_roles_keep_a_providers_route_from_a_peer() {
    let test = "bird_roles_keep_a_providers_route_from_a_peer";
    if !require_root(test) || !require_daemon(test, "bird") {
        return;
    }
    let lab = Lab::up();
    // One BIRD per role: BIRD runs one protocol per neighbour address.
    let prov = bird_in_b(&lab, "203.0.113.2", 65010, "provider", &["198.51.100.0/24"]);
    let cust = bird_in_b(&lab, "203.0.113.3", 65020, "customer", &["198.51.101.0/24"]);
    let bad = bird_in_b(&lab, "203.0.113.4", 65040, "provider", &[]);
    let a = Bird::start(
        &lab.netns(Host::A),
        "router id 192.0.2.10;\nprotocol device {}\n\
         protocol bgp lat { local 192.0.2.10 as 65030; neighbor 192.0.2.1 as 65000;\n\
           local role peer; require roles; hold time 9;\n\
           ipv4 { import all; export none; }; }\n",
    );
    let config = write_config(&lab, ROLES);
    let daemon = Daemon::start(&lab, &config);
    let established = |address: &str| neighbor(&lab, &daemon, address)["state"] == "established";
    assert!(
        poll_until(LIMIT, || ["203.0.113.2", "203.0.113.3", "192.0.2.10"]
            .iter()
            .all(|p| established(p))),
        "{:?}\n{}\n{}{}{}",
        show(&lab, &daemon, &["bgp"]),
        cust.birdc("show protocols all"),
        prov.log(),
        cust.log(),
        bad.log()
    );
    // Both learned; the provider's marked with its AS on the way in.
    assert!(poll_until(LIMIT, || {
        !route(&lab, &daemon, "198.51.101.0/24").is_empty()
            && route(&lab, &daemon, "198.51.100.0/24").contains("\"otc\":65010")
    }));
    // Another customer route after both: once A has it, A has heard
    // everything ferroute sent it before.
    cust.birdc("enable later");
    assert!(
        poll_until(LIMIT, || a
            .birdc("show route 198.51.105.0/24")
            .contains("192.0.2.1")),
        "{}",
        a.birdc("show route all")
    );
    let customers = a.birdc("show route 198.51.101.0/24 all");
    // Sent sideways: ferroute marked it Only-to-Customer with its AS.
    assert!(
        customers.contains("192.0.2.1") && customers.contains("BGP.otc: 65000"),
        "{customers}"
    );
    let providers = a.birdc("show route 198.51.100.0/24");
    assert!(
        !providers.contains("198.51.100.0/24"),
        "the provider's route reached a peer: {providers}"
    );
    // The session whose roles do not pair: Role Mismatch, never up.
    let mismatch = || neighbor(&lab, &daemon, "203.0.113.4")["stats"].to_string();
    assert!(
        poll_until(LIMIT, || mismatch().contains("2/11")),
        "{}\n{}",
        mismatch(),
        bad.birdc("show protocols all r")
    );
    assert!(!established("203.0.113.4"));
    println!("{customers}\n{}", mismatch());
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// FRR bgpd 8.4 in host B as ferroute's provider (`local-role provider
/// strict-mode`), ferroute its customer with `strict_role`: the session
/// comes up, FRR's route arrives marked OTC = FRR's AS (ingress from a
/// provider), ferroute's connected route reaches FRR; a reload making
/// ferroute a lateral peer restarts the session, which FRR's role refuses
/// (Role Mismatch, 2/11).
#[test]
fn frr_provider_role_pairs_with_a_customer_and_refuses_a_peer() {
    let test = "frr_provider_role_pairs_with_a_customer_and_refuses_a_peer";
    let bgpd = format!("{FRR_DAEMONS}/bgpd");
    if !require_root(test) || !require_daemon(test, &bgpd) {
        return;
    }
    let lab = Lab::up();
    let frr = Frr::start(
        &lab.netns(Host::B),
        &[FrrDaemon::Bgpd],
        "frr defaults traditional\n\
         router bgp 65010\n bgp router-id 203.0.113.2\n no bgp ebgp-requires-policy\n\
          no bgp network import-check\n neighbor 203.0.113.1 remote-as 65000\n\
          neighbor 203.0.113.1 timers 3 9\n\
          neighbor 203.0.113.1 local-role provider strict-mode\n\
          address-family ipv4 unicast\n  network 198.51.100.0/24\n exit-address-family\n",
    );
    let config = write_config(
        &lab,
        "\n[[bgp.peer]]\naddress = \"203.0.113.2\"\nremote_as = 65010\n\
         role = \"customer\"\nstrict_role = true\nhold_time = 9\n",
    );
    let daemon = Daemon::start(&lab, &config);
    let peer = || neighbor(&lab, &daemon, "203.0.113.2");
    assert!(
        poll_until(LIMIT, || route(&lab, &daemon, "198.51.100.0/24")
            .contains("\"otc\":65010")),
        "{}\n{}\n{}",
        peer(),
        route(&lab, &daemon, "198.51.100.0/24"),
        frr.vtysh("show bgp neighbors 203.0.113.1")
    );
    assert!(
        poll_until(LIMIT, || frr
            .vtysh("show bgp ipv4 unicast 192.0.2.0/24")
            .contains("203.0.113.1")),
        "{}",
        frr.vtysh("show bgp ipv4 unicast")
    );
    // Lateral peer now: FRR's provider role does not pair with it.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("role = \"customer\"", "role = \"peer\""),
    )
    .unwrap();
    reload(&lab, &daemon);
    assert!(
        poll_until(LIMIT, || peer()["stats"].to_string().contains("2/11")),
        "{}\n{}",
        peer(),
        frr.log("bgpd")
    );
    assert_ne!(peer()["state"], "established");
    println!("{}", peer()["stats"]);
    let stopped = daemon.stop_cleanly(&lab);
    assert!(stopped.status.success(), "{}", stopped.stderr);
}
