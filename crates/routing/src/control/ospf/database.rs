//! The OSPF link-state database of area 0: every LSA by its key, with the
//! time it was installed so that its age advances without rewriting it,
//! the comparison of two instances (§13.1), and the view SPF reads
//! ([`Database::to_linkstate`]).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::wire::lsa::{self, LsaHeader, LsaKey};
use super::wire::Version;
use crate::control::hash::FastMap;

/// MaxAge (seconds).
pub const MAX_AGE: u16 = 3600;
/// MaxAgeDiff.
pub const MAX_AGE_DIFF: u16 = 900;
/// LSRefreshTime.
pub const LS_REFRESH_TIME: u16 = 1800;
/// InitialSequenceNumber and MaxSequenceNumber.
pub const INITIAL_SEQUENCE: i32 = 0x8000_0001_u32 as i32;
pub const MAX_SEQUENCE: i32 = 0x7fff_ffff;
/// LSAs held at most: beyond, new ones are dropped and counted (a
/// neighbour cannot make the database grow without bound).
pub const MAX_LSAS: usize = 200_000;

/// One LSA as held.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The whole LSA; its age field is the age it had when installed.
    pub bytes: Vec<u8>,
    pub installed: Instant,
    /// Flooded at MaxAge already (aged out here, or flushed).
    pub max_age_flooded: bool,
    pub version: Version,
    /// For an LSA of link-local flooding scope (OSPFv3): the interface id
    /// of this router's interface on that link; it is flooded there only.
    pub link: Option<u32>,
}

impl Entry {
    pub fn header(&self) -> LsaHeader<&[u8]> {
        LsaHeader::checked_in(self.version, &self.bytes[..]).expect("held LSAs are checked")
    }

    /// The age now (§14: it grows by one per second held).
    pub fn age(&self, now: Instant) -> u16 {
        let held = now.saturating_duration_since(self.installed).as_secs();
        let age = u64::from(self.header().age()) + held;
        age.min(u64::from(MAX_AGE)) as u16
    }

    pub fn sequence(&self) -> i32 {
        self.header().sequence()
    }

    /// The LSA as it is sent now: its age advanced by `delay` seconds
    /// (InfTransDelay), at most MaxAge.
    pub fn to_send(&self, now: Instant, delay: u16) -> Vec<u8> {
        let mut out = self.bytes.clone();
        let age = self.age(now).saturating_add(delay).min(MAX_AGE);
        out[0..2].copy_from_slice(&age.to_be_bytes());
        out
    }

    /// The 20-byte header with the current age.
    pub fn header_now(&self, now: Instant) -> [u8; lsa::HEADER_LEN] {
        let mut h = [0; lsa::HEADER_LEN];
        h.copy_from_slice(&self.bytes[..lsa::HEADER_LEN]);
        h[0..2].copy_from_slice(&self.age(now).to_be_bytes());
        h
    }
}

/// The instance-identifying fields of an LSA header (§13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    pub sequence: i32,
    pub checksum: u16,
    pub age: u16,
}

impl Instance {
    pub fn of<T: AsRef<[u8]>>(h: &LsaHeader<T>) -> Self {
        Instance {
            sequence: h.sequence(),
            checksum: h.checksum(),
            age: h.age().min(MAX_AGE),
        }
    }

    /// Which of two instances of one LSA is newer (§13.1): `Greater`
    /// when `self` is.
    pub fn compare(&self, other: &Instance) -> Ordering {
        match self.sequence.cmp(&other.sequence) {
            Ordering::Equal => {}
            o => return o,
        }
        match self.checksum.cmp(&other.checksum) {
            Ordering::Equal => {}
            o => return o,
        }
        match (self.age == MAX_AGE, other.age == MAX_AGE) {
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        if self.age.abs_diff(other.age) > MAX_AGE_DIFF {
            // The younger is newer.
            return other.age.cmp(&self.age);
        }
        Ordering::Equal
    }
}

/// The database.
#[derive(Debug, Clone, Default)]
pub struct Database {
    version: Version,
    entries: FastMap<LsaKey, Entry>,
    /// Bumped when an LSA SPF reads changes (router and network LSAs).
    generation: u64,
}

impl Database {
    /// An OSPFv2 database.
    pub fn new() -> Self {
        Self::of(Version::V2)
    }

    pub fn of(version: Version) -> Self {
        Database {
            version,
            entries: HashMap::with_hasher(Default::default()),
            generation: 0,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn get(&self, key: &LsaKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn get_mut(&mut self, key: &LsaKey) -> Option<&mut Entry> {
        self.entries.get_mut(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The held instance of `key` as of `now`.
    pub fn instance(&self, key: &LsaKey, now: Instant) -> Option<Instance> {
        let e = self.entries.get(key)?;
        let h = e.header();
        Some(Instance {
            sequence: h.sequence(),
            checksum: h.checksum(),
            age: e.age(now),
        })
    }

    /// Installs a whole, checked LSA (§13.2); false when the database is
    /// full and the key new. A change of contents (not of age alone)
    /// bumps the generation: every LS type now feeds the routing table
    /// (router and network LSAs SPF, summary and AS-external LSAs the
    /// routes built on it).
    pub fn install(&mut self, bytes: Vec<u8>, now: Instant) -> bool {
        self.install_on(bytes, now, None)
    }

    /// [`Database::install`] for an LSA whose flooding scope is the link
    /// `link` (an interface id of this router), or wider (`None`).
    pub fn install_on(&mut self, bytes: Vec<u8>, now: Instant, link: Option<u32>) -> bool {
        let Ok(view) = LsaHeader::lsa_in(self.version, &bytes[..]) else {
            return false;
        };
        let key = view.key();
        let changed = match self.entries.get(&key) {
            None => {
                if self.entries.len() >= MAX_LSAS {
                    return false;
                }
                true
            }
            Some(old) => {
                let was_max = old.age(now) == MAX_AGE;
                let is_max = view.age() >= MAX_AGE;
                old.bytes[2..] != bytes[2..] || was_max != is_max
            }
        };
        let max_age_flooded = view.age() >= MAX_AGE;
        self.entries.insert(
            key,
            Entry {
                bytes,
                installed: now,
                max_age_flooded,
                version: self.version,
                link,
            },
        );
        if changed {
            self.generation += 1;
        }
        true
    }

    /// Removes `key` (a MaxAge LSA no neighbour still needs).
    pub fn remove(&mut self, key: &LsaKey) -> Option<Entry> {
        let e = self.entries.remove(key)?;
        self.generation += 1;
        Some(e)
    }

    /// Every LSA, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&LsaKey, &Entry)> + '_ {
        self.entries.iter()
    }

    /// The keys in database order (type, id, advertising router).
    pub fn sorted_keys(&self) -> Vec<LsaKey> {
        let mut keys: Vec<LsaKey> = self.entries.keys().copied().collect();
        keys.sort_unstable();
        keys
    }

    /// The LSAs advertised by `router`.
    pub fn advertised_by(&self, router: Ipv4Addr) -> Vec<LsaKey> {
        let mut keys: Vec<LsaKey> = self
            .entries
            .keys()
            .filter(|k| k.adv_router == router)
            .copied()
            .collect();
        keys.sort_unstable();
        keys
    }
}
