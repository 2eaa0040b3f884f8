//! Real captures made into the lab's input: one stream of frames from
//! several files, addressed as if host A had sent them to the router.
//!
//! * source MAC := a0's, so the router's ICMP errors (which go back to the
//!   link-layer source) arrive at host A;
//! * destination MAC := p0's for unicast frames, and for frames sent to the
//!   Ethernet broadcast address although their IP destination is unicast
//!   (synthetic captures such as zeek's checksum tests are addressed
//!   ff:ff:ff:ff:ff:ff); other group-addressed frames keep their address.
//! * IP addresses stay: the router's configuration has default routes.
//!
//! Frames a veth cannot carry are left out and listed: longer than 1514
//! bytes (the lab's MTU is 1500), or shorter than an Ethernet header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ferroute::io::{PcapReader, PcapWriter};

use super::{MAC_A0, MAC_P0};

/// The largest frame the lab's veths carry (MTU 1500 + Ethernet header).
pub const MAX_FRAME: usize = 1514;
const ETH_LEN: usize = 14;

/// One frame of the lab's input.
#[derive(Debug, Clone)]
pub struct InputFrame {
    /// File name of the capture it comes from.
    pub capture: String,
    /// 0-based position in that capture.
    pub index: usize,
    pub data: Vec<u8>,
}

impl InputFrame {
    pub fn origin(&self) -> String {
        format!("{} #{}", self.capture, self.index)
    }
}

/// A frame left out of the input, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub capture: String,
    pub index: usize,
    pub len: usize,
    pub why: &'static str,
}

fn ip_destination_is_unicast(frame: &[u8]) -> bool {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let l3 = &frame[ETH_LEN..];
    match ethertype {
        0x0800 => l3
            .get(16..20)
            .is_some_and(|d| d[0] < 224 && d != [255, 255, 255, 255]),
        0x86dd => l3.get(24).is_some_and(|&first| first != 0xff),
        _ => false,
    }
}

/// The first IP source or destination address of `frame` inside one of the
/// lab's own subnets. A capture using them would talk to the lab's hosts
/// and the router's kernel (which answer), so it cannot be replayed as is.
pub fn lab_address(frame: &[u8]) -> Option<IpAddr> {
    let l3 = frame.get(ETH_LEN..)?;
    let in_lab = |a: IpAddr| match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[..3] == [192, 0, 2] || o[..3] == [203, 0, 113]
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            s[0] == 0x2001 && s[1] == 0x0db8 && s[2] <= 1 && s[3] == 0
        }
    };
    let addresses: Vec<IpAddr> = match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 if l3.len() >= 20 => [12, 16]
            .iter()
            .map(|&at| IpAddr::V4(Ipv4Addr::new(l3[at], l3[at + 1], l3[at + 2], l3[at + 3])))
            .collect(),
        0x86dd if l3.len() >= 40 => [8, 24]
            .iter()
            .map(|&at| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&l3[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            })
            .collect(),
        _ => Vec::new(),
    };
    addresses.into_iter().find(|&a| in_lab(a))
}

/// Addresses `frame` from host A to the router (see the module comment).
pub fn aim_at_router(frame: &mut [u8]) {
    let broadcast = frame[..6] == [0xff; 6];
    if frame[0] & 1 == 0 || (broadcast && ip_destination_is_unicast(frame)) {
        frame[..6].copy_from_slice(&MAC_P0);
    }
    frame[6..12].copy_from_slice(&MAC_A0);
}

/// Reads `captures` in order and returns the lab's input and what was left out.
pub fn prepare(captures: &[PathBuf]) -> (Vec<InputFrame>, Vec<Skipped>) {
    let mut input = Vec::new();
    let mut skipped = Vec::new();
    for path in captures {
        let capture = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut reader = PcapReader::open(path).unwrap_or_else(|e| panic!("{e}"));
        let mut index = 0;
        while let Some(frame) = reader.next_frame() {
            let mut data = frame.unwrap_or_else(|e| panic!("{e}")).data;
            let why = if data.len() > MAX_FRAME {
                Some("longer than 1514 bytes (lab MTU 1500)")
            } else if data.len() < ETH_LEN {
                Some("shorter than an Ethernet header")
            } else {
                None
            };
            match why {
                Some(why) => skipped.push(Skipped {
                    capture: capture.clone(),
                    index,
                    len: data.len(),
                    why,
                }),
                None => {
                    aim_at_router(&mut data);
                    input.push(InputFrame {
                        capture: capture.clone(),
                        index,
                        data,
                    });
                }
            }
            index += 1;
        }
    }
    (input, skipped)
}

/// Writes the input as one capture, one microsecond apart (the replay's
/// clock only drives ICMP rate limiting, which the lab's config lifts).
pub fn write_capture(path: &Path, input: &[InputFrame]) {
    let mut w = PcapWriter::create(path).unwrap_or_else(|e| panic!("{e}"));
    for (i, f) in input.iter().enumerate() {
        w.write(1_000_000_000 + i as u64 * 1000, &f.data)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    w.finish().unwrap_or_else(|e| panic!("{e}"));
}

/// Every frame of a capture file, as stored.
pub fn read_capture(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = PcapReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    while let Some(frame) = reader.next_frame() {
        out.push(frame.unwrap_or_else(|e| panic!("{e}")).data);
    }
    out
}
