//! Synthetic robot machine logs in the long format (one reading per row).
//!
//! The harvester has to survive what real files look like, and the real files are
//! third-party data that the project must not ship or depend on. This module makes
//! logs with the same shape and the same traps (see `LOG_FORMAT.md`): every
//! robot/sensor pair on its own jittered clock, timestamps that drop the trailing zeros
//! of their fraction (whole seconds have no fraction at all), run ids above 2^63 or
//! stored as lossy `f64`, runs with missing or partial channels, rows grouped rather
//! than sorted by time. Optionally it injects bad rows, one problem per row, and says
//! exactly how many of each it injected, so tests can check a reader's drop counts
//! to the row.
//!
//! Output is a pure function of [`GeneratorConfig`]: the same config gives the same
//! frame, so benchmark inputs and test fixtures can be regenerated instead of stored.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::{
    Column, CsvWriter, DataFrame, IntoColumn, ParquetWriter, PlSmallStr, PolarsError, SerWriter,
    StringChunkedBuilder,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Row count of the larger production sample; `generate-log` defaults to it so that
/// the default output is the "1x" benchmark input.
pub const DEFAULT_ROWS: usize = 1_546_591;

/// The keys of [`GeneratedLog::injected`]: one per kind of bad row, named after the
/// reason a reader should give for dropping it.
pub mod reason {
    /// `time` is null.
    pub const TIME_NULL: &str = "time_null";
    /// `time` is a string that is not a valid ISO 8601 UTC instant.
    pub const TIME_UNPARSABLE: &str = "time_unparsable";
    /// `value` is null.
    pub const VALUE_NULL: &str = "value_null";
    /// `value` is NaN, +inf or -inf.
    pub const VALUE_NOT_FINITE: &str = "value_not_finite";
    /// `field` is not one of x, y, z, fx, fy, fz.
    pub const FIELD_UNKNOWN: &str = "field_unknown";
    /// `robot_id` is not 1 or 2.
    pub const ROBOT_ID_INVALID: &str = "robot_id_invalid";
    /// `sensor_type` does not match `field` (a force from an encoder, a position from a
    /// load cell).
    pub const SENSOR_MISMATCH: &str = "sensor_mismatch";
    /// `run_uuid` is null.
    pub const RUN_UUID_NULL: &str = "run_uuid_null";
    /// `run_uuid` is a string that is not an unsigned 64-bit integer (string type only).
    pub const RUN_UUID_INVALID: &str = "run_uuid_invalid";
    /// An exact copy of a valid row; counts the extra copies, not the original.
    pub const DUPLICATE_IDENTICAL: &str = "duplicate_identical";
    /// Same run, robot, field and time as a valid row, different value; counts the
    /// extra rows, not the original.
    pub const DUPLICATE_CONFLICTING: &str = "duplicate_conflicting";
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
    /// Inject bad rows (see [`reason`]) at random positions.
    pub quirks: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rows: DEFAULT_ROWS,
            run_uuid_type: RunUuidType::Float64,
            quirks: false,
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
    /// Number of injected bad rows per drop reason (keys from [`reason`]); empty
    /// without quirks.
    pub injected: BTreeMap<&'static str, usize>,
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
    /// (robot, field) of every channel with readings, in row order (sensor, robot,
    /// field).
    pub channels: Vec<(u8, &'static str)>,
}

/// Why a generated log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The output file could not be created or written.
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Polars failed to encode the frame.
    #[error("cannot write {}", path.display())]
    Polars {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
}

/// Writes `frame` as Parquet (polars' default codec).
pub fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<(), GeneratorError> {
    let file = create(path)?;
    ParquetWriter::new(file)
        .finish(frame)
        .map_err(|source| polars_error(path, source))?;
    Ok(())
}

/// Writes `frame` as CSV the way pandas' `to_csv` does by default: a leading index
/// column `0..n` whose header cell is empty. Readers must tolerate that column, so the
/// sample files carry it.
pub fn write_csv(frame: &mut DataFrame, path: &Path) -> Result<(), GeneratorError> {
    let file = create(path)?;
    write_csv_to(frame, file).map_err(|source| polars_error(path, source))
}

fn write_csv_to<W: Write>(frame: &DataFrame, mut out: W) -> Result<(), PolarsError> {
    // Polars quotes an empty column name (`"",time,...`), which is not what pandas
    // writes, so the header is written here and polars writes only the rows.
    let mut header = String::new();
    for name in frame.get_column_names() {
        header.push(',');
        if name.contains([',', '"', '\n', '\r']) {
            header.push('"');
            header.push_str(&name.replace('"', "\"\""));
            header.push('"');
        } else {
            header.push_str(name);
        }
    }
    header.push('\n');
    out.write_all(header.as_bytes())?;
    // Cloning a frame only clones column handles, not the data.
    let mut with_index = frame.clone();
    let index: Vec<i64> = (0..frame.height() as i64).collect();
    with_index.insert_column(0, Column::new(PlSmallStr::EMPTY, index))?;
    CsvWriter::new(out)
        .include_header(false)
        .finish(&mut with_index)
}

fn create(path: &Path) -> Result<File, GeneratorError> {
    File::create(path).map_err(|source| GeneratorError::Io {
        path: path.to_owned(),
        source,
    })
}

fn polars_error(path: &Path, source: PolarsError) -> GeneratorError {
    match source {
        PolarsError::IO { error, .. } => GeneratorError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(error.kind(), error.to_string()),
        },
        source => GeneratorError::Polars {
            path: path.to_owned(),
            source,
        },
    }
}

// ---------------------------------------------------------------------------------
// Layout: what the larger production sample looks like, at the 1x size.

/// Field names, indexed by the field numbers used below (0..3 encoder, 3..6 load cell).
const FIELDS: [&str; 6] = ["x", "y", "z", "fx", "fy", "fz"];

/// 2022-11-23T20:40:00Z: the production sample's day, so dates look familiar.
const BASE_MS: i64 = days_from_civil(2022, 11, 23) * 86_400_000 + (20 * 3600 + 40 * 60) * 1000;

/// Partial channels keep at least this many readings at small sizes, so a test at
/// 20,000 rows still has a series worth differentiating.
const MIN_PARTIAL_READINGS: f64 = 300.0;

/// Runs keep at least this long at small sizes.
const MIN_RUN_MS: f64 = 1_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sensor {
    Encoder,
    LoadCell,
}

impl Sensor {
    fn of_field(field: usize) -> Self {
        if field < 3 {
            Sensor::Encoder
        } else {
            Sensor::LoadCell
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sensor::Encoder => "encoder",
            Sensor::LoadCell => "load_cell",
        }
    }

    fn other(self) -> Self {
        match self {
            Sensor::Encoder => Sensor::LoadCell,
            Sensor::LoadCell => Sensor::Encoder,
        }
    }

    /// Nominal sampling period in ms. Both are whole ms: the timestamps have ms
    /// precision, and a 12 ms grid aligned to 4 ms hits every third whole second, so
    /// fraction-less timestamps occur regularly.
    fn period_ms(self) -> i64 {
        match self {
            Sensor::Encoder => 12,
            Sensor::LoadCell => 10,
        }
    }
}

/// Which part of its run a field covers.
#[derive(Debug, Clone, Copy)]
enum Coverage {
    Full,
    /// From `start_frac` of the run, for `nominal_s` at the 1x size (scaled).
    Window {
        start_frac: f64,
        nominal_s: f64,
    },
    /// The first `frac` of the run.
    Leading {
        frac: f64,
    },
}

struct ClockLayout {
    sensor: Sensor,
    robot: u8,
    fields: &'static [(usize, Coverage)],
}

struct RunLayout {
    /// Start and duration in s at the 1x size; both scale with the row target.
    start_s: f64,
    duration_s: f64,
    /// In row order: sensor, then robot; fields in order inside each clock.
    clocks: &'static [ClockLayout],
}

const XYZ: &[(usize, Coverage)] = &[
    (0, Coverage::Full),
    (1, Coverage::Full),
    (2, Coverage::Full),
];
const FXYZ: &[(usize, Coverage)] = &[
    (3, Coverage::Full),
    (4, Coverage::Full),
    (5, Coverage::Full),
];

const fn clock(sensor: Sensor, robot: u8, fields: &'static [(usize, Coverage)]) -> ClockLayout {
    ClockLayout {
        sensor,
        robot,
        fields,
    }
}

/// The four runs of the production sample. It has 1,546,591 rows in 10 minutes; at
/// the fixed cadences that only fits if the runs overlap heavily, so they do (starts
/// staggered by tens of seconds, each lasting most of the window).
static LAYOUT: [RunLayout; 4] = [
    // A: the only run with all 12 channels.
    RunLayout {
        start_s: 0.0,
        duration_s: 500.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
            clock(Sensor::LoadCell, 1, FXYZ),
            clock(Sensor::LoadCell, 2, FXYZ),
        ],
    },
    // B: encoders only.
    RunLayout {
        start_s: 30.0,
        duration_s: 490.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
        ],
    },
    // C: encoders plus a single force channel, fx of robot 1, for 77.6 s.
    RunLayout {
        start_s: 60.0,
        duration_s: 500.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(Sensor::Encoder, 2, XYZ),
            clock(
                Sensor::LoadCell,
                1,
                &[(
                    3,
                    Coverage::Window {
                        start_frac: 0.3,
                        nominal_s: 77.6,
                    },
                )],
            ),
        ],
    },
    // D: no z of robot 2, y of robot 2 for the first third only.
    RunLayout {
        start_s: 85.0,
        duration_s: 515.0,
        clocks: &[
            clock(Sensor::Encoder, 1, XYZ),
            clock(
                Sensor::Encoder,
                2,
                &[
                    (0, Coverage::Full),
                    (1, Coverage::Leading { frac: 1.0 / 3.0 }),
                ],
            ),
            clock(Sensor::LoadCell, 1, FXYZ),
            clock(Sensor::LoadCell, 2, FXYZ),
        ],
    },
];

/// Run duration in ms at duration scale `scale`.
fn run_duration_ms(run: &RunLayout, scale: f64) -> f64 {
    (run.duration_s * 1000.0 * scale).max(MIN_RUN_MS)
}

/// (offset from run start, length) in ms of a field's coverage.
fn coverage_ms(coverage: Coverage, run_ms: f64, scale: f64, period_ms: f64) -> (f64, f64) {
    let floor = MIN_PARTIAL_READINGS * period_ms;
    match coverage {
        Coverage::Full => (0.0, run_ms),
        Coverage::Window {
            start_frac,
            nominal_s,
        } => {
            let len = (nominal_s * 1000.0 * scale)
                .max(floor)
                .min(run_ms * (1.0 - start_frac));
            (run_ms * start_frac, len)
        }
        Coverage::Leading { frac } => (0.0, (run_ms * frac).max(floor).min(run_ms)),
    }
}

/// Expected number of readings of the whole layout at duration scale `scale`.
fn expected_rows(scale: f64) -> f64 {
    let mut rows = 0.0;
    for run in &LAYOUT {
        let run_ms = run_duration_ms(run, scale);
        for clock in run.clocks {
            let period = clock.sensor.period_ms() as f64;
            for &(_, coverage) in clock.fields {
                rows += coverage_ms(coverage, run_ms, scale, period).1 / period;
            }
        }
    }
    rows
}

/// The duration scale whose expected row count is `rows` (as near as the floors
/// allow). Rows are nearly linear in the scale, so a few fixed-point steps converge.
fn duration_scale(rows: usize) -> f64 {
    let target = rows as f64;
    let mut scale = target / expected_rows(1.0);
    for _ in 0..50 {
        let expected = expected_rows(scale);
        scale *= target / expected;
        if (expected - target).abs() < 0.5 {
            break;
        }
    }
    scale.max(1e-9)
}

// ---------------------------------------------------------------------------------
// Generation.

/// The valid readings, column-wise, in row order.
#[derive(Default)]
struct Readings {
    time_ms: Vec<i64>,
    value: Vec<f64>,
    channel: Vec<u16>,
}

/// (run index, robot, field) of a channel.
#[derive(Debug, Clone, Copy)]
struct ChannelKey {
    run: usize,
    robot: u8,
    field: usize,
}

/// A smooth signal: offset plus three sinusoids, plus small Gaussian-ish noise.
struct Signal {
    offset: f64,
    /// (amplitude, angular frequency in rad/s, phase).
    components: [(f64, f64, f64); 3],
    noise_sd: f64,
}

impl Signal {
    fn for_field(rng: &mut SmallRng, field: usize) -> Self {
        use std::f64::consts::TAU;
        let (offset, amp, freq_hz, noise_sd) = match field {
            // Positions in mm, a few hundred mm of travel.
            0 => (rng.gen_range(600.0..900.0), 20.0..150.0, 0.02..0.25, 0.02),
            1 => (rng.gen_range(-250.0..250.0), 20.0..150.0, 0.02..0.25, 0.02),
            2 => (rng.gen_range(150.0..450.0), 20.0..150.0, 0.02..0.25, 0.02),
            // Forces in N: fz presses, fx and fy push sideways.
            3 | 4 => (rng.gen_range(-40.0..40.0), 10.0..120.0, 0.05..1.5, 1.5),
            _ => (rng.gen_range(-350.0..-120.0), 10.0..120.0, 0.05..1.5, 1.5),
        };
        let mut components = [(0.0, 0.0, 0.0); 3];
        for c in &mut components {
            *c = (
                rng.gen_range(amp.clone()),
                TAU * rng.gen_range(freq_hz.clone()),
                rng.gen_range(0.0..TAU),
            );
        }
        if field < 3 {
            // Keep peak speed realistic (at most ~450 mm/s).
            let peak: f64 = components.iter().map(|(a, w, _)| a * w).sum();
            if peak > 450.0 {
                for c in &mut components {
                    c.0 *= 450.0 / peak;
                }
            }
        }
        Signal {
            offset,
            components,
            noise_sd,
        }
    }

    fn sample(&self, rng: &mut SmallRng, t_s: f64) -> f64 {
        let smooth: f64 = self
            .components
            .iter()
            .map(|(a, w, p)| a * (w * t_s + p).sin())
            .sum();
        // Four uniforms summed: cheap, close enough to normal for sensor noise.
        let u: f64 = rng.gen::<f64>() + rng.gen::<f64>() + rng.gen::<f64>() + rng.gen::<f64>();
        let noise = (u - 2.0) * 3f64.sqrt() * self.noise_sd;
        round4(self.offset + smooth + noise)
    }
}

/// Four decimals, like the production files.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// Timestamps (ms since epoch) of one robot/sensor clock over `[start_ms, stop_ms)`:
/// a fixed grid with non-accumulating jitter, so the clock never drifts.
fn clock_times(rng: &mut SmallRng, sensor: Sensor, start_ms: i64, stop_ms: i64) -> Vec<i64> {
    let period = sensor.period_ms();
    let origin = match sensor {
        // Aligned to 4 ms: with a 12 ms period every third whole second is hit.
        Sensor::Encoder => (start_ms + rng.gen_range(0..40) + 3) / 4 * 4,
        Sensor::LoadCell => start_ms + rng.gen_range(0..10),
    };
    let mut times = Vec::with_capacity(((stop_ms - origin).max(0) / period) as usize + 1);
    let mut nominal = origin;
    while nominal < stop_ms {
        let jitter = match sensor {
            // Small jitter: one sample in ten is 1 ms early or late.
            Sensor::Encoder => match rng.gen_range(0..20) {
                0 => -1,
                1 => 1,
                _ => 0,
            },
            Sensor::LoadCell => rng.gen_range(-1..=1),
        };
        times.push(nominal + jitter);
        nominal += period;
    }
    times
}

/// Draws the four run ids: distinct, one above 2^63 unless the type is Int64, all
/// large enough that an `f64` loses precision on them, and distinct as `f64` too.
fn draw_run_ids(rng: &mut SmallRng, ty: RunUuidType) -> [u64; 4] {
    const TOP: u64 = 1 << 63;
    const NEXT: u64 = 1 << 62;
    loop {
        let big = rng.gen_range(0..4);
        let mut ids = [0u64; 4];
        for (i, id) in ids.iter_mut().enumerate() {
            let raw: u64 = rng.gen();
            *id = if i == big && ty != RunUuidType::Int64 {
                // In [2^63, 2^63 + 2^62): above i64, far from u64::MAX so the f64
                // rounding cannot overflow.
                (raw | TOP) & !NEXT
            } else {
                // In [2^62, 2^63): fits i64, beyond f64's 53-bit mantissa.
                (raw & !TOP) | NEXT
            };
        }
        let distinct = (0..4)
            .all(|i| (i + 1..4).all(|j| ids[i] != ids[j] && (ids[i] as f64) != (ids[j] as f64)));
        if distinct {
            return ids;
        }
    }
}

/// Makes a log. Valid data is drawn first and bad rows after, from the same random
/// stream, so a config with `quirks` has exactly the valid rows of the same config
/// without.
pub fn generate(config: &GeneratorConfig) -> GeneratedLog {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let ids = draw_run_ids(&mut rng, config.run_uuid_type);
    let keys: Vec<u64> = ids
        .iter()
        .map(|&id| match config.run_uuid_type {
            RunUuidType::Float64 => id as f64 as u64,
            _ => id,
        })
        .collect();

    let mut readings = Readings::default();
    let mut channels: Vec<ChannelKey> = Vec::new();
    let mut runs = Vec::new();
    if config.rows > 0 {
        let scale = duration_scale(config.rows);
        readings.time_ms.reserve(config.rows + config.rows / 16);
        readings.value.reserve(config.rows + config.rows / 16);
        readings.channel.reserve(config.rows + config.rows / 16);
        for (run_index, layout) in LAYOUT.iter().enumerate() {
            let run_ms = run_duration_ms(layout, scale);
            let start_ms = BASE_MS + (layout.start_s * 1000.0 * scale).round() as i64;
            let stop_ms = start_ms + run_ms.round() as i64;
            let mut run = GeneratedRun {
                run_uuid: keys[run_index],
                start_ns: i64::MAX,
                stop_ns: i64::MIN,
                channels: Vec::new(),
            };
            for clock in layout.clocks {
                let times = clock_times(&mut rng, clock.sensor, start_ms, stop_ms);
                let period = clock.sensor.period_ms() as f64;
                for &(field, coverage) in clock.fields {
                    let (from, len) = coverage_ms(coverage, run_ms, scale, period);
                    let from_ms = start_ms + from.round() as i64;
                    let to_ms = from_ms + len.round() as i64;
                    let signal = Signal::for_field(&mut rng, field);
                    let channel = channels.len() as u16;
                    channels.push(ChannelKey {
                        run: run_index,
                        robot: clock.robot,
                        field,
                    });
                    run.channels.push((clock.robot, FIELDS[field]));
                    for &t in times.iter().filter(|&&t| t >= from_ms && t < to_ms) {
                        let t_s = (t - start_ms) as f64 / 1000.0;
                        readings.time_ms.push(t);
                        readings.value.push(signal.sample(&mut rng, t_s));
                        readings.channel.push(channel);
                        run.start_ns = run.start_ns.min(t * 1_000_000);
                        run.stop_ns = run.stop_ns.max(t * 1_000_000);
                    }
                }
            }
            runs.push(run);
        }
    }

    let (injections, injected) = if config.quirks && !readings.time_ms.is_empty() {
        plan_injections(&mut rng, &readings, config.run_uuid_type)
    } else {
        (Vec::new(), BTreeMap::new())
    };
    let frame = build_frame(
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

// ---------------------------------------------------------------------------------
// Bad rows.

/// The one thing wrong with an injected row.
#[derive(Debug, Clone, Copy)]
enum Defect {
    TimeNull,
    TimeText(&'static str),
    ValueNull,
    Value(f64),
    FieldUnknown(&'static str),
    RobotInvalid(i64),
    SensorMismatch,
    RunNull,
    RunText(&'static str),
    DuplicateIdentical,
    DuplicateConflicting(f64),
}

/// An injected row: a copy of valid reading `template` with one defect, inserted
/// before valid reading `position`.
struct Injection {
    position: usize,
    template: usize,
    defect: Defect,
}

/// Not valid instants. One is a calendar-invalid date that has the right shape, to
/// catch byte-level parsers that check only digits and ranges.
const BAD_TIMES: [&str; 4] = [
    "2022-13-45T99:00:00Z",
    "not a time",
    "2022-11-31T20:40:17.5Z",
    "2022-11-23T20:61:17Z",
];
const BAD_FIELDS: [&str; 3] = ["w", "fq", "xyz"];
const BAD_ROBOTS: [i64; 3] = [3, 0, -1];
const BAD_RUN_TEXTS: [&str; 3] = ["abc", "-5", "run-7"];
const NOT_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// Chooses 5 to 20 bad rows of each kind. Every bad row copies a different valid
/// reading, so duplicates of different kinds never share a key. Rows with a
/// single-row defect are moved 1 ms later: readings of one channel are at least 8 ms
/// apart, so the moved key matches no valid row, and the row has no problem but its
/// defect whichever order a reader checks things in.
fn plan_injections(
    rng: &mut SmallRng,
    readings: &Readings,
    ty: RunUuidType,
) -> (Vec<Injection>, BTreeMap<&'static str, usize>) {
    type Make = fn(usize) -> Defect;
    let mut kinds: Vec<(&'static str, Make)> = vec![
        (reason::TIME_NULL, |_| Defect::TimeNull),
        (reason::TIME_UNPARSABLE, |i| {
            Defect::TimeText(BAD_TIMES[i % BAD_TIMES.len()])
        }),
        (reason::VALUE_NULL, |_| Defect::ValueNull),
        (reason::VALUE_NOT_FINITE, |i| {
            Defect::Value(NOT_FINITE[i % NOT_FINITE.len()])
        }),
        (reason::FIELD_UNKNOWN, |i| {
            Defect::FieldUnknown(BAD_FIELDS[i % BAD_FIELDS.len()])
        }),
        (reason::ROBOT_ID_INVALID, |i| {
            Defect::RobotInvalid(BAD_ROBOTS[i % BAD_ROBOTS.len()])
        }),
        (reason::SENSOR_MISMATCH, |_| Defect::SensorMismatch),
        (reason::RUN_UUID_NULL, |_| Defect::RunNull),
    ];
    if ty == RunUuidType::String {
        kinds.push((reason::RUN_UUID_INVALID, |i| {
            Defect::RunText(BAD_RUN_TEXTS[i % BAD_RUN_TEXTS.len()])
        }));
    }

    let n = readings.time_ms.len();
    let counts: Vec<usize> = (0..kinds.len() + 2)
        .map(|_| rng.gen_range(5..=20))
        .collect();
    let wanted: usize = counts.iter().sum();
    let mut templates = rand::seq::index::sample(rng, n, wanted.min(n)).into_iter();

    let mut injections = Vec::new();
    let mut injected = BTreeMap::new();
    for (&(key, make), &count) in kinds.iter().zip(&counts) {
        let mut made = 0;
        for (i, template) in templates.by_ref().take(count).enumerate() {
            injections.push(Injection {
                position: rng.gen_range(0..=n),
                template,
                defect: make(i),
            });
            made += 1;
        }
        injected.insert(key, made);
    }
    // Duplicates: one or two extra rows per original, scattered through the file.
    let duplicate_counts = &counts[kinds.len()..];
    for (key, &count) in [reason::DUPLICATE_IDENTICAL, reason::DUPLICATE_CONFLICTING]
        .into_iter()
        .zip(duplicate_counts)
    {
        let mut made = 0;
        while made < count {
            let Some(template) = templates.next() else {
                break;
            };
            let copies = rng.gen_range(1..=2).min(count - made);
            for _ in 0..copies {
                let defect = if key == reason::DUPLICATE_IDENTICAL {
                    Defect::DuplicateIdentical
                } else {
                    let delta = rng.gen_range(0.5..5.0) * if rng.gen() { 1.0 } else { -1.0 };
                    Defect::DuplicateConflicting(round4(readings.value[template] + delta))
                };
                injections.push(Injection {
                    position: rng.gen_range(0..=n),
                    template,
                    defect,
                });
            }
            made += copies;
        }
        injected.insert(key, made);
    }
    injections.sort_by_key(|inj| inj.position);
    (injections, injected)
}

// ---------------------------------------------------------------------------------
// Frame building.

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
                StringChunkedBuilder::new("run_uuid".into(), capacity),
                ids.iter().map(u64::to_string).collect(),
            ),
        };
        Self {
            time: StringChunkedBuilder::new("time".into(), capacity),
            value: Vec::with_capacity(capacity),
            field: StringChunkedBuilder::new("field".into(), capacity),
            cell_id: Vec::with_capacity(capacity),
            robot_id: Vec::with_capacity(capacity),
            run_uuid,
            sensor_type: StringChunkedBuilder::new("sensor_type".into(), capacity),
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
            RunColumn::UInt64(v) => Column::new("run_uuid".into(), v),
            RunColumn::Float64(v) => Column::new("run_uuid".into(), v),
            RunColumn::Int64(v) => Column::new("run_uuid".into(), v),
            RunColumn::String(builder, _) => builder.finish().into_column(),
        };
        let columns = vec![
            self.time.finish().into_column(),
            Column::new("value".into(), self.value),
            self.field.finish().into_column(),
            Column::new("cell_id".into(), self.cell_id),
            Column::new("robot_id".into(), self.robot_id),
            run_uuid,
            self.sensor_type.finish().into_column(),
        ];
        DataFrame::new(height, columns).expect("columns are built to the same height")
    }
}

fn build_frame(
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
            field: FIELDS[key.field],
            robot: i64::from(key.robot),
            run: RunCell::Run(key.run),
            sensor: Sensor::of_field(key.field).name(),
        }
    };
    let bad_row = |inj: &Injection| {
        let mut row = valid_row(inj.template);
        if !matches!(
            inj.defect,
            Defect::DuplicateIdentical | Defect::DuplicateConflicting(_)
        ) {
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
                row.sensor = Sensor::of_field(field).other().name();
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

// ---------------------------------------------------------------------------------
// Timestamps.

/// Formats ms since the epoch like the production files: `2022-11-23T20:40:17.63Z`,
/// trailing zeros of the fraction dropped, no fraction at all on a whole second.
fn format_time(ms: i64, buf: &mut [u8; 24]) -> &str {
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use polars::prelude::{AnyValue, DataType, ParquetReader, SerReader};

    use super::*;

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
        let column = frame.column("run_uuid").unwrap();
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
            let mut keys: Vec<&str> = vec![
                reason::TIME_NULL,
                reason::TIME_UNPARSABLE,
                reason::VALUE_NULL,
                reason::VALUE_NOT_FINITE,
                reason::FIELD_UNKNOWN,
                reason::ROBOT_ID_INVALID,
                reason::SENSOR_MISMATCH,
                reason::RUN_UUID_NULL,
                reason::DUPLICATE_IDENTICAL,
                reason::DUPLICATE_CONFLICTING,
            ];
            if ty == RunUuidType::String {
                keys.push(reason::RUN_UUID_INVALID);
            }
            keys.sort_unstable();
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
        let times = strs(frame, "time");
        let fields = strs(frame, "field");
        let sensors = strs(frame, "sensor_type");
        let raw_runs = strs(frame, "run_uuid");
        let runs = run_keys(frame);
        let values: Vec<Option<f64>> = frame
            .column("value")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        let robots: Vec<Option<i64>> = frame
            .column("robot_id")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect();

        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut seen: HashMap<(u64, i64, String, String), Vec<f64>> = HashMap::new();
        for i in 0..frame.height() {
            let mut problems = Vec::new();
            match &times[i] {
                None => problems.push(reason::TIME_NULL),
                Some(t) if !BAD_TIMES.contains(&t.as_str()) => {}
                Some(_) => problems.push(reason::TIME_UNPARSABLE),
            }
            match values[i] {
                None => problems.push(reason::VALUE_NULL),
                Some(v) if !v.is_finite() => problems.push(reason::VALUE_NOT_FINITE),
                Some(_) => {}
            }
            let field = fields[i].clone().unwrap();
            let known = FIELDS.iter().position(|f| *f == field);
            if known.is_none() {
                problems.push(reason::FIELD_UNKNOWN);
            }
            if !matches!(robots[i], Some(1 | 2)) {
                problems.push(reason::ROBOT_ID_INVALID);
            }
            if let Some(f) = known {
                if sensors[i].as_deref() != Some(Sensor::of_field(f).name()) {
                    problems.push(reason::SENSOR_MISMATCH);
                }
            }
            match (&raw_runs[i], runs[i]) {
                (None, _) => problems.push(reason::RUN_UUID_NULL),
                (Some(_), None) => problems.push(reason::RUN_UUID_INVALID),
                (Some(_), Some(_)) => {}
            }
            assert!(problems.len() <= 1, "row {i} has {problems:?}");
            if let Some(p) = problems.first() {
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
                    reason::DUPLICATE_IDENTICAL
                } else {
                    reason::DUPLICATE_CONFLICTING
                };
                *counts.entry(reason).or_default() += 1;
            }
        }
        assert_eq!(counts, log.injected);
    }

    #[test]
    fn timestamps_look_like_the_production_files() {
        let frame = generate(&config(20_000, RunUuidType::Float64, false)).frame;
        let times: Vec<String> = strs(&frame, "time")
            .into_iter()
            .map(Option::unwrap)
            .collect();
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
            .column("run_uuid")
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
        let fields = strs(frame, "field");
        let robots: Vec<i64> = frame
            .column("robot_id")
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
    fn partial_channels_at_full_size_have_the_documented_lengths() {
        let scale = duration_scale(DEFAULT_ROWS);
        assert!((expected_rows(scale) - DEFAULT_ROWS as f64).abs() < 1.0);
        let c = &LAYOUT[2];
        let run_ms = run_duration_ms(c, scale);
        let (_, fx_ms) = coverage_ms(c.clocks[2].fields[0].1, run_ms, scale, 10.0);
        assert!((fx_ms / 1000.0 - 77.6).abs() < 0.5, "{fx_ms}");
        let window_s = (LAYOUT[3].start_s + LAYOUT[3].duration_s) * scale;
        assert!((590.0..=610.0).contains(&window_s), "{window_s}");
        // Eight times the rows, eight times the duration.
        let ratio = duration_scale(8 * DEFAULT_ROWS) / scale;
        assert!((ratio - 8.0).abs() < 0.01, "{ratio}");
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
        let times: Vec<String> = strs(&frame, "time")
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let fields = strs(&frame, "field");
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
