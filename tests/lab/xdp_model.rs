//! Which frames the XDP program (bpf/ferroute.bpf.c) hands to ferroute and
//! which it passes to the router's kernel, written from the program's rules
//! so that a test knows which input frames the live router can be compared
//! on. The daemon's XDP counters check this model on every run.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The XDP program's verdict for one frame arriving on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum XdpVerdict {
    /// To the AF_XDP socket: ferroute processes it.
    Redirect,
    /// XDP_PASS to the kernel, with the program's counter name.
    Pass(&'static str),
}

const ETH_LEN: usize = 14;

/// The program's decision for `frame` arriving on the port with `port_mac`,
/// given the router's own addresses.
pub fn classify(frame: &[u8], port_mac: [u8; 6], local: &BTreeSet<IpAddr>) -> XdpVerdict {
    if frame.len() < ETH_LEN {
        return XdpVerdict::Pass("passed_truncated");
    }
    if frame[0] & 1 == 1 {
        return XdpVerdict::Pass("passed_group");
    }
    if frame[..6] != port_mac {
        return XdpVerdict::Pass("passed_not_our_mac");
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let l3 = &frame[ETH_LEN..];
    match ethertype {
        0x0800 => {
            if l3.len() < 20 {
                return XdpVerdict::Pass("passed_truncated");
            }
            let dst = Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]);
            if local.contains(&IpAddr::V4(dst)) {
                return XdpVerdict::Pass("passed_local");
            }
            XdpVerdict::Redirect
        }
        0x86dd => {
            if l3.len() < 40 {
                return XdpVerdict::Pass("passed_truncated");
            }
            if is_neighbour_discovery(l3) {
                return XdpVerdict::Pass("passed_nd");
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&l3[24..40]);
            let dst = Ipv6Addr::from(octets);
            if octets[0] == 0xfe && octets[1] & 0xc0 == 0x80 {
                return XdpVerdict::Pass("passed_link_local");
            }
            if local.contains(&IpAddr::V6(dst)) {
                return XdpVerdict::Pass("passed_local");
            }
            XdpVerdict::Redirect
        }
        0x0806 => XdpVerdict::Pass("passed_arp"),
        0x8100 | 0x88a8 => XdpVerdict::Pass("passed_vlan"),
        _ => XdpVerdict::Pass("passed_not_ip"),
    }
}

/// ICMPv6 types 133..=137 directly after the fixed header or behind at most
/// two hop-by-hop / destination-options / routing headers; anything that
/// runs past the frame is not neighbour discovery.
pub fn is_neighbour_discovery(ip6: &[u8]) -> bool {
    let mut next = ip6[6];
    let mut cursor = 40usize;
    for _ in 0..2 {
        if !matches!(next, 0 | 60 | 43) {
            break;
        }
        let Some(header) = ip6.get(cursor..cursor + 2) else {
            return false;
        };
        next = header[0];
        cursor += (header[1] as usize + 1) * 8;
    }
    if next != 58 {
        return false;
    }
    matches!(ip6.get(cursor), Some(133..=137))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0x0a]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    #[test]
    fn the_programs_rules() {
        let me = [2, 0, 0, 0, 0, 1];
        let local: BTreeSet<IpAddr> = ["192.0.2.1".parse().unwrap()].into();
        let mut v4 = vec![0x45u8; 20];
        v4[16..20].copy_from_slice(&[198, 51, 100, 1]);
        assert_eq!(
            classify(&frame(me, 0x0800, &v4), me, &local),
            XdpVerdict::Redirect
        );
        v4[16..20].copy_from_slice(&[192, 0, 2, 1]);
        let passed = |f: Vec<u8>| classify(&f, me, &local);
        assert_eq!(
            passed(frame(me, 0x0800, &v4)),
            XdpVerdict::Pass("passed_local")
        );
        assert_eq!(
            passed(frame(me, 0x0800, &v4[..19])),
            XdpVerdict::Pass("passed_truncated")
        );
        assert_eq!(
            passed(frame([0xff; 6], 0x0800, &v4)),
            XdpVerdict::Pass("passed_group")
        );
        assert_eq!(
            passed(frame([4; 6], 0x0800, &v4)),
            XdpVerdict::Pass("passed_not_our_mac")
        );
        assert_eq!(
            passed(frame(me, 0x8100, &v4)),
            XdpVerdict::Pass("passed_vlan")
        );
        assert_eq!(
            passed(frame(me, 0x0806, &v4)),
            XdpVerdict::Pass("passed_arp")
        );
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[6] = 0; // hop-by-hop, then ICMPv6 neighbour solicitation
        v6[40] = 58;
        v6[24] = 0x20;
        let mut nd = v6.clone();
        nd.push(135);
        assert_eq!(
            passed(frame(me, 0x86dd, &nd)),
            XdpVerdict::Pass("passed_nd")
        );
        // The ICMPv6 type lies past the frame: not ND, so redirected.
        assert_eq!(passed(frame(me, 0x86dd, &v6)), XdpVerdict::Redirect);
        v6[24] = 0xfe;
        v6[25] = 0x80;
        assert_eq!(
            passed(frame(me, 0x86dd, &v6)),
            XdpVerdict::Pass("passed_link_local")
        );
    }
}
