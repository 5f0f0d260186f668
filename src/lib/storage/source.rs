//! A log file read whole into memory, with its identity.
//!
//! The file is read once; the same bytes are hashed for the catalog and parsed by the
//! pipeline, so a file that changes while it is harvested cannot give a hash of one
//! version and data of another.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::HarvestError;
use crate::model::schema::InputFormat;
use crate::storage::remote::ListedObject;

/// The catalog key of a path that has no content to hash (a dangling or looping
/// symbolic link): `path:` and the BLAKE3 hash (hex) of the absolute path's bytes.
/// It cannot collide with a content hash, which is hex alone.
pub fn path_key(path: &Path) -> String {
    let path = absolute(path);
    let hash = blake3::hash(path.as_os_str().as_encoded_bytes());
    format!("path:{}", hash.to_hex())
}

/// Whether `path` is a symbolic link that cannot be followed (dangling or a loop).
pub fn is_broken_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
}

/// Whether `path` is longer than the system takes, so that no call can open it by
/// this name: a bad source, not a reason to retry.
pub fn is_name_too_long(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_err_and(|e| e.raw_os_error() == Some(libc::ENAMETOOLONG))
}

/// What the file system says of a file without reading it: any write, truncation,
/// rename over it or touch changes at least one of these. A rescan compares them to
/// what they were when the file was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub inode: u64,
}

impl FileIdentity {
    pub fn of(meta: &Metadata) -> FileIdentity {
        let ns = |secs: i64, nanos: i64| secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        FileIdentity {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }

    /// The identity of the file at `path` now (following links).
    pub fn read(path: &Path) -> std::io::Result<FileIdentity> {
        std::fs::metadata(path).map(|meta| FileIdentity::of(&meta))
    }
}

/// A path as the catalog keys it: absolute, not resolved through links; an
/// object's `s3://` URL as it is.
pub fn absolute(path: &Path) -> PathBuf {
    if crate::storage::remote::is_remote(path) {
        return path.to_path_buf();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Why a path could not be opened, and what that means for its caller.
fn cannot_open(path: &Path, e: std::io::Error) -> HarvestError {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        let problem = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "a dangling symbolic link (its target does not exist)".to_string()
            }
            _ => format!("a symbolic link that cannot be followed: {e}"),
        };
        return HarvestError::bad_file(path, problem);
    }
    if e.raw_os_error() == Some(libc::ENAMETOOLONG) {
        return HarvestError::bad_file(path, "a path too long to open (over the system's limit)");
    }
    match e.kind() {
        std::io::ErrorKind::NotFound if path.parent().is_some_and(Path::is_dir) => {
            HarvestError::NoInput {
                path: path.to_path_buf(),
            }
        }
        std::io::ErrorKind::NotFound => HarvestError::io(
            path,
            "its directory does not exist (is the share mounted?)",
            e,
        ),
        _ => HarvestError::io(path, "cannot read the file", e),
    }
}

/// A log file's bytes and identity.
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// BLAKE3 of `bytes`, hex.
    pub content_hash: String,
    /// Modification time seen before reading, to detect a file still being written.
    pub modified: Option<SystemTime>,
    /// The file's identity seen before reading (`None` for bytes not from a file).
    pub identity: Option<FileIdentity>,
    /// Seconds spent reading the file, or fetching the object.
    pub read_seconds: f64,
    /// Whether the bytes were fetched from an object store (`path` is then its
    /// `s3://` URL).
    pub fetched: bool,
}

impl SourceFile {
    /// Reads and hashes a file. A path that is not a regular file, or a symbolic
    /// link that leads nowhere, is a bad file; a file that does not exist in a
    /// directory that does is no input; any other I/O error is worth a retry.
    pub fn read(path: &Path) -> Result<SourceFile, HarvestError> {
        let started = Instant::now();
        let path = absolute(path);
        let meta = std::fs::metadata(&path).map_err(|e| cannot_open(&path, e))?;
        if !meta.is_file() {
            return Err(HarvestError::bad_file(&path, "not a regular file"));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| HarvestError::io(&path, "cannot read the file", e))?;
        let content_hash = blake3::hash(&bytes).to_hex().to_string();
        Ok(SourceFile {
            path,
            bytes,
            content_hash,
            modified: meta.modified().ok(),
            identity: Some(FileIdentity::of(&meta)),
            read_seconds: started.elapsed().as_secs_f64(),
            fetched: false,
        })
    }

    /// An object fetched from a store: `fetch_seconds` is how long its download took.
    pub fn from_object(object: &ListedObject, bytes: Vec<u8>, fetch_seconds: f64) -> SourceFile {
        let content_hash = blake3::hash(&bytes).to_hex().to_string();
        SourceFile {
            path: object.url.as_path(),
            bytes,
            content_hash,
            modified: Some(object.last_modified),
            identity: Some(object.identity()),
            read_seconds: fetch_seconds,
            fetched: true,
        }
    }

    /// Whether this is the start of a Parquet file whose footer is not (yet) in
    /// place: the leading magic (or a prefix of it, or nothing yet) without the
    /// trailing one. Bytes that are not Parquet at all are not a copy in progress.
    pub fn is_parquet_without_footer(&self) -> bool {
        let b = &self.bytes;
        InputFormat::from_extension(&self.path) == Some(InputFormat::Parquet)
            && if b.len() < 4 {
                b"PAR1".starts_with(b)
            } else {
                b.starts_with(b"PAR1") && !b.ends_with(b"PAR1")
            }
    }

    /// How many `--settle` periods a CSV without a line end at its end must stay
    /// unchanged before it is taken as it is (with a warning in its report).
    pub const CSV_AT_REST_SETTLES: u32 = 10;

    /// Whether this is a CSV whose last line has no line end (yet): every complete
    /// CSV a writer closes ends with one, so this is most likely a copy in progress
    /// whose last line is cut short.
    pub fn is_csv_without_line_end(&self) -> bool {
        InputFormat::from_extension(&self.path) == Some(InputFormat::Csv)
            && !self.bytes.is_empty()
            && !self.bytes.ends_with(b"\n")
            && !self.bytes.ends_with(b"\r")
    }

    /// Whether the file was modified less than `settle` ago (when it was read).
    pub fn modified_within(&self, settle: Duration) -> bool {
        self.modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < settle)
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether the file on disk has grown or changed since it was read: a copy in
    /// progress. `false` when it cannot be told.
    pub fn changed_since_read(&self) -> bool {
        !self.fetched
            && std::fs::metadata(&self.path).is_ok_and(|meta| {
                meta.len() != self.size() || meta.modified().ok() != self.modified
            })
    }
}
