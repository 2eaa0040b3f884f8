//! How the daemon uses glibc's allocator. A full routing table is a few
//! dozen multi-megabyte arrays (the prefix maps' keys, values and indices,
//! the tries) and millions of small blocks (B-tree nodes, path attributes);
//! what glibc does with them by default leaves tens of megabytes resident
//! that nothing uses.

/// Blocks at least this large are mapped on their own (`mmap`) rather than
/// carved from an arena.
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes glibc's mmap threshold (call once, first thing). By default the
/// threshold starts at 128 KiB and rises to the size of each mapped block
/// freed, up to 32 MiB: after the first prefix map grows (freeing its old
/// multi-megabyte arrays), later arrays of up to 32 MiB come from the arenas,
/// where a freed one leaves a hole that stays resident, and growing one
/// copies it instead of remapping it (`mremap`). Fixed, every large array is
/// its own mapping, returned to the kernel when freed. Measured with the
/// full-table benchmark (scripts/bench-bgp, 1.25 M prefixes): 356 MB RSS with
/// the default, 324 MB with the threshold fixed (via `MALLOC_MMAP_THRESHOLD_`).
pub fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes plain integers and only sets glibc's tunables.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
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
