//! Congestion Experienced marking on a frame's IP header (RFC 3168 §5–6).
//!
//! Only ECT(0)/ECT(1) become CE; CE stays CE; Not-ECT is never changed (the
//! AQM drops it instead). The IPv4 header checksum is updated incrementally
//! (RFC 1624) by [`Ipv4Packet::set_ecn`]; IPv6 has no header checksum.

use crate::wire::ethernet::ethertype;
use crate::wire::vlan::l3_offset;
use crate::wire::{Ipv4Packet, Ipv6Packet};

/// The ECN codepoints (RFC 3168 §5).
pub const NOT_ECT: u8 = 0b00;
pub const ECT1: u8 = 0b01;
pub const ECT0: u8 = 0b10;
pub const CE: u8 = 0b11;

/// What [`mark_ce`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marking {
    /// ECT(0) or ECT(1) became CE.
    Marked,
    /// Already CE (left as is; still a congestion signal delivered).
    AlreadyCe,
    /// Not-ECT, or not an IP frame: the AQM must drop instead.
    NotCapable,
}

impl Marking {
    /// True when the congestion signal reached the packet without a drop.
    pub fn signalled(self) -> bool {
        !matches!(self, Marking::NotCapable)
    }
}

/// Marks the frame CE when its transport is ECN-capable.
pub fn mark_ce(frame: &mut [u8]) -> Marking {
    // A sub-interface's queues hold tagged frames: look past the tag.
    let Some((et, offset)) = l3_offset(frame) else {
        return Marking::NotCapable;
    };
    let Some(l3) = frame.get_mut(offset..) else {
        return Marking::NotCapable;
    };
    match et {
        ethertype::IPV4 => match Ipv4Packet::new_checked(l3) {
            Ok(mut ip) => match ip.ecn() {
                NOT_ECT => Marking::NotCapable,
                CE => Marking::AlreadyCe,
                _ => {
                    ip.set_ecn(CE);
                    Marking::Marked
                }
            },
            Err(_) => Marking::NotCapable,
        },
        ethertype::IPV6 => match Ipv6Packet::new_checked(l3) {
            Ok(mut ip) => match ip.ecn() {
                NOT_ECT => Marking::NotCapable,
                CE => Marking::AlreadyCe,
                _ => {
                    ip.set_ecn(CE);
                    Marking::Marked
                }
            },
            Err(_) => Marking::NotCapable,
        },
        _ => Marking::NotCapable,
    }
}

/// The ECN field of an IP frame, if it is one (tests and counters).
pub fn ecn_of(frame: &[u8]) -> Option<u8> {
    let (et, offset) = l3_offset(frame)?;
    let l3 = frame.get(offset..)?;
    match et {
        ethertype::IPV4 => Ipv4Packet::new_checked(l3).ok().map(|ip| ip.ecn()),
        ethertype::IPV6 => Ipv6Packet::new_checked(l3).ok().map(|ip| ip.ecn()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::tests::frames::{v4_frame, v6_frame, V4Spec, V6Spec};
    use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
    use proptest::prelude::*;

    fn v4_checksum_ok(frame: &[u8]) -> bool {
        Ipv4Packet::new_checked(&frame[ETH_LEN..])
            .map(|ip| ip.verify_checksum())
            .unwrap_or(false)
    }

    #[test]
    fn ect_becomes_ce_not_ect_and_ce_stay() {
        for (ecn, want, after) in [
            (ECT0, Marking::Marked, CE),
            (ECT1, Marking::Marked, CE),
            (CE, Marking::AlreadyCe, CE),
            (NOT_ECT, Marking::NotCapable, NOT_ECT),
        ] {
            let mut spec = V4Spec::tcp(1, 2);
            spec.ecn = ecn;
            spec.dscp = 46;
            let mut f = v4_frame(&spec);
            assert_eq!(mark_ce(&mut f), want);
            assert_eq!(ecn_of(&f), Some(after));
            assert!(v4_checksum_ok(&f), "checksum after marking {ecn:#b}");
            // DSCP untouched.
            assert_eq!(f[ETH_LEN + 1] >> 2, 46);
            let mut s6 = V6Spec::tcp(1, 2);
            s6.ecn = ecn;
            s6.dscp = 46;
            let mut f6 = v6_frame(&s6);
            assert_eq!(mark_ce(&mut f6), want);
            assert_eq!(ecn_of(&f6), Some(after));
            let ip = Ipv6Packet::new_checked(&f6[ETH_LEN..]).unwrap();
            assert_eq!(ip.traffic_class() >> 2, 46);
            assert_eq!(ip.flow_label(), s6.flow_label);
        }
    }

    #[test]
    fn non_ip_and_short_frames_are_not_capable() {
        assert_eq!(mark_ce(&mut []), Marking::NotCapable);
        assert_eq!(mark_ce(&mut [0u8; 20]), Marking::NotCapable);
        let mut arp = v4_frame(&V4Spec::tcp(1, 2));
        arp[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
        assert_eq!(mark_ce(&mut arp), Marking::NotCapable);
    }

    proptest! {
        /// Marking keeps the IPv4 header checksum valid for any header
        /// (TTL, DSCP, addresses, options) and any ECT codepoint.
        #[test]
        fn marking_keeps_ipv4_checksums_valid(
            ttl in 1u8.., dscp in 0u8..64, ect in 1u8..=2, src: [u8; 4], dst: [u8; 4],
            options in 0usize..=10,
        ) {
            let mut spec = V4Spec::tcp(1, 2);
            spec.ttl = ttl;
            spec.dscp = dscp;
            spec.ecn = ect;
            spec.src = src;
            spec.dst = dst;
            spec.option_words = options;
            let mut f = v4_frame(&spec);
            prop_assert!(v4_checksum_ok(&f));
            prop_assert_eq!(mark_ce(&mut f), Marking::Marked);
            prop_assert!(v4_checksum_ok(&f));
            prop_assert_eq!(ecn_of(&f), Some(CE));
        }
    }
}
