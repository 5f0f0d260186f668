//! Runs: the validated readings split by run and channel, each channel sorted by time
//! with one reading per instant ([`collapse`]), isolated spikes set aside per sensor
//! clock ([`clocks`]), and a run's derivatives, computed once for its wide table and
//! its statistics.
//!
//! Takes [`ValidRows`] from validation; gives a [`SplitLog`] (every run's readings,
//! what was found in each channel and the final row accounting) and, per run,
//! [`RunData`].

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

mod clocks;
mod collapse;

use clocks::{on_shared_clocks, set_spikes_aside, Collapsed};
use collapse::sort_and_collapse;

use crate::model::options::MaxGap;
use crate::model::readings::{ChannelSeries, Readings, RowAccount, RunId};
use crate::model::schema::{Channel, Sensor};
use crate::parallel::in_pool;
use crate::pipeline::features::{differentiate, Derivatives};
use crate::pipeline::validate::{ChannelKey, Pairs, ValidRows};
use crate::time::{median_interval_ns, EpochNanos};

/// A log's readings split by run, with the complete account of its rows.
#[derive(Debug)]
pub struct SplitLog {
    pub readings: Readings,
    /// Per run and channel, only where something was found.
    pub findings: Findings,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    /// Each run's work cell, from the log's `cell_id` column (absent without one).
    pub cells: BTreeMap<RunId, String>,
}

/// What splitting found in one channel besides its readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelFindings {
    /// Instants whose readings had different values.
    pub conflicts: u64,
    /// The largest spread (largest − smallest value) among one instant's readings,
    /// in the channel's unit; 0 without conflicts.
    pub largest_conflict_spread: f64,
    /// Isolated spikes as (instant, reading), in time order: dropped unless kept.
    pub spikes: Vec<(EpochNanos, f64)>,
}

impl ChannelFindings {
    fn is_empty(&self) -> bool {
        self.conflicts == 0 && self.spikes.is_empty()
    }
}

/// Findings per run and channel.
pub type Findings = BTreeMap<RunId, BTreeMap<Channel, ChannelFindings>>;

/// How splitting treats what it finds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SplitOptions {
    /// The gap a spike's neighbourhood may not span.
    pub max_gap: MaxGap,
    /// Keep spikes in the readings (they are still listed).
    pub keep_spikes: bool,
}

/// Joins the slices' readings per run and channel in file order, sorts each channel
/// by time, collapses repeated instants (counting them as duplicates) and sets
/// spikes aside.
pub fn split(valid: ValidRows, options: SplitOptions) -> SplitLog {
    let ValidRows {
        mut rows,
        slices,
        float_run_ids,
        cells,
    } = valid;
    // Each channel's readings are gathered into one vector of its final size: grown
    // slice by slice, it would be copied again at every doubling into fresh memory.
    let mut sizes: HashMap<ChannelKey, usize> = HashMap::new();
    for (key, pairs) in slices.iter().flatten() {
        *sizes.entry(*key).or_default() += pairs.len();
    }
    let mut joined: HashMap<ChannelKey, Pairs> = HashMap::with_capacity(sizes.len());
    for (key, pairs) in slices.into_iter().flatten() {
        match joined.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().extend(pairs),
            // A channel of one slice keeps its vector as it is.
            Entry::Vacant(e) if pairs.len() == sizes[&key] => {
                e.insert(pairs);
            }
            Entry::Vacant(e) => {
                let mut all = Vec::with_capacity(sizes[&key]);
                all.extend(pairs);
                e.insert(all);
            }
        }
    }

    let collapsed: Vec<Collapsed> = in_pool(|| {
        let collapsed: Vec<Collapsed> = joined
            .into_par_iter()
            .map(|(key, pairs)| {
                let mut dropped = RowAccount::default();
                let mut found = ChannelFindings::default();
                let series = sort_and_collapse(pairs, &mut dropped, &mut found);
                (key, series, dropped, found)
            })
            .collect();
        on_shared_clocks(collapsed)
            .into_par_iter()
            .flat_map_iter(|mut clock| {
                set_spikes_aside(&mut clock, options);
                clock
            })
            .collect()
    });
    let mut readings = Readings::new();
    let mut findings = Findings::new();
    for ((run, channel), series, dropped, found) in collapsed {
        for (reason, n) in dropped.dropped {
            rows.drop(reason, n);
        }
        if !found.is_empty() {
            findings.entry(run).or_default().insert(channel, found);
        }
        // A channel whose every reading was a spike is not there at all.
        if !series.is_empty() {
            readings.entry(run).or_default().insert(channel, series);
        }
    }
    rows.kept = readings
        .values()
        .flat_map(|c| c.values())
        .map(|s| s.len() as u64)
        .sum();

    let mut warnings = Vec::new();
    if float_run_ids {
        let ids: Vec<String> = readings.keys().map(|r| r.to_string()).collect();
        warnings.push(format!(
            "run_uuid is stored as float64, which cannot hold 64-bit ids exactly; runs are keyed by the exact integer value of each float: {}",
            ids.join(", ")
        ));
    }
    let cells = run_cells(cells, &readings, &mut warnings);
    SplitLog {
        readings,
        findings,
        rows,
        warnings,
        cells,
    }
}

/// Each kept run's cell: the one most of its readings name (ties go to the first in
/// order); a run whose readings name several cells is listed in a warning.
fn run_cells(
    counts: BTreeMap<RunId, BTreeMap<String, u64>>,
    readings: &Readings,
    warnings: &mut Vec<String>,
) -> BTreeMap<RunId, String> {
    let mut mixed = Vec::new();
    let cells = counts
        .into_iter()
        .filter(|(run, _)| readings.contains_key(run))
        .filter_map(|(run, per_cell)| {
            let (cell, _) = per_cell
                .iter()
                .max_by(|(a, m), (b, n)| m.cmp(n).then_with(|| b.cmp(a)))?;
            let cell = cell.clone();
            if per_cell.len() > 1 {
                let all: Vec<String> = per_cell.iter().map(|(c, n)| format!("{c} ({n})")).collect();
                mixed.push(format!("run {run} in {}", all.join(", ")));
            }
            Some((run, cell))
        })
        .collect();
    if !mixed.is_empty() {
        warnings.push(format!(
            "readings of one run name several cells (readings per cell); each run is filed under its most frequent: {}",
            mixed.join("; ")
        ));
    }
    cells
}

/// One run's readings with the derivatives of its encoder channels and each
/// channel's gap bound, computed once and shared by the wide table, the statistics
/// and the report.
pub struct RunData<'a> {
    pub run_uuid: RunId,
    pub channels: &'a BTreeMap<Channel, ChannelSeries>,
    /// What splitting found in the run's channels, if anything.
    pub findings: Option<&'a BTreeMap<Channel, ChannelFindings>>,
    pub derivatives: BTreeMap<Channel, Derivatives>,
    /// The gap rule, and per channel its median sampling interval and gap bound
    /// (ns), worked out once.
    pub max_gap: MaxGap,
    pub intervals: BTreeMap<Channel, Interval>,
}

/// A channel's median sampling interval (`None` with a single reading) and the
/// longest interval its readings may be bridged across, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub median: Option<i64>,
    pub gap: i64,
}

impl<'a> RunData<'a> {
    pub fn new(
        run_uuid: RunId,
        channels: &'a BTreeMap<Channel, ChannelSeries>,
        findings: Option<&'a BTreeMap<Channel, ChannelFindings>>,
        max_gap: MaxGap,
    ) -> Self {
        let intervals: BTreeMap<Channel, Interval> = in_pool(|| {
            channels
                .par_iter()
                .map(|(c, s)| {
                    let median = median_interval_ns(&s.time);
                    let gap = max_gap.bound_for_median(median);
                    (*c, Interval { median, gap })
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .collect();
        let encoders: Vec<(&Channel, &ChannelSeries)> = channels
            .iter()
            .filter(|(c, _)| c.field.sensor() == Sensor::Encoder)
            .collect();
        let derivatives = in_pool(|| {
            encoders
                .par_iter()
                .map(|(c, s)| (**c, differentiate(&s.time, &s.value, intervals[*c].gap)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .collect();
        RunData {
            run_uuid,
            channels,
            findings,
            derivatives,
            max_gap,
            intervals,
        }
    }

    /// The longest interval `channel`'s readings may be bridged across, in ns.
    pub fn gap(&self, channel: Channel) -> i64 {
        self.intervals
            .get(&channel)
            .map_or_else(|| self.max_gap.bound_for_median(None), |i| i.gap)
    }

    /// `channel`'s median sampling interval, in ns (`None` with a single reading).
    pub fn median_interval(&self, channel: Channel) -> Option<i64> {
        self.intervals.get(&channel).and_then(|i| i.median)
    }

    /// The gap bound of each of `axes` distinct time axes, taken from the first
    /// signal on it (`axis_of` gives each signal's axis, `channel_of` its channel):
    /// the signals on one axis share its bound, which depends on the axis alone.
    pub fn axis_gaps(
        &self,
        axes: usize,
        axis_of: &[usize],
        channel_of: impl Fn(usize) -> Channel,
    ) -> Vec<i64> {
        (0..axes)
            .map(|axis| {
                let first = axis_of
                    .iter()
                    .position(|&a| a == axis)
                    .expect("every axis has a signal");
                self.gap(channel_of(first))
            })
            .collect()
    }

    pub fn velocity(&self, channel: Channel) -> Option<&[f64]> {
        self.derivatives
            .get(&channel)
            .map(|d| d.velocity.as_slice())
    }

    pub fn acceleration(&self, channel: Channel) -> Option<&[f64]> {
        self.derivatives
            .get(&channel)
            .map(|d| d.acceleration.as_slice())
    }

    pub fn start(&self) -> EpochNanos {
        self.channels
            .values()
            .filter_map(|s| s.time.first())
            .copied()
            .min()
            .unwrap_or(0)
    }

    pub fn stop(&self) -> EpochNanos {
        self.channels
            .values()
            .filter_map(|s| s.time.last())
            .copied()
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::readings::DropReason;
    use crate::model::schema;
    use crate::pipeline::load::load_log;
    use crate::pipeline::validate::validate;
    use polars::prelude::*;
    use std::path::Path;

    /// A Parquet log of `rows` encoder readings of robot 1 in three runs, with bad
    /// rows and duplicates spread through it, stored in row groups of `group_rows`.
    fn parquet_log(rows: usize, group_rows: usize) -> Vec<u8> {
        // Rows 3k, 3k+1 and 3k+2 are x, y and z at instant k (milliseconds).
        let at = |k: usize| {
            format!(
                "2022-11-23T20:{:02}:{:02}.{:03}Z",
                k / 60_000,
                k / 1000 % 60,
                k % 1000
            )
        };
        let time: Vec<String> = (0..rows)
            .map(|i| match i % 1000 {
                7 => "not a time".to_string(),
                // The instant of the same field three rows before, another value.
                0 if i > 0 => at(i / 3 - 1),
                _ => at(i / 3),
            })
            .collect();
        let value: Vec<f64> = (0..rows)
            .map(|i| if i % 997 == 0 { f64::NAN } else { i as f64 })
            .collect();
        let field: Vec<&str> = (0..rows).map(|i| ["x", "y", "z"][i % 3]).collect();
        let robot: Vec<i64> = vec![1; rows];
        let run: Vec<u64> = (0..rows).map(|i| (i * 3 / rows) as u64).collect();
        let sensor: Vec<&str> = vec!["encoder"; rows];
        let mut frame = DataFrame::new(
            rows,
            vec![
                Column::new(schema::TIME.into(), time),
                Column::new(schema::VALUE.into(), value),
                Column::new(schema::FIELD.into(), field),
                Column::new(schema::ROBOT_ID.into(), robot),
                Column::new(schema::RUN_UUID.into(), run),
                Column::new(schema::SENSOR_TYPE.into(), sensor),
            ],
        )
        .unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes)
            .with_row_group_size(Some(group_rows))
            .finish(&mut frame)
            .unwrap();
        bytes
    }

    #[test]
    fn a_log_validated_in_parts_equals_the_log_validated_whole() {
        let path = Path::new("parts.parquet");
        let rows = 700_000;
        let whole = parquet_log(rows, rows);
        let in_parts = parquet_log(rows, 90_000);
        assert_eq!(270_000 % 1000, 0, "a duplicate opens the second part");
        let whole_log = load_log(path, &whole).unwrap();
        let split_log = load_log(path, &in_parts).unwrap();
        assert_eq!(whole_log.parts(), 1);
        assert_eq!(
            split_log.parts(),
            3,
            "parts of whole row groups, 270k rows each"
        );

        let expected = split(validate(path, &whole_log).unwrap(), SplitOptions::default());
        let got = split(validate(path, &split_log).unwrap(), SplitOptions::default());
        assert_eq!(got.rows, expected.rows);
        assert_eq!(got.readings, expected.readings);
        assert_eq!(got.rows.read, rows as u64);
        assert_eq!(got.rows.dropped[&DropReason::TimeUnparsable], 700);
        assert!(got.rows.dropped[&DropReason::ValueNotFinite] > 0);
        // One row in a thousand repeats a reading (one of them opens the second
        // part), unless that reading was dropped for its NaN.
        let repeats = (1000..rows)
            .step_by(1000)
            .filter(|i| (i - 3) % 997 != 0)
            .count() as u64;
        assert_eq!(repeats, 698);
        assert_eq!(got.rows.dropped[&DropReason::DuplicateConflicting], repeats);
        assert_eq!(got.readings.len(), 3);
    }
}
