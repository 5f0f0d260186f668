//! How a process uses the machine: the one thread pool, polars' own, which this
//! crate's parallel work shares, so data work never runs on two competing sets of
//! threads (sized by `POLARS_MAX_THREADS` / `--threads`); and its memory pages.

/// Runs `work` on the shared pool.
pub fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    polars_core::runtime::THREAD_POOL.install(work)
}

/// The number of threads of the shared pool.
pub fn pool_threads() -> usize {
    polars_core::runtime::THREAD_POOL
        .current_num_threads()
        .max(1)
}

/// Keeps the kernel from backing this process's memory with transparent huge pages.
///
/// A harvest is a short process that touches most of its memory once. The allocator
/// asks for huge pages for its arenas, and the kernel then zeroes 2 MiB at the first
/// touch of any byte in them (and may compact memory to find them): at 8x the
/// production log that was over a quarter of the harvest's CPU time and most of its
/// system time. With 4 KiB pages only what is touched is zeroed. Elsewhere than on
/// Linux, or if the kernel refuses, nothing changes.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and reads or writes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
