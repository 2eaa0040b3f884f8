//! IPv4 batches with AVX-512, chosen at run time (see `simd.rs`, whose lane
//! walk, code lookup and answer stores they share): vectors of 16 addresses
//! gather their direct entries, and the addresses that go on past the
//! direct array walk in lanes, or one by one when they are few.

use std::arch::x86_64::*;

use super::lookup::{answer, V4};
use super::simd::{codes_of, store_answers, walk_lanes, V, W};
use super::v4::{walk_v4_depth_unchecked, walk_v4_from_unchecked};
use super::{Key, LEAF, NONE_ID};
use crate::{MaybeNextHop, NextHopId};

/// IPv4 batches of `V` vectors with at most this many addresses going on
/// past the direct array walk those one by one (`lanes`), not in rounds of
/// gathers. Uniform traffic has about 12 of 64, inside-prefix traffic all.
const SCALAR_WALKS_V4: usize = 32;

/// Looks up `addrs` into `out` (up to the shorter of the two).
///
/// # Safety
/// The CPU must support the features `simd::available` checks, and `direct`,
/// `arena` and `codes` are one `Trie<u32>`'s fields (a vector's shared
/// walk reads them unchecked: `v4::walk_v4_depth_unchecked`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq,popcnt")]
pub(super) unsafe fn batch_v4<T: Copy + Into<u32>>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [MaybeNextHop],
) {
    let n = addrs.len().min(out.len());
    let full = n / W * W;
    // The direct gather relies on every index (top DIRECT bits) being in
    // bounds; a table always has exactly that many entries.
    if direct.len() != 1 << <u32 as Key>::DIRECT {
        return super::lookup::batch_v4(direct, arena, codes, addrs, out);
    }
    for (a, o) in addrs[..full]
        .chunks(V * W)
        .zip(out[..full].chunks_mut(V * W))
    {
        // A round that one walk answers (a run of consecutive addresses,
        // one flow's packets) takes that walk and no lanes, as the
        // portable batch does.
        // SAFETY: this trie's fields (the caller's contract).
        if let Some(leaf) = unsafe { super::lookup::shared_walk(direct, arena, a) } {
            o.fill(answer(codes, leaf));
            continue;
        }
        let mut keys = [[0u32; W]; V];
        for (k, &x) in keys.as_flattened_mut().iter_mut().zip(a) {
            *k = x.into();
        }
        let mut ids = [[NONE_ID; W]; V];
        // SAFETY: the features are enabled and these are one trie's fields
        // (caller's contract). Lanes past `a` look up address 0 and are not
        // written out.
        unsafe { lanes::<V>(direct, arena, codes, &keys, &mut ids) };
        // As vectors (`store_answers`), not one by one: one 7-round A/B
        // run (load ~2), sequential and inside 2-4 % faster by best and
        // median, uniform 2 % slower, all within this machine's noise; the
        // inside trace's batch is the one closest to single lookups. (A
        // ninth-session run, before the few walks, had it 2-8 % slower.)
        for (o, id) in o.chunks_mut(W).zip(&ids) {
            // SAFETY: `id` holds 16 u32 (64 bytes), unaligned load; the
            // features are enabled (this function's own).
            unsafe { store_answers(o, _mm512_loadu_si512(id.as_ptr().cast())) };
        }
    }
    // The tail (fewer than W addresses), one by one.
    for (&a, o) in addrs[full..n].iter().zip(&mut out[full..n]) {
        let e = super::lookup::walk(direct, arena, V4(u64::from(a.into()) << 32));
        *o = answer(codes, e);
    }
}

/// `V` × 16 lookups: `keys` (host-order IPv4 addresses) → next-hop ids
/// (`NONE_ID` for no route). The `V` vectors advance together, one level
/// per round, so that their gathers' latencies overlap, unless few lanes
/// go past the direct array (`SCALAR_WALKS_V4`): those walk one by one.
///
/// # Safety
/// The CPU has the features enabled here; `direct`, `arena` and `codes`
/// are one `Trie<u32>`'s fields.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
unsafe fn lanes<const V: usize>(
    direct: &[u32],
    arena: &[u16],
    codes: &[NextHopId],
    keys: &[[u32; W]; V],
    ids: &mut [[u32; W]; V],
) {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    let mut e = [_mm512_setzero_si512(); V];
    let mut rest = [_mm512_setzero_si512(); V];
    // Per vector, the next-hop id all its lanes share when one walk answers
    // them all (see below).
    let mut shared = [None; V];
    for v in 0..V {
        // SAFETY: `keys[v]` holds 16 u32 (64 bytes); unaligned load.
        let a = unsafe { _mm512_loadu_si512(keys[v].as_ptr().cast()) };
        // Addresses that share one walk (see `shared_walk`): the test on
        // the vector, the walk scalar.
        let first = keys[v][0];
        let differ =
            _mm512_reduce_or_epi32(_mm512_xor_si512(a, _mm512_set1_epi32(first as i32))) as u32;
        let common = differ.leading_zeros();
        if common >= DIRECT {
            // SAFETY: this trie's direct array and arena (`batch_v4`'s contract).
            let (leaf, depth) = unsafe { walk_v4_depth_unchecked(direct, arena, first) };
            if depth.min(32) <= common {
                e[v] = _mm512_set1_epi32(leaf as i32);
                shared[v] = Some(
                    codes
                        .get((leaf & 0xffff) as usize)
                        .copied()
                        .unwrap_or(NONE_ID),
                );
                continue;
            }
        }
        let di = _mm512_srli_epi32::<{ 32 - DIRECT }>(a);
        // SAFETY: every index is < 2^DIRECT = direct.len() (checked by the caller).
        e[v] = unsafe { _mm512_i32gather_epi32::<4>(di, direct.as_ptr().cast()) };
        rest[v] = _mm512_slli_epi32::<DIRECT>(a);
    }
    // Lanes still on a node after the direct array: bit 16 v + j.
    let mut on_node = 0u64;
    for (v, &ev) in e.iter().enumerate() {
        on_node |=
            u64::from(_mm512_testn_epi32_mask(ev, _mm512_set1_epi32(LEAF as i32))) << (W * v);
    }
    // Uniform traffic: about one address in five goes on (12 of 64). Rounds
    // of gathers for those few lanes are a chain of dependent gathers that
    // nothing else in the batch overlaps (without the rounds the batch ran
    // at 513 Mlps, with them 250: slower than single lookups), where walked
    // one by one their misses overlap in the core's window as single
    // lookups' do; and walked after every other answer is stored, nothing
    // waits for them (walked before the codes' gathers: 355 against 378
    // Mlps, sequential trace 1,025 against 1,120). Traffic that goes on
    // nearly everywhere (inside prefixes) keeps the rounds.
    let few = on_node.count_ones() as usize <= SCALAR_WALKS_V4;
    if !few {
        // SAFETY: the features are enabled (this function's own); 32 bits of
        // IPv4 end within three levels of 6 past 18.
        (e, _) = unsafe { walk_lanes::<V>(arena, e, rest, u32::MAX) };
    }
    for v in 0..V {
        let id = match shared[v] {
            Some(id) => _mm512_set1_epi32(id as i32),
            // A gather: with the IPv6 batch's register table (`Codes`) the
            // sequential trace's batches were 5 % slower, the others no
            // faster. Lanes still on a node read some code here and are
            // answered again below.
            // SAFETY: the features are enabled (this function's own).
            None => unsafe { codes_of(codes, e[v]) },
        };
        // SAFETY: `ids[v]` holds 16 u32 (64 bytes); unaligned store.
        unsafe { _mm512_storeu_si512(ids[v].as_mut_ptr().cast(), id) };
    }
    if few {
        let mut entries = [[0u32; W]; V];
        for (en, &ev) in entries.iter_mut().zip(&e) {
            // SAFETY: `en` holds 16 u32 (64 bytes); unaligned store.
            unsafe { _mm512_storeu_si512(en.as_mut_ptr().cast(), ev) };
        }
        let (entries, keys, ids) = (
            entries.as_flattened(),
            keys.as_flattened(),
            ids.as_flattened_mut(),
        );
        while on_node != 0 {
            let i = on_node.trailing_zeros() as usize;
            on_node &= on_node - 1;
            if let (Some(&en), Some(&k), Some(id)) = (entries.get(i), keys.get(i), ids.get_mut(i)) {
                // SAFETY: `en` is the node pointer `k`'s direct entry holds
                // (the lane's direct gather read it; a shared walk's vector
                // holds leaves only, so none of its lanes is in
                // `on_node`); this trie's arena (`batch_v4`'s contract).
                let leaf = unsafe { walk_v4_from_unchecked(arena, en, k) };
                *id = codes
                    .get((leaf & 0xffff) as usize)
                    .copied()
                    .unwrap_or(NONE_ID);
            }
        }
    }
}
