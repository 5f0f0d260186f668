//! Decoding the log's columns, whatever types the file used, into plain values
//! per cell: a value, missing (`Err(true)`) or present but unusable (`Err(false)`).

use polars::prelude::*;
use polars_arrow::array::Array;

use crate::model::readings::RunId;
use crate::pipeline::load::DictionaryColumn;
use crate::time::{EpochNanos, TimestampParser};

/// A cell that is missing (`Err(true)`) or present but unusable (`Err(false)`).
pub(super) type Cell<T> = Result<T, bool>;

/// Decodes a numeric column, chunk by chunk, with `f` applied to every cell.
pub(super) fn decode_numbers<T: PolarsNumericType, R>(
    column: &ChunkedArray<T>,
    f: impl Fn(Option<T::Native>) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        // A chunk without nulls is read straight from its buffer, not through its
        // validity (a bitmap read and a branch per cell).
        if chunk.null_count() == 0 {
            out.extend(chunk.values().iter().map(|&v| f(Some(v))));
        } else {
            out.extend(chunk.iter().map(|v| f(v.copied())));
        }
    }
    out
}

/// Decodes a text column, chunk by chunk, with `f` applied to every cell.
pub(super) fn decode_text<'a, R>(
    column: &'a StringChunked,
    mut f: impl FnMut(Option<&'a str>) -> R,
) -> Vec<R> {
    let mut out = Vec::with_capacity(column.len());
    for chunk in column.downcast_iter() {
        if chunk.null_count() == 0 {
            out.extend(chunk.values_iter().map(|t| f(Some(t))));
        } else {
            out.extend(chunk.iter().map(&mut f));
        }
    }
    out
}

/// One row's work cell, as the file wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CellId<'a> {
    Number(i64),
    Text(&'a str),
}

impl std::fmt::Display for CellId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellId::Number(n) => write!(f, "{n}"),
            CellId::Text(t) => f.write_str(t),
        }
    }
}

/// The optional `cell_id` column: integers (an unsigned id above 2^63 is not a cell
/// anyone numbers) or text; any other type is not read.
pub(super) enum CellColumn {
    Numbers(Int64Chunked),
    Text(StringChunked),
}

impl CellColumn {
    pub fn new(s: &Series) -> Option<CellColumn> {
        if s.dtype().is_integer() {
            let numbers = s.cast(&DataType::Int64).ok()?;
            return numbers.i64().ok().cloned().map(CellColumn::Numbers);
        }
        text_column(s)?.str().ok().cloned().map(CellColumn::Text)
    }

    /// Every row's cell; `None` where it is null or blank.
    pub fn decode(&self) -> Vec<Option<CellId<'_>>> {
        match self {
            CellColumn::Numbers(numbers) => decode_numbers(numbers, |n| n.map(CellId::Number)),
            CellColumn::Text(text) => decode_text(text, |t| {
                t.map(str::trim).filter(|t| !t.is_empty()).map(CellId::Text)
            }),
        }
    }
}

/// A text column: strings, or keys into dictionaries of its distinct values.
pub(super) enum TextColumn {
    Strings(StringChunked),
    Dictionary(DictionaryColumn),
}

impl TextColumn {
    /// Field and sensor_type, whatever string-like type the file used.
    pub(super) fn new(s: &Series) -> Option<TextColumn> {
        text_column(s)?.str().ok().cloned().map(TextColumn::Strings)
    }

    /// Every row's text through `f` (once per distinct value of a dictionary).
    pub(super) fn decode<'a, R: Clone>(&'a self, f: impl FnMut(Option<&'a str>) -> R) -> Vec<R> {
        match self {
            TextColumn::Strings(strings) => decode_text(strings, f),
            TextColumn::Dictionary(dictionary) => dictionary.decode(f),
        }
    }
}

/// Text, whatever string-like type the file used.
pub(super) fn text_column(s: &Series) -> Option<Series> {
    match s.dtype() {
        DataType::String => Some(s.clone()),
        DataType::Categorical(..) | DataType::Enum(..) | DataType::Null => {
            s.cast(&DataType::String).ok()
        }
        _ => None,
    }
}

/// The time column in any of the types logs use.
pub(super) enum TimeColumn {
    Text(TextColumn),
    Nanos(Series),
}

impl TimeColumn {
    pub(super) fn new(s: &Series) -> Option<TimeColumn> {
        match s.dtype() {
            DataType::String | DataType::Categorical(..) | DataType::Enum(..) => {
                TextColumn::new(s).map(TimeColumn::Text)
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

    pub(super) fn decode(&self) -> Vec<Cell<EpochNanos>> {
        match self {
            TimeColumn::Text(text) => {
                let mut parser = TimestampParser::default();
                text.decode(|t| t.ok_or(true).and_then(|t| parser.parse(t).ok_or(false)))
            }
            TimeColumn::Nanos(s) => {
                decode_numbers(s.i64().expect("int64 time column"), |t| t.ok_or(true))
            }
        }
    }
}

/// value and robot_id: any numeric type, or text holding numbers (CSV).
pub(super) enum NumberColumn {
    Numeric(Series),
    Text(Series),
}

impl NumberColumn {
    pub(super) fn new(s: &Series) -> Option<NumberColumn> {
        match s.dtype() {
            dt if dt.is_primitive_numeric() || dt.is_null() => {
                s.cast(&DataType::Float64).ok().map(NumberColumn::Numeric)
            }
            DataType::String => Some(NumberColumn::Text(s.clone())),
            _ => None,
        }
    }

    pub(super) fn decode(&self) -> Vec<Cell<f64>> {
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
pub(super) enum RunColumn {
    Unsigned(Series),
    Signed(Series),
    Float(Series),
    Text(Series),
}

impl RunColumn {
    pub(super) fn new(s: &Series) -> Option<RunColumn> {
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

    pub(super) fn is_float(&self) -> bool {
        matches!(self, RunColumn::Float(_))
    }

    pub(super) fn decode(&self) -> Vec<Cell<RunId>> {
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
pub(super) fn float_run_id(v: f64) -> Cell<RunId> {
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
}
