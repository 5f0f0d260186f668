//! Validation: every row of the loaded DataFrame is either kept as a reading of one
//! channel of one run, or dropped and counted under a named reason.
//!
//! Rows are checked in parallel slices of the frame; within a slice each column is
//! decoded into plain values, then every row is checked across them. A row with
//! several problems is counted under the first in this order: time, value, field,
//! robot_id, sensor_type, run_uuid.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use crate::error::HarvestError;
use crate::model::readings::{DropReason, RowAccount, RunId};
use crate::model::schema::{self, Channel, Field, Sensor};
use crate::parallel::{in_pool, pool_threads};
use crate::pipeline::load::LoadedLog;
use crate::time::EpochNanos;

mod columns;

use columns::{decode_text, text_column, CellColumn, CellId, NumberColumn, RunColumn, TimeColumn};

/// What validation gives: the rows' accounting so far (duplicates are counted when
/// runs are split) and the kept readings of each slice of the frame, in file order.
#[derive(Debug)]
pub struct ValidRows {
    pub rows: RowAccount,
    /// Per slice, in file order: its readings per (run, channel), in file order.
    pub slices: Vec<Vec<(ChannelKey, Pairs)>>,
    /// run_uuid was stored as float64 (ids are then the floats' exact values).
    pub float_run_ids: bool,
    /// Per run, its kept readings per work cell, when the log has a `cell_id` column.
    pub cells: BTreeMap<RunId, BTreeMap<String, u64>>,
}

/// Rows per slice of the frame validated as one task.
const SLICE_ROWS: usize = 256 * 1024;

/// Validates a loaded log. Errors only for problems of the whole file (a column of a
/// type that cannot hold its values, a part that cannot be decoded); row-level
/// problems are counted.
pub fn validate(path: &Path, log: &LoadedLog) -> Result<ValidRows, HarvestError> {
    // Parts are decoded and classified in parallel, each in slices, and the slices
    // are returned in file order, so that joining them resolves duplicates exactly as
    // a single pass would. Slices are small enough that their decoded columns stay a few
    // tens of MB, and when the log has few parts, many enough to keep every thread busy.
    let height = log.height();
    let threads = pool_threads();
    let few_parts = log.parts() < threads * 2;
    let parts: Vec<Result<Vec<Classified>, HarvestError>> = in_pool(|| {
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

    let mut rows = RowAccount::of_every_reason(height as u64);
    let mut float_run_ids = false;
    let mut slices = Vec::new();
    let mut cells: BTreeMap<RunId, BTreeMap<String, u64>> = BTreeMap::new();
    for slice in parts
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
    {
        float_run_ids |= slice.float_run_ids;
        for (reason, n) in slice.dropped {
            rows.drop(reason, n);
        }
        for ((run, cell), n) in slice.cells {
            *cells.entry(run).or_default().entry(cell).or_insert(0) += n;
        }
        slices.push(slice.buckets);
    }
    Ok(ValidRows {
        rows,
        slices,
        float_run_ids,
        cells,
    })
}

/// Where a reading belongs: its run and channel.
pub type ChannelKey = (RunId, Channel);

/// Readings of one channel as (time, value), in file order.
pub type Pairs = Vec<(EpochNanos, f64)>;

/// What one slice of the frame holds: its readings per (run, channel) in file
/// order, and its dropped rows per reason.
struct Classified {
    buckets: Vec<(ChannelKey, Pairs)>,
    dropped: BTreeMap<DropReason, u64>,
    float_run_ids: bool,
    /// Kept readings per run and cell.
    cells: Vec<((RunId, String), u64)>,
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
    let cell_column = frame
        .column(schema::CELL_ID)
        .ok()
        .and_then(|c| CellColumn::new(c.as_materialized_series()));
    let cell_ids = cell_column.as_ref().map(CellColumn::decode);
    // Kept readings per (run, cell), counted in stretches of rows of one run and
    // cell: rows come grouped, so the map is consulted once per stretch.
    let mut cells: HashMap<(RunId, CellId), u64> = HashMap::new();
    let mut stretch: Option<((RunId, CellId), u64)> = None;

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
            // A decoder's error says whether the cell was null or unreadable.
            let null_or = |null: bool, if_null, otherwise| if null { if_null } else { otherwise };
            let time = time
                .map_err(|null| null_or(null, DropReason::TimeNull, DropReason::TimeUnparsable))?;
            let value = value.map_err(|null| {
                null_or(null, DropReason::ValueNull, DropReason::ValueUnparsable)
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
                if let Some(cell) = cell_ids.as_ref().and_then(|ids| ids[row]) {
                    match &mut stretch {
                        Some((at, n)) if *at == (key.0, cell) => *n += 1,
                        _ => {
                            if let Some((at, n)) = stretch.replace(((key.0, cell), 1)) {
                                *cells.entry(at).or_insert(0) += n;
                            }
                        }
                    }
                }
            }
            Err(reason) => *dropped.entry(reason).or_insert(0) += 1,
        }
    }
    if let Some((at, n)) = stretch {
        *cells.entry(at).or_insert(0) += n;
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
        cells: cells
            .into_iter()
            .map(|((run, cell), n)| ((run, cell.to_string()), n))
            .collect(),
    })
}
