//! report.json: what a harvest did, in stable keys that `view --format json` shares.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::layout::{from_output_dir, partition, samples_file};
use crate::model::options::{Alignment, Compression, Encoding, MaxGap};
use crate::model::readings::{RowAccount, RunId};
use crate::model::run_stats::RunStats;

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
    /// The content its source held before, which this one replaces in the dataset
    /// and the fleet views, and why (`grew`, `changed`): absent when the source is
    /// new, or its earlier content is still current at another source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Revision>,
    pub started_at: String,
    pub finished_at: String,
    pub alignment: Alignment,
    /// `"auto"` or the seconds given; each channel's bound is in its coverage.
    #[serde(alias = "max_gap_s")]
    pub max_gap: MaxGap,
    /// Codec of the Parquet outputs (absent in reports of older versions: zstd:3).
    #[serde(default = "older_compression")]
    pub compression: Compression,
    /// Layout of the float columns' values in the Parquet pages (absent in reports
    /// of older versions: plain).
    #[serde(default)]
    pub encoding: Encoding,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    pub coverage: Vec<RunCoverage>,
    /// Isolated spikes found, in run, channel and time order (absent in reports of
    /// older versions).
    #[serde(default)]
    pub spikes: Vec<Spike>,
    pub runs: Vec<RunEntry>,
    /// Wall-clock seconds spent in each stage, in pipeline order.
    pub stages: Vec<StageTime>,
}

/// What versions before the codec became a choice wrote.
fn older_compression() -> Compression {
    Compression::Zstd(Compression::DEFAULT_ZSTD_LEVEL)
}

/// The timed stages of a harvest, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading and hashing the file.
    Read,
    /// Fetching an object from its store, and hashing it.
    Fetch,
    Load,
    Validate,
    /// Splitting runs, aligning, deriving and writing each run's table.
    Runs,
    /// The run statistics table and the report.
    Statistics,
}

/// Time spent in one pipeline stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    pub stage: Stage,
    pub seconds: f64,
}

/// One run and robot's statistics with where its run's wide table is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    #[serde(flatten)]
    pub stats: RunStats,
    /// The run's wide table in the dataset, relative to the output directory.
    pub table: String,
}

impl RunEntry {
    /// The entries of a content's statistics: each run's table is in the partition
    /// of its cell and the UTC day of its first reading (its robots' earliest start).
    pub fn entries(stats: &[RunStats], content_hash: &str) -> Vec<RunEntry> {
        let mut starts: BTreeMap<RunId, i64> = BTreeMap::new();
        for s in stats {
            let start = starts.entry(s.run_uuid).or_insert(s.start);
            *start = (*start).min(s.start);
        }
        stats
            .iter()
            .map(|s| {
                let partition = partition(s.cell.as_deref(), starts[&s.run_uuid]);
                RunEntry {
                    table: from_output_dir(&samples_file(content_hash, s.run_uuid, &partition)),
                    stats: s.clone(),
                }
            })
            .collect()
    }
}

/// Coverage of one channel: readings, first and last, the fraction of the run's
/// duration spanned by intervals between readings at most its gap bound apart, and
/// what was found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelCoverage {
    pub samples: u64,
    pub start: String,
    pub stop: String,
    pub coverage: f64,
    /// The channel's typical sampling interval (null with a single reading).
    pub median_interval_s: Option<f64>,
    /// The longest interval between its readings that was bridged (null in reports
    /// of older versions, which used the file's `max_gap` for every channel).
    #[serde(default)]
    pub max_gap_s: Option<f64>,
    /// Instants whose readings disagreed; one reading was kept (see the README).
    #[serde(default)]
    pub conflicts: u64,
    /// The largest spread among one instant's readings, in the channel's unit
    /// (null without conflicts).
    #[serde(default)]
    pub largest_conflict_spread: Option<f64>,
    /// Isolated spikes found.
    #[serde(default)]
    pub spikes: u64,
}

/// Coverage of a run's channels, keyed by column name, and the absent channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCoverage {
    pub run_uuid: String,
    pub channels: BTreeMap<String, ChannelCoverage>,
    pub missing: Vec<String>,
    /// Instants with conflicting readings, over all channels.
    #[serde(default)]
    pub conflicts: u64,
}

/// One content of a file, as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub content_hash: String,
    pub size_bytes: u64,
    /// Why a newer content replaced it. Reports made before reasons were recorded
    /// named only a CSV that grew.
    #[serde(default = "Supersession::older")]
    pub reason: Supersession,
}

/// Why a source's new content supersedes its earlier one: recorded in the catalog
/// (`superseded_reason`) and report.json, so that an analyst can tell a log still
/// being appended to from one edited after its harvest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Supersession {
    /// The earlier bytes begin the new ones: the log grew.
    Grew,
    /// The source holds other bytes: edited, shortened or exported again.
    Changed,
}

impl Supersession {
    /// The value stored in the catalog and report.json.
    pub fn name(self) -> &'static str {
        match self {
            Supersession::Grew => "grew",
            Supersession::Changed => "changed",
        }
    }

    /// The reason of a stored value; unknown (a newer harvester's) reads as changed.
    pub fn parse(name: &str) -> Supersession {
        match name {
            "grew" => Supersession::Grew,
            _ => Supersession::Changed,
        }
    }

    /// Before reasons were recorded, only a CSV that grew superseded anything.
    fn older() -> Supersession {
        Supersession::Grew
    }
}

/// One isolated spike: where and what it read, and whether it was dropped (it is
/// kept with `--keep-spikes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spike {
    pub run_uuid: String,
    pub channel: String,
    pub time: String,
    pub value: f64,
    pub dropped: bool,
}
