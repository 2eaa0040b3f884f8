//! A host on an 802.1Q VLAN, played by a test over an AF_PACKET socket on a
//! lab host's veth (the lab's hosts, like the router's kernel here, have no
//! VLAN devices). It answers tagged ARP requests for its address and tagged
//! ICMP echo requests to it, as a host's kernel would, and hands every
//! frame it receives (tag included) to the test.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{PacketBuilder, VlanId};

use super::packet::PacketSocket;
use super::{Host, Lab};

const VLAN: u16 = 0x8100;
const ARP: u16 = 0x0806;
const IPV4: u16 = 0x0800;
/// Where a tagged frame's network header starts.
const L3: usize = 18;

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

/// A tagged ICMP echo request or reply.
pub fn echo(
    request: bool,
    vid: u16,
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (id, seq): (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let vlan = VlanId::try_new(vid).expect("a VLAN id");
    let ip = PacketBuilder::ethernet2(macs.0, macs.1)
        .single_vlan(vlan)
        .ipv4(src.octets(), dst.octets(), 64);
    let builder = if request {
        ip.icmpv4_echo_request(id, seq)
    } else {
        ip.icmpv4_echo_reply(id, seq)
    };
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("an echo frame");
    out
}

/// A tagged ICMP echo: (is a request, source, destination, id, seq, payload).
pub type Echo = (bool, Ipv4Addr, Ipv4Addr, u16, u16, Vec<u8>);

/// The tagged frame's ICMP echo request or reply, if it is one.
pub fn parse_echo(frame: &[u8]) -> Option<Echo> {
    if vid(frame).is_none() || be16(frame, 16) != IPV4 || frame.len() < L3 + 28 {
        return None;
    }
    let ip = &frame[L3..];
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
        ipv4_at(ip, 12),
        ipv4_at(ip, 16),
        be16(icmp, 4),
        be16(icmp, 6),
        icmp[8..].to_vec(),
    ))
}

/// The host: its MAC and address on VLAN `vid`, and the thread answering
/// for it.
pub struct VlanHost {
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub vid: u16,
    socket: Arc<PacketSocket>,
    frames: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VlanHost {
    /// Starts answering on `interface` of lab host `host`.
    pub fn start(
        lab: &Lab,
        host: Host,
        interface: &str,
        (mac, address, vid): ([u8; 6], Ipv4Addr, u16),
    ) -> VlanHost {
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
                    if let Some(reply) = answer(&r.data, mac, address, vid) {
                        let _ = socket.send(&reply);
                    }
                    if tx.send(r.data).is_err() {
                        return;
                    }
                }
            })
        };
        VlanHost {
            mac,
            address,
            vid,
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

/// What a host's kernel would answer to `frame`: an ARP reply to a request
/// for `address`, an echo reply to a request to it; on VLAN `vid` only.
fn answer(frame: &[u8], mac: [u8; 6], address: Ipv4Addr, vid_: u16) -> Option<Vec<u8>> {
    if vid(frame)? != vid_ {
        return None;
    }
    if let Some((1, sender_mac, sender, target)) = parse_arp(frame) {
        return (target == address).then(|| arp(2, vid_, (mac, address), (sender_mac, sender)));
    }
    let (true, src, dst, id, seq, payload) = parse_echo(frame)? else {
        return None;
    };
    let sender_mac: [u8; 6] = frame[6..12].try_into().ok()?;
    (dst == address).then(|| {
        echo(
            false,
            vid_,
            (mac, sender_mac),
            (dst, src),
            (id, seq),
            &payload,
        )
    })
}
