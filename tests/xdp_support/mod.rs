//! Network namespaces, veth pairs and raw packet sockets for the AF_XDP
//! tests, over `ferroute::testkit::netns` (which deletes what it creates on
//! drop, so a failing test cleans up too).

#![allow(dead_code)]

use std::ops::Deref;

use ferroute::testkit::netns;
use ferroute::wire::MacAddr;

#[allow(unused_imports)] // not every test crate waits
pub use ferroute::testkit::netns::poll_until;

/// True when the test can run (root). Otherwise prints why it is skipped,
/// or fails under CI=true.
pub fn require_root(test: &str) -> bool {
    netns::require_root(test, "AF_XDP tests")
}

/// `ferroute gen` arguments for UDP from host A (a0) to host B through the
/// router's p0, with the lab's addresses (scripts/lab, xdp_bench's topology).
pub const GEN_A_TO_B: [&str; 11] = [
    "gen",
    "--interface",
    "a0",
    "--dst-mac",
    "02:00:00:00:00:01",
    "--src-mac",
    "02:00:00:00:00:0a",
    "--src",
    "192.0.2.10",
    "--dst",
    "203.0.113.2",
];

/// A namespace `fxROLE-PID-N` without IPv6 (no router solicitations, MLD or
/// DAD to disturb counts), deleted on drop.
pub struct Netns(netns::Netns);

impl Netns {
    pub fn new(role: &str) -> Netns {
        let ns = netns::Netns::new(&format!("fx{role}"));
        ns.write_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
        ns.write_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
        Netns(ns)
    }

    pub fn ip(&self, args: &[&str]) {
        self.0.ip(args);
    }

    /// Packets transmitted by `interface` so far (`ip -s` statistics).
    pub fn tx_packets(&self, interface: &str) -> u64 {
        let out = self.0.ip(&["-s", "-j", "link", "show", interface]);
        let json: serde_json::Value = serde_json::from_str(&out).expect("ip -j output");
        json[0]["stats64"]["tx"]["packets"]
            .as_u64()
            .expect("tx packets")
    }
}

impl Deref for Netns {
    type Target = netns::Netns;
    fn deref(&self) -> &netns::Netns {
        &self.0
    }
}

pub const MAC_RA: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x01]);
pub const MAC_PA: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x02]);
pub const MAC_RB: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x01]);
pub const MAC_PB: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x02]);

fn mac_text(mac: MacAddr) -> String {
    mac.0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The router's two ports, ra (port 0) and rb (port 1), as the XDP
/// program takes them; call inside the router's namespace.
pub fn router_ports() -> [ferroute::io::xdp::XdpPort; 2] {
    use ferroute::io::xdp::{interface_index, XdpPort};
    [
        XdpPort {
            ifindex: interface_index("ra").expect("ra"),
            port_index: 0,
            mac: MAC_RA,
        },
        XdpPort {
            ifindex: interface_index("rb").expect("rb"),
            port_index: 1,
            mac: MAC_RB,
        },
    ]
}

/// Router namespace `r` with ports `ra` (10.1.0.1/24) and `rb`
/// (10.2.0.1/24), wired to peers `pa` in namespace `a` (10.1.0.2) and `pb`
/// in namespace `b` (10.2.0.2). Fields drop in order: the router first.
pub struct Topology {
    pub r: Netns,
    pub a: Netns,
    pub b: Netns,
}

impl Topology {
    pub fn new() -> Topology {
        let topo = Topology {
            r: Netns::new("r"),
            a: Netns::new("a"),
            b: Netns::new("b"),
        };
        for (ri, pi, peer, rmac, pmac, net) in [
            ("ra", "pa", &topo.a, MAC_RA, MAC_PA, "10.1.0"),
            ("rb", "pb", &topo.b, MAC_RB, MAC_PB, "10.2.0"),
        ] {
            topo.r.ip(&[
                "link", "add", ri, "type", "veth", "peer", "name", pi, "netns", &peer.name,
            ]);
            topo.r
                .ip(&["link", "set", ri, "address", &mac_text(rmac), "up"]);
            peer.ip(&["link", "set", pi, "address", &mac_text(pmac), "up"]);
            topo.r
                .ip(&["addr", "add", &format!("{net}.1/24"), "dev", ri]);
            peer.ip(&["addr", "add", &format!("{net}.2/24"), "dev", pi]);
            // Static neighbours: no ARP traffic of the kernels' own to
            // disturb the counts (the kernel still answers ARP requests).
            topo.r.ip(&[
                "neigh",
                "replace",
                &format!("{net}.2"),
                "lladdr",
                &mac_text(pmac),
                "dev",
                ri,
                "nud",
                "permanent",
            ]);
            peer.ip(&[
                "neigh",
                "replace",
                &format!("{net}.1"),
                "lladdr",
                &mac_text(rmac),
                "dev",
                pi,
                "nud",
                "permanent",
            ]);
        }
        topo
    }
}

/// A raw AF_PACKET socket on one interface (of the namespace it was opened
/// in; usable from any thread afterwards); sending must succeed.
pub struct PacketSocket(netns::PacketSocket);

impl PacketSocket {
    /// Opens a socket on `interface`; call inside the interface's namespace.
    pub fn open(interface: &str) -> PacketSocket {
        PacketSocket(netns::PacketSocket::open(interface))
    }

    pub fn send(&self, frame: &[u8]) {
        self.0
            .send(frame)
            .unwrap_or_else(|e| panic!("AF_PACKET send: {e}"));
    }
}

impl Deref for PacketSocket {
    type Target = netns::PacketSocket;
    fn deref(&self) -> &netns::PacketSocket {
        &self.0
    }
}

/// The one counter `frame` on `ifindex` moves in the program's test mode
/// (BPF_PROG_RUN, one run; call inside the router's namespace).
pub fn verdict(program: &ferroute::io::xdp::XdpProgram, frame: &[u8], ifindex: u32) -> String {
    let before = serde_json::to_value(program.counters().unwrap()).unwrap();
    program.test_run(frame, ifindex, 1).expect("test run");
    let after = serde_json::to_value(program.counters().unwrap()).unwrap();
    let moved: Vec<String> = after
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| v.as_u64() != before[k.as_str()].as_u64())
        .map(|(k, v)| {
            format!(
                "{k}+{}",
                v.as_u64().unwrap() - before[k.as_str()].as_u64().unwrap()
            )
        })
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    moved[0].trim_end_matches("+1").to_string()
}

/// A UDP datagram to `dst` addressed to `dst_mac`, 18 bytes of payload
/// (the test-mode verdicts' transit and local frames).
pub fn udp_to(dst_mac: MacAddr, dst: std::net::Ipv4Addr) -> Vec<u8> {
    let mut f = ferroute::testkit::frames::V4Frame::udp(dst);
    f.dst_mac = dst_mac;
    f.payload = vec![0; 18];
    f.build()
}
