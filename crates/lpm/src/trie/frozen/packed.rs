//! The data plane's IPv4 lookup structure: the `lnxv` copy (see the
//! parent module) made from a finished trie at each publication, when the
//! table allows it (README, "Twenty-fourth session").
//!
//! A 16-bit direct array of signed offsets from each entry's own line,
//! byte-wide narrow nodes, leaves as one-slot nodes and every leaf holding
//! its next-hop id + 1: a lookup is a direct load, a node's bitmap and
//! the byte its popcount selects, with no branch on the entry's kind and
//! no code-table load. Nothing here is updated: the control side keeps
//! the trie and updates it in place; a publication makes a new copy.
//!
//! When the table cannot be held so (a next-hop id past 254, more than
//! 16,384 direct entries with wide nodes, nodes more than 256 KiB ahead of
//! their line: `Layout16::new_linear`), there is no copy and the
//! published table keeps the trie's compiled arrays, which answer as
//! before.

use super::{
    node_address, FrozenV4, Layout16, DIRECT, LEAF_NODE, LEAF_TABLE_EVERY, NARROW8_ENTRY,
    SLOT_MASKS_BYTE, WIDE_D, WIDE_D_END,
};
use crate::trie::{Trie, NONE_ID};
use crate::{MaybeNextHop, NextHopId};

/// `BYTE_VALUES[v] == v`: where a batch reads a wide walk's leaf value
/// from, so that every answer is a byte load (see [`store_ids`]).
static BYTE_VALUES: [u8; 256] = {
    let mut b = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        b[i] = i as u8;
        i += 1;
    }
    b
};

/// Writes the four answers whose leaf values (next-hop id + 1, 0 for
/// none) are the bytes at `leaf(0..4)`, in one 16-byte store (the batch's
/// readers load the answers so, and a load that spans several stores
/// waits for them to reach the cache). With SSE4.1 (x86-64-v2) each byte
/// is loaded straight into its lane (`pinsrb` from memory: one
/// instruction for the load, the widening and the insert, where
/// `movzx` + `pinsrd` took two) and the four "- 1" are one vector add
/// (a `dec` per answer cost the batch 8 % on the uniform trace; README,
/// "Twenty-sixth session").
///
/// Each leaf is found (`leaf(i)`) just before its byte is read, so that
/// no lookup's pointer waits in a register for the others.
///
/// # Safety
/// `leaf(0..4)` are readable.
#[inline(always)]
unsafe fn store_ids(o: &mut [MaybeNextHop; 4], leaf: impl Fn(usize) -> *const u8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse4.1"))]
    {
        use std::arch::x86_64::{
            _mm_add_epi32, _mm_insert_epi8, _mm_set1_epi32, _mm_setzero_si128, _mm_storeu_si128,
        };
        // SAFETY: SSE4.1 is enabled at compile time; the caller's contract
        // for the four reads; `o` is 16 writable bytes (unaligned store).
        unsafe {
            let byte = |i: usize| i32::from(*leaf(i));
            let v = _mm_insert_epi8::<0>(_mm_setzero_si128(), byte(0));
            let v = _mm_insert_epi8::<4>(v, byte(1));
            let v = _mm_insert_epi8::<8>(v, byte(2));
            let v = _mm_insert_epi8::<12>(v, byte(3));
            _mm_storeu_si128(o.as_mut_ptr().cast(), _mm_add_epi32(v, _mm_set1_epi32(-1)));
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse4.1")))]
    {
        // SAFETY: the caller's contract.
        *o = [0, 1, 2, 3]
            .map(|i| MaybeNextHop::some(u32::from(unsafe { *leaf(i) }).wrapping_sub(1)));
    }
}

/// Largest next-hop id a packed copy holds: its leaves are bytes holding
/// id + 1, 0 for no route.
pub const PACKED_MAX_ID: NextHopId = 254;

/// A lookup-only IPv4 copy of a trie (see the module docs). Not `Clone`:
/// the layout holds the address of its own arena (share it in an `Arc`).
#[derive(Debug)]
pub struct PackedV4 {
    layout: Layout16,
    /// How far its nodes run ahead of their line at most, bytes (the
    /// measurement tool reports it: the placement's margin).
    ahead: usize,
}

impl PackedV4 {
    /// The copy of `t`, or why the table cannot be held so.
    pub(crate) fn new(t: &Trie<u32>) -> Result<Self, String> {
        if t.direct.len() != 1 << DIRECT {
            return Err("the trie has no compiled arrays".into());
        }
        // One leaf node per code, a table of them every 32 KiB of arena.
        if t.codes.len() * LEAF_NODE * 4 > LEAF_TABLE_EVERY {
            return Err(format!("{} leaf codes: more than 512", t.codes.len()));
        }
        // Code c's value: its id + 1, 0 for no route (code 0's id). A free
        // code keeps the id it had, which must fit too (it is never read,
        // but its leaf node is laid).
        let values = t
            .codes
            .iter()
            .map(|&id| match id {
                NONE_ID => Ok(0),
                id if id <= PACKED_MAX_ID => Ok(id as u16 + 1),
                id => Err(format!("next-hop id {id}: past {PACKED_MAX_ID}")),
            })
            .collect::<Result<Vec<u16>, String>>()?;
        let (layout, ahead) = Layout16::new_linear(t, true, Some(&values), true)?;
        Ok(PackedV4 { layout, ahead })
    }

    /// The next-hop id of `a`'s longest match, `NONE_ID` for none.
    #[inline(always)]
    pub(crate) fn id_of(&self, a: u32) -> NextHopId {
        self.value_of(a).wrapping_sub(1)
    }

    /// What `a`'s leaf stores: its next-hop id + 1, 0 for none.
    #[inline(always)]
    fn value_of(&self, a: u32) -> u32 {
        let l = &self.layout;
        // Read before the branch, so that a caller's loop reads it once
        // (LLVM hoists only loads every iteration makes).
        let zero = l.zero;
        let (s, d) = self.direct_entry(a);
        if d < WIDE_D_END as isize {
            // Inline, not a call as in the measurement tool's `lnxv`: a
            // call the loop cannot see into keeps LLVM from hoisting this
            // copy's field loads out of a caller's loop.
            let e = l.wides[(d - WIDE_D as isize) as usize];
            let id = FrozenV4::walk::<true, true>(l, &[], e, u64::from(a) << (32 + DIRECT));
            return id.wrapping_add(1);
        }
        let (base, i) = Self::narrow_leaf(zero, s, d, a);
        // SAFETY: `narrow_leaf`'s answer, a byte of the copy.
        u32::from(unsafe { *base.wrapping_add(i + NARROW8_ENTRY) })
    }

    /// Where the leaf value of `a`, whose direct entry `d` (at `s`) is not
    /// wide, is: the byte at `base + i + NARROW8_ENTRY` (see
    /// `FrozenV4::narrow8_leaf`).
    #[inline(always)]
    fn narrow_leaf(zero: usize, s: usize, d: isize, a: u32) -> (*const u8, usize) {
        let mask = SLOT_MASKS_BYTE[usize::from((a >> 8) as u8)];
        // In 8-byte units from the arena's start; never negative: every
        // node lies in the arena.
        let node = node_address(zero, (s as isize + d) as usize);
        // SAFETY: a narrow node or a one-slot leaf node of the copy.
        unsafe { FrozenV4::narrow8_leaf(node, mask) }
    }

    /// [`Self::narrow_leaf`] for a batch, any address: where `a`'s leaf
    /// value is (the byte at `base + i + NARROW8_ENTRY`), a wide direct
    /// entry's walk out of line (`leaf_of_wide`).
    #[inline(always)]
    fn leaf_of(&self, a: u32) -> (*const u8, usize) {
        let zero = self.layout.zero;
        let (s, d) = self.direct_entry(a);
        if d < WIDE_D_END as isize {
            return self.leaf_of_wide(a);
        }
        Self::narrow_leaf(zero, s, d, a)
    }

    /// `a`'s direct index and its entry (an offset from the entry's line,
    /// or a wide node's index below `WIDE_D_END`).
    #[inline(always)]
    fn direct_entry(&self, a: u32) -> (usize, isize) {
        let s = (a >> (32 - DIRECT)) as usize;
        // SAFETY: s < 2^18 = direct16.len().
        let d = unsafe { *self.layout.direct16.get_unchecked(s) } as i16 as isize;
        (s, d)
    }

    /// [`Self::leaf_of`] of an address whose direct entry is wide (703 of
    /// the 2^18 entries on the CAIDA table): its value's byte in
    /// [`BYTE_VALUES`] (the base set back by the `NARROW8_ENTRY` that
    /// callers add). Out of line: inline, the walk took the batch loop's
    /// registers, and LLVM re-read a table's address from the GOT on
    /// every lookup.
    #[cold]
    #[inline(never)]
    fn leaf_of_wide(&self, a: u32) -> (*const u8, usize) {
        let value = self.value_of(a) as usize;
        (BYTE_VALUES.as_ptr().wrapping_sub(NARROW8_ENTRY), value)
    }

    /// Every address of `addrs` into the same index of `out` (up to the
    /// shorter), by rounds of 64: one lookup for the whole round when its
    /// addresses share the bits that lookup reads (a run of consecutive
    /// addresses, one flow's packets); else one by one, four answers to a
    /// store. The answer is stored as read (`NONE_ID` is
    /// `MaybeNextHop::NONE`).
    ///
    /// A lookup is three dependent loads with no branch but the rare wide
    /// one, so the out-of-order core overlaps consecutive addresses'
    /// lookups by itself, and what a batch adds costs: on the uniform
    /// trace (README, "Twenty-fourth session"; separate runs, so within
    /// the machine's few percent) node addresses formed and prefetched for
    /// the whole round before any node is read ran 0.89x this loop with
    /// one store per answer, 16 AVX-512 lanes of gathers about 0.5x
    /// (Zen 4's gathers), while fewer stores helped: two answers a store
    /// 1.08x, four 1.13x, eight widened from bytes 0.92x. The loop's time
    /// follows its operations: the twenty-sixth session took the wide walk
    /// out of line (`leaf_of_wide`), loaded each answer's byte straight
    /// into its vector lane and made the four "- 1" one vector add
    /// (`store_ids`): 1.18-1.21x this loop's speed before, same run.
    pub(crate) fn lookup_batch<T: Copy + Into<u32>>(&self, addrs: &[T], out: &mut [MaybeNextHop]) {
        const ROUND: usize = 64;
        for (round, o_round) in addrs.chunks(ROUND).zip(out.chunks_mut(ROUND)) {
            let k = round.len().min(o_round.len());
            let (round, o_round) = (&round[..k], &mut o_round[..k]);
            if let Some(id) = self.shared_answer(round) {
                o_round.fill(MaybeNextHop::some(id));
                continue;
            }
            // Four answers a store (see above).
            let (quads, tail) = o_round.as_chunks_mut::<4>();
            for (o, x) in quads.iter_mut().zip(round.chunks_exact(4)) {
                let leaf = |i: usize| {
                    let (base, i) = self.leaf_of(x[i].into());
                    base.wrapping_add(i + NARROW8_ENTRY)
                };
                // SAFETY: `leaf_of`'s answers: bytes of the copy or of
                // `BYTE_VALUES`.
                unsafe { store_ids(o, leaf) };
            }
            let done = k - tail.len();
            for (o, &x) in tail.iter_mut().zip(&round[done..]) {
                *o = MaybeNextHop::some(self.id_of(x.into()));
            }
        }
    }

    /// The answer every address of `round` has when one lookup decides
    /// them all: they share the direct index, its entry is not a wide node,
    /// and no run of the node's slots starts among the slots they can
    /// take (those of `first` with the slot bits they do not all share
    /// free). Other traffic pays a compare of the first and last addresses.
    #[inline(always)]
    fn shared_answer<T: Copy + Into<u32>>(&self, round: &[T]) -> Option<NextHopId> {
        const SLOT_END: u32 = DIRECT + 6;
        let (&first, &last) = (round.first()?, round.last()?);
        let first: u32 = first.into();
        if (first ^ last.into()) >> (32 - DIRECT) != 0 {
            return None;
        }
        let common = round
            .iter()
            .fold(0, |d, &a| d | (a.into() ^ first))
            .leading_zeros();
        let (s, d) = self.direct_entry(first);
        if common < DIRECT || d < WIDE_D_END as isize {
            return None;
        }
        let free = (1u64 << (SLOT_END - common.min(SLOT_END))) - 1;
        let slot = u64::from(first >> (32 - SLOT_END)) & 63;
        let lo = slot & !free;
        let upto = |slot: u64| u64::MAX >> (63 - slot);
        let node = node_address(self.layout.zero, (s as isize + d) as usize);
        let p = std::ptr::with_exposed_provenance::<u8>(node);
        // SAFETY: a narrow node or a one-slot leaf node of the copy (as
        // `value_of` forms it): its 8-byte bitmap, then its entries, of
        // which the rank-th (>= 1: bit 0 of every bitmap is set) answers
        // `first`; one read of the bitmap decides the check and the answer.
        let (runs, value) = unsafe {
            let runs = u64::from_le(p.cast::<u64>().read_unaligned());
            let rank = (runs & upto(slot)).count_ones() as usize;
            (runs, u32::from(*p.add(NARROW8_ENTRY + rank)))
        };
        let starts = runs & upto(lo | free) & !upto(lo);
        (starts == 0).then_some(value.wrapping_sub(1))
    }

    /// The arena's bytes (padding included) and the nodes' largest drift
    /// ahead of their line (the measurement tool's `lnxv` figures).
    pub(super) fn arena_and_ahead(&self) -> (usize, usize) {
        (self.layout.arena.len() * 2, self.ahead)
    }

    /// Bytes lookups can touch: the direct array, the arena (leaf-node
    /// tables and padding included) and the wide entries' pointers.
    pub fn memory_bytes(&self) -> usize {
        let l = &self.layout;
        l.direct16.len() * 2 + l.arena.len() * 2 + l.wides.len() * 4
    }
}
