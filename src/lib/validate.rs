//! Validation: every row of the loaded DataFrame is either kept as a reading of one
//! channel of one run, or dropped and counted under a named reason.
//!
//! Rows are checked in parallel slices of the frame; within a slice each column is
//! decoded into plain values, then every row is checked across them. A row with
//! several problems is counted under the first in this order: time, value, field,
//! robot_id, sensor_type, run_uuid.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::HarvestError;
use crate::load::LoadedLog;
use crate::schema::{self, Channel, Field, Sensor};
use crate::timestamp::{EpochNanos, TimestampParser};

/// Why a row was dropped. The names are part of report.json and the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    TimeNull,
    TimeUnparsable,
    ValueNull,
    ValueUnparsable,
    ValueNotFinite,
    FieldUnknown,
    RobotIdInvalid,
    SensorMismatch,
    RunUuidNull,
    RunUuidInvalid,
    DuplicateIdentical,
    DuplicateConflicting,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::TimeNull,
        DropReason::TimeUnparsable,
        DropReason::ValueNull,
        DropReason::ValueUnparsable,
        DropReason::ValueNotFinite,
        DropReason::FieldUnknown,
        DropReason::RobotIdInvalid,
        DropReason::SensorMismatch,
        DropReason::RunUuidNull,
        DropReason::RunUuidInvalid,
        DropReason::DuplicateIdentical,
        DropReason::DuplicateConflicting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::TimeNull => "time_null",
            DropReason::TimeUnparsable => "time_unparsable",
            DropReason::ValueNull => "value_null",
            DropReason::ValueUnparsable => "value_unparsable",
            DropReason::ValueNotFinite => "value_not_finite",
            DropReason::FieldUnknown => "field_unknown",
            DropReason::RobotIdInvalid => "robot_id_invalid",
            DropReason::SensorMismatch => "sensor_mismatch",
            DropReason::RunUuidNull => "run_uuid_null",
            DropReason::RunUuidInvalid => "run_uuid_invalid",
            DropReason::DuplicateIdentical => "duplicate_identical",
            DropReason::DuplicateConflicting => "duplicate_conflicting",
        }
    }
}

/// The readings of one channel of one run, sorted by time, one reading per instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelSeries {
    pub time: Vec<EpochNanos>,
    pub value: Vec<f64>,
}

impl ChannelSeries {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

/// A run's identity: the exact unsigned value found in the file.
pub type RunId = u64;

/// Every kept reading, grouped by run and channel (ordered, so outputs are deterministic).
pub type Readings = BTreeMap<RunId, BTreeMap<Channel, ChannelSeries>>;

/// What validation found: the accounting that report.json and the catalog keep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowAccount {
    pub read: u64,
    pub kept: u64,
    pub dropped: BTreeMap<DropReason, u64>,
}

impl RowAccount {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    fn drop(&mut self, reason: DropReason, rows: u64) {
        *self.dropped.entry(reason).or_insert(0) += rows;
    }
}

/// The validated content of a log.
#[derive(Debug)]
pub struct ValidatedLog {
    pub readings: Readings,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
}

/// Rows per slice of the frame validated as one task.
const SLICE_ROWS: usize = 256 * 1024;

/// Validates a loaded log. Errors only for problems of the whole file (a column of a
/// type that cannot hold its values, a part that cannot be decoded); row-level
/// problems are counted.
pub fn validate(path: &Path, log: &LoadedLog) -> Result<ValidatedLog, HarvestError> {
    // Parts are decoded and classified in parallel, each in slices; the slices'
    // readings are then joined in file order, so duplicates resolve exactly as in a
    // single pass. Slices are small enough that their decoded columns stay a few
    // tens of MB, and when the log has few parts, many enough to keep every thread busy.
    let height = log.height();
    let threads = crate::runs::pool_threads();
    let few_parts = log.parts() < threads * 2;
    let parts: Vec<Result<Vec<Classified>, HarvestError>> = crate::runs::in_pool(|| {
        (0..log.parts())
            .into_par_iter()
            .map(|part| {
                let frame = log.part(part)?;
                let rows = frame.height();
                let mut tasks = rows.div_ceil(SLICE_ROWS);
                if few_parts {
                    tasks = tasks.max((threads * 4).min(rows.div_ceil(SLICE_ROWS / 4)));
                }
                let step = rows.div_ceil(tasks.max(1)).max(1);
                (0..tasks)
                    .into_par_iter()
                    .map(|i| classify(path, &frame.slice((i * step) as i64, step)))
                    .collect()
            })
            .collect()
    });

    // Every reason is listed, with 0 where nothing was dropped, so reports are
    // comparable across files.
    let mut rows = RowAccount {
        read: height as u64,
        kept: 0,
        dropped: DropReason::ALL.iter().map(|&r| (r, 0)).collect(),
    };
    let mut float_run_ids = false;
    let mut joined: HashMap<ChannelKey, Pairs> = HashMap::new();
    for part in parts
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
    {
        float_run_ids |= part.float_run_ids;
        for (reason, n) in part.dropped {
            rows.drop(reason, n);
        }
        for (key, pairs) in part.buckets {
            // The first slice's readings are moved, later ones appended.
            match joined.entry(key) {
                Entry::Occupied(mut e) => e.get_mut().extend(pairs),
                Entry::Vacant(e) => {
                    e.insert(pairs);
                }
            }
        }
    }

    let collapsed: Vec<(ChannelKey, ChannelSeries, RowAccount)> = crate::runs::in_pool(|| {
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
    Ok(ValidatedLog {
        readings,
        rows,
        warnings,
    })
}

/// Where a reading belongs: its run and channel.
type ChannelKey = (RunId, Channel);

/// Readings of one channel as (time, value), in file order.
type Pairs = Vec<(EpochNanos, f64)>;

/// What one slice of the frame holds: its readings per (run, channel) in file
/// order, and its dropped rows per reason.
struct Classified {
    buckets: Vec<(ChannelKey, Pairs)>,
    dropped: BTreeMap<DropReason, u64>,
    float_run_ids: bool,
}

/// Classifies every row of `frame`: a reading of a channel, or a drop reason.
fn classify(path: &Path, frame: &DataFrame) -> Result<Classified, HarvestError> {
    let column = |name: &str| -> Result<&Series, HarvestError> {
        frame
            .column(name)
            .map(|c| c.as_materialized_series())
            .map_err(|_| HarvestError::bad_file(path, format!("missing column `{name}`")))
    };
    // Decodes a column with `decode`, or names the column, its type and what was expected.
    fn typed<'a, T>(
        path: &Path,
        series: &'a Series,
        expected: &str,
        decode: impl FnOnce(&'a Series) -> Option<T>,
    ) -> Result<T, HarvestError> {
        decode(series).ok_or_else(|| {
            HarvestError::bad_file(
                path,
                format!(
                    "column `{}` has type {}, expected {expected}",
                    series.name(),
                    series.dtype()
                ),
            )
        })
    }
    let times = typed(
        path,
        column(schema::TIME)?,
        "ISO 8601 strings or datetimes",
        TimeColumn::new,
    )?;
    let values = typed(path, column(schema::VALUE)?, "float64", NumberColumn::new)?;
    let robots = typed(path, column(schema::ROBOT_ID)?, "int64", NumberColumn::new)?;
    let runs = typed(
        path,
        column(schema::RUN_UUID)?,
        "uint64, int64, float64 or string",
        RunColumn::new,
    )?;
    let fields = typed(path, column(schema::FIELD)?, "string", text_column)?;
    let sensors = typed(path, column(schema::SENSOR_TYPE)?, "string", text_column)?;
    let float_run_ids = runs.is_float();

    let mut dropped: BTreeMap<DropReason, u64> = BTreeMap::new();
    // Readings per (run, channel), with the last key cached: rows come grouped by
    // run, sensor, robot and field, so the map is consulted once per group.
    let mut buckets: Vec<Pairs> = Vec::new();
    let mut index: HashMap<(RunId, Channel), usize> = HashMap::new();
    let mut last: Option<((RunId, Channel), usize)> = None;

    let fields = fields
        .str()
        .map_err(|e| HarvestError::bad_file(path, e.to_string()))?;
    let sensors = sensors
        .str()
        .map_err(|e| HarvestError::bad_file(path, e.to_string()))?;
    // Each column is decoded whole into plain values first (a tight loop per column
    // and chunk), then rows are checked across them.
    let times = times.decode();
    let values = values.decode();
    let robots = robots.decode();
    let runs = runs.decode();
    let fields = decode_text(fields, |f| f.and_then(Field::parse));
    let sensors = decode_text(sensors, |s| s.and_then(Sensor::parse));

    for row in 0..frame.height() {
        let (time, value, field, robot, sensor, run) = (
            times[row],
            values[row],
            fields[row],
            robots[row],
            sensors[row],
            runs[row],
        );
        let reading = (|| {
            let time = time.map_err(|null| {
                if null {
                    DropReason::TimeNull
                } else {
                    DropReason::TimeUnparsable
                }
            })?;
            let value = value.map_err(|null| {
                if null {
                    DropReason::ValueNull
                } else {
                    DropReason::ValueUnparsable
                }
            })?;
            if !value.is_finite() {
                return Err(DropReason::ValueNotFinite);
            }
            let field = field.ok_or(DropReason::FieldUnknown)?;
            let robot = match robot {
                Ok(r) if r == 1.0 || r == 2.0 => r as u8,
                _ => return Err(DropReason::RobotIdInvalid),
            };
            if sensor != Some(field.sensor()) {
                return Err(DropReason::SensorMismatch);
            }
            let run = run.map_err(|null| {
                if null {
                    DropReason::RunUuidNull
                } else {
                    DropReason::RunUuidInvalid
                }
            })?;
            Ok(((run, Channel { robot, field }), time, value))
        })();
        match reading {
            Ok((key, time, value)) => {
                let slot = match last {
                    Some((k, slot)) if k == key => slot,
                    _ => {
                        let slot = *index.entry(key).or_insert_with(|| {
                            buckets.push(Vec::new());
                            buckets.len() - 1
                        });
                        last = Some((key, slot));
                        slot
                    }
                };
                buckets[slot].push((time, value));
            }
            Err(reason) => *dropped.entry(reason).or_insert(0) += 1,
        }
    }
    let mut keys: Vec<((RunId, Channel), usize)> = index.into_iter().collect();
    keys.sort_by_key(|(_, slot)| *slot);
    Ok(Classified {
        buckets: keys
            .into_iter()
            .map(|(key, slot)| (key, std::mem::take(&mut buckets[slot])))
            .collect(),
        dropped,
        float_run_ids,
    })
}

/// Sorts one channel's readings by time (stable, so equal times stay in file order)
/// and keeps the first reading of each instant, counting the others as identical or
/// conflicting duplicates.
fn sort_and_collapse(mut pairs: Vec<(EpochNanos, f64)>, rows: &mut RowAccount) -> ChannelSeries {
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

/// A cell that is missing (`Err(true)`) or present but unusable (`Err(false)`).
type Cell<T> = Result<T, bool>;

/// Decodes a numeric column, chunk by chunk, with `f` applied to every cell.
fn decode_numbers<T: PolarsNumericType, R>(
    column: &ChunkedArray<T>,
    f: impl Fn(Option<T::Native>) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        out.extend(chunk.iter().map(|v| f(v.copied())));
    }
    out
}

/// Decodes a text column, chunk by chunk, with `f` applied to every cell.
fn decode_text<R>(column: &StringChunked, mut f: impl FnMut(Option<&str>) -> R) -> Vec<R> {
    let mut out = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        out.extend(chunk.iter().map(&mut f));
    }
    out
}

/// Field and sensor_type as text, whatever string-like type the file used.
fn text_column(s: &Series) -> Option<Series> {
    match s.dtype() {
        DataType::String => Some(s.clone()),
        DataType::Categorical(..) | DataType::Enum(..) | DataType::Null => {
            s.cast(&DataType::String).ok()
        }
        _ => None,
    }
}

/// The time column in any of the types logs use.
enum TimeColumn {
    Text(Series),
    Nanos(Series),
}

impl TimeColumn {
    fn new(s: &Series) -> Option<TimeColumn> {
        match s.dtype() {
            DataType::String => Some(TimeColumn::Text(s.clone())),
            DataType::Categorical(..) | DataType::Enum(..) => {
                s.cast(&DataType::String).ok().map(TimeColumn::Text)
            }
            DataType::Datetime(..) => {
                let ns = s
                    .cast(&DataType::Datetime(TimeUnit::Nanoseconds, None))
                    .ok()?;
                ns.cast(&DataType::Int64).ok().map(TimeColumn::Nanos)
            }
            DataType::Null => Some(TimeColumn::Nanos(s.cast(&DataType::Int64).ok()?)),
            _ => None,
        }
    }

    fn decode(&self) -> Vec<Cell<EpochNanos>> {
        match self {
            TimeColumn::Text(s) => {
                let mut parser = TimestampParser::default();
                decode_text(s.str().expect("text time column"), |t| {
                    t.ok_or(true).and_then(|t| parser.parse(t).ok_or(false))
                })
            }
            TimeColumn::Nanos(s) => {
                decode_numbers(s.i64().expect("int64 time column"), |t| t.ok_or(true))
            }
        }
    }
}

/// value and robot_id: any numeric type, or text holding numbers (CSV).
enum NumberColumn {
    Numeric(Series),
    Text(Series),
}

impl NumberColumn {
    fn new(s: &Series) -> Option<NumberColumn> {
        match s.dtype() {
            dt if dt.is_primitive_numeric() || dt.is_null() => {
                s.cast(&DataType::Float64).ok().map(NumberColumn::Numeric)
            }
            DataType::String => Some(NumberColumn::Text(s.clone())),
            _ => None,
        }
    }

    fn decode(&self) -> Vec<Cell<f64>> {
        match self {
            NumberColumn::Numeric(s) => {
                decode_numbers(s.f64().expect("float column"), |v| v.ok_or(true))
            }
            NumberColumn::Text(s) => decode_text(s.str().expect("text column"), |v| {
                v.ok_or(true)
                    .and_then(|v| v.trim().parse::<f64>().map_err(|_| false))
            }),
        }
    }
}

/// run_uuid: unsigned, signed, float or text, always yielding the exact u64 key.
enum RunColumn {
    Unsigned(Series),
    Signed(Series),
    Float(Series),
    Text(Series),
}

impl RunColumn {
    fn new(s: &Series) -> Option<RunColumn> {
        let dt = s.dtype();
        if dt.is_unsigned_integer() {
            s.cast(&DataType::UInt64).ok().map(RunColumn::Unsigned)
        } else if dt.is_signed_integer() || dt.is_null() {
            s.cast(&DataType::Int64).ok().map(RunColumn::Signed)
        } else if dt.is_float() {
            s.cast(&DataType::Float64).ok().map(RunColumn::Float)
        } else if dt.is_string() {
            Some(RunColumn::Text(s.clone()))
        } else {
            None
        }
    }

    fn is_float(&self) -> bool {
        matches!(self, RunColumn::Float(_))
    }

    fn decode(&self) -> Vec<Cell<RunId>> {
        match self {
            RunColumn::Unsigned(s) => decode_numbers(s.u64().expect("u64"), |v| v.ok_or(true)),
            RunColumn::Signed(s) => decode_numbers(s.i64().expect("i64"), |v| {
                v.ok_or(true)
                    .and_then(|v| u64::try_from(v).map_err(|_| false))
            }),
            RunColumn::Float(s) => decode_numbers(s.f64().expect("f64"), |v| {
                v.ok_or(true).and_then(float_run_id)
            }),
            RunColumn::Text(s) => decode_text(s.str().expect("text"), |v| {
                v.ok_or(true)
                    .and_then(|v| v.trim().parse::<u64>().map_err(|_| false))
            }),
        }
    }
}

/// The exact integer a float64 run_uuid holds, if it holds one in u64 range.
fn float_run_id(v: f64) -> Cell<RunId> {
    // 2^64 is exactly representable; anything at or above it does not fit.
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 18_446_744_073_709_551_616.0 {
        Ok(v as u64)
    } else {
        Err(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_ids_keep_the_exact_value_of_the_float() {
        let stored = 7_582_293_080_991_470_061_u64 as f64;
        assert_eq!(float_run_id(stored), Ok(7_582_293_080_991_469_568));
        assert_eq!(float_run_id(-1.0), Err(false));
        assert_eq!(float_run_id(1.5), Err(false));
        assert_eq!(float_run_id(f64::NAN), Err(false));
        assert_eq!(float_run_id(1.8446744073709552e19), Err(false));
    }

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
        let split = parquet_log(rows, 90_000);
        assert_eq!(270_000 % 1000, 0, "a duplicate opens the second part");
        let whole_log = crate::load::load_log(path, &whole).unwrap();
        let split_log = crate::load::load_log(path, &split).unwrap();
        assert_eq!(whole_log.parts(), 1);
        assert_eq!(
            split_log.parts(),
            3,
            "parts of whole row groups, 270k rows each"
        );

        let expected = validate(path, &whole_log).unwrap();
        let got = validate(path, &split_log).unwrap();
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
