//! Batched route lookups ahead of the pipeline change nothing but speed:
//! every frame's verdict, bytes, emitted frames and counters are those of
//! the frame-by-frame pipeline.

use proptest::prelude::*;

use super::*;
use crate::lpm::MaybeNextHop;
use crate::wire::ipv6::next_header;

/// Destinations covering every kind of answer the FIB gives in `rig`:
/// adjacency, unresolved gateway, glean, local, broadcast, no route.
const V4_DESTINATIONS: [&str; 7] = [
    "198.51.100.7",
    "10.1.2.3",
    "203.0.113.50",
    "192.0.2.1",
    "192.0.2.255",
    "100.64.0.1",
    "203.0.113.2",
];
const V6_DESTINATIONS: [&str; 4] = [
    "2001:db8:2::7",
    "2001:db8::1",
    "2001:db8:1::9",
    "2001:db8:9::1",
];

pub(super) fn frame_from(kind: u8, pick: usize, ttl: u8, len: usize, noise: &[u8]) -> Vec<u8> {
    match kind % 4 {
        0 => v4_frame(
            "192.0.2.10",
            V4_DESTINATIONS[pick % V4_DESTINATIONS.len()],
            ttl,
            len,
            pick.is_multiple_of(3),
        ),
        1 => v6_frame(
            "2001:db8::10",
            V6_DESTINATIONS[pick % V6_DESTINATIONS.len()],
            ttl,
            next_header::UDP,
            &vec![7; len],
        ),
        // An IP ethertype over bytes that are mostly noise: the pre-pass
        // reads a "destination" out of them, the pipeline rejects them (or
        // parses another destination) — the hint must not matter.
        2 => {
            let mut f = v4_frame("192.0.2.10", "198.51.100.7", ttl, len, false);
            for (b, n) in f[14..].iter_mut().zip(noise) {
                *b ^= n;
            }
            f
        }
        _ => {
            let mut f = noise.to_vec();
            if f.len() >= 14 {
                f[12..14].copy_from_slice(&[0x86, 0xdd]);
            }
            f
        }
    }
}

/// Runs `frames` (received on p0) through `plain` one by one and through
/// `hinted` with `hints`: the verdicts, the frames' bytes, the emitted
/// frames, the counters and the ACL hits must all agree.
pub(super) fn batch_equals_frame_by_frame(
    plain: &mut Forwarder,
    hinted: &mut Forwarder,
    fib: &Fib,
    frames: &[Vec<u8>],
    hints: &RouteHints,
) -> Result<(), TestCaseError> {
    let mut a = frames.to_vec();
    let mut b = frames.to_vec();
    let (mut emit_a, mut emit_b) = (VecEmit::default(), VecEmit::default());
    for (i, (fa, fb)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
        let va = plain.process(fib, 0, fa, 5_000, &mut emit_a);
        let vb = hinted.process_hinted(fib, 0, fb, 5_000, &mut emit_b, hints.get(i));
        prop_assert_eq!(va, vb, "frame {}", i);
        prop_assert_eq!(&fa, &fb, "frame {} bytes", i);
    }
    prop_assert_eq!(emit_a.frames, emit_b.frames);
    prop_assert_eq!(plain.counters.summary(), hinted.counters.summary());
    prop_assert_eq!(&plain.acl_hits, &hinted.acl_hits);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn hinted_batch_equals_frame_by_frame(
        specs in proptest::collection::vec(
            (any::<u8>(), any::<usize>(), 0u8..=4, 0usize..1600,
             proptest::collection::vec(any::<u8>(), 0..80)),
            1..80),
    ) {
        let (mut plain, fib) = rig(1000, 1000);
        let (mut hinted, _) = rig(1000, 1000);
        let frames: Vec<Vec<u8>> = specs
            .iter()
            .map(|(kind, pick, ttl, len, noise)| frame_from(*kind, *pick, *ttl, *len, noise))
            .collect();
        let mut hints = RouteHints::new();
        hints.prepare(&fib, frames.iter().map(|f| &f[..]));
        prop_assert_eq!(hints.len(), frames.len().min(MAX_HINT_BATCH));
        batch_equals_frame_by_frame(&mut plain, &mut hinted, &fib, &frames, &hints)?;
    }
}

#[test]
fn prepared_hints_carry_each_frames_route() {
    let (_, fib) = rig(100, 10);
    let frames = [
        v4_frame("192.0.2.10", "198.51.100.7", 64, 10, false),
        vec![0u8; 20],
        v6_frame(
            "2001:db8::10",
            "2001:db8:2::7",
            64,
            next_header::UDP,
            &[1; 8],
        ),
        v4_frame("192.0.2.10", "100.64.0.1", 64, 10, false),
    ];
    let mut hints = RouteHints::new();
    hints.prepare(&fib, frames.iter().map(|f| &f[..]));
    let v4: Ipv4Addr = "198.51.100.7".parse().unwrap();
    let v6: Ipv6Addr = "2001:db8:2::7".parse().unwrap();
    assert_eq!(
        hints.get(0).dst,
        RouteHint::V4(v4, fib.v4.lookup(v4).into())
    );
    assert!(fib.v4.lookup(v4).is_some());
    assert_eq!(hints.get(1).dst, RouteHint::None);
    assert_eq!(
        hints.get(2).dst,
        RouteHint::V6(v6, fib.v6.lookup(v6).into())
    );
    assert_eq!(
        hints.get(3).dst,
        RouteHint::V4("100.64.0.1".parse().unwrap(), MaybeNextHop::NONE)
    );
    assert_eq!(hints.get(4).dst, RouteHint::None);
    // A new batch replaces the old one's hints.
    hints.prepare(&fib, [&frames[1][..]]);
    assert_eq!(hints.len(), 1);
    assert_eq!(hints.get(0).dst, RouteHint::None);
}

#[test]
fn a_hint_for_another_destination_is_ignored() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 10, false);
    // Claims "no route" for a different address: the pipeline looks up the
    // frame's own destination instead.
    let stale = RouteHint::V4("198.51.100.8".parse().unwrap(), MaybeNextHop::NONE);
    let hint = FrameHint {
        dst: stale,
        src: RouteHint::None,
    };
    let v = fwd.process_hinted(&fib, 0, &mut f, 0, &mut VecEmit::default(), hint);
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
}
