//! The predictor's own reading of RFC 791 / RFC 1812 §5.3.13 for IPv4
//! options, written from the RFCs apart from `src/forward/options.rs`:
//! which option lists are malformed (and the octet to point at), which
//! carry a source route, and what Record Route and Timestamp look like
//! after one router.

use std::net::Ipv4Addr;

/// Offset of the options in the IPv4 header.
const FIXED: usize = 20;

/// Walks the options: `Ok(carries a source route)`, or `Err(pointer)` with
/// the header offset of the first octet in error.
pub fn check(options: &[u8]) -> Result<bool, u8> {
    let mut source_route = false;
    let mut i = 0;
    while i < options.len() {
        let kind = options[i];
        if kind == 0 {
            break;
        }
        if kind == 1 {
            i += 1;
            continue;
        }
        let len = match options.get(i + 1) {
            Some(&l) if l >= 2 && i + l as usize <= options.len() => l as usize,
            _ => return Err((FIXED + i + 1) as u8),
        };
        let opt = &options[i..i + len];
        let pointer_error = Err((FIXED + i + 2) as u8);
        match kind {
            // Record route, loose and strict source route: pointer 4, 8, ...
            7 | 131 | 137 => {
                if len < 3 || opt[2] < 4 || !opt[2].is_multiple_of(4) {
                    return pointer_error;
                }
                source_route |= kind != 7;
            }
            // Timestamp: pointer 5, 9, ... (or 5, 13, ... with addresses).
            68 => {
                if len < 4 {
                    return pointer_error;
                }
                let flag = opt[3] & 0x0f;
                let slot = if flag == 0 { 4 } else { 8 };
                if opt[2] < 5 || !(opt[2] as usize - 5).is_multiple_of(slot) {
                    return pointer_error;
                }
                if !matches!(flag, 0 | 1 | 3) {
                    return Err((FIXED + i + 3) as u8);
                }
            }
            _ => {}
        }
        i += len;
    }
    Ok(source_route)
}

/// The options after one router that leaves with `egress` and owns
/// `ours`, and the option offsets whose value is a clock reading (not
/// predicted); `Err(pointer)` when a full Timestamp's overflow count would
/// overflow. `options` passed [`check`].
pub fn after_hop(
    options: &[u8],
    egress: Option<Ipv4Addr>,
    ours: &[Ipv4Addr],
) -> Result<(Vec<u8>, Vec<usize>), u8> {
    let mut out = options.to_vec();
    let mut clock = Vec::new();
    let mut i = 0;
    while i < out.len() && out[i] != 0 {
        if out[i] == 1 {
            i += 1;
            continue;
        }
        let len = out[i + 1] as usize;
        let ptr = out[i + 2] as usize;
        let at = i + ptr - 1; // the slot the pointer names, in `out`
        match out[i] {
            7 => {
                if let (true, Some(a)) = (ptr + 3 <= len, egress) {
                    out[at..at + 4].copy_from_slice(&a.octets());
                    out[i + 2] += 4;
                }
            }
            68 => {
                let flag = out[i + 3] & 0x0f;
                let room = if flag == 0 {
                    ptr + 3 <= len
                } else {
                    ptr + 7 <= len
                };
                if !room {
                    let overflow = out[i + 3] >> 4;
                    if overflow == 15 {
                        return Err((FIXED + i + 3) as u8);
                    }
                    out[i + 3] += 0x10;
                } else if flag == 0 {
                    clock.extend(at..at + 4);
                    out[i + 2] += 4;
                } else if flag == 1 {
                    if let Some(a) = egress {
                        out[at..at + 4].copy_from_slice(&a.octets());
                        clock.extend(at + 4..at + 8);
                        out[i + 2] += 8;
                    }
                } else {
                    let named = Ipv4Addr::new(out[at], out[at + 1], out[at + 2], out[at + 3]);
                    if ours.contains(&named) {
                        clock.extend(at + 4..at + 8);
                        out[i + 2] += 8;
                    }
                }
            }
            _ => {}
        }
        i += len;
    }
    Ok((out, clock))
}
