//! The IPv6 common case's extension-header test against the pipeline's
//! (the common case's TTL decrement is the wire crate's
//! `decrement_nonzero_ttl`, tested there).

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
