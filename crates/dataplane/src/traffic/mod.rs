//! Benchmark traffic: the UDP frames `ferroute gen` sends, and the pacing of
//! its sends. Pure code (no I/O); the kernel side is `io::xdp::gen`.
//!
//! A [`UdpTraffic`] describes a set of flows: one Ethernet/IP/UDP frame per
//! flow, alike but for the UDP source port (`base_port + flow`), so a
//! receiver's RSS hash or a router's flow classifier sees `flows` distinct
//! 5-tuples. Every frame carries valid IPv4 header and UDP checksums. The
//! generator program (bpf/gen.bpf.c) turns one template frame into the
//! others by rewriting the port with an incremental checksum update; the
//! same update is [`set_source_port`] here, so tests can check the two agree.

pub mod cputime;
mod pace;
mod stop;

pub use pace::Pacer;
pub use stop::StopSignals;

use std::net::IpAddr;

use crate::io::xdp::GeneratorTraffic;
use crate::wire::checksum;
use crate::wire::ethernet::{emit_header, ethertype};
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::ipv6;
use crate::wire::MacAddr;

/// The frame check sequence the NIC appends: counted in frame sizes, as
/// RFC 2544 counts them (a "64-byte frame" hands 60 bytes to the driver).
pub const FCS_LEN: usize = 4;
/// The smallest Ethernet frame (with FCS).
pub const MIN_FRAME_SIZE: usize = 64;
/// The largest frame of a 1500-byte IP MTU (with FCS).
pub const MAX_FRAME_SIZE: usize = 1518;

const ETHERNET_HEADER: usize = 14;
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const PROTOCOL_UDP: u8 = 17;
const TTL: u8 = 64;

/// Why a traffic description cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficError {
    #[error("source {src} and destination {dst} are not of the same IP version")]
    MixedFamilies { src: IpAddr, dst: IpAddr },
    #[error(
        "frame size {size} is out of range: {family} UDP needs {min}..={max} bytes \
         (Ethernet frame with its 4-byte FCS)"
    )]
    Size {
        size: usize,
        family: &'static str,
        min: usize,
        max: usize,
    },
    #[error("{flows} flows from source port {base_port} do not fit in 1..=65535 ports")]
    Flows { flows: u32, base_port: u16 },
}

/// A set of UDP flows from one host to another over one Ethernet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpTraffic {
    pub dst_mac: MacAddr,
    pub src_mac: MacAddr,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Ethernet frame size on the wire, FCS included (64 → 60 bytes built).
    pub frame_size: usize,
    /// Flow `i` has UDP source port `base_port + i`.
    pub flows: u32,
    pub base_port: u16,
    pub dst_port: u16,
}

impl UdpTraffic {
    /// Checks the description; every other method assumes it passed.
    pub fn validate(&self) -> Result<(), TrafficError> {
        let family = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => "IPv4",
            (IpAddr::V6(_), IpAddr::V6(_)) => "IPv6",
            _ => {
                return Err(TrafficError::MixedFamilies {
                    src: self.src,
                    dst: self.dst,
                })
            }
        };
        let min = (self.udp_offset() + UDP_HEADER + FCS_LEN).max(MIN_FRAME_SIZE);
        if !(min..=MAX_FRAME_SIZE).contains(&self.frame_size) {
            return Err(TrafficError::Size {
                size: self.frame_size,
                family,
                min,
                max: MAX_FRAME_SIZE,
            });
        }
        let last = self.base_port as u64 + self.flows as u64;
        if self.flows == 0 || self.base_port == 0 || last > 65536 {
            return Err(TrafficError::Flows {
                flows: self.flows,
                base_port: self.base_port,
            });
        }
        Ok(())
    }

    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Bytes handed to the interface per frame (the frame without its FCS).
    pub fn frame_len(&self) -> usize {
        self.frame_size - FCS_LEN
    }

    /// Where the UDP header starts in a frame.
    pub fn udp_offset(&self) -> usize {
        ETHERNET_HEADER
            + if self.is_ipv6() {
                IPV6_HEADER
            } else {
                IPV4_HEADER
            }
    }

    /// The UDP source port of flow `flow` (taken modulo the flow count).
    pub fn source_port(&self, flow: u32) -> u16 {
        self.base_port
            .wrapping_add((flow % self.flows.max(1)) as u16)
    }

    /// Writes the frame of `flow` into `buf` (at least
    /// [`frame_len`](Self::frame_len) bytes) and returns its length.
    pub fn write_frame(&self, flow: u32, buf: &mut [u8]) -> usize {
        let len = self.frame_len();
        let frame = &mut buf[..len];
        frame.fill(0);
        let udp_at = self.udp_offset();
        let udp_len = len - udp_at;
        let pseudo = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                emit_header(frame, self.dst_mac, self.src_mac, ethertype::IPV4);
                Ipv4Repr {
                    src,
                    dst,
                    protocol: PROTOCOL_UDP,
                    ttl: TTL,
                    dscp_ecn: 0,
                    ident: 0,
                    payload_len: udp_len,
                }
                .emit(&mut frame[ETHERNET_HEADER..]);
                checksum::pseudo_header_v4(src.octets(), dst.octets(), PROTOCOL_UDP, udp_len as u16)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                emit_header(frame, self.dst_mac, self.src_mac, ethertype::IPV6);
                ipv6::emit_header(
                    &mut frame[ETHERNET_HEADER..],
                    src.octets(),
                    dst.octets(),
                    PROTOCOL_UDP,
                    TTL,
                    udp_len as u16,
                );
                checksum::pseudo_header_v6(src.octets(), dst.octets(), PROTOCOL_UDP, udp_len as u32)
            }
            // validate() rules mixed families out; build nothing rather than panic.
            _ => return 0,
        };
        let udp = &mut frame[udp_at..];
        udp[0..2].copy_from_slice(&self.source_port(flow).to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        let sum = checksum::finish(checksum::accumulate(pseudo, udp));
        // A computed 0 is sent as 0xffff (RFC 768; mandatory for IPv6).
        let sum = if sum == 0 { 0xffff } else { sum };
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
        len
    }

    /// The frame of `flow`, allocated (set-up code and tests).
    pub fn frame(&self, flow: u32) -> Vec<u8> {
        let mut buf = vec![0u8; self.frame_len()];
        let len = self.write_frame(flow, &mut buf);
        buf.truncate(len);
        buf
    }

    /// What the kernel-side generator (`io::xdp::Generator`) needs to send
    /// this traffic, after checking the description.
    pub fn generator_traffic(&self) -> Result<GeneratorTraffic, TrafficError> {
        self.validate()?;
        Ok(GeneratorTraffic {
            template: self.frame(0),
            flows: self.flows,
            base_port: self.base_port,
            udp_offset: self.udp_offset(),
            ipv6: self.is_ipv6(),
        })
    }
}

/// Rewrites the UDP source port of a frame built by [`UdpTraffic`] (UDP
/// header at `udp_offset`), updating the UDP checksum incrementally (RFC
/// 1624), exactly as bpf/gen.bpf.c does. Returns false (frame untouched)
/// when the frame is too short.
pub fn set_source_port(frame: &mut [u8], udp_offset: usize, port: u16) -> bool {
    let Some(udp) = frame.get_mut(udp_offset..udp_offset + UDP_HEADER) else {
        return false;
    };
    let old = u16::from_be_bytes([udp[0], udp[1]]);
    let check = u16::from_be_bytes([udp[6], udp[7]]);
    udp[0..2].copy_from_slice(&port.to_be_bytes());
    if check != 0 {
        let new = checksum::update_word(check, old, port);
        let new = if new == 0 { 0xffff } else { new };
        udp[6..8].copy_from_slice(&new.to_be_bytes());
    }
    true
}

#[cfg(test)]
mod tests;
