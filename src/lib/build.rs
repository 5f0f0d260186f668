//! What this harvester is: its version and the commit it was built from, as job
//! records, metrics and logs name it.

/// The crate's version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from: 12 hex digits, with `-dirty` when
/// the checkout had uncommitted changes to tracked files, or `unknown` when it was
/// not built from a checkout and no `HARVESTER_GIT_COMMIT` was given (see
/// `build.rs`). Two binaries of one version may differ; the commit tells them
/// apart.
pub const COMMIT: &str = env!("HARVESTER_GIT_COMMIT");
