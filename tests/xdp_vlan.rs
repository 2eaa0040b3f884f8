//! The XDP program's VLAN rules (bpf/ferroute.bpf.c), run in the kernel's
//! test mode (BPF_PROG_RUN: nothing is received or sent, and a redirect to
//! the empty socket slot passes, counted `passed_no_socket` — so that
//! counter means "would go to the link's socket"): which counter each kind
//! of frame moves on a link with VLAN sub-interfaces and on one without.
//! Ignored by default: the program's time per frame, untagged against
//! tagged. Root (skips otherwise, fails under CI=true).

mod xdp_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferroute::io::xdp::{XdpMode, XdpProgram, XdpVlan};
use ferroute::testkit::frames::{tagged, tagged_with};
use ferroute::wire::MacAddr;
use xdp_support::{require_root, router_ports, udp_to, verdict, Topology, MAC_RA, MAC_RB};

/// A sub-interface with a MAC of its own (VLAN 300 on ra).
const SUB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x03, 0x00]);
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const TRANSIT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// "Would go to the socket" in test mode (see the module comment).
const TO_SOCKET: &str = "passed_no_socket";

/// The program loaded on ra (VLANs 100 and 300) and rb (none).
fn load() -> (XdpProgram, u32, u32) {
    let ports = router_ports();
    let (ra, rb) = (ports[0].ifindex, ports[1].ifindex);
    let program = XdpProgram::load(&ports, XdpMode::Native).expect("load");
    let vlan = |vid, mac| XdpVlan {
        ifindex: ra,
        vid,
        link_index: 0,
        mac,
    };
    program
        .set_vlans(&[vlan(100, MAC_RA), vlan(300, SUB_MAC)])
        .expect("VLANs");
    program
        .set_local_addresses(&[IpAddr::V4(LOCAL)])
        .expect("local addresses");
    (program, ra, rb)
}

/// An ARP frame to `dst_mac` (unicast: a broadcast is `passed_group` first).
fn arp(dst_mac: MacAddr) -> Vec<u8> {
    let mut f = dst_mac.0.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[0; 20]);
    f
}

#[test]
fn tagged_frames_are_judged_on_their_vlan() {
    if !require_root("tagged_frames_are_judged_on_their_vlan") {
        return;
    }
    let topo = Topology::new();
    topo.r.run(|| {
        let (program, ra, rb) = load();
        let transit = udp_to(MAC_RA, TRANSIT);
        let cases: [(&str, Vec<u8>, u32, &str); 16] = [
            ("untagged transit", transit.clone(), ra, TO_SOCKET),
            ("VLAN 100 transit", tagged(&transit, 100), ra, TO_SOCKET),
            (
                "VLAN 100 to the router",
                tagged(&udp_to(MAC_RA, LOCAL), 100),
                ra,
                "passed_local",
            ),
            ("VLAN 100 ARP", tagged(&arp(MAC_RA), 100), ra, "passed_arp"),
            (
                "VLAN 100 broadcast",
                tagged(&udp_to(MacAddr([0xff; 6]), TRANSIT), 100),
                ra,
                "passed_group",
            ),
            (
                "VLAN 100, another MAC",
                tagged(&udp_to(SUB_MAC, TRANSIT), 100),
                ra,
                "passed_not_our_mac",
            ),
            (
                "VLAN 300, its own MAC",
                tagged(&udp_to(SUB_MAC, TRANSIT), 300),
                ra,
                TO_SOCKET,
            ),
            (
                "VLAN 300, the link's MAC",
                tagged(&transit, 300),
                ra,
                "passed_not_our_mac",
            ),
            // Refused by the pipeline, which counts them: to the socket.
            ("unserved VLAN 200", tagged(&transit, 200), ra, TO_SOCKET),
            (
                "unserved VLAN 200, broadcast",
                tagged(&arp(MacAddr([0xff; 6])), 200),
                ra,
                TO_SOCKET,
            ),
            ("802.1ad", tagged_with(&transit, 0x88a8, 100), ra, TO_SOCKET),
            (
                "stacked tags",
                tagged(&tagged(&transit, 100), 100),
                ra,
                TO_SOCKET,
            ),
            (
                "cut tag",
                tagged(&transit, 100)[..16].to_vec(),
                ra,
                TO_SOCKET,
            ),
            // Priority-tagged: the link's own traffic.
            ("VLAN 0 transit", tagged(&transit, 0), ra, TO_SOCKET),
            ("VLAN 0 ARP", tagged(&arp(MAC_RA), 0), ra, "passed_arp"),
            // A link without sub-interfaces leaves tags to the kernel.
            (
                "VLAN 100 on rb",
                tagged(&udp_to(MAC_RB, TRANSIT), 100),
                rb,
                "passed_vlan",
            ),
        ];
        for (what, frame, ifindex, expected) in &cases {
            assert_eq!(&verdict(&program, frame, *ifindex), expected, "{what}");
        }
    });
}

/// ns per frame in the program (BPF_PROG_RUN's mean over `REPEAT` runs),
/// untagged and tagged transit frames alternated over rounds; prints the
/// medians. `cargo test --release --test xdp_vlan -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run by hand"]
fn program_time_untagged_vs_tagged() {
    if !require_root("program_time_untagged_vs_tagged") {
        return;
    }
    const REPEAT: u32 = 2_000_000;
    const ROUNDS: usize = 7;
    let topo = Topology::new();
    topo.r.run(|| {
        let (program, ra, _) = load();
        let transit = udp_to(MAC_RA, TRANSIT);
        let frames = [
            ("untagged", transit.clone()),
            ("tagged", tagged(&transit, 100)),
        ];
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); frames.len()];
        for _ in 0..ROUNDS {
            for (i, (_, frame)) in frames.iter().enumerate() {
                let (_, mean) = program.test_run(frame, ra, REPEAT).expect("test run");
                times[i].push(mean);
            }
        }
        for ((name, _), t) in frames.iter().zip(&mut times) {
            t.sort();
            let ns: Vec<u128> = t.iter().map(|d| d.as_nanos()).collect();
            println!(
                "{name}: median {} ns per frame (runs {ns:?})",
                ns[ROUNDS / 2]
            );
        }
    });
}
