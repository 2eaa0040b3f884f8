//! IPv6 batches with AVX-512: the lanes of `simd.rs` over IPv6 addresses,
//! with the top index's step (`top.rs`) for their first two node levels,
//! the routed regions, and the shared and sparse walks.

use std::any::TypeId;
use std::arch::x86_64::*;
use std::net::Ipv6Addr;

use super::lookup::answer;
use super::simd::{ranks64, store_answers, store_none, walk_lanes, Codes, V, W};
use super::top::{PAIR, PAIRS, TOP_BITS, TOP_LEVELS};
use super::{Key, LEAF, OFFSET, REGION};
use crate::{MaybeNextHop, NextHopId};

/// The upper 64 bits of 16 addresses as two vectors of 32-bit words (bits
/// 0..32, 32..64); lanes past `a` hold 0. `Ipv6Addr`s (what the tables
/// take) are read four to a vector and their bytes rearranged: converting
/// them one by one (a load, a byte swap and a store each) was a third of a
/// batch's work on traffic that ends in the direct array.
///
/// # Safety
/// The CPU has the features enabled here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
#[inline]
unsafe fn upper_words<T: Copy + Into<u128> + 'static>(a: &[T]) -> (__m512i, __m512i) {
    if TypeId::of::<T>() == TypeId::of::<Ipv6Addr>() && a.len() >= W {
        let p: *const u8 = a.as_ptr().cast();
        // Per 128-bit lane (one address): word 0 = bytes 0..4 and word 1
        // = bytes 4..8, each as a big-endian number; the rest zero.
        let swap = _mm512_broadcast_i32x4(_mm_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, -1, -1, -1, -1, -1, -1, -1, -1,
        ));
        // SAFETY: `T` is `Ipv6Addr` (just checked), 16 bytes in network
        // order (checked at compile time above), and `a` holds at least
        // 16 of them: 256 bytes, read as four unaligned vectors.
        let s = unsafe {
            [0, 1, 2, 3]
                .map(|k| _mm512_shuffle_epi8(_mm512_loadu_si512(p.add(64 * k).cast()), swap))
        };
        // Words 0 and 1 of each lane of two vectors: eight addresses'
        // top words, then their next words.
        let pick = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        let t01 = _mm512_permutex2var_epi32(s[0], pick, s[1]);
        let t23 = _mm512_permutex2var_epi32(s[2], pick, s[3]);
        let tops = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        let nexts = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        return (
            _mm512_permutex2var_epi32(t01, tops, t23),
            _mm512_permutex2var_epi32(t01, nexts, t23),
        );
    }
    let mut top = [0u32; W];
    let mut next = [0u32; W];
    for ((t, n), &x) in top.iter_mut().zip(&mut next).zip(a) {
        let hi = (x.into() >> 64) as u64;
        (*t, *n) = ((hi >> 32) as u32, hi as u32);
    }
    // SAFETY: 16 u32 each (64 bytes); unaligned loads.
    unsafe {
        (
            _mm512_loadu_si512(top.as_ptr().cast()),
            _mm512_loadu_si512(next.as_ptr().cast()),
        )
    }
}

/// IPv6 batches of 64 with at most this many addresses in routed regions
/// look those up one by one and answer the rest "no route" outright.
const SPARSE: usize = 4;
/// Words of `Trie::routed` (a bit per region of `REGION` direct entries).
const ROUTED_WORDS: usize = (1 << <u128 as Key>::DIRECT) / REGION / 64;
/// Address bits that name a region (12: a bit per /12).
const REGION_BITS: u32 = <u128 as Key>::DIRECT as u32 - REGION.trailing_zeros();
// `Regions::routed` picks among exactly eight vectors (128 words of 32 bits).
const _: () = assert!(ROUTED_WORDS == 64 && REGION_BITS == 12);

/// `Trie::routed` (4096 bits, a bit per /12): which lanes' addresses fall
/// in a region of the direct array that holds a route or a node. Read
/// from memory at each use (512 bytes, in L1; held in eight registers
/// across the batch instead, it measured the same).
#[derive(Clone, Copy)]
struct Regions<'a> {
    words: &'a [u64; ROUTED_WORDS],
}

impl<'a> Regions<'a> {
    fn new(routed: &'a [u64]) -> Option<Self> {
        Some(Self {
            words: routed.try_into().ok()?,
        })
    }

    /// The lanes whose address (`top`: its bits 0..32) lies in a routed
    /// region: bit r % 32 of 32-bit word r / 32 of the table, r = the top
    /// 12 bits (two-source permutes pick the word among 32, blends among
    /// the four pairs).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
    #[inline]
    fn routed(&self, top: __m512i) -> u16 {
        let r = _mm512_srli_epi32::<{ 32 - REGION_BITS }>(top);
        let word = _mm512_srli_epi32::<5>(r);
        let p: *const u64 = self.words.as_ptr();
        // SAFETY: `words` holds 64 u64 (512 bytes): eight unaligned 64-byte loads.
        let q =
            [0, 1, 2, 3, 4, 5, 6, 7].map(|k| unsafe { _mm512_loadu_si512(p.add(8 * k).cast()) });
        let p01 = _mm512_permutex2var_epi32(q[0], word, q[1]);
        let p23 = _mm512_permutex2var_epi32(q[2], word, q[3]);
        let p45 = _mm512_permutex2var_epi32(q[4], word, q[5]);
        let p67 = _mm512_permutex2var_epi32(q[6], word, q[7]);
        let b5 = _mm512_test_epi32_mask(word, _mm512_set1_epi32(32));
        let b6 = _mm512_test_epi32_mask(word, _mm512_set1_epi32(64));
        let lo = _mm512_mask_blend_epi32(b5, p01, p23);
        let hi = _mm512_mask_blend_epi32(b5, p45, p67);
        let w = _mm512_mask_blend_epi32(b6, lo, hi);
        let bit = _mm512_sllv_epi32(
            _mm512_set1_epi32(1),
            _mm512_and_si512(r, _mm512_set1_epi32(31)),
        );
        _mm512_test_epi32_mask(w, bit)
    }
}

/// IPv6 batches: the same lanes over the address's bits 18..50 (five node
/// levels, where nearly every walk ends: see `v6.rs`); a lane still on a
/// node after them finishes alone. Lanes whose region `routed` marks as
/// empty read no direct entry.
///
/// # Safety
/// The CPU must support the features [`available`] checks, and `direct`,
/// `routed`, `arena` and `codes` are one `Trie<u128>`'s fields (the scalar
/// walks read them unchecked: `v6::batch`; a lane of an unrouted region is
/// answered "no route" on `routed`'s word).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn batch_v6<T: Copy + Into<u128> + 'static>(
    direct: &[u32],
    routed: &[u64],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    const DIRECT: u32 = <u128 as Key>::DIRECT as u32;
    let n = addrs.len().min(out.len());
    let full = n / W * W;
    let Some(regions) = Regions::new(routed).filter(|_| direct.len() == 1 << DIRECT) else {
        // SAFETY: the caller's contract (this trie's fields).
        return unsafe { super::v6::batch(direct, arena, codes, addrs, out) };
    };
    let codes_v = Codes::new(codes);
    for (a, o) in addrs[..full]
        .chunks(V * W)
        .zip(out[..full].chunks_mut(V * W))
    {
        // A round of 64 alike addresses (the sequential trace): one walk
        // answers it (`v6::shared_leaf`), where the vectors' test below
        // walks once per 16.
        // SAFETY: this trie's fields (the caller's contract).
        if let Some(leaf) = unsafe { super::v6::shared_leaf(direct, arena, a) } {
            o.fill(answer(codes, leaf));
            continue;
        }
        let mut tops = [_mm512_setzero_si512(); V];
        let mut nexts = [_mm512_setzero_si512(); V];
        let mut routed = 0u64;
        for v in 0..V {
            // The address's bits 0..32 and 32..64 (big-endian words) of
            // 16 lanes; lanes past `a` read address 0 and are not written out.
            // SAFETY: the features are enabled (this function's own).
            (tops[v], nexts[v]) = unsafe { upper_words(a.get(v * W..).unwrap_or(&[])) };
            // Lanes in unrouted regions (nearly all uniform addresses:
            // 2000::/3 is mostly unrouted) read no direct entry and take
            // "no route".
            routed |= u64::from(regions.routed(tops[v])) << (v * W);
        }
        if routed.count_ones() as usize <= SPARSE && a.len() == V * W {
            // Uniform traffic: a batch of 64 has one or two addresses in a
            // routed region (2.2 % of 2000::/3). Every answer is "no
            // route" but theirs, which are looked up one by one: no
            // gather, no code lookup (with the four masked gathers, though
            // nearly empty, such batches ran 15-20 % slower).
            for o in o.chunks_mut(W) {
                // SAFETY: the features are enabled (this function's own).
                unsafe { store_none(o) };
            }
            let mut lanes = routed;
            while lanes != 0 {
                let i = lanes.trailing_zeros() as usize;
                lanes &= lanes - 1;
                if let (Some(o), Some(&x)) = (o.get_mut(i), a.get(i)) {
                    let x = x.into();
                    // SAFETY: this trie's fields (the caller's contract);
                    // a walk from a node entry (the single lookup's flat
                    // walk: see below).
                    let leaf = unsafe {
                        let e = super::v6::direct_entry(direct, (x >> 64) as u64);
                        if e & LEAF != 0 {
                            e
                        } else {
                            super::v6::walk_from(arena, e, x)
                        }
                    };
                    *o = answer(codes, leaf);
                }
            }
            continue;
        }
        // Runs of consecutive addresses (a flow's packets, the sequential
        // trace): 16 lanes whose upper 64 bits are all alike end on one
        // leaf when it lies at depth 48 or above, so one scalar walk
        // answers their vector, where the lanes gathered the same lines 16
        // times per level. Their `routed` bits are cleared, so they gather
        // nothing below. The test predicts on traffic of either kind.
        let mut alike = 0u8;
        for v in 0..V {
            let first = |x: __m512i| _mm512_broadcastd_epi32(_mm512_castsi512_si128(x));
            let lanes = _mm512_cmpeq_epi32_mask(tops[v], first(tops[v]))
                & _mm512_cmpeq_epi32_mask(nexts[v], first(nexts[v]));
            alike |= u8::from(lanes == u16::MAX && a.len() >= (v + 1) * W) << v;
        }
        let mut shared = 0u8;
        if alike != 0 {
            for v in 0..V {
                if alike & (1 << v) == 0 {
                    continue;
                }
                let hi = (a[v * W].into() >> 64) as u64;
                // SAFETY: this trie's fields (the caller's contract).
                let leaf = unsafe {
                    let e = super::v6::direct_entry(direct, hi);
                    if e & LEAF != 0 {
                        e
                    } else {
                        super::v6::flat_walk(arena, e, hi)
                    }
                };
                if !super::v6::is_node(leaf) {
                    o[v * W..(v + 1) * W].fill(answer(codes, leaf));
                    shared |= 1 << v;
                    routed &= !(u64::from(u16::MAX) << (v * W));
                }
            }
        }
        let mut e = [_mm512_setzero_si512(); V];
        let mut rest = [_mm512_setzero_si512(); V];
        let mut nodes = 0;
        for v in 0..V {
            let (top, next) = (tops[v], nexts[v]);
            let di = _mm512_srli_epi32::<{ 32 - DIRECT }>(top);
            let m = (routed >> (v * W)) as u16;
            // SAFETY: every index is < 2^DIRECT = direct.len() (checked above).
            e[v] = unsafe {
                _mm512_mask_i32gather_epi32::<4>(
                    _mm512_set1_epi32(LEAF as i32),
                    m,
                    di,
                    direct.as_ptr().cast(),
                )
            };
            // The 32 bits after the direct index (the five levels' slots).
            rest[v] = _mm512_or_si512(
                _mm512_slli_epi32::<DIRECT>(top),
                _mm512_srli_epi32::<{ 32 - DIRECT }>(next),
            );
            nodes += _mm512_testn_epi32_mask(e[v], _mm512_set1_epi32(LEAF as i32)).count_ones();
        }
        // Uniform traffic: nearly every address ends in the direct array
        // (99.3 % in 2000::/3), so most batches have none or one that goes
        // on. Five rounds of gathers for a vector with one live lane cost
        // more than a whole batch of direct answers (the rounds' latencies
        // are a dependent chain), so such lanes are walked one by one, and
        // after every answer is out: nothing else waits for their misses
        // (answering them first held up the whole batch's: 30 % of its time).
        // They take the single lookup's flat walk (`v6::walk_from`): a
        // walk level by level until a leaf has a shorter chain of loads
        // for the many that end one level down, but its loop's exit
        // mispredicts, and these walks' latency is what a batch of uniform
        // addresses waits for (skipping them ran 1.6-2x): the flat walk
        // ran 1.04-1.11x on that trace (A/B in one process, seventeenth
        // session).
        let few = nodes as usize <= super::v6::SCALAR_WALKS;
        // Per vector, the lanes finished one by one below: with `few`, those
        // past the direct array; else those past the lanes' levels (rare:
        // routes longer than /48).
        let mut later = [0u16; V];
        if few {
            for v in 0..V {
                later[v] = _mm512_testn_epi32_mask(e[v], _mm512_set1_epi32(LEAF as i32));
            }
        } else {
            // SAFETY: the features are enabled (this function's own).
            // The first two levels in one step of the top index, then the
            // lanes' levels to depth 48.
            for v in 0..V {
                // SAFETY: the features are enabled (this function's own).
                e[v] = unsafe { top_lanes(arena, e[v], rest[v]) };
                rest[v] = _mm512_slli_epi32::<{ TOP_BITS }>(rest[v]);
            }
            let levels = super::v6::FLAT_LEVELS - TOP_LEVELS;
            // SAFETY: the features are enabled (this function's own).
            (e, later) = unsafe { walk_lanes::<V, true>(arena, e, rest, levels) };
        }
        let mut entries = [[0u32; W]; V];
        for (v, o) in o.chunks_mut(W).enumerate().take(V) {
            if shared & (1 << v) != 0 {
                continue;
            }
            // SAFETY: `entries[v]` holds 16 u32 (64 bytes); unaligned
            // store; the features are enabled. A lane still on a node
            // reads some code here and is answered again below.
            unsafe {
                _mm512_storeu_si512(entries[v].as_mut_ptr().cast(), e[v]);
                // 16 addresses without a route (a leaf of code 0 each, as
                // nearly all uniform addresses: 2000::/3 is mostly
                // unrouted) are answered without the code lookup; the
                // branch predicts on traffic of either kind.
                if _mm512_cmpneq_epi32_mask(e[v], _mm512_set1_epi32(LEAF as i32)) == 0 {
                    store_none(o);
                    continue;
                }
                store_answers(o, codes_v.of(e[v]));
            }
        }
        for (v, &lanes) in later.iter().enumerate() {
            let mut lanes = lanes;
            while lanes != 0 {
                let i = v * W + lanes.trailing_zeros() as usize;
                lanes &= lanes - 1;
                if let (Some(o), Some(&x), Some(&en)) =
                    (o.get_mut(i), a.get(i), entries.as_flattened().get(i))
                {
                    let x = x.into();
                    // SAFETY: `en` is a node of this trie: its lane was still
                    // on one (`later`), and lanes only follow the arena's
                    // pointers (bounds-masked reads read as leaves); with
                    // `few` it is the lane's direct entry (no lane walked),
                    // which as a node has a top index (`v6::walk_from`).
                    let leaf = unsafe {
                        if few {
                            super::v6::walk_from(arena, en, x)
                        } else {
                            super::v6::finish(arena, en, x)
                        }
                    };
                    *o = answer(codes, leaf);
                }
            }
        }
    }
    // SAFETY: the caller's contract (this trie's fields).
    unsafe { super::v6::batch(direct, arena, codes, &addrs[full..n], &mut out[full..n]) };
}

/// The top index's step (`top.rs`) for 16 lanes whose entries `e` are
/// direct entries, `rest` the address bits after the direct index (the top
/// slot in its upper 12): a lane on a node takes the entry of its slot,
/// a lane on a leaf keeps it. Three gathers of a slot's bitmap word (two
/// halves) and its count, which depend on the address only, then one of
/// the entry: the two 6-bit levels it stands for took four, in two
/// dependent rounds. Every gather lane is masked by a bounds check; a lane
/// out of bounds reads as no route.
///
/// # Safety
/// The CPU has the features enabled here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
unsafe fn top_lanes(arena: &[u16], e: __m512i, rest: __m512i) -> __m512i {
    let leaf_bit = _mm512_set1_epi32(LEAF as i32);
    let node = _mm512_testn_epi32_mask(e, leaf_bit);
    if node == 0 {
        return e;
    }
    // Offsets (16-bit units) fit in i32: the arena is < 2^29 units.
    let len = arena.len().min(i32::MAX as usize) as i32;
    let base: *const u8 = arena.as_ptr().cast();
    let pairs = _mm512_sub_epi32(
        _mm512_and_si512(e, _mm512_set1_epi32(OFFSET as i32)),
        _mm512_set1_epi32(PAIRS as i32),
    );
    let s = _mm512_srli_epi32::<{ 32 - TOP_BITS }>(rest);
    let p = _mm512_add_epi32(
        pairs,
        _mm512_mullo_epi32(_mm512_srli_epi32::<6>(s), _mm512_set1_epi32(PAIR as i32)),
    );
    // Lanes whose pair (units p..p + 6 read) lies in the arena; a negative
    // p compares as a large unsigned value and is left out.
    let ok = _mm512_mask_cmplt_epu32_mask(node, p, _mm512_set1_epi32(len.saturating_sub(6)));
    let zero = _mm512_setzero_si512();
    // Runs of the word at or below the slot's bit b (as in `walk_lanes`);
    // the entry lies back(w) units before the node, plus 2 per such run.
    let b = _mm512_and_si512(s, _mm512_set1_epi32(63));
    // SAFETY: lanes in `ok` read units p..p + 6, all < len (scale 2: the
    // index counts 16-bit units): the word (p..p + 4), then back(w).
    let (in_word, back) = unsafe {
        (
            ranks64(base, ok, p, b),
            _mm512_mask_i32gather_epi32::<2>(zero, ok, p, base.add(8).cast()),
        )
    };
    let node_at = _mm512_add_epi32(pairs, _mm512_set1_epi32(PAIRS as i32));
    let idx = _mm512_add_epi32(
        _mm512_sub_epi32(node_at, _mm512_and_si512(back, _mm512_set1_epi32(0xffff))),
        _mm512_slli_epi32::<1>(in_word),
    );
    let in_arena = _mm512_mask_cmplt_epu32_mask(ok, idx, _mm512_set1_epi32(len.saturating_sub(1)));
    // SAFETY: lanes in `in_arena` read units idx and idx + 1, both < len.
    let x = unsafe { _mm512_mask_i32gather_epi32::<2>(leaf_bit, in_arena, idx, base.cast()) };
    _mm512_mask_blend_epi32(node, e, x)
}
