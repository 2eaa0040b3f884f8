//! The common case with ACLs: a flow takes it once the worker's ACL cache
//! holds its permit, and lists without rules answer it at once.

use super::*;

/// With an ACL on either port, a flow takes the common case once the
/// worker's ACL cache holds its permit (after its first packet went
/// through the pipeline), never while it does not, and never when denied;
/// the counts are the pipeline's. IPv4 and IPv6 alike.
#[test]
fn acl_flows_take_the_common_case_once_their_permit_is_cached() {
    let v6 = |src| v6_frame(src, "2001:db8:2::7", 64, next_header::UDP, &[0; 18]);
    // (permitted, denied by list 0's rule `rule`).
    let families = [
        (
            v4_frame("192.0.2.10", "198.51.100.8", 64, 18, false),
            v4_frame("192.0.2.10", "198.51.100.7", 64, 18, false),
        ),
        (v6("2001:db8::10"), v6("2001:db8:5::1")),
    ];
    for s in [Setup::AclIn, Setup::AclOut] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let mut run = |frames: &[Vec<u8>]| {
            common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, frames).unwrap()
        };
        for (permitted, denied) in &families {
            let (permitted, denied) = (vec![permitted.clone(); 4], vec![denied.clone(); 4]);
            assert_eq!(run(&permitted), 0, "{s:?}: a cold cache");
            assert_eq!(run(&permitted), 4, "{s:?}: cached");
            assert_eq!(run(&denied), 0, "{s:?}: denied");
            assert_eq!(run(&denied), 0, "{s:?}: denied, cached");
        }
        // List 0: its IPv4 rule, its IPv6 rule, the default.
        assert_eq!(fwd.acl_hits, vec![vec![8, 8, 16], vec![0, 0]], "{s:?}");
        // Each flow's first packet misses; every later one hits, counted
        // once whichever path answered it.
        assert_eq!(fwd.acl_cache.counts.hits, 2 * (3 + 4 + 3 + 4), "{s:?}");
        assert_eq!(fwd.acl_cache.counts.misses, 4, "{s:?}");
    }
}

/// Lists without rules answer without the cache: their permitted flows
/// take the common case from the first packet, counted on the default;
/// their denied ones never do.
#[test]
fn empty_lists_answer_the_common_case_at_once() {
    let frames = vec![v4_frame("192.0.2.10", "198.51.100.8", 64, 18, false); 4];
    for (s, common) in [(Setup::AclEmptyPermit, 4), (Setup::AclEmptyDeny, 0)] {
        let (mut plain_fwd, fib) = setup(s);
        let (mut fwd, _) = setup(s);
        let mut run = |frames: &[Vec<u8>]| {
            common_equals_frame_by_frame(&mut plain_fwd, &mut fwd, &fib, frames).unwrap()
        };
        assert_eq!(run(&frames), common, "{s:?}");
        assert_eq!(run(&frames), common, "{s:?}");
        // acl-in and acl-out (the same list) each count every packet.
        let per_packet = if common > 0 { 2 } else { 1 };
        assert_eq!(fwd.acl_hits, vec![vec![8 * per_packet]], "{s:?}");
        assert_eq!(fwd.acl_cache.counts, Default::default(), "{s:?}");
    }
}
