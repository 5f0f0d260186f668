//! The catalog: which file contents were harvested, by whom, with what result.
//!
//! One abstraction over two backends through sqlx's `Any` driver: PostgreSQL in
//! production, an embedded SQLite file by default. The schema is created and
//! upgraded by versioned, embedded migrations (`migrations/postgres`,
//! `migrations/sqlite`) on every open.
//!
//! # Exactly once
//! A file is identified by the BLAKE3 hash of its bytes. Before any work a worker
//! *claims* the hash with one atomic upsert that succeeds only if nobody has it
//! (new content), or its previous claim is stale (the lease ran out, or the holder
//! was a dead process on this host), or the caller asked to redo it (`--force`,
//! `--retry-failed`, an outdated output version, a failure worth retrying). A live
//! claim is renewed while the harvest runs. Then:
//!
//! 1. outputs are written to a temporary directory and renamed into place, the
//!    dataset's files set aside as pending;
//! 2. in one transaction, the run statistics are stored and the file is marked
//!    `harvested` — only while the claim is still ours;
//! 3. the dataset files are published (see [`crate::storage::Dataset`]).
//!
//! A crash between 1 and 2 leaves complete outputs and a `claimed` row whose claim
//! goes stale; the next trigger harvests again and replaces the outputs with
//! identical ones. A crash between 2 and 3 leaves pending files that the next job
//! on the output root publishes. Nothing is marked harvested that was not written,
//! nothing enters the dataset that is not marked harvested, and no content is
//! harvested twice at the same time.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use crate::error::{one_line, CatalogError, FailureKind};

mod claim;
mod lock;
mod objects;
mod paths;
mod queries;
pub mod url;

pub use claim::{CompletedHarvest, Publication, SeenFile};
use lock::FileLock;
pub use objects::ObjectClaim;
pub use paths::{KnownPath, KnownPaths};
pub use queries::ListFilter;
use url::sqlite_path;
pub use url::{default_sqlite_url, redact_url, sqlite_file, DEFAULT_SQLITE_FILE};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The two kinds of catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// This worker now holds the file; harvest it.
    Acquired(Claim),
    /// Already harvested (possibly under another name).
    AlreadyHarvested {
        output_dir: Option<String>,
        source_path: String,
    },
    /// Another live worker holds it.
    HeldElsewhere {
        host: String,
        pid: i64,
        until: String,
    },
    /// It failed before and a retry is not expected to help.
    FailedBefore {
        last_error: String,
        kind: FailureKind,
    },
}

/// Where a file stands in the catalog (`harvest_files.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// A worker holds it and is harvesting it.
    Claimed,
    Harvested,
    Failed,
}

impl FileStatus {
    /// The value stored in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Claimed => "claimed",
            FileStatus::Harvested => "harvested",
            FileStatus::Failed => "failed",
        }
    }

    /// The status a stored value names; an unknown one (a newer harvester's) reads
    /// as failed, which nothing retries on its own.
    pub fn parse(name: &str) -> FileStatus {
        match name {
            "claimed" => FileStatus::Claimed,
            "harvested" => FileStatus::Harvested,
            _ => FileStatus::Failed,
        }
    }
}

/// A held claim: the identity that must match to renew or complete it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub content_hash: String,
    pub host: String,
    pub pid: i64,
    pub attempt: i64,
}

/// What the caller wants done with a file that already has a row.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimPolicy {
    /// Harvest again even if harvested.
    pub force: bool,
    /// Harvest again a file that failed for a reason a retry would not fix.
    pub retry_failed: bool,
    /// Harvest again if harvested by an older output-schema version.
    pub reharvest_outdated: bool,
}

/// One row of `harvest_files`, as `view` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileRecord {
    pub content_hash: String,
    pub source_path: String,
    pub size_bytes: i64,
    pub status: FileStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tool_version: Option<String>,
    pub output_schema_version: Option<i64>,
    pub output_dir: Option<String>,
    pub rows_read: Option<i64>,
    pub rows_kept: Option<i64>,
    pub runs: Option<i64>,
    pub updated_at: String,
    /// Every path this content was seen under.
    pub paths: Vec<String>,
}

impl FileRecord {
    /// The first 12 hex digits of the content hash, as outputs are named.
    pub fn short_hash(&self) -> &str {
        self.content_hash.get(..12).unwrap_or(&self.content_hash)
    }
}

/// A connected, migrated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    location: String,
}

/// The catalog's clock: fixed-width ISO 8601 UTC, so text comparison is time order.
/// Where a harvest's outputs are, from the stored root and directory name (rows
/// written before roots were recorded hold the directory as it was given).
fn output_location(root: Option<String>, dir: Option<String>) -> Option<String> {
    match (root, dir) {
        (Some(root), Some(dir)) => Some(Path::new(&root).join(dir).to_string_lossy().into_owned()),
        (_, dir) => dir,
    }
}

/// The pid of a claim's holder (a row of host, pid) when it is a process of this
/// host that has died, so its claim is stale at once; else -1, which no process has.
fn dead_holder(holder: Option<sqlx::any::AnyRow>, host: &str) -> i64 {
    holder
        .and_then(|row| {
            let h: Option<String> = row.get(0);
            let p: Option<i64> = row.get(1);
            (h.as_deref() == Some(host)).then_some(p).flatten()
        })
        .filter(|&p| !crate::host::is_alive(p as i32))
        .unwrap_or(-1)
}

fn now_plus(offset: Duration) -> String {
    let t =
        chrono::Utc::now() + chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::zero());
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now() -> String {
    now_plus(Duration::ZERO)
}

impl Catalog {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Catalog, CatalogError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let location = redact_url(url);
        let backend = url::backend_of(url).map_err(|reason| CatalogError::BadUrl {
            location: location.clone(),
            reason,
        })?;
        let mut connect_url = url.to_string();
        if let (Backend::Sqlite, Some(path)) = (backend, sqlite_path(url)) {
            if let Some(kind) = lock::on_network_file_system(&path) {
                return Err(CatalogError::Unusable {
                    location,
                    reason: format!(
                        "the file is on a network file system ({kind}), where SQLite's locks are unreliable; use a PostgreSQL catalog (--catalog postgres://...) or a local path"
                    ),
                });
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| CatalogError::Unreachable {
                    location: location.clone(),
                    reason: e.to_string(),
                })?;
            }
            if !connect_url.contains("mode=") {
                connect_url.push_str(if connect_url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        if backend == Backend::Sqlite {
            probe_sqlite(&connect_url)
                .await
                .map_err(|e| classify(&location, e))?;
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            // Several processes share the file: wait for locks instead of failing, and
            // let readers proceed while one writer commits.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 60000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&connect_url)
            .await
            .map_err(|e| classify(&location, e))?;
        let catalog = Catalog {
            pool,
            backend,
            location,
        };
        catalog.migrate(url).await?;
        Ok(catalog)
    }

    /// Where the catalog is, without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn migrate(&self, url: &str) -> Result<(), CatalogError> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        // PostgreSQL migrations take an advisory lock; SQLite ones are serialised by
        // an exclusive lock on a sidecar file, so racing first runs cannot collide.
        let _lock = match (self.backend, sqlite_path(url)) {
            (Backend::Sqlite, Some(path)) => Some(
                FileLock::acquire(&sidecar(&path, "migrate-lock")).map_err(|e| {
                    CatalogError::Unreachable {
                        location: self.location.clone(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            _ => None,
        };
        match migrator.run(&self.pool).await {
            Ok(()) => Ok(()),
            Err(sqlx::migrate::MigrateError::VersionMissing(found)) => {
                Err(CatalogError::NewerSchema {
                    location: self.location.clone(),
                    found,
                    known,
                })
            }
            Err(sqlx::migrate::MigrateError::Execute(e)) => Err(classify(&self.location, e)),
            Err(e) => Err(CatalogError::Refused {
                location: self.location.clone(),
                reason: e.to_string(),
            }),
        }
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> CatalogError + '_ {
        |e| classify(&self.location, e)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Opens an SQLite catalog once and reads its header, so that a file that is not
/// an SQLite database is one clear error, not a pool retrying its connection
/// set-up (and logging each failure) until it times out.
async fn probe_sqlite(connect_url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut probe = sqlx::AnyConnection::connect(connect_url).await?;
    let read = probe.execute("PRAGMA schema_version").await;
    let _ = probe.close().await;
    read.map(|_| ())
}

/// A file beside an SQLite catalog: `PATH.SUFFIX`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Sorts a sqlx error into "try again later" (the service is down, slow or busy)
/// or "fix the configuration" (it answered and said no for good).
fn classify(location: &str, e: sqlx::Error) -> CatalogError {
    let location = location.to_string();
    let reason = one_line(&e.to_string());
    match e {
        // A TLS handshake that fails on the server's certificate surfaces as
        // malformed data on the socket: a configuration problem, not an outage.
        sqlx::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => {
            CatalogError::Unusable {
                location,
                reason: tls_failed(&reason),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => CatalogError::Unreachable { location, reason },
        sqlx::Error::Tls(_) => CatalogError::Unusable {
            location,
            reason: tls_failed(&reason),
        },
        sqlx::Error::Configuration(_) => CatalogError::Unusable { location, reason },
        sqlx::Error::Database(db) if is_configuration_error(db.code().as_deref()) => {
            CatalogError::Unusable { location, reason }
        }
        _ => CatalogError::Refused { location, reason },
    }
}

/// A TLS failure's reason, with where to look.
fn tls_failed(reason: &str) -> String {
    format!("TLS failed: {reason} (check sslmode and sslrootcert)")
}

/// Database error codes that no retry fixes: PostgreSQL's wrong password or unknown
/// role (28P01, 28000), unknown database (3D000) and missing privilege (42501);
/// SQLite's "not a database" (26) and "corrupt" (11, with its extended codes).
fn is_configuration_error(code: Option<&str>) -> bool {
    match code {
        Some("28P01" | "28000" | "3D000" | "42501") => true,
        Some(code) => code
            .parse::<u32>()
            .is_ok_and(|c| matches!(c & 0xff, 11 | 26)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_no_retry_fixes_are_configuration_errors() {
        for code in ["28P01", "28000", "3D000", "42501", "26", "11", "779"] {
            assert!(is_configuration_error(Some(code)), "{code}");
        }
        for code in ["40001", "57P01", "53300", "5", "517", "23505"] {
            assert!(!is_configuration_error(Some(code)), "{code}");
        }
        assert!(!is_configuration_error(None));
    }

    #[test]
    fn catalog_times_sort_as_text() {
        assert!(now() < now_plus(Duration::from_millis(5)));
        assert_eq!(now().len(), "2026-01-01T00:00:00.000Z".len());
    }
}
