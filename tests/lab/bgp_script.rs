//! A scripted BGP peer for the live tests: a plain TCP connection from an
//! address in host B's namespace, speaking hand-built bytes (not
//! ferroute's codec), so a test can send what no real daemon sends
//! (malformed UPDATEs) and read exactly what ferroute answers.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{Host, Lab};

pub const OPEN: u8 = 1;
pub const UPDATE: u8 = 2;
pub const NOTIFICATION: u8 = 3;
pub const KEEPALIVE: u8 = 4;

/// A message: the 16-byte marker, the length, the type, then `body`.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// An UPDATE from its three parts (lengths filled in).
pub fn update(withdrawn: &[u8], attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(nlri);
    message(UPDATE, &body)
}

/// An OPEN for AS `asn` (2-octet), hold time 0 (no keepalives needed
/// while a test takes its time), offering IPv4 and IPv6 unicast (RFC
/// 4760) and 4-octet AS numbers (RFC 6793).
pub fn open(asn: u16, id: Ipv4Addr) -> Vec<u8> {
    let mut caps = Vec::new();
    for afi in [1u8, 2] {
        caps.extend_from_slice(&[1, 4, 0, afi, 0, 1]);
    }
    caps.extend_from_slice(&[65, 4]);
    caps.extend_from_slice(&u32::from(asn).to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&asn.to_be_bytes());
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&id.octets());
    body.push(caps.len() as u8 + 2);
    body.extend_from_slice(&[2, caps.len() as u8]);
    body.extend_from_slice(&caps);
    message(OPEN, &body)
}

/// One established session of the scripted peer.
pub struct ScriptedPeer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl ScriptedPeer {
    /// Connects from `local` (an address of host B) to `remote` port 179
    /// and brings the session up: OPEN both ways, KEEPALIVE both ways.
    pub fn establish(
        lab: &Lab,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        asn: u16,
        limit: Duration,
    ) -> Result<Self, String> {
        let stream = lab
            .enter(Host::B, move || {
                let socket = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM,
                    Some(socket2::Protocol::TCP),
                )?;
                socket.bind(&SocketAddr::from((local, 0)).into())?;
                socket.connect_timeout(&SocketAddr::from((remote, 179)).into(), limit)?;
                Ok::<TcpStream, std::io::Error>(socket.into())
            })
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let mut peer = ScriptedPeer {
            stream,
            buf: Vec::new(),
        };
        peer.send(&open(asn, local));
        match peer.next(limit) {
            Some((OPEN, _)) => {}
            other => return Err(format!("expected an OPEN, got {other:?}")),
        }
        peer.send(&message(KEEPALIVE, &[]));
        match peer.next(limit) {
            Some((KEEPALIVE, _)) => Ok(peer),
            other => Err(format!("expected a KEEPALIVE, got {other:?}")),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        // A reset connection shows in what is read next.
        let _ = self.stream.write_all(bytes);
    }

    /// The next whole message (type, body) within `limit`; `None` on a
    /// timeout or when the connection ends.
    pub fn next(&mut self, limit: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = Instant::now() + limit;
        loop {
            if self.buf.len() >= 19 {
                let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]));
                if len >= 19 && self.buf.len() >= len {
                    let m: Vec<u8> = self.buf.drain(..len).collect();
                    return Some((m[18], m[19..].to_vec()));
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    /// The NOTIFICATION ferroute sends next (code, subcode, data), other
    /// messages skipped; `None` if none comes within `limit`.
    pub fn notification(&mut self, limit: Duration) -> Option<(u8, u8, Vec<u8>)> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.next(deadline.saturating_duration_since(Instant::now()))? {
                (NOTIFICATION, body) if body.len() >= 2 => {
                    return Some((body[0], body[1], body[2..].to_vec()))
                }
                _ => {}
            }
        }
        None
    }

    /// Whether the connection is closed within `limit` (after a
    /// NOTIFICATION).
    pub fn closed(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let mut chunk = [0; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}
