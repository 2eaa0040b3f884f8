//! The router's own addresses in the XDP program: two hashes (IPv4, IPv6)
//! and the filter in front of them, a bit per 16-bit fold of an address
//! (bpf/ferroute.bpf.c: `local_filter`), so that a transit frame, whose
//! bit is nearly always clear, costs one array read and no hash lookup.

use std::net::IpAddr;

use libbpf_rs::{MapCore, MapFlags};

use super::super::link::bpf_error;
use super::{XdpError, XdpProgram};

/// 64-bit words of the filter (65,536 bits: every 16-bit fold).
const FILTER_WORDS: u32 = 1024;

/// An address's bit in the filter: the XOR of its 16-bit big-endian words,
/// as the program folds the destination it reads (`local_fold`).
fn local_fold(address: &IpAddr) -> u16 {
    let fold = |octets: &[u8]| {
        octets
            .chunks_exact(2)
            .fold(0u16, |f, w| f ^ u16::from_be_bytes([w[0], w[1]]))
    };
    match address {
        IpAddr::V4(v4) => fold(&v4.octets()),
        IpAddr::V6(v6) => fold(&v6.octets()),
    }
}

/// The filter's words with a bit set for each of `addresses`.
fn filter_words(addresses: &[IpAddr]) -> Vec<u64> {
    let mut words = vec![0u64; FILTER_WORDS as usize];
    for a in addresses {
        let fold = local_fold(a);
        words[usize::from(fold >> 6)] |= 1 << (fold & 63);
    }
    words
}

impl XdpProgram {
    /// Replaces the set of the router's own addresses (frames to them go to
    /// the kernel). Control-plane call; allocates. In order: the new
    /// addresses' filter bits, then the new addresses, then the old ones
    /// out, then the filter exact: at no point is an address in the set
    /// with its bit clear (a frame to it would go to the workers).
    pub fn set_local_addresses(&self, addresses: &[IpAddr]) -> Result<(), XdpError> {
        let wanted_words = filter_words(addresses);
        let filter = &self.skel.maps.local_filter;
        let word = |w: u32| -> Result<u64, XdpError> {
            let value = filter
                .lookup(&w.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| bpf_error("reading the XDP local-address filter", e))?;
            Ok(value.map_or(0, |v| {
                u64::from_ne_bytes(v[..8].try_into().unwrap_or([0; 8]))
            }))
        };
        let write = |w: u32, bits: u64| {
            filter
                .update(&w.to_ne_bytes(), &bits.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| bpf_error("writing the XDP local-address filter", e))
        };
        for (w, &bits) in (0..FILTER_WORDS).zip(&wanted_words) {
            if bits != 0 {
                write(w, word(w)? | bits)?;
            }
        }
        let octets = |v6: bool| -> Vec<Vec<u8>> {
            addresses
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(v4) if !v6 => Some(v4.octets().to_vec()),
                    IpAddr::V6(a) if v6 => Some(a.octets().to_vec()),
                    _ => None,
                })
                .collect()
        };
        for (map, wanted) in [
            (&self.skel.maps.local_v4, octets(false)),
            (&self.skel.maps.local_v6, octets(true)),
        ] {
            for key in &wanted {
                map.update(key, &[1], MapFlags::ANY)
                    .map_err(|e| bpf_error("adding a local address to the XDP program", e))?;
            }
            let stale: Vec<Vec<u8>> = map.keys().filter(|k| !wanted.contains(k)).collect();
            for key in stale {
                map.delete(&key)
                    .map_err(|e| bpf_error("removing a local address from the XDP program", e))?;
            }
        }
        for (w, &bits) in (0..FILTER_WORDS).zip(&wanted_words) {
            if word(w)? != bits {
                write(w, bits)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_the_xor_of_the_big_endian_words() {
        assert_eq!(
            local_fold(&"198.51.100.1".parse().unwrap()),
            0xc633 ^ 0x6401
        );
        assert_eq!(
            local_fold(&"2001:db8:1::1".parse().unwrap()),
            0x2001 ^ 0x0db8 ^ 0x0001 ^ 0x0001
        );
        // Addresses that differ in two words the same way share a bit: the
        // program then confirms in the hash.
        assert_eq!(
            local_fold(&"10.1.0.1".parse().unwrap()),
            local_fold(&"10.0.0.0".parse().unwrap())
        );
    }

    #[test]
    fn filter_words_hold_one_bit_per_fold() {
        let addresses: Vec<IpAddr> = vec![
            "198.51.100.1".parse().unwrap(),
            "2001:db8:1::1".parse().unwrap(),
        ];
        let words = filter_words(&addresses);
        let set: u32 = words.iter().map(|w| w.count_ones()).sum();
        assert_eq!(set, 2);
        for a in &addresses {
            let fold = local_fold(a);
            assert_ne!(words[usize::from(fold >> 6)] & (1 << (fold & 63)), 0, "{a}");
        }
    }
}
