//! IPv4 options a router acts on (RFC 791 §3.1, RFC 1812 §5.3.13,
//! RFC 2113): checked before the TTL, applied once the egress is known.
//!
//! * Record Route: the egress port's address goes in the next free slot
//!   while there is room; a full option is forwarded unchanged.
//! * Timestamp: flag 0 records a timestamp, flag 1 the egress address and a
//!   timestamp, flag 3 a timestamp in a slot whose prespecified address is
//!   one of the router's. A full option increments its overflow count
//!   (counted); an overflow of the overflow count is a parameter problem.
//!   The pipeline has no wall clock (sans-IO: only the caller's monotonic
//!   `now_ns`), so timestamps are milliseconds of that clock with the
//!   high-order bit set: RFC 791's marker for a non-standard time.
//! * Router Alert: forwarded like any other packet (RFC 6398 §3, for a
//!   router that runs no protocol using it), counted.
//! * Source routes: dropped unless `accept_source_route` (RFC 7126), as
//!   before.
//! * A malformed option (length, pointer or flag) is answered with ICMP
//!   parameter problem (12/0) pointing at the offending octet.
//!
//! Packets without options (IHL 5) never enter this code.

use std::net::Ipv4Addr;

use crate::wire::ipv4::MIN_HEADER_LEN;

const END_OF_LIST: u8 = 0;
const NO_OPERATION: u8 = 1;
const RECORD_ROUTE: u8 = 7;
const TIMESTAMP: u8 = 68;
const LSRR: u8 = 0x83;
const SSRR: u8 = 0x89;
const ROUTER_ALERT: u8 = 148;

/// Timestamp flags (RFC 791): what each slot holds.
const TS_ONLY: u8 = 0;
const TS_AND_ADDRESS: u8 = 1;
const TS_PRESPECIFIED: u8 = 3;

/// What the options of one header ask of the router; offsets are from the
/// start of the IPv4 header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct OptionScan {
    pub source_route: bool,
    pub router_alert: bool,
    pub record_route: Option<u8>,
    pub timestamp: Option<u8>,
}

/// Walks `opts` (the bytes after the fixed header). `Err(pointer)`: the
/// offset, from the start of the IPv4 header, of the octet in error.
pub(super) fn scan(opts: &[u8]) -> Result<OptionScan, u8> {
    let mut out = OptionScan::default();
    let mut at = 0usize;
    // Offsets in the header fit a u8: options end at 60.
    let abs = |i: usize| (MIN_HEADER_LEN + i) as u8;
    while at < opts.len() {
        let kind = opts[at];
        match kind {
            END_OF_LIST => break,
            NO_OPERATION => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = match opts.get(at + 1) {
            Some(&l) if l >= 2 && at + l as usize <= opts.len() => l as usize,
            _ => return Err(abs(at + 1)),
        };
        let opt = &opts[at..at + len];
        match kind {
            RECORD_ROUTE | LSRR | SSRR => {
                // Pointer ≥ 4, pointing at a slot boundary (or past the end).
                if len < 3 || opt[2] < 4 || !(opt[2] - 4).is_multiple_of(4) {
                    return Err(abs(at + 2));
                }
                if kind == RECORD_ROUTE {
                    out.record_route = Some(abs(at));
                } else {
                    out.source_route = true;
                }
            }
            TIMESTAMP => {
                let flag = opt.get(3).map(|b| b & 0x0f);
                let slot = if flag == Some(TS_ONLY) { 4 } else { 8 };
                if len < 4 || opt[2] < 5 || !(opt[2] - 5).is_multiple_of(slot) {
                    return Err(abs(at + 2));
                }
                if !matches!(flag, Some(TS_ONLY | TS_AND_ADDRESS | TS_PRESPECIFIED)) {
                    return Err(abs(at + 3));
                }
                out.timestamp = Some(abs(at));
            }
            ROUTER_ALERT => out.router_alert = true,
            _ => {}
        }
        at += len;
    }
    Ok(out)
}

/// What applying the options did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Applied {
    /// A full Timestamp option's overflow count was incremented.
    pub timestamp_overflow: bool,
}

/// Applies Record Route and Timestamp to `header` (the whole IPv4 header,
/// options included) for a packet leaving with source address `egress`.
/// `ours` says whether an address is one of the router's. `Err(pointer)`
/// when the Timestamp overflow count would overflow. The caller refreshes
/// the header checksum.
pub(super) fn apply(
    header: &mut [u8],
    scan: &OptionScan,
    egress: Option<Ipv4Addr>,
    now_ms: u32,
    ours: impl Fn(Ipv4Addr) -> bool,
) -> Result<Applied, u8> {
    let mut applied = Applied::default();
    // Timestamp first: its one error leaves the header untouched.
    if let Some(at) = scan.timestamp {
        let at = at as usize;
        let (len, ptr) = (header[at + 1] as usize, header[at + 2] as usize);
        let flag = header[at + 3] & 0x0f;
        // Non-standard time: RFC 791's high-order bit.
        let stamp = (now_ms | 0x8000_0000).to_be_bytes();
        let slot = at + ptr - 1;
        match flag {
            TS_ONLY if ptr + 3 <= len => {
                header[slot..slot + 4].copy_from_slice(&stamp);
                header[at + 2] += 4;
            }
            TS_AND_ADDRESS if ptr + 7 <= len => {
                if let Some(addr) = egress {
                    header[slot..slot + 4].copy_from_slice(&addr.octets());
                    header[slot + 4..slot + 8].copy_from_slice(&stamp);
                    header[at + 2] += 8;
                }
            }
            TS_PRESPECIFIED if ptr + 7 <= len => {
                let o = &header[slot..slot + 4];
                if ours(Ipv4Addr::new(o[0], o[1], o[2], o[3])) {
                    header[slot + 4..slot + 8].copy_from_slice(&stamp);
                    header[at + 2] += 8;
                }
            }
            _ => {
                // Full: count the hop in the overflow nibble.
                let overflow = header[at + 3] >> 4;
                if overflow == 0x0f {
                    return Err((at + 3) as u8);
                }
                header[at + 3] = ((overflow + 1) << 4) | flag;
                applied.timestamp_overflow = true;
            }
        }
    }
    if let (Some(at), Some(addr)) = (scan.record_route, egress) {
        let at = at as usize;
        let (len, ptr) = (header[at + 1] as usize, header[at + 2] as usize);
        if ptr + 3 <= len {
            header[at + ptr - 1..at + ptr + 3].copy_from_slice(&addr.octets());
            header[at + 2] += 4;
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests;
