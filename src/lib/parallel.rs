//! The one thread pool of a process: polars' own, which this crate's parallel work
//! shares, so data work never runs on two competing sets of threads (sized by
//! `POLARS_MAX_THREADS` / `--threads`).

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
