//! The common case's rewrite and header tests against the pipeline's.

use crate::forward::common::decrement_ttl;
use crate::wire::Ipv4Packet;

/// The common case's TTL decrement (machine byte order, one fold) writes
/// the bytes `Ipv4Packet::decrement_ttl` writes, for every checksum and
/// the TTLs at the edges of the common case (> 1).
#[test]
fn the_common_ttl_decrement_writes_the_pipelines_bytes() {
    for ttl in [2u8, 3, 64, 128, 255] {
        for checksum in 0..=u16::MAX {
            let mut header = [0u8; 20];
            header[0] = 0x45;
            header[8] = ttl;
            header[9] = 17;
            header[10..12].copy_from_slice(&checksum.to_be_bytes());
            let mut expected = header;
            Ipv4Packet::new_unchecked(&mut expected[..]).decrement_ttl();
            decrement_ttl(&mut header);
            assert_eq!(header, expected, "TTL {ttl}, checksum {checksum:#06x}");
        }
    }
}

/// The common case's extension-header set is the wire crate's test, for
/// every next-header value.
#[test]
fn the_extension_header_set_matches_the_test() {
    for next in 0..=u8::MAX {
        assert_eq!(
            crate::forward::common_v6::extension_header(next),
            crate::wire::ipv6::is_extension_header(next),
            "next header {next}"
        );
    }
}
