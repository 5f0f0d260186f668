//! Runs: the validated readings split by run and channel, each channel sorted by time
//! with one reading per instant, isolated spikes set aside, and a run's derivatives,
//! computed once for its wide table and its statistics.
//!
//! A repeated instant keeps one reading. When its readings differ (a conflict), the
//! one kept is the one closest to the channel's path through the neighbouring
//! instants: the value interpolated at that instant between the previous kept
//! reading and the next instant's reading; at an end of the channel, the line
//! through the two nearest readings on the side that exists extended to it (or the
//! one reading there). A next instant that is itself in conflict is no neighbour.
//! File order decides only when no neighbour exists or candidates are equally
//! close. A glitching writer's copy is thus dropped, not the reading in sequence.
//!
//! Takes [`ValidRows`] from validation; gives a [`SplitLog`] (every run's readings,
//! what was found in each channel and the final row accounting) and, per run,
//! [`RunData`].

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::model::options::MaxGap;
use crate::model::readings::{ChannelSeries, DropReason, Readings, RowAccount, RunId};
use crate::model::schema::{Channel, Sensor};
use crate::parallel::in_pool;
use crate::pipeline::features::{differentiate, Derivatives};
use crate::pipeline::spikes::find_spikes_on_clock;
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

/// Sorts one channel's readings by time (stable, so equal times stay in file order)
/// and keeps one reading per instant (see the module docs), counting the others as
/// identical or conflicting duplicates.
fn sort_and_collapse(
    mut pairs: Pairs,
    rows: &mut RowAccount,
    found: &mut ChannelFindings,
) -> ChannelSeries {
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        pairs.sort_by_key(|p| p.0);
    }
    let mut out = ChannelSeries {
        time: Vec::with_capacity(pairs.len()),
        value: Vec::with_capacity(pairs.len()),
    };
    let mut start = 0;
    while start < pairs.len() {
        let end = group_end(&pairs, start);
        let group = &pairs[start..end];
        let (time, first) = group[0];
        let value = if group.iter().all(|p| p.1.to_bits() == first.to_bits()) {
            first
        } else {
            let (low, high) = group
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
                    (l.min(p.1), h.max(p.1))
                });
            found.conflicts += 1;
            found.largest_conflict_spread = found.largest_conflict_spread.max(high - low);
            let kept = out.len();
            let previous: Vec<(EpochNanos, f64)> = (kept.saturating_sub(2)..kept)
                .rev()
                .map(|i| (out.time[i], out.value[i]))
                .collect();
            let mut next = Vec::with_capacity(2);
            let mut from = end;
            while next.len() < 2 && from < pairs.len() {
                let to = group_end(&pairs, from);
                match unanimous(&pairs[from..to]) {
                    Some(reading) => next.push(reading),
                    None => break,
                }
                from = to;
            }
            closest_to_path(group, &previous, &next)
        };
        // The kept reading once; every other one is a duplicate of it.
        let mut kept = false;
        for p in group {
            if !kept && p.1.to_bits() == value.to_bits() {
                kept = true;
            } else if p.1.to_bits() == value.to_bits() {
                rows.drop(DropReason::DuplicateIdentical, 1);
            } else {
                rows.drop(DropReason::DuplicateConflicting, 1);
            }
        }
        out.time.push(time);
        out.value.push(value);
        start = end;
    }
    out
}

/// The end of the run of readings at `start`'s instant.
fn group_end(pairs: &[(EpochNanos, f64)], start: usize) -> usize {
    let time = pairs[start].0;
    start + pairs[start..].iter().take_while(|p| p.0 == time).count()
}

/// The instant and value of a group whose readings all agree.
fn unanimous(group: &[(EpochNanos, f64)]) -> Option<(EpochNanos, f64)> {
    let (time, first) = group[0];
    group
        .iter()
        .all(|p| p.1.to_bits() == first.to_bits())
        .then_some((time, first))
}

/// Of one instant's conflicting readings, the value closest to the path through the
/// neighbours (nearest first on each side, at most two); the first in file order
/// when there are none.
fn closest_to_path(
    group: &[(EpochNanos, f64)],
    previous: &[(EpochNanos, f64)],
    next: &[(EpochNanos, f64)],
) -> f64 {
    let time = group[0].0;
    // The line through two readings, at `time` (in i128: they may be centuries apart).
    let line = |(t0, v0): (EpochNanos, f64), (t1, v1): (EpochNanos, f64)| {
        let along = (time as i128 - t0 as i128) as f64 / (t1 as i128 - t0 as i128) as f64;
        v0 + (v1 - v0) * along
    };
    let expected = match (previous, next) {
        ([before, ..], [after, ..]) => line(*before, *after),
        ([nearest, further], []) | ([], [nearest, further]) => line(*further, *nearest),
        ([only], []) | ([], [only]) => only.1,
        _ => return group[0].1,
    };
    let mut best = group[0].1;
    for &(_, value) in &group[1..] {
        if (value - expected).abs() < (best - expected).abs() {
            best = value;
        }
    }
    best
}

/// A channel's readings once collapsed, with what collapsing and spike finding drop
/// and find.
type Collapsed = (ChannelKey, ChannelSeries, RowAccount, ChannelFindings);

/// The channels grouped by clock: the fields of one run's sensor whose readings
/// fall on the same instants (as a sensor reports them), so that what depends on
/// the instants alone is worked out once per clock.
fn on_shared_clocks(channels: Vec<Collapsed>) -> Vec<Vec<Collapsed>> {
    let mut clocks: Vec<Vec<Collapsed>> = Vec::new();
    let mut by_sensor: HashMap<(RunId, u8, Sensor), Vec<usize>> = HashMap::new();
    for channel in channels {
        let ((run, Channel { robot, field }), series, ..) = &channel;
        let candidates = by_sensor.entry((*run, *robot, field.sensor())).or_default();
        match candidates
            .iter()
            .find(|&&c| clocks[c][0].1.time == series.time)
        {
            Some(&c) => clocks[c].push(channel),
            None => {
                candidates.push(clocks.len());
                clocks.push(vec![channel]);
            }
        }
    }
    clocks
}

/// Finds the isolated spikes of channels sharing one clock, lists them and, unless
/// they are kept, drops them from each series.
fn set_spikes_aside(clock: &mut [Collapsed], options: SplitOptions) {
    let times = &clock[0].1.time;
    let gap = options.max_gap.bound_ns(times);
    let values: Vec<&[f64]> = clock.iter().map(|c| c.1.value.as_slice()).collect();
    let spikes = find_spikes_on_clock(times, &values, gap);
    for ((_, series, rows, found), spikes) in clock.iter_mut().zip(spikes) {
        if spikes.is_empty() {
            continue;
        }
        found.spikes = spikes
            .iter()
            .map(|&i| (series.time[i], series.value[i]))
            .collect();
        if options.keep_spikes {
            continue;
        }
        rows.drop(DropReason::Spike, spikes.len() as u64);
        let mut is_spike = vec![false; series.len()];
        for i in spikes {
            is_spike[i] = true;
        }
        let mut flags = is_spike.iter();
        series.time.retain(|_| flags.next() == Some(&false));
        let mut flags = is_spike.iter();
        series.value.retain(|_| flags.next() == Some(&false));
    }
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
    use crate::model::schema;
    use crate::model::schema::Field;
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

    #[test]
    fn identical_duplicates_keep_one_reading() {
        let mut rows = RowAccount::default();
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![(3, 1.0), (1, 5.0), (1, 5.0), (2, 0.0), (1, 5.0)],
            &mut rows,
            &mut found,
        );
        assert_eq!(s.time, vec![1, 2, 3]);
        assert_eq!(s.value, vec![5.0, 0.0, 1.0]);
        assert_eq!(rows.dropped[&DropReason::DuplicateIdentical], 2);
        assert_eq!(found, ChannelFindings::default());
    }

    #[test]
    fn a_conflict_keeps_the_reading_on_the_path_through_its_neighbours() {
        // A line p = 10 t; at t = 3 a copy 4.5 off comes first in file order.
        let mut rows = RowAccount::default();
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![
                (1, 10.0),
                (2, 20.0),
                (3, 34.5),
                (3, 30.0),
                (3, 30.0),
                (4, 40.0),
            ],
            &mut rows,
            &mut found,
        );
        assert_eq!(s.value, vec![10.0, 20.0, 30.0, 40.0]);
        assert_eq!(rows.dropped[&DropReason::DuplicateConflicting], 1);
        assert_eq!(rows.dropped[&DropReason::DuplicateIdentical], 1);
        assert_eq!(found.conflicts, 1);
        assert_eq!(found.largest_conflict_spread, 4.5);

        // Uneven spacing: interpolated at t = 3 between (1, 10) and (7, 70) is 30.
        let mut found = ChannelFindings::default();
        let s = sort_and_collapse(
            vec![(1, 10.0), (3, 27.0), (3, 31.0), (7, 70.0)],
            &mut RowAccount::default(),
            &mut found,
        );
        assert_eq!(s.value, vec![10.0, 31.0, 70.0]);
    }

    #[test]
    fn a_conflict_at_an_end_follows_the_one_neighbour_and_alone_file_order() {
        let collapse = |pairs: Pairs| {
            sort_and_collapse(
                pairs,
                &mut RowAccount::default(),
                &mut ChannelFindings::default(),
            )
            .value
        };
        // Extended from the two nearest readings: 10 at t = 1 (not 25, nearer 30).
        assert_eq!(
            collapse(vec![(1, 25.0), (1, 10.0), (2, 20.0), (3, 30.0)]),
            vec![10.0, 20.0, 30.0]
        );
        assert_eq!(
            collapse(vec![(1, 10.0), (2, 20.0), (3, 25.0), (3, 30.0)]),
            vec![10.0, 20.0, 30.0]
        );
        // With one reading on the only side, the one nearest to it.
        assert_eq!(collapse(vec![(1, 9.0), (1, 1.5), (2, 2.0)]), vec![1.5, 2.0]);
        // A next instant that is itself in conflict does not decide.
        assert_eq!(
            collapse(vec![(1, 0.0), (2, 7.0), (2, 1.0), (3, 9.0), (3, 2.0)]),
            vec![0.0, 1.0, 2.0]
        );
        assert_eq!(collapse(vec![(5, 3.0), (5, 1.0)]), vec![3.0]);
    }

    #[test]
    fn spikes_are_dropped_and_counted_or_kept_and_listed() {
        let times: Vec<i64> = (0..200).map(|k| k * 10_000_000).collect();
        let values: Vec<f64> = (0..200)
            .map(|k| 0.5 * k as f64 + if k == 120 { 40.0 } else { 0.0 })
            .collect();
        let series = ChannelSeries {
            time: times.clone(),
            value: values.clone(),
        };
        for keep_spikes in [false, true] {
            let options = SplitOptions {
                max_gap: MaxGap::Auto,
                keep_spikes,
            };
            // Two fields on one clock: the spike is in the first only.
            let key = |field| (7, Channel { robot: 1, field });
            let line = ChannelSeries {
                time: times.clone(),
                value: (0..200).map(|k| 0.25 * k as f64).collect(),
            };
            let mut clock: Vec<Collapsed> = vec![
                (
                    key(Field::X),
                    series.clone(),
                    RowAccount::default(),
                    ChannelFindings::default(),
                ),
                (
                    key(Field::Y),
                    line.clone(),
                    RowAccount::default(),
                    ChannelFindings::default(),
                ),
            ];
            set_spikes_aside(&mut clock, options);
            let [(_, s, rows, found), (_, other, other_rows, other_found)] = &clock[..] else {
                panic!("two channels");
            };
            assert_eq!(found.spikes, vec![(times[120], 100.0)]);
            assert_eq!((other, other_found), (&line, &ChannelFindings::default()));
            assert!(other_rows.dropped.is_empty());
            if keep_spikes {
                assert_eq!(s, &series);
                assert!(rows.dropped.is_empty());
            } else {
                assert_eq!(s.len(), 199);
                assert!(!s.time.contains(&times[120]));
                assert_eq!(rows.dropped[&DropReason::Spike], 1);
            }
        }
    }
}
