//! Property tests over random packets, MTUs and bytes.

use proptest::prelude::*;

use super::*;
use crate::wire::ipv6::next_header;
use crate::wire::Ipv4Packet;

use super::fragment::reassemble;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any valid IPv4 packet to a routed destination is forwarded with TTL − 1
    /// and a valid checksum, or fragmented when larger than the MTU.
    #[test]
    fn valid_ipv4_forwards(host in 1u8..255, ttl in 2u8..=255, len in 0usize..1380,
                           tos in any::<u8>(), ident in any::<u16>()) {
        let (mut fwd, fib) = rig(100, 10);
        let mut f = v4_frame("192.0.2.10", &format!("198.51.100.{host}"), ttl, len, false);
        f[15] = tos;
        f[18..20].copy_from_slice(&ident.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let original = f.clone();
        let (v, _) = run(&mut fwd, &fib, &mut f);
        prop_assert_eq!(v, Verdict::Forward { port: 1, start: 0, len: original.len() });
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        prop_assert_eq!(ip.ttl(), ttl - 1);
        prop_assert!(ip.verify_checksum());
        prop_assert_eq!(&f[34..], &original[34..]);
    }

    #[test]
    fn valid_ipv6_forwards(hop in 2u8..=255, len in 0usize..1360, tc in any::<u8>()) {
        let (mut fwd, fib) = rig(100, 10);
        let mut f = v6_frame("2001:db8::10", "2001:db8:2::7", hop, next_header::UDP, &vec![3; len]);
        f[14] = 0x60 | (tc >> 4);
        f[15] = (tc << 4) | (f[15] & 0x0f);
        let original = f.clone();
        let (v, _) = run(&mut fwd, &fib, &mut f);
        prop_assert_eq!(v, Verdict::Forward { port: 1, start: 0, len: original.len() });
        prop_assert_eq!(f[14 + 7], hop - 1);
        prop_assert_eq!(&f[14..21], &original[14..21]);
    }

    /// Fragmenting any packet at any legal MTU reassembles to the original.
    #[test]
    fn fragments_reassemble(len in 1usize..4000, mtu in 68u16..1500, opt_words in 0usize..=10,
                            copied in any::<bool>()) {
        let (_, fib) = rig(100, 10);
        let mut fwd = Forwarder::new(ForwarderConfig {
            ports: vec![
                Port { name: "a".into(), mac: P0_MAC, mtu: 1500, ipv4: None, ipv6: None,
                       features: PortFeatures::default(), vlan: None },
                Port { name: "b".into(), mac: P1_MAC, mtu, ipv4: None, ipv6: None,
                       features: PortFeatures::default(), vlan: None },
            ],
            icmp_rate: 0,
            icmp_burst: 0,
            accept_source_route: false,
            acls: Default::default(),
        });
        let mut f = v4_frame("192.0.2.10", "198.51.100.7", 64, len, false);
        let opt_len = opt_words * 4;
        let mut opts = vec![1u8; opt_len];
        if opt_len >= 4 {
            // 0x1e: an experimental option the router does not act on.
            opts[0] = if copied { 0x82 } else { 0x1e };
            opts[1] = opt_len as u8;
        }
        f.splice(34..34, opts.clone());
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_header_len(20 + opt_len);
        ip.set_total_len((20 + opt_len + len) as u16);
        ip.fill_checksum();
        let original = f.clone();
        let (v, emit) = run(&mut fwd, &fib, &mut f);
        if 20 + opt_len + len <= mtu as usize {
            let forwarded = matches!(v, Verdict::Forward { .. });
            prop_assert!(forwarded, "{:?}", v);
            return Ok(());
        }
        let fragmented = matches!(v, Verdict::Fragmented { .. });
        prop_assert!(fragmented, "{:?}", v);
        let frames: Vec<Vec<u8>> = emit.frames.into_iter().map(|f| f.1).collect();
        for fr in &frames {
            let ip = Ipv4Packet::new_checked(&fr[14..]).unwrap();
            prop_assert!(ip.total_len() <= mtu as usize);
            prop_assert!(ip.verify_checksum());
        }
        let (first_header, payload) = reassemble(&frames);
        prop_assert_eq!(&payload[..], &original[34 + opt_len..]);
        prop_assert_eq!(&first_header[20..], &opts[..]);
    }

    /// Arbitrary bytes on any port never panic, and every frame gets exactly
    /// one outcome.
    #[test]
    fn random_frames_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..1600),
                                 port in 0u16..3, ethertype_pick in 0usize..4,
                                 for_us in any::<bool>()) {
        let (mut fwd, fib) = rig(5, 2);
        if bytes.len() >= 14 {
            if for_us {
                bytes[..6].copy_from_slice(&P0_MAC.0);
            }
            let et = [0x0800u16, 0x86dd, 0x0806, 0x8100][ethertype_pick];
            bytes[12..14].copy_from_slice(&et.to_be_bytes());
            if et == 0x0800 && bytes.len() > 14 {
                bytes[14] = 0x40 | (bytes[14] & 0x0f);
            }
        }
        let mut emit = VecEmit::default();
        let v = fwd.process(&fib, port, &mut bytes, 0, &mut emit);
        let c = &fwd.counters;
        prop_assert_eq!(c.forwarded + c.local + c.total_dropped(), 1);
        if let Verdict::Forward { len, .. } = v {
            prop_assert!(len <= bytes.len());
        }
    }
}
