//! IPv4 fragmentation (RFC 791 §3.2, RFC 1812 §5.2.6).

use super::vlan::{emit_on, Vlan};
use super::{DropReason, Emit};
use crate::fib::PortId;
use crate::wire::ethernet::{emit_header, ethertype, HEADER_LEN as ETH_LEN};
use crate::wire::ipv4::{self, Ipv4Packet, MAX_HEADER_LEN, MIN_HEADER_LEN};
use crate::wire::MacAddr;

/// Options carried into fragments after the first (those with the copied
/// flag), padded with end-of-list to a multiple of four bytes.
struct CopiedOptions {
    bytes: [u8; MAX_HEADER_LEN - MIN_HEADER_LEN],
    len: usize,
}

fn copied_options(options: &[u8]) -> Result<CopiedOptions, DropReason> {
    let mut out = CopiedOptions {
        bytes: [0; MAX_HEADER_LEN - MIN_HEADER_LEN],
        len: 0,
    };
    for opt in ipv4::options(options) {
        let opt = opt.map_err(|_| DropReason::BadOptions)?;
        if opt.copied() {
            out.bytes[out.len..out.len + opt.bytes.len()].copy_from_slice(opt.bytes);
            out.len += opt.bytes.len();
        }
    }
    out.len = out.len.div_ceil(4) * 4;
    Ok(out)
}

/// Splits `packet` (one whole IPv4 packet, DF clear, longer than `mtu`) into
/// fragments of at most `mtu` bytes and emits each on `port` (tagged when
/// it is a VLAN) with the given MACs. Every fragment's TTL is decremented and its checksum computed.
/// Offsets are relative to the packet's own offset, so fragments of
/// fragments work; the last piece keeps MF when the packet had it.
pub(super) fn fragment_v4<E: Emit + ?Sized>(
    packet: &[u8],
    mtu: usize,
    next_hop_mac: MacAddr,
    egress_mac: MacAddr,
    (port, vlan): (PortId, Option<Vlan>),
    emit: &mut E,
) -> Result<u16, DropReason> {
    let ip = Ipv4Packet::new_unchecked(packet);
    let header = ip.header();
    let payload = ip.payload();
    let later = copied_options(ip.options())?;
    let later_header_len = MIN_HEADER_LEN + later.len;
    let first_chunk = mtu.saturating_sub(header.len()) / 8 * 8;
    let later_chunk = mtu.saturating_sub(later_header_len) / 8 * 8;
    if first_chunk == 0 || later_chunk == 0 {
        // Only reachable with an MTU under 68, which the configuration refuses.
        return Err(DropReason::MtuDf);
    }
    let base_offset = ip.frag_offset() as usize * 8;
    if base_offset + payload.len() > u16::MAX as usize {
        return Err(DropReason::BadFragment);
    }
    let original_mf = ip.more_frags();
    let ttl = ip.ttl().wrapping_sub(1);

    let mut sent: u16 = 0;
    let mut done = 0usize;
    while done < payload.len() {
        let first = done == 0;
        let chunk = if first { first_chunk } else { later_chunk };
        let take = chunk.min(payload.len() - done);
        let last = done + take == payload.len();
        let header_len = if first {
            header.len()
        } else {
            later_header_len
        };
        let frame_len = ETH_LEN + header_len + take;
        let piece = &payload[done..done + take];
        let offset_units = ((base_offset + done) / 8) as u16;
        let ok = emit_on(emit, port, vlan, &mut |buf: &mut [u8]| {
            if buf.len() < frame_len {
                return 0;
            }
            emit_header(buf, next_hop_mac, egress_mac, ethertype::IPV4);
            let ip_buf = &mut buf[ETH_LEN..frame_len];
            if first {
                ip_buf[..header_len].copy_from_slice(header);
            } else {
                ip_buf[..MIN_HEADER_LEN].copy_from_slice(&header[..MIN_HEADER_LEN]);
                ip_buf[MIN_HEADER_LEN..header_len].copy_from_slice(&later.bytes[..later.len]);
            }
            ip_buf[header_len..].copy_from_slice(piece);
            let mut out = Ipv4Packet::new_unchecked(ip_buf);
            out.set_header_len(header_len);
            out.set_total_len((header_len + take) as u16);
            out.set_fragment(!last || original_mf, offset_units);
            out.set_ttl(ttl);
            out.fill_checksum();
            frame_len
        });
        if !ok {
            return Err(DropReason::NoBuffer);
        }
        sent += 1;
        done += take;
    }
    Ok(sent)
}
