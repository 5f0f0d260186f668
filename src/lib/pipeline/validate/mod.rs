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
use crate::pipeline::load::{LoadedLog, Part};
use crate::time::EpochNanos;

mod columns;

use columns::{Cell, CellColumn, CellId, NumberColumn, RunColumn, TextColumn, TimeColumn};

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
                    .map(|i| classify(path, &frame.slice(i * step, step)))
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

/// Classifies every row of `part`: a reading of a channel, or a drop reason.
fn classify(path: &Path, part: &Part) -> Result<Classified, HarvestError> {
    let columns = Decoded::new(path, part)?;
    let frame = &part.frame;
    let cell_column = frame
        .column(schema::CELL_ID)
        .ok()
        .and_then(|c| CellColumn::new(c.as_materialized_series()));
    let cell_ids = cell_column.as_ref().map(CellColumn::decode);
    let mut buckets = Buckets::default();
    let mut cells = CellCounts::default();
    let mut dropped: BTreeMap<DropReason, u64> = BTreeMap::new();
    for row in 0..frame.height() {
        match columns.reading(row) {
            Ok((key, time, value)) => {
                buckets.push(key, time, value);
                if let Some(cell) = cell_ids.as_ref().and_then(|ids| ids[row]) {
                    cells.count(key.0, cell);
                }
            }
            Err(reason) => *dropped.entry(reason).or_insert(0) += 1,
        }
    }
    Ok(Classified {
        buckets: buckets.into_file_order(),
        dropped,
        float_run_ids: columns.float_run_ids,
        cells: cells.into_counts(),
    })
}

/// The columns of a slice, each decoded whole into plain values first (a tight loop
/// per column and chunk), so that rows are then checked across them.
struct Decoded {
    times: Vec<Cell<EpochNanos>>,
    values: Vec<Cell<f64>>,
    robots: Vec<Cell<f64>>,
    runs: Vec<Cell<RunId>>,
    fields: Vec<Option<Field>>,
    sensors: Vec<Option<Sensor>>,
    /// run_uuid was stored as float64.
    float_run_ids: bool,
}

impl Decoded {
    /// Decodes the required columns of `part`, or names the one that is missing
    /// or of a type that cannot hold its values.
    fn new(path: &Path, part: &Part) -> Result<Decoded, HarvestError> {
        let column = |name: &str| -> Result<&Series, HarvestError> {
            part.frame
                .column(name)
                .map(|c| c.as_materialized_series())
                .map_err(|_| HarvestError::bad_file(path, format!("missing column `{name}`")))
        };
        // Text the file keeps as dictionaries is text by construction.
        let text = |name: &str| match part.dictionary(name) {
            Some(dictionary) => Ok(TextColumn::Dictionary(dictionary.clone())),
            None => typed(path, column(name)?, "string", TextColumn::new),
        };
        let times = match part.dictionary(schema::TIME) {
            Some(dictionary) => TimeColumn::Text(TextColumn::Dictionary(dictionary.clone())),
            None => typed(
                path,
                column(schema::TIME)?,
                "ISO 8601 strings or datetimes",
                TimeColumn::new,
            )?,
        };
        let values = typed(path, column(schema::VALUE)?, "float64", NumberColumn::new)?;
        let robots = typed(path, column(schema::ROBOT_ID)?, "int64", NumberColumn::new)?;
        let runs = typed(
            path,
            column(schema::RUN_UUID)?,
            "uint64, int64, float64 or string",
            RunColumn::new,
        )?;
        let fields = text(schema::FIELD)?;
        let sensors = text(schema::SENSOR_TYPE)?;
        Ok(Decoded {
            times: times.decode(),
            values: values.decode(),
            robots: robots.decode(),
            float_run_ids: runs.is_float(),
            runs: runs.decode(),
            fields: fields.decode(|f| f.and_then(Field::parse)),
            sensors: sensors.decode(|s| s.and_then(Sensor::parse)),
        })
    }

    /// Row `row` as a reading of a channel of a run, or the first reason (in the
    /// order of the module docs) it is dropped for. A decoder's error says whether
    /// the cell was null or unreadable.
    #[inline]
    fn reading(&self, row: usize) -> Result<(ChannelKey, EpochNanos, f64), DropReason> {
        let null_or = |null: bool, if_null, otherwise| if null { if_null } else { otherwise };
        let time = self.times[row]
            .map_err(|null| null_or(null, DropReason::TimeNull, DropReason::TimeUnparsable))?;
        let value = self.values[row]
            .map_err(|null| null_or(null, DropReason::ValueNull, DropReason::ValueUnparsable))?;
        if !value.is_finite() {
            return Err(DropReason::ValueNotFinite);
        }
        let field = self.fields[row].ok_or(DropReason::FieldUnknown)?;
        let robot = match self.robots[row] {
            Ok(r) if r == 1.0 || r == 2.0 => r as u8,
            _ => return Err(DropReason::RobotIdInvalid),
        };
        if self.sensors[row] != Some(field.sensor()) {
            return Err(DropReason::SensorMismatch);
        }
        let run = self.runs[row]
            .map_err(|null| null_or(null, DropReason::RunUuidNull, DropReason::RunUuidInvalid))?;
        Ok(((run, Channel { robot, field }), time, value))
    }
}

/// Decodes a column with `decode`, or names the column, its type and what was
/// expected.
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

/// Readings per (run, channel), in file order, with the last key cached: rows come
/// grouped by run, sensor, robot and field, so the map is consulted once per group.
#[derive(Default)]
struct Buckets {
    pairs: Vec<Pairs>,
    index: HashMap<ChannelKey, usize>,
    last: Option<(ChannelKey, usize)>,
}

impl Buckets {
    #[inline]
    fn push(&mut self, key: ChannelKey, time: EpochNanos, value: f64) {
        let slot = match self.last {
            Some((k, slot)) if k == key => slot,
            _ => {
                let pairs = &mut self.pairs;
                let slot = *self.index.entry(key).or_insert_with(|| {
                    pairs.push(Vec::new());
                    pairs.len() - 1
                });
                self.last = Some((key, slot));
                slot
            }
        };
        self.pairs[slot].push((time, value));
    }

    /// Every channel's readings, channels in the order they first appeared.
    fn into_file_order(mut self) -> Vec<(ChannelKey, Pairs)> {
        let mut keys: Vec<(ChannelKey, usize)> = self.index.into_iter().collect();
        keys.sort_by_key(|(_, slot)| *slot);
        keys.into_iter()
            .map(|(key, slot)| (key, std::mem::take(&mut self.pairs[slot])))
            .collect()
    }
}

/// Kept readings per (run, cell), counted in stretches of rows of one run and
/// cell: rows come grouped, so the map is consulted once per stretch.
#[derive(Default)]
struct CellCounts<'a> {
    counts: HashMap<(RunId, CellId<'a>), u64>,
    stretch: Option<((RunId, CellId<'a>), u64)>,
}

impl<'a> CellCounts<'a> {
    #[inline]
    fn count(&mut self, run: RunId, cell: CellId<'a>) {
        match &mut self.stretch {
            Some((at, n)) if *at == (run, cell) => *n += 1,
            _ => {
                if let Some((at, n)) = self.stretch.replace(((run, cell), 1)) {
                    *self.counts.entry(at).or_insert(0) += n;
                }
            }
        }
    }

    fn into_counts(mut self) -> Vec<((RunId, String), u64)> {
        if let Some((at, n)) = self.stretch.take() {
            *self.counts.entry(at).or_insert(0) += n;
        }
        self.counts
            .into_iter()
            .map(|((run, cell), n)| ((run, cell.to_string()), n))
            .collect()
    }
}
