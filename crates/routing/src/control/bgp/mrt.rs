//! MRT (RFC 6396) RIB dumps into Adj-RIBs-In: the records come from the one
//! MRT reader, [`crate::tables::mrt`] (its error policy applies: a broken
//! framing rejects the file, an unparsable record is skipped and counted);
//! here each route's attributes become [`PathAttrs`]. A route that is
//! unusable (no next hop, unknown peer index) is skipped and counted too
//! ([`MrtDump::skipped`]; the first [`SKIP_SAMPLES`] are kept with their
//! offsets for the operator). Standard and large communities are kept as
//! a session's would be (an import policy may match them; extended
//! communities are not read).

use std::path::{Path, PathBuf};

use bgpkit_parser::models::{AsPathSegment as KitSegment, Attributes, Community, MetaCommunity};
use ipnet::IpNet;

use super::adj_rib_in::{BgpError, BgpRib, BgpUpdate, RouteChange};
use super::attrs::{AsPath, AsSegment, Origin, PathAttrs};
use super::peer::{Peer, PeerId};
use crate::control::rib::route::NextHopResolver;
use crate::tables::mrt::{read_mrt_records, MrtEntry, MrtPosition, MrtVisitor};
use crate::tables::{read_maybe_gzip, LoadError};

pub use crate::tables::mrt::MrtPeer;

/// How many skipped records/routes are kept with their position.
pub const SKIP_SAMPLES: usize = 16;

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
    let mut dump = MrtDump::default();
    let read =
        read_mrt_records(data, &mut dump).map_err(|f| (f.at.record, f.at.offset, f.message))?;
    dump.peers = read.peers;
    dump.records = read.records;
    dump.ignored = read.ignored;
    Ok(dump)
}

impl MrtVisitor for MrtDump {
    fn rib(&mut self, at: MrtPosition, _: &[MrtPeer], prefix: IpNet, entries: Vec<MrtEntry>) {
        let mut bad = Vec::new();
        for e in entries {
            let Some(peer) = e.peer else {
                bad.push(format!("{prefix}: unknown peer index {}", e.peer_index));
                continue;
            };
            match convert(prefix, &e.attributes) {
                Ok(attrs) => self.routes.push(MrtRoute {
                    peer,
                    prefix,
                    attrs,
                }),
                Err(m) => bad.push(m),
            }
        }
        for m in bad {
            self.skip(at, m);
        }
    }

    fn skip(&mut self, at: MrtPosition, message: String) {
        self.skipped += 1;
        if self.skip_samples.len() < SKIP_SAMPLES {
            self.skip_samples.push(MrtSkip {
                record: at.record,
                offset: at.offset,
                message,
            });
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
    let mut attrs = PathAttrs::new(origin, as_path, next_hop);
    attrs.med = a.multi_exit_discriminator();
    attrs.local_pref = a.local_preference();
    let (mut communities, mut large) = (Vec::new(), Vec::new());
    for c in a.iter_communities() {
        match c {
            MetaCommunity::Plain(c) => communities.push(community(c)),
            MetaCommunity::Large(l) => {
                large.push([l.global_admin, l.local_data[0], l.local_data[1]])
            }
            MetaCommunity::Extended(_) | MetaCommunity::Ipv6Extended(_) => {}
        }
    }
    attrs.communities = communities.into_boxed_slice();
    attrs.large_communities = large.into_boxed_slice();
    Ok(attrs)
}

/// A standard community as its 32-bit value (RFC 1997), as a session's
/// COMMUNITIES attribute gives it.
fn community(c: Community) -> u32 {
    match c {
        Community::NoExport => 0xffff_ff01,
        Community::NoAdvertise => 0xffff_ff02,
        Community::NoExportSubConfed => 0xffff_ff03,
        Community::Custom(asn, value) => (asn.to_u32() << 16) | u32::from(value),
    }
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
