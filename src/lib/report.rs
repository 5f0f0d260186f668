//! report.json: what a harvest did, in stable keys that `view --format json` shares.

use serde::{Deserialize, Serialize};

use crate::align::Alignment;
use crate::runs::RunCoverage;
use crate::stats::{RobotStats, Summary};
use crate::store::Compression;
use crate::timestamp::format_utc;
use crate::validate::RowAccount;

/// The whole report of one harvested file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of the output layout and formulas that made these outputs.
    pub output_schema_version: i64,
    pub tool_version: String,
    /// The source file, as an absolute path.
    pub source: String,
    pub size_bytes: u64,
    /// BLAKE3 of the file's bytes, hex.
    pub content_hash: String,
    pub format: String,
    pub started_at: String,
    pub finished_at: String,
    pub alignment: Alignment,
    pub max_gap_s: f64,
    /// Codec of the Parquet outputs (absent in reports of older versions: zstd:3).
    #[serde(default = "older_compression")]
    pub compression: Compression,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    pub coverage: Vec<RunCoverage>,
    pub runs: Vec<RunEntry>,
    /// Wall-clock seconds spent in each stage, in pipeline order.
    pub stages: Vec<StageTime>,
}

/// What versions before the codec became a choice wrote.
fn older_compression() -> Compression {
    Compression::Zstd(Compression::DEFAULT_ZSTD_LEVEL)
}

/// Time spent in one pipeline stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
}

/// Statistics of one robot in one run, as report.json and `view --format json` write
/// them: ids as decimal strings (64-bit ids do not survive JSON numbers), times as
/// ISO 8601 UTC, quantities in mm, mm/s, mm/s² and N, null when not measurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub run_uuid: String,
    pub robot_id: u8,
    pub start: String,
    pub stop: String,
    pub runtime_s: f64,
    pub distance_mm: Option<f64>,
    pub speed_mm_s: Option<Summary>,
    pub accel_mm_s2: Option<Summary>,
    pub force_n: Option<Summary>,
    pub rows: u64,
    pub encoder_samples: u64,
    pub load_cell_samples: u64,
    /// The run's wide table, relative to the output directory.
    pub table: String,
}

impl RunEntry {
    pub fn new(stats: &RobotStats, table: String) -> Self {
        RunEntry {
            run_uuid: stats.run_uuid.to_string(),
            robot_id: stats.robot_id,
            start: format_utc(stats.start),
            stop: format_utc(stats.stop),
            runtime_s: stats.runtime_s,
            distance_mm: stats.distance_mm,
            speed_mm_s: stats.speed_mm_s,
            accel_mm_s2: stats.accel_mm_s2,
            force_n: stats.force_n,
            rows: stats.rows,
            encoder_samples: stats.encoder_samples,
            load_cell_samples: stats.load_cell_samples,
            table,
        }
    }
}
