//! The report of a harvest: what each run's channels cover, what the user should be
//! warned of, and report.json's content.
//!
//! Takes the split log's accounting and every run's statistics and coverage; gives
//! the [`Report`] that the store writes and the catalog keeps.

use crate::model::options::Compression;
use crate::model::readings::RowAccount;
use crate::model::report::{ChannelCoverage, Report, RunCoverage, RunEntry, StageTime};
use crate::model::run_stats::RunStats;
use crate::model::schema::{Channel, InputFormat, OUTPUT_SCHEMA_VERSION};
use crate::pipeline::align::{covered_ns, AlignOptions};
use crate::pipeline::runs::RunData;
use crate::storage::SourceFile;
use crate::time::{format_utc, nanos_between, EpochNanos};

/// How well each channel covers the run, and which of the twelve are absent.
pub fn coverage(run: &RunData) -> RunCoverage {
    let duration = (run.stop() as i128 - run.start() as i128).max(1) as f64;
    let channels = run
        .channels
        .iter()
        .map(|(channel, s)| {
            let cover = ChannelCoverage {
                samples: s.len() as u64,
                start: format_utc(s.time[0]),
                stop: format_utc(*s.time.last().expect("validated channels are non-empty")),
                coverage: covered_ns(&s.time, run.max_gap_ns) as f64 / duration,
                median_interval_s: median_interval_ns(&s.time).map(|ns| ns as f64 * 1e-9),
            };
            (channel.column(), cover)
        })
        .collect();
    let missing = Channel::all()
        .into_iter()
        .filter(|c| !run.channels.contains_key(c))
        .map(|c| c.column())
        .collect();
    RunCoverage {
        run_uuid: run.run_uuid.to_string(),
        channels,
        missing,
    }
}

fn median_interval_ns(times: &[EpochNanos]) -> Option<i64> {
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| nanos_between(w[0], w[1]))
        .collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(mid).1)
}

/// What a harvest knows when its last stage ends, to be written as report.json.
pub struct ReportInput<'a> {
    pub source: &'a SourceFile,
    pub align: AlignOptions,
    pub compression: Compression,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    pub coverage: Vec<RunCoverage>,
    pub stats: &'a [RunStats],
    pub stages: Vec<StageTime>,
}

/// The report of a harvest, finished now.
pub fn report(input: ReportInput) -> Report {
    let ReportInput {
        source,
        align,
        compression,
        started_at,
        rows,
        mut warnings,
        coverage,
        stats,
        stages,
    } = input;
    let max_gap_s = align.max_gap_ns as f64 * 1e-9;
    let sparse: usize = coverage
        .iter()
        .flat_map(|run| run.channels.values())
        .filter(|c| c.median_interval_s.is_some_and(|i| i > max_gap_s))
        .count();
    if sparse > 0 {
        warnings.push(format!(
            "{sparse} channel(s) are sampled less often than --max-gap ({max_gap_s} s): values between their readings and their derivatives are null; raise --max-gap to bridge them"
        ));
    }
    let format = InputFormat::from_extension(&source.path).map_or("unknown", InputFormat::name);
    Report {
        output_schema_version: OUTPUT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: source.path.display().to_string(),
        size_bytes: source.size(),
        content_hash: source.content_hash.clone(),
        format: format.to_string(),
        started_at: wall_clock(started_at),
        finished_at: wall_clock(chrono::Utc::now()),
        alignment: align.alignment,
        max_gap_s,
        compression,
        rows,
        warnings,
        coverage,
        runs: stats.iter().cloned().map(RunEntry::new).collect(),
        stages,
    }
}

/// A wall-clock instant with millisecond precision, as the catalog records them.
fn wall_clock(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
