//! Ethernet II frames and 802.1Q/802.1ad tags.

use std::fmt;
use std::str::FromStr;

use super::WireError;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Group bit set: broadcast or multicast.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(|| {
                format!("`{s}` is not a MAC address (want six hex bytes like 02:00:00:00:00:01)")
            })?;
            if part.len() != 2 {
                return Err(format!(
                    "`{s}` is not a MAC address (want six hex bytes like 02:00:00:00:00:01)"
                ));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| format!("`{s}` is not a MAC address (bad hex byte `{part}`)"))?;
        }
        if parts.next().is_some() {
            return Err(format!("`{s}` is not a MAC address (more than six bytes)"));
        }
        Ok(MacAddr(out))
    }
}

/// EtherType values the router cares about.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// A zero-copy view of an Ethernet II frame (without FCS).
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking it holds a whole header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }

    /// Wraps `buffer` without checks; accessors panic if it is shorter than the header.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    #[inline]
    pub fn dst(&self) -> MacAddr {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        MacAddr(m)
    }

    #[inline]
    pub fn src(&self) -> MacAddr {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        MacAddr(m)
    }

    #[inline]
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac.0);
    }

    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// Writes an Ethernet header at the start of `buf` (which must hold 14 bytes).
#[inline]
pub fn emit_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    let mut f = EthernetFrame::new_unchecked(buf);
    f.set_dst(dst);
    f.set_src(src);
    f.set_ethertype(ethertype);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_mac() {
        let m: MacAddr = "02:00:5e:0A:ff:01".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x00, 0x5e, 0x0a, 0xff, 0x01]);
        assert_eq!(m.to_string(), "02:00:5e:0a:ff:01");
        assert!("02:00:5e:0a:ff".parse::<MacAddr>().is_err());
        assert!("02:00:5e:0a:ff:01:02".parse::<MacAddr>().is_err());
        assert!("02:00:5e:0a:ff:zz".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!m.is_multicast());
    }

    #[test]
    fn view_reads_and_writes() {
        let mut buf = [0u8; 20];
        assert!(EthernetFrame::new_checked(&buf[..13]).is_err());
        emit_header(
            &mut buf,
            MacAddr::BROADCAST,
            MacAddr([2, 0, 0, 0, 0, 1]),
            ethertype::IPV6,
        );
        let f = EthernetFrame::new_checked(&buf[..]).unwrap();
        assert_eq!(f.dst(), MacAddr::BROADCAST);
        assert_eq!(f.src(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), ethertype::IPV6);
        assert_eq!(f.payload().len(), 6);
    }
}
