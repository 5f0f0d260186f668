//! The output store: one directory per harvested file, written whole or not at all.
//!
//! Layout under `--out`:
//!
//! ```text
//! <stem>-<hash12>/
//!     report.json
//!     run_stats.parquet
//!     runs/<run_uuid>.parquet
//! ```
//!
//! Everything is written into a hidden temporary sibling (`.<name>.tmp-<pid>`),
//! flushed to disk, and renamed into place. A crash at any moment leaves either no
//! directory under the final name or a complete one; leftovers of crashed writers
//! are removed by the next writer of the same name.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use polars::prelude::*;
use polars_core::frame::chunk_df_for_writing;
use polars_parquet::write::{
    CompressionOptions, Encoding, FileWriter, RowGroupIterator, StatisticsOptions, Version,
    WriteOptions, ZstdLevel,
};
use serde::{Deserialize, Serialize};

use crate::error::HarvestError;

pub const REPORT_FILE: &str = "report.json";
pub const RUN_STATS_FILE: &str = "run_stats.parquet";
pub const RUNS_DIR: &str = "runs";

/// How the Parquet outputs are compressed.
///
/// The wide tables are mostly full-precision floats (interpolated positions, their
/// derivatives and magnitudes), which general-purpose codecs barely shrink: on the
/// benchmark log zstd level 3 saves about a quarter of the bytes at five times the
/// cost of writing them plain, and Snappy or LZ4 save almost nothing. Outputs are
/// therefore uncompressed unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Compression {
    #[default]
    None,
    Snappy,
    Lz4,
    /// Zstandard at a level from 1 (fastest) to 22 (smallest).
    Zstd(i32),
}

impl Compression {
    /// The zstd level `zstd` alone means, as most tools use.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

    fn to_parquet(self) -> CompressionOptions {
        match self {
            Compression::None => CompressionOptions::Uncompressed,
            Compression::Snappy => CompressionOptions::Snappy,
            Compression::Lz4 => CompressionOptions::Lz4Raw,
            Compression::Zstd(level) => CompressionOptions::Zstd(ZstdLevel::try_new(level).ok()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Zstd(level) => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;

    /// `none`, `snappy`, `lz4`, `zstd` or `zstd:LEVEL` (1–22).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected none, snappy, lz4, zstd or zstd:LEVEL (1-22)";
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => Ok(Compression::None),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd(Self::DEFAULT_ZSTD_LEVEL)),
            other => match other.strip_prefix("zstd:").map(str::parse::<i32>) {
                Some(Ok(level)) if (1..=22).contains(&level) => Ok(Compression::Zstd(level)),
                _ => Err(format!("`{s}` is not a compression: {expected}")),
            },
        }
    }
}

impl From<Compression> for String {
    fn from(c: Compression) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Compression {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Rows per Parquet row group, as polars writes them: small enough for readers to
/// skip groups by their statistics, large enough to read fast.
const ROW_GROUP_ROWS: usize = 512 * 512;

/// Writes `frame` to `sink` as a Parquet file with min/max/null-count statistics.
///
/// Every column is PLAIN-encoded. polars' own writer first tries a dictionary for
/// every numeric column, which costs a hash of every value to estimate how many are
/// distinct; measured positions, forces and their derivatives are nearly all
/// distinct, so the attempt is pure cost (about 7% of a harvest's CPU time).
/// The frames written here are flat (one Parquet leaf per column).
pub fn write_parquet<W: Write>(
    sink: W,
    frame: &mut DataFrame,
    compression: Compression,
) -> PolarsResult<u64> {
    let frame = chunk_df_for_writing(frame, ROW_GROUP_ROWS)?;
    let schema = frame.schema().to_arrow(CompatLevel::newest());
    let options = WriteOptions {
        statistics: StatisticsOptions::default(),
        compression: compression.to_parquet(),
        version: Version::V1,
        data_page_size: None,
    };
    let row_groups = RowGroupIterator::try_new(
        frame.iter_chunks(CompatLevel::newest(), false).map(Ok),
        &schema,
        options,
        schema
            .iter_values()
            .map(|_| vec![Encoding::Plain])
            .collect(),
    )?;
    let mut writer = FileWriter::try_new(sink, schema, options)?;
    for row_group in row_groups {
        // The row count is taken from the encoded pages.
        writer.write(u64::MAX, row_group?)?;
    }
    writer.end(None)
}

/// The output directory name of a source: its file stem, made safe for any file
/// system, and the first 12 hex digits of its content hash.
pub fn output_dir_name(source: &Path, content_hash: &str) -> String {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe = safe.trim_start_matches('.').chars().take(80).collect();
    if safe.is_empty() {
        safe.push_str("log");
    }
    let short: String = content_hash
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    format!("{safe}-{short}")
}

/// The path of a run's wide table inside an output directory.
pub fn run_table_path(run_uuid: u64) -> String {
    format!("{RUNS_DIR}/{run_uuid}.parquet")
}

/// An output directory being written; becomes visible only by [`Staging::commit`].
pub struct Staging {
    dir: PathBuf,
    final_dir: PathBuf,
    /// Files written but not yet known to be on disk. They are flushed together at
    /// commit, so the disk writes one run's table back while the next is computed
    /// instead of every writer waiting for its own file.
    unsynced: Mutex<Vec<PathBuf>>,
}

impl Staging {
    /// Creates the temporary sibling for `name` under `out_root`.
    pub fn create(out_root: &Path, name: &str) -> Result<Staging, HarvestError> {
        fs::create_dir_all(out_root)
            .map_err(|e| HarvestError::io(out_root, "cannot create the output directory", e))?;
        remove_stale_temporaries(out_root, name);
        let dir = out_root.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(|e| HarvestError::io(&dir, "cannot clear a temporary directory", e))?;
        }
        fs::create_dir_all(dir.join(RUNS_DIR))
            .map_err(|e| HarvestError::io(&dir, "cannot create a temporary directory", e))?;
        Ok(Staging {
            dir,
            final_dir: out_root.join(name),
            unsynced: Mutex::new(Vec::new()),
        })
    }

    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Writes a DataFrame as Parquet at `relative` inside the staging directory.
    pub fn write_parquet(
        &self,
        relative: &str,
        frame: &mut DataFrame,
        compression: Compression,
    ) -> Result<(), HarvestError> {
        let path = self.dir.join(relative);
        let file = fs::File::create(&path)
            .map_err(|e| HarvestError::io(&path, "cannot create an output file", e))?;
        let mut file = std::io::BufWriter::new(file);
        write_parquet(&mut file, frame, compression).map_err(|e| polars_io_error(&path, e))?;
        let file = file
            .into_inner()
            .map_err(|e| HarvestError::io(&path, "cannot write an output file", e.into_error()))?;
        self.written(&path, &file);
        Ok(())
    }

    pub fn write_bytes(&self, relative: &str, bytes: &[u8]) -> Result<(), HarvestError> {
        let path = self.dir.join(relative);
        let mut file = fs::File::create(&path)
            .map_err(|e| HarvestError::io(&path, "cannot create an output file", e))?;
        file.write_all(bytes)
            .map_err(|e| HarvestError::io(&path, "cannot write an output file", e))?;
        self.written(&path, &file);
        Ok(())
    }

    /// Starts writing a finished file back to disk, without waiting for it, and
    /// remembers to wait for it at commit.
    fn written(&self, path: &Path, file: &fs::File) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; the call only schedules writeback.
            unsafe {
                libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = file;
        self.unsynced
            .lock()
            .expect("no writer panics holding the lock")
            .push(path.to_path_buf());
    }

    /// Waits until every written file is on disk.
    fn sync_files(&self) -> Result<(), HarvestError> {
        let paths = std::mem::take(&mut *self.unsynced.lock().expect("no writer panics"));
        for path in paths {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| HarvestError::io(&path, "cannot flush an output file", e))?;
        }
        Ok(())
    }

    /// Moves the finished directory into place, replacing an older one of the same
    /// name. The replacement is a rename away then a rename in: readers see the old
    /// directory, briefly no directory, then the new one, never a mix.
    pub fn commit(self) -> Result<PathBuf, HarvestError> {
        self.sync_files()?;
        sync_dir(&self.dir.join(RUNS_DIR));
        sync_dir(&self.dir);
        let parent = self
            .final_dir
            .parent()
            .expect("output directories have a parent")
            .to_path_buf();
        let old = parent.join(format!(
            ".{}.old-{}",
            self.final_dir.file_name().expect("named").to_string_lossy(),
            std::process::id()
        ));
        let replaced = match fs::rename(&self.final_dir, &old) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(HarvestError::io(
                    &self.final_dir,
                    "cannot move the previous output aside",
                    e,
                ))
            }
        };
        fs::rename(&self.dir, &self.final_dir).map_err(|e| {
            HarvestError::io(&self.final_dir, "cannot move the output into place", e)
        })?;
        sync_dir(&parent);
        if replaced {
            let _ = fs::remove_dir_all(&old);
        }
        let final_dir = self.final_dir.clone();
        std::mem::forget(self);
        Ok(final_dir)
    }
}

impl Drop for Staging {
    /// An abandoned staging directory (an error midway) is removed at once.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn polars_io_error(path: &Path, e: PolarsError) -> HarvestError {
    match e {
        PolarsError::IO { error, .. } => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::new(error.kind(), error.to_string()),
        ),
        other => HarvestError::io(
            path,
            "cannot write an output file",
            std::io::Error::other(other.to_string()),
        ),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes `.<name>.tmp-<pid>` and `.<name>.old-<pid>` siblings left by writers that
/// are no longer alive.
fn remove_stale_temporaries(out_root: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(out_root) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let pid = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            if !crate::process::is_alive(pid) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressions_are_named_as_they_are_parsed() {
        for (text, codec) in [
            ("none", Compression::None),
            ("uncompressed", Compression::None),
            ("snappy", Compression::Snappy),
            ("LZ4", Compression::Lz4),
            ("zstd", Compression::Zstd(3)),
            ("zstd:1", Compression::Zstd(1)),
            ("zstd:22", Compression::Zstd(22)),
        ] {
            assert_eq!(text.parse::<Compression>(), Ok(codec), "{text}");
            assert_eq!(codec.to_string().parse::<Compression>(), Ok(codec));
        }
        for bad in ["", "zip", "zstd:0", "zstd:23", "zstd:", "zstd:x", "gzip"] {
            let err = bad.parse::<Compression>().unwrap_err();
            assert!(err.contains("expected none, snappy"), "{bad}: {err}");
        }
        assert_eq!(
            serde_json::to_string(&Compression::Zstd(7)).unwrap(),
            r#""zstd:7""#
        );
    }

    #[test]
    fn output_names_are_safe_for_any_source_name() {
        let hash = "0123456789abcdef0123";
        assert_eq!(
            output_dir_name(Path::new("/in/shift 3.parquet"), hash),
            "shift_3-0123456789ab"
        );
        assert_eq!(
            output_dir_name(Path::new("/in/..parquet"), hash),
            "log-0123456789ab"
        );
        assert_eq!(
            output_dir_name(Path::new("/in/ünï/cödé.csv"), hash),
            "c_d_-0123456789ab"
        );
        let long = format!("/in/{}.csv", "a".repeat(500));
        assert_eq!(output_dir_name(Path::new(&long), hash).len(), 80 + 13);
        assert!(!output_dir_name(Path::new("../../etc/passwd"), "../x").contains('/'));
    }
}
