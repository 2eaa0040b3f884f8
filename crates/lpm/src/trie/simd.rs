//! IPv6 batches with AVX-512 (F, BW, VL, VPOPCNTDQ), chosen at run time, and
//! what the IPv4 ones (`simd_v4.rs`) share with them:
//! 16 addresses per vector walk the trie in lanes, each level one gather of
//! the nodes' bitmaps (two 32-bit halves), a vector popcount and one gather
//! of the entries, until every lane holds a leaf. No branch depends on an
//! address (only "any lane still in a node"), and a gather issues its 16
//! loads at once, so both cache-resident and cache-missing traffic gain.
//!
//! Memory safety does not rest on the arena being well formed: every gather
//! lane is masked by a bounds check, and a lane whose offset is out of
//! bounds reads as "no route", as the portable `step` does.

use std::arch::x86_64::*;
use std::net::Ipv6Addr;

use super::{HDR, LEAF, NONE_ID, OFFSET, STORED_LEAF_BELOW, WIDE};
use crate::{MaybeNextHop, NextHopId};

/// Addresses per vector.
pub(super) const W: usize = 16;
/// Vectors walked together.
pub(super) const V: usize = 4;
/// Whether this CPU runs the AVX-512 batches (`batch_v6`, `simd_v4::batch_v4`).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vpopcntdq")
}

/// The walk of `V` × 16 lanes from their direct entries `e` and `rest`
/// (the next slots, 6 bits each from the top), at most `rounds` node
/// levels: the entries they end on, and per vector the lanes still on a
/// node after `rounds` levels (holding its offset). `ALL_WIDE`: every
/// node has 32-bit entries (IPv6, `Trie::all_wide`), so a level skips the
/// width's decoding and the narrow entry's blend (the IPv6 inside-prefix
/// batch: 0.97-1.07x against 0.96-1.00x `main`'s, alternating, in one
/// process). IPv6 lanes start from the top index's entries, as stored
/// (`Trie::to_stored`: a node is its offset), or from direct leaves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn walk_lanes<const V: usize, const ALL_WIDE: bool>(
    arena: &[u16],
    mut e: [__m512i; V],
    mut rest: [__m512i; V],
    rounds: u32,
) -> ([__m512i; V], [u16; V]) {
    let all = _mm512_set1_epi32(-1);
    let leaf_bit = _mm512_set1_epi32(LEAF as i32);
    let wide_bit = _mm512_set1_epi32(WIDE as i32);
    let offset_mask = _mm512_set1_epi32(OFFSET as i32);
    let low_half = _mm512_set1_epi32(0xffff);
    // Offsets (16-bit units) must be positive i32 for the gathers: the
    // arena is < 2^30 units (`alloc` asserts it), so these fit.
    let len = arena.len().min(i32::MAX as usize) as i32;
    // A lane reads 32 bits (two units) at a unit index below these.
    let node_end = _mm512_set1_epi32(len.saturating_sub(HDR as i32 - 1));
    let arena_end = _mm512_set1_epi32(len.saturating_sub(1));
    let base: *const u8 = arena.as_ptr().cast();
    // IPv6 arenas store entries without flags (`Trie::to_stored`): a node
    // is at least `STORED_LEAF_BELOW` as an i32 (a direct leaf is
    // negative, a stored one a code); IPv4 entries carry `LEAF`.
    let stored_leaf_below = _mm512_set1_epi32(STORED_LEAF_BELOW as i32);
    let mut live = [0u16; V];
    for v in 0..V {
        live[v] = if ALL_WIDE {
            _mm512_cmpge_epi32_mask(e[v], stored_leaf_below)
        } else {
            _mm512_testn_epi32_mask(e[v], leaf_bit)
        };
    }
    let mut round = 0;
    while round < rounds && live.iter().any(|&l| l != 0) {
        round += 1;
        for v in 0..V {
            // A vector whose lanes all ended skips its gathers (traffic that
            // ends in the direct array leaves most vectors idle).
            if live[v] == 0 {
                continue;
            }
            // An IPv6 lane on a node holds its stored offset, no flags.
            let o = if ALL_WIDE {
                e[v]
            } else {
                _mm512_and_si512(e[v], offset_mask)
            };
            // Lanes whose node (bitmap: 4 units) lies inside the arena; the others read as no route.
            let ok = _mm512_mask_cmplt_epu32_mask(live[v], o, node_end);
            // Slot s = top 6 bits.
            let s = _mm512_srli_epi32::<26>(rest[v]);
            let rank = if ALL_WIDE {
                // SAFETY: lanes in `ok` read units o..o + 4, all < len.
                unsafe { ranks64(base, ok, o, s) }
            } else {
                // SAFETY: lanes in `ok` read units o..o + 4, all < len
                // (scale 2: the index counts 16-bit units).
                let (lo, hi) = unsafe {
                    (
                        _mm512_mask_i32gather_epi32::<2>(leaf_bit, ok, o, base.cast()),
                        _mm512_mask_i32gather_epi32::<2>(leaf_bit, ok, o, base.add(4).cast()),
                    )
                };
                // rank = runs at or below s
                // = popcount(lo & bits 0..=s) + popcount(hi & bits 0..=s-32).
                let lo_shift = _mm512_max_epi32(
                    _mm512_sub_epi32(_mm512_set1_epi32(31), s),
                    _mm512_setzero_si512(),
                );
                let lo_mask = _mm512_srlv_epi32(all, lo_shift);
                let hi_mask = _mm512_srlv_epi32(all, _mm512_sub_epi32(_mm512_set1_epi32(63), s));
                _mm512_add_epi32(
                    _mm512_popcnt_epi32(_mm512_and_si512(lo, lo_mask)),
                    _mm512_popcnt_epi32(_mm512_and_si512(hi, hi_mask)),
                )
            };
            // Entry (rank - 1) of 1 unit (narrow node) or 2 (wide).
            let wide = if ALL_WIDE {
                u16::MAX
            } else {
                _mm512_test_epi32_mask(e[v], wide_bit)
            };
            let idx = if ALL_WIDE {
                _mm512_add_epi32(
                    _mm512_add_epi32(o, _mm512_set1_epi32(HDR as i32 - 2)),
                    _mm512_slli_epi32::<1>(rank),
                )
            } else {
                let width_shift = _mm512_srli_epi32::<30>(_mm512_and_si512(e[v], wide_bit));
                _mm512_add_epi32(
                    _mm512_add_epi32(o, _mm512_set1_epi32(HDR as i32)),
                    _mm512_sllv_epi32(_mm512_sub_epi32(rank, _mm512_set1_epi32(1)), width_shift),
                )
            };
            let in_arena = _mm512_mask_cmplt_epu32_mask(ok, idx, arena_end);
            // SAFETY: lanes in `in_arena` read units idx and idx + 1, both < len.
            let x =
                unsafe { _mm512_mask_i32gather_epi32::<2>(leaf_bit, in_arena, idx, base.cast()) };
            // A narrow node's entry is the low half, a leaf code.
            let next = if ALL_WIDE {
                x
            } else {
                let narrow = _mm512_or_si512(_mm512_and_si512(x, low_half), leaf_bit);
                _mm512_mask_blend_epi32(wide, narrow, x)
            };
            e[v] = _mm512_mask_blend_epi32(live[v], e[v], next);
            rest[v] = _mm512_slli_epi32::<6>(rest[v]);
            live[v] &= if ALL_WIDE {
                _mm512_cmpge_epi32_mask(e[v], stored_leaf_below)
            } else {
                _mm512_testn_epi32_mask(e[v], leaf_bit)
            };
        }
    }
    (e, live)
}

/// Runs that start at or below bit `s` (0..64, per lane) of the 64-bit
/// bitmaps at unit offsets `at` of 16 lanes; lanes outside `ok` count 0.
/// Two gathers of eight 64-bit words: the two gathers of sixteen 32-bit
/// halves (what IPv4's narrow and wide nodes still take) load twice as
/// many elements, and IPv6 inside-prefix batches ran 1.03x with these
/// (see README, seventeenth session).
///
/// # Safety
/// The CPU has the features enabled here, and every lane in `ok` may read
/// 8 bytes at `base + 2 * at` (`base` the arena's units).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
#[inline]
pub(super) unsafe fn ranks64(base: *const u8, ok: u16, at: __m512i, s: __m512i) -> __m512i {
    let zero = _mm512_setzero_si512();
    // SAFETY: lanes in `ok` (low 8 in the first gather, high 8 in the
    // second) read 8 bytes at base + 2 * at (caller's contract).
    let (lo, hi) = unsafe {
        (
            _mm512_mask_i32gather_epi64::<2>(
                zero,
                ok as u8,
                _mm512_castsi512_si256(at),
                base.cast(),
            ),
            _mm512_mask_i32gather_epi64::<2>(
                zero,
                (ok >> 8) as u8,
                _mm512_extracti64x4_epi64::<1>(at),
                base.cast(),
            ),
        )
    };
    // The word shifted left by 63 - s keeps bits 0..=s.
    let shift = _mm512_sub_epi32(_mm512_set1_epi32(63), s);
    let shift_lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(shift));
    let shift_hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(shift));
    let rank_lo = _mm512_popcnt_epi64(_mm512_sllv_epi64(lo, shift_lo));
    let rank_hi = _mm512_popcnt_epi64(_mm512_sllv_epi64(hi, shift_hi));
    _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm512_cvtepi64_epi32(rank_lo)),
        _mm512_cvtepi64_epi32(rank_hi),
    )
}

/// Leaf entries → next-hop ids, for one call's code table.
///
/// A table with at most [`SMALL_CODES`] next hops (what a router usually
/// has) is held in four registers and looked up with two-source permutes
/// instead of a gather of 16 loads: IPv6 batches of uniform addresses
/// (nearly all answered from the direct array, so two gathers per vector)
/// went from 540 to 578 Mlps in an A/B run.
#[derive(Clone, Copy)]
pub(super) struct Codes<'a> {
    codes: &'a [NextHopId],
    /// `codes[1..]` (code 0 is "no route"), padded with `NONE_ID`.
    regs: [__m512i; 4],
    small: bool,
}

/// Next hops (codes 1..=64) the register table holds.
const SMALL_CODES: usize = 64;

impl<'a> Codes<'a> {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
    pub(super) fn new(codes: &'a [NextHopId]) -> Self {
        let mut regs = [_mm512_set1_epi32(NONE_ID as i32); 4];
        let small = codes.len() <= SMALL_CODES + 1;
        if small {
            // Lanes of the four registers that hold a code (codes 1..len).
            let n = codes.len().saturating_sub(1);
            let held: u64 = if n >= 64 { u64::MAX } else { (1 << n) - 1 };
            let p: *const NextHopId = codes.as_ptr().wrapping_add(1);
            for (k, r) in regs.iter_mut().enumerate() {
                // SAFETY: the lanes in the mask read codes[1 + 16k + j] <
                // codes.len(); the others are not read (masked loads
                // suppress them).
                *r = unsafe {
                    _mm512_mask_loadu_epi32(
                        *r,
                        (held >> (16 * k)) as u16,
                        p.wrapping_add(16 * k).cast(),
                    )
                };
            }
        }
        Self { codes, regs, small }
    }

    /// Leaf entries → next-hop ids (`NONE_ID` for no route or a code out
    /// of range).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
    pub(super) fn of(&self, e: __m512i) -> __m512i {
        let n_codes = _mm512_set1_epi32(self.codes.len().min(i32::MAX as usize) as i32);
        let code = _mm512_and_si512(e, _mm512_set1_epi32(0xffff));
        let none = _mm512_set1_epi32(NONE_ID as i32);
        if self.small {
            // Code c is register entry c - 1; code 0 (no route) wraps to
            // u32::MAX and fails the range test.
            let i = _mm512_sub_epi32(code, _mm512_set1_epi32(1));
            let known = _mm512_cmplt_epu32_mask(i, _mm512_sub_epi32(n_codes, _mm512_set1_epi32(1)));
            let lo = _mm512_permutex2var_epi32(self.regs[0], i, self.regs[1]);
            let hi = _mm512_permutex2var_epi32(self.regs[2], i, self.regs[3]);
            let upper = _mm512_test_epi32_mask(i, _mm512_set1_epi32(32));
            let id = _mm512_mask_blend_epi32(upper, lo, hi);
            return _mm512_mask_blend_epi32(known, none, id);
        }
        // SAFETY: the features are enabled (this function's own).
        unsafe { codes_of(self.codes, e) }
    }
}

/// Leaf entries → next-hop ids (`NONE_ID` for no route or a code out of range).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn codes_of(codes: &[NextHopId], e: __m512i) -> __m512i {
    let n_codes = _mm512_set1_epi32(codes.len().min(i32::MAX as usize) as i32);
    let code = _mm512_and_si512(e, _mm512_set1_epi32(0xffff));
    let known = _mm512_cmplt_epu32_mask(code, n_codes);
    // SAFETY: lanes in `known` read codes[code] with code < codes.len().
    unsafe {
        _mm512_mask_i32gather_epi32::<4>(
            _mm512_set1_epi32(NONE_ID as i32),
            known,
            code,
            codes.as_ptr().cast(),
        )
    }
}

/// Writes 16 answers (`NONE_ID` = no route, which is
/// [`MaybeNextHop::NONE`]) to `out[..16]`: one store of the ids as they are.
///
/// # Safety
/// The CPU has the features enabled here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn store_answers(out: &mut [MaybeNextHop], ids: __m512i) {
    let Some(out) = out.get_mut(..W) else {
        return;
    };
    // SAFETY: `out` holds 16 `MaybeNextHop`s, each a `u32`
    // (`repr(transparent)`; 64 bytes, unaligned store), and any `u32` is
    // a valid one.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), ids) };
}

/// Writes 16 answers "no route" to `out[..16]`.
///
/// # Safety
/// The CPU has the features enabled here.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn store_none(out: &mut [MaybeNextHop]) {
    // SAFETY: the features are enabled (this function's own).
    unsafe { store_answers(out, _mm512_set1_epi32(NONE_ID as i32)) }
}

// `upper_words` reads `Ipv6Addr`s as their 16 bytes in network order.
// Rust does not promise that layout, so it is checked here, at compile
// time: a build where it differs fails instead of reading wrong addresses.
const _: () = {
    assert!(std::mem::size_of::<Ipv6Addr>() == 16);
    assert!(std::mem::align_of::<Ipv6Addr>() == 1);
    let a = Ipv6Addr::new(
        0x0001, 0x0203, 0x0405, 0x0607, 0x0809, 0x0a0b, 0x0c0d, 0x0e0f,
    );
    // SAFETY: both sides are 16 bytes (checked above), and any bytes are a
    // valid `[u8; 16]`.
    let b: [u8; 16] = unsafe { std::mem::transmute(a) };
    let mut i = 0;
    while i < 16 {
        assert!(b[i] as usize == i);
        i += 1;
    }
};
