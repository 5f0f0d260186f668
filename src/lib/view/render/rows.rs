//! The first rows of a run's wide table, as values every format can show.

use std::io::{self, Write};

use polars::prelude::*;

use super::format::{iso_cell, number};
use crate::time::format_utc;

/// One value of a run table.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Time(i64),
    Float(f64),
    Int(i128),
    Text(String),
}

impl Value {
    fn of(av: AnyValue) -> Value {
        let ns = |v: i64, unit: TimeUnit| match unit {
            TimeUnit::Nanoseconds => v,
            TimeUnit::Microseconds => v.saturating_mul(1_000),
            TimeUnit::Milliseconds => v.saturating_mul(1_000_000),
        };
        match av {
            AnyValue::Null => Value::Null,
            AnyValue::Datetime(v, unit, _) => Value::Time(ns(v, unit)),
            AnyValue::DatetimeOwned(v, unit, _) => Value::Time(ns(v, unit)),
            AnyValue::Float64(v) => Value::Float(v),
            AnyValue::Float32(v) => Value::Float(v as f64),
            AnyValue::String(s) => Value::Text(s.to_string()),
            AnyValue::StringOwned(s) => Value::Text(s.to_string()),
            other if other.dtype().is_integer() => {
                match (other.extract::<i64>(), other.extract::<u64>()) {
                    (Some(v), _) => Value::Int(v as i128),
                    (None, Some(v)) => Value::Int(v as i128),
                    _ => Value::Text(other.to_string()),
                }
            }
            other => Value::Text(other.to_string()),
        }
    }

    /// As shown in a table: floats to 3 decimals, nulls blank.
    pub(super) fn table(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Time(ns) => format_utc(*ns),
            Value::Float(v) if v.is_nan() => String::new(),
            Value::Float(v) => number(*v, 3),
            Value::Int(v) => v.to_string(),
            Value::Text(s) => s.clone(),
        }
    }

    /// As shown in a table turned to fit a terminal: a time as date over time.
    pub(super) fn stacked(&self) -> String {
        match self {
            Value::Time(ns) => iso_cell(&format_utc(*ns), true),
            other => other.table(),
        }
    }

    /// As written in CSV: full precision, nulls empty.
    pub(super) fn csv(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Time(ns) => format_utc(*ns),
            Value::Float(v) if v.is_nan() => String::new(),
            Value::Float(v) => v.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Text(s) => s.clone(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Time(ns) => format_utc(*ns).into(),
            Value::Float(v) => serde_json::Number::from_f64(*v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Int(v) => match (i64::try_from(*v), u64::try_from(*v)) {
                (Ok(i), _) => i.into(),
                (_, Ok(u)) => u.into(),
                _ => v.to_string().into(),
            },
            Value::Text(s) => s.clone().into(),
        }
    }

    pub(super) fn is_number(&self) -> bool {
        matches!(self, Value::Float(_) | Value::Int(_))
    }
}

/// The frame's rows as values (the frame holds at most `--head` rows).
pub(super) fn frame_rows(frame: &DataFrame) -> Vec<Vec<Value>> {
    let columns = frame.columns();
    (0..frame.height())
        .map(|i| {
            columns
                .iter()
                .map(|c| c.get(i).map_or(Value::Null, Value::of))
                .collect()
        })
        .collect()
}

pub(super) fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

/// An array of objects, keys in column order (one object per line).
pub(super) fn rows_json(frame: &DataFrame, out: &mut dyn Write) -> io::Result<()> {
    let keys: Vec<String> = column_names(frame)
        .iter()
        .map(|n| serde_json::Value::from(n.as_str()).to_string())
        .collect();
    let rows = frame_rows(frame);
    writeln!(out, "[")?;
    for (i, row) in rows.iter().enumerate() {
        let fields: Vec<String> = keys
            .iter()
            .zip(row)
            .map(|(k, v)| format!("{k}: {}", v.json()))
            .collect();
        let comma = if i + 1 < rows.len() { "," } else { "" };
        writeln!(out, "  {{{}}}{comma}", fields.join(", "))?;
    }
    writeln!(out, "]")
}
