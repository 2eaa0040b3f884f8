//! The MRT (RFC 6396) RIB dump reader, the only one: TABLE_DUMP (type 12,
//! one route per record, IPv4 and IPv6) and TABLE_DUMP_V2 (type 13:
//! PEER_INDEX_TABLE, then RIB_IPV4/IPV6_UNICAST records, add-path variants
//! included). Record bodies are parsed by `bgpkit-parser`, which tolerates
//! real dumps' quirks (e.g. attribute flags 0x00 as BIRD 2.0.12 writes
//! them); the framing around them is checked here.
//!
//! It hands each RIB record's prefix and entries (with bgpkit's attributes)
//! to a [`MrtVisitor`], which decides what it keeps: the BGP Adj-RIBs-In
//! convert full path attributes (`control::bgp::mrt`), the table loader
//! only the origin AS ([`super::load_routes`]).
//!
//! Error policy — a dump is read completely before anything is applied, so
//! a table is never half-applied:
//! * the record framing is broken (a header cut short, a record running past
//!   the end of the file): the whole file is rejected ([`MrtFraming`], with
//!   the byte offset and number of the record);
//! * one record's body does not parse, or it is a RIB record before the
//!   peer table: [`MrtVisitor::skip`] is told, with the position;
//! * other record types (BGP4MP update streams, multicast RIBs) are ignored
//!   and counted ([`MrtRead::ignored`]).
//!
//! TABLE_DUMP (v1) carries no BGP identifier: the peer's router id is taken
//! to be its address (0.0.0.0 for IPv6 peers).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bgpkit_parser::models::{
    AsPathSegment, Attributes, MrtMessage, TableDumpMessage, TableDumpV2Message,
};
use ipnet::IpNet;

const HEADER_LEN: usize = 12;
const TABLE_DUMP: u16 = 12;
const TABLE_DUMP_V2: u16 = 13;

/// MRT is binary: a 12-byte header whose type is 12 or 13, and a NUL byte
/// early on, which no text table has.
pub fn looks_like_mrt(data: &[u8]) -> bool {
    data.len() >= HEADER_LEN
        && matches!(
            u16::from_be_bytes([data[4], data[5]]),
            TABLE_DUMP | TABLE_DUMP_V2
        )
        && data[..HEADER_LEN].contains(&0)
}

/// A peer as the dump names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrtPeer {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
}

/// Where a record is: its number (from 0) and the byte offset of its
/// header in the (decompressed) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrtPosition {
    pub record: u64,
    pub offset: usize,
}

/// One peer's route for a record's prefix.
#[derive(Debug, Clone)]
pub struct MrtEntry {
    /// Index into [`MrtRead::peers`]; `None` when a TABLE_DUMP_V2 entry
    /// names a peer index the peer table does not have.
    pub peer: Option<usize>,
    /// The peer index as written (TABLE_DUMP_V2; 0 in TABLE_DUMP).
    pub peer_index: u16,
    pub attributes: Attributes,
}

/// What the reader hands over, record by record, in file order.
pub trait MrtVisitor {
    /// A RIB record: its prefix (truncated to its length) and entries, in
    /// file order. `peers` holds every peer known so far.
    fn rib(&mut self, at: MrtPosition, peers: &[MrtPeer], prefix: IpNet, entries: Vec<MrtEntry>);
    /// A record left out, and why.
    fn skip(&mut self, at: MrtPosition, message: String);
}

/// What a whole dump held, besides what the visitor took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MrtRead {
    pub peers: Vec<MrtPeer>,
    /// Records in the file.
    pub records: u64,
    /// Records of types that carry no RIB (BGP4MP, multicast, ...).
    pub ignored: u64,
}

/// Why a dump was rejected as a whole: its framing is broken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrtFraming {
    pub at: MrtPosition,
    pub message: &'static str,
}

/// Reads every record of a dump in memory, handing RIB records to `visitor`.
pub fn read_mrt_records(data: &[u8], visitor: &mut impl MrtVisitor) -> Result<MrtRead, MrtFraming> {
    let mut reader = Reader::default();
    let mut offset = 0;
    while offset < data.len() {
        let at = MrtPosition {
            record: reader.read.records,
            offset,
        };
        let framing = |message| MrtFraming { at, message };
        let header = data
            .get(offset..offset + HEADER_LEN)
            .ok_or(framing("truncated header"))?;
        let kind = u16::from_be_bytes([header[4], header[5]]);
        let subtype = u16::from_be_bytes([header[6], header[7]]);
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let end = (offset + HEADER_LEN)
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or(framing("record runs past the end of the file"))?;
        reader.record(kind, subtype, &data[offset..end], at, visitor);
        reader.read.records += 1;
        offset = end;
    }
    Ok(reader.read)
}

#[derive(Default)]
struct Reader {
    read: MrtRead,
    by_address: HashMap<IpAddr, usize>,
    /// TABLE_DUMP_V2 peer index -> index in `read.peers`.
    v2_index: Option<HashMap<u16, usize>>,
}

impl Reader {
    fn peer(&mut self, peer: MrtPeer) -> usize {
        *self.by_address.entry(peer.address).or_insert_with(|| {
            self.read.peers.push(peer);
            self.read.peers.len() - 1
        })
    }

    fn record(
        &mut self,
        kind: u16,
        subtype: u16,
        bytes: &[u8],
        at: MrtPosition,
        visitor: &mut impl MrtVisitor,
    ) {
        let wanted = match kind {
            TABLE_DUMP => matches!(subtype, 1 | 2),
            // 1 peer index, 2/4 unicast RIBs, 8/10 their add-path forms.
            TABLE_DUMP_V2 => matches!(subtype, 1 | 2 | 4 | 8 | 10),
            _ => false,
        };
        if !wanted {
            self.read.ignored += 1;
            return;
        }
        let parsed = match bgpkit_parser::parse_mrt_record(&mut &bytes[..]) {
            Ok(r) => r,
            Err(e) => return visitor.skip(at, e.error.to_string()),
        };
        match parsed.message {
            MrtMessage::TableDumpMessage(m) => self.table_dump(m, at, visitor),
            MrtMessage::TableDumpMessageBatch(ms) => {
                for m in ms {
                    self.table_dump(m, at, visitor);
                }
            }
            MrtMessage::TableDumpV2Message(TableDumpV2Message::PeerIndexTable(t)) => {
                let mut index = HashMap::new();
                // In peer-index order, so that peers are numbered as in the file.
                let mut table: Vec<_> = t.id_peer_map.into_iter().collect();
                table.sort_unstable_by_key(|(id, _)| *id);
                for (id, p) in table {
                    let peer = MrtPeer {
                        address: p.peer_ip,
                        asn: p.peer_asn.to_u32(),
                        router_id: p.peer_bgp_id,
                    };
                    index.insert(id, self.peer(peer));
                }
                self.v2_index = Some(index);
            }
            MrtMessage::TableDumpV2Message(TableDumpV2Message::RibAfi(rib)) => {
                let Some(index) = &self.v2_index else {
                    return visitor.skip(at, "RIB record before the peer table".into());
                };
                let entries = rib
                    .rib_entries
                    .into_iter()
                    .map(|e| MrtEntry {
                        peer: index.get(&e.peer_index).copied(),
                        peer_index: e.peer_index,
                        attributes: e.attributes,
                    })
                    .collect();
                visitor.rib(at, &self.read.peers, rib.prefix.prefix.trunc(), entries);
            }
            _ => self.read.ignored += 1,
        }
    }

    fn table_dump(&mut self, m: TableDumpMessage, at: MrtPosition, visitor: &mut impl MrtVisitor) {
        let router_id = match m.peer_ip {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let peer = self.peer(MrtPeer {
            address: m.peer_ip,
            asn: m.peer_asn.to_u32(),
            router_id,
        });
        let entry = MrtEntry {
            peer: Some(peer),
            peer_index: 0,
            attributes: m.attributes,
        };
        visitor.rib(at, &self.read.peers, m.prefix.prefix.trunc(), vec![entry]);
    }
}

/// The origin AS of a route: the last AS of the last non-empty segment of
/// its AS_PATH attribute (AS4_PATH is not merged in), if it has one.
pub fn origin_as(attributes: &Attributes) -> Option<u32> {
    attributes
        .as_path()?
        .iter_segments()
        .rev()
        .find_map(|s| match s {
            AsPathSegment::AsSequence(v)
            | AsPathSegment::AsSet(v)
            | AsPathSegment::ConfedSequence(v)
            | AsPathSegment::ConfedSet(v) => v.last(),
        })
        .map(|a| a.to_u32())
}
