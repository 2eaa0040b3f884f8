//! VLAN sub-interfaces live, through `ferroute run` in the veth lab: the
//! router's p0 carries VLAN 100 (p0.100, 198.51.100.1/24 and
//! 2001:db8:100::1/64) beside its own untagged traffic. Host A's veth plays
//! a host on VLAN 100 over AF_PACKET (no host here can have a VLAN device):
//! it resolves and pings the router's VLAN addresses (tagged ARP/ND and
//! echoes, answered by the router's kernel through the sub-interface's
//! TAP), the router pings it, and it pings host B through the data plane
//! (VLAN 100 → p1 and back, the neighbour learnt by the kernel on the TAP),
//! IPv4 and IPv6. Frames of a VLAN p0 does not serve are counted
//! `vlan_unknown`; every redirected frame is accounted for; the TAP follows
//! p0's carrier; after the stop neither the TAP nor an XDP program is left.
//!
//! Needs root (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::vlan_host::{
    arp, echo, neighbour_discovery, parse_arp, parse_echo, parse_icmpv6, untagged, vid, Identity,
    VlanHost,
};
use support::{poll_until, require_root, Host, Lab, MAC_P0};

const VID: u16 = 100;
const UNSERVED_VID: u16 = 200;
const ROUTER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const ROUTER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
const ME: Identity = Identity {
    mac: [0x02, 0, 0, 0, 0x64, 0x0a],
    v4: Ipv4Addr::new(198, 51, 100, 10),
    v6: Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10),
    vid: VID,
};
const B_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const B_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// Echo requests through the data plane per family, and frames on the
/// unserved VLAN.
const TRANSIT: u16 = 20;
const UNSERVED: u16 = 7;
const LIMIT: Duration = Duration::from_secs(5);

const SUB_INTERFACE: &str = r#"
[[port]]
name = "p0.100"
parent = "p0"
vlan = 100
addresses = ["198.51.100.1/24", "2001:db8:100::1/64"]
"#;

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[k]).as_u64().unwrap_or(0)
}

/// Our address of `to`'s family.
fn me(to: IpAddr) -> IpAddr {
    match to {
        IpAddr::V4(_) => ME.v4.into(),
        IpAddr::V6(_) => ME.v6.into(),
    }
}

/// A tagged frame `wanted` accepts, waited for; the frames passed over
/// are shown when none comes.
fn expect(host: &VlanHost, what: &str, wanted: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let (frame, others) = host.expect(LIMIT, wanted);
    frame.unwrap_or_else(|| {
        panic!(
            "no {what} on VLAN {VID}; saw {} other frames, starting {:02x?}",
            others.len(),
            others
                .iter()
                .take(3)
                .map(|f| &f[..f.len().min(48)])
                .collect::<Vec<_>>()
        )
    })
}

/// Sends an echo request (id, seq) to `to` and returns the tagged reply.
fn ping(host: &VlanHost, to: IpAddr, (id, seq): (u16, u16), payload: &[u8]) -> Vec<u8> {
    let request = echo(
        true,
        VID,
        (ME.mac, MAC_P0),
        (me(to), to),
        (id, seq),
        payload,
    );
    host.send(&request);
    let reply = expect(host, &format!("echo reply {id}/{seq} from {to}"), |f| {
        parse_echo(f).is_some_and(|(req, src, dst, i, s, _)| {
            !req && src == to && dst == me(to) && (i, s) == (id, seq)
        })
    });
    assert_eq!(vid(&reply), Some(VID));
    assert_eq!(&reply[..6], &ME.mac);
    assert_eq!(
        &reply[6..12],
        &MAC_P0,
        "the sub-interface's MAC (its parent's)"
    );
    assert_eq!(parse_echo(&reply).map(|e| e.5), Some(payload.to_vec()));
    reply
}

/// The IPv4 TTL or IPv6 hop limit of a tagged frame.
fn hops(frame: &[u8]) -> u8 {
    match frame[16..18] {
        [0x08, 0x00] => frame[18 + 8],
        _ => frame[18 + 7],
    }
}

#[test]
fn vlan_sub_interface_live() {
    if !require_root("lab vlan") {
        return;
    }
    live(1, &[]);
}

/// Two workers, each with a socket on queue q of every link (veths with
/// two queues, `scripts/lab up --queues 2`).
#[test]
fn vlan_sub_interface_live_with_two_workers() {
    if !require_root("lab vlan, two workers") {
        return;
    }
    live(2, &[]);
}

/// The XDP program in generic (skb) mode: it sees the tag in the frame
/// there too (the kernel strips it only after XDP).
#[test]
fn vlan_sub_interface_live_generic_xdp() {
    if !require_root("lab vlan, generic XDP") {
        return;
    }
    live(1, &["--generic"]);
}

/// The whole scenario with `workers` workers on as many queues and `args`
/// for `ferroute run`.
fn live(workers: u32, args: &[&str]) {
    let lab = Lab::up_with_queues(workers);
    let config = lab.dir.join("vlan.toml");
    // No static neighbour on the VLAN: the kernel learns the host on the TAP.
    let toml = format!("{}{SUB_INTERFACE}", RouterConfig::default().toml());
    std::fs::write(&config, toml).unwrap();
    let workers = workers.to_string();
    let args = [&["--workers", workers.as_str()], args].concat();
    let daemon = Daemon::start_with(&lab, &config, &args);
    let tap = lab.ip(Host::R, &["-d", "link", "show", "p0.100"]);
    assert!(
        tap.contains("tun type tap") && tap.contains("02:00:00:00:00:01"),
        "{tap}"
    );
    let host = VlanHost::start(&lab, Host::A, "a0", ME);

    // Host → router: tagged ARP and ND, then tagged echoes, answered
    // tagged by the router's kernel through the TAP.
    host.send(&arp(1, VID, (ME.mac, ME.v4), ([0; 6], ROUTER_V4)));
    let reply = expect(&host, "ARP reply", |f| {
        parse_arp(f).is_some_and(|(op, _, sender, target)| {
            op == 2 && sender == ROUTER_V4 && target == ME.v4
        })
    });
    assert_eq!(&reply[6..12], &MAC_P0);
    let solicitation =
        neighbour_discovery(true, VID, (ME.mac, ME.v6), ([0; 6], ROUTER_V6), ROUTER_V6);
    host.send(&solicitation);
    expect(&host, "neighbour advertisement", |f| {
        parse_icmpv6(f).is_some_and(|(kind, src, dst, body)| {
            kind == 136
                && src == ROUTER_V6
                && dst == ME.v6
                && body.get(4..20) == Some(&ROUTER_V6.octets()[..])
        })
    });
    for to in [IpAddr::V4(ROUTER_V4), IpAddr::V6(ROUTER_V6)] {
        for seq in 1..=3 {
            ping(&host, to, (7, seq), b"to-router");
        }
    }

    // Router → host: the router's own pings leave through the TAP, tagged;
    // the host answers ARP/ND and echo.
    for to in ["198.51.100.10", "2001:db8:100::10"] {
        let done = lab.run(
            Host::R,
            "ping",
            &["-n", "-c", "3", "-i", "0.2", "-w", "10", to],
        );
        assert!(done.status.success(), "router → {to}: {}", done.text());
    }
    let neighbours = lab.ip(Host::R, &["neigh", "show", "dev", "p0.100"]);
    for learnt in [
        "198.51.100.10 lladdr 02:00:00:00:64:0a",
        "2001:db8:100::10 lladdr 02:00:00:00:64:0a",
    ] {
        assert!(neighbours.contains(learnt), "{neighbours}");
    }

    // Through the data plane: VLAN 100 → p1 → host B's kernel, and B's
    // replies back onto the VLAN, tagged, to the MAC the kernel learnt on
    // the TAP (no static neighbour).
    for to in [IpAddr::V4(B_V4), IpAddr::V6(B_V6)] {
        for seq in 1..=TRANSIT {
            let reply = ping(&host, to, (9, seq), b"transit");
            assert_eq!(hops(&reply), 63, "B's reply, one hop through the router");
        }
    }

    // A VLAN p0 does not serve: to the worker, counted, not forwarded.
    for seq in 1..=UNSERVED {
        let to = IpAddr::V4(B_V4);
        let request = echo(
            true,
            UNSERVED_VID,
            (ME.mac, MAC_P0),
            (me(to), to),
            (11, seq),
            b"x",
        );
        host.send(&request);
    }

    // Counters: every redirected frame received or dropped at a socket;
    // the transit echoes forwarded both ways; the unserved VLAN counted.
    let mut stats = Value::Null;
    let settled = poll_until(LIMIT, || {
        stats = daemon.stats().unwrap_or(Value::Null);
        let redirected = n(&stats, &["xdp", "redirected"]);
        let received = n(&stats, &["counters", "rx_frames"]);
        let socket_drops = ["rx_ring_full", "fill_ring_empty", "rx_other"]
            .iter()
            .map(|k| n(&stats, &["socket_drops", k]))
            .sum::<u64>();
        n(&stats, &["counters", "drops", "vlan_unknown"]) == u64::from(UNSERVED)
            && redirected == received + socket_drops
    });
    assert!(settled, "counters do not add up: {stats:#}");
    let forwarded = n(&stats, &["counters", "forwarded"]);
    assert!(
        forwarded >= 4 * u64::from(TRANSIT),
        "forwarded {forwarded}: {stats:#}"
    );
    let received = n(&stats, &["counters", "rx_frames"]);
    let dropped = n(&stats, &["counters", "dropped"]);
    assert_eq!(
        received,
        forwarded + dropped + n(&stats, &["counters", "fragmented"]),
        "{stats:#}"
    );
    // Punted: ARP, NS and 6 echoes in; their answers and the router's 6
    // pings out (and whatever else the kernel says on the VLAN).
    assert!(n(&stats, &["linux_cp", "to_kernel"]) >= 8, "{stats:#}");
    assert!(n(&stats, &["linux_cp", "from_kernel"]) >= 14, "{stats:#}");
    assert_eq!(n(&stats, &["linux_cp", "errors"]), 0, "{stats:#}");
    drop(host);

    // The TAP follows its link's carrier: host A's end down takes p0's
    // carrier, and with it the sub-interface's, and back.
    let tap_has_carrier = || {
        let line = lab.ip(Host::R, &["link", "show", "p0.100"]);
        !line.contains("NO-CARRIER") && line.contains("LOWER_UP")
    };
    assert!(tap_has_carrier());
    for (state, carrier) in [("down", false), ("up", true)] {
        lab.ip(Host::A, &["link", "set", "a0", state]);
        assert!(
            poll_until(LIMIT, || tap_has_carrier() == carrier),
            "a0 {state}: {}",
            lab.ip(Host::R, &["link", "show", "p0.100"])
        );
    }

    let stopped = daemon.stop_cleanly(&lab);
    assert!(
        stopped.stdout.contains("TAPs p0.100 removed"),
        "{}",
        stopped.stdout
    );
    let links = lab.ip(Host::R, &["link", "show"]);
    assert!(!links.contains("p0.100"), "the TAP is left: {links}");
}

/// A sub-interface with a MAC of its own: its link is told to accept that
/// MAC (in the veth's unicast list, which makes it promiscuous). Killed
/// (SIGKILL: no clean-up code runs), ferroute leaves neither the TAP, nor
/// the MAC on the link, nor an XDP program behind: all go with its
/// descriptors.
#[test]
fn own_mac_accepted_and_nothing_left_after_sigkill() {
    if !require_root("lab vlan, own MAC and SIGKILL") {
        return;
    }
    let lab = Lab::up();
    let config = lab.dir.join("vlan.toml");
    let own_mac =
        SUB_INTERFACE.replace("vlan = 100\n", "vlan = 100\nmac = \"02:00:00:00:64:01\"\n");
    assert_ne!(own_mac, SUB_INTERFACE);
    let toml = format!("{}{own_mac}", RouterConfig::default().toml());
    std::fs::write(&config, toml).unwrap();
    let daemon = Daemon::start(&lab, &config);
    let tap_exists = || lab.ip(Host::R, &["link", "show"]).contains("p0.100");
    let link_accepts = || {
        let fdb = lab.run(Host::R, "bridge", &["fdb", "show", "dev", "p0"]);
        assert!(fdb.status.success(), "{}", fdb.text());
        fdb.stdout.contains("02:00:00:00:64:01 self")
    };
    assert!(tap_exists());
    assert!(link_accepts());
    assert!(!lab.interfaces_with_xdp().is_empty());
    // The router answers on the VLAN from that MAC, and forwards frames
    // sent to it.
    let host = VlanHost::start(&lab, Host::A, "a0", ME);
    host.send(&arp(1, VID, (ME.mac, ME.v4), ([0; 6], ROUTER_V4)));
    let reply = expect(&host, "ARP reply", |f| {
        parse_arp(f).is_some_and(|(op, _, sender, _)| op == 2 && sender == ROUTER_V4)
    });
    let sub_mac = [0x02, 0, 0, 0, 0x64, 0x01];
    assert_eq!(&reply[6..12], &sub_mac);
    // Until the kernel's new neighbour entry is in the FIB (tens of ms
    // after the ARP request), B's reply may find the host unresolved:
    // echoes are repeated, as ping would, until one comes back.
    let to = IpAddr::V4(B_V4);
    let mut reply = None;
    for seq in 1..=50 {
        let request = echo(true, VID, (ME.mac, sub_mac), (me(to), to), (3, seq), b"own");
        host.send(&request);
        reply = host
            .expect(Duration::from_millis(100), |f| {
                parse_echo(f).is_some_and(|(req, src, _, id, _, _)| !req && src == to && id == 3)
            })
            .0;
        if reply.is_some() {
            break;
        }
    }
    let reply = reply.expect("no echo reply from B through the sub-interface's own MAC");
    assert_eq!(&reply[6..12], &sub_mac);
    drop(host);
    let status = daemon.kill();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    assert!(
        poll_until(LIMIT, || !tap_exists()
            && !link_accepts()
            && lab.interfaces_with_xdp().is_empty()),
        "left after SIGKILL: {}; XDP on {:?}",
        lab.ip(Host::R, &["link", "show"]),
        lab.interfaces_with_xdp()
    );
}

/// What the punt path costs the router's own traffic: round trips of
/// echoes from the same AF_PACKET socket to the router's VLAN address
/// (XDP pass → kernel on p0 → punt socket → TAP → kernel ICMP → TAP → punt
/// socket → wire) and, untagged, to p0's own address (XDP pass → kernel →
/// wire), alternated; prints medians and 90th percentiles.
/// `cargo test --release --test lab_vlan -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run by hand"]
fn punt_round_trip_against_the_kernels_own() {
    if !require_root("lab vlan round trips") {
        return;
    }
    const ROUNDS: u16 = 300;
    let lab = Lab::up();
    let config = lab.dir.join("vlan.toml");
    let toml = format!("{}{SUB_INTERFACE}", RouterConfig::default().toml());
    std::fs::write(&config, toml).unwrap();
    let daemon = Daemon::start(&lab, &config);
    let host = VlanHost::start(&lab, Host::A, "a0", ME);
    // Host A's own address and MAC for the untagged peer: the router's
    // kernel answers it on p0 from its neighbour entry.
    let a0 = (
        "192.0.2.10".parse::<Ipv4Addr>().unwrap(),
        [0x02, 0, 0, 0, 0, 0x0a],
    );
    let p0: Ipv4Addr = "192.0.2.1".parse().unwrap();
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for seq in 0..ROUNDS {
        for (kind, t) in times.iter_mut().enumerate() {
            let (frame, from, to) = match kind {
                0 => {
                    let to = IpAddr::V4(ROUTER_V4);
                    let f = echo(true, VID, (ME.mac, MAC_P0), (me(to), to), (5, seq), b"rtt");
                    (f, to, me(to))
                }
                _ => {
                    let (src, dst) = (IpAddr::V4(a0.0), IpAddr::V4(p0));
                    let f = echo(true, VID, (a0.1, MAC_P0), (src, dst), (6, seq), b"rtt");
                    (untagged(&f), dst, src)
                }
            };
            let sent = Instant::now();
            host.send(&frame);
            let (reply, _) = host.expect(LIMIT, |f| {
                parse_echo(f).is_some_and(|(req, src, dst, _, s, _)| {
                    !req && src == from && dst == to && s == seq
                })
            });
            assert!(reply.is_some(), "no reply {kind}/{seq}");
            // The first rounds resolve neighbours: left out.
            if seq >= 10 {
                t.push(sent.elapsed());
            }
        }
    }
    for (name, t) in ["VLAN address, through the TAP", "p0's address, untagged"]
        .iter()
        .zip(&mut times)
    {
        t.sort();
        let at = |q: usize| t[t.len() * q / 100].as_micros();
        println!(
            "{name}: median {} µs, p90 {} µs over {} echoes",
            at(50),
            at(90),
            t.len()
        );
    }
    drop(host);
    daemon.stop_cleanly(&lab);
}
