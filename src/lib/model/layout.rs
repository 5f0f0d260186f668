//! Where a harvest's outputs go, under `--out`:
//!
//! ```text
//! <stem>-<hash12>/
//!     report.json
//!     run_stats.parquet
//!     runs/<run_uuid>.parquet
//! ```
//!
//! The catalog records the directory and `view` finds the files by these names.

use std::path::Path;

use crate::model::readings::RunId;

pub const REPORT_FILE: &str = "report.json";
pub const RUN_STATS_FILE: &str = "run_stats.parquet";
pub const RUNS_DIR: &str = "runs";

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
pub fn run_table_path(run_uuid: RunId) -> String {
    format!("{RUNS_DIR}/{run_uuid}.parquet")
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
}
