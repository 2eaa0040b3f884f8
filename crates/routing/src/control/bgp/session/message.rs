//! BGP-4 messages other than UPDATE (RFC 4271 §4): the header and its
//! framing, OPEN with capabilities (RFC 5492: multiprotocol RFC 4760,
//! route refresh RFC 2918, 4-octet AS RFC 6793), KEEPALIVE, NOTIFICATION
//! and ROUTE-REFRESH. Everything here reads bytes a peer sent: every length
//! is checked before it is used, and a malformed message becomes the
//! [`Notification`] RFC 4271 §6 says to answer with, never a panic.
//!
//! Hand-written rather than taken from a codec crate: the session needs
//! each error as the exact NOTIFICATION code, subcode and data, and UPDATE
//! needs per-attribute decisions (RFC 7606); netgauze-bgp-pkt and
//! bgpkit-parser fail a message as a whole on an attribute error.

use std::net::Ipv4Addr;

/// The fixed header: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// The largest message without the extended-message capability (RFC 8654).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// AS_TRANS (RFC 6793): the 2-octet stand-in for a 4-octet AS.
pub const AS_TRANS: u16 = 23456;

pub const OPEN: u8 = 1;
pub const UPDATE: u8 = 2;
pub const NOTIFICATION: u8 = 3;
pub const KEEPALIVE: u8 = 4;
pub const ROUTE_REFRESH: u8 = 5;

/// The BGP Role capability's code (RFC 9234 §4.1).
pub const ROLE_CAPABILITY: u8 = 9;

/// An address family the speaker exchanges routes of (AFI/SAFI unicast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
        }
    }

    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
        }
    }

    /// The family of a prefix.
    pub fn of(prefix: &ipnet::IpNet) -> Family {
        match prefix {
            ipnet::IpNet::V4(_) => Family::Ipv4Unicast,
            ipnet::IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }
}

/// A NOTIFICATION (RFC 4271 §4.5), sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// Error codes (RFC 4271 §4.5) and the subcodes the session uses.
pub mod code {
    pub const HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;
    pub const ROUTE_REFRESH: u8 = 7;

    pub const HEADER_NOT_SYNCHRONIZED: u8 = 1;
    pub const HEADER_BAD_LENGTH: u8 = 2;
    pub const HEADER_BAD_TYPE: u8 = 3;

    pub const OPEN_UNSUPPORTED_VERSION: u8 = 1;
    pub const OPEN_BAD_PEER_AS: u8 = 2;
    pub const OPEN_BAD_BGP_ID: u8 = 3;
    pub const OPEN_UNSUPPORTED_PARAMETER: u8 = 4;
    pub const OPEN_UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// RFC 9234 §4.2: the neighbours' roles do not pair (or, in strict
    /// mode, the neighbour announced none).
    pub const OPEN_ROLE_MISMATCH: u8 = 11;

    pub const UPDATE_MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    pub const UPDATE_UNRECOGNIZED_WELL_KNOWN: u8 = 2;
    pub const UPDATE_ATTRIBUTE_LENGTH: u8 = 5;
    pub const UPDATE_OPTIONAL_ATTRIBUTE: u8 = 9;
    pub const UPDATE_INVALID_NETWORK: u8 = 10;

    /// RFC 6608: an unexpected message in OpenSent, OpenConfirm,
    /// Established.
    pub const FSM_IN_OPEN_SENT: u8 = 1;
    pub const FSM_IN_OPEN_CONFIRM: u8 = 2;
    pub const FSM_IN_ESTABLISHED: u8 = 3;

    /// Cease subcodes (RFC 4486).
    pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
    pub const CEASE_PEER_DECONFIGURED: u8 = 3;
    pub const CEASE_ADMIN_RESET: u8 = 4;
    pub const CEASE_CONNECTION_REJECTED: u8 = 5;
    pub const CEASE_COLLISION: u8 = 7;

    /// RFC 7313: a ROUTE-REFRESH of bad length.
    pub const ROUTE_REFRESH_BAD_LENGTH: u8 = 1;
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    pub fn cease(subcode: u8) -> Self {
        Notification::new(code::CEASE, subcode, Vec::new())
    }

    /// The message on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let data = &self.data[..self.data.len().min(MAX_MESSAGE_LEN - HEADER_LEN - 2)];
        let mut out = header(NOTIFICATION, 2 + data.len());
        out.extend_from_slice(&[self.code, self.subcode]);
        out.extend_from_slice(data);
        out
    }

    /// Reads a received NOTIFICATION's body (never fails: a short body
    /// gives code 0).
    pub fn parse(body: &[u8]) -> Self {
        match body {
            [c, s, data @ ..] => Notification::new(*c, *s, data.to_vec()),
            _ => Notification::new(0, 0, body.to_vec()),
        }
    }

    /// `code/subcode (name)`, for `show` and logs.
    pub fn describe(&self) -> String {
        let name = match (self.code, self.subcode) {
            (code::HEADER, _) => "message header error",
            (code::OPEN, code::OPEN_BAD_PEER_AS) => "OPEN: bad peer AS",
            (code::OPEN, code::OPEN_UNACCEPTABLE_HOLD_TIME) => "OPEN: unacceptable hold time",
            (code::OPEN, code::OPEN_BAD_BGP_ID) => "OPEN: bad BGP identifier",
            (code::OPEN, code::OPEN_ROLE_MISMATCH) => "OPEN: role mismatch",
            (code::OPEN, _) => "OPEN message error",
            (code::UPDATE, _) => "UPDATE message error",
            (code::HOLD_TIMER_EXPIRED, _) => "hold timer expired",
            (code::FSM, _) => "finite state machine error",
            (code::CEASE, code::CEASE_ADMIN_SHUTDOWN) => "cease: administrative shutdown",
            (code::CEASE, code::CEASE_PEER_DECONFIGURED) => "cease: peer de-configured",
            (code::CEASE, code::CEASE_ADMIN_RESET) => "cease: administrative reset",
            (code::CEASE, code::CEASE_CONNECTION_REJECTED) => "cease: connection rejected",
            (code::CEASE, code::CEASE_COLLISION) => "cease: connection collision resolution",
            (code::CEASE, _) => "cease",
            (code::ROUTE_REFRESH, _) => "ROUTE-REFRESH message error",
            _ => "unknown error",
        };
        format!("{}/{} ({name})", self.code, self.subcode)
    }
}

/// A message header for a body of `body_len` bytes.
pub fn header(kind: u8, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body_len);
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&((HEADER_LEN + body_len) as u16).to_be_bytes());
    out.push(kind);
    out
}

/// Patches the length field of a message built with [`header`].
pub(super) fn set_length(message: &mut [u8]) {
    let len = message.len() as u16;
    message[16..18].copy_from_slice(&len.to_be_bytes());
}

/// The next whole message at the start of a stream buffer: its type and
/// length, `None` while it is incomplete, or the header error to answer
/// with (RFC 4271 §6.1).
pub fn frame(buf: &[u8]) -> Result<Option<(u8, usize)>, Notification> {
    if buf.len() < HEADER_LEN {
        // A broken marker is reported as soon as it is seen.
        if buf.iter().take(16).any(|&b| b != 0xff) {
            return Err(Notification::new(
                code::HEADER,
                code::HEADER_NOT_SYNCHRONIZED,
                Vec::new(),
            ));
        }
        return Ok(None);
    }
    if buf[..16].iter().any(|&b| b != 0xff) {
        return Err(Notification::new(
            code::HEADER,
            code::HEADER_NOT_SYNCHRONIZED,
            Vec::new(),
        ));
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    let kind = buf[18];
    let min = match kind {
        OPEN => 29,
        UPDATE => 23,
        NOTIFICATION => 21,
        KEEPALIVE => HEADER_LEN,
        ROUTE_REFRESH => 23,
        _ => {
            return Err(Notification::new(
                code::HEADER,
                code::HEADER_BAD_TYPE,
                vec![kind],
            ))
        }
    };
    let bad = len < min || len > MAX_MESSAGE_LEN || (kind == KEEPALIVE && len != HEADER_LEN);
    if bad {
        return Err(Notification::new(
            code::HEADER,
            code::HEADER_BAD_LENGTH,
            buf[16..18].to_vec(),
        ));
    }
    Ok((buf.len() >= len).then_some((kind, len)))
}

pub fn keepalive() -> Vec<u8> {
    header(KEEPALIVE, 0)
}

/// What an OPEN says (ours or the peer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The speaker's AS: the 4-octet AS capability's if present, else the
    /// 2-octet field.
    pub asn: u32,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Capabilities,
}

/// The capabilities the session knows (RFC 5492); others are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Multiprotocol families announced (RFC 4760), known ones only.
    pub families: Vec<Family>,
    /// Whether any multiprotocol capability was present (without one,
    /// IPv4 unicast is implied).
    pub multiprotocol: bool,
    pub route_refresh: bool,
    pub four_octet_as: Option<u32>,
    /// Graceful restart (RFC 4724), if announced.
    pub graceful_restart: Option<GracefulRestart>,
    /// The BGP Role capability's value (RFC 9234 §4.1), if announced.
    pub role: Option<u8>,
    /// The Role capability came more than once with different values
    /// (a role mismatch, §4.2).
    pub role_conflict: bool,
}

/// The graceful restart capability: how long to wait for the speaker to
/// come back, and the families whose routes to keep meanwhile (with
/// whether it kept its forwarding state for each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Seconds (12 bits).
    pub restart_time: u16,
    pub families: Vec<(Family, bool)>,
}

impl Capabilities {
    /// The families the speaker exchanges: the announced ones, or IPv4
    /// unicast if it announced none.
    pub fn effective_families(&self) -> Vec<Family> {
        if self.multiprotocol {
            self.families.clone()
        } else {
            vec![Family::Ipv4Unicast]
        }
    }
}

impl Open {
    pub fn encode(&self) -> Vec<u8> {
        let mut caps = Vec::new();
        let mut cap = |code: u8, value: &[u8]| {
            caps.extend_from_slice(&[code, value.len() as u8]);
            caps.extend_from_slice(value);
        };
        for f in &self.capabilities.families {
            let (afi, safi) = f.afi_safi();
            let [a, b] = afi.to_be_bytes();
            cap(1, &[a, b, 0, safi]);
        }
        if self.capabilities.route_refresh {
            cap(2, &[]);
        }
        if let Some(gr) = &self.capabilities.graceful_restart {
            let mut value = (gr.restart_time & 0x0fff).to_be_bytes().to_vec();
            for (f, forwarding) in &gr.families {
                let (afi, safi) = f.afi_safi();
                value.extend_from_slice(&afi.to_be_bytes());
                value.extend_from_slice(&[safi, if *forwarding { 0x80 } else { 0 }]);
            }
            cap(64, &value);
        }
        if let Some(asn) = self.capabilities.four_octet_as {
            cap(65, &asn.to_be_bytes());
        }
        if let Some(role) = self.capabilities.role {
            cap(ROLE_CAPABILITY, &[role]);
        }
        let two_octet = u16::try_from(self.asn).unwrap_or(AS_TRANS);
        let mut out = header(OPEN, 10 + 2 + caps.len());
        out.push(4);
        out.extend_from_slice(&two_octet.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.router_id.octets());
        // One optional parameter (type 2) holding every capability.
        out.push(2 + caps.len() as u8);
        out.extend_from_slice(&[2, caps.len() as u8]);
        out.extend_from_slice(&caps);
        out
    }

    /// Reads an OPEN body; the errors are those of RFC 4271 §6.2 that
    /// depend on the message alone (the session checks the AS, identifier
    /// and hold time against its configuration).
    pub fn parse(body: &[u8]) -> Result<Open, Notification> {
        let open_err = |sub: u8, data: Vec<u8>| Notification::new(code::OPEN, sub, data);
        let length_err = || {
            let len = ((HEADER_LEN + body.len()) as u16).to_be_bytes().to_vec();
            Notification::new(code::HEADER, code::HEADER_BAD_LENGTH, len)
        };
        if body.len() < 10 {
            return Err(length_err());
        }
        if body[0] != 4 {
            return Err(open_err(code::OPEN_UNSUPPORTED_VERSION, vec![0, 4]));
        }
        let my_as = u16::from_be_bytes([body[1], body[2]]);
        let hold_time = u16::from_be_bytes([body[3], body[4]]);
        let router_id = Ipv4Addr::new(body[5], body[6], body[7], body[8]);
        let params_len = usize::from(body[9]);
        let Some(params) = body
            .get(10..10 + params_len)
            .filter(|_| body.len() == 10 + params_len)
        else {
            return Err(length_err());
        };
        let mut capabilities = Capabilities::default();
        let mut rest = params;
        while !rest.is_empty() {
            let [kind, len, tail @ ..] = rest else {
                return Err(length_err());
            };
            let Some(value) = tail.get(..usize::from(*len)) else {
                return Err(length_err());
            };
            rest = &tail[usize::from(*len)..];
            if *kind != 2 {
                return Err(open_err(code::OPEN_UNSUPPORTED_PARAMETER, Vec::new()));
            }
            parse_capabilities(value, &mut capabilities).ok_or_else(length_err)?;
        }
        Ok(Open {
            asn: capabilities.four_octet_as.unwrap_or(u32::from(my_as)),
            hold_time,
            router_id,
            capabilities,
        })
    }
}

/// Capabilities of one optional parameter into `caps`; `None` if a length
/// overruns.
fn parse_capabilities(mut value: &[u8], caps: &mut Capabilities) -> Option<()> {
    while !value.is_empty() {
        let [code, len, tail @ ..] = value else {
            return None;
        };
        let body = tail.get(..usize::from(*len))?;
        value = &tail[usize::from(*len)..];
        match (code, body) {
            (1, [a, b, _, safi]) => {
                caps.multiprotocol = true;
                let f = Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi);
                if let Some(f) = f.filter(|f| !caps.families.contains(f)) {
                    caps.families.push(f);
                }
            }
            (2, []) | (128, []) => caps.route_refresh = true,
            (65, [a, b, c, d]) => caps.four_octet_as = Some(u32::from_be_bytes([*a, *b, *c, *d])),
            (&ROLE_CAPABILITY, [role]) => {
                caps.role_conflict |= caps.role.is_some_and(|r| r != *role);
                caps.role = Some(*role);
            }
            (64, [a, b, rest @ ..]) => {
                let families = rest
                    .chunks_exact(4)
                    .filter_map(|c| {
                        let f = Family::from_afi_safi(u16::from_be_bytes([c[0], c[1]]), c[2])?;
                        Some((f, c[3] & 0x80 != 0))
                    })
                    .collect();
                caps.graceful_restart = Some(GracefulRestart {
                    restart_time: u16::from_be_bytes([*a, *b]) & 0x0fff,
                    families,
                });
            }
            // Unknown, or a known one of the wrong length: ignored
            // (RFC 5492 §3).
            _ => {}
        }
    }
    Some(())
}

/// A ROUTE-REFRESH (RFC 2918) for `family`.
pub fn route_refresh(family: Family) -> Vec<u8> {
    let (afi, safi) = family.afi_safi();
    let mut out = header(ROUTE_REFRESH, 4);
    out.extend_from_slice(&afi.to_be_bytes());
    out.extend_from_slice(&[0, safi]);
    out
}

/// A received ROUTE-REFRESH's family: `Ok(None)` for one we do not
/// exchange (ignored, RFC 2918 §4), an error for a bad length (RFC 7313
/// §5).
pub fn parse_route_refresh(body: &[u8]) -> Result<Option<Family>, Notification> {
    match body {
        [a, b, _, safi] => Ok(Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi)),
        _ => {
            // The data is the whole message.
            let mut data = header(ROUTE_REFRESH, body.len());
            data.extend_from_slice(body);
            Err(Notification::new(
                code::ROUTE_REFRESH,
                code::ROUTE_REFRESH_BAD_LENGTH,
                data,
            ))
        }
    }
}
