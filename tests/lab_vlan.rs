//! VLAN sub-interfaces live, through `ferroute run` in the veth lab: the
//! router's p0 carries VLAN 100 (p0.100, 198.51.100.1/24) beside its own
//! untagged traffic. Host A's veth plays a host on VLAN 100 over AF_PACKET
//! (no host here can have a VLAN device): it pings the router's VLAN
//! address (tagged ARP and echo, answered by the router's kernel through
//! the sub-interface's TAP), the router pings it, and it pings host B
//! through the data plane (VLAN 100 → p1 and back, the neighbour learnt by
//! the kernel on the TAP). Frames of a VLAN p0 does not serve are counted
//! `vlan_unknown`; every redirected frame is accounted for; after the stop
//! neither the TAP nor an XDP program is left.
//!
//! Needs root (skips otherwise, fails under CI=true).

#[path = "lab/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::Value;
use support::config::RouterConfig;
use support::daemon::Daemon;
use support::vlan_host::{arp, echo, parse_arp, parse_echo, vid, VlanHost};
use support::{poll_until, require_root, Host, Lab, MAC_P0};

const VID: u16 = 100;
const UNSERVED_VID: u16 = 200;
const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x64, 0x0a];
const B: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Echo requests through the data plane, and frames on the unserved VLAN.
const TRANSIT: u16 = 20;
const UNSERVED: u16 = 7;
const LIMIT: Duration = Duration::from_secs(5);

const SUB_INTERFACE: &str = r#"
[[port]]
name = "p0.100"
parent = "p0"
vlan = 100
addresses = ["198.51.100.1/24"]
"#;

fn n(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[k]).as_u64().unwrap_or(0)
}

/// The tagged echo reply to (id, seq) from `from`, waited for.
fn expect_reply(host: &VlanHost, from: Ipv4Addr, id: u16, seq: u16) -> Vec<u8> {
    let (reply, others) = host.expect(LIMIT, |f| {
        parse_echo(f).is_some_and(|(req, src, dst, i, s, _)| {
            !req && src == from && dst == HOST && (i, s) == (id, seq)
        })
    });
    reply.unwrap_or_else(|| {
        panic!(
            "no echo reply {id}/{seq} from {from} on VLAN {VID}; saw {} other frames: {:02x?}",
            others.len(),
            others
                .iter()
                .take(3)
                .map(|f| &f[..f.len().min(48)])
                .collect::<Vec<_>>()
        )
    })
}

#[test]
fn vlan_sub_interface_live() {
    if !require_root("lab vlan") {
        return;
    }
    let lab = Lab::up();
    let config = lab.dir.join("vlan.toml");
    // No static neighbour on the VLAN: the kernel learns the host on the TAP.
    let toml = format!("{}{SUB_INTERFACE}", RouterConfig::default().toml());
    std::fs::write(&config, toml).unwrap();
    let daemon = Daemon::start(&lab, &config);
    let tap = lab.ip(Host::R, &["-d", "link", "show", "p0.100"]);
    assert!(
        tap.contains("tun type tap") && tap.contains("02:00:00:00:00:01"),
        "{tap}"
    );
    let host = VlanHost::start(&lab, Host::A, "a0", (HOST_MAC, HOST, VID));

    // Host → router: tagged ARP, then tagged echo, answered tagged by the
    // router's kernel through the TAP.
    host.send(&arp(1, VID, (HOST_MAC, HOST), ([0; 6], ROUTER)));
    let (reply, others) = host.expect(LIMIT, |f| {
        parse_arp(f)
            .is_some_and(|(op, _, sender, target)| op == 2 && sender == ROUTER && target == HOST)
    });
    let reply = reply.unwrap_or_else(|| panic!("no ARP reply on VLAN {VID}: {others:02x?}"));
    assert_eq!(vid(&reply), Some(VID));
    assert_eq!(
        &reply[6..12],
        &MAC_P0,
        "the sub-interface's MAC (its parent's)"
    );
    assert_eq!(&reply[..6], &HOST_MAC);
    for seq in 1..=3 {
        let request = echo(
            true,
            VID,
            (HOST_MAC, MAC_P0),
            (HOST, ROUTER),
            (7, seq),
            b"to-router",
        );
        host.send(&request);
        let reply = expect_reply(&host, ROUTER, 7, seq);
        assert_eq!(vid(&reply), Some(VID));
        assert_eq!(parse_echo(&reply).map(|e| e.5), Some(b"to-router".to_vec()));
    }

    // Router → host: the router's own ping leaves through the TAP, tagged;
    // the host answers ARP and echo.
    let done = lab.run(
        Host::R,
        "ping",
        &["-n", "-c", "3", "-i", "0.2", "-w", "10", "198.51.100.10"],
    );
    assert!(done.status.success(), "router → VLAN host: {}", done.text());
    let neighbours = lab.ip(Host::R, &["neigh", "show", "dev", "p0.100"]);
    assert!(
        neighbours.contains("198.51.100.10 lladdr 02:00:00:00:64:0a"),
        "{neighbours}"
    );

    // Through the data plane: VLAN 100 → p1 → host B's kernel, and B's
    // replies back onto the VLAN, tagged, to the MAC the kernel learnt on
    // the TAP (no static neighbour).
    for seq in 1..=TRANSIT {
        let request = echo(
            true,
            VID,
            (HOST_MAC, MAC_P0),
            (HOST, B),
            (9, seq),
            b"transit",
        );
        host.send(&request);
        let reply = expect_reply(&host, B, 9, seq);
        assert_eq!(vid(&reply), Some(VID));
        assert_eq!(&reply[..6], &HOST_MAC);
        assert_eq!(&reply[6..12], &MAC_P0);
        assert_eq!(reply[L3_TTL], 63, "B's reply, one hop through the router");
    }

    // A VLAN p0 does not serve: to the worker, counted, not forwarded.
    for seq in 1..=UNSERVED {
        let request = echo(
            true,
            UNSERVED_VID,
            (HOST_MAC, MAC_P0),
            (HOST, B),
            (11, seq),
            b"unserved",
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
        forwarded >= 2 * u64::from(TRANSIT),
        "forwarded {forwarded}: {stats:#}"
    );
    let received = n(&stats, &["counters", "rx_frames"]);
    let dropped = n(&stats, &["counters", "dropped"]);
    assert_eq!(
        received,
        forwarded + dropped + n(&stats, &["counters", "fragmented"]),
        "{stats:#}"
    );
    // Punted: 1 ARP request + 3 echoes in, at least 1 ARP reply + 3 echo
    // replies + the router's 3 pings out.
    assert!(n(&stats, &["linux_cp", "to_kernel"]) >= 4, "{stats:#}");
    assert!(n(&stats, &["linux_cp", "from_kernel"]) >= 7, "{stats:#}");
    assert_eq!(n(&stats, &["linux_cp", "errors"]), 0, "{stats:#}");
    drop(host);

    let stopped = daemon.stop_cleanly(&lab);
    assert!(
        stopped.stdout.contains("TAPs p0.100 removed"),
        "{}",
        stopped.stdout
    );
    let links = lab.ip(Host::R, &["link", "show"]);
    assert!(!links.contains("p0.100"), "the TAP is left: {links}");
}

/// The IPv4 TTL of a tagged frame.
const L3_TTL: usize = 18 + 8;
