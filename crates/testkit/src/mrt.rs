//! MRT RIB dumps (RFC 6396 §4.3, TABLE_DUMP_V2) written byte by byte, for
//! tests that need a dump with chosen peers, paths and communities:
//!
//! ```
//! # use ferroute_testkit::mrt::{peer_index, rib_ipv4, MrtEntry, BLACKHOLE};
//! let mut dump = peer_index(&[("203.0.113.2", 64500)]);
//! dump.extend(rib_ipv4(0, "100.71.0.0/16", &[
//!     MrtEntry::new(0, "203.0.113.2", &[64500]).communities(&[BLACKHOLE]),
//! ]));
//! ```
//!
//! An entry's next hop is IPv4 (a NEXT_HOP attribute) or IPv6 (an
//! MP_REACH_NLRI attribute, as RIB_IPV6_UNICAST entries carry it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The BLACKHOLE community (RFC 7999), 65535:666.
pub const BLACKHOLE: u32 = 0xffff_029a;

/// One record of type TABLE_DUMP_V2 (13).
pub fn record(subtype: u16, body: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    r.extend_from_slice(&13u16.to_be_bytes());
    r.extend_from_slice(&subtype.to_be_bytes());
    r.extend_from_slice(&(body.len() as u32).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("an IPv4 address")
}

/// PEER_INDEX_TABLE with IPv4 peers `(address, AS)`, 4-octet ASes; each
/// peer's router id is its address.
pub fn peer_index(peers: &[(&str, u32)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[192, 0, 2, 250]); // collector id
    b.extend_from_slice(&0u16.to_be_bytes()); // no view name
    b.extend_from_slice(&(peers.len() as u16).to_be_bytes());
    for (address, asn) in peers {
        b.push(0x02); // IPv4 address, 4-octet AS
        b.extend_from_slice(&v4(address).octets());
        b.extend_from_slice(&v4(address).octets());
        b.extend_from_slice(&asn.to_be_bytes());
    }
    record(1, &b)
}

/// One peer's route in a RIB record: ORIGIN IGP, an AS_SEQUENCE, NEXT_HOP
/// (MP_REACH_NLRI for an IPv6 next hop) and, if any, COMMUNITIES.
#[derive(Debug, Clone, Copy)]
pub struct MrtEntry<'a> {
    /// Index into the peer index table.
    pub peer: u16,
    pub next_hop: &'a str,
    pub as_path: &'a [u32],
    pub communities: &'a [u32],
}

impl<'a> MrtEntry<'a> {
    pub fn new(peer: u16, next_hop: &'a str, as_path: &'a [u32]) -> Self {
        MrtEntry {
            peer,
            next_hop,
            as_path,
            communities: &[],
        }
    }

    pub fn communities(self, communities: &'a [u32]) -> Self {
        MrtEntry {
            communities,
            ..self
        }
    }

    fn attributes(&self) -> Vec<u8> {
        let mut a = vec![0x40, 1, 1, 0]; // ORIGIN IGP
        let path = self.as_path;
        a.extend_from_slice(&[0x40, 2, (2 + 4 * path.len()) as u8, 2, path.len() as u8]);
        for asn in path {
            a.extend_from_slice(&asn.to_be_bytes());
        }
        let next_hop: IpAddr = self.next_hop.parse().expect("a next hop address");
        if let IpAddr::V4(next_hop) = next_hop {
            a.extend_from_slice(&[0x40, 3, 4]);
            a.extend_from_slice(&next_hop.octets());
        }
        if !self.communities.is_empty() {
            a.extend_from_slice(&[0xc0, 8, (4 * self.communities.len()) as u8]);
            for c in self.communities {
                a.extend_from_slice(&c.to_be_bytes());
            }
        }
        if let IpAddr::V6(next_hop) = next_hop {
            // In a RIB entry MP_REACH_NLRI is cut down to the next hop's
            // length and address (RFC 6396 §4.3.4): the record gives the
            // family and the prefix.
            a.extend_from_slice(&[0x80, 14, 17, 16]);
            a.extend_from_slice(&next_hop.octets());
        }
        a
    }
}

/// RIB_IPV4_UNICAST for `prefix` ("a.b.c.d/len") with `entries`.
pub fn rib_ipv4(sequence: u32, prefix: &str, entries: &[MrtEntry]) -> Vec<u8> {
    let (network, len) = prefix.split_once('/').expect("a prefix");
    rib(2, sequence, &v4(network).octets(), len, entries)
}

/// RIB_IPV6_UNICAST for `prefix` ("2001:db8::/32") with `entries`, whose
/// next hops are IPv6 addresses.
pub fn rib_ipv6(sequence: u32, prefix: &str, entries: &[MrtEntry]) -> Vec<u8> {
    let (network, len) = prefix.split_once('/').expect("a prefix");
    let network: Ipv6Addr = network.parse().expect("an IPv6 address");
    rib(4, sequence, &network.octets(), len, entries)
}

/// A RIB record of `subtype` for the prefix `network`/`len`.
fn rib(subtype: u16, sequence: u32, network: &[u8], len: &str, entries: &[MrtEntry]) -> Vec<u8> {
    let len: u8 = len.parse().expect("a prefix length");
    let mut b = Vec::new();
    b.extend_from_slice(&sequence.to_be_bytes());
    b.push(len);
    b.extend_from_slice(&network[..usize::from(len).div_ceil(8)]);
    b.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    for e in entries {
        let attrs = e.attributes();
        b.extend_from_slice(&e.peer.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // originated time
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&attrs);
    }
    record(subtype, &b)
}
