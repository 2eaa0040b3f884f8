//! Which flow and class a frame belongs to.
//!
//! A flow is the 5-tuple (addresses, protocol, ports) for TCP, UDP, UDP-Lite,
//! SCTP and DCCP, and the 3-tuple (addresses, protocol) for everything else
//! and for every fragment, so the fragments of one datagram and the datagram's
//! unfragmented siblings never land in different queues out of order. The
//! tuple is hashed with a 128-bit key drawn when the router starts, so a
//! sender cannot aim many flows at one queue (CAKE and fq_codel do the same
//! with their perturbation).

use crate::wire::ethernet::ethertype;
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::walk_extension_headers;
use crate::wire::vlan::l3_offset;
use crate::wire::Ipv6Packet;

/// What the queues need to know of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowMeta {
    /// Keyed hash of the flow tuple and the class.
    pub hash: u64,
    /// Index into the port's classes (0 = default).
    pub class: u8,
}

/// An IPv4 flow's fields as the pipeline read them from a frame it
/// forwarded, so that the queues need not reach the frame again
/// ([`Classifier::classify_tuple`]; the pipeline's common case makes them,
/// see `forward::common`). Equal to what [`Classifier::classify`] reads
/// from the frame as queued, or [`FlowTuple::UNKNOWN`] (classify the
/// bytes). The header's words are kept as read, and the fields taken out
/// of them by the queues: the pipeline has the words at hand (it summed
/// them for the checksum), and extracting the fields there cost its loop
/// ~38 instructions per packet (callgrind), which the pipeline alone
/// (`benches/forward.rs`) would pay for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTuple {
    /// The header's bytes 0..8 (version and length, TOS, total length,
    /// identification, flags and fragment offset) as a little-endian
    /// word; 0: unknown (no IPv4 header starts with a zero byte here).
    head: u64,
    /// Bytes 8..16 (TTL, protocol, checksum, source address).
    middle: u64,
    /// Bytes 16..20 (destination address), then the packet's 4 bytes
    /// after the header (0 when it ends before them).
    tail: u64,
}

impl FlowTuple {
    /// No tuple: the queues classify the frame's bytes.
    pub const UNKNOWN: FlowTuple = FlowTuple {
        head: 0,
        middle: 0,
        tail: 0,
    };

    /// The tuple of an IPv4 packet whose header starts with `header` (its
    /// fixed 20 bytes, checked as [`Classifier::classify`] checks them)
    /// and is followed by `l4`, the packet's 4 bytes after the whole header
    /// (`None` when the packet ends before them).
    #[inline(always)]
    pub fn v4(header: &[u8; 20], l4: Option<&[u8; 4]>) -> FlowTuple {
        let (head, rest) = header.split_first_chunk::<8>().expect("20 bytes");
        let (middle, dst) = rest.split_first_chunk::<8>().expect("12 bytes");
        let dst: &[u8; 4] = dst.try_into().expect("4 bytes");
        let l4 = l4.map_or(0, |p| u32::from_le_bytes(*p));
        FlowTuple {
            head: u64::from_le_bytes(*head),
            middle: u64::from_le_bytes(*middle),
            tail: u64::from(u32::from_le_bytes(*dst)) | u64::from(l4) << 32,
        }
    }

    #[inline(always)]
    pub fn is_known(&self) -> bool {
        self.head != 0
    }

    /// The length of a frame holding just the packet behind an untagged
    /// Ethernet header (what the common case forwards): 14 + the IPv4
    /// total length.
    #[inline(always)]
    pub fn frame_len(&self) -> u32 {
        14 + u32::from(((self.head >> 16) as u16).swap_bytes())
    }

    /// Addresses (source high, big-endian), ports (0 for fragments and
    /// protocols without), protocol and DSCP.
    #[inline(always)]
    fn fields(&self) -> (u64, u32, u8, u8) {
        let proto = (self.middle >> 8) as u8;
        // More fragments, or a fragment offset.
        let fragment = ((self.head >> 48) as u16).swap_bytes() & 0x3fff != 0;
        let ports = match has_ports(proto) && !fragment {
            true => ((self.tail >> 32) as u32).swap_bytes(),
            false => 0,
        };
        let addrs = (self.middle >> 32 | self.tail << 32).swap_bytes();
        (addrs, ports, proto, (self.head >> 8) as u8 >> 2)
    }
}

/// Maps frames to flows and classes; one per port (the DSCP map is the
/// port's), all sharing the router's key.
#[derive(Debug, Clone)]
pub struct Classifier {
    key: [u64; 2],
    /// The multiplier [`Classifier::mix`] uses, made from the key once.
    mul: u64,
    dscp_class: [u8; 64],
}

/// Protocols whose first four payload bytes are source and destination ports.
fn has_ports(proto: u8) -> bool {
    matches!(
        proto,
        protocol::TCP | protocol::UDP | protocol::SCTP | 33 | 136
    )
}

/// One multiply-fold round (the mixer of ahash's fallback and wyhash): the
/// product's halves xored, so every input bit reaches every output bit.
/// (The ACL cache hashes with it too.)
#[inline(always)]
pub(crate) fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

impl Classifier {
    /// A classifier with a fresh random key (the standard library's
    /// per-process random SipHash keys seed it).
    pub fn new(dscp_class: [u8; 64]) -> Classifier {
        Classifier::with_key(super::random_key(), dscp_class)
    }

    /// A classifier with a given key (tests, simulations).
    pub fn with_key(key: [u64; 2], dscp_class: [u8; 64]) -> Classifier {
        Classifier {
            key,
            mul: (key[1] ^ 0x5851_f42d_4c95_7f2d) | 1,
            dscp_class,
        }
    }

    /// Folds `word` into `h`. The multiplier is the key xored with an odd
    /// constant of well-spread bits, so even a weak key mixes well.
    #[inline]
    fn mix(&self, h: u64, word: u64) -> u64 {
        fold_mul(h ^ word, self.mul)
    }

    /// Last round: spreads the final word's bits over the whole hash.
    #[inline]
    fn finish(&self, h: u64) -> u64 {
        fold_mul(h, 0x9e37_79b9_7f4a_7c15).rotate_left(23) ^ h
    }

    /// The class for a DSCP value.
    #[inline]
    pub fn class_of_dscp(&self, dscp: u8) -> u8 {
        self.dscp_class[(dscp & 0x3f) as usize]
    }

    /// Flow and class of an Ethernet frame. Frames that are not IP (or too
    /// short to read) all share one flow of the default class: the pipeline
    /// forwards only IP, so this is a safety net, not a path.
    #[inline(always)]
    pub fn classify(&self, frame: &[u8]) -> FlowMeta {
        // Made only when needed (a multiply every frame would pay).
        let other = || FlowMeta {
            hash: self.mix(self.key[0], 0),
            class: 0,
        };
        // A sub-interface's queues hold tagged frames: look past the tag.
        let Some((et, offset)) = l3_offset(frame) else {
            return other();
        };
        let l3 = &frame[offset.min(frame.len())..];
        match et {
            ethertype::IPV4 => self.classify_v4(l3).unwrap_or_else(other),
            ethertype::IPV6 => self.classify_v6(l3).unwrap_or_else(other),
            _ => other(),
        }
    }

    /// The flow of a frame whose tuple the pipeline read (`tuple` must be
    /// known): what [`Classifier::classify`] gives for that frame.
    #[inline(always)]
    pub fn classify_tuple(&self, tuple: FlowTuple) -> FlowMeta {
        let (addrs, rest) = self.flow_words(tuple);
        self.flow_of_words(addrs, rest)
    }

    /// The flow of a frame whose tuple the pipeline read, as the two words
    /// the keyed hash takes (the addresses; the ports, protocol and class,
    /// the class in the low byte), without hashing them: frames of one
    /// flow give equal words, so a batch's flows can be told apart
    /// without the keyed hash (the express path by tuples).
    #[inline(always)]
    pub(crate) fn flow_words(&self, tuple: FlowTuple) -> (u64, u64) {
        let (addrs, ports, proto, dscp) = tuple.fields();
        let class = self.class_of_dscp(dscp);
        (
            addrs,
            (ports as u64) << 16 | (proto as u64) << 8 | class as u64,
        )
    }

    /// The flow whose [`Classifier::flow_words`] are `addrs` and `rest`.
    #[inline(always)]
    pub(crate) fn flow_of_words(&self, addrs: u64, rest: u64) -> FlowMeta {
        let h = self.mix(self.key[0], addrs);
        let h = self.mix(h, rest);
        FlowMeta {
            hash: self.finish(h),
            class: rest as u8,
        }
    }

    /// The IPv4 flow, with the checks of
    /// [`Ipv4Packet::new_checked`](crate::wire::Ipv4Packet::new_checked)
    /// (a header that fails them is no flow) made on the fixed header read
    /// once: every frame of a batch pays this, so no field read is checked
    /// again.
    #[inline(always)]
    fn classify_v4(&self, l3: &[u8]) -> Option<FlowMeta> {
        let b: &[u8; 20] = l3.first_chunk()?;
        let header_len = ((b[0] & 0x0f) as usize) * 4;
        let total = u16::from_be_bytes([b[2], b[3]]) as usize;
        if b[0] >> 4 != 4 || header_len < 20 || total < header_len || total > l3.len() {
            return None;
        }
        let l4 = l3.get(header_len..).and_then(|p| p.first_chunk());
        Some(self.classify_tuple(FlowTuple::v4(b, l4)))
    }

    fn classify_v6(&self, l3: &[u8]) -> Option<FlowMeta> {
        let ip = Ipv6Packet::new_checked(l3).ok()?;
        let class = self.class_of_dscp(ip.traffic_class() >> 2);
        let first = ip.next_header();
        let (proto, ports) = if has_ports(first) {
            (first, ports_at(l3, crate::wire::ipv6::HEADER_LEN))
        } else {
            // Extension headers are rare; walk them only when present.
            match walk_extension_headers(first, ip.payload()) {
                Ok(w) if w.fragment => (w.upper_protocol, 0),
                Ok(w) if has_ports(w.upper_protocol) => {
                    (w.upper_protocol, ports_at(ip.payload(), w.upper_offset))
                }
                Ok(w) => (w.upper_protocol, 0),
                Err(_) => (first, 0),
            }
        };
        let s = ip.src_bytes();
        let d = ip.dst_bytes();
        let word = |a: &[u8; 16], i: usize| {
            u64::from_be_bytes([
                a[i],
                a[i + 1],
                a[i + 2],
                a[i + 3],
                a[i + 4],
                a[i + 5],
                a[i + 6],
                a[i + 7],
            ])
        };
        let mut h = self.mix(self.key[0] ^ 0x6, word(&s, 0));
        h = self.mix(h, word(&s, 8));
        h = self.mix(h, word(&d, 0));
        h = self.mix(h, word(&d, 8));
        h = self.mix(h, (ports as u64) << 16 | (proto as u64) << 8 | class as u64);
        Some(FlowMeta {
            hash: self.finish(h),
            class,
        })
    }
}

/// The two port fields at `offset` as one word (0 when truncated).
#[inline]
fn ports_at(packet: &[u8], offset: usize) -> u32 {
    match packet.get(offset..offset + 4) {
        Some(p) => u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::tests::frames::{v4_frame, v6_frame, V4Spec, V6Spec};

    fn classifier() -> Classifier {
        let mut map = [0u8; 64];
        map[46] = 1;
        Classifier::with_key([1, 2], map)
    }

    #[test]
    fn ports_separate_flows_and_fragments_do_not() {
        let c = classifier();
        let a = c.classify(&v4_frame(&V4Spec::tcp(1000, 80)));
        let b = c.classify(&v4_frame(&V4Spec::tcp(1001, 80)));
        assert_ne!(a.hash, b.hash);
        assert_eq!(a, c.classify(&v4_frame(&V4Spec::tcp(1000, 80))));
        // Every fragment of a datagram hashes alike, whatever its offset.
        let mut first = V4Spec::udp(5000, 53);
        first.more_frags = true;
        let mut later = V4Spec::udp(9999, 9999);
        later.frag_offset = 185;
        assert_eq!(
            c.classify(&v4_frame(&first)).hash,
            c.classify(&v4_frame(&later)).hash
        );
        // Protocols without ports: the 3-tuple.
        let icmp = c.classify(&v4_frame(&V4Spec::proto(1)));
        let gre = c.classify(&v4_frame(&V4Spec::proto(47)));
        assert_ne!(icmp.hash, gre.hash);
    }

    #[test]
    fn dscp_picks_the_class_and_the_key_changes_the_hash() {
        let c = classifier();
        let mut voice = V4Spec::udp(1, 2);
        voice.dscp = 46;
        let m = c.classify(&v4_frame(&voice));
        assert_eq!(m.class, 1);
        assert_eq!(c.classify(&v4_frame(&V4Spec::udp(1, 2))).class, 0);
        let other = Classifier::with_key([3, 4], [0; 64]);
        assert_ne!(other.classify(&v4_frame(&voice)).hash, m.hash);
        let mut v6 = V6Spec::tcp(1, 2);
        v6.dscp = 46;
        assert_eq!(c.classify(&v6_frame(&v6)).class, 1);
    }

    #[test]
    fn ipv6_ports_and_fragments() {
        let c = classifier();
        let a = c.classify(&v6_frame(&V6Spec::tcp(1, 2)));
        let b = c.classify(&v6_frame(&V6Spec::tcp(1, 3)));
        assert_ne!(a.hash, b.hash);
        let mut f1 = V6Spec::udp(7, 8);
        f1.fragment = Some(0);
        let mut f2 = V6Spec::udp(9, 9);
        f2.fragment = Some(100);
        assert_eq!(
            c.classify(&v6_frame(&f1)).hash,
            c.classify(&v6_frame(&f2)).hash
        );
    }

    /// The flow as the checked IPv4 view reads it (what `classify_v4`
    /// did before it read the fixed header once).
    fn reference_v4(c: &Classifier, l3: &[u8]) -> Option<FlowMeta> {
        let ip = crate::wire::Ipv4Packet::new_checked(l3).ok()?;
        let class = c.class_of_dscp(ip.dscp());
        let proto = ip.protocol();
        let fragment = ip.more_frags() || ip.frag_offset() != 0;
        let ports = if has_ports(proto) && !fragment {
            ports_at(l3, ip.header_len())
        } else {
            0
        };
        let addrs = u64::from(u32::from(ip.src())) << 32 | u64::from(u32::from(ip.dst()));
        Some(c.flow_of_words(
            addrs,
            (ports as u64) << 16 | (proto as u64) << 8 | class as u64,
        ))
    }

    #[test]
    fn ipv4_flows_match_the_checked_view_on_mangled_headers() {
        let c = classifier();
        let mut rng = crate::testkit::Rng::new(0x0c1a_551f);
        let mut frag = V4Spec::udp(7, 9);
        frag.more_frags = true;
        let mut voice = V4Spec::tcp(1, 2);
        voice.dscp = 46;
        let bases = [
            v4_frame(&V4Spec::udp(1000, 53)),
            v4_frame(&frag),
            v4_frame(&voice),
            v4_frame(&V4Spec::proto(47)),
        ];
        for round in 0..4000 {
            let mut f = bases[round % bases.len()].clone();
            // Mangle a few header bytes (version/IHL, lengths, flags,
            // protocol) and sometimes cut the frame short.
            for _ in 0..(rng.below(3) + 1) {
                let at = 14 + [0, 1, 2, 3, 6, 7, 9, 20, 21][rng.below(9) as usize];
                f[at] = rng.next_u64() as u8;
            }
            if rng.below(4) == 0 {
                f.truncate(rng.below(f.len() as u64) as usize);
            }
            let l3 = f.get(14..).unwrap_or(&[]);
            assert_eq!(c.classify_v4(l3), reference_v4(&c, l3), "{f:?}");
        }
    }

    #[test]
    fn garbage_is_one_flow_never_a_panic() {
        let c = classifier();
        let base = c.classify(&[]);
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let m = c.classify(&junk);
            assert!(m.class < 2);
            let _ = m.hash;
        }
        assert_eq!(c.classify(&[0u8; 10]).hash, base.hash);
    }
}
