//! Typed errors of the harvest and the catalog, and how each maps to an outcome a
//! scheduler can act on: retry later, fix the file, fix the configuration, or report
//! a bug.

use std::path::PathBuf;

use crate::text::{printable, printable_path};

/// Why a file could not be harvested.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// The file itself is unusable; harvesting it again will fail the same way.
    #[error("{}: {problem}", printable_path(path))]
    BadFile { path: PathBuf, problem: String },

    /// Reading the input or writing the outputs failed for a reason outside the
    /// file's content (permissions, a full disk, a vanished file): worth a retry.
    #[error("{}: {context}: {source}", printable_path(path))]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The file named does not exist, though its directory does (66): nothing to
    /// harvest and nothing to record; the caller named the wrong file.
    #[error("{}: no such file", path.display())]
    NoInput { path: PathBuf },

    /// The harvester itself failed (a polars error building a table, a worker that
    /// panicked): a bug, deterministic for this file and this version, so a retry
    /// will not help and a scheduler must not loop on it.
    #[error("{}: internal error: {what}", printable_path(path))]
    Internal { path: PathBuf, what: String },

    /// The catalog could not be reached or refused the operation: worth a retry.
    #[error(transparent)]
    Catalog(#[from] CatalogError),

    /// The object store could not be used for a location (`s3://bucket/key`, never
    /// with credentials): see [`RemoteFailure`] for what each failure means.
    #[error("{url}: {problem}")]
    Remote {
        url: String,
        problem: String,
        failure: RemoteFailure,
    },
}

/// How an object store failed, and so what its caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteFailure {
    /// Wrong or missing credentials, access denied, no such bucket, an endpoint that
    /// is not an object store (78): fix the configuration.
    Config,
    /// The endpoint did not answer in time, refused the connection or failed on its
    /// side, or an object changed while it was fetched (75): retry later.
    Unreachable,
    /// The object named does not exist (66).
    Missing,
}

impl HarvestError {
    pub fn bad_file(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        HarvestError::BadFile {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, context: &'static str, source: std::io::Error) -> Self {
        HarvestError::Io {
            path: path.into(),
            context,
            source,
        }
    }

    pub fn internal(path: impl Into<PathBuf>, what: impl std::fmt::Display) -> Self {
        HarvestError::Internal {
            path: path.into(),
            what: one_line(&what.to_string()),
        }
    }

    /// Whether the same call later may succeed (see [`ExitCode::RetryLater`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            HarvestError::BadFile { .. }
            | HarvestError::NoInput { .. }
            | HarvestError::Internal { .. } => false,
            HarvestError::Io { .. } => true,
            HarvestError::Catalog(e) => e.is_retryable(),
            HarvestError::Remote { failure, .. } => *failure == RemoteFailure::Unreachable,
        }
    }

    /// What kind of failure this is, as the catalog records it.
    pub fn kind(&self) -> FailureKind {
        match self {
            HarvestError::BadFile { .. }
            | HarvestError::NoInput { .. }
            | HarvestError::Remote {
                failure: RemoteFailure::Missing,
                ..
            } => FailureKind::BadFile,
            // A store misconfigured today may be fixed by the next trigger.
            HarvestError::Io { .. } | HarvestError::Catalog(_) | HarvestError::Remote { .. } => {
                FailureKind::Retryable
            }
            HarvestError::Internal { .. } => FailureKind::Internal,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            HarvestError::Catalog(e) if !e.is_retryable() => ExitCode::Config,
            HarvestError::NoInput { .. } => ExitCode::NoInput,
            HarvestError::Remote { failure, .. } => match failure {
                RemoteFailure::Config => ExitCode::Config,
                RemoteFailure::Unreachable => ExitCode::RetryLater,
                RemoteFailure::Missing => ExitCode::NoInput,
            },
            other => other.kind().exit_code(),
        }
    }
}

/// The kinds of failure the catalog records, so that a later trigger of the same file
/// exits as the first one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The file is unusable (65).
    BadFile,
    /// A temporary problem (75): the next trigger tries again.
    Retryable,
    /// A bug of the harvester (70).
    Internal,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::BadFile => "bad_file",
            FailureKind::Retryable => "retryable",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind a catalog row names; rows written before kinds were recorded are
    /// bad files or retryable by their `retryable` flag.
    pub fn parse(name: Option<&str>, retryable: bool) -> FailureKind {
        match name {
            Some("internal") => FailureKind::Internal,
            Some("bad_file") => FailureKind::BadFile,
            Some("retryable") => FailureKind::Retryable,
            _ if retryable => FailureKind::Retryable,
            _ => FailureKind::BadFile,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            FailureKind::BadFile => ExitCode::BadFile,
            FailureKind::Retryable => ExitCode::RetryLater,
            FailureKind::Internal => ExitCode::Internal,
        }
    }
}

/// Why the catalog could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {location} is unreachable: {reason}")]
    Unreachable { location: String, reason: String },
    #[error("catalog {location} refused the operation: {reason}")]
    Refused { location: String, reason: String },
    #[error("catalog {location} was created by a newer harvester (schema version {found}, this one knows up to {known}); upgrade harvester")]
    NewerSchema {
        location: String,
        found: i64,
        known: i64,
    },
    /// A catalog an older harvester made, opened by a reader that may not migrate it.
    #[error("catalog {location} was made by an older harvester (schema version {found}, this one reads {known}); run this version's `harvest` on it once (e.g. `harvest --reharvest-outdated` with the same --out or --catalog) to upgrade it")]
    OlderSchema {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("invalid catalog URL {location}: {reason}")]
    BadUrl { location: String, reason: String },
    /// The catalog answered, but cannot be used as configured: wrong credentials, a
    /// database that does not exist, a file that is not an SQLite database, a TLS
    /// handshake that failed. Retrying the same call fails the same way.
    #[error("catalog {location} is unusable: {reason}")]
    Unusable { location: String, reason: String },
}

impl CatalogError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CatalogError::Unreachable { .. } | CatalogError::Refused { .. }
        )
    }
}

/// The documented exit codes of `harvest` and `view` (sysexits.h values, which
/// schedulers and shell scripts already know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every file was harvested, or already harvested or being harvested elsewhere.
    Success = 0,
    /// Wrong arguments or flags; nothing was done.
    Usage = 64,
    /// At least one file is unusable (a retry will not help); its reason is recorded.
    BadFile = 65,
    /// A file named on the command line does not exist (EX_NOINPUT), though its
    /// directory does: the caller named the wrong file; nothing is recorded.
    NoInput = 66,
    /// A bug of the harvester (EX_SOFTWARE): retrying will fail the same way until
    /// the tool is fixed; report it.
    Internal = 70,
    /// An output that cannot be created or written (EX_CANTCREAT): a read-only
    /// output directory, a chart or page file whose folder cannot be made or whose
    /// bytes cannot be written. The same call fails the same way until the place is
    /// fixed, so it promises no retry.
    CantCreate = 73,
    /// A temporary problem (catalog unreachable, I/O error, file still being written):
    /// call again later.
    RetryLater = 75,
    /// The catalog or the object store cannot be used as configured (a malformed or
    /// empty URL, wrong credentials, a database or bucket that does not exist, a
    /// corrupt catalog file, a failed TLS handshake, made by a newer harvester): fix
    /// the configuration.
    Config = 78,
}

impl ExitCode {
    /// Combines outcomes of several files: a retryable failure outranks a bug, which
    /// outranks a missing file, which outranks a bad file, which outranks success
    /// (75 > 70 > 66 > 65 > 0), so a scheduler retries when any retry could help. A
    /// missing file ranks above a bad one: a bad file is recorded in the catalog and
    /// needs nobody, a missing one is a wrong call that only its caller can fix.
    /// An output that cannot be created (73) is a place to fix, as configuration
    /// is: it outranks a retry. Configuration and usage errors stop a run before any
    /// file and outrank everything.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        let rank = |c: ExitCode| match c {
            ExitCode::Success => 0,
            ExitCode::BadFile => 1,
            ExitCode::NoInput => 2,
            ExitCode::Internal => 3,
            ExitCode::RetryLater => 4,
            ExitCode::CantCreate => 5,
            ExitCode::Config => 6,
            ExitCode::Usage => 7,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// Errors of libraries can span lines; a user sees one line per failed file.
pub fn one_line(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = printable(&line).into_owned();
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &line[..cut])
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_outrank_bugs_which_outrank_bad_files() {
        use ExitCode::*;
        assert_eq!(Success.worst(BadFile), BadFile);
        assert_eq!(BadFile.worst(NoInput), NoInput);
        assert_eq!(NoInput.worst(BadFile), NoInput);
        assert_eq!(NoInput.worst(Internal), Internal);
        assert_eq!(RetryLater.worst(NoInput), RetryLater);
        assert_eq!(BadFile.worst(Internal), Internal);
        assert_eq!(Internal.worst(BadFile), Internal);
        assert_eq!(Internal.worst(RetryLater), RetryLater);
        assert_eq!(RetryLater.worst(Internal), RetryLater);
        assert_eq!(RetryLater.worst(Success), RetryLater);
        assert_eq!(RetryLater.worst(CantCreate), CantCreate);
        assert_eq!(CantCreate.worst(Internal), CantCreate);
        assert_eq!(CantCreate.worst(Config), Config);
    }

    #[test]
    fn failure_kinds_round_trip_and_old_rows_keep_their_meaning() {
        for kind in [
            FailureKind::BadFile,
            FailureKind::Retryable,
            FailureKind::Internal,
        ] {
            assert_eq!(FailureKind::parse(Some(kind.name()), false), kind);
        }
        assert_eq!(FailureKind::parse(None, true), FailureKind::Retryable);
        assert_eq!(FailureKind::parse(None, false), FailureKind::BadFile);
    }
}
