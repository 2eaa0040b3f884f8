//! A host on an 802.1Q VLAN, played by a test over an AF_PACKET socket on a
//! lab host's veth (the lab's hosts, like the router's kernel here, have no
//! VLAN devices). It answers tagged ARP requests and neighbour
//! solicitations for its addresses and tagged ICMP/ICMPv6 echo requests to
//! them, as a host's kernel would, and hands every frame it receives (tag
//! included) to the test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{Icmpv6Type, PacketBuilder, VlanId};

use super::packet::PacketSocket;
use super::{Host, Lab};

const VLAN: u16 = 0x8100;
const ARP: u16 = 0x0806;
const IPV4: u16 = 0x0800;
const IPV6: u16 = 0x86dd;
/// Where a tagged frame's network header starts.
const L3: usize = 18;

/// A frame's network header offset and EtherType, past one tag if any.
fn network(frame: &[u8]) -> Option<(usize, u16)> {
    let l3 = if vid(frame).is_some() { L3 } else { 14 };
    (frame.len() >= l3).then(|| (l3, be16(frame, l3 - 2)))
}

/// `frame` without its tag (for the untagged peers of a measurement).
pub fn untagged(frame: &[u8]) -> Vec<u8> {
    match vid(frame) {
        Some(_) => [&frame[..12], &frame[16..]].concat(),
        None => frame.to_vec(),
    }
}

/// The VLAN id of a tagged frame (`None` untagged).
pub fn vid(frame: &[u8]) -> Option<u16> {
    (frame.len() >= L3 && be16(frame, 12) == VLAN).then(|| be16(frame, 14) & 0xfff)
}

fn be16(frame: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

fn ipv4_at(frame: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3])
}

/// A tagged ARP request or reply (`op` 1 or 2), byte by byte.
pub fn arp(
    op: u16,
    vid: u16,
    (src_mac, src): ([u8; 6], Ipv4Addr),
    (dst_mac, dst): ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let eth_dst = if op == 1 { [0xff; 6] } else { dst_mac };
    let mut f = Vec::with_capacity(46);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&VLAN.to_be_bytes());
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&if op == 1 { [0; 6] } else { dst_mac });
    f.extend_from_slice(&dst.octets());
    f
}

/// The tagged ARP frame's (op, sender MAC, sender IP, target IP).
pub fn parse_arp(frame: &[u8]) -> Option<(u16, [u8; 6], Ipv4Addr, Ipv4Addr)> {
    if vid(frame).is_none() || be16(frame, 16) != ARP || frame.len() < L3 + 28 {
        return None;
    }
    let a = &frame[L3..];
    let mac: [u8; 6] = a[8..14].try_into().ok()?;
    Some((be16(a, 6), mac, ipv4_at(a, 14), ipv4_at(a, 24)))
}

fn vlan_id(vid: u16) -> VlanId {
    VlanId::try_new(vid).expect("a VLAN id")
}

/// A tagged ICMP or ICMPv6 echo request or reply (both addresses of one
/// family).
pub fn echo(
    request: bool,
    vid: u16,
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (IpAddr, IpAddr),
    (id, seq): (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(macs.0, macs.1).single_vlan(vlan_id(vid));
    let mut out = Vec::new();
    let written = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = eth.ipv4(s.octets(), d.octets(), 64);
            match request {
                true => ip.icmpv4_echo_request(id, seq),
                false => ip.icmpv4_echo_reply(id, seq),
            }
            .write(&mut out, payload)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = eth.ipv6(s.octets(), d.octets(), 64);
            match request {
                true => ip.icmpv6_echo_request(id, seq),
                false => ip.icmpv6_echo_reply(id, seq),
            }
            .write(&mut out, payload)
        }
        _ => panic!("echo from {src} to {dst}: two families"),
    };
    written.expect("an echo frame");
    out
}

/// A tagged ICMPv6 neighbour solicitation (135, to the solicited-node
/// group, with the source link-layer address) or advertisement (136,
/// solicited and override, with the target link-layer address) about
/// `target`.
pub fn neighbour_discovery(
    solicitation: bool,
    vid: u16,
    (src_mac, src): ([u8; 6], Ipv6Addr),
    (dst_mac, dst): ([u8; 6], Ipv6Addr),
    target: Ipv6Addr,
) -> Vec<u8> {
    let t = target.octets();
    let (icmp_type, flags, option, dst_mac, dst) = match solicitation {
        true => {
            let group: Ipv6Addr = [0xff02, 0, 0, 0, 0, 1, 0xff00 | u16::from(t[13]), 0].into();
            let mut group = group.octets();
            group[14..].copy_from_slice(&t[14..]);
            let mac = [0x33, 0x33, 0xff, t[13], t[14], t[15]];
            (135, [0; 4], 1, mac, Ipv6Addr::from(group))
        }
        false => (136, [0x60, 0, 0, 0], 2, dst_mac, dst),
    };
    let mut body = t.to_vec();
    body.extend_from_slice(&[option, 1]);
    body.extend_from_slice(&src_mac);
    let builder = PacketBuilder::ethernet2(src_mac, dst_mac)
        .single_vlan(vlan_id(vid))
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: icmp_type,
            code_u8: 0,
            bytes5to8: flags,
        });
    let mut out = Vec::with_capacity(builder.size(body.len()));
    builder
        .write(&mut out, &body)
        .expect("a neighbour discovery frame");
    out
}

/// An ICMPv6 frame's type, addresses and body after the 4-byte header (no
/// extension headers); tagged or not.
pub fn parse_icmpv6(frame: &[u8]) -> Option<(u8, Ipv6Addr, Ipv6Addr, &[u8])> {
    let (l3, ethertype) = network(frame)?;
    if ethertype != IPV6 || frame.len() < l3 + 44 {
        return None;
    }
    let ip = &frame[l3..];
    let end = (40 + usize::from(be16(ip, 4))).min(ip.len());
    if ip[6] != 58 || end < 44 {
        return None;
    }
    let addr = |at: usize| -> Ipv6Addr {
        let octets: [u8; 16] = ip[at..at + 16].try_into().expect("16 bytes");
        octets.into()
    };
    Some((ip[40], addr(8), addr(24), &ip[44..end]))
}

/// An ICMP or ICMPv6 echo: (is a request, source, destination, id,
/// seq, payload).
pub type Echo = (bool, IpAddr, IpAddr, u16, u16, Vec<u8>);

/// The frame's echo request or reply, if it is one (tagged or not).
pub fn parse_echo(frame: &[u8]) -> Option<Echo> {
    if let Some((kind, src, dst, body)) = parse_icmpv6(frame) {
        let request = match kind {
            128 => true,
            129 => false,
            _ => return None,
        };
        let (id, seq) = (be16(body, 0), be16(body, 2));
        return Some((request, src.into(), dst.into(), id, seq, body[4..].to_vec()));
    }
    let (l3, ethertype) = network(frame)?;
    if ethertype != IPV4 || frame.len() < l3 + 28 {
        return None;
    }
    let ip = &frame[l3..];
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(be16(ip, 2));
    if ip[9] != 1 || ip.len() < total || total < ihl + 8 {
        return None;
    }
    let icmp = &ip[ihl..total];
    let request = match icmp[0] {
        8 => true,
        0 => false,
        _ => return None,
    };
    Some((
        request,
        ipv4_at(ip, 12).into(),
        ipv4_at(ip, 16).into(),
        be16(icmp, 4),
        be16(icmp, 6),
        icmp[8..].to_vec(),
    ))
}

/// Who the host is on its VLAN.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub mac: [u8; 6],
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    pub vid: u16,
}

/// The host and the thread answering for it.
pub struct VlanHost {
    pub me: Identity,
    socket: Arc<PacketSocket>,
    frames: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VlanHost {
    /// Starts answering on `interface` of lab host `host`.
    pub fn start(lab: &Lab, host: Host, interface: &str, me: Identity) -> VlanHost {
        let socket = Arc::new(PacketSocket::open_tagged(lab, host, interface));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, frames) = channel();
        let thread = {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let deadline = Instant::now() + Duration::from_millis(20);
                    let Some(r) = socket.next(deadline, &mut buf) else {
                        continue;
                    };
                    if let Some(reply) = answer(&r.data, &me) {
                        let _ = socket.send(&reply);
                    }
                    if tx.send(r.data).is_err() {
                        return;
                    }
                }
            })
        };
        VlanHost {
            me,
            socket,
            frames,
            stop,
            thread: Some(thread),
        }
    }

    /// Sends one frame as it is.
    pub fn send(&self, frame: &[u8]) {
        self.socket
            .send(frame)
            .unwrap_or_else(|e| panic!("sending a {}-byte frame: {e}", frame.len()));
    }

    /// The next received frame `wanted` accepts, within `limit`; the frames
    /// passed over are returned too (for messages).
    pub fn expect(
        &self,
        limit: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
        let deadline = Instant::now() + limit;
        let mut others = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(f) if wanted(&f) => return (Some(f), others),
                Ok(f) => others.push(f),
                Err(_) => return (None, others),
            }
        }
    }
}

impl Drop for VlanHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a host's kernel would answer to `frame`: an ARP reply or neighbour
/// advertisement to a request for its address, an echo reply to a request
/// to it; on its VLAN only.
fn answer(frame: &[u8], me: &Identity) -> Option<Vec<u8>> {
    if vid(frame)? != me.vid {
        return None;
    }
    let sender_mac: [u8; 6] = frame[6..12].try_into().ok()?;
    if let Some((1, sender_mac, sender, target)) = parse_arp(frame) {
        return (target == me.v4).then(|| arp(2, me.vid, (me.mac, me.v4), (sender_mac, sender)));
    }
    if let Some((135, src, _, body)) = parse_icmpv6(frame) {
        let target: [u8; 16] = body.get(4..20)?.try_into().ok()?;
        return (Ipv6Addr::from(target) == me.v6).then(|| {
            neighbour_discovery(false, me.vid, (me.mac, me.v6), (sender_mac, src), me.v6)
        });
    }
    let (true, src, dst, id, seq, payload) = parse_echo(frame)? else {
        return None;
    };
    let mine = dst == IpAddr::V4(me.v4) || dst == IpAddr::V6(me.v6);
    mine.then(|| {
        echo(
            false,
            me.vid,
            (me.mac, sender_mac),
            (dst, src),
            (id, seq),
            &payload,
        )
    })
}
