//! The class of a key (an address or a port) from the sorted intervals the
//! rules' prefixes or port ranges cut the key space into.
//!
//! A direct index on the key's top bits (about two blocks per interval, up
//! to 16,384 blocks of 4 bytes: 64 KiB, cache-resident beside a FIB that
//! is not) says where the starts inside the key's block are; those at or
//! below the key are counted with a fixed-width scan (no branch depends on
//! the key; a binary search in the rare block holding more than 8), and
//! the class of the last start at or below the key is the answer (the one
//! before the block's own when it has none that low). Per lookup: two
//! adjacent index entries, then (at once) one or two lines of starts and
//! the line of classes the answer is on. An earlier cut used the FIB's own trie per field, whose
//! 2^18-entry direct table missed the cache on every random address (the
//! profile put ~60 % of the ACL stage's time on those two loads).

/// An unsigned key the index can cut into blocks by its top bits.
pub(super) trait IntervalKey: Copy + Ord + Default + std::fmt::Debug {
    const BITS: u32;
    const MAX: Self;
    /// The key's top bits above `shift` (0 when `shift` is the width).
    fn block(self, shift: u32) -> usize;
    /// The first key of block `b`.
    fn block_start(b: usize, shift: u32) -> Self;
}

macro_rules! interval_key {
    ($($t:ty),*) => {$(
        impl IntervalKey for $t {
            const BITS: u32 = <$t>::BITS;
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn block(self, shift: u32) -> usize {
                self.checked_shr(shift).unwrap_or(0) as usize
            }
            fn block_start(b: usize, shift: u32) -> Self {
                (b as $t).checked_shl(shift).unwrap_or(0)
            }

        }
    )*};
}
interval_key!(u16, u32, u128);

/// Starts counted with a fixed-width scan (a 32-byte half line of u32s);
/// a block holding more is searched.
const SCAN: usize = 8;

/// Sorted intervals covering the key space, each with a class.
#[derive(Debug, Clone)]
pub(super) struct Intervals<K> {
    /// `K::BITS` minus the index's bits.
    shift: u32,
    /// The class of every key when there is only one.
    only: Option<u32>,
    /// Where each block's starts begin in `starts`, plus one past the end.
    blocks: Box<[u32]>,
    /// Interval starts, ascending (the first is key 0), then [`SCAN`]
    /// entries of padding.
    starts: Box<[K]>,
    /// `classes[i]` holds from `starts[i]` to the next start.
    classes: Box<[u32]>,
}

impl<K: IntervalKey> Intervals<K> {
    /// From `(start, class)` pairs with ascending starts, the first at key
    /// 0. The index has about two blocks per interval, more (up to
    /// `2^max_bits`) while over 1/16 of the starts sit in blocks too
    /// crowded for the fixed-width scan.
    pub(super) fn new(segments: &[(K, u32)], max_bits: u32) -> Intervals<K> {
        // `class` relies on this: every key has a start at or below it.
        assert!(segments.first().is_some_and(|s| s.0 == K::default()));
        debug_assert!(segments.windows(2).all(|w| w[0].0 < w[1].0));
        let max_bits = max_bits.min(K::BITS);
        let mut bits = (segments.len().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros()
            .min(max_bits);
        while bits < max_bits && crowded(segments, K::BITS - bits) * 16 > segments.len() {
            bits += 1;
        }
        let shift = K::BITS - bits;
        let blocks = (0..=1usize << bits)
            .map(|b| match b == 1 << bits {
                true => segments.len() as u32,
                false => {
                    let start = K::block_start(b, shift);
                    segments.partition_point(|s| s.0 < start) as u32
                }
            })
            .collect();
        let starts = segments.iter().map(|s| s.0).chain([K::MAX; SCAN]);
        let classes = segments.iter().map(|s| s.1);
        Intervals {
            shift,
            only: (segments.len() == 1).then(|| segments[0].1),
            blocks,
            starts: starts.take(segments.len() + SCAN).collect(),
            classes: classes.collect(),
        }
    }

    /// The class of the interval holding `key`.
    #[inline(always)]
    pub(super) fn class(&self, key: K) -> u32 {
        if let Some(class) = self.only {
            return class;
        }
        let b = key.block(self.shift);
        debug_assert!(b + 1 < self.blocks.len());
        // SAFETY: `b` is the key's top `bits` bits, below 2^bits, and
        // `blocks` holds 2^bits + 1 entries (`new`).
        let (lo, hi) = unsafe {
            (
                *self.blocks.get_unchecked(b) as usize,
                *self.blocks.get_unchecked(b + 1) as usize,
            )
        };
        debug_assert!(lo <= hi && hi <= self.classes.len() && !self.classes.is_empty());
        // Read now, while the starts are on their way: the class of a key
        // below the block's own starts, and the line the answer is usually
        // on (the loads overlap instead of following one another).
        // SAFETY: `lo` is at most the number of intervals (`blocks` counts
        // starts), which is at least one, so the index is below it.
        let before = unsafe { *self.classes.get_unchecked(lo.max(1) - 1) };
        let len = hi - lo;
        let n = if len <= SCAN {
            debug_assert!(lo + SCAN <= self.starts.len());
            // SAFETY: `starts` has SCAN entries of padding after the last
            // interval's start, and `lo` is at most the number of intervals.
            let window: &[K; SCAN] = unsafe { &*self.starts.as_ptr().add(lo).cast() };
            // Starts past the block's are above the key (they are in later
            // blocks) except the padding when the key is the largest: the
            // count is capped at the block's.
            let below = window.iter().map(|&s| (s <= key) as u32).sum::<u32>();
            (below as usize).min(len)
        } else {
            self.starts[lo..hi].partition_point(|&s| s <= key)
        };
        // With none at or below the key, the key is in the interval of the
        // last start before the block (there is one: the first start is
        // key 0, in block 0).
        debug_assert!((lo + n).max(1) - 1 < self.classes.len());
        // SAFETY: n <= len, so lo + n - 1 < hi <= the number of intervals
        // (for n = 0, `lo.max(1) - 1` as above).
        let last = unsafe { *self.classes.get_unchecked((lo + n).max(1) - 1) };
        if n == 0 {
            before
        } else {
            last
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.blocks.len() * 4
            + self.starts.len() * std::mem::size_of::<K>()
            + self.classes.len() * 4
    }
}

/// How many starts sit in blocks (of `shift` low bits) holding more than
/// the scan's width.
fn crowded<K: IntervalKey>(segments: &[(K, u32)], shift: u32) -> usize {
    let mut crowded = 0;
    let mut i = 0;
    while i < segments.len() {
        let block = segments[i].0.block(shift);
        let n = segments[i..]
            .iter()
            .take_while(|s| s.0.block(shift) == block)
            .count();
        if n > SCAN {
            crowded += n;
        }
        i += n;
    }
    crowded
}

/// The `(start, class)` intervals of nested-or-disjoint prefixes: each
/// address gets the class of the longest prefix holding it, 0 when none
/// does. `prefixes` are `(network, last address, class)`, sorted by network
/// then length (a prefix before the ones inside it). Adjacent intervals of
/// one class are merged.
pub(super) fn prefix_intervals<K: IntervalKey + PrefixEnd>(
    prefixes: impl Iterator<Item = (K, K, u32)>,
) -> Vec<(K, u32)> {
    let mut out: Vec<(K, u32)> = vec![(K::default(), 0)];
    // Open prefixes, innermost last: (last address, class).
    let mut open: Vec<(K, u32)> = Vec::new();
    let close_before = |out: &mut Vec<(K, u32)>, open: &mut Vec<(K, u32)>, net: Option<K>| {
        while let Some(&(last, _)) = open.last() {
            if net.is_some_and(|n| last >= n) {
                break;
            }
            open.pop();
            if let Some(after) = last.next() {
                push(out, after, open.last().map_or(0, |o| o.1));
            }
        }
    };
    for (net, last, class) in prefixes {
        close_before(&mut out, &mut open, Some(net));
        open.push((last, class));
        push(&mut out, net, class);
    }
    close_before(&mut out, &mut open, None);
    out
}

/// Appends an interval from `start`, replacing one that started there too
/// and dropping it when it continues the class before it.
fn push<K: Ord + Copy>(out: &mut Vec<(K, u32)>, start: K, class: u32) {
    if out.last().is_some_and(|l| l.0 == start) {
        out.pop();
    }
    if out.last().is_none_or(|l| l.1 != class) {
        out.push((start, class));
    }
}

/// The key after this one, if any.
pub(super) trait PrefixEnd: Sized {
    fn next(self) -> Option<Self>;
}

impl PrefixEnd for u32 {
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl PrefixEnd for u128 {
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class of `key` by the plain definition: the last start ≤ key.
    fn reference(segments: &[(u32, u32)], key: u32) -> u32 {
        segments
            .iter()
            .rev()
            .find(|s| s.0 <= key)
            .map_or(0, |s| s.1)
    }

    #[test]
    fn every_key_finds_its_interval_across_block_edges() {
        // Starts on, just before and just after block edges, a crowded
        // block (binary search) and the last key.
        let mut segments: Vec<(u32, u32)> = vec![(0, 0), (0x1000_0000, 1), (0x1000_0001, 2)];
        segments.extend((0..40).map(|i| (0x2000_0000 + i * 16, 3 + i % 5)));
        segments.extend([(0x3fff_ffff, 9), (0x4000_0000, 10), (u32::MAX, 11)]);
        for max_bits in [0, 1, 4, 12] {
            let index = Intervals::new(&segments, max_bits);
            for &(s, _) in &segments {
                for key in [s.wrapping_sub(1), s, s.saturating_add(1)] {
                    assert_eq!(index.class(key), reference(&segments, key), "{key:#x}");
                }
            }
            assert_eq!(index.class(0x9000_0000), 10);
        }
    }

    #[test]
    fn one_interval_is_one_class_everywhere() {
        let index = Intervals::new(&[(0u16, 7)], 8);
        assert_eq!(index.class(0), 7);
        assert_eq!(index.class(u16::MAX), 7);
    }

    #[test]
    fn nested_prefixes_give_the_longest_their_class() {
        // 10/8 (1), 10.1/16 (2), 10.1.2/24 (3), 10.255/16 ending with 10/8 (4),
        // 0/0 (5) and the last /32 (6).
        let p = |a: [u8; 4], len: u32, class| {
            let net = u32::from_be_bytes(a);
            (net, net | (u32::MAX.checked_shr(len).unwrap_or(0)), class)
        };
        let mut prefixes = [
            p([0, 0, 0, 0], 0, 5),
            p([10, 0, 0, 0], 8, 1),
            p([10, 1, 0, 0], 16, 2),
            p([10, 1, 2, 0], 24, 3),
            p([10, 255, 0, 0], 16, 4),
            p([255, 255, 255, 255], 32, 6),
        ];
        prefixes.sort_by_key(|&(net, last, _)| (net, std::cmp::Reverse(last)));
        let segments = prefix_intervals(prefixes.into_iter());
        let index = Intervals::new(&segments, 12);
        let at = |a: [u8; 4]| index.class(u32::from_be_bytes(a));
        assert_eq!(at([9, 255, 255, 255]), 5);
        assert_eq!(at([10, 0, 0, 0]), 1);
        assert_eq!(at([10, 1, 1, 255]), 2);
        assert_eq!(at([10, 1, 2, 0]), 3);
        assert_eq!(at([10, 1, 2, 255]), 3);
        assert_eq!(at([10, 1, 3, 0]), 2);
        assert_eq!(at([10, 2, 0, 0]), 1);
        assert_eq!(at([10, 255, 255, 255]), 4);
        assert_eq!(at([11, 0, 0, 0]), 5);
        assert_eq!(at([255, 255, 255, 254]), 5);
        assert_eq!(at([255, 255, 255, 255]), 6);
        // Without a default, addresses outside every prefix are class 0.
        let segments = prefix_intervals(prefixes[1..5].iter().copied());
        let index = Intervals::new(&segments, 3);
        assert_eq!(index.class(u32::from_be_bytes([11, 0, 0, 0])), 0);
        assert_eq!(index.class(u32::from_be_bytes([10, 255, 0, 1])), 4);
        assert_eq!(index.class(0), 0);
    }

    /// Prefixes from a few /8s with lengths that nest and crowd blocks.
    fn arb_prefix() -> impl proptest::strategy::Strategy<Value = (u32, u8)> {
        use proptest::prelude::*;
        (
            prop_oneof![Just(0u32), Just(10), Just(192), Just(255)],
            any::<u32>(),
            prop_oneof![0u8..=8, 8u8..=24, 24u8..=32],
        )
            .prop_map(|(top, low, len)| {
                let addr = top << 24 | (low & 0x00ff_ffff);
                (
                    addr & u32::MAX.checked_shl(32 - len as u32).unwrap_or(0),
                    len,
                )
            })
    }

    proptest::proptest! {
        /// Random prefixes, each with its own class: every address near
        /// their edges and at random gets the longest holding prefix's.
        #[test]
        fn the_index_answers_the_longest_holding_prefix(
            mut prefixes in proptest::collection::vec(arb_prefix(), 0..300),
            keys in proptest::collection::vec(proptest::prelude::any::<u32>(), 50),
            max_bits in 0u32..=14,
        ) {
            prefixes.sort_unstable();
            prefixes.dedup();
            let last = |net: u32, len: u8| net | u32::MAX.checked_shr(len as u32).unwrap_or(0);
            let segments = prefix_intervals(
                prefixes.iter().enumerate().map(|(i, &(n, l))| (n, last(n, l), i as u32 + 1)),
            );
            let index = Intervals::new(&segments, max_bits);
            let reference = |key: u32| {
                prefixes
                    .iter()
                    .enumerate()
                    .filter(|(_, &(n, l))| n <= key && key <= last(n, l))
                    .max_by_key(|(_, &(_, l))| l)
                    .map_or(0, |(i, _)| i as u32 + 1)
            };
            let edges = prefixes.iter().flat_map(|&(n, l)| {
                [n.wrapping_sub(1), n, last(n, l), last(n, l).wrapping_add(1)]
            });
            for key in edges.chain(keys) {
                proptest::prop_assert_eq!(index.class(key), reference(key), "{:#x}", key);
            }
        }
    }
}
