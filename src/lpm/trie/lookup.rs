//! The lookups: one address, and batches walked level by level in lockstep
//! so that the independent memory accesses of many addresses overlap.
//!
//! Two things decide speed here, both measured (see README):
//! * Hardware `popcnt`. The default x86-64 target lacks it and `count_ones`
//!   becomes a dozen instructions; the walks are compiled a second time with
//!   `popcnt` enabled and chosen at run time (compiled away when the build
//!   already targets a CPU with it).
//! * No unpredictable branch in a step. A mispredicted branch throws away
//!   the loads other addresses have in flight; the step selects between the
//!   child and the leaf arithmetically, and a batch round walks only the
//!   addresses still inside nodes (a branch-free compaction of lane indices).

use super::{Key, Trie, HDR, LEAF, NONE_ID};
use crate::lpm::NextHopId;

/// How an address is cut into direct index and 6-bit slots.
trait Addr: Copy + Default {
    const DIRECT: u32;
    fn direct_index(self) -> usize;
    /// The 6 bits at `depth` (bits past the address read as 0).
    fn slot(self, depth: u32) -> u32;
}

/// IPv4 widened so that the last level (bits 30..36) reads zeros.
#[derive(Clone, Copy, Default)]
struct V4(u64);

impl Addr for V4 {
    const DIRECT: u32 = <u32 as Key>::DIRECT as u32;
    #[inline(always)]
    fn direct_index(self) -> usize {
        (self.0 >> (64 - Self::DIRECT)) as usize
    }
    #[inline(always)]
    fn slot(self, depth: u32) -> u32 {
        (self.0.wrapping_shl(depth) >> 58) as u32
    }
}

impl Addr for u128 {
    const DIRECT: u32 = <u128 as Key>::DIRECT as u32;
    #[inline(always)]
    fn direct_index(self) -> usize {
        (self >> (128 - <u128 as Addr>::DIRECT)) as usize
    }
    #[inline(always)]
    fn slot(self, depth: u32) -> u32 {
        (self.wrapping_shl(depth) >> 122) as u32
    }
}

/// One step down without a data-dependent branch: the entry slot `s` of the
/// node at `o` selects (a child offset, or `LEAF|code`).
#[inline(always)]
fn step(arena: &[u32], o: usize, s: u32) -> u32 {
    let Some(&[v0, v1, l0, l1]) = arena.get(o..o + HDR) else {
        return LEAF; // unreachable for a well-formed arena; reads as no route
    };
    let vector = u64::from(v0) | (u64::from(v1) << 32);
    let leafvec = u64::from(l0) | (u64::from(l1) << 32);
    let bit = 1u64 << (s & 63);
    let below = bit - 1;
    let is_child = ((vector >> (s & 63)) & 1) as usize;
    let child_rank = (vector & below).count_ones() as usize;
    let nc = vector.count_ones() as usize;
    let leaf_rank = ((leafvec & (below | bit)).count_ones() as usize).wrapping_sub(1);
    // Select the word arithmetically: all-ones mask when the slot is a child.
    let m = is_child.wrapping_neg();
    let idx = o + HDR + ((child_rank & m) | ((nc + leaf_rank / 2) & !m));
    let w = arena.get(idx).copied().unwrap_or(LEAF);
    let leaf_value = LEAF | ((w >> ((leaf_rank & 1) * 16)) & 0xffff);
    let m32 = m as u32;
    (w & m32) | (leaf_value & !m32)
}

/// The next-hop id of a leaf entry.
#[inline(always)]
fn resolve(codes: &[NextHopId], e: u32) -> Option<NextHopId> {
    let id = codes.get((e & 0xffff) as usize).copied().unwrap_or(NONE_ID);
    (id != NONE_ID).then_some(id)
}

#[inline(always)]
fn walk<A: Addr>(direct: &[u32], arena: &[u32], a: A) -> u32 {
    let mut e = direct.get(a.direct_index()).copied().unwrap_or(LEAF);
    let mut depth = A::DIRECT;
    while e & LEAF == 0 {
        e = step(arena, e as usize, a.slot(depth));
        depth += 6;
    }
    e
}

/// Addresses walked in lockstep per batch round.
const LANES: usize = 64;

/// Starts fetching the node at arena offset `o` (two cache lines: a node's
/// header and the leaf or child it selects are usually within 64 bytes of
/// each other but not always in the same line).
#[inline(always)]
fn prefetch_node(arena: &[u32], e: u32) {
    // A leaf has no node: fetch the arena's first line (cheap, usually hot)
    // rather than a wild address that could cost a page walk.
    let o = if e & LEAF == 0 { e as usize } else { 0 };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = arena.as_ptr().wrapping_add(o) as *const i8;
        // SAFETY: prefetch is a hint that never faults and dereferences
        // nothing; the address is only computed (wrapping), never read here.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        }
    }
}

#[inline(always)]
fn walk_batch<T: Copy, A: Addr>(
    direct: &[u32],
    arena: &[u32],
    codes: &[NextHopId],
    addrs: &[T],
    to_addr: impl Fn(T) -> A,
    out: &mut [Option<NextHopId>],
) {
    const M: usize = LANES - 1;
    let n = addrs.len().min(out.len()).min(LANES);
    let (addrs, out) = (&addrs[..n], &mut out[..n]);
    let mut e = [LEAF; LANES];
    let mut active = [0u8; LANES];
    let mut live = 0;
    for (i, &a) in addrs.iter().enumerate() {
        let x = direct
            .get(to_addr(a).direct_index())
            .copied()
            .unwrap_or(LEAF);
        e[i & M] = x;
        if PREFETCH {
            prefetch_node(arena, x);
        }
        active[live & M] = i as u8;
        live += usize::from(x & LEAF == 0);
    }
    let mut depth = A::DIRECT;
    while live > 0 {
        let mut still = 0;
        for j in 0..live.min(LANES) {
            let i = usize::from(active[j]) & M;
            let a = addrs.get(i).map_or(A::default(), |&a| to_addr(a));
            let x = step(arena, e[i] as usize, a.slot(depth));
            e[i] = x;
            if PREFETCH {
                prefetch_node(arena, x);
            }
            active[still & M] = i as u8;
            still += usize::from(x & LEAF == 0);
        }
        live = still;
        depth += 6;
    }
    for (o, &x) in out.iter_mut().zip(&e) {
        *o = resolve(codes, x);
    }
}

const PREFETCH: bool = true;

macro_rules! dispatch {
    ($self:ident, $generic:ident ( $($arg:expr),* ), $fast:ident) => {{
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        {
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the CPU supports popcnt (checked just above), the
                // only target feature `$fast` enables.
                return unsafe { $fast($($arg),*) };
            }
        }
        $generic($($arg),*)
    }};
}

/// The walks again, compiled with hardware popcount (only needed when the
/// build target does not have it already: `.cargo/config.toml` asks for
/// x86-64-v2, which has).
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
mod popcnt {
    use super::*;

    #[target_feature(enable = "popcnt")]
    pub(super) fn walk_v4(direct: &[u32], arena: &[u32], a: u32) -> u32 {
        walk(direct, arena, V4(u64::from(a) << 32))
    }

    #[target_feature(enable = "popcnt")]
    pub(super) fn walk_v6(direct: &[u32], arena: &[u32], a: u128) -> u32 {
        walk(direct, arena, a)
    }

    #[target_feature(enable = "popcnt")]
    pub(super) fn batch_v4<T: Copy + Into<u32>>(
        direct: &[u32],
        arena: &[u32],
        codes: &[NextHopId],
        addrs: &[T],
        out: &mut [Option<NextHopId>],
    ) {
        for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            walk_batch(
                direct,
                arena,
                codes,
                a,
                |x: T| V4(u64::from(x.into()) << 32),
                o,
            );
        }
    }

    #[target_feature(enable = "popcnt")]
    pub(super) fn batch_v6<T: Copy + Into<u128>>(
        direct: &[u32],
        arena: &[u32],
        codes: &[NextHopId],
        addrs: &[T],
        out: &mut [Option<NextHopId>],
    ) {
        for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
            walk_batch(direct, arena, codes, a, |x: T| x.into(), o);
        }
    }
}
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
use popcnt::{batch_v4 as batch_v4_popcnt, batch_v6 as batch_v6_popcnt};
#[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
use popcnt::{walk_v4 as walk_v4_popcnt, walk_v6 as walk_v6_popcnt};

fn walk_v4(direct: &[u32], arena: &[u32], a: u32) -> u32 {
    walk(direct, arena, V4(u64::from(a) << 32))
}

fn walk_v6(direct: &[u32], arena: &[u32], a: u128) -> u32 {
    walk(direct, arena, a)
}

fn batch_v4<T: Copy + Into<u32>>(
    direct: &[u32],
    arena: &[u32],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [Option<NextHopId>],
) {
    for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
        walk_batch(
            direct,
            arena,
            codes,
            a,
            |x: T| V4(u64::from(x.into()) << 32),
            o,
        );
    }
}

fn batch_v6<T: Copy + Into<u128>>(
    direct: &[u32],
    arena: &[u32],
    codes: &[NextHopId],
    addrs: &[T],
    out: &mut [Option<NextHopId>],
) {
    for (a, o) in addrs.chunks(LANES).zip(out.chunks_mut(LANES)) {
        walk_batch(direct, arena, codes, a, |x: T| x.into(), o);
    }
}

impl Trie<u32> {
    #[inline]
    fn leaf_of(&self, a: u32) -> u32 {
        let (direct, arena) = (&self.direct[..], &self.arena[..]);
        dispatch!(self, walk_v4(direct, arena, a), walk_v4_popcnt)
    }

    #[inline]
    pub fn lookup(&self, a: u32) -> Option<NextHopId> {
        resolve(&self.codes, self.leaf_of(a))
    }

    pub fn lookup_batch<T: Copy + Into<u32>>(&self, addrs: &[T], out: &mut [Option<NextHopId>]) {
        let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
        dispatch!(
            self,
            batch_v4(direct, arena, codes, addrs, out),
            batch_v4_popcnt
        )
    }
}

impl Trie<u128> {
    #[inline]
    fn leaf_of(&self, a: u128) -> u32 {
        let (direct, arena) = (&self.direct[..], &self.arena[..]);
        dispatch!(self, walk_v6(direct, arena, a), walk_v6_popcnt)
    }

    #[inline]
    pub fn lookup(&self, a: u128) -> Option<NextHopId> {
        resolve(&self.codes, self.leaf_of(a))
    }

    pub fn lookup_batch<T: Copy + Into<u128>>(&self, addrs: &[T], out: &mut [Option<NextHopId>]) {
        let (direct, arena, codes) = (&self.direct[..], &self.arena[..], &self.codes[..]);
        dispatch!(
            self,
            batch_v6(direct, arena, codes, addrs, out),
            batch_v6_popcnt
        )
    }
}
