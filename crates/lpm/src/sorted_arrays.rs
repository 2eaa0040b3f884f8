//! Pieces of the sorted-arrays-plus-overlay maps that the trie's route
//! record and the control plane's prefix maps both are: the bucket index
//! that lets a lookup in a million sorted keys read one pair of bounds
//! (from a 256 KiB table) and binary-search the few keys sharing its
//! leading 16 bits, instead of twenty dependent probes across the whole
//! array; and the merge of the arrays with the overlay's changes.

/// Leading key bits a bucket stands for.
pub const BUCKET_BITS: u32 = 16;
/// Arrays shorter than this are searched whole (no index kept).
const INDEXED_MIN: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct BucketIndex {
    /// `start[b]`: the first key in bucket `b` or above (`2^BUCKET_BITS +
    /// 1` entries), or empty for short arrays.
    start: Vec<u32>,
}

impl BucketIndex {
    /// The index of `keys`, sorted so that `bucket` never decreases along
    /// them; `bucket` gives a key's leading `BUCKET_BITS` bits.
    pub fn build<K>(keys: &[K], bucket: impl Fn(&K) -> usize) -> Self {
        if keys.len() < INDEXED_MIN {
            return BucketIndex::default();
        }
        let mut start = Vec::with_capacity((1 << BUCKET_BITS) + 1);
        let mut i = 0;
        for b in 0..=(1usize << BUCKET_BITS) {
            while i < keys.len() && bucket(&keys[i]) < b {
                i += 1;
            }
            start.push(i as u32);
        }
        BucketIndex { start }
    }

    /// The range of an array of `len` keys (the one indexed) that can hold
    /// keys of bucket `b`.
    #[inline]
    pub fn bounds(&self, b: usize, len: usize) -> (usize, usize) {
        match self.start.get(b..=b + 1) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            _ => (0, len),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.start.capacity() * 4
    }
}

/// The entries of `array` with the changes of `overlay` (both sorted by
/// key) applied: an overlay entry replaces the array's for its key, and
/// `None` removes it (an array entry may be `None` only where the overlay
/// has its key).
pub fn merge_changes<K: Ord, V>(
    array: impl Iterator<Item = (K, Option<V>)>,
    overlay: impl Iterator<Item = (K, Option<V>)>,
) -> impl Iterator<Item = (K, V)> {
    let (mut array, mut overlay) = (array.peekable(), overlay.peekable());
    std::iter::from_fn(move || loop {
        let order = match (array.peek(), overlay.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(o)) => a.0.cmp(&o.0),
        };
        let next = match order {
            std::cmp::Ordering::Less => array.next(),
            std::cmp::Ordering::Greater => overlay.next(),
            std::cmp::Ordering::Equal => {
                array.next();
                overlay.next()
            }
        };
        if let Some((k, Some(v))) = next {
            return Some((k, v));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_exactly_the_buckets_keys() {
        let keys: Vec<u32> = (0..20_000u32)
            .map(|i| i * 7919 % 200_000 * 21_000)
            .collect();
        let mut keys = keys;
        keys.sort_unstable();
        let bucket = |k: &u32| (k >> 16) as usize;
        let index = BucketIndex::build(&keys, bucket);
        for (i, k) in keys.iter().enumerate() {
            let (lo, hi) = index.bounds(bucket(k), keys.len());
            assert!(lo <= i && i < hi);
            assert!(keys[lo..hi].iter().all(|x| bucket(x) == bucket(k)));
        }
        let small = BucketIndex::build(&keys[..10], bucket);
        assert_eq!(small.bounds(3, 10), (0, 10));
    }

    #[test]
    fn changes_replace_add_and_remove() {
        let array = [(1, Some('a')), (2, None), (3, Some('c')), (5, Some('e'))];
        let overlay = [
            (0, Some('z')),
            (2, None),
            (3, Some('C')),
            (4, Some('d')),
            (5, None),
        ];
        let merged: Vec<_> = merge_changes(array.into_iter(), overlay.into_iter()).collect();
        assert_eq!(merged, [(0, 'z'), (1, 'a'), (3, 'C'), (4, 'd')]);
    }
}
