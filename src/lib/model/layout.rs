//! Where a harvest's outputs go, under `--out`:
//!
//! ```text
//! <stem>-<hash12>/                   one per harvested content
//!     report.json                    points to its runs' tables in the dataset
//!     run_stats.parquet
//! dataset/                           every run, one Hive-partitioned dataset
//!     samples/cell=<cell>/date=<YYYY-MM-DD>/<hash12>-<run_uuid>.parquet
//!     run_stats/cell=<cell>/date=<YYYY-MM-DD>/<hash12>-<run_uuid>.parquet
//!     .pending/<content_hash>/...     written, published once the catalog commits
//! ```
//!
//! `date` is the UTC day of the run's first reading; a run without a cell is under
//! `cell=__HIVE_DEFAULT_PARTITION__`, which Hive readers read as null. Both tables
//! have a file per run, so that a run set aside (a copy of it in another content is
//! current) leaves the dataset by the removal of its two files. The catalog
//! records the directory and `view` finds the files by these names.

use std::path::Path;

use crate::model::readings::RunId;
use crate::time::{format_utc, EpochNanos};

pub const REPORT_FILE: &str = "report.json";
pub const RUN_STATS_FILE: &str = "run_stats.parquet";
/// The dataset's folder under the output root.
pub const DATASET_DIR: &str = "dataset";
/// Inside an output directory being written, and under the dataset while waiting
/// for the catalog: the dataset files of one harvest, laid out as in the dataset.
pub const UNPUBLISHED_DIR: &str = ".dataset";
pub const PENDING_DIR: &str = ".pending";
/// The dataset's tables.
pub const SAMPLES_TABLE: &str = "samples";
pub const RUN_STATS_TABLE: &str = "run_stats";

/// The partition value of runs without a cell.
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The folders of a run's partition: `cell=<cell>/date=<UTC day of start>`. The cell
/// is percent-encoded past letters, digits, `.`, `_` and `-`, as Hive readers decode it.
pub fn partition(cell: Option<&str>, start: EpochNanos) -> String {
    let cell = match cell {
        Some(cell) if !cell.is_empty() => cell
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
        _ => NULL_PARTITION.to_string(),
    };
    let day = &format_utc(start)[..10];
    format!("cell={cell}/date={day}")
}

/// A run's wide table, relative to the dataset.
pub fn samples_file(content_hash: &str, run_uuid: RunId, partition: &str) -> String {
    format!(
        "{SAMPLES_TABLE}/{partition}/{}-{run_uuid}.parquet",
        short_hash(content_hash)
    )
}

/// A run's statistics (a row per robot), relative to the dataset.
pub fn run_stats_file(content_hash: &str, run_uuid: RunId, partition: &str) -> String {
    format!(
        "{RUN_STATS_TABLE}/{partition}/{}-{run_uuid}.parquet",
        short_hash(content_hash)
    )
}

/// A dataset file as seen from an output directory (its sibling).
pub fn from_output_dir(dataset_file: &str) -> String {
    format!("../{DATASET_DIR}/{dataset_file}")
}

fn short_hash(content_hash: &str) -> String {
    content_hash
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect()
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
    format!("{safe}-{}", short_hash(content_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn partitions_are_safe_folders_hive_readers_decode() {
        let start = 1_669_236_000_123_000_000; // 2022-11-23T20:40:00.123Z
        assert_eq!(partition(Some("7"), start), "cell=7/date=2022-11-23");
        assert_eq!(
            partition(Some("A/7 b"), start),
            "cell=A%2F7%20b/date=2022-11-23"
        );
        assert_eq!(partition(Some(".."), start), "cell=../date=2022-11-23");
        assert_eq!(
            partition(None, start),
            "cell=__HIVE_DEFAULT_PARTITION__/date=2022-11-23"
        );
        let hash = "0123456789abcdef0123";
        let p = partition(Some("7"), start);
        assert_eq!(
            samples_file(hash, u64::MAX, &p),
            "samples/cell=7/date=2022-11-23/0123456789ab-18446744073709551615.parquet"
        );
        assert_eq!(
            from_output_dir(&run_stats_file(hash, 31, &p)),
            "../dataset/run_stats/cell=7/date=2022-11-23/0123456789ab-31.parquet"
        );
    }
}
