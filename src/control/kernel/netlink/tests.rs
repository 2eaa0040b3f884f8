//! Encoding and decoding against bytes the 6.18 kernel and iproute2 6.1
//! actually exchanged (captured with strace).

use super::*;
use netlink_packet_core::NLM_F_REPLACE;

const RTM_NEWNEIGH: u16 = 0x1c;
const NLMSG_DONE: u16 = 3;

fn nlmsg(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&4242u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out
}

/// `10.99.0.2 dev ifindex 6 lladdr f6:08:16:58:bb:2f managed REACHABLE`.
const V4_MANAGED_REACHABLE: &[u8] = b"\x02\x00\x00\x00\x06\x00\x00\x00\x02\x00\x00\x01\
\x08\x00\x01\x00\x0a\x63\x00\x02\x0a\x00\x02\x00\xf6\x08\x16\x58\xbb\x2f\x00\x00\
\x08\x00\x04\x00\x01\x00\x00\x00\x14\x00\x03\x00\x9a\x0a\x00\x00\x34\x00\x00\x00\
\x9a\x0a\x00\x00\x01\x00\x00\x00\x08\x00\x0f\x00\x01\x00\x00\x00";

/// `ff02::1:ff00:2 dev ifindex 6 lladdr 33:33:ff:00:00:02 NOARP` (multicast).
const V6_MULTICAST_NOARP: &[u8] = b"\x0a\x00\x00\x00\x06\x00\x00\x00\x40\x00\x00\x05\
\x14\x00\x01\x00\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\x00\x00\x02\
\x0a\x00\x02\x00\x33\x33\xff\x00\x00\x02\x00\x00\x08\x00\x04\x00\x00\x00\x00\x00\
\x14\x00\x03\x00\x72\x17\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00";

/// `2001:db8:99::2 dev ifindex 6 lladdr f6:08:16:58:bb:2f managed REACHABLE`.
const V6_MANAGED_REACHABLE: &[u8] = b"\x0a\x00\x00\x00\x06\x00\x00\x00\x02\x00\x00\x01\
\x14\x00\x01\x00\x20\x01\x0d\xb8\x00\x99\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\
\x0a\x00\x02\x00\xf6\x08\x16\x58\xbb\x2f\x00\x00\x08\x00\x04\x00\x04\x00\x00\x00\
\x14\x00\x03\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\
\x08\x00\x0f\x00\x01\x00\x00\x00";

fn host_mac() -> MacAddr {
    MacAddr([0xf6, 0x08, 0x16, 0x58, 0xbb, 0x2f])
}

fn decode_all(datagram: &[u8]) -> Vec<Result<NetlinkMessage<RouteNetlinkMessage>, String>> {
    messages(datagram).collect()
}

#[test]
fn a_captured_dump_datagram_decodes_entry_by_entry() {
    let mut datagram = nlmsg(RTM_NEWNEIGH, NLM_F_MULTIPART, 7, V4_MANAGED_REACHABLE);
    datagram.extend(nlmsg(RTM_NEWNEIGH, NLM_F_MULTIPART, 7, V6_MULTICAST_NOARP));
    datagram.extend(nlmsg(
        RTM_NEWNEIGH,
        NLM_F_MULTIPART,
        7,
        V6_MANAGED_REACHABLE,
    ));
    datagram.extend(nlmsg(NLMSG_DONE, NLM_F_MULTIPART, 7, &0i32.to_ne_bytes()));

    let msgs = decode_all(&datagram);
    assert_eq!(msgs.len(), 4);
    let neighbors: Vec<KernelNeighbor> = msgs
        .iter()
        .filter_map(|m| match &m.as_ref().unwrap().payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                kernel_neighbor(n)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        neighbors,
        vec![
            KernelNeighbor {
                ifindex: 6,
                address: "10.99.0.2".parse().unwrap(),
                mac: Some(host_mac()),
                state: NeighborState::REACHABLE,
                flags: NeighborFlags(NeighborFlags::MANAGED),
            },
            KernelNeighbor {
                ifindex: 6,
                address: "ff02::1:ff00:2".parse().unwrap(),
                mac: Some(MacAddr([0x33, 0x33, 0xff, 0, 0, 2])),
                state: NeighborState::NOARP,
                flags: NeighborFlags(0),
            },
            KernelNeighbor {
                ifindex: 6,
                address: "2001:db8:99::2".parse().unwrap(),
                mac: Some(host_mac()),
                state: NeighborState::REACHABLE,
                flags: NeighborFlags(NeighborFlags::MANAGED),
            },
        ]
    );
    assert!(matches!(
        msgs[3].as_ref().unwrap().payload,
        NetlinkPayload::Done(_)
    ));
}

#[test]
fn the_managed_request_is_byte_for_byte_what_iproute2_sends() {
    // `ip neigh replace 10.99.0.2 dev exr managed` with exr = ifindex 6.
    let iproute2: &[u8] = b"\x02\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\
\x08\x00\x01\x00\x0a\x63\x00\x02\x08\x00\x0f\x00\x01\x00\x00\x00";
    let flags = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
    let ours = encode(
        RouteNetlinkMessage::NewNeighbour(neighbor_request(6, "10.99.0.2".parse().unwrap(), true)),
        flags,
        99,
    );
    assert_eq!(&ours[16..], iproute2);
    assert_eq!(u32::from_ne_bytes(ours[0..4].try_into().unwrap()), 44);
    assert_eq!(
        u16::from_ne_bytes(ours[4..6].try_into().unwrap()),
        RTM_NEWNEIGH
    );
    assert_eq!(
        u16::from_ne_bytes(ours[6..8].try_into().unwrap()),
        NLM_F_REQUEST | flags
    );
    assert_eq!(u32::from_ne_bytes(ours[8..12].try_into().unwrap()), 99);
}

#[test]
fn a_get_request_carries_no_managed_flag() {
    let ours = encode(
        RouteNetlinkMessage::GetNeighbour(neighbor_request(
            3,
            "2001:db8::7".parse().unwrap(),
            false,
        )),
        0,
        1,
    );
    // ndmsg (12) + NDA_DST with 16 bytes (20), nothing else.
    assert_eq!(ours.len(), 16 + 12 + 20);
    assert_eq!(ours[16], libc::AF_INET6 as u8);
    assert_eq!(&ours[20..24], &3u32.to_ne_bytes());
}

#[test]
fn bad_datagrams_are_errors_not_panics() {
    let good = nlmsg(RTM_NEWNEIGH, 0, 1, V4_MANAGED_REACHABLE);
    // Truncated: the header promises more than is there.
    let msgs = decode_all(&good[..good.len() - 5]);
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].is_err());
    // A length below the header size.
    let mut tiny = good.clone();
    tiny[0..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(decode_all(&tiny)[0].is_err());
    // A short tail after a good message is ignored, the good one decodes.
    let mut tail = good.clone();
    tail.extend_from_slice(&[0, 0, 0]);
    let msgs = decode_all(&tail);
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].is_ok());
    // Every prefix of a real message: never a panic.
    for cut in 0..good.len() {
        let _ = decode_all(&good[..cut]);
    }
}

#[test]
fn non_ip_families_are_not_neighbours() {
    let mut bridge = V4_MANAGED_REACHABLE.to_vec();
    bridge[0] = libc::AF_BRIDGE as u8;
    let datagram = nlmsg(RTM_NEWNEIGH, 0, 1, &bridge);
    let msgs = decode_all(&datagram);
    assert_eq!(msgs.len(), 1);
    match &msgs[0].as_ref().unwrap().payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
            assert_eq!(kernel_neighbor(n), None)
        }
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn states_name_and_classify() {
    assert_eq!(NeighborState::REACHABLE.to_string(), "REACHABLE");
    assert_eq!(NeighborState::NONE.to_string(), "NONE");
    assert_eq!(
        NeighborState(NeighborState::NOARP.0 | NeighborState::PERMANENT.0).to_string(),
        "NOARP|PERMANENT"
    );
    assert_eq!(NeighborState(0x100).to_string(), "0x100");
    for usable in [
        NeighborState::REACHABLE,
        NeighborState::STALE,
        NeighborState::DELAY,
        NeighborState::PROBE,
        NeighborState::NOARP,
        NeighborState::PERMANENT,
    ] {
        assert!(usable.has_usable_mac(), "{usable}");
    }
    for unusable in [
        NeighborState::NONE,
        NeighborState::INCOMPLETE,
        NeighborState::FAILED,
    ] {
        assert!(!unusable.has_usable_mac(), "{unusable}");
    }
    assert!(NeighborState::PERMANENT.is_static());
    assert!(!NeighborState::STALE.is_static());
}
