//! Typed errors of the harvest and how each maps to an outcome a scheduler can act on.

use std::path::PathBuf;

/// Why a file could not be harvested.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// The file itself is unusable; harvesting it again will fail the same way.
    #[error("{}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: String },

    /// Reading the input or writing the outputs failed for a reason outside the
    /// file's content (permissions, a full disk, a vanished file): worth a retry.
    #[error("{}: {context}: {source}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The catalog could not be reached or refused the operation: worth a retry.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
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

    /// Whether the same call later may succeed (see [`ExitCode::RetryLater`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            HarvestError::BadFile { .. } => false,
            HarvestError::Io { .. } => true,
            HarvestError::Catalog(e) => e.is_retryable(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            HarvestError::Catalog(e) if !e.is_retryable() => ExitCode::Config,
            e if e.is_retryable() => ExitCode::RetryLater,
            _ => ExitCode::BadFile,
        }
    }
}

/// The documented exit codes of `harvest` and `view` (sysexits.h values, which
/// schedulers and shell scripts already know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Every file was harvested, or already harvested or being harvested elsewhere.
    Success = 0,
    /// Wrong arguments or flags; nothing was done.
    Usage = 64,
    /// At least one file is unusable (a retry will not help); its reason is recorded.
    BadFile = 65,
    /// A temporary problem (catalog unreachable, I/O error, file still being written):
    /// call again later.
    RetryLater = 75,
    /// The catalog cannot be used by this version (made by a newer harvester, or a
    /// malformed URL): fix the configuration.
    Config = 78,
}

impl ExitCode {
    /// Combines outcomes of several files: a retryable failure outranks a bad file,
    /// which outranks success, so a scheduler retries when any retry could help.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        let rank = |c: ExitCode| match c {
            ExitCode::Success => 0,
            ExitCode::BadFile => 1,
            ExitCode::RetryLater => 2,
            ExitCode::Config => 3,
            ExitCode::Usage => 4,
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
