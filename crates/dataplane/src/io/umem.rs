//! Frame memory shared by a worker's ports (an AF_XDP UMEM, or plain heap
//! memory for the in-memory backend), and the ownership tokens that make
//! handing frames between rings safe without copies.
//!
//! A [`Frame`] is a unique token for one chunk of a [`Umem`]: it is not
//! `Clone`, only a backend or a [`FramePool`] creates one, and the chunk's
//! bytes are reachable only through `&mut Frame`. So two live `&mut [u8]` can
//! never alias, although they come from one shared region (this is how DPDK's
//! mbufs and VPP's buffer indices work, with the borrow checker as witness).

use std::ptr::NonNull;

/// One frame-sized chunk of a [`Umem`], owned by whoever holds the token.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the frame's first byte from the start of the UMEM (the
    /// kernel's descriptor address; may lie past the chunk's start).
    addr: u64,
    len: u32,
}

impl Frame {
    /// Creates the token for the bytes at `addr`.
    ///
    /// # Safety
    /// No other `Frame` for the same chunk may exist while this one lives, and
    /// `addr` must lie inside the UMEM it is used with (checked on access).
    #[inline]
    pub unsafe fn from_raw(addr: u64, len: u32) -> Frame {
        Frame { addr, len }
    }

    /// Gives the token up, returning its descriptor (for a ring).
    #[inline]
    pub fn into_raw(self) -> (u64, u32) {
        (self.addr, self.len)
    }

    #[inline]
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length of the frame's data.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len as u32;
    }
}

enum Backing {
    Heap(#[allow(dead_code)] Box<[u8]>),
    Mmap { len: usize },
}

/// A region of `frame_count` chunks of `frame_size` bytes (a power of two).
pub struct Umem {
    base: NonNull<u8>,
    frame_size: u32,
    frame_count: u32,
    /// `frame_size × frame_count`, kept: every access to a frame's bytes
    /// checks against it (several times per packet).
    len: u64,
    backing: Backing,
}

// SAFETY: the region is plain memory. Its bytes are only reached through
// `Umem::data`, which needs the unique `&mut Frame` for the chunk, so
// threads never race on a chunk through this type (the kernel's accesses are
// ordered by the rings' producer/consumer barriers).
unsafe impl Send for Umem {}
// SAFETY: as above: shared `&Umem` hands out no bytes without a `&mut Frame`.
unsafe impl Sync for Umem {}

impl std::fmt::Debug for Umem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("frame_size", &self.frame_size)
            .field("frame_count", &self.frame_count)
            .finish()
    }
}

impl Umem {
    /// Heap-backed frames (in-memory backend, tests, benches).
    ///
    /// # Panics
    /// If `frame_size` is not a power of two of at least 2048.
    pub fn new_heap(frame_size: u32, frame_count: u32) -> Umem {
        assert!(frame_size.is_power_of_two() && frame_size >= 2048);
        let mut mem = vec![0u8; frame_size as usize * frame_count as usize].into_boxed_slice();
        let base = NonNull::new(mem.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Umem {
            base,
            frame_size,
            frame_count,
            len: frame_size as u64 * frame_count as u64,
            backing: Backing::Heap(mem),
        }
    }

    /// Takes ownership of an anonymous mapping made by the AF_XDP backend;
    /// it is unmapped on drop.
    ///
    /// # Safety
    /// `base` must come from `mmap` of `frame_size × frame_count` bytes,
    /// readable and writable, not used by anyone else but the kernel's AF_XDP
    /// rings registered on it.
    pub unsafe fn from_mmap(base: NonNull<u8>, frame_size: u32, frame_count: u32) -> Umem {
        Umem {
            base,
            frame_size,
            frame_count,
            len: frame_size as u64 * frame_count as u64,
            backing: Backing::Mmap {
                len: frame_size as usize * frame_count as usize,
            },
        }
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    /// Start of the region (for registering it with the kernel).
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.base
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.frame_count == 0
    }

    /// Start of the chunk holding `addr`.
    #[inline]
    pub fn chunk_of(&self, addr: u64) -> u64 {
        addr & !(self.frame_size as u64 - 1)
    }

    /// The bytes from the frame's address to the end of its chunk; the frame's
    /// data are the first `frame.len()` of them. A token that does not belong
    /// to this UMEM yields an empty slice (never out-of-bounds memory).
    #[inline]
    pub fn data<'a>(&'a self, frame: &'a mut Frame) -> &'a mut [u8] {
        let Some(room) = self.room(frame.addr) else {
            return &mut [];
        };
        let start = frame.addr as usize;
        // SAFETY: `start..start + room` lies inside the region and within
        // one chunk (`room`); the `&mut Frame` borrowed for 'a is the only
        // token for that chunk (the `Frame::from_raw` contract), so no other
        // reference to these bytes exists while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), room as usize) }
    }

    /// The bytes from `addr` to the end of its chunk, if `addr` lies in the
    /// region. Every frame access asks (several times per packet), so it
    /// is one compare: the region is whole chunks (`frame_size ×
    /// frame_count`, a power-of-two size), so an address inside it has its
    /// whole chunk inside too.
    #[inline(always)]
    fn room(&self, addr: u64) -> Option<u64> {
        if addr >= self.len {
            return None;
        }
        let size = self.frame_size as u64;
        Some(size - (addr & (size - 1)))
    }
}

impl Umem {
    /// The whole chunk holding `frame`, and where in it the frame's data
    /// start (the bytes before are headroom: 256 on AF_XDP receive, room
    /// for a VLAN tag to be pushed). Empty for a token of another UMEM.
    #[inline]
    pub fn chunk<'a>(&'a self, frame: &'a mut Frame) -> (&'a mut [u8], usize) {
        let chunk = self.chunk_of(frame.addr);
        let end = chunk + self.frame_size as u64;
        if end > self.len {
            return (&mut [], 0);
        }
        // SAFETY: `chunk..end` is one chunk inside the region (checked
        // above); the `&mut Frame` borrowed for 'a is the only token for it
        // (the `Frame::from_raw` contract), so no other reference to these
        // bytes exists while the slice lives.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().add(chunk as usize),
                self.frame_size as usize,
            )
        };
        (bytes, (frame.addr - chunk) as usize)
    }

    /// Makes `frame` the `len` bytes at `start` of its chunk (after a VLAN
    /// tag was popped or pushed in place); clamped to the chunk.
    #[inline]
    pub fn set_range(&self, frame: &mut Frame, start: usize, len: usize) {
        let size = self.frame_size as usize;
        let start = start.min(size);
        frame.addr = self.chunk_of(frame.addr) + start as u64;
        frame.len = len.min(size - start) as u32;
    }
}

impl Umem {
    /// The frame's data (its first `frame.len()` bytes), read-only. A token
    /// that does not belong to this UMEM yields an empty slice.
    #[inline]
    pub fn bytes<'a>(&'a self, frame: &'a Frame) -> &'a [u8] {
        let Some(room) = self.room(frame.addr) else {
            return &[];
        };
        let start = frame.addr;
        let len = (frame.len as u64).min(room);
        // SAFETY: `start..start + len` lies inside the region and within
        // one chunk (`room`). The `&Frame` borrowed for 'a is the only token
        // for that chunk, and writing through it needs `&mut Frame`
        // ([`Umem::data`]), so nothing writes these bytes while the slice lives.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(start as usize), len as usize) }
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        if let Backing::Mmap { len } = self.backing {
            // SAFETY: the mapping was made by the AF_XDP backend for this
            // Umem alone (`from_mmap` contract); the sockets using it are
            // dropped before it (they hold an `Arc<Umem>`).
            unsafe {
                libc::munmap(self.base.as_ptr().cast(), len);
            }
        }
    }
}

/// Free chunks of one UMEM, as tokens. Fixed capacity: never allocates after
/// creation.
#[derive(Debug)]
pub struct FramePool {
    free: Vec<u64>,
    frame_size: u64,
}

impl FramePool {
    /// A pool holding the chunks `first..first + count` of `umem`, with room
    /// for all of the UMEM's chunks so that frees never allocate.
    ///
    /// # Safety
    /// No tokens for those chunks may exist, and no other pool may hold them.
    pub unsafe fn new(umem: &Umem, first: u32, count: u32) -> FramePool {
        let frame_size = umem.frame_size() as u64;
        let mut free = Vec::with_capacity(umem.frame_count() as usize);
        free.extend((first..first + count).rev().map(|i| i as u64 * frame_size));
        FramePool { free, frame_size }
    }

    /// A free frame of length 0, if any.
    #[inline]
    pub fn alloc(&mut self) -> Option<Frame> {
        self.free.pop().map(|addr| Frame { addr, len: 0 })
    }

    /// Returns a frame's chunk to the pool.
    #[inline]
    pub fn free(&mut self, frame: Frame) {
        // Capacity was reserved for every chunk at creation: no allocation.
        self.free.push(frame.addr & !(self.frame_size - 1));
    }

    /// Returns every frame of `frames` to the pool, in order (as many
    /// [`FramePool::free`] calls, in one pass).
    #[inline]
    pub fn free_all(&mut self, frames: impl Iterator<Item = Frame>) {
        let mask = !(self.frame_size - 1);
        // Capacity was reserved for every chunk at creation: no allocation.
        self.free.extend(frames.map(|frame| frame.addr & mask));
    }

    /// Moves up to `n` free frames to `to`: the frames and order of as many
    /// [`FramePool::alloc`] and `to.free` calls, in one pass. Returns how
    /// many moved. Both pools must be of the same UMEM.
    #[inline]
    pub fn move_to(&mut self, to: &mut FramePool, n: usize) -> usize {
        let n = n.min(self.free.len());
        let from = self.free.len() - n;
        // `alloc` takes from the end: the last frame moves first.
        to.free.extend(self.free.drain(from..).rev());
        n
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

/// A fixed-capacity batch of frames (the unit rings are read and written in).
#[derive(Debug)]
pub struct FrameBatch {
    frames: Vec<Frame>,
}

impl FrameBatch {
    pub fn with_capacity(capacity: usize) -> Self {
        FrameBatch {
            frames: Vec::with_capacity(capacity),
        }
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.frames.capacity()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.frames.len() == self.frames.capacity()
    }

    /// Room left before the batch is full.
    #[inline]
    pub fn room(&self) -> usize {
        self.frames.capacity() - self.frames.len()
    }

    /// Adds a frame, or gives it back when the batch is full (so the batch
    /// never grows past its capacity and never allocates).
    #[inline]
    pub fn push(&mut self, frame: Frame) -> Result<(), Frame> {
        if self.is_full() {
            return Err(frame);
        }
        self.frames.push(frame);
        Ok(())
    }

    #[inline]
    pub fn pop(&mut self) -> Option<Frame> {
        self.frames.pop()
    }

    /// Moves frames from the front of `queue` to the batch, in order, until
    /// the batch is full or the queue empty (as many [`FrameBatch::push`]
    /// calls of the queue's first frames, in one block move).
    #[inline]
    pub fn take_from(&mut self, queue: &mut Vec<Frame>) {
        let n = self.room().min(queue.len());
        self.frames.extend(queue.drain(..n));
    }

    /// Moves every frame to the end of `to`, in order, in one block move
    /// (as `to.extend(self.drain())` does one by one), keeping the batch's
    /// buffer. Allocates only if `to` lacks the room.
    #[inline]
    pub fn append_to(&mut self, to: &mut Vec<Frame>) {
        to.append(&mut self.frames);
    }

    /// Moves every frame of `from` (left empty) to the end of the batch in
    /// one block, when the batch has room for them all (as many
    /// [`FrameBatch::push`] calls, none refused): `true`; else `false`,
    /// nothing moved. Never allocates.
    #[inline]
    pub fn append_all(&mut self, from: &mut Vec<Frame>) -> bool {
        if from.len() > self.room() {
            return false;
        }
        self.frames.append(from);
        true
    }

    /// Takes every frame out, in order.
    #[inline]
    pub fn drain(&mut self) -> std::vec::Drain<'_, Frame> {
        self.frames.drain(..)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// The frames, in order, for passes that rewrite them in place.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Frame] {
        &mut self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reach_only_their_chunk() {
        let umem = Umem::new_heap(2048, 4);
        // SAFETY: a fresh UMEM; this is its only pool.
        let mut pool = unsafe { FramePool::new(&umem, 0, 4) };
        let mut a = pool.alloc().unwrap();
        let mut b = pool.alloc().unwrap();
        assert_ne!(a.addr(), b.addr());
        umem.data(&mut a)[0] = 1;
        umem.data(&mut b)[0] = 2;
        assert_eq!(umem.data(&mut a).len(), 2048);
        assert_eq!(umem.data(&mut a)[0], 1);
        assert_eq!(umem.data(&mut b)[0], 2);
        // A descriptor inside a chunk (e.g. after headroom) reaches to the chunk's end.
        // SAFETY: `a`'s chunk is re-tokenised only after `a` is given up.
        let (addr, _) = a.into_raw();
        let mut inner = unsafe { Frame::from_raw(addr + 256, 60) };
        assert_eq!(umem.data(&mut inner).len(), 2048 - 256);
        pool.free(inner);
        pool.free(b);
        assert_eq!(pool.available(), 4);
        // Chunk bases come back, not inner addresses.
        let all: Vec<u64> = (0..4).map(|_| pool.alloc().unwrap().addr()).collect();
        assert!(all.iter().all(|a| a % 2048 == 0));
        // A foreign token gives an empty slice instead of wild memory.
        // SAFETY: no other token for this (out-of-range) address exists.
        let mut foreign = unsafe { Frame::from_raw(4 * 2048, 10) };
        assert!(umem.data(&mut foreign).is_empty());
    }

    #[test]
    fn batch_never_grows() {
        let umem = Umem::new_heap(2048, 3);
        // SAFETY: a fresh UMEM; this is its only pool.
        let mut pool = unsafe { FramePool::new(&umem, 0, 3) };
        let mut batch = FrameBatch::with_capacity(2);
        assert!(batch.push(pool.alloc().unwrap()).is_ok());
        assert!(batch.push(pool.alloc().unwrap()).is_ok());
        let rejected = batch.push(pool.alloc().unwrap()).unwrap_err();
        assert_eq!(batch.capacity(), 2);
        pool.free(rejected);
        for f in batch.drain() {
            pool.free(f);
        }
        assert_eq!(pool.available(), 3);
    }

    /// The pools' bulk moves are as many single ones: the same frames, in
    /// the same order (which later allocations see).
    #[test]
    fn bulk_moves_equal_single_ones() {
        let umem = Umem::new_heap(2048, 12);
        // SAFETY: a fresh UMEM split into disjoint pools; a/b and c/d hold
        // chunks 6 apart, in the same places.
        let (mut a, mut b, mut c, mut d) = unsafe {
            (
                FramePool::new(&umem, 0, 5),
                FramePool::new(&umem, 5, 1),
                FramePool::new(&umem, 6, 5),
                FramePool::new(&umem, 11, 1),
            )
        };
        for want in [3, 9] {
            let moved = a.move_to(&mut b, want);
            let mut single = 0;
            while single < want {
                let Some(f) = c.alloc() else { break };
                d.free(f);
                single += 1;
            }
            assert_eq!(moved, single);
        }
        let drain = |p: &mut FramePool| {
            std::iter::from_fn(|| p.alloc().map(|f| f.addr())).collect::<Vec<_>>()
        };
        let shifted = |v: Vec<u64>| v.iter().map(|x| x + 6 * 2048).collect::<Vec<_>>();
        assert_eq!(shifted(drain(&mut a)), drain(&mut c));
        let (from_b, from_d) = (drain(&mut b), drain(&mut d));
        assert_eq!(from_b.len(), 6);
        assert_eq!(shifted(from_b.clone()), from_d);
        // free_all: inner addresses come back as chunk bases, in order.
        let mut batch = FrameBatch::with_capacity(4);
        for &addr in &from_b[..4] {
            // SAFETY: the chunk's token was given up by `drain` above.
            batch
                .push(unsafe { Frame::from_raw(addr + 256, 60) })
                .unwrap();
        }
        b.free_all(batch.drain());
        assert!(batch.is_empty());
        let back = drain(&mut b);
        assert_eq!(back, from_b[..4].iter().rev().copied().collect::<Vec<_>>());
    }

    #[test]
    fn batch_takes_from_the_front_until_full() {
        let mut queue: Vec<Frame> = (0..5u64)
            // SAFETY: tokens of a UMEM that is never made; only compared.
            .map(|i| unsafe { Frame::from_raw(i * 2048, 60) })
            .collect();
        let mut batch = FrameBatch::with_capacity(3);
        batch.take_from(&mut queue);
        let got: Vec<u64> = batch.iter().map(Frame::addr).collect();
        assert_eq!(got, vec![0, 2048, 4096]);
        assert_eq!(queue.len(), 2);
        batch.take_from(&mut queue);
        assert_eq!(batch.len(), 3, "full: nothing taken");
        assert_eq!(batch.drain().count(), 3);
        batch.take_from(&mut queue);
        assert_eq!(
            batch.iter().map(Frame::addr).collect::<Vec<_>>(),
            vec![3 * 2048, 4 * 2048]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn batch_appends_its_frames_in_order_behind_the_others() {
        // SAFETY: tokens of a UMEM that is never made; only compared.
        let token = |i: u64| unsafe { Frame::from_raw(i * 2048, 60 + i as u32) };
        let mut held: Vec<Frame> = vec![token(7)];
        held.reserve(4);
        let mut batch = FrameBatch::with_capacity(4);
        for i in 0..3 {
            batch.push(token(i)).unwrap();
        }
        batch.append_to(&mut held);
        assert!(batch.is_empty());
        assert_eq!(batch.capacity(), 4, "the batch keeps its buffer");
        let got: Vec<(u64, usize)> = held.iter().map(|f| (f.addr(), f.len())).collect();
        assert_eq!(got, [(7 * 2048, 67), (0, 60), (2048, 61), (4096, 62)]);
    }

    /// A whole batch moves in only when every frame fits (as pushing each
    /// would have), in order, and nothing moves otherwise.
    #[test]
    fn batch_takes_a_whole_batch_only_with_room_for_all() {
        // SAFETY: tokens of a UMEM that is never made; only compared.
        let token = |i: u64| unsafe { Frame::from_raw(i * 2048, 60) };
        let mut batch = FrameBatch::with_capacity(4);
        batch.push(token(9)).unwrap();
        let mut three: Vec<Frame> = (0..3).map(token).collect();
        let mut four: Vec<Frame> = (3..7).map(token).collect();
        assert!(!batch.append_all(&mut four));
        assert_eq!((batch.len(), four.len()), (1, 4));
        assert!(batch.append_all(&mut three));
        assert!(three.is_empty());
        let got: Vec<u64> = batch.iter().map(|f| f.addr() / 2048).collect();
        assert_eq!(got, [9, 0, 1, 2]);
        assert_eq!(batch.capacity(), 4, "never grown");
    }
}
