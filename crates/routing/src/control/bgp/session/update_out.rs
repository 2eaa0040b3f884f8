//! Writing UPDATEs: attributes once per set, as many prefixes per message
//! as fit in [`MAX_MESSAGE_LEN`]; withdrawals and End-of-RIB markers.

use std::net::IpAddr;

use ipnet::IpNet;

use super::message::{header, set_length, Family, AS_TRANS, MAX_MESSAGE_LEN, UPDATE};
use super::update::{
    AS4_PATH, AS_PATH, COMMUNITIES, EXTENDED, LARGE_COMMUNITIES, LOCAL_PREF, MED, MP_REACH,
    MP_UNREACH, NEXT_HOP, OPTIONAL, ORIGIN, OTC, TRANSITIVE,
};
use crate::control::bgp::attrs::{AsPath, AsSegment, PathAttrs};

fn push_nlri(out: &mut Vec<u8>, prefix: &IpNet) {
    let len = prefix.prefix_len();
    out.push(len);
    let octets = usize::from(len).div_ceil(8);
    match prefix.addr() {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..octets]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..octets]),
    }
}

fn nlri_len(prefix: &IpNet) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8)
}

fn push_attr(out: &mut Vec<u8>, flags: u8, kind: u8, value: &[u8]) {
    if value.len() > 255 {
        out.extend_from_slice(&[flags | EXTENDED, kind]);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags, kind, value.len() as u8]);
    }
    out.extend_from_slice(value);
}

/// An AS path's segments with `width`-octet AS numbers (2-octet: AS_TRANS
/// for the large ones), at most 255 ASes per segment.
fn encode_as_path(path: &AsPath, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for s in path.segments() {
        let (kind, asns) = match s {
            AsSegment::Set(a) => (1, a),
            AsSegment::Sequence(a) => (2, a),
            AsSegment::ConfedSequence(a) => (3, a),
            AsSegment::ConfedSet(a) => (4, a),
        };
        for chunk in asns.chunks(255) {
            out.extend_from_slice(&[kind, chunk.len() as u8]);
            for &asn in chunk {
                match width {
                    2 => {
                        out.extend_from_slice(&u16::try_from(asn).unwrap_or(AS_TRANS).to_be_bytes())
                    }
                    _ => out.extend_from_slice(&asn.to_be_bytes()),
                }
            }
        }
    }
    out
}

/// The path attributes of `attrs` for one family, without the NLRI
/// (IPv6's next hop goes into MP_REACH_NLRI, written per message).
fn encode_attrs(attrs: &PathAttrs, four_octet_as: bool) -> Vec<u8> {
    let mut out = Vec::new();
    push_attr(&mut out, TRANSITIVE, ORIGIN, &[attrs.origin as u8]);
    let width = if four_octet_as { 4 } else { 2 };
    push_attr(
        &mut out,
        TRANSITIVE,
        AS_PATH,
        &encode_as_path(&attrs.as_path, width),
    );
    let large = |s: &AsSegment| match s {
        AsSegment::Set(a)
        | AsSegment::Sequence(a)
        | AsSegment::ConfedSequence(a)
        | AsSegment::ConfedSet(a) => a.iter().any(|&x| x > 0xffff),
    };
    if let IpAddr::V4(hop) = attrs.next_hop {
        push_attr(&mut out, TRANSITIVE, NEXT_HOP, &hop.octets());
    }
    if let Some(med) = attrs.med {
        push_attr(&mut out, OPTIONAL, MED, &med.to_be_bytes());
    }
    if let Some(pref) = attrs.local_pref {
        push_attr(&mut out, TRANSITIVE, LOCAL_PREF, &pref.to_be_bytes());
    }
    if !attrs.communities.is_empty() {
        let value: Vec<u8> = attrs
            .communities
            .iter()
            .flat_map(|c| c.to_be_bytes())
            .collect();
        push_attr(&mut out, OPTIONAL | TRANSITIVE, COMMUNITIES, &value);
    }
    if !attrs.large_communities.is_empty() {
        let value: Vec<u8> = attrs
            .large_communities
            .iter()
            .flatten()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        push_attr(&mut out, OPTIONAL | TRANSITIVE, LARGE_COMMUNITIES, &value);
    }
    if let Some(otc) = attrs.otc {
        push_attr(&mut out, OPTIONAL | TRANSITIVE, OTC, &otc.to_be_bytes());
    }
    if !four_octet_as && attrs.as_path.segments().iter().any(large) {
        let value = encode_as_path(&attrs.as_path, 4);
        push_attr(&mut out, OPTIONAL | TRANSITIVE, AS4_PATH, &value);
    }
    out
}

/// UPDATEs announcing `prefixes` (all of `attrs.next_hop`'s family) with
/// `attrs`, as few as fit in [`MAX_MESSAGE_LEN`] each, appended to `out`.
pub fn encode_announce(
    attrs: &PathAttrs,
    prefixes: &[IpNet],
    four_octet_as: bool,
    out: &mut Vec<Vec<u8>>,
) {
    let path_attrs = encode_attrs(attrs, four_octet_as);
    let mut rest = prefixes;
    while !rest.is_empty() {
        let mut msg = header(UPDATE, 0);
        msg.extend_from_slice(&[0, 0]);
        let room_for = |used: usize| MAX_MESSAGE_LEN.saturating_sub(used);
        match attrs.next_hop {
            IpAddr::V4(_) => {
                msg.extend_from_slice(&(path_attrs.len() as u16).to_be_bytes());
                msg.extend_from_slice(&path_attrs);
                let mut room = room_for(msg.len());
                while let Some(p) = rest.first().filter(|p| nlri_len(p) <= room) {
                    room -= nlri_len(p);
                    push_nlri(&mut msg, p);
                    rest = &rest[1..];
                }
            }
            IpAddr::V6(hop) => {
                // Attribute header (4, extended) + AFI/SAFI/len/hop/reserved.
                let fixed = msg.len() + 2 + path_attrs.len() + 4 + 5 + 16;
                let mut room = room_for(fixed);
                let mut value = vec![0, 2, 1, 16];
                value.extend_from_slice(&hop.octets());
                value.push(0);
                while let Some(p) = rest.first().filter(|p| nlri_len(p) <= room) {
                    room -= nlri_len(p);
                    push_nlri(&mut value, p);
                    rest = &rest[1..];
                }
                let mut all = path_attrs.clone();
                push_attr(&mut all, OPTIONAL, MP_REACH, &value);
                msg.extend_from_slice(&(all.len() as u16).to_be_bytes());
                msg.extend_from_slice(&all);
            }
        }
        set_length(&mut msg);
        out.push(msg);
    }
}

/// UPDATEs withdrawing `prefixes` (any family), appended to `out`.
pub fn encode_withdraw(prefixes: &[IpNet], out: &mut Vec<Vec<u8>>) {
    let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
        prefixes.iter().partition(|p| matches!(p, IpNet::V4(_)));
    for chunk in pack(&v4, MAX_MESSAGE_LEN - 23) {
        let mut msg = header(UPDATE, 0);
        let len: usize = chunk.iter().map(nlri_len).sum();
        msg.extend_from_slice(&(len as u16).to_be_bytes());
        chunk.iter().for_each(|p| push_nlri(&mut msg, p));
        msg.extend_from_slice(&[0, 0]);
        set_length(&mut msg);
        out.push(msg);
    }
    for chunk in pack(&v6, MAX_MESSAGE_LEN - 23 - 4 - 3) {
        let mut value = vec![0, 2, 1];
        chunk.iter().for_each(|p| push_nlri(&mut value, p));
        let mut attrs = Vec::new();
        push_attr(&mut attrs, OPTIONAL, MP_UNREACH, &value);
        let mut msg = header(UPDATE, 0);
        msg.extend_from_slice(&[0, 0]);
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&attrs);
        set_length(&mut msg);
        out.push(msg);
    }
}

/// Splits `prefixes` into runs whose NLRI fit in `room` bytes.
fn pack(prefixes: &[IpNet], room: usize) -> Vec<&[IpNet]> {
    let mut runs = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        if used + nlri_len(p) > room {
            runs.push(&prefixes[start..i]);
            (start, used) = (i, 0);
        }
        used += nlri_len(p);
    }
    if start < prefixes.len() {
        runs.push(&prefixes[start..]);
    }
    runs
}

/// The End-of-RIB marker of `family` (RFC 4724 §2).
pub fn end_of_rib(family: Family) -> Vec<u8> {
    match family {
        Family::Ipv4Unicast => {
            let mut msg = header(UPDATE, 4);
            msg.extend_from_slice(&[0, 0, 0, 0]);
            msg
        }
        Family::Ipv6Unicast => {
            let mut msg = header(UPDATE, 10);
            msg.extend_from_slice(&[0, 0, 0, 6, OPTIONAL, MP_UNREACH, 3, 0, 2, 1]);
            msg
        }
    }
}
