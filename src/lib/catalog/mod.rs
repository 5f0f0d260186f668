//! The catalog: which file contents were harvested, by whom, with what result.
//!
//! One abstraction over two backends through sqlx's `Any` driver: PostgreSQL in
//! production, an embedded SQLite file by default. The schema is created and
//! upgraded by versioned, embedded migrations (`migrations/postgres`,
//! `migrations/sqlite`) on every open for writing; a reader ([`Catalog::open_read_only`])
//! changes nothing and needs the current schema.
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
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Once};
use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use crate::error::{one_line, CatalogError, FailureKind};

mod claim;
mod copies;
pub mod fleet;
mod health;
mod jobs;
mod labels;
mod lock;
mod objects;
mod outputs;
mod params;
mod paths;
mod queries;
mod sources;
pub mod url;

pub use claim::{CompletedHarvest, Holder, Publication, SeenFile};
pub use copies::{Completion, CopyStanding, RunCopy};
pub use jobs::{JobCounts, JobRecord, JobState, NewJob};
use lock::FileLock;
pub use objects::ObjectClaim;
pub use outputs::{OutputsState, RecordedOutputs};
pub use paths::{KnownPath, KnownPaths};
pub use queries::ListFilter;
pub use sources::PreviousContent;
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
        holder: Option<Holder>,
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
    /// When a rescan found its outputs gone with no source left to rebuild them
    /// from: the dataset lacks its runs until its content is seen again.
    pub outputs_missing_since: Option<String>,
    /// The content that took this one's place at its source (its runs are then
    /// in neither the dataset nor the fleet views), and why: `grew` or `changed`.
    pub superseded_by: Option<String>,
    pub superseded_reason: Option<String>,
    /// The job (`jobs.id`) of the content's latest attempt, which made its outputs
    /// if it was harvested; `None` before jobs were recorded.
    pub job_id: Option<i64>,
    /// Every path this content was seen under.
    pub paths: Vec<String>,
}

impl FileRecord {
    /// The first 12 hex digits of the content hash, as outputs are named.
    pub fn short_hash(&self) -> &str {
        self.content_hash.get(..12).unwrap_or(&self.content_hash)
    }

    /// The status as a list shows it: a harvest whose runs are not in the dataset
    /// says why: superseded at its source (its files removed on purpose, with the
    /// reason), or its outputs gone.
    pub fn shown_status(&self) -> &'static str {
        match (self.status, &self.outputs_missing_since) {
            (FileStatus::Harvested, _) if self.superseded_by.is_some() => {
                match self.superseded_reason.as_deref() {
                    Some("changed") => "superseded (changed)",
                    Some("grew") => "superseded (grew)",
                    _ => "superseded",
                }
            }
            (FileStatus::Harvested, Some(_)) => "outputs missing",
            (status, _) => status.name(),
        }
    }
}

/// A connected, migrated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    location: String,
    /// The job this catalog value and its clones work for (see
    /// [`Catalog::start_job`]), recorded with every harvest they complete or fail;
    /// 0 before one is started (job ids start at 1).
    job: Arc<AtomicI64>,
}

/// `root` as an exact path and as a LIKE pattern of the paths below it, with LIKE's
/// wildcards escaped.
fn at_or_below(root: &Path) -> (String, String) {
    let exact = root.to_string_lossy().into_owned();
    let escaped = exact
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let below = format!("{}/%", escaped.trim_end_matches('/'));
    (exact, below)
}

/// Where a harvest's outputs are, from the stored root and directory name (rows
/// written before roots were recorded hold the directory as it was given).
fn output_location(root: Option<String>, dir: Option<String>) -> Option<String> {
    match (root, dir) {
        (Some(root), Some(dir)) => Some(Path::new(&root).join(dir).to_string_lossy().into_owned()),
        (_, dir) => dir,
    }
}

/// The pid of a claim's holder (a row of `claimed_by_host`, `claimed_by_pid`) when
/// it is a process of this host that has died, so its claim is stale at once; else
/// -1, which no process has (also for a row that cannot be read: the claim then
/// waits for its lease to run out, the safe side).
fn dead_holder(holder: Option<sqlx::any::AnyRow>, host: &str) -> i64 {
    holder
        .and_then(|row| {
            let h: Option<String> = row.try_get("claimed_by_host").ok().flatten();
            let p: Option<i64> = row.try_get("claimed_by_pid").ok().flatten();
            (h.as_deref() == Some(host)).then_some(p).flatten()
        })
        .filter(|&p| !crate::host::is_alive(p as i32))
        .unwrap_or(-1)
}

/// The catalog's clock, `offset` from now: fixed-width ISO 8601 UTC, so text
/// comparison is time order.
fn now_plus(offset: Duration) -> String {
    let t =
        chrono::Utc::now() + chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::zero());
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The catalog's clock, `offset` before now (an offset beyond chrono's range
/// reaches back to 1970, before anything the catalog holds).
fn now_minus(offset: Duration) -> String {
    let t = chrono::Duration::from_std(offset)
        .ok()
        .and_then(|d| chrono::Utc::now().checked_sub_signed(d))
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn now() -> String {
    now_plus(Duration::ZERO)
}

impl Catalog {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Catalog, CatalogError> {
        let catalog = Catalog::connect(url, Access::ReadWrite).await?;
        catalog.migrate(url).await?;
        Ok(catalog)
    }

    /// Connects to read only, changing nothing: no migration, no lock file, no
    /// directory created, every statement refused a write. `view` opens catalogs so,
    /// since what it shows may be on read-only media or belong to someone else. A
    /// catalog whose schema is not this version's is refused (an older one needs a
    /// `harvest` of this version to upgrade it).
    pub async fn open_read_only(url: &str) -> Result<Catalog, CatalogError> {
        let catalog = Catalog::connect(url, Access::ReadOnly).await?;
        if let Err(e) = catalog.check_schema().await {
            catalog.close().await;
            return Err(e);
        }
        Ok(catalog)
    }

    async fn connect(url: &str, access: Access) -> Result<Catalog, CatalogError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let location = redact_url(url);
        let backend = url::backend_of(url).map_err(|reason| CatalogError::BadUrl {
            location: location.clone(),
            reason,
        })?;
        let connect_url = match (backend, sqlite_path(url)) {
            (Backend::Sqlite, Some(path)) => sqlite_connect_url(url, &path, access, &location)?,
            _ => url.to_string(),
        };
        if backend == Backend::Sqlite {
            probe_sqlite(&connect_url)
                .await
                .map_err(|e| classify(&location, e))?;
        }
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(5));
        options = match (backend, access) {
            // Several processes share the file: wait for locks instead of failing, and
            // let readers proceed while one writer commits.
            (Backend::Sqlite, Access::ReadWrite) => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 60000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            // A reader waits for a writer's lock too; the journal mode is the
            // writers' to set.
            (Backend::Sqlite, Access::ReadOnly) => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 60000").await?;
                    conn.execute("PRAGMA query_only = ON").await?;
                    Ok(())
                })
            }),
            (Backend::Postgres, Access::ReadOnly) => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        .await?;
                    Ok(())
                })
            }),
            (Backend::Postgres, Access::ReadWrite) => options,
        };
        let pool = options
            .connect_with(connect_options(&connect_url).map_err(|e| classify(&location, e))?)
            .await
            .map_err(|e| classify(&location, e))?;
        Ok(Catalog {
            pool,
            backend,
            location,
            job: Arc::default(),
        })
    }

    /// Where the catalog is, without credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The embedded migrations of this catalog's backend, and the newest version.
    fn migrator(&self) -> (&'static sqlx::migrate::Migrator, i64) {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        (
            migrator,
            migrator.iter().map(|m| m.version).max().unwrap_or(0),
        )
    }

    /// Refuses a catalog a read-only open cannot use as it is: one made by a newer
    /// harvester, or one an older harvester left that lacks this version's schema
    /// (migrating it is a write).
    async fn check_schema(&self) -> Result<(), CatalogError> {
        let (_, known) = self.migrator();
        let found: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| match e {
                    // No migration table: a file or database no harvest has set up.
                    sqlx::Error::Database(_) => CatalogError::Unusable {
                        location: self.location.clone(),
                        reason: "it holds no catalog (no harvest has used it)".into(),
                    },
                    e => self.err()(e),
                })?;
        let found = found.unwrap_or(0);
        match found.cmp(&known) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(CatalogError::NewerSchema {
                location: self.location.clone(),
                found,
                known,
            }),
            std::cmp::Ordering::Less => Err(CatalogError::OlderSchema {
                location: self.location.clone(),
                found,
                known,
            }),
        }
    }

    async fn migrate(&self, url: &str) -> Result<(), CatalogError> {
        let (migrator, known) = self.migrator();
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

    /// The row `sql` finds with `content_hash` bound to `$1`, if any.
    async fn row_of(
        &self,
        sql: &'static str,
        content_hash: &str,
    ) -> Result<Option<sqlx::any::AnyRow>, CatalogError> {
        sqlx::query(sql)
            .bind(content_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// The options of the catalog's connections: every statement is logged at trace
/// level, and one slower than a second at debug level rather than as sqlx's
/// default warning. A slow statement is nearly always one waiting on SQLite's lock
/// while another worker writes, which is what the busy timeout is for; a warning
/// that names neither the statement nor the wait tells an operator nothing.
fn connect_options(url: &str) -> Result<sqlx::any::AnyConnectOptions, sqlx::Error> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    Ok(sqlx::any::AnyConnectOptions::from_str(url)?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1)))
}

/// Whether a catalog is opened to change it, or only to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// The URL to connect to the SQLite catalog `path` with. To write, the file is
/// created if missing (its directory too), never on a network file system, where
/// SQLite's locks are unreliable. To read, it is opened `mode=ro` (see
/// [`read_immutably`] for `immutable=1`).
fn sqlite_connect_url(
    url: &str,
    path: &Path,
    access: Access,
    location: &str,
) -> Result<String, CatalogError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty()).collect();
    let immutable = access == Access::ReadOnly && read_immutably(path, location);
    if !immutable {
        if let Some(kind) = lock::on_network_file_system(path) {
            return Err(CatalogError::Unusable {
                location: location.to_string(),
                reason: format!(
                    "the file is on a network file system ({kind}), where SQLite's locks are unreliable; use a PostgreSQL catalog (--catalog postgres://...) or a local path"
                ),
            });
        }
    }
    match access {
        Access::ReadWrite => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| CatalogError::Unreachable {
                    location: location.to_string(),
                    reason: e.to_string(),
                })?;
            }
            if !params.iter().any(|kv| kv.starts_with("mode=")) {
                params.push("mode=rwc");
            }
        }
        Access::ReadOnly => {
            params.retain(|kv| !kv.starts_with("mode=") && !kv.starts_with("immutable="));
            params.push("mode=ro");
            if immutable {
                params.push("immutable=1");
            }
        }
    }
    Ok(format!("{base}?{}", params.join("&")))
}

/// Whether a reader of the SQLite catalog `path` opens it `immutable=1`: where its
/// directory cannot be written (read-only media, another user's directory) and no
/// writer has it open. A reader of a WAL database needs its shared-memory file
/// (`-shm`), which SQLite cannot create there; without one, no writer is at work
/// (a writer keeps both), so the file is read as it is, without locks. A
/// write-ahead log left without its `-shm` (copied without it) is then not read:
/// that is warned of.
fn read_immutably(path: &Path, location: &str) -> bool {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if crate::host::may_write_in(dir).is_ok() {
        return false;
    }
    let beside = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let (wal, shm) = (beside("-wal"), beside("-shm"));
    if wal.exists() && shm.exists() {
        return false;
    }
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        tracing::warn!(
            catalog = location,
            "the catalog's write-ahead log cannot be read in a read-only directory without its -shm file: what was recorded since its last checkpoint is not shown"
        );
    }
    true
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
