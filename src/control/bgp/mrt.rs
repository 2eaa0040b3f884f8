//! MRT (RFC 6396) RIB dumps into Adj-RIBs-In: TABLE_DUMP (type 12, one route
//! per record, IPv4 and IPv6) and TABLE_DUMP_V2 (type 13: PEER_INDEX_TABLE,
//! then RIB_IPV4/IPV6_UNICAST records, add-path variants included), read with
//! `bgpkit-parser`, which tolerates real dumps' quirks (e.g. attribute flags
//! 0x00 as BIRD 2.0.12 writes them).
//!
//! Error policy — the file is parsed completely before anything is applied,
//! so a table is never half-applied:
//! * the record framing is broken (a header cut short, a record running past
//!   the end of the file): the whole file is rejected ([`MrtError`], with the
//!   byte offset and number of the record);
//! * one record's body does not parse, or a route in it is unusable (no next
//!   hop, unknown peer index, RIB record before the peer table): that record
//!   or route is skipped and counted ([`MrtDump::skipped`]; the first
//!   [`SKIP_SAMPLES`] are kept with their offsets for the operator);
//! * other record types (BGP4MP update streams, multicast RIBs) are ignored
//!   and counted ([`MrtDump::ignored`]).
//!
//! TABLE_DUMP (v1) carries no BGP identifier: the peer's router id is taken
//! to be its address (0.0.0.0 for IPv6 peers). Communities are not read yet.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use bgpkit_parser::models::{
    AsPathSegment as KitSegment, Attributes, MrtMessage, TableDumpV2Message,
};
use ipnet::IpNet;

use super::adj_rib_in::{BgpError, BgpRib, BgpUpdate, RouteChange};
use super::attrs::{AsPath, AsSegment, Origin, PathAttrs};
use super::peer::{Peer, PeerId};
use crate::control::rib::route::NextHopResolver;
use crate::lpm::load::{read_maybe_gzip, LoadError};

const HEADER_LEN: usize = 12;
const TABLE_DUMP: u16 = 12;
const TABLE_DUMP_V2: u16 = 13;
/// How many skipped records/routes are kept with their position.
pub const SKIP_SAMPLES: usize = 16;

/// A peer as the dump names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrtPeer {
    pub address: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
}

/// One RIB entry: `peer` indexes [`MrtDump::peers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrtRoute {
    pub peer: usize,
    pub prefix: IpNet,
    pub attrs: PathAttrs,
}

/// A record or route left out, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrtSkip {
    /// 0-based number of the record in the file.
    pub record: u64,
    /// Byte offset of the record's header in the (decompressed) file.
    pub offset: usize,
    pub message: String,
}

/// A whole dump, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MrtDump {
    pub peers: Vec<MrtPeer>,
    pub routes: Vec<MrtRoute>,
    /// Records in the file.
    pub records: u64,
    /// Records or routes skipped as malformed or unusable.
    pub skipped: u64,
    pub skip_samples: Vec<MrtSkip>,
    /// Records of types that carry no RIB (BGP4MP, multicast, ...).
    pub ignored: u64,
}

/// Why a dump was rejected as a whole.
#[derive(Debug, thiserror::Error)]
pub enum MrtError {
    #[error(transparent)]
    Read(#[from] LoadError),
    #[error("{path}: MRT record {record} at byte {offset}: {message}; file rejected")]
    Framing {
        path: PathBuf,
        record: u64,
        offset: usize,
        message: &'static str,
    },
}

/// Reads an MRT RIB dump (gzip or not).
pub fn read_mrt(path: impl AsRef<Path>) -> Result<MrtDump, MrtError> {
    let path = path.as_ref();
    let data = read_maybe_gzip(path)?;
    parse_mrt(&data).map_err(|(record, offset, message)| MrtError::Framing {
        path: path.to_owned(),
        record,
        offset,
        message,
    })
}

/// Parses a dump in memory; a framing error is `(record, offset, message)`.
pub fn parse_mrt(data: &[u8]) -> Result<MrtDump, (u64, usize, &'static str)> {
    let mut p = DumpBuilder::default();
    let mut offset = 0;
    while offset < data.len() {
        let record = p.dump.records;
        let header =
            data.get(offset..offset + HEADER_LEN)
                .ok_or((record, offset, "truncated header"))?;
        let kind = u16::from_be_bytes([header[4], header[5]]);
        let subtype = u16::from_be_bytes([header[6], header[7]]);
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let end = (offset + HEADER_LEN)
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or((record, offset, "record runs past the end of the file"))?;
        p.record(kind, subtype, &data[offset..end], record, offset);
        p.dump.records += 1;
        offset = end;
    }
    Ok(p.dump)
}

#[derive(Default)]
struct DumpBuilder {
    dump: MrtDump,
    by_address: HashMap<IpAddr, usize>,
    /// TABLE_DUMP_V2 peer index -> index in `dump.peers`.
    v2_index: Option<HashMap<u16, usize>>,
}

impl DumpBuilder {
    fn skip(&mut self, record: u64, offset: usize, message: String) {
        self.dump.skipped += 1;
        if self.dump.skip_samples.len() < SKIP_SAMPLES {
            self.dump.skip_samples.push(MrtSkip {
                record,
                offset,
                message,
            });
        }
    }

    fn peer(&mut self, peer: MrtPeer) -> usize {
        *self.by_address.entry(peer.address).or_insert_with(|| {
            self.dump.peers.push(peer);
            self.dump.peers.len() - 1
        })
    }

    fn record(&mut self, kind: u16, subtype: u16, bytes: &[u8], record: u64, offset: usize) {
        let wanted = match kind {
            TABLE_DUMP => matches!(subtype, 1 | 2),
            // 1 peer index, 2/4 unicast RIBs, 8/10 their add-path forms.
            TABLE_DUMP_V2 => matches!(subtype, 1 | 2 | 4 | 8 | 10),
            _ => false,
        };
        if !wanted {
            self.dump.ignored += 1;
            return;
        }
        let parsed = match bgpkit_parser::parse_mrt_record(&mut &bytes[..]) {
            Ok(r) => r,
            Err(e) => return self.skip(record, offset, e.error.to_string()),
        };
        match parsed.message {
            MrtMessage::TableDumpMessage(m) => self.table_dump(vec![m], record, offset),
            MrtMessage::TableDumpMessageBatch(ms) => self.table_dump(ms, record, offset),
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
                    return self.skip(record, offset, "RIB record before the peer table".into());
                };
                let prefix = rib.prefix.prefix.trunc();
                let mut bad = Vec::new();
                for e in rib.rib_entries {
                    let Some(&peer) = index.get(&e.peer_index) else {
                        bad.push(format!("{prefix}: unknown peer index {}", e.peer_index));
                        continue;
                    };
                    match convert(prefix, &e.attributes) {
                        Ok(attrs) => self.dump.routes.push(MrtRoute {
                            peer,
                            prefix,
                            attrs,
                        }),
                        Err(m) => bad.push(m),
                    }
                }
                for m in bad {
                    self.skip(record, offset, m);
                }
            }
            _ => self.dump.ignored += 1,
        }
    }

    fn table_dump(
        &mut self,
        messages: Vec<bgpkit_parser::models::TableDumpMessage>,
        record: u64,
        offset: usize,
    ) {
        for m in messages {
            let router_id = match m.peer_ip {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let peer = self.peer(MrtPeer {
                address: m.peer_ip,
                asn: m.peer_asn.to_u32(),
                router_id,
            });
            let prefix = m.prefix.prefix.trunc();
            match convert(prefix, &m.attributes) {
                Ok(attrs) => self.dump.routes.push(MrtRoute {
                    peer,
                    prefix,
                    attrs,
                }),
                Err(message) => self.skip(record, offset, message),
            }
        }
    }
}

/// bgpkit's attributes to ours; a route without a next hop is unusable.
fn convert(prefix: IpNet, a: &Attributes) -> Result<PathAttrs, String> {
    let mp_next_hop = a
        .get_reachable_nlri()
        .and_then(|n| n.next_hop.as_ref())
        .map(|n| n.addr());
    let next_hop = match prefix {
        IpNet::V4(_) => a.next_hop().or(mp_next_hop),
        IpNet::V6(_) => mp_next_hop.or(a.next_hop()),
    }
    .ok_or_else(|| format!("{prefix}: no next hop"))?;
    let as_path = a
        .effective_as_path()
        .map(|p| {
            AsPath::new(
                p.iter_segments()
                    .map(|s| {
                        let asns = |v: &[bgpkit_parser::models::Asn]| {
                            v.iter().map(|a| a.to_u32()).collect::<Box<[u32]>>()
                        };
                        match s {
                            KitSegment::AsSequence(v) => AsSegment::Sequence(asns(v)),
                            KitSegment::AsSet(v) => AsSegment::Set(asns(v)),
                            KitSegment::ConfedSequence(v) => AsSegment::ConfedSequence(asns(v)),
                            KitSegment::ConfedSet(v) => AsSegment::ConfedSet(asns(v)),
                        }
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    let origin = match a.origin() {
        bgpkit_parser::models::Origin::IGP => Origin::Igp,
        bgpkit_parser::models::Origin::EGP => Origin::Egp,
        bgpkit_parser::models::Origin::INCOMPLETE => Origin::Incomplete,
    };
    Ok(PathAttrs {
        origin,
        as_path,
        next_hop,
        med: a.multi_exit_discriminator(),
        local_pref: a.local_preference(),
        communities: Box::default(),
    })
}

/// What loading a dump added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrtLoad {
    /// The RIB's id of each of [`MrtDump::peers`], in order.
    pub peers: Vec<PeerId>,
    pub routes: u64,
}

impl BgpRib {
    /// The RIB's id of each of the dump's peers, adding the new ones (kind
    /// from `local_as`).
    fn mrt_peers(&mut self, dump: &MrtDump, local_as: u32) -> Result<Vec<PeerId>, BgpError> {
        let mut peers = Vec::with_capacity(dump.peers.len());
        for p in &dump.peers {
            let id = match self.peer_by_address(p.address) {
                Some(id) => id,
                None => self.add_peer(Peer::new(p.address, p.asn, p.router_id, local_as))?,
            };
            peers.push(id);
        }
        Ok(peers)
    }

    /// Applies a parsed dump: its peers are added (kind from `local_as`), or
    /// reused when a peer with the same address exists; then every route is
    /// announced. Nothing is applied if a peer cannot be added.
    pub fn load_mrt(
        &mut self,
        dump: MrtDump,
        local_as: u32,
        resolver: &dyn NextHopResolver,
        mut sink: impl FnMut(RouteChange),
    ) -> Result<MrtLoad, BgpError> {
        let peers = self.mrt_peers(&dump, local_as)?;
        let mut routes = 0;
        for r in dump.routes {
            let update = BgpUpdate {
                peer: peers[r.peer],
                prefix: r.prefix,
                attrs: Some(self.intern(r.attrs)),
            };
            match self.apply(update, resolver)? {
                RouteChange::Unchanged => {}
                c => sink(c),
            }
            routes += 1;
        }
        Ok(MrtLoad { peers, routes })
    }

    /// [`BgpRib::load_mrt`] without a decision per route, for a first load
    /// ([`BgpRib::insert_bulk`]): [`BgpRib::rerun_all`] must follow, and
    /// decides every prefix once.
    pub fn load_mrt_bulk(&mut self, dump: MrtDump, local_as: u32) -> Result<MrtLoad, BgpError> {
        let peers = self.mrt_peers(&dump, local_as)?;
        let mut routes = Vec::with_capacity(dump.routes.len());
        for r in dump.routes {
            // The dump's peer indices were checked when it was parsed.
            let Some(&peer) = peers.get(r.peer) else {
                continue;
            };
            routes.push((peer, r.prefix, self.intern(r.attrs)));
        }
        let routes = self.insert_bulk(routes)?;
        Ok(MrtLoad { peers, routes })
    }
}
