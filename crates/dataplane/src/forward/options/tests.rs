//! IPv4 options: each rule of the scan and of applying them, then through
//! the pipeline (recorded address, checksum, counters, parameter problem).

use std::net::Ipv4Addr;

use super::*;
use crate::forward::tests::{rig, run, v4::check_icmp_v4};
use crate::forward::{DropReason, Verdict};
use crate::testkit::frames::V4Frame;
use crate::wire::{checksum, icmp, Ipv4Packet};

const EGRESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// A 20-byte fixed header (zeros) followed by `opts`.
fn header(opts: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; MIN_HEADER_LEN];
    h.extend_from_slice(opts);
    h
}

fn applied(opts: &[u8], ours: &[Ipv4Addr]) -> (Result<Applied, u8>, Vec<u8>) {
    let mut h = header(opts);
    let scan = scan(&h[MIN_HEADER_LEN..]).expect("well formed");
    let r = apply(&mut h, &scan, Some(EGRESS), 0x1234, |a| ours.contains(&a));
    (r, h[MIN_HEADER_LEN..].to_vec())
}

#[test]
fn record_route_fills_the_next_slot_until_full() {
    let rr = [RECORD_ROUTE, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, END_OF_LIST];
    let (r, out) = applied(&rr, &[]);
    assert_eq!(r, Ok(Applied::default()));
    assert_eq!(&out[..11], &[7, 11, 8, 203, 0, 113, 1, 0, 0, 0, 0]);
    let (_, out) = applied(&out, &[]);
    assert_eq!(&out[..11], &[7, 11, 12, 203, 0, 113, 1, 203, 0, 113, 1]);
    // Full: forwarded unchanged.
    let (r, again) = applied(&out, &[]);
    assert_eq!((r, &again), (Ok(Applied::default()), &out));
}

#[test]
fn timestamps_of_each_flag_and_the_overflow_count() {
    let stamp = (0x1234u32 | 0x8000_0000).to_be_bytes();
    let (_, out) = applied(&[TIMESTAMP, 8, 5, TS_ONLY, 0, 0, 0, 0], &[]);
    assert_eq!(out[2], 9);
    assert_eq!(&out[4..8], &stamp, "high bit: a non-standard time");
    let (_, out) = applied(
        &[TIMESTAMP, 12, 5, TS_AND_ADDRESS, 0, 0, 0, 0, 0, 0, 0, 0],
        &[],
    );
    assert_eq!(
        (out[2], &out[4..8], &out[8..12]),
        (13, &EGRESS.octets()[..], &stamp[..])
    );
    // Prespecified: only a slot naming one of ours gets a time.
    let pre = [TIMESTAMP, 12, 5, TS_PRESPECIFIED, 192, 0, 2, 1, 0, 0, 0, 0];
    let (_, theirs) = applied(&pre, &[]);
    assert_eq!(theirs, pre);
    let (_, mine) = applied(&pre, &[Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!((mine[2], &mine[8..12]), (13, &stamp[..]));
    // Full: the overflow count goes up, until it would overflow itself.
    let (r, out) = applied(&[TIMESTAMP, 8, 9, 0x20 | TS_ONLY, 9, 9, 9, 9], &[]);
    assert!(r.unwrap().timestamp_overflow);
    assert_eq!(out[3], 0x30);
    let (r, out) = applied(&[TIMESTAMP, 8, 9, 0xf0, 9, 9, 9, 9], &[]);
    assert_eq!((r, out[3]), (Err(MIN_HEADER_LEN as u8 + 3), 0xf0));
}

#[test]
fn malformed_options_point_at_the_octet_in_error() {
    let err = |opts: &[u8]| scan(opts).unwrap_err() as usize - MIN_HEADER_LEN;
    assert_eq!(err(&[NO_OPERATION, RECORD_ROUTE, 1]), 2, "length below 2");
    assert_eq!(err(&[RECORD_ROUTE, 9, 4, 0]), 1, "length past the options");
    assert_eq!(err(&[RECORD_ROUTE, 7, 3, 0, 0, 0, 0]), 2, "pointer below 4");
    assert_eq!(
        err(&[RECORD_ROUTE, 7, 5, 0, 0, 0, 0]),
        2,
        "pointer off a slot"
    );
    assert_eq!(
        err(&[TIMESTAMP, 8, 5, 2, 0, 0, 0, 0]),
        3,
        "flag 2 is undefined"
    );
    assert_eq!(
        err(&[TIMESTAMP, 12, 9, TS_AND_ADDRESS, 0, 0, 0, 0, 0, 0, 0, 0]),
        2
    );
    let ok = scan(&[148, 4, 0, 0, LSRR, 3, 4, END_OF_LIST]).unwrap();
    assert!(ok.router_alert && ok.source_route);
    assert_eq!((ok.record_route, ok.timestamp), (None, None));
}

/// A UDP packet to 198.51.100.7 (routed out of p1) with `opts`.
fn with_options(opts: &[u8]) -> Vec<u8> {
    let mut f = V4Frame {
        option_words: opts.len().div_ceil(4),
        payload: vec![0x5a; 16],
        ..V4Frame::udp("198.51.100.7".parse().unwrap())
    }
    .build();
    f[34..34 + opts.len()].copy_from_slice(opts);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    f
}

#[test]
fn the_pipeline_records_its_egress_address_and_counts() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = with_options(&[RECORD_ROUTE, 7, 4, 0, 0, 0, 0, END_OF_LIST]);
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert!(matches!(v, Verdict::Forward { port: 1, .. }), "{v:?}");
    assert!(emit.frames.is_empty());
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.ttl(), 63);
    assert_eq!(&ip.options()[..7], &[7, 7, 8, 203, 0, 113, 1]);
    let mut alert = with_options(&[ROUTER_ALERT, 4, 0, 0]);
    assert!(matches!(
        run(&mut fwd, &fib, &mut alert).0,
        Verdict::Forward { .. }
    ));
    let mut ts = with_options(&[TIMESTAMP, 8, 9, TS_ONLY, 0, 0, 0, 0]);
    assert!(matches!(
        run(&mut fwd, &fib, &mut ts).0,
        Verdict::Forward { .. }
    ));
    let c = &fwd.counters;
    assert_eq!((c.record_route, c.router_alert), (1, 1));
    assert_eq!((c.timestamp, c.timestamp_overflow), (1, 1));
}

#[test]
fn malformed_options_get_parameter_problem() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = with_options(&[NO_OPERATION, RECORD_ROUTE, 7, 5, 0, 0, 0, 0]);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert_eq!(v, Verdict::Drop(DropReason::BadOptions));
    let pointer = (MIN_HEADER_LEN as u32 + 3) << 24;
    check_icmp_v4(
        &emit.frames[0].1,
        icmp::v4::PARAMETER_PROBLEM,
        0,
        pointer,
        &original,
    );
    assert!(checksum::verify(&emit.frames[0].1[34..]));
}
