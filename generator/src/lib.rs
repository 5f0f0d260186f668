//! Synthetic robot machine logs in the long format (one reading per row).
//!
//! The harvester has to survive what real files look like, and the real files are
//! third-party data that the project must not ship or depend on. This crate makes
//! logs with the same shape and the same traps (the README's Validation and
//! Alignment sections describe them): every robot/sensor pair on its own jittered
//! clock, timestamps that drop the trailing zeros of their fraction (whole seconds
//! have no fraction at all), run ids above 2^63 or stored as lossy `f64`, runs with
//! missing or partial channels, rows grouped rather than sorted by time. Optionally
//! it injects bad rows, one problem per row, and says exactly how many of each it
//! injected, so tests can check a reader's drop counts to the row.
//!
//! Output is a pure function of [`GeneratorConfig`]: the same config gives the same
//! frame, so benchmark inputs and test fixtures can be regenerated instead of stored.
//!
//! It is a crate of its own, beside the harvester rather than inside it, because
//! nothing that harvests needs it: the harvester library and its binaries build
//! without it (and without `rand`), while the integration tests, `make sample` and
//! the benchmarks use it. Column names, fields, sensors and drop reasons come from
//! the harvester's own model, so the logs it writes and the reader that checks them
//! cannot drift apart.
//!
//! The modules follow the order of [`generate`]: `layout` (the runs and their
//! channels), `readings` (the valid data), `inject` (the bad rows), `frame` (both
//! merged into columns), then `write` ([`write_parquet`], [`write_csv`]).

use std::collections::BTreeMap;

use harvester::model::readings::DropReason;
use polars::prelude::DataFrame;
use rand::rngs::SmallRng;
use rand::SeedableRng;

mod frame;
mod inject;
mod layout;
mod readings;
mod write;

pub use write::{write_csv, write_parquet, GeneratorError};

/// Row count of the larger production sample; `generate-log` defaults to it so that
/// the default output is the "1x" benchmark input.
pub const DEFAULT_ROWS: usize = 1_546_591;

/// The fewest valid data rows a generated log has (a smaller non-zero `rows` is
/// rounded up to about this).
pub fn min_rows(cadence: Cadence) -> usize {
    layout::min_rows(cadence)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of the only random source; same config, same frame.
    pub seed: u64,
    /// Approximate number of valid data rows (injected bad rows come on top). Run
    /// durations scale with it and the run layout stays the same. Very small values
    /// are rounded up so that every run keeps at least a second of readings and every
    /// partial channel a few hundred; 0 gives an empty frame with the full schema.
    pub rows: usize,
    /// How the `run_uuid` column is stored.
    pub run_uuid_type: RunUuidType,
    /// Inject bad rows (counted in [`GeneratedLog::injected`]) at random positions.
    pub quirks: bool,
    /// How often the clocks read.
    pub cadence: Cadence,
}

/// How often each robot/sensor clock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Cadence {
    /// Encoders every 12 ms, load cells every 10 ms, like the larger production sample.
    #[default]
    Fast,
    /// Every clock every 1.667 s along ten times slower curves, like the public small
    /// sample.
    Slow,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rows: DEFAULT_ROWS,
            run_uuid_type: RunUuidType::Float64,
            quirks: false,
            cadence: Cadence::Fast,
        }
    }
}

/// The physical type of the `run_uuid` column; all four occur in the wild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum RunUuidType {
    /// Exact; some ids are above 2^63.
    #[value(name = "uint64")]
    UInt64,
    /// Lossy, like the larger production sample: the key is the integer value of the
    /// stored `f64`, not the original id.
    #[value(name = "float64")]
    Float64,
    /// Exact; ids are kept below 2^63 so that they fit.
    #[value(name = "int64")]
    Int64,
    /// Decimal strings, as a CSV reader without a schema sees them; some ids are
    /// above 2^63.
    #[value(name = "string")]
    String,
}

/// A generated log and the facts a test needs to check a reader against it.
#[derive(Debug, Clone)]
pub struct GeneratedLog {
    /// Columns `time, value, field, cell_id, robot_id, run_uuid, sensor_type`.
    pub frame: DataFrame,
    /// Number of injected bad rows per reason a reader should give for dropping
    /// them; empty without quirks. Each kind the generator injects is present (5 to
    /// 20 rows each): every reason but [`DropReason::ValueUnparsable`] (values are
    /// always numbers) and [`DropReason::Spike`] (signals are smooth), and
    /// [`DropReason::RunUuidInvalid`] only for
    /// [`RunUuidType::String`]. Duplicates count the extra rows, not the original.
    pub injected: BTreeMap<DropReason, usize>,
    /// The runs, in the order their rows appear.
    pub runs: Vec<GeneratedRun>,
}

impl GeneratedLog {
    /// Total number of injected bad rows.
    pub fn injected_total(&self) -> usize {
        self.injected.values().sum()
    }

    /// Number of valid data rows: what a correct reader keeps.
    pub fn data_rows(&self) -> usize {
        self.frame.height() - self.injected_total()
    }
}

/// One run as a correct reader should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRun {
    /// The key a reader must use: the id as stored, and for [`RunUuidType::Float64`]
    /// the exact integer value of the stored `f64` (which differs from the drawn id).
    pub run_uuid: u64,
    /// Time of the run's first valid reading, ns since the Unix epoch.
    pub start_ns: i64,
    /// Time of the run's last valid reading (inclusive), ns since the Unix epoch.
    pub stop_ns: i64,
    /// (robot, field name) of every channel with readings, in row order (sensor,
    /// robot, field).
    pub channels: Vec<(u8, &'static str)>,
}

/// Makes a log. Valid data is drawn first and bad rows after, from the same random
/// stream, so a config with `quirks` has exactly the valid rows of the same config
/// without.
pub fn generate(config: &GeneratorConfig) -> GeneratedLog {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let ids = readings::draw_run_ids(&mut rng, config.run_uuid_type);
    let keys = ids.map(|id| match config.run_uuid_type {
        RunUuidType::Float64 => id as f64 as u64,
        _ => id,
    });
    let (readings, channels, runs) =
        readings::draw_readings(&mut rng, config.rows, config.cadence, &keys);
    let (injections, injected) = if config.quirks && !readings.time_ms.is_empty() {
        inject::plan_injections(&mut rng, &readings, config.run_uuid_type)
    } else {
        (Vec::new(), BTreeMap::new())
    };
    let frame = frame::build_frame(
        &readings,
        &channels,
        &ids,
        config.run_uuid_type,
        &injections,
    );
    GeneratedLog {
        frame,
        injected,
        runs,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::fs::File;

    use harvester::model::schema::{
        Field, FIELD, ROBOTS, ROBOT_ID, RUN_UUID, SENSOR_TYPE, TIME, VALUE,
    };
    use polars::prelude::{AnyValue, DataType, ParquetReader, SerReader};

    use super::*;
    use crate::inject::BAD_TIMES;
    use crate::write::write_csv_to;

    const ENCODERS: [(u8, &str); 6] = [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")];
    const LOAD_CELLS: [(u8, &str); 6] = [
        (1, "fx"),
        (1, "fy"),
        (1, "fz"),
        (2, "fx"),
        (2, "fy"),
        (2, "fz"),
    ];

    fn config(rows: usize, ty: RunUuidType, quirks: bool) -> GeneratorConfig {
        GeneratorConfig {
            seed: 7,
            rows,
            run_uuid_type: ty,
            quirks,
            ..Default::default()
        }
    }

    fn csv_bytes(frame: &DataFrame) -> Vec<u8> {
        let mut out = Vec::new();
        write_csv_to(frame, &mut out).unwrap();
        out
    }

    fn strs(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
        let column = frame.column(name).unwrap().str().unwrap();
        column.iter().map(|s| s.map(str::to_owned)).collect()
    }

    /// run_uuid of every row as a key (None when null or not a u64).
    fn run_keys(frame: &DataFrame) -> Vec<Option<u64>> {
        let column = frame.column(RUN_UUID).unwrap();
        (0..frame.height())
            .map(|i| match column.get(i).unwrap() {
                AnyValue::UInt64(v) => Some(v),
                AnyValue::Int64(v) => u64::try_from(v).ok(),
                AnyValue::Float64(v) => Some(v as u64),
                AnyValue::String(s) => s.parse().ok(),
                AnyValue::StringOwned(s) => s.parse().ok(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn same_config_gives_identical_frames() {
        let cfg = config(20_000, RunUuidType::String, true);
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(csv_bytes(&a.frame), csv_bytes(&b.frame));
        assert_eq!(a.injected, b.injected);
        assert_eq!(a.runs, b.runs);
        let other = generate(&GeneratorConfig { seed: 8, ..cfg });
        assert_ne!(csv_bytes(&a.frame), csv_bytes(&other.frame));
    }

    #[test]
    fn columns_have_the_documented_names_and_types() {
        for (ty, dtype) in [
            (RunUuidType::UInt64, DataType::UInt64),
            (RunUuidType::Float64, DataType::Float64),
            (RunUuidType::Int64, DataType::Int64),
            (RunUuidType::String, DataType::String),
        ] {
            let frame = generate(&config(5_000, ty, false)).frame;
            let schema: Vec<(String, DataType)> = frame
                .columns()
                .iter()
                .map(|c| (c.name().to_string(), c.dtype().clone()))
                .collect();
            let expected = [
                ("time", DataType::String),
                ("value", DataType::Float64),
                ("field", DataType::String),
                ("cell_id", DataType::Int64),
                ("robot_id", DataType::Int64),
                ("run_uuid", dtype),
                ("sensor_type", DataType::String),
            ];
            let expected: Vec<(String, DataType)> = expected
                .into_iter()
                .map(|(n, t)| (n.to_owned(), t))
                .collect();
            assert_eq!(schema, expected);
        }
    }

    #[test]
    fn quirks_add_exactly_the_counted_rows() {
        for ty in [RunUuidType::UInt64, RunUuidType::String] {
            let clean = generate(&config(20_000, ty, false));
            let dirty = generate(&config(20_000, ty, true));
            assert!(clean.injected.is_empty());
            assert_eq!(clean.data_rows(), clean.frame.height());
            assert_eq!(
                dirty.frame.height(),
                clean.frame.height() + dirty.injected_total()
            );
            assert_eq!(dirty.data_rows(), clean.frame.height());
            assert_eq!(dirty.runs, clean.runs);
            let not_injected = |r: &DropReason| {
                *r == DropReason::ValueUnparsable
                    || *r == DropReason::Spike
                    || (*r == DropReason::RunUuidInvalid && ty != RunUuidType::String)
            };
            let keys: Vec<DropReason> = DropReason::ALL
                .into_iter()
                .filter(|r| !not_injected(r))
                .collect();
            assert_eq!(dirty.injected.keys().copied().collect::<Vec<_>>(), keys);
            assert!(dirty.injected.values().all(|&n| (5..=20).contains(&n)));
        }
    }

    /// Classifies every row the way a careful reader would and checks the counts
    /// against `injected`, so each bad row has exactly one problem.
    #[test]
    fn each_injected_row_has_exactly_its_one_problem() {
        let log = generate(&config(20_000, RunUuidType::String, true));
        let frame = &log.frame;
        let times = strs(frame, TIME);
        let fields = strs(frame, FIELD);
        let sensors = strs(frame, SENSOR_TYPE);
        let raw_runs = strs(frame, RUN_UUID);
        let runs = run_keys(frame);
        let values: Vec<Option<f64>> = frame.column(VALUE).unwrap().f64().unwrap().iter().collect();
        let robots: Vec<Option<i64>> = frame
            .column(ROBOT_ID)
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect();

        let mut counts: BTreeMap<DropReason, usize> = BTreeMap::new();
        let mut seen: HashMap<(u64, i64, String, String), Vec<f64>> = HashMap::new();
        for i in 0..frame.height() {
            let mut problems = Vec::new();
            match &times[i] {
                None => problems.push(DropReason::TimeNull),
                Some(t) if !BAD_TIMES.contains(&t.as_str()) => {}
                Some(_) => problems.push(DropReason::TimeUnparsable),
            }
            match values[i] {
                None => problems.push(DropReason::ValueNull),
                Some(v) if !v.is_finite() => problems.push(DropReason::ValueNotFinite),
                Some(_) => {}
            }
            let field = fields[i].clone().unwrap();
            let known = Field::parse(&field);
            if known.is_none() {
                problems.push(DropReason::FieldUnknown);
            }
            if !ROBOTS.iter().any(|&r| robots[i] == Some(i64::from(r))) {
                problems.push(DropReason::RobotIdInvalid);
            }
            if let Some(f) = known {
                if sensors[i].as_deref() != Some(f.sensor().name()) {
                    problems.push(DropReason::SensorMismatch);
                }
            }
            match (&raw_runs[i], runs[i]) {
                (None, _) => problems.push(DropReason::RunUuidNull),
                (Some(_), None) => problems.push(DropReason::RunUuidInvalid),
                (Some(_), Some(_)) => {}
            }
            assert!(problems.len() <= 1, "row {i} has {problems:?}");
            if let Some(&p) = problems.first() {
                *counts.entry(p).or_default() += 1;
            } else {
                let key = (
                    runs[i].unwrap(),
                    robots[i].unwrap(),
                    field,
                    times[i].clone().unwrap(),
                );
                seen.entry(key).or_default().push(values[i].unwrap());
            }
        }
        for values in seen.values() {
            let first = values[0];
            for &v in &values[1..] {
                let reason = if v == first {
                    DropReason::DuplicateIdentical
                } else {
                    DropReason::DuplicateConflicting
                };
                *counts.entry(reason).or_default() += 1;
            }
        }
        assert_eq!(counts, log.injected);
    }

    #[test]
    fn timestamps_look_like_the_production_files() {
        let frame = generate(&config(20_000, RunUuidType::Float64, false)).frame;
        let times: Vec<String> = strs(&frame, TIME).into_iter().map(Option::unwrap).collect();
        let mut whole = 0;
        let mut lengths = BTreeSet::new();
        for t in &times {
            assert!(t.ends_with('Z') && t.starts_with("2022-11-23T"), "{t}");
            lengths.insert(t.len());
            match t.split_once('.') {
                None => {
                    assert_eq!(t.len(), 20, "{t}");
                    whole += 1;
                }
                Some((_, frac)) => {
                    let digits = frac.strip_suffix('Z').unwrap();
                    assert!(
                        (1..=3).contains(&digits.len()) && !digits.ends_with('0'),
                        "{t}"
                    );
                }
            }
        }
        assert!(whole >= 20, "only {whole} whole-second timestamps");
        // 20 (whole second), 22, 23 and 24 characters all occur.
        assert_eq!(lengths, BTreeSet::from([20, 22, 23, 24]));
    }

    #[test]
    fn run_ids_exceed_i64_and_survive_as_keys() {
        let log = generate(&config(20_000, RunUuidType::UInt64, false));
        assert!(log.runs.iter().any(|r| r.run_uuid > 1 << 63));
        let in_frame: BTreeSet<u64> = run_keys(&log.frame)
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let reported: BTreeSet<u64> = log.runs.iter().map(|r| r.run_uuid).collect();
        assert_eq!(in_frame, reported);
        assert_eq!(reported.len(), 4);

        let log = generate(&config(20_000, RunUuidType::Int64, false));
        assert!(log.runs.iter().all(|r| r.run_uuid < 1 << 63));
    }

    #[test]
    fn float64_keys_are_the_stored_values() {
        let log = generate(&config(20_000, RunUuidType::Float64, false));
        let stored: BTreeSet<u64> = log
            .frame
            .column(RUN_UUID)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(|v| v.unwrap() as u64)
            .collect();
        let reported: BTreeSet<u64> = log.runs.iter().map(|r| r.run_uuid).collect();
        assert_eq!(stored, reported);
        assert_eq!(reported.len(), 4);
        // The same seed with exact storage shows the ids the f64s rounded.
        let exact = generate(&config(20_000, RunUuidType::UInt64, false));
        for (lossy, exact) in log.runs.iter().zip(&exact.runs) {
            assert_eq!(lossy.run_uuid, exact.run_uuid as f64 as u64);
        }
    }

    #[test]
    fn run_layout_matches_the_production_sample() {
        let log = generate(&config(20_000, RunUuidType::UInt64, false));
        let frame = &log.frame;
        let keys = run_keys(frame);
        let fields = strs(frame, FIELD);
        let robots: Vec<i64> = frame
            .column(ROBOT_ID)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let mut found: HashMap<u64, BTreeMap<(u8, String), usize>> = HashMap::new();
        for i in 0..frame.height() {
            *found
                .entry(keys[i].unwrap())
                .or_default()
                .entry((robots[i] as u8, fields[i].clone().unwrap()))
                .or_default() += 1;
        }
        let set = |chs: &[(u8, &str)]| -> BTreeSet<(u8, String)> {
            chs.iter().map(|&(r, f)| (r, f.to_owned())).collect()
        };
        let all: Vec<(u8, &str)> = ENCODERS.iter().chain(&LOAD_CELLS).copied().collect();
        let mut d: Vec<(u8, &str)> = all.clone();
        d.retain(|&c| c != (2, "z"));
        let expected = [
            set(&all),
            set(&ENCODERS),
            set(&[&ENCODERS[..], &[(1, "fx")]].concat()),
            set(&d),
        ];
        assert_eq!(log.runs.len(), 4);
        for (run, expected) in log.runs.iter().zip(&expected) {
            let counts = &found[&run.run_uuid];
            assert_eq!(&counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
            assert_eq!(&set(&run.channels), expected);
            assert!(counts.values().all(|&n| n >= 300), "{counts:?}");
        }
        // Partial channels: fx of robot 1 in C and y of robot 2 in D.
        let d_counts = &found[&log.runs[3].run_uuid];
        let x2 = d_counts[&(2, "x".to_owned())] as f64;
        let y2 = d_counts[&(2, "y".to_owned())] as f64;
        assert!(y2 < 0.6 * x2, "y2 {y2} x2 {x2}");
        let c_counts = &found[&log.runs[2].run_uuid];
        assert!(c_counts[&(1, "fx".to_owned())] < c_counts[&(1, "x".to_owned())]);
        // Runs overlap but do not coincide.
        for pair in log.runs.windows(2) {
            assert!(pair[0].start_ns < pair[1].start_ns && pair[1].start_ns < pair[0].stop_ns);
        }
    }

    #[test]
    fn row_count_follows_the_target() {
        for rows in [20_000, 200_000] {
            let log = generate(&config(rows, RunUuidType::Float64, false));
            let got = log.frame.height() as f64;
            assert!((got / rows as f64 - 1.0).abs() < 0.01, "{rows} -> {got}");
        }
        let empty = generate(&config(0, RunUuidType::Float64, true));
        assert_eq!(empty.frame.height(), 0);
        assert_eq!(empty.frame.width(), 7);
        assert!(empty.runs.is_empty() && empty.injected.is_empty());
    }

    #[test]
    fn clocks_have_their_cadence_and_do_not_line_up() {
        let frame = generate(&config(20_000, RunUuidType::Float64, false)).frame;
        let times: Vec<String> = strs(&frame, TIME).into_iter().map(Option::unwrap).collect();
        let fields = strs(&frame, FIELD);
        let parse = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_millis()
        };
        // The first run's x and fx of robot 1 are the first rows of their groups.
        let series = |name: &str| -> Vec<i64> {
            let start = fields
                .iter()
                .position(|f| f.as_deref() == Some(name))
                .unwrap();
            let end = start
                + fields[start..]
                    .iter()
                    .position(|f| f.as_deref() != Some(name))
                    .unwrap();
            times[start..end].iter().map(|t| parse(t)).collect()
        };
        let x = series("x");
        let fx = series("fx");
        let gaps = |s: &[i64]| s.windows(2).map(|w| w[1] - w[0]).collect::<BTreeSet<_>>();
        assert!(
            gaps(&x).iter().all(|g| (10..=14).contains(g)),
            "{:?}",
            gaps(&x)
        );
        assert!(
            gaps(&fx).iter().all(|g| (8..=12).contains(g)),
            "{:?}",
            gaps(&fx)
        );
        let x: BTreeSet<i64> = x.into_iter().collect();
        let shared = fx.iter().filter(|t| x.contains(t)).count();
        assert!(shared * 5 < fx.len(), "{shared} of {} shared", fx.len());
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = generate(&config(5_000, RunUuidType::UInt64, true));

        let parquet = dir.path().join("log.parquet");
        write_parquet(&mut log.frame, &parquet).unwrap();
        let back = ParquetReader::new(File::open(&parquet).unwrap())
            .finish()
            .unwrap();
        assert_eq!(back.schema(), log.frame.schema());
        assert_eq!(csv_bytes(&back), csv_bytes(&log.frame));

        let csv = dir.path().join("log.csv");
        write_csv(&mut log.frame, &csv).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(",time,value,field,cell_id,robot_id,run_uuid,sensor_type")
        );
        assert!(lines.next().unwrap().starts_with("0,"));
        assert_eq!(text.lines().count(), log.frame.height() + 1);

        let missing = dir.path().join("no/such/dir/log.csv");
        let err = write_csv(&mut log.frame, &missing).unwrap_err();
        assert!(matches!(err, GeneratorError::Io { .. }), "{err}");
    }
}
