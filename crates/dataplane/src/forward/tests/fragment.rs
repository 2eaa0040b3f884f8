//! IPv4 fragmentation.

use super::*;
use crate::wire::Ipv4Packet;

/// Reassembles fragments (in any order) into the payload and returns it with
/// the headers of the first fragment.
pub(crate) fn reassemble(frags: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let mut payload = vec![];
    let mut first_header = vec![];
    let mut pieces: Vec<(usize, &[u8])> = frags
        .iter()
        .map(|f| {
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            (ip.frag_offset() as usize * 8, &f[14..])
        })
        .collect();
    pieces.sort_by_key(|p| p.0);
    let base = pieces[0].0;
    for (off, raw) in pieces {
        let ip = Ipv4Packet::new_checked(raw).unwrap();
        assert_eq!(off - base, payload.len(), "fragments are contiguous");
        if off == base {
            first_header = ip.header().to_vec();
        }
        payload.extend_from_slice(ip.payload());
    }
    (first_header, payload)
}

#[test]
fn fragmentation_splits_and_keeps_fields() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 3000, false);
    let original = f.clone();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    let n = emit.frames.len();
    assert_eq!(
        v,
        Verdict::Fragmented {
            port: 1,
            fragments: n as u16
        }
    );
    assert_eq!(n, 3); // 1376 + 1376 + 248
    for (i, (port, fr)) in emit.frames.iter().enumerate() {
        assert_eq!(*port, 1);
        let eth = EthernetFrame::new_checked(&fr[..]).unwrap();
        assert_eq!((eth.dst(), eth.src()), (GW_MAC, P1_MAC));
        let ip = Ipv4Packet::new_checked(&fr[14..]).unwrap();
        assert!(ip.total_len() <= P1_MTU as usize);
        assert!(ip.verify_checksum());
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.ident(), 0xbeef);
        assert_eq!(ip.dscp() << 2 | ip.ecn(), 0x2a);
        assert_eq!(ip.more_frags(), i + 1 < n);
        if i + 1 < n {
            assert_eq!(ip.payload().len() % 8, 0);
        }
    }
    let (_, payload) = reassemble(&emit.frames.iter().map(|f| f.1.clone()).collect::<Vec<_>>());
    assert_eq!(payload, &original[34..]);
    assert_eq!(fwd.counters.fragments_sent, 3);
}

#[test]
fn fragments_of_fragments_keep_offsets_and_mf() {
    let (mut fwd, fib) = rig(100, 10);
    // A middle fragment: offset 185 (1480 bytes), MF set, 2000 bytes of payload.
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 2000, false);
    Ipv4Packet::new_unchecked(&mut f[14..]).set_fragment(true, 185);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    let (v, emit) = run(&mut fwd, &fib, &mut f);
    assert!(matches!(v, Verdict::Fragmented { fragments: 2, .. }));
    let a = Ipv4Packet::new_checked(&emit.frames[0].1[14..]).unwrap();
    let b = Ipv4Packet::new_checked(&emit.frames[1].1[14..]).unwrap();
    assert_eq!(a.frag_offset(), 185);
    assert_eq!(b.frag_offset() as usize, 185 + a.payload().len() / 8);
    assert!(
        a.more_frags() && b.more_frags(),
        "last piece keeps the original MF"
    );
}

#[test]
fn fragment_options_copy_only_copied_ones() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 2000, false);
    // Record route (not copied, 7 bytes), then a copied option 0x94 (router alert, 4 bytes), EOL.
    let opts = [7u8, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 0];
    f.splice(34..34, opts);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    ip.set_header_len(32);
    ip.set_total_len(32 + 2000);
    ip.fill_checksum();
    let (_, emit) = run(&mut fwd, &fib, &mut f);
    let first = Ipv4Packet::new_checked(&emit.frames[0].1[14..]).unwrap();
    // The first fragment carries the options, Record Route with p1's address.
    assert_eq!(
        first.options(),
        &[7, 7, 8, 203, 0, 113, 1, 0x94, 4, 0, 0, 0]
    );
    let later = Ipv4Packet::new_checked(&emit.frames[1].1[14..]).unwrap();
    assert_eq!(later.options(), &[0x94, 4, 0, 0]);
    assert!(later.verify_checksum());
    // Malformed options are refused before fragmenting, with a parameter
    // problem pointing at the bad length (octet 21 of the header).
    let mut bad = f.clone();
    bad[34 + 1] = 40;
    Ipv4Packet::new_unchecked(&mut bad[14..]).fill_checksum();
    let (v, emit) = run(&mut fwd, &fib, &mut bad);
    assert_eq!(v, Verdict::Drop(DropReason::BadOptions));
    assert_eq!(emit.frames.len(), 1);
    assert_eq!((emit.frames[0].1[34], emit.frames[0].1[38]), (12, 21));
}

#[test]
fn fragmentation_without_buffers_is_a_counted_drop() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 3000, false);
    let mut emit = VecEmit {
        refuse: true,
        ..Default::default()
    };
    let v = fwd.process(&fib, 0, &mut f, 0, &mut emit);
    assert_eq!(v, Verdict::Drop(DropReason::NoBuffer));
}

#[test]
fn fragment_past_64k_is_refused() {
    let (mut fwd, fib) = rig(100, 10);
    let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, 2000, false);
    Ipv4Packet::new_unchecked(&mut f[14..]).set_fragment(false, 8000);
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    assert_eq!(
        run(&mut fwd, &fib, &mut f).0,
        Verdict::Drop(DropReason::BadFragment)
    );
}
