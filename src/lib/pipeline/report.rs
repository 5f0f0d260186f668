//! The report of a harvest: what each run's channels cover, what the user should be
//! warned of, and report.json's content.
//!
//! Takes the split log's accounting and every run's statistics and coverage; gives
//! the [`Report`] that the store writes and the catalog keeps.

use std::collections::BTreeMap;

use crate::model::options::{Compression, Encoding, MaxGap};
use crate::model::readings::RowAccount;
use crate::model::report::{
    ChannelCoverage, Report, Revision, RunCoverage, RunEntry, Spike, StageTime,
};
use crate::model::run_stats::RunStats;
use crate::model::schema::{Channel, InputFormat, OUTPUT_SCHEMA_VERSION};
use crate::pipeline::align::{covered_ns, AlignOptions};
use crate::pipeline::runs::{Findings, RunData};
use crate::storage::SourceFile;
use crate::time::format_utc;

/// How well each channel covers the run, and which of the twelve are absent.
pub fn coverage(run: &RunData) -> RunCoverage {
    let duration = (run.stop() as i128 - run.start() as i128).max(1) as f64;
    let channels = run
        .channels
        .iter()
        .map(|(channel, s)| {
            let gap = run.gap(*channel);
            let found = run.findings.and_then(|f| f.get(channel));
            let cover = ChannelCoverage {
                samples: s.len() as u64,
                start: format_utc(s.time[0]),
                stop: format_utc(*s.time.last().expect("validated channels are non-empty")),
                coverage: covered_ns(&s.time, gap) as f64 / duration,
                median_interval_s: run.median_interval(*channel).map(|ns| ns as f64 * 1e-9),
                max_gap_s: Some(gap as f64 * 1e-9),
                conflicts: found.map_or(0, |f| f.conflicts),
                largest_conflict_spread: found
                    .filter(|f| f.conflicts > 0)
                    .map(|f| f.largest_conflict_spread),
                spikes: found.map_or(0, |f| f.spikes.len() as u64),
            };
            (channel.column(), cover)
        })
        .collect::<BTreeMap<_, _>>();
    let conflicts = channels.values().map(|c| c.conflicts).sum();
    let missing = Channel::all()
        .into_iter()
        .filter(|c| !run.channels.contains_key(c))
        .map(|c| c.column())
        .collect();
    RunCoverage {
        run_uuid: run.run_uuid.to_string(),
        channels,
        missing,
        conflicts,
    }
}

/// What a harvest knows when its last stage ends, to be written as report.json.
pub struct ReportInput<'a> {
    pub source: &'a SourceFile,
    pub supersedes: Option<Revision>,
    pub align: AlignOptions,
    pub compression: Compression,
    pub encoding: Encoding,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    pub findings: &'a Findings,
    pub keep_spikes: bool,
    pub coverage: Vec<RunCoverage>,
    pub stats: &'a [RunStats],
    pub stages: Vec<StageTime>,
}

/// The report of a harvest, finished now.
pub fn report(input: ReportInput) -> Report {
    let ReportInput {
        source,
        supersedes,
        align,
        compression,
        encoding,
        started_at,
        rows,
        mut warnings,
        findings,
        keep_spikes,
        coverage,
        stats,
        stages,
    } = input;
    if let MaxGap::Fixed(ns) = align.max_gap {
        warnings.extend(sparse_channel_warning(&coverage, ns));
    }
    if let Some(warning) = conflict_warning(&coverage) {
        warnings.push(warning);
    }
    let spikes = spike_list(findings, keep_spikes);
    let format = InputFormat::from_extension(&source.path).map_or("unknown", InputFormat::name);
    Report {
        output_schema_version: OUTPUT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: source.path.display().to_string(),
        size_bytes: source.size(),
        content_hash: source.content_hash.clone(),
        format: format.to_string(),
        supersedes,
        started_at: wall_clock(started_at),
        finished_at: wall_clock(chrono::Utc::now()),
        alignment: align.alignment,
        max_gap: align.max_gap,
        compression,
        encoding,
        rows,
        warnings,
        coverage,
        spikes,
        runs: RunEntry::entries(stats, &source.content_hash),
        stages,
    }
}

/// The channels sampled less often than a fixed `--max-gap` of `max_gap_ns`, by
/// name with the longest of their runs' median intervals: the user must know which
/// columns are null between readings to raise the gap enough, or to ignore them.
fn sparse_channel_warning(coverage: &[RunCoverage], max_gap_ns: i64) -> Option<String> {
    // The gap is whole nanoseconds: divided (not multiplied by 1e-9, which is
    // inexact), it prints as given, `0.0115`, not `0.011500000000000002`.
    let max_gap_s = max_gap_ns as f64 / 1e9;
    let mut sparse: BTreeMap<&str, f64> = BTreeMap::new();
    for run in coverage {
        for (channel, cover) in &run.channels {
            if let Some(interval) = cover.median_interval_s.filter(|&i| i > max_gap_s) {
                let longest = sparse.entry(channel.as_str()).or_insert(interval);
                *longest = longest.max(interval);
            }
        }
    }
    if sparse.is_empty() {
        return None;
    }
    let named: Vec<String> = sparse
        .iter()
        .map(|(channel, interval)| format!("{channel} ({})", seconds(*interval)))
        .collect();
    Some(format!(
        "{} channel(s) are sampled less often than --max-gap ({max_gap_s} s), median interval in parentheses: {}; values between their readings and their derivatives are null: raise --max-gap or use --max-gap auto to bridge them",
        sparse.len(),
        named.join(", ")
    ))
}

/// Seconds for people: at most six decimals (a microsecond), trailing zeros cut.
fn seconds(s: f64) -> String {
    let text = format!("{s:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// What a user should know of conflicting duplicates: how many instants, and the
/// largest disagreement, where.
fn conflict_warning(coverage: &[RunCoverage]) -> Option<String> {
    let total: u64 = coverage.iter().map(|r| r.conflicts).sum();
    let (run, channel, spread) = coverage
        .iter()
        .flat_map(|r| {
            r.channels
                .iter()
                .filter_map(move |(c, cover)| Some((r, c, cover.largest_conflict_spread?)))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))?;
    Some(format!(
        "{total} instant(s) had readings with different values; each kept the reading closest to its channel's path (largest spread {spread:.4} in {channel} of run {})",
        run.run_uuid
    ))
}

/// Every spike found, in run, channel and time order.
fn spike_list(findings: &Findings, keep_spikes: bool) -> Vec<Spike> {
    findings
        .iter()
        .flat_map(|(run, channels)| {
            channels.iter().flat_map(move |(channel, found)| {
                found.spikes.iter().map(move |&(time, value)| Spike {
                    run_uuid: run.to_string(),
                    channel: channel.column(),
                    time: format_utc(time),
                    value,
                    dropped: !keep_spikes,
                })
            })
        })
        .collect()
}

/// A wall-clock instant with millisecond precision, as the catalog records them.
fn wall_clock(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
