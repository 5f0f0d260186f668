//! The bad-input corpus: every way a log can be wrong (LOG_FORMAT.md, "What can go
//! wrong", and more), each built in a temp dir and run through the real `harvest`
//! binary, with its documented outcome:
//!
//! * **kept**: exit 0, the bad rows dropped under the right reason in report.json
//!   (`read == kept + Σ dropped`), the file `harvested` in the catalog;
//! * **rejected**: exit 65, exactly one ERROR line naming the file and the problem,
//!   the file `failed` in the catalog with that error, and no output directory.
//!
//! Every case has its own test (`cases!` below; a test checks none is forgotten), and
//! `the_whole_corpus_in_one_directory_run` runs them all in one directory-mode call.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::util::*;
use harvester::catalog::{FileRecord, FileStatus};
use polars::prelude::*;
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{ConvertedType, DecimalType, FileMetaData, LogicalType};

const HEADER: &str = "time,value,field,robot_id,run_uuid,sensor_type";
const MS: i64 = 1_000_000;

// ---------------------------------------------------------------------------------
// Building inputs
// ---------------------------------------------------------------------------------

/// The time of the k-th sample of a 12 ms clock from T0, as logs write it.
fn t(k: i64) -> String {
    log_time(T0 + k * 12 * MS)
}

/// A valid row at instant k: run 7, robot 1, `x` from the encoder, value k/2.
fn valid(k: i64) -> [String; 6] {
    [
        t(k),
        format!("{}", k as f64 / 2.0),
        "x".into(),
        "1".into(),
        "7".into(),
        "encoder".into(),
    ]
}

/// A CSV log assembled row by row.
struct Csv {
    text: String,
}

impl Csv {
    fn new() -> Csv {
        Csv::with_header(HEADER)
    }

    fn with_header(header: &str) -> Csv {
        Csv {
            text: format!("{header}\n"),
        }
    }

    fn row<S: AsRef<str>>(mut self, cells: &[S]) -> Csv {
        let line: Vec<&str> = cells.iter().map(|c| c.as_ref()).collect();
        self.text.push_str(&line.join(","));
        self.text.push('\n');
        self
    }

    /// `n` valid rows at instants 0..n.
    fn good(mut self, n: i64) -> Csv {
        for k in 0..n {
            self = self.row(&valid(k));
        }
        self
    }

    /// A valid row at instant `k` with some of its cells replaced (column index, text).
    fn bad(self, k: i64, changes: &[(usize, &str)]) -> Csv {
        let mut cells = valid(k);
        for (col, text) in changes {
            cells[*col] = text.to_string();
        }
        self.row(&cells)
    }

    fn bytes(self) -> Vec<u8> {
        self.text.into_bytes()
    }
}

const TIME: usize = 0;
const VALUE: usize = 1;
const FIELD: usize = 2;
const ROBOT: usize = 3;
const RUN: usize = 4;
const SENSOR: usize = 5;

/// The six columns of `n` valid rows (as `valid(k)`), typed as real Parquet logs are.
fn good_columns(n: i64) -> Vec<Column> {
    let n = n as usize;
    vec![
        Column::new("time".into(), (0..n as i64).map(t).collect::<Vec<_>>()),
        Column::new(
            "value".into(),
            (0..n).map(|k| k as f64 / 2.0).collect::<Vec<_>>(),
        ),
        Column::new("field".into(), vec!["x"; n]),
        Column::new("robot_id".into(), vec![1i64; n]),
        Column::new("run_uuid".into(), vec![7u64; n]),
        Column::new("sensor_type".into(), vec!["encoder"; n]),
    ]
}

/// `good_columns(n)` with some columns replaced by name.
fn columns_with(n: i64, replace: Vec<Column>) -> Vec<Column> {
    let mut cols = good_columns(n);
    for new in replace {
        match cols.iter_mut().find(|c| c.name() == new.name()) {
            Some(slot) => *slot = new,
            None => cols.push(new),
        }
    }
    cols
}

fn parquet(columns: Vec<Column>) -> Vec<u8> {
    let height = columns.first().map_or(0, |c| c.len());
    let mut df = DataFrame::new(height, columns).expect("a frame");
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .expect("write parquet");
    bytes
}

/// A Parquet file with its footer's metadata changed by `change`, and the Arrow
/// schema polars stores dropped, so that readers see the changed Parquet schema.
fn with_footer(bytes: &[u8], change: impl FnOnce(&mut FileMetaData)) -> Vec<u8> {
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let footer = &bytes[n - 8 - footer_len..n - 8];
    // The limit bounds what decoding may allocate, which exceeds the encoded size.
    let mut input = TCompactInputProtocol::new(footer, 1 << 24);
    let mut meta = FileMetaData::read_from_in_protocol(&mut input).expect("a footer");
    meta.key_value_metadata = None;
    change(&mut meta);
    let mut out = bytes[..n - 8 - footer_len].to_vec();
    let start = out.len();
    meta.write_to_out_protocol(&mut TCompactOutputProtocol::new(&mut out))
        .expect("write the footer");
    let len = u32::try_from(out.len() - start).unwrap();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b"PAR1");
    out
}

/// Renames a column in the schema and in every column chunk.
fn rename_column(meta: &mut FileMetaData, from: &str, to: &str) {
    for element in meta.schema.iter_mut().filter(|e| e.name == from) {
        element.name = to.to_string();
    }
    for chunk in meta
        .row_groups
        .iter_mut()
        .flat_map(|g| g.columns.iter_mut())
    {
        let path = &mut chunk.meta_data.as_mut().unwrap().path_in_schema;
        for part in path.iter_mut().filter(|p| *p == from) {
            *part = to.to_string();
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), no PAR1 magic by construction.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// A straight line at 10 mm/s along x for one second (encoder, robot 1, run 7), as
/// CSV rows in time order.
fn line_rows() -> Vec<[String; 6]> {
    let times = clock(T0, 1.0, 12, 1);
    let mut rows = Vec::new();
    for field in ["x", "y", "z"] {
        for &ns in &times {
            let secs = (ns - T0) as f64 / 1e9;
            let value = if field == "x" { 10.0 * secs } else { 0.0 };
            rows.push([
                log_time(ns),
                format!("{value}"),
                field.into(),
                "1".into(),
                "7".into(),
                "encoder".into(),
            ]);
        }
    }
    rows
}

fn csv_of(rows: &[[String; 6]]) -> Vec<u8> {
    rows.iter().fold(Csv::new(), |c, r| c.row(r)).bytes()
}

// ---------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Expect {
    /// Harvested: `kept` rows, and exactly these drop counts.
    Kept {
        kept: u64,
        drops: Vec<(&'static str, u64)>,
    },
    /// Rejected: exit 65, one ERROR line containing each of these.
    Rejected(Vec<&'static str>),
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

fn kept(kept: u64, drops: &[(&'static str, u64)]) -> Expect {
    Expect::Kept {
        kept,
        drops: drops.to_vec(),
    }
}

fn rejected(says: &[&'static str]) -> Expect {
    Expect::Rejected(says.to_vec())
}

fn corpus() -> &'static [Case] {
    static CORPUS: OnceLock<Vec<Case>> = OnceLock::new();
    CORPUS.get_or_init(build_corpus)
}

fn build_corpus() -> Vec<Case> {
    let mut c: Vec<Case> = Vec::new();
    let mut add = |name, bytes, expect| {
        c.push(Case {
            name,
            bytes,
            expect,
        })
    };
    let good = parquet(good_columns(10));

    // --- Row-level problems: the file is harvested, the rows counted -------------
    add(
        "time_null.csv",
        Csv::new().good(5).bad(100, &[(TIME, "")]).bytes(),
        kept(5, &[("time_null", 1)]),
    );
    add(
        "time_null.parquet",
        parquet(columns_with(
            4,
            vec![Column::new(
                "time".into(),
                [Some(t(0)), None, Some(t(2)), None],
            )],
        )),
        kept(2, &[("time_null", 2)]),
    );
    add(
        "time_unparsable.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(TIME, "yesterday")])
            .bad(101, &[(TIME, "2022-13-01T00:00:00Z")])
            .bad(102, &[(TIME, "2022-02-30T00:00:00Z")])
            .bad(103, &[(TIME, "2022-11-23T20:40:17.1234567891Z")])
            .bad(104, &[(TIME, "20:40:17")])
            .bad(105, &[(TIME, "1669236000")])
            .bad(106, &[(TIME, "9999-12-31T23:59:59Z")])
            .bytes(),
        kept(5, &[("time_unparsable", 7)]),
    );
    add(
        "time_variants.csv",
        Csv::new()
            .bad(0, &[(TIME, "2022-11-23T20:40:17Z")])
            .bad(1, &[(TIME, "2022-11-23T20:40:18.6Z")])
            .bad(2, &[(TIME, "2022-11-23T20:40:19.63Z")])
            .bad(3, &[(TIME, "2022-11-23 20:40:20.123456789")])
            .bad(4, &[(TIME, "2022-11-23T21:40:21+01:00")])
            .bad(5, &[(TIME, "2022-11-23T20:40:22")])
            .bad(6, &[(TIME, "2022-11-23T19:40:23.5-01:00")])
            .bytes(),
        kept(7, &[]),
    );
    add(
        "value_null.csv",
        Csv::new().good(5).bad(100, &[(VALUE, "")]).bytes(),
        kept(5, &[("value_null", 1)]),
    );
    add(
        "value_null.parquet",
        parquet(columns_with(
            3,
            vec![Column::new("value".into(), [Some(1.0), None, Some(2.0)])],
        )),
        kept(2, &[("value_null", 1)]),
    );
    add(
        "value_unparsable.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(VALUE, "abc")])
            .bad(101, &[(VALUE, "1.2.3")])
            .bad(102, &[(VALUE, "0x10")])
            .bad(103, &[(VALUE, "--1")])
            .bad(104, &[(VALUE, "日本")])
            .bytes(),
        kept(5, &[("value_unparsable", 5)]),
    );
    add(
        "value_not_finite.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(VALUE, "NaN")])
            .bad(101, &[(VALUE, "nan")])
            .bad(102, &[(VALUE, "inf")])
            .bad(103, &[(VALUE, "-inf")])
            .bad(104, &[(VALUE, "Infinity")])
            .bad(105, &[(VALUE, "-Infinity")])
            .bad(106, &[(VALUE, "1e309")])
            .bad(107, &[(VALUE, "-1e309")])
            .bytes(),
        kept(5, &[("value_not_finite", 8)]),
    );
    add(
        "value_not_finite.parquet",
        parquet(columns_with(
            5,
            vec![Column::new(
                "value".into(),
                [1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0],
            )],
        )),
        kept(2, &[("value_not_finite", 3)]),
    );
    // Finite extremes are readings like any other.
    add(
        "value_extremes.csv",
        Csv::new()
            .bad(0, &[(VALUE, "1e308")])
            .bad(1, &[(VALUE, "-1e308")])
            .bad(2, &[(VALUE, "1.7976931348623157e308")])
            .bad(3, &[(VALUE, "5e-324")])
            .bad(4, &[(VALUE, "-0")])
            .bytes(),
        kept(5, &[]),
    );
    add(
        "value_extremes.parquet",
        parquet(columns_with(
            4,
            vec![Column::new(
                "value".into(),
                [1e308, -1e308, f64::MAX, f64::MIN],
            )],
        )),
        kept(4, &[]),
    );
    add(
        "field_unknown.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(FIELD, "w")])
            .bad(101, &[(FIELD, "X")])
            .bad(102, &[(FIELD, "position")])
            .bad(103, &[(FIELD, "")])
            .bytes(),
        kept(5, &[("field_unknown", 4)]),
    );
    add(
        "robot_id_invalid.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(ROBOT, "0")])
            .bad(101, &[(ROBOT, "3")])
            .bad(102, &[(ROBOT, "-1")])
            .bad(103, &[(ROBOT, "1.5")])
            .bad(104, &[(ROBOT, "one")])
            .bad(105, &[(ROBOT, "")])
            .bad(106, &[(ROBOT, "NaN")])
            .bytes(),
        kept(5, &[("robot_id_invalid", 7)]),
    );
    add(
        "robot_id_invalid.parquet",
        parquet(columns_with(
            4,
            vec![Column::new(
                "robot_id".into(),
                [Some(1i64), Some(3), None, Some(-2)],
            )],
        )),
        kept(1, &[("robot_id_invalid", 3)]),
    );
    add(
        "sensor_mismatch.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(FIELD, "fx")])
            .bad(101, &[(SENSOR, "load_cell")])
            .bad(102, &[(SENSOR, "camera")])
            .bad(103, &[(SENSOR, "")])
            .bytes(),
        kept(5, &[("sensor_mismatch", 4)]),
    );
    add(
        "run_uuid_null.csv",
        Csv::new().good(5).bad(100, &[(RUN, "")]).bytes(),
        kept(5, &[("run_uuid_null", 1)]),
    );
    add(
        "run_uuid_null.parquet",
        parquet(columns_with(
            3,
            vec![Column::new("run_uuid".into(), [Some(7u64), None, Some(7)])],
        )),
        kept(2, &[("run_uuid_null", 1)]),
    );
    add(
        "run_uuid_invalid.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(RUN, "-5")])
            .bad(101, &[(RUN, "abc")])
            .bad(102, &[(RUN, "1.5")])
            .bad(103, &[(RUN, "18446744073709551616")])
            .bad(104, &[(RUN, "1e3")])
            .bad(105, &[(RUN, "-0x1")])
            .bytes(),
        kept(5, &[("run_uuid_invalid", 6)]),
    );
    add(
        "run_uuid_negative.parquet",
        parquet(columns_with(
            3,
            vec![Column::new("run_uuid".into(), [7i64, -1, i64::MIN])],
        )),
        kept(1, &[("run_uuid_invalid", 2)]),
    );
    add(
        "run_uuid_float.parquet",
        parquet(columns_with(
            5,
            vec![Column::new(
                "run_uuid".into(),
                [7.0, -1.0, 1.5, f64::NAN, 1.8446744073709552e19],
            )],
        )),
        kept(1, &[("run_uuid_invalid", 4)]),
    );
    add(
        "run_uuid_extremes.csv",
        Csv::new()
            .bad(0, &[(RUN, "0")])
            .bad(1, &[(RUN, "18446744073709551615")])
            .bad(2, &[(RUN, "12405186538561671661")])
            .bad(3, &[(RUN, " 42 ")])
            .bytes(),
        kept(4, &[]),
    );
    add(
        "duplicates.csv",
        Csv::new()
            .good(5)
            .row(&valid(1))
            .row(&valid(2))
            .bad(3, &[(VALUE, "99")])
            .bad(4, &[(VALUE, "-99")])
            .bad(4, &[(VALUE, "98")])
            .bytes(),
        kept(
            5,
            &[("duplicate_identical", 2), ("duplicate_conflicting", 3)],
        ),
    );
    // A row with several problems counts once, under the first.
    add(
        "precedence.csv",
        Csv::new()
            .good(5)
            .bad(100, &[(TIME, "x"), (VALUE, "y"), (FIELD, "q"), (RUN, "-1")])
            .bad(101, &[(VALUE, "inf"), (FIELD, "q"), (ROBOT, "9")])
            .bad(102, &[(FIELD, "q"), (ROBOT, "9"), (SENSOR, "")])
            .bad(103, &[(ROBOT, "9"), (SENSOR, ""), (RUN, "")])
            .bad(104, &[(SENSOR, "load_cell"), (RUN, "")])
            .bytes(),
        kept(
            5,
            &[
                ("time_unparsable", 1),
                ("value_not_finite", 1),
                ("field_unknown", 1),
                ("robot_id_invalid", 1),
                ("sensor_mismatch", 1),
            ],
        ),
    );
    // A byte-order mark (Excel) is not part of the first column's name.
    add(
        "bom.csv",
        [
            b"\xEF\xBB\xBF".as_slice(),
            Csv::new().good(3).bytes().as_slice(),
        ]
        .concat(),
        kept(3, &[]),
    );
    // A quoted cell may hold a newline: one row, not two.
    add(
        "quoted_newline.csv",
        Csv::new().good(3).bad(100, &[(FIELD, "\"x\ny\"")]).bytes(),
        kept(3, &[("field_unknown", 1)]),
    );
    // Short rows: the missing cells are null.
    add(
        "ragged_short.csv",
        Csv::new()
            .good(3)
            .row(&valid(100)[..5])
            .row(&valid(101)[..2])
            .bytes(),
        kept(3, &[("sensor_mismatch", 1), ("field_unknown", 1)]),
    );
    // A CSV cut mid-row (a copy that stopped): the partial row is dropped.
    add(
        "truncated.csv",
        {
            let mut b = Csv::new().good(4).bytes();
            b.extend_from_slice(b"2022-11-23");
            b
        },
        kept(4, &[("time_unparsable", 1)]),
    );
    // The columns real files have besides the six: a pandas index, cell_id.
    add(
        "extra_columns.csv",
        (0..5)
            .fold(Csv::with_header(&format!(",{HEADER},cell_id")), |csv, k| {
                let mut cells = vec![k.to_string()];
                cells.extend(valid(k));
                cells.push("cell-3".into());
                csv.row(&cells)
            })
            .bytes(),
        kept(5, &[]),
    );
    add(
        "crlf_and_quotes.csv",
        format!(
            "{HEADER}\r\n\"{}\",\"1.5\",\"x\",\"1\",\"7\",\"encoder\"\r\n{}\r\n",
            t(0),
            valid(1).join(",")
        )
        .into_bytes(),
        kept(2, &[]),
    );
    // Rows written in reverse: read, sorted, and the same numbers as in time order.
    add(
        "backwards.csv",
        csv_of(&line_rows().into_iter().rev().collect::<Vec<_>>()),
        kept(line_rows().len() as u64, &[]),
    );
    add(
        "forwards.csv",
        csv_of(&line_rows()),
        kept(line_rows().len() as u64, &[]),
    );
    // One run of one row: harvested, its statistics null (nothing measured), not 0.
    add("single_row.csv", Csv::new().good(1).bytes(), kept(1, &[]));
    // One instant of all three encoder fields: a position but no motion.
    add(
        "single_instant.csv",
        Csv::new()
            .row(&valid(0))
            .bad(0, &[(FIELD, "y")])
            .bad(0, &[(FIELD, "z")])
            .bytes(),
        kept(3, &[]),
    );
    // Robot 2 alone, both sensors.
    add("single_robot.csv", single_robot(), kept(6 * 84, &[]));
    // 10,000 runs of one reading each.
    add(
        "many_runs.csv",
        (0..10_000)
            .fold(Csv::new(), |csv, run| {
                csv.bad(run % 50, &[(RUN, &(run + 1).to_string())])
            })
            .bytes(),
        kept(10_000, &[]),
    );
    // A 1 MB line: a huge extra cell is ignored, a huge time is unparsable, a
    // million-digit value is a number too large to be finite.
    add(
        "long_lines.csv",
        long_lines(),
        kept(5, &[("time_unparsable", 1), ("value_not_finite", 1)]),
    );

    // Readings at both ends of the representable range, 584 years apart: valid
    // times, so the file is harvested.
    add(
        "time_span.csv",
        Csv::new()
            .bad(0, &[(TIME, "1677-09-22T00:00:00Z")])
            .bad(1, &[(TIME, "2262-04-11T00:00:00Z")])
            .bytes(),
        kept(2, &[]),
    );
    // Finite readings whose motion is not: ±1e308 mm on every axis, 12 ms apart.
    add("extreme_motion.csv", extreme_motion(), kept(30, &[]));

    // --- Whole-file problems: rejected -----------------------------------------
    add("empty.csv", vec![], rejected(&["empty file"]));
    add("empty.parquet", vec![], rejected(&["empty file"]));
    add(
        "header_only.csv",
        format!("{HEADER}\n").into_bytes(),
        rejected(&["no rows"]),
    );
    add(
        "header_only_no_newline.csv",
        HEADER.as_bytes().to_vec(),
        rejected(&["no rows"]),
    );
    add(
        "header_only.parquet",
        parquet(good_columns(0)),
        rejected(&["no rows"]),
    );
    add(
        "missing_column.csv",
        b"time,value,field,robot_id,sensor_type\n2022-11-23T20:40:17Z,1,x,1,encoder\n".to_vec(),
        rejected(&["missing column `run_uuid`"]),
    );
    add(
        "missing_columns.parquet",
        parquet(good_columns(3).into_iter().take(2).collect()),
        rejected(&["missing columns", "`field`", "`sensor_type`"]),
    );
    add(
        "semicolon.csv",
        Csv::with_header(&HEADER.replace(',', ";"))
            .row(&[valid(0).join(";")])
            .bytes(),
        rejected(&["missing column", "`time`"]),
    );
    add(
        "not_a_log.csv",
        b"Dear diary,\nthe robots were loud today.\n".to_vec(),
        rejected(&["missing column"]),
    );
    add(
        "json.csv",
        br#"{"time": "2022-11-23T20:40:17Z", "value": 1}"#.to_vec(),
        rejected(&["missing column"]),
    );
    add(
        "other_table.parquet",
        parquet(vec![
            Column::new("name".into(), ["a", "b"]),
            Column::new("score".into(), [1.0, 2.0]),
        ]),
        rejected(&["missing columns", "found `name`, `score`"]),
    );
    add(
        "random.parquet",
        noise(4096, 1),
        rejected(&["not a Parquet file"]),
    );
    add("random.csv", noise(4096, 2), rejected(&[]));
    add(
        "truncated.parquet",
        good[..good.len() / 2].to_vec(),
        rejected(&["truncated"]),
    );
    add(
        "truncated_footer.parquet",
        good[..good.len() - 3].to_vec(),
        rejected(&["truncated"]),
    );
    add(
        "corrupt_footer_length.parquet",
        {
            let mut b = good.clone();
            let n = b.len();
            b[n - 8..n - 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            b
        },
        rejected(&["corrupt Parquet file"]),
    );
    add(
        "corrupt_metadata.parquet",
        {
            let mut b = good.clone();
            let n = b.len();
            let len = u32::from_le_bytes(b[n - 8..n - 4].try_into().unwrap()) as usize;
            for byte in &mut b[n - 8 - len..n - 8] {
                *byte ^= 0x5A;
            }
            b
        },
        rejected(&["corrupt Parquet file"]),
    );
    // A page claiming a negative number of values: the reader would allocate
    // exabytes for it and abort the process; load.rs checks page headers first.
    add(
        "negative_page_count.parquet",
        negative_page_count(&good),
        rejected(&["corrupt Parquet file", "column `value`", "-10 values"]),
    );
    // Footer edits the reader panics on (caught): one clean line, no panic message.
    add(
        "reader_panics.parquet",
        reader_panics(&good),
        rejected(&["corrupt Parquet file", "could not decode"]),
    );
    add(
        "parquet_named.csv",
        good.clone(),
        rejected(&["a Parquet file named .csv"]),
    );
    add(
        "csv_named.parquet",
        Csv::new().good(3).bytes(),
        rejected(&["not a Parquet file"]),
    );
    add(
        "value_bool.parquet",
        parquet(columns_with(
            2,
            vec![Column::new("value".into(), [true, false])],
        )),
        rejected(&["column `value`", "bool"]),
    );
    add(
        "run_uuid_bool.parquet",
        parquet(columns_with(
            2,
            vec![Column::new("run_uuid".into(), [true, false])],
        )),
        rejected(&["column `run_uuid`", "bool"]),
    );
    add(
        "run_uuid_list.parquet",
        parquet(columns_with(
            2,
            vec![Column::new(
                "run_uuid".into(),
                [
                    Series::new("".into(), [7u64]),
                    Series::new("".into(), [7u64, 8]),
                ],
            )],
        )),
        rejected(&["column `run_uuid`", "list"]),
    );
    add(
        "time_int.parquet",
        parquet(columns_with(
            2,
            vec![Column::new("time".into(), [T0, T0 + 1])],
        )),
        rejected(&["column `time`"]),
    );
    add(
        "field_int.parquet",
        parquet(columns_with(
            2,
            vec![Column::new("field".into(), [1i64, 2])],
        )),
        rejected(&["column `field`"]),
    );
    add(
        "robot_id_bool.parquet",
        parquet(columns_with(
            2,
            vec![Column::new("robot_id".into(), [true, true])],
        )),
        rejected(&["column `robot_id`"]),
    );
    add(
        "all_rows_bad.csv",
        Csv::new()
            .bad(0, &[(TIME, "never")])
            .bad(1, &[(VALUE, "NaN")])
            .bad(2, &[(ROBOT, "3")])
            .bytes(),
        rejected(&["no valid readings", "all 3 rows were dropped"]),
    );
    add(
        "ragged_long.csv",
        Csv::new()
            .good(3)
            .row(&[valid(3).join(","), "extra".into()])
            .bytes(),
        rejected(&["unreadable CSV", "more fields"]),
    );
    add(
        "unclosed_quote.csv",
        Csv::new().good(3).row(&[format!("\"{}", t(3))]).bytes(),
        rejected(&["unreadable CSV"]),
    );
    add(
        "duplicate_header.csv",
        Csv::with_header(&HEADER.replace("field", "time"))
            .good(3)
            .bytes(),
        rejected(&["duplicated column `time`", "columns 1 and 3"]),
    );
    add(
        "duplicate_value_header.csv",
        Csv::with_header(&format!("{HEADER},value")).good(3).bytes(),
        rejected(&["duplicated column `value`", "columns 2 and 7"]),
    );
    add(
        "duplicate_column.parquet",
        with_footer(
            &parquet(columns_with(
                3,
                vec![Column::new("extra".into(), [1.0, 2.0, 3.0])],
            )),
            |meta| rename_column(meta, "extra", "value"),
        ),
        rejected(&["duplicated column `value`", "columns 2 and 7"]),
    );
    add(
        "value_decimal.parquet",
        with_footer(
            &parquet(columns_with(
                3,
                vec![Column::new("value".into(), [100i64, 250, 300])],
            )),
            |meta| {
                let value = meta.schema.iter_mut().find(|e| e.name == "value").unwrap();
                value.converted_type = Some(ConvertedType::DECIMAL);
                value.logical_type = Some(LogicalType::DECIMAL(DecimalType::new(2, 10)));
                value.scale = Some(2);
                value.precision = Some(10);
            },
        ),
        rejected(&["type error: column `value`", "decimal(10, 2)"]),
    );
    add(
        "invalid_utf8.csv",
        {
            let mut b = Csv::new().good(3).bytes();
            b.extend_from_slice(b"2022-11-23T20:40:17Z,1,x\xff\xfe,1,7,encoder\n");
            b
        },
        rejected(&["unreadable CSV"]),
    );
    c
}

/// `good` (10 rows) with the value column's data page claiming -10 values: its page
/// header holds `0x2c` (field 5, a struct), `0x15` (field 1, an i32) and zigzag(10) =
/// `0x14`; zigzag(-10) = `0x13` has the same length.
fn negative_page_count(good: &[u8]) -> Vec<u8> {
    let mut reader = ParquetReader::new(Cursor::new(good.to_vec()));
    let metadata = reader.get_metadata().unwrap().clone();
    let chunk = metadata.row_groups[0]
        .parquet_columns()
        .iter()
        .find(|c| c.descriptor().path_in_schema[0] == "value")
        .unwrap();
    let start = chunk.data_page_offset() as usize;
    let at = (start..start + 32)
        .find(|&i| good[i..i + 3] == [0x2c, 0x15, 0x14])
        .expect("the data page header of `value`");
    let mut bytes = good.to_vec();
    bytes[at + 2] = 0x13;
    bytes
}

/// `good` with one byte of its footer changed so that the Parquet reader panics
/// (polars 0.55: "thrift bool field" at 599 bytes from the end). Found by search, so
/// a new polars that panics elsewhere still gives a case; if it panics nowhere the
/// edit is merely corrupt.
fn reader_panics(good: &[u8]) -> Vec<u8> {
    let n = good.len();
    let footer = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    let edit = |back: usize, byte: u8| {
        let mut b = good.to_vec();
        b[n - back] = byte;
        b
    };
    (9..8 + footer)
        .flat_map(|back| [0x19u8, 0x11, 0xff].map(|byte| (back, byte)))
        .map(|(back, byte)| edit(back, byte))
        .find(|b| {
            harvester::pipeline::load::load_log(Path::new("x.parquet"), b)
                .is_err_and(|e| e.to_string().contains("could not decode"))
        })
        .unwrap_or_else(|| edit(599, 0x19))
}

fn single_robot() -> Vec<u8> {
    let mut rows = Csv::new();
    let times = clock(T0, 1.0, 12, 0);
    for field in ["x", "y", "z", "fx", "fy", "fz"] {
        let sensor = if field.starts_with('f') {
            "load_cell"
        } else {
            "encoder"
        };
        for (k, &ns) in times.iter().enumerate() {
            rows = rows.row(&[
                log_time(ns),
                format!("{}", k as f64 * 0.1),
                field.into(),
                "2".into(),
                "7".into(),
                sensor.into(),
            ]);
        }
    }
    rows.bytes()
}

fn extreme_motion() -> Vec<u8> {
    let mut csv = Csv::new();
    for (i, field) in ["x", "y", "z", "fx", "fy", "fz"].iter().enumerate() {
        let sensor = if i < 3 { "encoder" } else { "load_cell" };
        for k in 0..5 {
            let value = if k % 2 == 0 { "1e308" } else { "-1e308" };
            csv = csv.row(&[t(k).as_str(), value, field, "1", "7", sensor]);
        }
    }
    csv.bytes()
}

fn long_lines() -> Vec<u8> {
    let mb = 1 << 20;
    let mut csv = Csv::with_header(&format!("{HEADER},note"));
    for k in 0..4 {
        let mut cells = valid(k).to_vec();
        cells.push("ok".into());
        csv = csv.row(&cells);
    }
    let mut huge_note = valid(4).to_vec();
    huge_note.push("n".repeat(mb));
    let mut huge_time = valid(5).to_vec();
    huge_time[TIME] = "2".repeat(mb);
    huge_time.push(String::new());
    let mut huge_value = valid(6).to_vec();
    huge_value[VALUE] = format!("1{}", "0".repeat(mb));
    huge_value.push(String::new());
    csv.row(&huge_note).row(&huge_time).row(&huge_value).bytes()
}

// ---------------------------------------------------------------------------------
// Running and checking
// ---------------------------------------------------------------------------------

fn case(name: &str) -> &'static Case {
    corpus()
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// The catalog record that saw `path`.
fn record_of<'a>(records: &'a [FileRecord], path: &Path) -> Option<&'a FileRecord> {
    let path = path.display().to_string();
    records
        .iter()
        .find(|r| r.source_path == path || r.paths.contains(&path))
}

/// Every directory under `out` (visible or hidden) but the dataset.
fn output_dirs(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.ends_with("dataset"))
                .collect()
        })
        .unwrap_or_default()
}

fn error_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(String::from)
        .collect()
}

fn assert_no_panic(o: &Output, what: &str) {
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    assert!(!all.contains("panicked"), "{what}: {all}");
    assert!(!all.contains("RUST_BACKTRACE"), "{what}: {all}");
}

/// Harvests one case alone in a fresh work dir and checks its documented outcome.
/// Returns the output directory of a kept case.
fn check(case: &Case) -> (Workdir, Option<PathBuf>) {
    let work = Workdir::new();
    let path = work.input().join(case.name);
    write_at_rest(&path, &case.bytes);
    let out = work.harvest(&[path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_no_panic(&out, case.name);
    let records = catalog_records_in(&work.out());
    let record = record_of(&records, &path)
        .unwrap_or_else(|| panic!("{}: not in the catalog: {records:?}", case.name));
    match &case.expect {
        Expect::Kept { kept, drops } => {
            assert_eq!(code(&out), 0, "{}: {err}", case.name);
            assert!(error_lines(&out).is_empty(), "{}: {err}", case.name);
            assert_eq!(record.status, FileStatus::Harvested, "{}", case.name);
            let dir = work.only_output();
            let report = report(&dir);
            let rows = &report["rows"];
            let read = rows["read"].as_u64().unwrap();
            let got_kept = rows["kept"].as_u64().unwrap();
            let dropped = nonzero_drops(rows);
            assert_eq!(
                read,
                got_kept + dropped.values().sum::<u64>(),
                "{}: read = kept + Σ dropped: {rows}",
                case.name
            );
            let expected: BTreeMap<String, u64> =
                drops.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            assert_eq!(
                (got_kept, &dropped),
                (*kept, &expected),
                "{}: {rows}",
                case.name
            );
            assert_eq!(record.rows_read, Some(read as i64), "{}", case.name);
            assert_eq!(record.rows_kept, Some(got_kept as i64), "{}", case.name);
            (work, Some(dir))
        }
        Expect::Rejected(says) => {
            assert_eq!(code(&out), 65, "{}: {err}", case.name);
            let lines = error_lines(&out);
            assert_eq!(lines.len(), 1, "{}: one ERROR line: {err}", case.name);
            assert!(
                lines[0].contains(case.name),
                "{}: names the file: {err}",
                case.name
            );
            for s in says {
                assert!(lines[0].contains(s), "{}: says `{s}`: {err}", case.name);
            }
            assert_eq!(record.status, FileStatus::Failed, "{}", case.name);
            let last = record.last_error.as_deref().unwrap_or_default();
            for s in says {
                assert!(
                    last.contains(s),
                    "{}: the catalog says `{s}`: {last}",
                    case.name
                );
            }
            let dirs = output_dirs(&work.out());
            assert!(dirs.is_empty(), "{}: no output: {dirs:?}", case.name);
            (work, None)
        }
    }
}

/// One test per case; `TESTED` lists them so a case cannot be left untested.
macro_rules! cases {
    ($($test:ident => $file:literal,)*) => {
        const TESTED: &[&str] = &[$($file),*];
        $(
            #[test]
            fn $test() {
                check(case($file));
            }
        )*
    };
}

cases! {
    time_null_csv => "time_null.csv",
    time_null_parquet => "time_null.parquet",
    time_unparsable_csv => "time_unparsable.csv",
    time_variants_csv => "time_variants.csv",
    value_null_csv => "value_null.csv",
    value_null_parquet => "value_null.parquet",
    value_unparsable_csv => "value_unparsable.csv",
    value_not_finite_csv => "value_not_finite.csv",
    value_not_finite_parquet => "value_not_finite.parquet",
    field_unknown_csv => "field_unknown.csv",
    robot_id_invalid_csv => "robot_id_invalid.csv",
    robot_id_invalid_parquet => "robot_id_invalid.parquet",
    sensor_mismatch_csv => "sensor_mismatch.csv",
    run_uuid_null_csv => "run_uuid_null.csv",
    run_uuid_null_parquet => "run_uuid_null.parquet",
    run_uuid_invalid_csv => "run_uuid_invalid.csv",
    run_uuid_negative_parquet => "run_uuid_negative.parquet",
    precedence_csv => "precedence.csv",
    extra_columns_csv => "extra_columns.csv",
    crlf_and_quotes_csv => "crlf_and_quotes.csv",
    empty_csv => "empty.csv",
    empty_parquet => "empty.parquet",
    header_only_csv => "header_only.csv",
    header_only_no_newline_csv => "header_only_no_newline.csv",
    header_only_parquet => "header_only.parquet",
    missing_column_csv => "missing_column.csv",
    missing_columns_parquet => "missing_columns.parquet",
    semicolon_csv => "semicolon.csv",
    not_a_log_csv => "not_a_log.csv",
    json_csv => "json.csv",
    other_table_parquet => "other_table.parquet",
    random_parquet => "random.parquet",
    random_csv => "random.csv",
    truncated_parquet => "truncated.parquet",
    truncated_footer_parquet => "truncated_footer.parquet",
    corrupt_footer_length_parquet => "corrupt_footer_length.parquet",
    corrupt_metadata_parquet => "corrupt_metadata.parquet",
    parquet_named_csv => "parquet_named.csv",
    negative_page_count_parquet => "negative_page_count.parquet",
    reader_panics_parquet => "reader_panics.parquet",
    csv_named_parquet => "csv_named.parquet",
    value_bool_parquet => "value_bool.parquet",
    run_uuid_bool_parquet => "run_uuid_bool.parquet",
    run_uuid_list_parquet => "run_uuid_list.parquet",
    time_int_parquet => "time_int.parquet",
    field_int_parquet => "field_int.parquet",
    robot_id_bool_parquet => "robot_id_bool.parquet",
    all_rows_bad_csv => "all_rows_bad.csv",
    invalid_utf8_csv => "invalid_utf8.csv",
    ragged_long_csv => "ragged_long.csv",
    unclosed_quote_csv => "unclosed_quote.csv",
    duplicate_header_csv => "duplicate_header.csv",
    duplicate_value_header_csv => "duplicate_value_header.csv",
    duplicate_column_parquet => "duplicate_column.parquet",
    value_decimal_parquet => "value_decimal.parquet",
    bom_csv => "bom.csv",
    quoted_newline_csv => "quoted_newline.csv",
    ragged_short_csv => "ragged_short.csv",
    truncated_csv => "truncated.csv",
}

/// Cases checked by a dedicated test below (the outcome and more).
const TESTED_BELOW: &[&str] = &[
    "value_extremes.csv",
    "value_extremes.parquet",
    "run_uuid_float.parquet",
    "run_uuid_extremes.csv",
    "duplicates.csv",
    "backwards.csv",
    "forwards.csv",
    "single_row.csv",
    "single_instant.csv",
    "single_robot.csv",
    "many_runs.csv",
    "long_lines.csv",
    "time_span.csv",
    "extreme_motion.csv",
];

#[test]
fn every_case_is_tested() {
    let mut names: Vec<&str> = corpus().iter().map(|c| c.name).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "case names are unique");
    for name in names {
        assert!(
            TESTED.contains(&name) || TESTED_BELOW.contains(&name),
            "{name} has no test"
        );
    }
}

// ---------------------------------------------------------------------------------
// Cases that need more than the outcome
// ---------------------------------------------------------------------------------

fn run_table(dir: &Path, run: &str) -> DataFrame {
    let bytes = std::fs::read(run_table_file(dir, run)).unwrap();
    ParquetReader::new(Cursor::new(bytes)).finish().unwrap()
}

fn f64s(df: &DataFrame, column: &str) -> Vec<Option<f64>> {
    df.column(column)
        .unwrap()
        .as_materialized_series()
        .f64()
        .unwrap()
        .iter()
        .collect()
}

#[test]
fn finite_extremes_are_kept_exactly() {
    for name in ["value_extremes.csv", "value_extremes.parquet"] {
        let (_work, dir) = check(case(name));
        let table = run_table(&dir.unwrap(), "7");
        let values = f64s(&table, "x_1");
        let expected: Vec<f64> = if name.ends_with(".csv") {
            vec![1e308, -1e308, f64::MAX, 5e-324, -0.0]
        } else {
            vec![1e308, -1e308, f64::MAX, f64::MIN]
        };
        assert_eq!(
            values
                .iter()
                .map(|v| v.unwrap().to_bits())
                .collect::<Vec<_>>(),
            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn float_run_ids_are_kept_by_exact_value_with_a_warning() {
    let (_work, dir) = check(case("run_uuid_float.parquet"));
    let report = report(&dir.unwrap());
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("float64"), "{warnings}");
    assert_eq!(report["runs"][0]["run_uuid"], "7");
}

#[test]
fn run_ids_at_the_extremes_are_decimal_names() {
    let (_work, dir) = check(case("run_uuid_extremes.csv"));
    let dir = dir.unwrap();
    let mut names: Vec<String> = run_table_files(&dir)
        .iter()
        .map(|p| {
            assert!(p.exists(), "{}", p.display());
            let name = p.file_name().unwrap().to_string_lossy();
            // <hash12>-<run_uuid>.parquet
            name.split_once('-').unwrap().1.to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0.parquet",
            "12405186538561671661.parquet",
            "18446744073709551615.parquet",
            "42.parquet"
        ]
    );
}

#[test]
fn duplicates_keep_the_first_reading_in_file_order() {
    let (_work, dir) = check(case("duplicates.csv"));
    let table = run_table(&dir.unwrap(), "7");
    // valid(k) has value k/2; instants 3 and 4 were repeated with other values after.
    assert_eq!(
        f64s(&table, "x_1"),
        vec![Some(0.0), Some(0.5), Some(1.0), Some(1.5), Some(2.0)]
    );
}

#[test]
fn rows_out_of_order_are_sorted_and_give_the_same_numbers() {
    let (_w1, forwards) = check(case("forwards.csv"));
    let (_w2, backwards) = check(case("backwards.csv"));
    let (forwards, backwards) = (forwards.unwrap(), backwards.unwrap());
    let (f, b) = (report(&forwards), report(&backwards));
    // The same statistics; each table is named by its file's content hash.
    let runs = |r: &serde_json::Value| {
        let mut runs = r["runs"].clone();
        for run in runs.as_array_mut().unwrap() {
            run.as_object_mut().unwrap().remove("table");
        }
        runs
    };
    assert_eq!(runs(&f), runs(&b), "the same statistics");
    assert_eq!(f["coverage"], b["coverage"]);
    assert_eq!(
        std::fs::read(run_table_file(&forwards, "7")).unwrap(),
        std::fs::read(run_table_file(&backwards, "7")).unwrap(),
        "the same wide table"
    );
    // And the numbers are right: 10 mm/s along x.
    let run = &b["runs"][0];
    let runtime = run["runtime_s"].as_f64().unwrap();
    let distance = run["distance_mm"].as_f64().unwrap();
    assert!((distance - 10.0 * runtime).abs() < 1e-6, "{run}");
    for k in ["min", "mean", "max"] {
        let v = run["speed_mm_s"][k].as_f64().unwrap();
        assert!((v - 10.0).abs() < 1e-6, "speed {k}: {run}");
    }
    let times = run_table(&backwards, "7")
        .column("time")
        .unwrap()
        .as_materialized_series()
        .cast(&DataType::Int64)
        .unwrap();
    let times: Vec<i64> = times.i64().unwrap().into_no_null_iter().collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "the table is sorted");
}

#[test]
fn a_single_reading_has_null_statistics_not_zero() {
    for name in ["single_row.csv", "single_instant.csv"] {
        let (_work, dir) = check(case(name));
        let dir = dir.unwrap();
        let report = report(&dir);
        let run = &report["runs"][0];
        for k in ["distance_mm", "speed_mm_s", "accel_mm_s2", "force_n"] {
            assert!(run[k].is_null(), "{name}: {k} is null: {run}");
        }
        assert_eq!(run["runtime_s"], 0.0);
        let stats = ParquetReader::new(Cursor::new(
            std::fs::read(dir.join("run_stats.parquet")).unwrap(),
        ))
        .finish()
        .unwrap();
        for k in [
            "distance_mm",
            "speed_min_mm_s",
            "speed_mean_mm_s",
            "accel_max_mm_s2",
            "force_mean_n",
        ] {
            assert_eq!(f64s(&stats, k), vec![None], "{name}: {k}");
        }
    }
}

#[test]
fn a_single_robot_is_harvested_alone() {
    let (_work, dir) = check(case("single_robot.csv"));
    let report = report(&dir.unwrap());
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["robot_id"], 2);
    assert!(runs[0]["speed_mm_s"].is_object(), "{}", runs[0]);
    assert!(runs[0]["force_n"].is_object(), "{}", runs[0]);
    let missing = report["coverage"][0]["missing"].to_string();
    for channel in ["x_1", "fz_1"] {
        assert!(missing.contains(channel), "{missing}");
    }
}

#[test]
fn ten_thousand_runs_give_ten_thousand_tables() {
    let (work, dir) = check(case("many_runs.csv"));
    let dir = dir.unwrap();
    let tables = run_table_files(&dir);
    assert_eq!(tables.len(), 10_000);
    assert!(tables.iter().all(|t| t.exists()));
    let report = report(&dir);
    assert_eq!(report["runs"].as_array().unwrap().len(), 10_000);
    let records = catalog_records_in(&work.out());
    assert_eq!(records[0].runs, Some(10_000));
}

#[test]
fn readings_centuries_apart_are_harvested() {
    let (_work, dir) = check(case("time_span.csv"));
    let report = report(&dir.unwrap());
    let runtime = report["runs"][0]["runtime_s"].as_f64().unwrap();
    assert!((runtime - 1.8446e10).abs() < 1e7, "{runtime}");
}

/// Statistics of finite readings are finite or null: ±1e308 mm readings give
/// steps and derivatives that overflow, which are not measurements (null), while
/// ‖(1e308, 1e308, 1e308)‖ ≈ 1.7e308 is finite and kept; report.json stays readable.
#[test]
fn extreme_readings_give_a_readable_report() {
    let (work, dir) = check(case("extreme_motion.csv"));
    let dir = dir.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_view"))
        .arg(&dir)
        .arg("--out")
        .arg(work.out())
        .args(["--format", "json"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let run = &report(&dir)["runs"][0];
    for quantity in ["speed_mm_s", "accel_mm_s2", "force_n"] {
        let q = &run[quantity];
        assert!(
            q.is_null() || ["min", "mean", "max"].iter().all(|k| q[k].is_f64()),
            "{quantity}: {q}"
        );
    }
}

#[test]
fn a_one_megabyte_line_is_one_row() {
    let (_work, dir) = check(case("long_lines.csv"));
    let table = run_table(&dir.unwrap(), "7");
    assert_eq!(table.height(), 5);
}

// ---------------------------------------------------------------------------------
// Paths that are not regular files
// ---------------------------------------------------------------------------------

/// A directory, a Unix socket and a FIFO, each named like a log.
fn special_files(dir: &Path) -> (Vec<PathBuf>, std::os::unix::net::UnixListener) {
    let d = dir.join("x.parquet");
    std::fs::create_dir_all(&d).unwrap();
    let s = dir.join("y.parquet");
    let listener = std::os::unix::net::UnixListener::bind(&s).unwrap();
    let f = dir.join("z.csv");
    let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    (vec![d, s, f], listener)
}

#[test]
fn paths_that_are_not_regular_files_are_bad_files() {
    let work = Workdir::new();
    let (paths, _listener) = special_files(&work.input());
    // A directory given on the command line is a directory to harvest, whatever its
    // name: here an empty one, so nothing to do.
    let out = work.harvest(&[paths[0].to_str().unwrap()]);
    assert_no_panic(&out, "a directory");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("0 harvested, 0 skipped, 0 failed"));
    // The socket and the FIFO (which must not be opened: that would block).
    for path in &paths[1..] {
        let out = work.harvest(&[path.to_str().unwrap()]);
        let err = stderr(&out);
        assert_no_panic(&out, &path.display().to_string());
        assert_eq!(code(&out), 65, "{}: {err}", path.display());
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains(&path.display().to_string())
                && lines[0].contains("not a regular file"),
            "{err}"
        );
    }
    assert!(output_dirs(&work.out()).is_empty());
}

#[test]
fn directory_mode_is_not_disturbed_by_special_files() {
    let work = Workdir::new();
    let input = work.input();
    let (_paths, _listener) = special_files(&input);
    std::fs::write(input.join("good.csv"), &case("single_row.csv").bytes).unwrap();
    std::fs::write(input.join("also_good.parquet"), parquet(good_columns(10))).unwrap();
    let out = work.harvest(&[input.to_str().unwrap()]);
    let err = stderr(&out);
    assert_no_panic(&out, "directory mode");
    assert!(matches!(code(&out), 0 | 65), "{err}");
    assert!(err.contains("2 harvested, 0 skipped"), "{err}");
    // The special files are failed (one line each) or ignored, never anything else.
    for line in error_lines(&out) {
        assert!(line.contains("not a regular file"), "{err}");
    }
    let records = catalog_records_in(&work.out());
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r.status == FileStatus::Harvested));
}

// ---------------------------------------------------------------------------------
// Everything at once
// ---------------------------------------------------------------------------------

#[test]
fn the_whole_corpus_in_one_directory_run() {
    let work = Workdir::new();
    let input = work.input();
    let cases: Vec<&Case> = corpus().iter().collect();
    for case in &cases {
        write_at_rest(&input.join(case.name), &case.bytes);
    }
    let (_special, _listener) = special_files(&input);
    let out = Command::new(env!("CARGO_BIN_EXE_harvest"))
        .arg(&input)
        .arg("--out")
        .arg(work.out())
        .args(["--jobs", "2"])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_no_panic(&out, "the whole corpus");
    assert_eq!(code(&out), 65, "{err}");

    let good = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Kept { .. }))
        .count();
    assert!(
        err.contains(&format!("summary: {good} harvested, ")),
        "{err}"
    );
    let records = catalog_records_in(&work.out());
    for case in &cases {
        let path = input.join(case.name);
        let record = record_of(&records, &path);
        match &case.expect {
            Expect::Kept { kept, .. } => {
                let r = record.unwrap_or_else(|| panic!("{}: {err}", case.name));
                assert_eq!(r.status, FileStatus::Harvested, "{}", case.name);
                assert_eq!(r.rows_kept, Some(*kept as i64), "{}", case.name);
            }
            Expect::Rejected(_) => {
                // Two identical files (the empty ones) share one record; if both were
                // taken at once, one of them was reported as being harvested
                // elsewhere and its path may not be listed.
                if case.bytes.is_empty() {
                    continue;
                }
                let r = record.unwrap_or_else(|| panic!("{}: {err}", case.name));
                assert_eq!(r.status, FileStatus::Failed, "{}", case.name);
            }
        }
    }
    // Only the good files have outputs, and nothing is left half-written.
    let dirs = output_dirs(&work.out());
    assert_eq!(dirs.len(), good, "{dirs:?}");
    assert!(dirs
        .iter()
        .all(|d| !d.file_name().unwrap().to_string_lossy().starts_with('.')));
}
