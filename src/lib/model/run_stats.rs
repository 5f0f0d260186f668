//! A run's statistics per robot, and the one definition of their columns.
//!
//! [`RunStats`] is what the statistics stage computes, report.json lists (through
//! serde), the catalog stores and `view` shows. [`RUN_STATS_COLUMNS`] names each of
//! its values once, with its type, unit and how to read and set it; the Parquet
//! frame of `run_stats.parquet`, the catalog's INSERT and SELECT and `view`'s CSV
//! are all built from that list, so a new statistic is one new entry here (and a
//! migration for the catalog's table).

use serde::{Deserialize, Serialize};

use crate::model::readings::RunId;
use crate::time::{format_utc, parse_utc, EpochNanos};

/// Minimum, mean and maximum of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinMeanMax {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

impl MinMeanMax {
    /// Summarises the finite values; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<MinMeanMax> {
        let (mut min, mut max, mut mean, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for &v in values.iter().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
            n += 1;
            // A running mean: a plain sum of finite values near f64::MAX overflows.
            mean += (v - mean) / n as f64;
        }
        (n > 0).then_some(MinMeanMax { min, mean, max })
    }

    fn unknown() -> MinMeanMax {
        MinMeanMax {
            min: f64::NAN,
            mean: f64::NAN,
            max: f64::NAN,
        }
    }

    fn is_complete(&self) -> bool {
        [self.min, self.mean, self.max].iter().all(|v| !v.is_nan())
    }
}

/// The statistics of one robot in one run, in mm, mm/s, mm/s² and N; a quantity
/// that could not be measured is `None` (null), never 0 or NaN.
///
/// In JSON the run id is a decimal string (64-bit ids do not survive JSON numbers)
/// and instants are ISO 8601 UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    #[serde(with = "decimal")]
    pub run_uuid: RunId,
    pub robot_id: u8,
    /// The work cell: the log's `cell_id` for the run, else the file's `cell` label.
    #[serde(default)]
    pub cell: Option<String>,
    #[serde(with = "utc")]
    pub start: EpochNanos,
    #[serde(with = "utc")]
    pub stop: EpochNanos,
    pub runtime_s: f64,
    pub distance_mm: Option<f64>,
    pub speed_mm_s: Option<MinMeanMax>,
    pub accel_mm_s2: Option<MinMeanMax>,
    pub force_n: Option<MinMeanMax>,
    /// Readings of this robot kept in the run.
    pub rows: u64,
    pub encoder_samples: u64,
    pub load_cell_samples: u64,
    /// How many of the robot's six channels have readings in the run.
    #[serde(default)]
    pub channels: u64,
    /// The mean over the robot's six channels of the fraction of the run's duration
    /// each covers (an absent channel covers nothing): 1 for a robot whose every
    /// channel spans the run without a gap.
    #[serde(default)]
    pub coverage: Option<f64>,
}

/// How a statistic is typed in every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatKind {
    /// The run id: UInt64 in Parquet, decimal text in SQL and CSV.
    RunId,
    /// The robot: UInt8 in Parquet, an integer elsewhere.
    Robot,
    /// Text, null when unknown.
    Text,
    /// An instant: a UTC datetime (ns) in Parquet, ISO 8601 text elsewhere.
    Instant,
    /// A duration in seconds, always present.
    Seconds,
    /// A measured quantity, null when not measurable.
    Quantity,
    /// A count.
    Count,
}

/// One statistic's value, as [`StatColumn::get`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    RunId(RunId),
    Robot(u8),
    Text(Option<String>),
    Instant(EpochNanos),
    Float(Option<f64>),
    Count(u64),
}

impl StatValue {
    /// As text (CSV): full precision, instants in ISO 8601 UTC, nulls empty.
    pub fn to_text(self) -> String {
        match self {
            StatValue::RunId(id) => id.to_string(),
            StatValue::Robot(robot) => robot.to_string(),
            StatValue::Text(text) => text.unwrap_or_default(),
            StatValue::Instant(ns) => format_utc(ns),
            StatValue::Float(v) => v.map(|v| v.to_string()).unwrap_or_default(),
            StatValue::Count(n) => n.to_string(),
        }
    }

    /// Reads a value of `kind` back from its text form.
    pub fn from_text(kind: StatKind, text: &str) -> Option<StatValue> {
        Some(match kind {
            StatKind::RunId => StatValue::RunId(text.parse().ok()?),
            StatKind::Robot => StatValue::Robot(text.parse().ok()?),
            StatKind::Text => StatValue::Text((!text.is_empty()).then(|| text.to_string())),
            StatKind::Instant => StatValue::Instant(parse_utc(text)?),
            StatKind::Seconds | StatKind::Quantity => StatValue::Float(text.parse().ok()),
            StatKind::Count => StatValue::Count(text.parse().ok()?),
        })
    }

    /// The value of a float column; `None` for a null or another kind.
    pub fn float(&self) -> Option<f64> {
        match *self {
            StatValue::Float(v) => v,
            _ => None,
        }
    }

    /// The value of an integer column (an id, a robot, an instant in ns, a count);
    /// `None` for a float or text.
    pub fn integer(&self) -> Option<i128> {
        match *self {
            StatValue::RunId(id) => Some(id.into()),
            StatValue::Robot(robot) => Some(robot.into()),
            StatValue::Instant(ns) => Some(ns.into()),
            StatValue::Count(n) => Some(n.into()),
            StatValue::Float(_) | StatValue::Text(_) => None,
        }
    }

    /// The value of a text column; `None` for a null or another kind.
    pub fn text(&self) -> Option<&str> {
        match self {
            StatValue::Text(text) => text.as_deref(),
            _ => None,
        }
    }
}

/// One column of the run statistics.
pub struct StatColumn {
    /// Column name in run_stats.parquet and `view`'s CSV.
    pub name: &'static str,
    /// Column name in the catalog's `run_stats` table (instants end in `_at` there).
    pub sql: &'static str,
    pub kind: StatKind,
    /// Unit of the value ("" for ids and counts).
    pub unit: &'static str,
    pub get: fn(&RunStats) -> StatValue,
    pub set: fn(&mut RunStats, StatValue),
}

/// Sets one part of a min/mean/max triple.
fn set_part(
    triple: &mut Option<MinMeanMax>,
    value: StatValue,
    part: fn(&mut MinMeanMax) -> &mut f64,
) {
    if let Some(v) = value.float() {
        *part(triple.get_or_insert_with(MinMeanMax::unknown)) = v;
    }
}

/// A column that reads and sets one field of [`RunStats`] as it is.
macro_rules! field_column {
    ($field:ident, $sql:literal, $kind:ident, $unit:literal, $variant:ident) => {
        StatColumn {
            name: stringify!($field),
            sql: $sql,
            kind: StatKind::$kind,
            unit: $unit,
            get: |s| StatValue::$variant(s.$field),
            set: |s, v| {
                if let StatValue::$variant(x) = v {
                    s.$field = x;
                }
            },
        }
    };
}

/// A column of one field of [`RunStats`] that is converted: `Text`, an optional
/// string; `Seconds`, always present (NaN when a store has none).
macro_rules! converted_column {
    ($field:ident, Text) => {
        converted_column!(
            $field,
            Text,
            "",
            |s| StatValue::Text(s.$field.clone()),
            |s, v| s.$field = v.text().map(str::to_string)
        )
    };
    ($field:ident, Seconds) => {
        converted_column!(
            $field,
            Seconds,
            "s",
            |s| StatValue::Float(Some(s.$field)),
            |s, v| s.$field = v.float().unwrap_or(f64::NAN)
        )
    };
    ($field:ident, $kind:ident, $unit:literal, $get:expr, $set:expr) => {
        StatColumn {
            name: stringify!($field),
            sql: stringify!($field),
            kind: StatKind::$kind,
            unit: $unit,
            get: $get,
            set: $set,
        }
    };
}

/// A column of one part (min, mean or max) of a quantity's summary.
macro_rules! part_column {
    ($name:literal, $field:ident, $part:ident, $unit:literal) => {
        StatColumn {
            name: $name,
            sql: $name,
            kind: StatKind::Quantity,
            unit: $unit,
            get: |s| StatValue::Float(s.$field.map(|q| q.$part)),
            set: |s, v| set_part(&mut s.$field, v, |q| &mut q.$part),
        }
    };
}

/// The run statistics' columns, in the order of every table that holds them.
pub const RUN_STATS_COLUMNS: [StatColumn; 21] = [
    field_column!(run_uuid, "run_uuid", RunId, "", RunId),
    field_column!(robot_id, "robot_id", Robot, "", Robot),
    converted_column!(cell, Text),
    field_column!(start, "start_at", Instant, "UTC", Instant),
    field_column!(stop, "stop_at", Instant, "UTC", Instant),
    converted_column!(runtime_s, Seconds),
    field_column!(distance_mm, "distance_mm", Quantity, "mm", Float),
    part_column!("speed_min_mm_s", speed_mm_s, min, "mm/s"),
    part_column!("speed_mean_mm_s", speed_mm_s, mean, "mm/s"),
    part_column!("speed_max_mm_s", speed_mm_s, max, "mm/s"),
    part_column!("accel_min_mm_s2", accel_mm_s2, min, "mm/s²"),
    part_column!("accel_mean_mm_s2", accel_mm_s2, mean, "mm/s²"),
    part_column!("accel_max_mm_s2", accel_mm_s2, max, "mm/s²"),
    part_column!("force_min_n", force_n, min, "N"),
    part_column!("force_mean_n", force_n, mean, "N"),
    part_column!("force_max_n", force_n, max, "N"),
    field_column!(rows, "rows", Count, "", Count),
    field_column!(encoder_samples, "encoder_samples", Count, "", Count),
    field_column!(load_cell_samples, "load_cell_samples", Count, "", Count),
    field_column!(channels, "channels", Count, "", Count),
    field_column!(coverage, "coverage", Quantity, "", Float),
];

impl RunStats {
    /// Statistics from one value per column of [`RUN_STATS_COLUMNS`], in order.
    pub fn from_values(values: impl IntoIterator<Item = StatValue>) -> RunStats {
        let mut stats = RunStats::default();
        for (column, value) in RUN_STATS_COLUMNS.iter().zip(values) {
            (column.set)(&mut stats, value);
        }
        for triple in [
            &mut stats.speed_mm_s,
            &mut stats.accel_mm_s2,
            &mut stats.force_n,
        ] {
            if triple.is_some_and(|q| !q.is_complete()) {
                *triple = None;
            }
        }
        stats
    }

    /// Every column's value, in [`RUN_STATS_COLUMNS`] order.
    pub fn values(&self) -> impl Iterator<Item = StatValue> + '_ {
        RUN_STATS_COLUMNS.iter().map(|c| (c.get)(self))
    }
}

/// A run id as a decimal string.
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An instant as ISO 8601 UTC text.
mod utc {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format_utc(*ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        crate::time::parse_utc(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an instant")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_mean_max_ignores_missing_values_and_is_none_when_empty() {
        let s = MinMeanMax::of(&[1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!((s.min, s.mean, s.max), (1.0, 2.0, 3.0));
        assert_eq!(MinMeanMax::of(&[f64::NAN]), None);
        assert_eq!(MinMeanMax::of(&[]), None);
    }

    fn sample() -> RunStats {
        RunStats {
            run_uuid: u64::MAX,
            robot_id: 2,
            cell: Some("7".into()),
            start: 1_669_236_000_123_000_000,
            stop: 1_669_236_017_630_000_001,
            runtime_s: 17.507,
            distance_mm: Some(628.3),
            speed_mm_s: Some(MinMeanMax {
                min: 0.5,
                mean: 1.5,
                max: 2.5,
            }),
            accel_mm_s2: None,
            force_n: Some(MinMeanMax {
                min: -1.0,
                mean: 0.0,
                max: 1.0,
            }),
            rows: 10,
            encoder_samples: 4,
            load_cell_samples: 6,
            channels: 4,
            coverage: Some(0.625),
        }
    }

    #[test]
    fn columns_read_back_what_they_read() {
        let stats = sample();
        let names: Vec<&str> = RUN_STATS_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 21);
        assert_eq!(names[2..5], ["cell", "start", "stop"]);
        assert_eq!(RunStats::from_values(stats.values()), stats);
        let texts: Vec<String> = stats.values().map(StatValue::to_text).collect();
        let parsed = RUN_STATS_COLUMNS
            .iter()
            .zip(&texts)
            .map(|(c, t)| StatValue::from_text(c.kind, t).unwrap());
        assert_eq!(RunStats::from_values(parsed), stats);
        assert_eq!(texts[0], "18446744073709551615");
        assert_eq!(texts[2], "7");
        assert_eq!(texts[4], "2022-11-23T20:40:17.630000001Z");
        assert_eq!(texts[10], "");
    }

    #[test]
    fn json_keeps_ids_exact_and_instants_readable() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["run_uuid"], "18446744073709551615");
        assert_eq!(json["start"], "2022-11-23T20:40:00.123Z");
        assert_eq!(json["accel_mm_s2"], serde_json::Value::Null);
        let back: RunStats = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }
}
