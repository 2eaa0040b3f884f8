//! UPDATE messages (RFC 4271 §4.3, multiprotocol RFC 4760, 4-octet AS
//! RFC 6793), read with the revised error handling of RFC 7606: a bad
//! attribute withdraws the routes of its UPDATE ("treat-as-withdraw") or is
//! dropped ("attribute discard"); only what makes the NLRI unlocatable
//! resets the session. Writing packs many prefixes with the same
//! attributes into one message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::message::{code, Family, Notification};
use crate::control::bgp::attrs::{AsPath, AsSegment, Origin, PathAttrs};

pub(super) const ORIGIN: u8 = 1;
pub(super) const AS_PATH: u8 = 2;
pub(super) const NEXT_HOP: u8 = 3;
pub(super) const MED: u8 = 4;
pub(super) const LOCAL_PREF: u8 = 5;
pub(super) const ATOMIC_AGGREGATE: u8 = 6;
pub(super) const AGGREGATOR: u8 = 7;
pub(super) const COMMUNITIES: u8 = 8;
pub(super) const ORIGINATOR_ID: u8 = 9;
pub(super) const CLUSTER_LIST: u8 = 10;
pub(super) const MP_REACH: u8 = 14;
pub(super) const MP_UNREACH: u8 = 15;
pub(super) const AS4_PATH: u8 = 17;
pub(super) const AS4_AGGREGATOR: u8 = 18;
pub(super) const LARGE_COMMUNITIES: u8 = 32;
/// ONLY_TO_CUSTOMER (RFC 9234 §5).
pub(super) const OTC: u8 = 35;

pub(super) const OPTIONAL: u8 = 0x80;
pub(super) const TRANSITIVE: u8 = 0x40;
pub(super) const EXTENDED: u8 = 0x10;

/// What the session negotiated that reading an UPDATE depends on.
#[derive(Debug, Clone, Copy)]
pub struct UpdateContext {
    pub four_octet_as: bool,
    /// The peer is in another AS.
    pub ebgp: bool,
    pub peer_as: u32,
}

/// Prefixes announced with one set of attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub attrs: PathAttrs,
    pub prefixes: Vec<IpNet>,
}

/// An UPDATE as the Adj-RIB-In takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedUpdate {
    pub withdrawn: Vec<IpNet>,
    /// At most one per family (classic IPv4 NLRI, MP_REACH_NLRI).
    pub announced: Vec<Announcement>,
    /// The UPDATE was an End-of-RIB marker (RFC 4724 §2).
    pub end_of_rib: Option<Family>,
    /// Why its announcements were turned into withdrawals (RFC 7606
    /// treat-as-withdraw), if they were.
    pub treat_as_withdraw: Option<String>,
    /// Attribute type codes dropped (RFC 7606 attribute discard).
    pub discarded: Vec<u8>,
}

/// What RFC 7606 says to do with a bad attribute.
enum Bad {
    Withdraw(String),
    Discard,
    Reset(Notification),
}

fn reset(subcode: u8, data: &[u8]) -> Notification {
    Notification::new(code::UPDATE, subcode, data.to_vec())
}

/// Reads NLRI (prefix length, then the prefix's significant octets) of one
/// family; `None` if it is malformed.
fn parse_nlri(mut bytes: &[u8], family: Family, out: &mut Vec<IpNet>) -> Option<()> {
    while let [len, rest @ ..] = bytes {
        let len = *len;
        let octets = usize::from(len).div_ceil(8);
        let prefix = rest.get(..octets)?;
        let net = match family {
            Family::Ipv4Unicast => {
                let mut a = [0u8; 4];
                a.get_mut(..octets)?.copy_from_slice(prefix);
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).ok()?)
            }
            Family::Ipv6Unicast => {
                let mut a = [0u8; 16];
                a.get_mut(..octets)?.copy_from_slice(prefix);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).ok()?)
            }
        };
        out.push(net.trunc());
        bytes = &rest[octets..];
    }
    Some(())
}

/// Reads an AS_PATH or AS4_PATH value with `width`-octet AS numbers;
/// `None` if malformed (RFC 7606 §7.2: overrun, zero-length or unknown
/// segment).
fn parse_as_path(mut bytes: &[u8], width: usize) -> Option<AsPath> {
    let mut segments = Vec::new();
    while let [kind, count, rest @ ..] = bytes {
        let n = usize::from(*count);
        let body = rest.get(..n * width).filter(|_| n > 0)?;
        let asns: Box<[u32]> = body
            .chunks_exact(width)
            .map(|c| match c {
                [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
                [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                _ => 0,
            })
            .collect();
        segments.push(match kind {
            1 => AsSegment::Set(asns),
            2 => AsSegment::Sequence(asns),
            3 => AsSegment::ConfedSequence(asns),
            4 => AsSegment::ConfedSet(asns),
            _ => return None,
        });
        bytes = &rest[n * width..];
    }
    bytes.is_empty().then(|| AsPath::new(segments))
}

/// RFC 6793 §4.2.3: the AS_PATH of a 2-octet speaker merged with its
/// AS4_PATH: the leading ASes AS4_PATH lacks, then AS4_PATH. Ignored if it
/// is longer than AS_PATH.
fn merge_as4(as_path: AsPath, as4: AsPath) -> AsPath {
    let (l2, l4) = (as_path.length(), as4.length());
    if l4 > l2 {
        return as_path;
    }
    let mut keep = l2 - l4;
    let mut segments = Vec::new();
    for s in as_path.segments() {
        if keep == 0 {
            break;
        }
        match s {
            AsSegment::Sequence(a) if a.len() as u32 > keep => {
                segments.push(AsSegment::Sequence(a[..keep as usize].into()));
                keep = 0;
            }
            s => {
                keep = keep.saturating_sub(s.path_length());
                segments.push(s.clone());
            }
        }
    }
    segments.extend(as4.segments().iter().cloned());
    AsPath::new(segments)
}

/// The attributes of one UPDATE as they are being read.
#[derive(Default)]
struct Seen {
    origin: Option<Origin>,
    as_path: Option<AsPath>,
    as4_path: Option<AsPath>,
    next_hop: Option<Ipv4Addr>,
    med: Option<u32>,
    local_pref: Option<u32>,
    communities: Vec<u32>,
    large_communities: Vec<[u32; 3]>,
    otc: Option<u32>,
    /// MP_REACH_NLRI: next hop and prefixes.
    mp_reach: Option<(IpAddr, Vec<IpNet>, Family)>,
    mp_unreach: Option<(Vec<IpNet>, Family)>,
    /// Attribute types present (a bitmap over the type byte).
    present: [u64; 4],
}

/// Whether an IPv4 next hop can be a neighbour's address (RFC 4271 §6.3).
fn usable_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
}

/// The flags an attribute known here must have (Optional, Transitive).
fn expected_flags(kind: u8) -> Option<u8> {
    match kind {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Some(TRANSITIVE),
        MED | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH | MP_UNREACH => Some(OPTIONAL),
        AGGREGATOR | COMMUNITIES | AS4_PATH | AS4_AGGREGATOR | LARGE_COMMUNITIES | OTC => {
            Some(OPTIONAL | TRANSITIVE)
        }
        _ => None,
    }
}

/// Reads one attribute's value into `seen`.
fn attribute(
    flags: u8,
    kind: u8,
    value: &[u8],
    whole: &[u8],
    cx: &UpdateContext,
    seen: &mut Seen,
) -> Result<(), Bad> {
    let withdraw = |what: &str| Bad::Withdraw(format!("malformed {what}"));
    let u32_of = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes);
    if let Some(want) = expected_flags(kind) {
        if flags & (OPTIONAL | TRANSITIVE) != want {
            return Err(match kind {
                MP_REACH | MP_UNREACH => Bad::Reset(reset(code::UPDATE_ATTRIBUTE_LENGTH, whole)),
                ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => Bad::Discard,
                _ => Bad::Withdraw(format!("attribute {kind} with flags {flags:#04x}")),
            });
        }
    }
    match kind {
        ORIGIN => match value {
            [0] => seen.origin = Some(Origin::Igp),
            [1] => seen.origin = Some(Origin::Egp),
            [2] => seen.origin = Some(Origin::Incomplete),
            _ => return Err(withdraw("ORIGIN")),
        },
        AS_PATH => {
            let width = if cx.four_octet_as { 4 } else { 2 };
            let path = parse_as_path(value, width).ok_or_else(|| withdraw("AS_PATH"))?;
            if cx.ebgp {
                let confed = path
                    .segments()
                    .iter()
                    .any(|s| matches!(s, AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_)));
                // RFC 4271 §6.3, RFC 7606 §7.2: an external peer's path
                // starts with its own AS.
                let first = match path.segments().first() {
                    Some(AsSegment::Sequence(a)) => a.first().copied(),
                    _ => None,
                };
                if confed || first != Some(cx.peer_as) {
                    return Err(Bad::Withdraw(format!(
                        "AS_PATH {path} does not start with the peer's AS {}",
                        cx.peer_as
                    )));
                }
            }
            seen.as_path = Some(path);
        }
        NEXT_HOP => {
            let a = <[u8; 4]>::try_from(value).map_err(|_| withdraw("NEXT_HOP"))?;
            seen.next_hop = Some(Ipv4Addr::from(a));
        }
        MED => seen.med = Some(u32_of(value).ok_or_else(|| withdraw("MULTI_EXIT_DISC"))?),
        LOCAL_PREF => {
            let v = u32_of(value).ok_or_else(|| withdraw("LOCAL_PREF"))?;
            // RFC 7606 §7.5: from an external peer it is discarded.
            if cx.ebgp {
                return Err(Bad::Discard);
            }
            seen.local_pref = Some(v);
        }
        ATOMIC_AGGREGATE if !value.is_empty() => return Err(Bad::Discard),
        AGGREGATOR if value.len() != if cx.four_octet_as { 8 } else { 6 } => {
            return Err(Bad::Discard)
        }
        AS4_AGGREGATOR if value.len() != 8 => return Err(Bad::Discard),
        COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err(withdraw("COMMUNITIES"));
            }
            seen.communities = value.chunks_exact(4).filter_map(u32_of).collect();
        }
        ORIGINATOR_ID if value.len() != 4 => return Err(withdraw("ORIGINATOR_ID")),
        CLUSTER_LIST if value.is_empty() || !value.len().is_multiple_of(4) => {
            return Err(withdraw("CLUSTER_LIST"))
        }
        LARGE_COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(12) {
                return Err(withdraw("LARGE_COMMUNITY"));
            }
            seen.large_communities = value
                .chunks_exact(12)
                .map(|c| {
                    let word = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                    [word(0), word(4), word(8)]
                })
                .collect();
        }
        // RFC 9234 §5: an OTC of another length is treat-as-withdraw.
        OTC => seen.otc = Some(u32_of(value).ok_or_else(|| withdraw("ONLY_TO_CUSTOMER"))?),
        // RFC 6793 §6 (and 7606 §7.? by reference): a bad AS4_PATH is
        // discarded. A 4-octet speaker's is ignored (§4.1).
        AS4_PATH if !cx.four_octet_as => match parse_as_path(value, 4) {
            Some(p)
                if !p.segments().iter().any(|s| {
                    matches!(s, AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_))
                }) =>
            {
                seen.as4_path = Some(p)
            }
            _ => return Err(Bad::Discard),
        },
        MP_REACH => seen.mp_reach = Some(mp_reach(value, whole)?),
        MP_UNREACH => seen.mp_unreach = Some(mp_unreach(value, whole)?),
        _ if flags & OPTIONAL == 0 && expected_flags(kind).is_none() => {
            return Err(Bad::Reset(reset(
                code::UPDATE_UNRECOGNIZED_WELL_KNOWN,
                whole,
            )))
        }
        // Unknown optional attributes, and known ones we do not use.
        _ => {}
    }
    Ok(())
}

/// MP_REACH_NLRI (RFC 4760 §3): a malformed one resets the session (RFC
/// 7606 §7.11); a family we do not know gives no prefixes.
fn mp_reach(value: &[u8], whole: &[u8]) -> Result<(IpAddr, Vec<IpNet>, Family), Bad> {
    let bad = || Bad::Reset(reset(code::UPDATE_OPTIONAL_ATTRIBUTE, whole));
    let [a, b, safi, nh_len, rest @ ..] = value else {
        return Err(bad());
    };
    let nh_len = usize::from(*nh_len);
    let (Some(nh), Some(nlri)) = (rest.get(..nh_len), rest.get(nh_len + 1..)) else {
        return Err(bad());
    };
    let Some(family) = Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi) else {
        return Ok((
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Vec::new(),
            Family::Ipv4Unicast,
        ));
    };
    let next_hop = match (family, nh.len()) {
        (Family::Ipv4Unicast, 4) => IpAddr::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        (Family::Ipv6Unicast, 16 | 32) => {
            let mut g = [0u8; 16];
            g.copy_from_slice(&nh[..16]);
            IpAddr::V6(Ipv6Addr::from(g))
        }
        _ => return Err(bad()),
    };
    let mut prefixes = Vec::new();
    parse_nlri(nlri, family, &mut prefixes).ok_or_else(bad)?;
    Ok((next_hop, prefixes, family))
}

fn mp_unreach(value: &[u8], whole: &[u8]) -> Result<(Vec<IpNet>, Family), Bad> {
    let bad = || Bad::Reset(reset(code::UPDATE_OPTIONAL_ATTRIBUTE, whole));
    let [a, b, safi, nlri @ ..] = value else {
        return Err(bad());
    };
    let Some(family) = Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi) else {
        return Ok((Vec::new(), Family::Ipv4Unicast));
    };
    let mut prefixes = Vec::new();
    parse_nlri(nlri, family, &mut prefixes).ok_or_else(bad)?;
    Ok((prefixes, family))
}

/// Reads an UPDATE body. `Err` is the NOTIFICATION that resets the
/// session; every other error is handled inside (see [`ParsedUpdate`]).
pub fn parse_update(body: &[u8], cx: &UpdateContext) -> Result<ParsedUpdate, Notification> {
    let list = || reset(code::UPDATE_MALFORMED_ATTRIBUTE_LIST, &[]);
    let [w1, w2, rest @ ..] = body else {
        return Err(list());
    };
    let wlen = usize::from(u16::from_be_bytes([*w1, *w2]));
    let (Some(withdrawn), Some([a1, a2, rest @ ..])) = (rest.get(..wlen), rest.get(wlen..)) else {
        return Err(list());
    };
    let alen = usize::from(u16::from_be_bytes([*a1, *a2]));
    let (Some(mut attrs), Some(nlri)) = (rest.get(..alen), rest.get(alen..)) else {
        return Err(list());
    };
    let invalid = || reset(code::UPDATE_INVALID_NETWORK, &[]);
    let mut out = ParsedUpdate::default();
    parse_nlri(withdrawn, Family::Ipv4Unicast, &mut out.withdrawn).ok_or_else(invalid)?;
    let mut announced = Vec::new();
    parse_nlri(nlri, Family::Ipv4Unicast, &mut announced).ok_or_else(invalid)?;
    if body.len() == 4 {
        out.end_of_rib = Some(Family::Ipv4Unicast);
        return Ok(out);
    }
    let mut seen = Seen::default();
    let mut withdraw_reason = None;
    while !attrs.is_empty() {
        let start = attrs;
        let (flags, kind, value_at) = match attrs {
            [f, t, l1, l2, ..] if f & EXTENDED != 0 => (
                *f,
                *t,
                Some((4, usize::from(u16::from_be_bytes([*l1, *l2])))),
            ),
            [f, t, l, ..] if f & EXTENDED == 0 => (*f, *t, Some((3, usize::from(*l)))),
            [f, t, ..] => (*f, *t, None),
            _ => (0, 0, None),
        };
        let Some(value) = value_at.and_then(|(at, len)| attrs.get(at..at + len)) else {
            // RFC 7606 §4: the attribute overruns the list. The routes can
            // be withdrawn only if every NLRI is known: an MP attribute may
            // hide in what cannot be read.
            if seen.mp_reach.is_some() || seen.mp_unreach.is_some() {
                withdraw_reason = Some(format!("attribute {kind} overruns the list"));
                break;
            }
            return Err(reset(code::UPDATE_ATTRIBUTE_LENGTH, start));
        };
        let (at, len) = value_at.unwrap_or_default();
        let whole = &attrs[..at + len];
        attrs = &attrs[at + len..];
        let word = &mut seen.present[usize::from(kind / 64)];
        if *word & (1 << (kind % 64)) != 0 {
            // RFC 7606 §3 (g): a repeated attribute is discarded, a repeated
            // MP attribute resets the session.
            if matches!(kind, MP_REACH | MP_UNREACH) {
                return Err(list());
            }
            continue;
        }
        *word |= 1 << (kind % 64);
        match attribute(flags, kind, value, whole, cx, &mut seen) {
            Ok(()) => {}
            Err(Bad::Reset(n)) => return Err(n),
            Err(Bad::Discard) => out.discarded.push(kind),
            Err(Bad::Withdraw(why)) => {
                withdraw_reason.get_or_insert(why);
            }
        }
    }
    finish(out, seen, announced, withdraw_reason, cx)
}

/// Puts the attributes read together into announcements (or
/// withdrawals).
fn finish(
    mut out: ParsedUpdate,
    seen: Seen,
    announced: Vec<IpNet>,
    mut withdraw_reason: Option<String>,
    cx: &UpdateContext,
) -> Result<ParsedUpdate, Notification> {
    if let Some((prefixes, family)) = seen.mp_unreach {
        let only = seen.present.iter().map(|w| w.count_ones()).sum::<u32>() == 1;
        if prefixes.is_empty() && only && out.withdrawn.is_empty() && announced.is_empty() {
            out.end_of_rib = Some(family);
            return Ok(out);
        }
        out.withdrawn.extend(prefixes);
    }
    let (mp_hop, mp_prefixes) = match seen.mp_reach {
        Some((hop, prefixes, _)) => (Some(hop), prefixes),
        None => (None, Vec::new()),
    };
    if announced.is_empty() && mp_prefixes.is_empty() {
        return Ok(out);
    }
    // RFC 7606 §3 (d): a missing mandatory attribute withdraws.
    let (origin, as_path) = match (seen.origin, seen.as_path) {
        (Some(o), Some(p)) => (o, p),
        _ => {
            withdraw_reason.get_or_insert("ORIGIN or AS_PATH missing".to_string());
            (Origin::Incomplete, AsPath::default())
        }
    };
    if !announced.is_empty() && !seen.next_hop.is_some_and(usable_v4) {
        withdraw_reason.get_or_insert("NEXT_HOP missing or unusable".to_string());
    }
    if mp_hop.is_some_and(|h| h.is_unspecified() || h.is_multicast() || h.is_loopback()) {
        withdraw_reason.get_or_insert("MP_REACH_NLRI next hop unusable".to_string());
    }
    if let Some(why) = withdraw_reason {
        out.withdrawn.extend(announced);
        out.withdrawn.extend(mp_prefixes);
        out.treat_as_withdraw = Some(why);
        return Ok(out);
    }
    let as_path = match seen.as4_path {
        Some(as4) if !cx.four_octet_as => merge_as4(as_path, as4),
        _ => as_path,
    };
    let attrs = |next_hop: IpAddr| PathAttrs {
        origin,
        as_path: as_path.clone(),
        next_hop,
        med: seen.med,
        local_pref: seen.local_pref,
        communities: seen.communities.clone().into_boxed_slice(),
        large_communities: seen.large_communities.clone().into_boxed_slice(),
        otc: seen.otc,
        blackhole: false,
    };
    if let (Some(hop), false) = (seen.next_hop, announced.is_empty()) {
        out.announced.push(Announcement {
            attrs: attrs(IpAddr::V4(hop)),
            prefixes: announced,
        });
    }
    if let (Some(hop), false) = (mp_hop, mp_prefixes.is_empty()) {
        out.announced.push(Announcement {
            attrs: attrs(hop),
            prefixes: mp_prefixes,
        });
    }
    Ok(out)
}
