//! Frame-for-frame comparison of what the live router sent with what the
//! offline replay says it sends.

use super::xdp_model::is_neighbour_discovery;

/// Is `frame`, seen on the link of the router port with `port_mac`, one
/// ferroute may have sent? The router's kernel shares the port's MAC, but
/// what it sends on its own (ARP, neighbour discovery, MLD/IGMP and other
/// group-addressed frames) is none of ferroute's business: ferroute only
/// sends unicast IP frames (forwarded packets, fragments, ICMP errors).
pub fn from_ferroute(frame: &[u8], port_mac: [u8; 6]) -> bool {
    if frame.len() < 14 || frame[6..12] != port_mac || frame[0] & 1 == 1 {
        return false;
    }
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => true,
        0x86dd => frame.len() < 54 || !is_neighbour_discovery(&frame[14..]),
        _ => false,
    }
}

/// One frame the replay says leaves a port, with where it comes from.
#[derive(Debug, Clone)]
pub struct Expected {
    pub data: Vec<u8>,
    /// Input frame it belongs to, e.g. `zeek__wikipedia.pcap #12 (forward)`.
    pub origin: String,
}

/// Where two bytes strings first differ, in words.
fn first_difference(want: &[u8], got: &[u8]) -> String {
    match want.iter().zip(got).position(|(a, b)| a != b) {
        Some(i) => format!(
            "byte {i} differs (want {:02x}, got {:02x}); lengths {} / {}",
            want[i],
            got[i],
            want.len(),
            got.len()
        ),
        None => format!("lengths differ: want {}, got {}", want.len(), got.len()),
    }
}

/// Whether `want` and `got` are the same frame but for the readings a
/// router put in IPv4 Timestamp options (the live workers' clock and the
/// replay's capture times differ) and the header checksum covering them,
/// which must still be right in `got`.
fn same_but_clock(want: &[u8], got: &[u8]) -> bool {
    if want.len() != got.len() || want.len() < 34 || want[12..14] != [0x08, 0x00] {
        return false;
    }
    let hlen = ((want[14] & 0x0f) as usize) * 4;
    if hlen <= 20 || want.len() < 14 + hlen {
        return false;
    }
    let mut open = vec![24, 25]; // the header checksum
    let mut i = 34;
    while i + 1 < 14 + hlen && want[i] != 0 {
        if want[i] == 1 {
            i += 1;
            continue;
        }
        let len = (want[i + 1] as usize).max(2);
        if want[i] == 68 && i + 2 < 14 + hlen {
            // The newest reading: the four bytes before the pointer.
            let ptr = want[i + 2] as usize;
            open.extend((i + ptr).saturating_sub(5)..i + ptr - 1);
        }
        i += len;
    }
    let header = &got[14..14 + hlen];
    let sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum_ok = (folded & 0xffff) + (folded >> 16) == 0xffff;
    checksum_ok
        && want
            .iter()
            .zip(got)
            .enumerate()
            .all(|(k, (a, b))| a == b || open.contains(&k))
}

/// Compares the frames captured on a link with the replay's, in order.
/// Returns one line per problem (at most `limit` lines of detail).
pub fn compare_link(
    link: &str,
    expected: &[Expected],
    captured: &[Vec<u8>],
    limit: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut mismatches = 0;
    for (i, (want, got)) in expected.iter().zip(captured).enumerate() {
        if want.data != *got && !same_but_clock(&want.data, got) {
            mismatches += 1;
            if problems.len() < limit {
                problems.push(format!(
                    "{link} frame {i} (from {}): {}",
                    want.origin,
                    first_difference(&want.data, got)
                ));
            }
        }
    }
    if mismatches > limit {
        problems.push(format!(
            "{link}: {} more differing frames",
            mismatches - limit
        ));
    }
    if captured.len() < expected.len() {
        let missing: Vec<&str> = expected[captured.len()..]
            .iter()
            .take(limit)
            .map(|e| e.origin.as_str())
            .collect();
        problems.push(format!(
            "{link}: {} frames expected, {} arrived; first missing from {missing:?}",
            expected.len(),
            captured.len()
        ));
    } else if captured.len() > expected.len() {
        let extra: Vec<usize> = captured[expected.len()..]
            .iter()
            .take(limit)
            .map(Vec::len)
            .collect();
        problems.push(format!(
            "{link}: {} frames expected, {} arrived; surplus frame lengths {extra:?}",
            expected.len(),
            captured.len()
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_reports_differences_and_counts() {
        let e = |d: &[u8]| Expected {
            data: d.to_vec(),
            origin: "x.pcap #0 (forward)".into(),
        };
        let want = [e(&[1, 2, 3]), e(&[4, 5])];
        assert!(compare_link("b0", &want, &[vec![1, 2, 3], vec![4, 5]], 5).is_empty());
        let p = compare_link("b0", &want, &[vec![1, 9, 3]], 5);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("byte 1 differs"), "{p:?}");
        assert!(p[1].contains("2 frames expected, 1 arrived"), "{p:?}");
        let p = compare_link("b0", &want[..1], &[vec![1, 2, 3], vec![7]], 5);
        assert!(p[0].contains("surplus"), "{p:?}");
    }

    #[test]
    fn timestamp_readings_may_differ_but_nothing_else() {
        // A Timestamp option (flag 0) with one reading written, pointer 9.
        let mut want = vec![0u8; 14];
        want[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![
            0x47, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[68, 8, 9, 0, 0x80, 0, 0, 1]);
        let fill = |f: &mut Vec<u8>| {
            f[24..26].copy_from_slice(&[0, 0]);
            let sum: u32 = f[14..42]
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            let s = !(((sum & 0xffff) + (sum >> 16)) as u16);
            f[24..26].copy_from_slice(&s.to_be_bytes());
        };
        want.extend_from_slice(&ip);
        fill(&mut want);
        let mut got = want.clone();
        got[41] = 7;
        assert!(!same_but_clock(&want, &got), "checksum not refreshed");
        fill(&mut got);
        assert!(same_but_clock(&want, &got));
        got[30] ^= 1; // an address byte
        fill(&mut got);
        assert!(!same_but_clock(&want, &got));
    }

    #[test]
    fn kernel_chatter_is_not_ferroutes() {
        let mac = [2, 0, 0, 0, 0, 1];
        let mut f = vec![2, 0, 0, 0, 0, 0x0a];
        f.extend_from_slice(&mac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45; 20]);
        assert!(from_ferroute(&f, mac));
        assert!(!from_ferroute(&f, [2, 0, 0, 0, 1, 1]), "another port's MAC");
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!from_ferroute(&arp, mac));
        let mut group = f.clone();
        group[0] = 0x33;
        assert!(!from_ferroute(&group, mac));
    }
}
