//! Runs: the validated readings split by run and channel, each channel sorted by time
//! with one reading per instant, and a run's derivatives, computed once for its wide
//! table and its statistics.
//!
//! Takes [`ValidRows`] from validation; gives a [`SplitLog`] (every run's readings
//! and the final row accounting) and, per run, [`RunData`].

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::model::readings::{ChannelSeries, DropReason, Readings, RowAccount, RunId};
use crate::model::schema::{Channel, Sensor};
use crate::parallel::in_pool;
use crate::pipeline::features::{differentiate, Derivatives};
use crate::pipeline::validate::{ChannelKey, Pairs, ValidRows};
use crate::time::EpochNanos;

/// A log's readings split by run, with the complete account of its rows.
#[derive(Debug)]
pub struct SplitLog {
    pub readings: Readings,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
}

/// Joins the slices' readings per run and channel in file order, sorts each channel
/// by time and collapses repeated instants, counting them as duplicates.
pub fn split(valid: ValidRows) -> SplitLog {
    let ValidRows {
        mut rows,
        slices,
        float_run_ids,
    } = valid;
    let mut joined: HashMap<ChannelKey, Pairs> = HashMap::new();
    for (key, pairs) in slices.into_iter().flatten() {
        // The first slice's readings are moved, later ones appended.
        match joined.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().extend(pairs),
            Entry::Vacant(e) => {
                e.insert(pairs);
            }
        }
    }

    let collapsed: Vec<(ChannelKey, ChannelSeries, RowAccount)> = in_pool(|| {
        joined
            .into_par_iter()
            .map(|(key, pairs)| {
                let mut duplicates = RowAccount::default();
                let series = sort_and_collapse(pairs, &mut duplicates);
                (key, series, duplicates)
            })
            .collect()
    });
    let mut readings = Readings::new();
    for ((run, channel), series, duplicates) in collapsed {
        for (reason, n) in duplicates.dropped {
            rows.drop(reason, n);
        }
        readings.entry(run).or_default().insert(channel, series);
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
    SplitLog {
        readings,
        rows,
        warnings,
    }
}

/// Sorts one channel's readings by time (stable, so equal times stay in file order)
/// and keeps the first reading of each instant, counting the others as identical or
/// conflicting duplicates.
fn sort_and_collapse(mut pairs: Pairs, rows: &mut RowAccount) -> ChannelSeries {
    if !pairs.windows(2).all(|w| w[0].0 <= w[1].0) {
        pairs.sort_by_key(|p| p.0);
    }
    let mut out = ChannelSeries {
        time: Vec::with_capacity(pairs.len()),
        value: Vec::with_capacity(pairs.len()),
    };
    for (time, value) in pairs {
        if out.time.last() == Some(&time) {
            let first = *out
                .value
                .last()
                .expect("time and value are pushed together");
            let reason = if first.to_bits() == value.to_bits() {
                DropReason::DuplicateIdentical
            } else {
                DropReason::DuplicateConflicting
            };
            rows.drop(reason, 1);
            continue;
        }
        out.time.push(time);
        out.value.push(value);
    }
    out
}

/// One run's readings with the derivatives of its encoder channels, computed once
/// and shared by the wide table and the statistics.
pub struct RunData<'a> {
    pub run_uuid: RunId,
    pub channels: &'a BTreeMap<Channel, ChannelSeries>,
    pub derivatives: BTreeMap<Channel, Derivatives>,
    pub max_gap_ns: i64,
}

impl<'a> RunData<'a> {
    pub fn new(
        run_uuid: RunId,
        channels: &'a BTreeMap<Channel, ChannelSeries>,
        max_gap_ns: i64,
    ) -> Self {
        let encoders: Vec<(&Channel, &ChannelSeries)> = channels
            .iter()
            .filter(|(c, _)| c.field.sensor() == Sensor::Encoder)
            .collect();
        let derivatives = in_pool(|| {
            encoders
                .par_iter()
                .map(|(c, s)| (**c, differentiate(&s.time, &s.value, max_gap_ns)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .collect();
        RunData {
            run_uuid,
            channels,
            derivatives,
            max_gap_ns,
        }
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

        let expected = split(validate(path, &whole_log).unwrap());
        let got = split(validate(path, &split_log).unwrap());
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
    fn duplicates_keep_the_first_in_file_order() {
        let mut rows = RowAccount::default();
        let s = sort_and_collapse(
            vec![(3, 1.0), (1, 5.0), (3, 2.0), (1, 5.0), (2, 0.0)],
            &mut rows,
        );
        assert_eq!(s.time, vec![1, 2, 3]);
        assert_eq!(s.value, vec![5.0, 0.0, 1.0]);
        assert_eq!(rows.dropped[&DropReason::DuplicateIdentical], 1);
        assert_eq!(rows.dropped[&DropReason::DuplicateConflicting], 1);
    }
}
