//! Giving freed memory back to the system. A first sync of a large tree
//! builds plans, batches and buffers for every path; once it is done the
//! keeper holds only its index and ancestor, but glibc's allocator keeps the
//! freed pages mapped — at 100k files that was about 100 MB of resident
//! memory nobody used. After a large sync the keeper asks the allocator to
//! return them. The same goes for an endpoint's opening scan of a large tree
//! (the index it replaced, the scanners' buffers) and for the keeper's
//! loading of the ancestor: after a restart at 100k files the keeper held
//! about 113 MiB without it, 60 with it.

/// Allocations from this size up get their own mapping, given back to the
/// system as soon as they are freed.
const OWN_MAPPING_FROM: usize = 1 << 20;

/// Free memory the heap keeps at its end before it shrinks. Fixing the
/// mapping threshold also stops glibc from raising this one (from 128 KiB):
/// left there, every 256 KiB read buffer freed at the end of the heap gives
/// the memory back and the next one asks for it again, a system call and
/// page faults per file — a first sync of 100k files took 20% longer.
/// Large syncs give everything back at their end anyway.
const KEEP_FREE_AT_TOP: usize = 2 << 20;

/// For long-running processes (the keeper, the daemon): keep large
/// temporary buffers out of the heap. glibc raises its threshold for giving
/// an allocation its own mapping each time such a mapping is freed (up to
/// 32 MiB), after which the index's load, scan and sort buffers — megabytes
/// each at 100k files — are carved from the heap between long-lived small
/// allocations, and what they leave behind cannot be returned. A fixed
/// threshold of 1 MiB keeps them out: after a restart at 100k files the
/// keeper held 60 MiB with the moving threshold and 50 MiB with the fixed
/// one. Transfer chunks (256 KiB) stay in the heap.
pub fn limit_fragmentation() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets a parameter of glibc's allocator; it is
        // called before any other thread exists.
        #[allow(unsafe_code)]
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM as libc::c_int)
                & libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_AT_TOP as libc::c_int)
        };
        if ok != 1 {
            tracing::debug!("could not fix the allocator's mapping threshold");
        }
    }
}

/// Paths a sync must have handled since the last release to be worth one
/// (a release walks the allocator's free lists).
pub const RELEASE_AFTER_PATHS: usize = 1000;

/// Return the allocator's free memory to the system (glibc on Linux; a
/// no-op elsewhere).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` only reorganises glibc's own free lists; it
        // touches no memory the program owns and is safe to call at any time
        // from any thread.
        let t0 = std::time::Instant::now();
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!("returned freed memory to the system: {} in {:?}", released != 0, t0.elapsed());
    }
}
