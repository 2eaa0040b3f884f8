//! ICMP (RFC 792) and ICMPv6 (RFC 4443) message types and the error header.
//!
//! Both families share the layout of an error message: type, code, checksum,
//! a 32-bit field (unused, MTU or pointer), then the quoted packet.

/// Length of the ICMP/ICMPv6 header before the quoted packet.
pub const ERROR_HEADER_LEN: usize = 8;

pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;

    pub const CODE_NET_UNREACHABLE: u8 = 0;
    pub const CODE_HOST_UNREACHABLE: u8 = 1;
    pub const CODE_FRAG_NEEDED: u8 = 4;
    /// RFC 1812 §5.2.7.1: communication administratively prohibited.
    pub const CODE_ADMIN_PROHIBITED: u8 = 13;
    pub const CODE_TTL_EXCEEDED: u8 = 0;

    /// Error messages (never answered with another error, RFC 1812 §4.3.2.7).
    /// Unknown types are treated as errors too: answering them is the riskier choice.
    pub fn is_error(icmp_type: u8) -> bool {
        !matches!(icmp_type, ECHO_REPLY | ECHO_REQUEST | 9 | 10 | 13..=18)
    }
}

pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;

    pub const CODE_NO_ROUTE: u8 = 0;
    pub const CODE_ADMIN_PROHIBITED: u8 = 1;
    pub const CODE_BEYOND_SCOPE: u8 = 2;
    pub const CODE_HOP_LIMIT: u8 = 0;

    /// RFC 4443 §2.1: types 0–127 are errors.
    pub fn is_error(icmp_type: u8) -> bool {
        icmp_type < 128
    }
}

/// Writes an error header (type, code, zero checksum, 32-bit `rest`) into `buf`.
pub fn emit_error_header(buf: &mut [u8], icmp_type: u8, code: u8, rest: u32) {
    buf[0] = icmp_type;
    buf[1] = code;
    buf[2] = 0;
    buf[3] = 0;
    buf[4..8].copy_from_slice(&rest.to_be_bytes());
}

/// Stores `checksum` in the header written by [`emit_error_header`].
pub fn set_checksum(buf: &mut [u8], checksum: u16) {
    buf[2..4].copy_from_slice(&checksum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classification() {
        assert!(v4::is_error(v4::DEST_UNREACHABLE));
        assert!(v4::is_error(v4::TIME_EXCEEDED));
        assert!(v4::is_error(v4::REDIRECT));
        assert!(!v4::is_error(v4::ECHO_REQUEST));
        assert!(!v4::is_error(13)); // timestamp
        assert!(v6::is_error(v6::PACKET_TOO_BIG));
        assert!(!v6::is_error(v6::ECHO_REQUEST));
        assert!(!v6::is_error(135)); // neighbour solicitation
    }

    #[test]
    fn header_layout() {
        let mut b = [0xaa; 8];
        emit_error_header(&mut b, v4::DEST_UNREACHABLE, v4::CODE_FRAG_NEEDED, 1400);
        set_checksum(&mut b, 0x1234);
        assert_eq!(b, [3, 4, 0x12, 0x34, 0, 0, 0x05, 0x78]);
    }
}
