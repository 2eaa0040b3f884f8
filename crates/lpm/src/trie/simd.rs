//! The AVX-512 (F, BW, VL, VPOPCNTDQ) lanes of the IPv4 batch
//! (`simd_v4.rs`), chosen at run time: 16 addresses per vector walk the trie in lanes, each level one gather of
//! the nodes' bitmaps (two 32-bit halves), a vector popcount and one gather
//! of the entries, until every lane holds a leaf. No branch depends on an
//! address (only "any lane still in a node"), and a gather issues its 16
//! loads at once, so both cache-resident and cache-missing traffic gain.
//!
//! Memory safety does not rest on the arena being well formed: every gather
//! lane is masked by a bounds check, and a lane whose offset is out of
//! bounds reads as "no route", as the portable `step` does.

use std::arch::x86_64::*;

use super::{HDR, LEAF, NONE_ID, OFFSET, WIDE};
use crate::{MaybeNextHop, NextHopId};

/// Addresses per vector.
pub(super) const W: usize = 16;
/// Vectors walked together.
pub(super) const V: usize = 4;
/// Whether this CPU runs the AVX-512 batch (`simd_v4::batch_v4`).
pub(super) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vpopcntdq")
}

/// The walk of `V` × 16 lanes from their direct entries `e` and `rest`
/// (the next slots, 6 bits each from the top), at most `rounds` node
/// levels: the entries they end on, and per vector the lanes still on a
/// node after `rounds` levels (holding its offset).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn walk_lanes<const V: usize>(
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
    let mut live = [0u16; V];
    for v in 0..V {
        live[v] = _mm512_testn_epi32_mask(e[v], leaf_bit);
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
            let o = _mm512_and_si512(e[v], offset_mask);
            // Lanes whose node (bitmap: 4 units) lies inside the arena; the others read as no route.
            let ok = _mm512_mask_cmplt_epu32_mask(live[v], o, node_end);
            // Slot s = top 6 bits.
            let s = _mm512_srli_epi32::<26>(rest[v]);
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
            let rank = _mm512_add_epi32(
                _mm512_popcnt_epi32(_mm512_and_si512(lo, lo_mask)),
                _mm512_popcnt_epi32(_mm512_and_si512(hi, hi_mask)),
            );
            // Entry (rank - 1) of 1 unit (narrow node) or 2 (wide).
            let wide = _mm512_test_epi32_mask(e[v], wide_bit);
            let width_shift = _mm512_srli_epi32::<30>(_mm512_and_si512(e[v], wide_bit));
            let idx = _mm512_add_epi32(
                _mm512_add_epi32(o, _mm512_set1_epi32(HDR as i32)),
                _mm512_sllv_epi32(_mm512_sub_epi32(rank, _mm512_set1_epi32(1)), width_shift),
            );
            let in_arena = _mm512_mask_cmplt_epu32_mask(ok, idx, arena_end);
            // SAFETY: lanes in `in_arena` read units idx and idx + 1, both < len.
            let x =
                unsafe { _mm512_mask_i32gather_epi32::<2>(leaf_bit, in_arena, idx, base.cast()) };
            // A narrow node's entry is the low half, a leaf code.
            let narrow = _mm512_or_si512(_mm512_and_si512(x, low_half), leaf_bit);
            let next = _mm512_mask_blend_epi32(wide, narrow, x);
            e[v] = _mm512_mask_blend_epi32(live[v], e[v], next);
            rest[v] = _mm512_slli_epi32::<6>(rest[v]);
            live[v] &= _mm512_testn_epi32_mask(e[v], leaf_bit);
        }
    }
    (e, live)
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
