//! BGP path attributes as the decision process needs them, stored once per
//! distinct set and shared: a full table of ~1 M routes carries only a few
//! hundred thousand distinct attribute sets (far fewer from one peer), so each
//! route holds an `Arc` to an interned [`PathAttrs`].

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

/// ORIGIN (RFC 4271 §5.1.1); lower is preferred, in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Igp => "igp",
            Origin::Egp => "egp",
            Origin::Incomplete => "incomplete",
        }
    }
}

/// One AS_PATH segment (RFC 4271 §4.3, RFC 5065 for the confederation kinds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsSegment {
    Sequence(Box<[u32]>),
    Set(Box<[u32]>),
    ConfedSequence(Box<[u32]>),
    ConfedSet(Box<[u32]>),
}

impl AsSegment {
    /// What the segment adds to the path length of §9.1.2.2 (a): every AS of a
    /// sequence, 1 for a set, nothing for confederation segments (RFC 5065 §5.3).
    pub fn path_length(&self) -> u32 {
        match self {
            AsSegment::Sequence(a) => a.len() as u32,
            AsSegment::Set(_) => 1,
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => 0,
        }
    }
}

/// An AS_PATH (already merged with AS4_PATH where the source had both).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    segments: Segments,
}

/// A path's segments. Nearly every path is one AS_SEQUENCE: it is held
/// inline (24 bytes, in room the attribute set's allocation had spare)
/// rather than in a boxed slice of its own: one allocation fewer per
/// attribute set, 32 bytes each from glibc (3.5 MB for a full table's
/// 110,000 sets). Canonical, so that the derived equality and hash hold:
/// `One` for exactly one segment, `Several` for none or more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segments {
    One(AsSegment),
    Several(Box<[AsSegment]>),
}

impl Default for Segments {
    fn default() -> Self {
        Segments::Several(Box::default())
    }
}

impl AsPath {
    pub fn new(mut segments: Vec<AsSegment>) -> Self {
        let segments = match segments.len() {
            1 => Segments::One(segments.pop().expect("one segment")),
            _ => Segments::Several(segments.into_boxed_slice()),
        };
        AsPath { segments }
    }

    /// A path of one AS_SEQUENCE.
    pub fn sequence(asns: &[u32]) -> Self {
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath::new(vec![AsSegment::Sequence(asns.into())])
    }

    pub fn segments(&self) -> &[AsSegment] {
        match &self.segments {
            Segments::One(segment) => std::slice::from_ref(segment),
            Segments::Several(all) => all,
        }
    }

    /// Whether `asn` is anywhere on the path (the loop check of RFC 4271
    /// §9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments().iter().any(|s| match s {
            AsSegment::Sequence(a)
            | AsSegment::Set(a)
            | AsSegment::ConfedSequence(a)
            | AsSegment::ConfedSet(a) => a.contains(&asn),
        })
    }

    /// The path with `asn` in front (what an eBGP speaker sends, §5.1.2).
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut segments = self.segments().to_vec();
        match segments.first_mut() {
            Some(AsSegment::Sequence(a)) if a.len() < 255 => {
                *a = std::iter::once(asn).chain(a.iter().copied()).collect();
            }
            _ => segments.insert(0, AsSegment::Sequence(Box::new([asn]))),
        }
        AsPath::new(segments)
    }

    /// The length compared by the decision process: an AS_SET counts 1,
    /// confederation segments 0.
    pub fn length(&self) -> u32 {
        self.segments().iter().map(AsSegment::path_length).sum()
    }

    /// The AS the route was learnt from, for the MED rule of §9.1.2.2 (c):
    /// the leftmost AS of the path when the path starts with an AS_SEQUENCE
    /// (confederation segments skipped, as most implementations do). `None`
    /// for an empty path (a route originated in our own AS) or one that starts
    /// with an AS_SET; such routes form one group of their own.
    pub fn neighbor_as(&self) -> Option<u32> {
        self.segments()
            .iter()
            .find(|s| !matches!(s, AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_)))
            .and_then(|s| match s {
                AsSegment::Sequence(a) => a.first().copied(),
                _ => None,
            })
    }
}

impl fmt::Display for AsPath {
    /// `64500 64501 {64502,64503}`, confederation segments in `( )` / `[ ]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join =
            |a: &[u32], sep: &str| a.iter().map(u32::to_string).collect::<Vec<_>>().join(sep);
        for (i, s) in self.segments().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match s {
                AsSegment::Sequence(a) => f.write_str(&join(a, " "))?,
                AsSegment::Set(a) => write!(f, "{{{}}}", join(a, ","))?,
                AsSegment::ConfedSequence(a) => write!(f, "({})", join(a, " "))?,
                AsSegment::ConfedSet(a) => write!(f, "[{}]", join(a, ","))?,
            }
        }
        Ok(())
    }
}

impl Serialize for AsPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The attributes of one path that the decision process and `show routes`
/// use. LOCAL_PREF and MED stay optional as received; the decision process
/// applies the defaults ([`DecisionConfig`](super::DecisionConfig)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PathAttrs {
    pub origin: Origin,
    pub as_path: AsPath,
    /// NEXT_HOP, or the MP_REACH_NLRI next hop for IPv6.
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Standard communities (RFC 1997), as received or set by a policy;
    /// not used by the decision.
    pub communities: Box<[u32]>,
    /// Large communities (RFC 8092): global administrator, two local data
    /// parts.
    pub large_communities: Box<[LargeCommunity]>,
    /// ONLY_TO_CUSTOMER (RFC 9234 §5): the AS that marked the route as
    /// going down to customers only.
    pub otc: Option<u32>,
    /// Installed as a blackhole route (RFC 7999): set only by an import
    /// policy, never sent.
    pub blackhole: bool,
}

/// A large community (RFC 8092): `global:local1:local2`.
pub type LargeCommunity = [u32; 3];

/// BLACKHOLE (RFC 7999): 65535:666.
pub const BLACKHOLE: u32 = 0xffff_029a;
/// NO_EXPORT (RFC 1997).
pub const NO_EXPORT: u32 = 0xffff_ff01;

impl PathAttrs {
    /// A path with only the mandatory attributes.
    pub fn new(origin: Origin, as_path: AsPath, next_hop: IpAddr) -> Self {
        PathAttrs {
            origin,
            as_path,
            next_hop,
            med: None,
            local_pref: None,
            communities: Box::default(),
            large_communities: Box::default(),
            otc: None,
            blackhole: false,
        }
    }
}

/// Deduplicates attribute sets: equal sets share one allocation.
#[derive(Debug, Default)]
pub struct AttrInterner {
    sets: HashSet<Arc<PathAttrs>>,
    /// Size after the last [`AttrInterner::collect`], to collect only once the
    /// table has doubled (amortised O(1) per insertion).
    collected_at: usize,
}

impl AttrInterner {
    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttrs) -> Arc<PathAttrs> {
        if let Some(a) = self.sets.get(&attrs) {
            return Arc::clone(a);
        }
        if self.sets.len() >= 2 * self.collected_at.max(4096) {
            self.collect();
        }
        let a = Arc::new(attrs);
        self.sets.insert(Arc::clone(&a));
        a
    }

    /// Forgets the sets no route uses any more.
    pub fn collect(&mut self) {
        self.sets.retain(|a| Arc::strong_count(a) > 1);
        self.collected_at = self.sets.len();
    }

    /// Collects, and gives back the room the table no longer needs: a
    /// full table sent out and withdrawn leaves room for twice its sets.
    pub fn compact(&mut self) {
        self.collect();
        self.sets.shrink_to_fit();
    }

    /// Distinct attribute sets held (some may be unused until the next collection).
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_forgets_unused_sets_and_their_room() {
        let mut interner = AttrInterner::default();
        let addr = "192.0.2.1".parse().unwrap();
        let sets: Vec<_> = (0..20_000)
            .map(|i| interner.intern(PathAttrs::new(Origin::Igp, AsPath::sequence(&[i]), addr)))
            .collect();
        let kept = sets[7].clone();
        let room = interner.sets.capacity();
        drop(sets);
        interner.compact();
        assert_eq!(interner.len(), 1);
        assert!(
            interner.sets.capacity() < room / 100,
            "{} of {room}",
            interner.sets.capacity()
        );
        let again = interner.intern(PathAttrs::new(Origin::Igp, AsPath::sequence(&[7]), addr));
        assert!(Arc::ptr_eq(&kept, &again), "the set in use is still shared");
    }

    /// A one-segment path lives inside the attribute set, whose `Arc`
    /// (two counts and the set) still fits the 120 usable bytes of glibc's
    /// 128-byte chunk; paths compare the same however they were built.
    #[test]
    fn a_one_segment_path_is_held_inline_and_compares_as_built() {
        assert_eq!(size_of::<AsPath>(), 24);
        assert!(2 * size_of::<usize>() + size_of::<PathAttrs>() <= 120);
        let one = AsPath::sequence(&[64500, 64501]);
        assert!(matches!(one.segments, Segments::One(_)));
        assert_eq!(
            one,
            AsPath::new(vec![AsSegment::Sequence(Box::new([64500, 64501]))])
        );
        assert_eq!(one.prepend(64499), AsPath::sequence(&[64499, 64500, 64501]));
        assert_eq!(one.neighbor_as(), Some(64500));
        assert_eq!(AsPath::new(Vec::new()), AsPath::default());
        assert_eq!(AsPath::default().segments(), &[]);
        let two = AsPath::new(vec![
            AsSegment::Sequence(Box::new([1])),
            AsSegment::Set(Box::new([2, 3])),
        ]);
        assert_eq!(two.segments().len(), 2);
        assert_eq!((two.length(), two.to_string()), (2, "1 {2,3}".to_string()));
        assert!(two.contains(3) && !one.contains(3));
    }
}
