//! A small synchronous rtnetlink client: neighbour dumps and lookups, managed
//! neighbour entries, interface lookups by name, and addresses (`address`).
//!
//! Messages are encoded and decoded by `netlink-packet-route`; the sockets are
//! `netlink-sys`'s. Every socket belongs to the network namespace of the thread
//! that opened it, so the daemon opens them from inside the router namespace.

use std::fmt;
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourExtFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::wire::MacAddr;

/// Receive buffer for one `recv`: the kernel never builds a dump datagram
/// larger than 32 KiB, so this always holds a whole one.
pub(super) const RECV_BUFFER: usize = 64 * 1024;

/// How often a dump interrupted by a concurrent change is retried.
const DUMP_ATTEMPTS: usize = 5;

/// The NUD state of a neighbour entry (`NUD_*` bits of `<linux/neighbour.h>`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct NeighborState(pub u16);

impl NeighborState {
    pub const NONE: Self = Self(0x00);
    pub const INCOMPLETE: Self = Self(0x01);
    pub const REACHABLE: Self = Self(0x02);
    pub const STALE: Self = Self(0x04);
    pub const DELAY: Self = Self(0x08);
    pub const PROBE: Self = Self(0x10);
    pub const FAILED: Self = Self(0x20);
    pub const NOARP: Self = Self(0x40);
    pub const PERMANENT: Self = Self(0x80);

    const NAMES: [(Self, &'static str); 8] = [
        (Self::INCOMPLETE, "INCOMPLETE"),
        (Self::REACHABLE, "REACHABLE"),
        (Self::STALE, "STALE"),
        (Self::DELAY, "DELAY"),
        (Self::PROBE, "PROBE"),
        (Self::FAILED, "FAILED"),
        (Self::NOARP, "NOARP"),
        (Self::PERMANENT, "PERMANENT"),
    ];

    /// States in which the entry's link-layer address may be used to send:
    /// STALE, DELAY and PROBE still hold the last confirmed MAC while the
    /// kernel re-verifies it, as the kernel itself keeps sending to it.
    pub fn has_usable_mac(self) -> bool {
        let usable = Self::REACHABLE.0
            | Self::STALE.0
            | Self::DELAY.0
            | Self::PROBE.0
            | Self::NOARP.0
            | Self::PERMANENT.0;
        self.0 & usable != 0
    }

    /// PERMANENT or NOARP: set by an operator (or for addresses that need no
    /// resolution); never ours to convert or delete.
    pub fn is_static(self) -> bool {
        self.0 & (Self::PERMANENT.0 | Self::NOARP.0) != 0
    }
}

impl fmt::Display for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (bit, name) in Self::NAMES {
            if self.0 & bit.0 != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & 0xff00;
        if unknown != 0 {
            write!(f, "{}{unknown:#x}", if first { "" } else { "|" })?;
        }
        Ok(())
    }
}

impl fmt::Debug for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Flags of a neighbour entry as the kernel keeps them internally: the
/// header's `NTF_*` byte in bits 0..8 and the `NDA_FLAGS_EXT` word
/// (`NTF_EXT_*`) shifted left by 8.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct NeighborFlags(pub u32);

impl NeighborFlags {
    pub const PROXY: u32 = 1 << 3;
    pub const EXT_LEARNED: u32 = 1 << 4;
    pub const ROUTER: u32 = 1 << 7;
    /// `NTF_EXT_MANAGED << 8`: the kernel resolves the entry by itself and
    /// keeps it resolved (Linux 5.16+).
    pub const MANAGED: u32 = 1 << 8;

    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    pub fn is_managed(self) -> bool {
        self.contains(Self::MANAGED)
    }
}

/// One entry of the kernel's ARP or NDP table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelNeighbor {
    pub ifindex: u32,
    pub address: IpAddr,
    /// Absent while unresolved (INCOMPLETE, FAILED, NONE) or when the link
    /// address is not a 6-byte MAC.
    pub mac: Option<MacAddr>,
    pub state: NeighborState,
    pub flags: NeighborFlags,
}

/// A change of the kernel's neighbour tables, as the kernel announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborEvent {
    /// An entry was created or changed (state, MAC or flags).
    New(KernelNeighbor),
    /// An entry was removed.
    Deleted(KernelNeighbor),
}

/// Whether an interface can carry packets: administratively up and with
/// carrier (`IFF_UP` and `IFF_LOWER_UP`: a veth whose peer is down has
/// no carrier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub ifindex: u32,
    pub up: bool,
}

/// The state of the link in `msg`.
pub(super) fn link_state(msg: &LinkMessage) -> LinkState {
    let f = msg.header.flags;
    LinkState {
        ifindex: msg.header.index,
        up: f.contains(LinkFlags::Up) && f.contains(LinkFlags::LowerUp),
    }
}

impl NeighborEvent {
    pub fn neighbor(&self) -> &KernelNeighbor {
        match self {
            NeighborEvent::New(n) | NeighborEvent::Deleted(n) => n,
        }
    }
}

/// A network interface as RTM_GETLINK describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// Absent for links without a 6-byte hardware address (loopback has an
    /// all-zero one, which is reported as is).
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
}

/// What [`Rtnl::ensure_managed`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedOutcome {
    /// There was no entry; a managed one was created.
    Created,
    /// A dynamic entry existed; it was made managed (its state and MAC are
    /// kept: the kernel only adds the flag).
    Adopted,
    /// The entry was already managed (by us earlier, or by someone else).
    AlreadyManaged,
    /// A PERMANENT or NOARP entry exists; it was left untouched.
    LeftStatic(KernelNeighbor),
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("rtnetlink {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("rtnetlink {op}: the kernel refused: {source}{hint}")]
    Kernel {
        op: &'static str,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
    #[error("interface {name:?} does not exist in this network namespace")]
    NoSuchInterface { name: String },
    #[error("rtnetlink {op}: undecodable answer: {detail}")]
    Decode { op: &'static str, detail: String },
    #[error("rtnetlink {op}: dump interrupted by concurrent changes {DUMP_ATTEMPTS} times")]
    DumpInterrupted { op: &'static str },
}

impl NetlinkError {
    /// The errno behind the error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Io { source, .. } | NetlinkError::Kernel { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    fn io(op: &'static str) -> impl FnOnce(io::Error) -> NetlinkError {
        move |source| NetlinkError::Io { op, source }
    }
}

/// Decodes every netlink message in one datagram. A message that does not
/// decode is reported as an error in its place; the walk continues with the
/// next one (the header's length says where it starts).
pub(super) fn messages(
    datagram: &[u8],
) -> impl Iterator<Item = Result<NetlinkMessage<RouteNetlinkMessage>, String>> + '_ {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let rest = datagram.get(offset..)?;
        if rest.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 16 || len > rest.len() {
            offset = datagram.len();
            return Some(Err(format!(
                "message length {len} with {} bytes left",
                rest.len()
            )));
        }
        offset += (len + 3) & !3;
        Some(NetlinkMessage::deserialize(&rest[..len]).map_err(|e| e.to_string()))
    })
}

/// The neighbour a kernel message describes; `None` for entries that are not
/// IPv4/IPv6 (bridge FDB entries share the multicast group) or carry no
/// destination.
pub(super) fn kernel_neighbor(msg: &NeighbourMessage) -> Option<KernelNeighbor> {
    let mut address = None;
    let mut mac = None;
    let mut ext = 0u32;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                address = Some(IpAddr::V4(*a))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                address = Some(IpAddr::V6(*a))
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => {
                mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr);
            }
            NeighbourAttribute::ExtFlags(f) => ext = f.bits(),
            _ => {}
        }
    }
    match msg.header.family {
        AddressFamily::Inet | AddressFamily::Inet6 => {}
        _ => return None,
    }
    Some(KernelNeighbor {
        ifindex: msg.header.ifindex,
        address: address?,
        mac,
        state: NeighborState(u16::from(msg.header.state)),
        flags: NeighborFlags(u32::from(msg.header.flags.bits()) | (ext << 8)),
    })
}

fn family(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// A neighbour message addressed at one entry, optionally asking for the
/// managed flag (`ip neigh replace ADDR dev DEV managed` sends exactly this).
pub(super) fn neighbor_request(ifindex: u32, address: IpAddr, managed: bool) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = family(address);
    msg.header.ifindex = ifindex;
    msg.header.state = NeighbourState::None;
    msg.attributes
        .push(NeighbourAttribute::Destination(address.into()));
    if managed {
        msg.attributes
            .push(NeighbourAttribute::ExtFlags(NeighbourExtFlags::Managed));
    }
    msg
}

/// Serializes `inner` with the given header flags and sequence number.
pub(super) fn encode(inner: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(inner));
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// A request/response rtnetlink socket.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Rtnl, NetlinkError> {
        let op = "open";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::io(op))?;
        socket.bind_auto().map_err(NetlinkError::io(op))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::io(op))?;
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Sends one request and collects the answer: every message of a dump,
    /// the single reply of a get, or nothing for an acknowledged change.
    fn transact(
        &mut self,
        op: &'static str,
        request: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        for _ in 0..DUMP_ATTEMPTS {
            match self.transact_once(op, request.clone(), flags)? {
                Some(answer) => return Ok(answer),
                None => continue,
            }
        }
        Err(NetlinkError::DumpInterrupted { op })
    }

    /// `None` when a dump was interrupted and must be repeated.
    fn transact_once(
        &mut self,
        op: &'static str,
        request: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Option<Vec<RouteNetlinkMessage>>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let wants_ack = flags & NLM_F_ACK != 0;
        let bytes = encode(request, flags, seq);
        self.socket.send(&bytes, 0).map_err(NetlinkError::io(op))?;
        let mut answer = Vec::new();
        let mut interrupted = false;
        loop {
            let n = loop {
                match self.socket.recv(&mut &mut self.buf[..], 0) {
                    Ok(n) => break n.min(self.buf.len()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(NetlinkError::Io { op, source: e }),
                }
            };
            for msg in messages(&self.buf[..n]) {
                let msg = msg.map_err(|detail| NetlinkError::Decode { op, detail })?;
                // Answers to an earlier request that was abandoned midway.
                if msg.header.sequence_number != seq {
                    continue;
                }
                interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
                let multipart = msg.header.flags & NLM_F_MULTIPART != 0;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok((!interrupted).then_some(answer)),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(Some(answer)),
                        Some(code) => {
                            let errno = -code.get();
                            return Err(NetlinkError::Kernel {
                                op,
                                source: io::Error::from_raw_os_error(errno),
                                hint: "",
                            });
                        }
                    },
                    NetlinkPayload::InnerMessage(inner) => {
                        answer.push(inner);
                        if !multipart && !wants_ack {
                            return Ok(Some(answer));
                        }
                    }
                    NetlinkPayload::Noop | NetlinkPayload::Overrun(_) => {}
                    _ => {}
                }
            }
        }
    }

    /// Every IPv4 and IPv6 neighbour entry of the namespace (proxy entries
    /// excluded).
    pub fn dump_neighbors(&mut self) -> Result<Vec<KernelNeighbor>, NetlinkError> {
        let request = RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default());
        let answer = self.transact("neighbour dump", request, NLM_F_DUMP)?;
        Ok(answer
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => kernel_neighbor(n),
                _ => None,
            })
            .collect())
    }

    /// The state of every interface of the namespace.
    pub fn dump_links(&mut self) -> Result<Vec<LinkState>, NetlinkError> {
        let request = RouteNetlinkMessage::GetLink(LinkMessage::default());
        let answer = self.transact("link dump", request, NLM_F_DUMP)?;
        Ok(answer
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_state(l)),
                _ => None,
            })
            .collect())
    }

    /// The entry for `address` on `ifindex`, if there is one.
    pub fn get_neighbor(
        &mut self,
        ifindex: u32,
        address: IpAddr,
    ) -> Result<Option<KernelNeighbor>, NetlinkError> {
        let request = RouteNetlinkMessage::GetNeighbour(neighbor_request(ifindex, address, false));
        match self.transact("neighbour get", request, 0) {
            Ok(answer) => Ok(answer.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => kernel_neighbor(n),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the kernel to resolve `address` on `ifindex` and keep it resolved
    /// (a managed entry, `NTF_EXT_MANAGED`), like `ip neigh replace ADDR dev
    /// DEV managed` — except that a PERMANENT or NOARP entry is left alone:
    /// the kernel would silently turn it into a dynamic one.
    pub fn ensure_managed(
        &mut self,
        ifindex: u32,
        address: IpAddr,
    ) -> Result<ManagedOutcome, NetlinkError> {
        // Two rounds: an entry may appear between the look-up and a create.
        for _ in 0..2 {
            let existing = self.get_neighbor(ifindex, address)?;
            let flags = match existing {
                Some(n) if n.state.is_static() => return Ok(ManagedOutcome::LeftStatic(n)),
                Some(n) if n.flags.is_managed() => return Ok(ManagedOutcome::AlreadyManaged),
                // The kernel keeps a dynamic entry's state and MAC and only
                // adds the flag.
                Some(_) => NLM_F_CREATE | NLM_F_ACK,
                // EXCL: never overwrite an entry created meanwhile.
                None => NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
            };
            let request =
                RouteNetlinkMessage::NewNeighbour(neighbor_request(ifindex, address, true));
            match self.transact("managed neighbour", request, flags) {
                Ok(_) if existing.is_some() => return Ok(ManagedOutcome::Adopted),
                Ok(_) => return Ok(ManagedOutcome::Created),
                Err(e) if e.errno() == Some(libc::EEXIST) => continue,
                Err(NetlinkError::Kernel { op, source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL) =>
                {
                    return Err(NetlinkError::Kernel {
                        op,
                        source,
                        hint: " (managed neighbour entries need Linux 5.16 or later)",
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Err(NetlinkError::Kernel {
            op: "managed neighbour",
            source: io::Error::from_raw_os_error(libc::EEXIST),
            hint: " (the entry keeps being re-created concurrently)",
        })
    }

    /// Deletes the entry for `address` on `ifindex` if it is still a managed,
    /// non-static one; returns whether it deleted something.
    pub fn remove_managed(&mut self, ifindex: u32, address: IpAddr) -> Result<bool, NetlinkError> {
        match self.get_neighbor(ifindex, address)? {
            Some(n) if n.flags.is_managed() && !n.state.is_static() => {}
            _ => return Ok(false),
        }
        let request = RouteNetlinkMessage::DelNeighbour(neighbor_request(ifindex, address, false));
        match self.transact("neighbour delete", request, NLM_F_ACK) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The interface called `name`.
    pub fn link_by_name(&mut self, name: &str) -> Result<Link, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let answer = match self.transact("link get", RouteNetlinkMessage::GetLink(msg), 0) {
            Err(e) if e.errno() == Some(libc::ENODEV) => {
                return Err(NetlinkError::NoSuchInterface {
                    name: name.to_string(),
                })
            }
            other => other?,
        };
        let link = answer.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        });
        let Some(link) = link else {
            return Err(NetlinkError::Decode {
                op: "link get",
                detail: format!("no link message in the answer for {name:?}"),
            });
        };
        let mut out = Link {
            ifindex: link.header.index,
            name: name.to_string(),
            mac: None,
            mtu: None,
        };
        for attr in &link.attributes {
            match attr {
                LinkAttribute::IfName(n) => out.name = n.clone(),
                LinkAttribute::Address(bytes) => {
                    out.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr)
                }
                LinkAttribute::Mtu(mtu) => out.mtu = Some(*mtu),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// [`Rtnl::dump_neighbors`] on a fresh socket.
pub fn dump_neighbors() -> Result<Vec<KernelNeighbor>, NetlinkError> {
    Rtnl::open()?.dump_neighbors()
}

/// [`Rtnl::link_by_name`] on a fresh socket.
pub fn link_by_name(name: &str) -> Result<Link, NetlinkError> {
    Rtnl::open()?.link_by_name(name)
}

mod address;

#[cfg(test)]
mod tests;
