//! OSPFv2 authentication (RFC 2328 Appendix D): null (AuType 0), simple
//! password (1) and cryptographic MD5 (2). A packet is built with null
//! authentication by [`super::emit`] and then [`seal`]ed for its
//! interface; a received one is [`check`]ed before anything else reads it.

use md5::{Digest, Md5};

use super::{be16, be32, field, packet_checksum, OspfError};

/// Length of an MD5 digest, which follows the packet (outside its length).
pub const MD5_LEN: usize = 16;

/// How an interface authenticates (`[[ospf.interface]] authentication`).
#[derive(Clone, PartialEq, Eq)]
pub enum Authentication {
    Null,
    /// An 8-byte password, sent in the clear (zero-padded).
    Simple([u8; 8]),
    /// A key id and a key of up to 16 bytes (zero-padded), as RFC 2328
    /// D.3 digests them.
    Md5 {
        key_id: u8,
        key: [u8; 16],
    },
}

impl std::fmt::Debug for Authentication {
    // The secret never reaches a log or `show`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Authentication {
    /// Its AuType.
    pub fn au_type(&self) -> u16 {
        match self {
            Authentication::Null => 0,
            Authentication::Simple(_) => 1,
            Authentication::Md5 { .. } => 2,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Authentication::Null => "null",
            Authentication::Simple(_) => "simple",
            Authentication::Md5 { .. } => "md5",
        }
    }

    /// Bytes it adds after the packet.
    pub fn trailer_len(&self) -> usize {
        match self {
            Authentication::Md5 { .. } => MD5_LEN,
            _ => 0,
        }
    }
}

/// The MD5 digest of `packet` followed by the padded key (D.4.3).
fn digest(packet: &[u8], key: &[u8; 16]) -> [u8; MD5_LEN] {
    let mut h = Md5::new();
    h.update(packet);
    h.update(key);
    h.finalize().into()
}

/// Turns a packet emitted with null authentication into one of `auth`:
/// the AuType and the authentication field set, the checksum computed
/// again (null, simple) or zero with the digest appended (MD5, whose
/// `sequence` must not decrease between packets, D.4.3).
pub fn seal(packet: &mut Vec<u8>, auth: &Authentication, sequence: u32) {
    if packet.len() < field::AUTH.end {
        return;
    }
    packet[field::AU_TYPE].copy_from_slice(&auth.au_type().to_be_bytes());
    match auth {
        Authentication::Null | Authentication::Simple(_) => {
            let password = match auth {
                Authentication::Simple(p) => *p,
                _ => [0; 8],
            };
            packet[field::AUTH].copy_from_slice(&password);
            packet[field::CHECKSUM].copy_from_slice(&[0, 0]);
            let sum = packet_checksum(packet);
            packet[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        }
        Authentication::Md5 { key_id, key } => {
            packet[field::CHECKSUM].copy_from_slice(&[0, 0]);
            let a = field::AUTH.start;
            packet[a..a + 4].copy_from_slice(&[0, 0, *key_id, MD5_LEN as u8]);
            packet[a + 4..a + 8].copy_from_slice(&sequence.to_be_bytes());
            let d = digest(packet, key);
            packet.extend_from_slice(&d);
        }
    }
}

/// Checks `buffer` (an OSPF packet of length `len`, and for MD5 its
/// digest after it) against `auth`; for MD5 returns the sequence number.
pub(super) fn check(
    buffer: &[u8],
    len: usize,
    auth: &Authentication,
) -> Result<Option<u32>, OspfError> {
    if be16(buffer, field::AU_TYPE.start) != auth.au_type() {
        return Err(OspfError::BadAuthentication);
    }
    let packet = &buffer[..len];
    match auth {
        Authentication::Null | Authentication::Simple(_) => {
            if packet_checksum(packet) != 0 {
                return Err(OspfError::BadChecksum);
            }
            if let Authentication::Simple(password) = auth {
                if packet[field::AUTH] != password[..] {
                    return Err(OspfError::AuthenticationFailed);
                }
            }
            Ok(None)
        }
        Authentication::Md5 { key_id, key } => {
            let a = field::AUTH.start;
            if packet[a + 2] != *key_id || usize::from(packet[a + 3]) != MD5_LEN {
                return Err(OspfError::AuthenticationFailed);
            }
            let Some(received) = buffer.get(len..len + MD5_LEN) else {
                return Err(OspfError::AuthenticationFailed);
            };
            let expected = digest(packet, key);
            // Compared whole, without an early exit on the first difference.
            let differs = received
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (x, y)| acc | (x ^ y));
            if differs != 0 {
                return Err(OspfError::AuthenticationFailed);
            }
            Ok(Some(be32(packet, a + 4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::control::ospf::wire::{emit, OspfPacket, PacketType};

    fn hello() -> Vec<u8> {
        emit(
            PacketType::Hello,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::UNSPECIFIED,
            |o| {
                o.extend_from_slice(&[
                    255, 255, 255, 0, 0, 10, 2, 1, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0,
                ])
            },
        )
    }

    fn md5(key: &[u8], key_id: u8) -> Authentication {
        let mut k = [0; 16];
        k[..key.len()].copy_from_slice(key);
        Authentication::Md5 { key_id, key: k }
    }

    #[test]
    fn each_kind_accepts_its_own_packets_and_refuses_the_others() {
        let kinds = [
            Authentication::Null,
            Authentication::Simple(*b"secret\0\0"),
            md5(b"key", 1),
        ];
        for (i, a) in kinds.iter().enumerate() {
            let mut p = hello();
            seal(&mut p, a, 7);
            let view = OspfPacket::new_checked(&p[..]).unwrap();
            let expected = matches!(a, Authentication::Md5 { .. }).then_some(7);
            assert_eq!(view.authenticate(a), Ok(expected), "{a:?}");
            for (j, b) in kinds.iter().enumerate() {
                if i != j {
                    assert_eq!(view.authenticate(b), Err(OspfError::BadAuthentication));
                }
            }
        }
    }

    #[test]
    fn wrong_secrets_and_changed_bytes_are_refused() {
        let mut p = hello();
        seal(&mut p, &Authentication::Simple(*b"secret\0\0"), 0);
        let view = OspfPacket::new_checked(&p[..]).unwrap();
        assert_eq!(
            view.authenticate(&Authentication::Simple(*b"Secret\0\0")),
            Err(OspfError::AuthenticationFailed)
        );
        let mut p = hello();
        seal(&mut p, &md5(b"key", 1), 9);
        let view = OspfPacket::new_checked(&p[..]).unwrap();
        assert_eq!(
            view.authenticate(&md5(b"kez", 1)),
            Err(OspfError::AuthenticationFailed)
        );
        assert_eq!(
            view.authenticate(&md5(b"key", 2)),
            Err(OspfError::AuthenticationFailed)
        );
        // Any byte of the packet or the digest changed: refused.
        for at in 0..p.len() {
            if (2..4).contains(&at) || at == 14 || at == 15 {
                continue; // the length and AuType fail earlier checks
            }
            let mut q = p.clone();
            q[at] ^= 0x10;
            if let Ok(v) = OspfPacket::new_checked(&q[..]) {
                assert!(v.authenticate(&md5(b"key", 1)).is_err(), "byte {at}");
            }
        }
        // The digest missing: refused, not a panic.
        let view = OspfPacket::new_checked(&p[..p.len() - 1]).unwrap();
        assert_eq!(
            view.authenticate(&md5(b"key", 1)),
            Err(OspfError::AuthenticationFailed)
        );
    }
}
