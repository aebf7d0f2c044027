//! Giving freed memory back to the system. A first sync of a large tree
//! builds plans, batches and buffers for every path; once it is done the
//! keeper holds only its index and ancestor, but glibc's allocator keeps the
//! freed pages mapped — at 100k files that was about 100 MB of resident
//! memory nobody used. After a large sync the keeper asks the allocator to
//! return them. The same goes for an endpoint's opening scan of a large tree
//! (the index it replaced, the scanners' buffers) and for the keeper's
//! loading of the ancestor: after a restart at 100k files the keeper held
//! about 113 MiB without it, 60 with it.

use std::collections::BTreeMap;

/// For long-running processes (the keeper, the daemon), called once at
/// their start, before they allocate much: keep large temporary buffers out
/// of the heap. glibc raises its threshold for giving an allocation its own
/// mapping each time such a mapping is freed (up to 32 MiB), after which the
/// index's load, scan and sort buffers — megabytes each at 100k files — are
/// carved from the heap between long-lived small allocations, and what they
/// leave behind cannot be returned. A fixed threshold of 1 MiB keeps them
/// out: after a restart at 100k files the keeper held 60 MiB with the moving
/// threshold and 50 MiB with the fixed one. Transfer chunks (256 KiB) stay
/// in the heap. glibc only (musl's and macOS's allocators have no such
/// threshold to fix); `mallopt` takes glibc's own lock, so it is safe at any
/// time.
pub fn limit_fragmentation() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Allocations from this size up get their own mapping, given back
        /// to the system as soon as they are freed.
        const OWN_MAPPING_FROM: libc::c_int = 1 << 20;
        /// Free memory the heap keeps at its end before it shrinks. Fixing
        /// the mapping threshold also stops glibc from raising this one (from
        /// 128 KiB): left there, every 256 KiB read buffer freed at the end
        /// of the heap gives the memory back and the next one asks for it
        /// again, a system call and page faults per file — a first sync of
        /// 100k files took 20% longer. Large syncs give everything back at
        /// their end anyway.
        const KEEP_FREE_AT_TOP: libc::c_int = 2 << 20;
        // SAFETY: `mallopt` only sets parameters of glibc's allocator, under
        // its lock; it touches no memory the program owns.
        #[allow(unsafe_code)]
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM)
                & libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREE_AT_TOP)
        };
        if ok != 1 {
            tracing::debug!("could not fix the allocator's mapping threshold");
        }
    }
}

/// How far a map's size must move from when it was last built with full
/// nodes before it is rebuilt.
pub const REPACK_AFTER_GROWTH: usize = 1000;

/// Rebuild `map` with full nodes when its size moved by
/// [`REPACK_AFTER_GROWTH`] or more since `packed_len` (which is updated).
/// Entries added one at a time in order (a first sync) leave each node of a
/// `BTreeMap` about half full; rebuilt from its sorted entries, the ancestor
/// of 100k files takes about 6 MB less. Returns whether it was rebuilt.
pub fn repack_if_grown<K: Ord, V>(map: &mut BTreeMap<K, V>, packed_len: &mut usize) -> bool {
    if map.len().abs_diff(*packed_len) < REPACK_AFTER_GROWTH {
        return false;
    }
    *map = std::mem::take(map).into_iter().collect();
    *packed_len = map.len();
    true
}

/// Paths a sync (or an opening scan) must have handled since the last
/// release to be worth one (a release walks the allocator's free lists).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_rebuilt_only_after_they_grew_enough() {
        let mut map: BTreeMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
        let mut packed = map.len();
        map.extend((10..10 + REPACK_AFTER_GROWTH as u32 - 1).map(|i| (i, i)));
        assert!(!repack_if_grown(&mut map, &mut packed), "grew by one less than the threshold");
        map.insert(u32::MAX, 0);
        let before = map.clone();
        assert!(repack_if_grown(&mut map, &mut packed));
        assert_eq!((map, packed), (before.clone(), before.len()));
    }
}
