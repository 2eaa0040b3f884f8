//! The XDP program's two per-frame lookups (bpf/ferroute.bpf.c), in the
//! kernel's test mode (BPF_PROG_RUN; a redirect to an empty socket slot
//! passes, counted `passed_no_socket`, which so means "would go to the
//! socket"): the port of the arriving interface, from the direct array
//! below `PORT_SLOTS` and from the hash above it; and the router's own
//! addresses behind their filter, whose shared bits must not turn transit
//! frames local, and which follows every change of the set. Root (skips
//! otherwise, fails under CI=true).

mod xdp_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferroute::io::xdp::{interface_index, XdpMode, XdpPort, XdpProgram, PORT_SLOTS};
use ferroute::testkit::frames::V6Frame;
use ferroute::wire::MacAddr;
use xdp_support::{require_root, router_ports, udp_to, verdict, Topology, MAC_RA};

const TO_SOCKET: &str = "passed_no_socket";
/// A port whose interface index is above the direct array's.
const HIGH_INDEX: u32 = 5000;
const MAC_RC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x03, 0x01]);

fn udp6(dst_mac: MacAddr, dst: Ipv6Addr) -> Vec<u8> {
    let mut f = V6Frame::udp(dst);
    f.dst_mac = dst_mac;
    f.build()
}

#[test]
fn ports_are_found_below_and_above_the_direct_array() {
    if !require_root("ports_are_found_below_and_above_the_direct_array") {
        return;
    }
    const { assert!(HIGH_INDEX >= PORT_SLOTS) };
    let topo = Topology::new();
    // rc (index 5000) is a port; rd (5001), its peer, and rb are not.
    topo.r.ip(&[
        "link", "add", "rc", "index", "5000", "type", "veth", "peer", "name", "rd", "index", "5001",
    ]);
    topo.r
        .ip(&["link", "set", "rc", "address", "02:00:00:00:03:01", "up"]);
    topo.r.ip(&["link", "set", "rd", "up"]);
    topo.r.run(|| {
        let ra = router_ports()[0];
        let rb = router_ports()[1].ifindex;
        let rc = interface_index("rc").expect("rc");
        let rd = interface_index("rd").expect("rd");
        assert_eq!((rc, rd), (HIGH_INDEX, HIGH_INDEX + 1));
        assert!(ra.ifindex < PORT_SLOTS && rb < PORT_SLOTS);
        let high = XdpPort {
            ifindex: rc,
            port_index: 2,
            mac: MAC_RC,
        };
        let program = XdpProgram::load(&[ra, high], XdpMode::Native).expect("load");
        let transit = Ipv4Addr::new(203, 0, 113, 9);
        let cases = [
            (
                "transit on ra (direct array)",
                udp_to(MAC_RA, transit),
                ra.ifindex,
                TO_SOCKET,
            ),
            (
                "transit on rc (hash)",
                udp_to(MAC_RC, transit),
                rc,
                TO_SOCKET,
            ),
            // Each port's own MAC, from its own entry.
            (
                "ra's MAC on rc",
                udp_to(MAC_RA, transit),
                rc,
                "passed_not_our_mac",
            ),
            (
                "rc's MAC on ra",
                udp_to(MAC_RC, transit),
                ra.ifindex,
                "passed_not_our_mac",
            ),
            (
                "not a port, below",
                udp_to(MAC_RA, transit),
                rb,
                "passed_unknown_port",
            ),
            (
                "not a port, above",
                udp_to(MAC_RC, transit),
                rd,
                "passed_unknown_port",
            ),
        ];
        for (what, frame, ifindex, expected) in &cases {
            assert_eq!(&verdict(&program, frame, *ifindex), expected, "{what}");
        }
    });
}

#[test]
fn local_addresses_pass_and_their_filter_follows_the_set() {
    if !require_root("local_addresses_pass_and_their_filter_follows_the_set") {
        return;
    }
    let topo = Topology::new();
    topo.r.run(|| {
        let ports = router_ports();
        let ra = ports[0].ifindex;
        let program = XdpProgram::load(&ports, XdpMode::Native).expect("load");
        let local4 = Ipv4Addr::new(198, 51, 100, 1);
        let local6: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        // Their words swapped: the same fold, so the same filter bit; the
        // hash must still say transit.
        let twin4 = Ipv4Addr::new(100, 1, 198, 51);
        let twin6: Ipv6Addr = "2001:db8::1:1".parse().unwrap();
        let judge = |program: &XdpProgram| {
            [
                verdict(program, &udp_to(MAC_RA, local4), ra),
                verdict(program, &udp6(MAC_RA, local6), ra),
                verdict(program, &udp_to(MAC_RA, twin4), ra),
                verdict(program, &udp6(MAC_RA, twin6), ra),
            ]
        };
        let both = [IpAddr::V4(local4), IpAddr::V6(local6)];
        let local = "passed_local";
        assert_eq!(judge(&program), [TO_SOCKET; 4], "before any address is set");
        program.set_local_addresses(&both).expect("set");
        assert_eq!(judge(&program), [local, local, TO_SOCKET, TO_SOCKET]);
        program.set_local_addresses(&both[..1]).expect("set");
        assert_eq!(judge(&program), [local, TO_SOCKET, TO_SOCKET, TO_SOCKET]);
        // The twin becomes local in place of its address, on the same bit.
        program
            .set_local_addresses(&[IpAddr::V4(twin4), IpAddr::V6(local6)])
            .expect("set");
        assert_eq!(judge(&program), [TO_SOCKET, local, local, TO_SOCKET]);
        program.set_local_addresses(&[]).expect("set");
        assert_eq!(judge(&program), [TO_SOCKET; 4], "after the set is emptied");
        program.set_local_addresses(&both).expect("set");
        assert_eq!(judge(&program), [local, local, TO_SOCKET, TO_SOCKET]);
    });
}
