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
        if want.data != *got {
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
