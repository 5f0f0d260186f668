//! Property tests of loading and validation: whatever bytes or columns a file holds,
//! `load_log` and `validate` return `Ok` or `Err` (never panic), and when they
//! succeed every row is accounted for (`read == kept + Σ dropped`). A last property
//! runs the whole pipeline on random readings of plausible range.
//!
//! The normal suite runs 256 cases per property (48 for the pipeline): about 3 s in
//! the dev profile. For a longer campaign, raise the count (it applies to every
//! property) and build optimised:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test it fuzz::
//! PROPTEST_CASES=100000 cargo test --profile bench-fast --test it fuzz::   # quicker to build
//! PROPTEST_CASES=20000 cargo test --release --test it fuzz::mutated_parquet   # one property
//! ```
//!
//! Each run draws new random cases. A failure prints the minimal input proptest
//! shrank it to (nothing is written to `proptest-regressions/`); add it to
//! `tests/it/corpus.rs` as a named case once understood. A process abort (an
//! allocation failure inside a reader) kills the run before proptest can report:
//! run the property alone under `--test-threads 1` to find the input.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::util::T0;
use harvester::model::readings::DropReason;
use harvester::pipeline::load::load_log;
use harvester::pipeline::runs::{split, SplitLog};
use harvester::pipeline::validate::validate;
use polars::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const COLUMNS: [&str; 6] = [
    "time",
    "value",
    "field",
    "robot_id",
    "run_uuid",
    "sensor_type",
];

/// `cases` per property, unless `PROPTEST_CASES` says otherwise. Failures are not
/// persisted to files: the shrunk input is in the failure message.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The invariants of a successful validation.
fn check_accounting(v: &SplitLog, height: usize) -> Result<(), TestCaseError> {
    let rows = &v.rows;
    prop_assert_eq!(rows.read, height as u64, "every row of the frame is read");
    prop_assert_eq!(
        rows.read,
        rows.kept + rows.dropped_total(),
        "read = kept + Σ dropped: {:?}",
        rows
    );
    let mut held = 0u64;
    for channels in v.readings.values() {
        for series in channels.values() {
            prop_assert!(!series.is_empty());
            prop_assert_eq!(series.time.len(), series.value.len());
            prop_assert!(
                series.time.windows(2).all(|w| w[0] < w[1]),
                "one reading per instant, sorted"
            );
            prop_assert!(series.value.iter().all(|x| x.is_finite()));
            held += series.len() as u64;
        }
    }
    prop_assert_eq!(held, rows.kept, "kept = readings held");
    Ok(())
}

/// Loads and validates; checks the invariants when both succeed.
fn load_and_validate(name: &str, bytes: &[u8]) -> Result<Option<SplitLog>, TestCaseError> {
    let path = Path::new(name);
    let Ok(log) = load_log(path, bytes) else {
        return Ok(None);
    };
    prop_assert!(log.height() > 0, "a loaded log has rows");
    if let Ok(part) = log.part(0) {
        for c in COLUMNS {
            prop_assert!(part.has_column(c), "a loaded log has `{}`", c);
        }
    }
    match validate(path, &log).map(|v| split(v, Default::default())) {
        Ok(v) => {
            check_accounting(&v, log.height())?;
            Ok(Some(v))
        }
        Err(_) => Ok(None),
    }
}

// ---------------------------------------------------------------------------------
// (a) Arbitrary bytes
// ---------------------------------------------------------------------------------

/// A small valid log, as Parquet and as CSV, for the mutation strategies.
fn seeds() -> &'static (Vec<u8>, Vec<u8>) {
    static SEEDS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let n = 40usize;
        let fields = ["x", "y", "fx", "z"];
        let time: Vec<String> = (0..n)
            .map(|k| format!("2022-11-23T20:40:{:02}.{:03}Z", k / 10, (k % 10) * 12))
            .collect();
        let field: Vec<&str> = (0..n).map(|k| fields[k % 4]).collect();
        let sensor: Vec<&str> = field
            .iter()
            .map(|f| {
                if f.starts_with('f') {
                    "load_cell"
                } else {
                    "encoder"
                }
            })
            .collect();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("time".into(), time.clone()),
                Column::new("value".into(), (0..n).map(|k| k as f64).collect::<Vec<_>>()),
                Column::new("field".into(), field.clone()),
                Column::new(
                    "robot_id".into(),
                    (0..n).map(|k| 1 + (k % 2) as i64).collect::<Vec<_>>(),
                ),
                Column::new(
                    "run_uuid".into(),
                    (0..n)
                        .map(|k| 12_405_186_538_561_671_661u64 - (k / 20) as u64)
                        .collect::<Vec<_>>(),
                ),
                Column::new("sensor_type".into(), sensor.clone()),
            ],
        )
        .unwrap();
        let mut parquet = Vec::new();
        ParquetWriter::new(&mut parquet).finish(&mut df).unwrap();
        let mut csv = format!("{}\n", COLUMNS.join(","));
        for k in 0..n {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                time[k],
                k,
                field[k],
                1 + k % 2,
                7 + k / 20,
                sensor[k]
            ));
        }
        (parquet, csv.into_bytes())
    })
}

/// A seed with some bytes overwritten, a range removed or duplicated, or cut short.
fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: Option<(usize, usize, bool)>) -> Vec<u8> {
    let mut b = seed.to_vec();
    for &(at, byte) in edits {
        let i = at % b.len();
        b[i] = byte;
    }
    if let Some((from, len, duplicate)) = cut {
        let from = from % b.len();
        let to = (from + len).min(b.len());
        if duplicate {
            let copy = b[from..to].to_vec();
            b.splice(from..from, copy);
        } else {
            b.drain(from..to);
        }
    }
    b
}

/// Overwrites keep the PAR1 magic at both ends, so the Parquet reader itself is
/// exercised (a missing magic is rejected before it).
fn inner_edits(len: usize) -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((4..len - 4, any::<u8>()), 1..12)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        load_and_validate("x.parquet", &bytes)?;
        load_and_validate("x.csv", &bytes)?;
        let framed = [b"PAR1".as_slice(), &bytes, b"PAR1"].concat();
        load_and_validate("x.parquet", &framed)?;
    }

    #[test]
    fn mutated_parquet_never_panics(
        edits in inner_edits(seeds().0.len()),
        cut in prop::option::of((any::<usize>(), 1usize..64, any::<bool>())),
    ) {
        let bytes = mutate(&seeds().0, &edits, None);
        load_and_validate("x.parquet", &bytes)?;
        if cut.is_some() {
            // Keep the footer magic at the end so the reader is reached.
            let mut body = mutate(&seeds().0, &edits, cut);
            body.extend_from_slice(b"PAR1");
            load_and_validate("x.parquet", &body)?;
        }
    }

    #[test]
    fn mutated_csv_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..12),
        cut in prop::option::of((any::<usize>(), 1usize..64, any::<bool>())),
    ) {
        let bytes = mutate(&seeds().1, &edits, cut);
        load_and_validate("x.csv", &bytes)?;
    }
}

// ---------------------------------------------------------------------------------
// (b) CSV from a grammar
// ---------------------------------------------------------------------------------

/// Times in every ISO 8601 variant the parser accepts, and near misses.
fn iso_time() -> impl Strategy<Value = String> {
    let date = (1970i64..2100, 1u32..=12, 1u32..=31);
    let clock = (0u32..=24, 0u32..=60, 0u32..=60);
    let fraction = (0usize..=10, any::<u64>());
    let form = (
        prop::sample::select(vec!["T", " ", "t"]),
        prop::sample::select(vec![
            "Z", "", "+01:00", "-05:30", "+0200", "+02", "z", "+24:00",
        ]),
    );
    (date, clock, fraction, form).prop_map(|((y, mo, d), (h, mi, s), (digits, f), (sep, off))| {
        let frac = if digits == 0 {
            String::new()
        } else {
            let all = format!("{:010}", f % 10_000_000_000);
            format!(".{}", &all[..digits])
        };
        format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{off}")
    })
}

/// One cell of any kind a log column may hold, or should not.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => iso_time(),
        1 => Just(String::new()),
        2 => any::<f64>().prop_map(|v| v.to_string()),
        1 => (-1000.0f64..1000.0).prop_map(|v| format!("{v:e}")),
        1 => any::<i64>().prop_map(|v| v.to_string()),
        1 => any::<u64>().prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec![
            "NaN", "nan", "inf", "-inf", "+Infinity", "1e309", "-1e308", "1e308",
            "18446744073709551615", "18446744073709551616", "-1", "-0", "0", "1.5",
            "9223372036854775808", "1e3", " 2 ", "0x1F",
        ]).prop_map(String::from),
        3 => prop::sample::select(vec![
            "x", "y", "z", "fx", "fy", "fz", "X", "w", "encoder", "load_cell",
            "Encoder", "1", "2", "3", "7",
        ]).prop_map(String::from),
        1 => "[a-z0-9:.+ -]{0,12}",
        1 => "\\PC{0,8}",
        1 => Just("line\nbreak".to_string()),
        1 => Just("quote \" inside, comma".to_string()),
    ]
}

/// A cell as CSV writes it: quoted when it holds a delimiter, a quote or a newline.
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// A header: any subset of the six columns in any order, plus extra columns.
fn header() -> impl Strategy<Value = Vec<String>> {
    let required = prop::sample::subsequence(COLUMNS.to_vec(), 4..=6).prop_shuffle();
    let extras = prop::collection::vec(
        prop::sample::select(vec!["", "cell_id", "note", "index", "Time", "valeur"]),
        0..3,
    );
    (required, extras, any::<prop::sample::Index>()).prop_map(|(mut cols, extras, at)| {
        for e in extras {
            let i = at.index(cols.len() + 1);
            cols.insert(i, e);
        }
        let mut seen = std::collections::HashSet::new();
        cols.into_iter()
            .filter(|c| seen.insert(*c))
            .map(String::from)
            .collect()
    })
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn csv_grammar_never_panics_and_accounts_for_every_row(
        (header, rows) in header().prop_flat_map(|h| {
            let width = h.len();
            (Just(h), prop::collection::vec(prop::collection::vec(cell(), width), 0..24))
        })
    ) {
        let text = csv_text(&header, &rows);
        let loaded = load_and_validate("grammar.csv", text.as_bytes())?;
        let complete = COLUMNS.iter().all(|c| header.iter().any(|h| h == c));
        if let Some(v) = loaded {
            prop_assert!(complete);
            prop_assert_eq!(v.rows.read, rows.len() as u64, "one row per CSV record");
        } else if complete && !rows.is_empty() {
            // A well-formed CSV with the six columns and rows only fails validation
            // when... it never does: every cell is text, and text is a valid type.
            return Err(TestCaseError::fail(format!("rejected a well-formed CSV:\n{text}")));
        }
    }
}

/// A defect that puts a row under a known reason, as (reason, column, text).
fn defect() -> impl Strategy<Value = Option<(DropReason, usize, &'static str)>> {
    use DropReason::*;
    prop::option::weighted(
        0.5,
        prop::sample::select(vec![
            (TimeNull, 0, ""),
            (TimeUnparsable, 0, "2022-11-23T25:00:00Z"),
            (TimeUnparsable, 0, "yesterday"),
            (ValueNull, 1, ""),
            (ValueUnparsable, 1, "1,5"),
            (ValueUnparsable, 1, "one"),
            (ValueNotFinite, 1, "NaN"),
            (ValueNotFinite, 1, "-inf"),
            (FieldUnknown, 2, "q"),
            (FieldUnknown, 2, ""),
            (RobotIdInvalid, 3, "3"),
            (RobotIdInvalid, 3, ""),
            (RobotIdInvalid, 3, "1.5"),
            (SensorMismatch, 5, "load_cell"),
            (SensorMismatch, 5, ""),
            (RunUuidNull, 4, ""),
            (RunUuidInvalid, 4, "-3"),
            (RunUuidInvalid, 4, "run-3"),
        ]),
    )
}

proptest! {
    #![proptest_config(config(256))]

    /// Valid rows with at most one defect each, at distinct instants, in any order:
    /// the drop counts equal the injected counts exactly.
    #[test]
    fn injected_defects_are_counted_exactly(
        defects in prop::collection::vec(defect(), 1..60),
        order in any::<u64>(),
    ) {
        let mut expected: BTreeMap<DropReason, u64> = BTreeMap::new();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (k, d) in defects.iter().enumerate() {
            let ns = T0 + k as i64 * 12_000_000;
            let time = chrono::DateTime::from_timestamp_nanos(ns)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let field = ["x", "fy"][k % 2];
            let sensor = ["encoder", "load_cell"][k % 2];
            let mut row: Vec<String> = vec![
                time,
                format!("{}", k as f64 * 0.25 - 3.0),
                field.into(),
                (1 + (k / 2) % 2).to_string(),
                (7 + k % 3).to_string(),
                sensor.into(),
            ];
            if let Some((reason, col, text)) = d {
                // Turning a load-cell row's sensor into `load_cell` is no defect.
                let text: &str = if *text == "load_cell" && sensor == "load_cell" {
                    "encoder"
                } else {
                    text
                };
                row[*col] = text.to_string();
                *expected.entry(*reason).or_insert(0) += 1;
            }
            rows.push(row);
        }
        // A deterministic shuffle: rows are not in time order in real files either.
        let n = rows.len();
        let mut s = order | 1;
        for i in (1..n).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            rows.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        let text = csv_text(&header, &rows);
        let v = load_and_validate("defects.csv", text.as_bytes())?
            .unwrap_or_else(|| panic!("a well-formed CSV loads:\n{text}"));
        let dropped: BTreeMap<DropReason, u64> =
            v.rows.dropped.iter().filter(|(_, n)| **n > 0).map(|(r, n)| (*r, *n)).collect();
        prop_assert_eq!(&dropped, &expected, "{}", text);
        prop_assert_eq!(v.rows.kept, n as u64 - expected.values().sum::<u64>());
    }
}

// ---------------------------------------------------------------------------------
// (c) Parquet columns of any type
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    I64,
    U64,
    F64,
    Bool,
    I32,
    DatetimeNs,
    DatetimeUs,
    DatetimeMsUtc,
    Null,
}

const KINDS: [Kind; 10] = [
    Kind::Str,
    Kind::I64,
    Kind::U64,
    Kind::F64,
    Kind::Bool,
    Kind::I32,
    Kind::DatetimeNs,
    Kind::DatetimeUs,
    Kind::DatetimeMsUtc,
    Kind::Null,
];

/// Whether validation accepts a required column of this kind (README: a column of
/// a type that cannot hold its values rejects the file).
fn accepts(column: &str, kind: Kind) -> bool {
    use Kind::*;
    match column {
        "time" => matches!(kind, Str | DatetimeNs | DatetimeUs | DatetimeMsUtc | Null),
        "value" | "robot_id" | "run_uuid" => matches!(kind, Str | I64 | U64 | F64 | I32 | Null),
        _ => matches!(kind, Str | Null),
    }
}

/// Text a string column may hold, valid or not for any of the six columns.
const TEXT: [&str; 16] = [
    "2022-11-23T20:40:17.63Z",
    "2022-11-23T20:40:18Z",
    "2022-11-23 20:40:19.000000001+01:00",
    "x",
    "fy",
    "encoder",
    "load_cell",
    "1",
    "2",
    "12405186538561671661",
    "-4",
    "NaN",
    "1e308",
    "",
    "日本語",
    "yesterday",
];

/// A column of `kind` from raw entropy: mostly plausible values, sometimes extremes.
fn make_column(name: &str, kind: Kind, raw: &[Option<u64>]) -> Column {
    let name: PlSmallStr = name.into();
    let plausible = |r: u64| !r.is_multiple_of(4);
    let int = |r: u64| -> i64 {
        if plausible(r) {
            ((r >> 2) % 3) as i64
        } else {
            r as i64
        }
    };
    let nanos = |r: u64| -> i64 {
        if plausible(r) {
            T0 + ((r >> 2) % 500) as i64 * 12_000_000
        } else {
            r as i64
        }
    };
    match kind {
        Kind::Str => Column::new(
            name,
            raw.iter()
                .map(|r| r.map(|r| TEXT[(r % TEXT.len() as u64) as usize]))
                .collect::<Vec<_>>(),
        ),
        Kind::I64 => Column::new(name, raw.iter().map(|r| r.map(int)).collect::<Vec<_>>()),
        Kind::U64 => Column::new(
            name,
            raw.iter()
                .map(|r| r.map(|r| if plausible(r) { (r >> 2) % 3 } else { r }))
                .collect::<Vec<_>>(),
        ),
        Kind::I32 => Column::new(
            name,
            raw.iter()
                .map(|r| r.map(|r| int(r) as i32))
                .collect::<Vec<_>>(),
        ),
        Kind::F64 => Column::new(
            name,
            raw.iter()
                .map(|r| {
                    r.map(|r| {
                        if plausible(r) {
                            ((r >> 2) % 3) as f64
                        } else {
                            f64::from_bits(r)
                        }
                    })
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Bool => Column::new(
            name,
            raw.iter()
                .map(|r| r.map(|r| r % 2 == 0))
                .collect::<Vec<_>>(),
        ),
        Kind::DatetimeNs | Kind::DatetimeUs | Kind::DatetimeMsUtc => {
            let (unit, per, tz) = match kind {
                Kind::DatetimeNs => (TimeUnit::Nanoseconds, 1, None),
                Kind::DatetimeUs => (TimeUnit::Microseconds, 1_000, None),
                _ => (TimeUnit::Milliseconds, 1_000_000, Some(TimeZone::UTC)),
            };
            Int64Chunked::from_iter_options(
                name,
                raw.iter().map(|r| {
                    r.map(|r| {
                        if plausible(r) {
                            nanos(r) / per
                        } else {
                            nanos(r)
                        }
                    })
                }),
            )
            .into_datetime(unit, tz)
            .into_column()
        }
        Kind::Null => Column::full_null(name, raw.len(), &DataType::Null),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn parquet_columns_of_any_type_never_panic_and_account_for_every_row(
        kinds in prop::collection::vec(prop::sample::select(KINDS.to_vec()), 6),
        raw in prop::collection::vec(
            prop::collection::vec(prop::option::weighted(0.9, any::<u64>()), 6),
            0..40,
        ),
        extra in any::<bool>(),
    ) {
        let mut columns: Vec<Column> = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let cells: Vec<Option<u64>> = raw.iter().map(|row| row[i]).collect();
                make_column(name, kinds[i], &cells)
            })
            .collect();
        if extra {
            columns.insert(0, Column::new("cell_id".into(), vec![true; raw.len()]));
        }
        let mut df = DataFrame::new(raw.len(), columns).unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes).finish(&mut df).unwrap();

        let path = Path::new("typed.parquet");
        let loaded = load_log(path, &bytes);
        if raw.is_empty() {
            prop_assert!(loaded.is_err(), "no rows: rejected");
            return Ok(());
        }
        let log = loaded.map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let verdict = validate(path, &log).map(|v| split(v, Default::default()));
        let refused: Vec<&str> = COLUMNS
            .iter()
            .zip(&kinds)
            .filter(|(c, k)| !accepts(c, **k))
            .map(|(c, _)| *c)
            .collect();
        match verdict {
            Ok(v) => {
                prop_assert!(refused.is_empty(), "accepted {:?} of {:?}", refused, kinds);
                check_accounting(&v, raw.len())?;
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(
                    refused.iter().any(|c| msg.contains(&format!("column `{c}`"))),
                    "{} ({:?})",
                    msg,
                    kinds
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// (d) The whole pipeline on random readings
// ---------------------------------------------------------------------------------

/// A reading: run (one of a few, one above 2^63), robot, field, ms offset, value.
fn reading() -> impl Strategy<Value = (u64, u8, usize, i64, f64)> {
    (
        prop::sample::select(vec![0u64, 7, 12_405_186_538_561_671_661]),
        1u8..=2,
        0usize..6,
        0i64..3_000,
        -1e4f64..1e4,
    )
}

proptest! {
    #![proptest_config(config(48))]

    /// Random readings in plausible ranges (times within a few seconds, values within
    /// ±1e4, duplicates, gaps, single readings): the harvest succeeds, accounts for
    /// every row, writes one table per run, and every statistic is finite or null.
    #[test]
    fn the_pipeline_harvests_any_plausible_readings(
        readings in prop::collection::vec(reading(), 1..150),
        hold in any::<bool>(),
        max_gap_ms in prop::option::of(1i64..2_000),
    ) {
        use harvester::model::options::{Alignment, MaxGap};
        use harvester::pipeline::align::AlignOptions;
        use harvester::model::labels::Labels;
        use harvester::pipeline::{harvest, HarvestOptions};
        use harvester::storage::SourceFile;

        const FIELDS: [&str; 6] = ["x", "y", "z", "fx", "fy", "fz"];
        let mut csv = format!("{}\n", COLUMNS.join(","));
        for (run, robot, f, ms, value) in &readings {
            let time = chrono::DateTime::from_timestamp_nanos(T0 + ms * 1_000_000)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ");
            let sensor = if *f < 3 { "encoder" } else { "load_cell" };
            csv.push_str(&format!("{time},{value},{},{robot},{run},{sensor}\n", FIELDS[*f]));
        }
        let out = tempfile::tempdir().unwrap();
        let bytes = csv.into_bytes();
        let source = SourceFile {
            path: out.path().join("random.csv"),
            content_hash: blake3::hash(&bytes).to_hex().to_string(),
            bytes,
            modified: None,
            identity: None,
            read_seconds: 0.0,
            fetched: false,
        };
        let options = HarvestOptions {
            out_root: out.path().join("out"),
            align: AlignOptions {
                alignment: if hold { Alignment::Hold } else { Alignment::Interpolate },
                max_gap: max_gap_ms.map_or(MaxGap::Auto, |ms| MaxGap::Fixed(ms * 1_000_000)),
            },
            compression: Default::default(),
            encoding: Default::default(),
            keep_spikes: false,
        };
        let done = harvest(&source, &options, None, &Labels::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rows = &done.report.rows;
        prop_assert_eq!(rows.read, readings.len() as u64);
        prop_assert_eq!(rows.read, rows.kept + rows.dropped_total());
        let dropped: u64 = rows.dropped_total();
        prop_assert_eq!(
            dropped,
            rows.dropped.get(&DropReason::DuplicateIdentical).copied().unwrap_or(0)
                + rows.dropped.get(&DropReason::DuplicateConflicting).copied().unwrap_or(0)
                + rows.dropped.get(&DropReason::Spike).copied().unwrap_or(0),
            "only duplicates and spikes are dropped: {:?}", rows
        );
        prop_assert_eq!(
            rows.dropped.get(&DropReason::Spike).copied().unwrap_or(0),
            done.report.spikes.len() as u64
        );
        let runs: std::collections::BTreeSet<u64> = readings.iter().map(|r| r.0).collect();
        // Each run's table waits in the dataset's pending folder for the catalog.
        let pending = options.out_root.join("dataset/.pending").join(&source.content_hash);
        for run in &runs {
            let suffix = format!("-{run}.parquet");
            let table = done.dataset_files.iter().find(|f| f.starts_with("samples/") && f.ends_with(&suffix));
            prop_assert!(table.is_some_and(|t| pending.join(t).exists()), "run {} in {:?}", run, done.dataset_files);
        }
        for s in &done.stats {
            prop_assert!(s.runtime_s >= 0.0 && s.runtime_s.is_finite());
            prop_assert!(s.distance_mm.is_none_or(|d| d.is_finite() && d >= 0.0));
            for q in [s.speed_mm_s, s.accel_mm_s2, s.force_n].into_iter().flatten() {
                prop_assert!(
                    q.min.is_finite() && q.mean.is_finite() && q.max.is_finite()
                        && q.min <= q.mean + 1e-9 * q.mean.abs() && q.mean <= q.max + 1e-9 * q.max.abs(),
                    "{:?}", q
                );
            }
        }
        // The report is valid JSON that reads back as a report.
        let json = std::fs::read(done.output_dir.join("report.json")).unwrap();
        let back: harvester::model::report::Report = serde_json::from_slice(&json)
            .map_err(|e| TestCaseError::fail(format!("report.json does not read back: {e}")))?;
        prop_assert_eq!(&back.rows, rows);
    }
}
