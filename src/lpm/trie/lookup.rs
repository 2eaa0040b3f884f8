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
trait Addr: Copy {
    /// The address with the direct index's bits shifted out: the next
    /// slot is always its top 6 bits (bits past the address read as 0).
    type Rest: Copy + Default;
    fn direct_index(self) -> usize;
    fn rest(self) -> Self::Rest;
    fn top6(r: Self::Rest) -> u32;
    fn shift6(r: Self::Rest) -> Self::Rest;
}

/// IPv4 widened to 64 bits so that slots past bit 32 read zeros.
#[derive(Clone, Copy)]
struct V4(u64);

impl Addr for V4 {
    type Rest = u64;
    #[inline(always)]
    fn direct_index(self) -> usize {
        (self.0 >> (64 - <u32 as Key>::DIRECT)) as usize
    }
    #[inline(always)]
    fn rest(self) -> u64 {
        self.0 << <u32 as Key>::DIRECT
    }
    #[inline(always)]
    fn top6(r: u64) -> u32 {
        (r >> 58) as u32
    }
    #[inline(always)]
    fn shift6(r: u64) -> u64 {
        r << 6
    }
}

impl Addr for u128 {
    type Rest = u128;
    #[inline(always)]
    fn direct_index(self) -> usize {
        (self >> (128 - <u128 as Key>::DIRECT)) as usize
    }
    #[inline(always)]
    fn rest(self) -> u128 {
        self << <u128 as Key>::DIRECT
    }
    #[inline(always)]
    fn top6(r: u128) -> u32 {
        (r >> 122) as u32
    }
    #[inline(always)]
    fn shift6(r: u128) -> u128 {
        r << 6
    }
}

/// One step down: the entry of slot `s` of the node at `o` (a child offset
/// or `LEAF|code`). One popcount and one load, no branch on the entry kind.
#[inline(always)]
fn step(arena: &[u32], o: usize, s: u32) -> u32 {
    let Some(&[r0, r1]) = arena.get(o..o + HDR) else {
        return LEAF; // unreachable for a well-formed arena; reads as no route
    };
    let runs = u64::from(r0) | (u64::from(r1) << 32);
    // Runs that start at or before slot s; bit 0 is always set, so >= 1.
    let rank = (runs << (63 - (s & 63))).count_ones() as usize;
    let idx = (o + HDR).wrapping_add(rank).wrapping_sub(1);
    arena.get(idx).copied().unwrap_or(LEAF)
}

/// The next-hop id of a leaf entry. "No route" is selected without a
/// branch: whether an address has a route is data, and a branch on it
/// mispredicts on traffic that often has none (uniform addresses: 1 in 3).
#[inline(always)]
fn resolve(codes: &[NextHopId], e: u32) -> Option<NextHopId> {
    let id = codes.get((e & 0xffff) as usize).copied().unwrap_or(NONE_ID);
    std::hint::select_unpredictable(id != NONE_ID, Some(id), None)
}

#[inline(always)]
fn walk<A: Addr>(direct: &[u32], arena: &[u32], a: A) -> u32 {
    let mut e = direct.get(a.direct_index()).copied().unwrap_or(LEAF);
    let mut r = a.rest();
    while e & LEAF == 0 {
        e = step(arena, e as usize, A::top6(r));
        r = A::shift6(r);
    }
    e
}

/// Addresses walked in lockstep per batch round.
const LANES: usize = 64;

/// Starts fetching the node an entry points to (the arena's first line, hot
/// and harmless, for a leaf: no branch, and no wild address that could cost
/// a page walk). One line: nodes are 8-byte aligned and most hold a few
/// entries, so the bitmap and the entry a slot selects usually share it.
#[inline(always)]
fn prefetch_node(arena: &[u32], e: u32) {
    let o = if e & LEAF == 0 { e as usize } else { 0 };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = arena.as_ptr().wrapping_add(o) as *const i8;
        // SAFETY: prefetch is a hint that never faults and dereferences
        // nothing; the address is only computed (wrapping), never read here.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (arena, o);
}

/// Up to [`LANES`] addresses: first every direct entry (addresses that end
/// there retire at once, the others' nodes start loading), then one level
/// per round for the addresses still inside nodes only, each retiring as
/// soon as it reaches a leaf.
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
    let mut rest = [A::Rest::default(); LANES];
    let mut active = [0u8; LANES];
    let mut live = 0;
    for (i, (&a, o)) in addrs.iter().zip(out.iter_mut()).enumerate() {
        let a = to_addr(a);
        let x = direct.get(a.direct_index()).copied().unwrap_or(LEAF);
        // Written for every address, branch-free; overwritten below for
        // those that go on into nodes.
        *o = resolve(codes, x);
        e[i & M] = x;
        rest[i & M] = a.rest();
        active[live & M] = i as u8;
        live += usize::from(x & LEAF == 0);
    }
    for &i in &active[..live.min(LANES)] {
        prefetch_node(arena, e[usize::from(i) & M]);
    }
    while live > 0 {
        let mut still = 0;
        for j in 0..live.min(LANES) {
            let i = usize::from(active[j]) & M;
            let x = step(arena, e[i] as usize, A::top6(rest[i]));
            rest[i] = A::shift6(rest[i]);
            e[i] = x;
            if PREFETCH {
                prefetch_node(arena, x);
            }
            if let Some(o) = out.get_mut(i) {
                *o = resolve(codes, x);
            }
            active[still & M] = i as u8;
            still += usize::from(x & LEAF == 0);
        }
        live = still;
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
