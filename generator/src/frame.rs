//! The output frame: valid readings and injected rows merged in file order, each
//! rendered the way the production files store it (times as trimmed ISO 8601
//! strings, run ids in the configured type).
//!
//! Rows are appended straight into column builders; for the 1x benchmark input that
//! is 1.5 million timestamps, so times are formatted into a stack buffer rather than
//! through a general date formatter.

use harvester::model::schema::{FIELD, ROBOT_ID, RUN_UUID, SENSOR_TYPE, TIME, VALUE};
use harvester::time::civil_from_days;
use polars::prelude::{Column, DataFrame, IntoColumn, StringChunkedBuilder};

use crate::inject::{mismatched_sensor, Defect, Injection};
use crate::readings::{ChannelKey, Readings};
use crate::RunUuidType;

/// The work cell column. The harvester ignores it, so the project schema does not
/// name it, but the production files have it.
const CELL_ID: &str = "cell_id";

enum TimeCell<'a> {
    Ms(i64),
    Text(&'a str),
    Null,
}

enum RunCell<'a> {
    Run(usize),
    Text(&'a str),
    Null,
}

struct Row<'a> {
    time: TimeCell<'a>,
    value: Option<f64>,
    field: &'a str,
    robot: i64,
    run: RunCell<'a>,
    sensor: &'a str,
}

enum RunColumn {
    UInt64(Vec<Option<u64>>),
    Float64(Vec<Option<f64>>),
    Int64(Vec<Option<i64>>),
    String(StringChunkedBuilder, Vec<String>),
}

/// Column builders of the output frame.
struct FrameBuilder {
    time: StringChunkedBuilder,
    value: Vec<Option<f64>>,
    field: StringChunkedBuilder,
    cell_id: Vec<i64>,
    robot_id: Vec<i64>,
    run_uuid: RunColumn,
    sensor_type: StringChunkedBuilder,
    ids: [u64; 4],
    time_buf: [u8; 24],
}

impl FrameBuilder {
    fn new(capacity: usize, ids: [u64; 4], ty: RunUuidType) -> Self {
        let run_uuid = match ty {
            RunUuidType::UInt64 => RunColumn::UInt64(Vec::with_capacity(capacity)),
            RunUuidType::Float64 => RunColumn::Float64(Vec::with_capacity(capacity)),
            RunUuidType::Int64 => RunColumn::Int64(Vec::with_capacity(capacity)),
            RunUuidType::String => RunColumn::String(
                StringChunkedBuilder::new(RUN_UUID.into(), capacity),
                ids.iter().map(u64::to_string).collect(),
            ),
        };
        Self {
            time: StringChunkedBuilder::new(TIME.into(), capacity),
            value: Vec::with_capacity(capacity),
            field: StringChunkedBuilder::new(FIELD.into(), capacity),
            cell_id: Vec::with_capacity(capacity),
            robot_id: Vec::with_capacity(capacity),
            run_uuid,
            sensor_type: StringChunkedBuilder::new(SENSOR_TYPE.into(), capacity),
            ids,
            time_buf: [0; 24],
        }
    }

    fn push(&mut self, row: Row<'_>) {
        match row.time {
            TimeCell::Ms(ms) => self.time.append_value(format_time(ms, &mut self.time_buf)),
            TimeCell::Text(text) => self.time.append_value(text),
            TimeCell::Null => self.time.append_null(),
        }
        self.value.push(row.value);
        self.field.append_value(row.field);
        // The production sample has a single work cell.
        self.cell_id.push(1);
        self.robot_id.push(row.robot);
        let id = match row.run {
            RunCell::Run(run) => Some(self.ids[run]),
            _ => None,
        };
        match (&mut self.run_uuid, row.run) {
            (RunColumn::String(builder, texts), RunCell::Run(run)) => {
                builder.append_value(&texts[run])
            }
            (RunColumn::String(builder, _), RunCell::Text(text)) => builder.append_value(text),
            (RunColumn::String(builder, _), RunCell::Null) => builder.append_null(),
            (RunColumn::UInt64(v), _) => v.push(id),
            (RunColumn::Float64(v), _) => v.push(id.map(|id| id as f64)),
            (RunColumn::Int64(v), _) => v.push(id.map(|id| id as i64)),
        }
        self.sensor_type.append_value(row.sensor);
    }

    fn finish(self) -> DataFrame {
        let height = self.value.len();
        let run_uuid = match self.run_uuid {
            RunColumn::UInt64(v) => Column::new(RUN_UUID.into(), v),
            RunColumn::Float64(v) => Column::new(RUN_UUID.into(), v),
            RunColumn::Int64(v) => Column::new(RUN_UUID.into(), v),
            RunColumn::String(builder, _) => builder.finish().into_column(),
        };
        let columns = vec![
            self.time.finish().into_column(),
            Column::new(VALUE.into(), self.value),
            self.field.finish().into_column(),
            Column::new(CELL_ID.into(), self.cell_id),
            Column::new(ROBOT_ID.into(), self.robot_id),
            run_uuid,
            self.sensor_type.finish().into_column(),
        ];
        DataFrame::new(height, columns).expect("columns are built to the same height")
    }
}

/// The frame of `readings` (whose `channel` indexes `channels`) with `injections`
/// (sorted by position) inserted, and run index `i` stored as `ids[i]` in type `ty`.
pub(crate) fn build_frame(
    readings: &Readings,
    channels: &[ChannelKey],
    ids: &[u64; 4],
    ty: RunUuidType,
    injections: &[Injection],
) -> DataFrame {
    let n = readings.time_ms.len();
    let mut builder = FrameBuilder::new(n + injections.len(), *ids, ty);
    let valid_row = |i: usize| {
        let key = channels[readings.channel[i] as usize];
        Row {
            time: TimeCell::Ms(readings.time_ms[i]),
            value: Some(readings.value[i]),
            field: key.field.name(),
            robot: i64::from(key.robot),
            run: RunCell::Run(key.run),
            sensor: key.field.sensor().name(),
        }
    };
    let bad_row = |inj: &Injection| {
        let mut row = valid_row(inj.template);
        if !inj.defect.is_duplicate() {
            row.time = TimeCell::Ms(readings.time_ms[inj.template] + 1);
        }
        match inj.defect {
            Defect::TimeNull => row.time = TimeCell::Null,
            Defect::TimeText(text) => row.time = TimeCell::Text(text),
            Defect::ValueNull => row.value = None,
            Defect::Value(v) | Defect::DuplicateConflicting(v) => row.value = Some(v),
            Defect::FieldUnknown(field) => row.field = field,
            Defect::RobotInvalid(robot) => row.robot = robot,
            Defect::SensorMismatch => {
                let field = channels[readings.channel[inj.template] as usize].field;
                row.sensor = mismatched_sensor(field).name();
            }
            Defect::RunNull => row.run = RunCell::Null,
            Defect::RunText(text) => row.run = RunCell::Text(text),
            Defect::DuplicateIdentical => {}
        }
        row
    };
    let mut pending = injections.iter().peekable();
    for i in 0..=n {
        while let Some(inj) = pending.next_if(|inj| inj.position == i) {
            builder.push(bad_row(inj));
        }
        if i < n {
            builder.push(valid_row(i));
        }
    }
    builder.finish()
}

/// Formats ms since the epoch like the production files: `2022-11-23T20:40:17.63Z`,
/// trailing zeros of the fraction dropped, no fraction at all on a whole second.
pub(crate) fn format_time(ms: i64, buf: &mut [u8; 24]) -> &str {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000) as u32;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    debug_assert!((0..=9999).contains(&year));
    let year = year as u32;
    let put2 = |buf: &mut [u8; 24], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    put2(buf, 0, year / 100);
    put2(buf, 2, year % 100);
    buf[4] = b'-';
    put2(buf, 5, month);
    buf[7] = b'-';
    put2(buf, 8, day);
    buf[10] = b'T';
    put2(buf, 11, sod / 3600);
    buf[13] = b':';
    put2(buf, 14, sod / 60 % 60);
    buf[16] = b':';
    put2(buf, 17, sod % 60);
    let mut len = 19;
    if frac != 0 {
        let digits = [frac / 100, frac / 10 % 10, frac % 10];
        let keep = if frac.is_multiple_of(100) {
            1
        } else if frac.is_multiple_of(10) {
            2
        } else {
            3
        };
        buf[19] = b'.';
        for (k, d) in digits[..keep].iter().enumerate() {
            buf[20 + k] = b'0' + *d as u8;
        }
        len = 20 + keep;
    }
    buf[len] = b'Z';
    std::str::from_utf8(&buf[..=len]).expect("timestamps are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::BASE_MS;

    #[test]
    fn format_time_matches_chrono() {
        for ms in [
            0,
            BASE_MS,
            BASE_MS + 17_630,
            BASE_MS + 17_600,
            BASE_MS + 17_001,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            let mut buf = [0; 24];
            let ours = format_time(ms, &mut buf).to_owned();
            let full = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3f")
                .to_string();
            let trimmed = full.trim_end_matches('0').trim_end_matches('.');
            assert_eq!(ours, format!("{trimmed}Z"));
        }
        let mut buf = [0; 24];
        assert_eq!(
            format_time(BASE_MS + 17_630, &mut buf),
            "2022-11-23T20:40:17.63Z"
        );
        assert_eq!(
            format_time(BASE_MS + 77_000, &mut buf),
            "2022-11-23T20:41:17Z"
        );
    }

    #[test]
    fn format_time_parses_back() {
        let mut buf = [0; 24];
        for ms in (0..2_000).map(|k| BASE_MS + k * 7) {
            let text = format_time(ms, &mut buf);
            assert_eq!(
                harvester::time::parse_iso8601(text),
                Some(ms * 1_000_000),
                "{text}"
            );
        }
    }
}
