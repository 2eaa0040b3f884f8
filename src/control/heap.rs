//! How the daemon allocates. A full routing table is a few dozen
//! multi-megabyte arrays (the prefix maps' keys, values and indices, the
//! tries) and millions of small blocks (path attributes, routes); what
//! glibc does with them by default leaves tens of megabytes resident that
//! nothing uses.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large get a mapping of their own.
pub const LARGE_BLOCK: usize = 128 * 1024;
const PAGE: usize = 4096;

/// The process's allocator (installed in `main.rs`): glibc's `malloc` for
/// small blocks, a mapping of its own (`mmap`, grown with `mremap`, freed
/// with `munmap`) for every block of [`LARGE_BLOCK`] bytes or more.
///
/// glibc maps a large block only when no free chunk of its arenas fits it:
/// a daemon that lost a full table has tens of megabytes of free chunks in
/// its arena, so the arrays of the next table (prefix maps, tries, hash
/// tables, hundreds of kilobytes to megabytes each) were carved from
/// them, grew by copying (no `mremap` in an arena), and left resident holes
/// behind when they grew or went. scripts/bench-bgp measured it: the arena
/// was 23 MB holding the first table, 56 holding the second, 73 the third,
/// and the RSS 136, 145, 144 MB. glibc's mmap threshold (`mallopt`, fixed
/// at 128 KiB before this) does not help: the arenas' free chunks are tried
/// first whatever the threshold.
/// Here the decision depends on the layout alone, so `dealloc` knows which
/// way a block came.
#[derive(Debug, Default, Clone, Copy)]
pub struct MappedLargeBlocks;

fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE_BLOCK && align <= PAGE
}

/// The length of the mapping that holds `size` bytes.
fn mapped(size: usize) -> usize {
    // A `Layout`'s size is at most isize::MAX: no overflow.
    size.next_multiple_of(PAGE)
}

// SAFETY: every block handed out is either glibc's (small, or aligned beyond
// a page) or a fresh private anonymous mapping of at least its size, page
// aligned (so any alignment up to a page holds) and zero-filled; a layout
// is routed the same way on allocation, reallocation and release, so each
// block goes back the way it came.
unsafe impl GlobalAlloc for MappedLargeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            map(layout.size())
        } else {
            // SAFETY: the caller's contract (a non-zero size) is passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            // Fresh anonymous pages read as zeros.
            map(layout.size())
        } else {
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            // SAFETY: `ptr` came from `map` (or `remap`) with this size: the
            // whole mapping is the block's.
            let unmapped = unsafe { libc::munmap(ptr.cast(), mapped(layout.size())) };
            debug_assert_eq!(unmapped, 0, "munmap of a block of ours");
        } else {
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        match (is_large(layout.size(), align), is_large(new_size, align)) {
            (true, true) => {
                let (old, new) = (mapped(layout.size()), mapped(new_size));
                if old == new {
                    return ptr;
                }
                // SAFETY: `ptr` is the start of a mapping of `old` bytes,
                // all ours; on failure it stays as it was.
                let moved = unsafe { libc::mremap(ptr.cast(), old, new, libc::MREMAP_MAYMOVE) };
                if moved == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    moved.cast()
                }
            }
            // SAFETY: glibc's block, with the caller's contract passed on.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: the caller guarantees `new_size` with `align` is a
                // valid layout.
                let to = unsafe { Layout::from_size_align_unchecked(new_size, align) };
                // SAFETY: a non-zero size (it is large, or the old one was).
                let new = unsafe { self.alloc(to) };
                if !new.is_null() {
                    // SAFETY: both blocks are ours, distinct, and at least
                    // this long; the old one is freed as it was allocated.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

/// A private anonymous mapping of at least `size` bytes (null if refused).
fn map(size: usize) -> *mut u8 {
    // SAFETY: a new anonymous mapping touches no existing memory.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            mapped(size),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if at == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        at.cast()
    }
}

/// Hands the allocator's free pages back to the kernel. A full table's
/// withdrawal frees millions of small chunks (routes, B-tree nodes) that
/// glibc keeps in its arenas: after a table was lost and relearnt, 38 MB of
/// the daemon's 416 MB were free heap still resident (scripts/bench-bgp,
/// round 2, measured with a `malloc_trim` from gdb). Costs milliseconds,
/// once per mass change: the event loop calls it when the engine has
/// compacted its maps after one (`Engine::poll_compacted`).
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only walks glibc's own free
    // lists (under their locks) and madvises away whole free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// Fills `len` bytes at `p` with a pattern and checks an earlier fill.
    fn fill_and_check(p: *mut u8, len: usize, check: usize) {
        // SAFETY: the tests pass blocks of at least `len` (and `check`) bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, len) };
        for (i, b) in bytes.iter().take(check).enumerate() {
            assert_eq!(*b, (i % 251) as u8, "byte {i} kept");
        }
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
    }

    #[test]
    fn large_blocks_are_mappings_and_keep_their_bytes_across_every_realloc() {
        let a = MappedLargeBlocks;
        let small = layout(1000, 8);
        // SAFETY: each block is used within its size and freed with the
        // layout it has at that moment.
        unsafe {
            let p = a.alloc(small);
            fill_and_check(p, 1000, 0);
            // Small to large, large to larger (remapped), back to small.
            let p = a.realloc(p, small, 3 * LARGE_BLOCK);
            assert_eq!(p as usize % PAGE, 0, "a mapping starts on a page");
            fill_and_check(p, 3 * LARGE_BLOCK, 1000);
            let p = a.realloc(p, layout(3 * LARGE_BLOCK, 8), 40 * LARGE_BLOCK + 5);
            fill_and_check(p, 40 * LARGE_BLOCK + 5, 3 * LARGE_BLOCK);
            // Within the same pages: the same block.
            let q = a.realloc(p, layout(40 * LARGE_BLOCK + 5, 8), 40 * LARGE_BLOCK + 9);
            assert_eq!(q, p);
            let p = a.realloc(q, layout(40 * LARGE_BLOCK + 9, 8), 2000);
            fill_and_check(p, 2000, 2000);
            a.dealloc(p, layout(2000, 8));
        }
    }

    #[test]
    fn zeroed_blocks_read_as_zeros_and_big_alignments_go_to_glibc() {
        let a = MappedLargeBlocks;
        for l in [
            layout(LARGE_BLOCK, 64),
            layout(LARGE_BLOCK - 1, 8),
            layout(2 * LARGE_BLOCK, 2 * PAGE),
        ] {
            // SAFETY: read within the block, freed with its layout.
            unsafe {
                let p = a.alloc_zeroed(l);
                assert!(!p.is_null());
                assert_eq!(p as usize % l.align(), 0);
                assert!(std::slice::from_raw_parts(p, l.size())
                    .iter()
                    .all(|&b| b == 0));
                a.dealloc(p, l);
            }
        }
        assert!(is_large(LARGE_BLOCK, PAGE));
        assert!(!is_large(LARGE_BLOCK - 1, 8));
        assert!(
            !is_large(LARGE_BLOCK, 2 * PAGE),
            "mmap aligns to a page only"
        );
    }

    /// A freed large block leaves the address space at once (glibc's
    /// arena would keep it).
    #[test]
    fn a_freed_large_block_is_unmapped() {
        let a = MappedLargeBlocks;
        let l = layout(8 * LARGE_BLOCK, 8);
        // SAFETY: the block is freed with its layout; only its address is
        // looked at afterwards.
        let p = unsafe {
            let p = a.alloc(l);
            fill_and_check(p, l.size(), 0);
            p
        };
        let mapped_at = |p: *mut u8| {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            maps.lines().any(|line| {
                let range = line.split(' ').next().unwrap();
                let (lo, hi) = range.split_once('-').unwrap();
                let (lo, hi) = (
                    usize::from_str_radix(lo, 16).unwrap(),
                    usize::from_str_radix(hi, 16).unwrap(),
                );
                (lo..hi).contains(&(p as usize))
            })
        };
        assert!(mapped_at(p));
        // SAFETY: as above.
        unsafe { a.dealloc(p, l) };
        assert!(!mapped_at(p));
    }
}
