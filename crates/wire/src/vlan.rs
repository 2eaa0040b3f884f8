//! IEEE 802.1Q tags: a zero-copy view of a tagged Ethernet frame, and the
//! in-place pop and push the router does at a sub-interface's edge.
//!
//! ```text
//!  0      6      12     14    16        18
//!  | dst  | src  | TPID | TCI | EtherType | payload ...
//!                  0x8100  PCP(3) DEI(1) VID(12)
//! ```
//!
//! Popping moves the two MAC addresses 4 bytes towards the payload, so the
//! untagged frame starts 4 bytes later in the same buffer; pushing does the
//! reverse into 4 bytes of headroom. Neither copies the payload.

use super::ethernet::{ethertype, HEADER_LEN};
use super::WireError;

/// Length of one tag (TPID and TCI).
pub const TAG_LEN: usize = 4;
/// Length of an Ethernet header with one tag.
pub const TAGGED_HEADER_LEN: usize = HEADER_LEN + TAG_LEN;
/// The largest VLAN id a sub-interface may have (4095 is reserved).
pub const MAX_VID: u16 = 4094;

mod field {
    use core::ops::Range;
    pub const TPID: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Tag control information: priority (PCP), drop eligible (DEI), VLAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tci(pub u16);

impl Tci {
    /// A TCI with DEI clear; `pcp` is cut to 3 bits and `vid` to 12.
    #[inline]
    pub fn new(pcp: u8, vid: u16) -> Tci {
        Tci(((pcp as u16 & 0x7) << 13) | (vid & 0x0fff))
    }

    #[inline]
    pub fn pcp(self) -> u8 {
        (self.0 >> 13) as u8
    }

    #[inline]
    pub fn dei(self) -> bool {
        self.0 & 0x1000 != 0
    }

    #[inline]
    pub fn vid(self) -> u16 {
        self.0 & 0x0fff
    }
}

/// A zero-copy view of an Ethernet frame carrying (at least) one tag.
#[derive(Debug, Clone, Copy)]
pub struct VlanFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanFrame<T> {
    /// Wraps `buffer` after checking it holds a whole tagged header and its
    /// TPID is 802.1Q's or 802.1ad's.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < TAGGED_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let tpid = u16::from_be_bytes([b[12], b[13]]);
        if tpid != ethertype::VLAN && tpid != ethertype::QINQ {
            return Err(WireError::BadVersion);
        }
        Ok(VlanFrame { buffer })
    }

    #[inline]
    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// 0x8100 (802.1Q) or 0x88a8 (802.1ad service tag).
    #[inline]
    pub fn tpid(&self) -> u16 {
        self.u16_at(field::TPID)
    }

    #[inline]
    pub fn tci(&self) -> Tci {
        Tci(self.u16_at(field::TCI))
    }

    /// The EtherType after the tag (another TPID when tags are stacked).
    #[inline]
    pub fn inner_ethertype(&self) -> u16 {
        self.u16_at(field::INNER_ETHERTYPE)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[TAGGED_HEADER_LEN..]
    }
}

/// Removes the tag of the tagged frame `buf[start..]` in place: the
/// untagged frame is `buf[start + TAG_LEN..]` afterwards (the caller
/// checked the frame with [`VlanFrame::new_checked`]).
#[inline]
pub fn pop_tag(buf: &mut [u8], start: usize) {
    let macs = read_macs(buf, start);
    buf[start + TAG_LEN..start + TAG_LEN + 12].copy_from_slice(&macs);
}

/// The two MAC addresses at `buf[start..]`, as a fixed-size copy (a move of
/// 12 bytes that compiles to two loads, not a call to memmove).
#[inline]
fn read_macs(buf: &[u8], start: usize) -> [u8; 12] {
    let mut macs = [0u8; 12];
    macs.copy_from_slice(&buf[start..start + 12]);
    macs
}

/// Tags the untagged frame at `buf[start..]` with `tci` in place, using the
/// `TAG_LEN` bytes before it: the tagged frame starts at `start - TAG_LEN`.
/// `None` (nothing written) when there is no such room or no header.
#[inline]
pub fn push_tag(buf: &mut [u8], start: usize, tci: Tci) -> Option<usize> {
    let new_start = start.checked_sub(TAG_LEN)?;
    if buf.len() < start + HEADER_LEN {
        return None;
    }
    let macs = read_macs(buf, start);
    buf[new_start..new_start + 12].copy_from_slice(&macs);
    let tag = &mut buf[new_start + 12..new_start + 16];
    tag[..2].copy_from_slice(&ethertype::VLAN.to_be_bytes());
    tag[2..].copy_from_slice(&tci.0.to_be_bytes());
    Some(new_start)
}

/// Where the network-layer header starts and its EtherType: after one
/// 802.1Q tag if there is one (for code that reads frames already on an
/// interface's queue: classification, ECN marking).
#[inline]
pub fn l3_offset(frame: &[u8]) -> Option<(u16, usize)> {
    let t = frame.get(12..14)?;
    let outer = u16::from_be_bytes([t[0], t[1]]);
    if outer != ethertype::VLAN {
        return Some((outer, HEADER_LEN));
    }
    let t = frame.get(16..18)?;
    Some((u16::from_be_bytes([t[0], t[1]]), TAGGED_HEADER_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::{emit_header, EthernetFrame};
    use crate::MacAddr;

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    #[test]
    fn tci_fields() {
        let t = Tci::new(5, 100);
        assert_eq!((t.pcp(), t.dei(), t.vid()), (5, false, 100));
        assert_eq!(Tci(0xf0ff).vid(), 0xff);
        assert!(Tci(0xf0ff).dei());
        assert_eq!(Tci::new(9, 0x1fff), Tci::new(1, 0xfff));
    }

    #[test]
    fn push_then_pop_round_trips() {
        let mut buf = [0u8; 4 + 14 + 3];
        emit_header(&mut buf[4..], A, B, ethertype::IPV4);
        buf[18..].copy_from_slice(&[1, 2, 3]);
        let untagged = buf[4..].to_vec();
        assert_eq!(push_tag(&mut buf, 4, Tci::new(6, 4093)), Some(0));
        let tagged = VlanFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(tagged.tpid(), ethertype::VLAN);
        assert_eq!(tagged.tci(), Tci::new(6, 4093));
        assert_eq!(tagged.inner_ethertype(), ethertype::IPV4);
        assert_eq!(tagged.payload(), &[1, 2, 3]);
        assert_eq!(EthernetFrame::new_checked(&buf[..]).unwrap().dst(), A);
        assert_eq!(l3_offset(&buf), Some((ethertype::IPV4, 18)));
        pop_tag(&mut buf, 0);
        assert_eq!(&buf[4..], &untagged[..]);
        assert_eq!(l3_offset(&buf[4..]), Some((ethertype::IPV4, 14)));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut buf = [0u8; 30];
        assert_eq!(push_tag(&mut buf, 3, Tci::new(0, 1)), None);
        assert_eq!(push_tag(&mut buf, 20, Tci::new(0, 1)), None);
        assert_eq!(
            VlanFrame::new_checked(&buf[..17]).unwrap_err(),
            WireError::Truncated
        );
        assert!(VlanFrame::new_checked(&buf[..]).is_err(), "TPID 0");
        buf[12..14].copy_from_slice(&ethertype::QINQ.to_be_bytes());
        assert_eq!(
            VlanFrame::new_checked(&buf[..]).unwrap().tpid(),
            ethertype::QINQ
        );
        assert_eq!(l3_offset(&buf[..13]), None);
        buf[12..14].copy_from_slice(&ethertype::VLAN.to_be_bytes());
        assert_eq!(l3_offset(&buf[..17]), None);
    }
}
