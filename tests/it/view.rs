//! `view`, run as a real binary on outputs the real `harvest` binary made from a
//! generated log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use harvester_generator::{generate, write_csv, GeneratorConfig, RunUuidType};
use polars::prelude::{Column, DataFrame};
use serde_json::Value;

use crate::util::{code, stderr, stdout};

/// A temporary directory with a harvested log: `in/cell.csv` → `out/cell-<hash12>`.
struct Harvested {
    dir: tempfile::TempDir,
}

impl Harvested {
    fn new() -> Self {
        Harvested::at("in/cell.csv")
    }

    /// A log harvested from `source` (relative, ending in `cell.csv`), in a temporary
    /// directory whose path has the same length everywhere (`/tmp/view-XXXXXX`), so
    /// that elided paths give the same snapshots on every machine.
    fn at(source: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("view-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let source_path = dir.path().join(source);
        std::fs::create_dir_all(source_path.parent().unwrap()).unwrap();
        let config = GeneratorConfig {
            seed: 7,
            rows: 20_000,
            run_uuid_type: RunUuidType::UInt64,
            quirks: true,
            ..Default::default()
        };
        let mut log = generate(&config);
        add_spikes(&mut log.frame);
        write_csv(&mut log.frame, &source_path).expect("write the log");
        let work = Harvested { dir };
        let out = Command::new(env!("CARGO_BIN_EXE_harvest"))
            .current_dir(work.path())
            .args([source, "--out", "out", "--quiet"])
            .env_remove("DATABASE_URL")
            .env_remove("HARVEST_OUT")
            .env("NO_COLOR", "1")
            .output()
            .expect("run harvest");
        assert_eq!(code(&out), 0, "harvest failed: {}", stderr(&out));
        work
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn output_dir(&self) -> PathBuf {
        crate::util::only_output_in(&self.path().join("out"))
    }

    fn report(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.output_dir().join("report.json")).unwrap())
            .unwrap()
    }

    /// The id of the report's first run.
    fn first_run(&self) -> String {
        self.report()["runs"][0]["run_uuid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs `view --out out ARGS` in the temporary directory.
    fn view(&self, args: &[&str]) -> Output {
        view_in(self.path(), args)
    }

    /// Filters that make output independent of the temporary directory, the harvest's
    /// time and hash, and column widths that depend on them.
    fn filters(&self) -> Vec<(String, String)> {
        let mut filters = vec![(
            escape(&self.path().display().to_string()),
            "[TMP]".to_string(),
        )];
        filters.extend(
            [
                (r"[0-9a-f]{64}", "[HASH]"),
                (r"cell-[0-9a-f]{12}", "cell-[HASH12]"),
                (r"/[0-9a-f]{12}-", "/[HASH12]-"),
                (r"(harvested at[ |]+)\S+", "$1[TIME]"),
                (r"(duration[ |]+)[0-9.,]+ s", "$1[DURATION]"),
                (r"(tool version[ |]+)\S+", "$1[VERSION]"),
                (r" {2,}", " "),
                (r"-{3,}", "---"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string())),
        );
        filters
    }
}

/// Adds a spike of 200 to two readings, a third and two thirds into the log, each
/// with three readings of its channel on either side, so that the report lists
/// spikes.
fn add_spikes(frame: &mut DataFrame) {
    let n = frame.height();
    let channel = |i: usize| -> Vec<String> {
        ["field", "robot_id", "run_uuid"]
            .map(|c| frame.column(c).unwrap().get(i).unwrap().to_string())
            .to_vec()
    };
    let mut values: Vec<Option<f64>> = frame
        .column("value")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .collect();
    for start in [n / 3, 2 * n / 3] {
        let k = (start..n - 3)
            .find(|&k| {
                (k - 3..=k + 3)
                    .all(|j| channel(j) == channel(k) && values[j].is_some_and(f64::is_finite))
            })
            .expect("a channel's readings");
        values[k] = values[k].map(|v| v + 200.0);
    }
    frame
        .replace("value", Column::new("value".into(), values))
        .unwrap();
}

fn view_in(dir: &Path, args: &[&str]) -> Output {
    view_command(dir, args).output().expect("run view")
}

fn view_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_view"));
    cmd.current_dir(dir)
        .arg("--out")
        .arg("out")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("HARVEST_OUT")
        .env_remove("RUST_LOG")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    cmd
}

fn escape(literal: &str) -> String {
    literal.chars().fold(String::new(), |mut s, c| {
        if c.is_ascii_punctuation() {
            s.push('\\');
        }
        s.push(c);
        s
    })
}

fn success(o: Output) -> String {
    assert_eq!(code(&o), 0, "view failed: {}", stderr(&o));
    stdout(&o)
}

fn json(o: Output) -> Value {
    serde_json::from_str(&success(o)).expect("view prints valid JSON")
}

macro_rules! snapshot {
    ($work:expr, $name:expr, $value:expr) => {
        snapshot!(filters $work.filters(), $name, $value)
    };
    (filters $filters:expr, $name:expr, $value:expr) => {{
        let filters: Vec<(String, String)> = $filters;
        let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => filters }, { insta::assert_snapshot!($name, $value) });
    }};
}

#[test]
fn report_of_an_output_directory_as_tables() {
    let work = Harvested::new();
    let dir = work.output_dir();
    let text = success(work.view(&[dir.to_str().unwrap()]));
    for section in [
        "Summary",
        "Data quality",
        "Channel coverage",
        "Run statistics",
        "speed min/mean/max (mm/s)",
    ] {
        assert!(text.contains(section), "no {section} in:\n{text}");
    }
    assert!(!text.contains('\x1b'), "plain output has no escape codes");
    snapshot!(work, "report_table", text);
}

#[test]
fn list_of_the_catalog() {
    let work = Harvested::new();
    let text = success(work.view(&["--list"]));
    assert_eq!(
        text.lines().filter(|l| l.contains("harvested")).count(),
        1,
        "{text}"
    );
    let mut filters = work.filters();
    filters.insert(
        0,
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z".into(),
            "[TIME]".into(),
        ),
    );
    filters.insert(0, (r"\| [0-9a-f]{12} \|".into(), "| [HASH12] |".into()));
    snapshot!(filters filters, "list_table", text);

    let list = json(work.view(&["--list", "--format", "json"]));
    let report = work.report();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["content_hash"], report["content_hash"]);
    assert_eq!(list[0]["status"], "harvested");
    assert_eq!(list[0]["rows_read"], report["rows"]["read"]);

    let failed = success(work.view(&["--list", "--status", "failed"]));
    assert!(failed.contains("no failed files"), "{failed}");
    let csv = success(work.view(&["--list", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.starts_with("content_hash,source_path,"));
}

#[test]
fn json_is_the_report_whatever_the_target() {
    let work = Harvested::new();
    let report = work.report();
    let dir = work.output_dir();
    let hash = report["content_hash"].as_str().unwrap();
    let source = report["source"].as_str().unwrap();
    let targets = [
        dir.to_str().unwrap(),
        &hash[..8],
        "in/cell.csv",
        source,
        dir.file_name().unwrap().to_str().unwrap(),
    ];
    for target in targets {
        let shown = json(work.view(&[target, "--format", "json"]));
        for key in [
            "source",
            "content_hash",
            "rows",
            "warnings",
            "runs",
            "size_bytes",
            "tool_version",
            "coverage",
        ] {
            assert!(shown.get(key).is_some(), "{target}: no `{key}` in {shown}");
        }
        for key in ["read", "kept", "dropped"] {
            assert!(shown["rows"].get(key).is_some(), "{target}: no rows.{key}");
        }
        assert_eq!(
            shown["runs"], report["runs"],
            "{target}: runs differ from report.json"
        );
        assert_eq!(shown["rows"], report["rows"], "{target}");
        assert_eq!(shown["content_hash"], report["content_hash"], "{target}");
        let runs = shown["runs"].as_array().unwrap();
        assert!(!runs.is_empty());
        for run in runs {
            for key in [
                "run_uuid",
                "robot_id",
                "start",
                "stop",
                "runtime_s",
                "distance_mm",
                "speed_mm_s",
                "accel_mm_s2",
                "force_n",
            ] {
                assert!(run.get(key).is_some(), "{target}: no runs[].{key}");
            }
        }
    }
}

#[test]
fn csv_has_one_row_per_run_and_robot() {
    let work = Harvested::new();
    let report = work.report();
    let runs = report["runs"].as_array().unwrap();
    let text = success(work.view(&[
        &report["content_hash"].as_str().unwrap()[..6],
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "run_uuid,robot_id,cell,start,stop,runtime_s,distance_mm,speed_min_mm_s,speed_mean_mm_s,speed_max_mm_s,\
         accel_min_mm_s2,accel_mean_mm_s2,accel_max_mm_s2,force_min_n,force_mean_n,force_max_n,rows,\
         encoder_samples,load_cell_samples,channels,coverage"
    );
    assert_eq!(lines.len(), runs.len() + 1, "{text}");
    for (line, run) in lines[1..].iter().zip(runs) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 21, "{line}");
        assert_eq!(fields[0], run["run_uuid"].as_str().unwrap());
        assert_eq!(fields[1], run["robot_id"].to_string());
        assert_eq!(
            fields[5].parse::<f64>().unwrap(),
            run["runtime_s"].as_f64().unwrap()
        );
        if let Some(mean) = run["speed_mm_s"]["mean"].as_f64() {
            assert_eq!(fields[8].parse::<f64>().unwrap(), mean);
        }
    }
}

#[test]
fn first_rows_of_a_run() {
    let work = Harvested::new();
    let report = work.report();
    let run = report["runs"][0]["run_uuid"].as_str().unwrap().to_string();
    let first = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["run_uuid"] == run.as_str())
        .map(|r| r["start"].as_str().unwrap())
        .min()
        .unwrap()
        .to_string();
    let dir = work.output_dir();
    let dir = dir.to_str().unwrap();

    let text = success(work.view(&[dir, "--run", &run, "--head", "3"]));
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + 3, "header, separator and 3 rows:\n{text}");
    assert!(
        table[0].contains("time (UTC)") && table[0].contains("x_1"),
        "{text}"
    );
    assert!(
        table[2].starts_with(&format!("| {first}")),
        "the first row is at the run's start {first}:\n{text}"
    );
    snapshot!(work, "run_rows_table", text);

    let rows = json(work.view(&[dir, "--run", &run, "--head", "3", "--format", "json"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["time"], first.as_str());

    let csv = success(work.view(&[dir, "--run", &run, "--head", "3", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("time,"));

    let default = success(work.view(&["in/cell.csv", "--run", &run]));
    assert_eq!(
        default.lines().filter(|l| l.starts_with('|')).count(),
        2 + 10,
        "default --head is 10"
    );

    let unknown = work.view(&[dir, "--run", "123"]);
    assert_eq!(code(&unknown), 64);
    assert!(
        stderr(&unknown).contains(&run),
        "lists the runs: {}",
        stderr(&unknown)
    );
}

#[test]
fn unknown_target_is_a_usage_error_with_close_matches() {
    let work = Harvested::new();
    let out = work.view(&["cell.cvs"]);
    assert_eq!(code(&out), 64);
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("cell.cvs") && err.contains("in/cell.csv"),
        "suggests the close match: {err}"
    );
    assert!(!err.contains("panicked"));

    let hash = work.view(&["ffffffff"]);
    assert_eq!(code(&hash), 64, "{}", stderr(&hash));
}

#[test]
fn nothing_harvested_says_how_to_harvest() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["in/cell.csv"][..],
        &["--list"],
        &["deadbeef", "--format", "json"],
    ] {
        let out = view_in(dir.path(), args);
        assert_eq!(code(&out), 64, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("harvest first") && err.contains("harvest <files> --out"),
            "{err}"
        );
        assert!(!err.contains("panicked"));
    }
    assert!(
        !dir.path().join("out").exists(),
        "view does not create a catalog"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["x", "--head", "3"],
        &["--list", "x"],
        &["--format", "xml", "--list"],
        &["--list", "--limit", "0"],
    ] {
        let out = view_in(dir.path(), args);
        assert_eq!(code(&out), 64, "{args:?}");
    }
    assert_eq!(code(&view_in(dir.path(), &["--help"])), 0);
}

#[test]
fn unreachable_catalog_is_retry_later_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = view_in(
        dir.path(),
        &[
            "--list",
            "--catalog",
            "postgres://alice:s3cret@127.0.0.1:1/harvest",
        ],
    );
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    assert!(stderr(&out).contains("alice@127.0.0.1"), "{}", stderr(&out));
}

#[test]
fn closed_stdout_is_not_an_error() {
    let work = Harvested::new();
    let run = work.first_run();
    let dir = work.output_dir();
    let dir = dir.to_str().unwrap();
    let cases: [&[&str]; 3] = [
        &["--list"],
        &[dir],
        &[dir, "--run", &run, "--head", "100000"],
    ];
    for args in cases {
        let mut child = view_command(work.path(), args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// The number literals of a JSON text, in order, as written (outside strings).
fn number_literals(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let (mut numbers, mut in_string, mut escaped, mut start) = (Vec::new(), false, false, None);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        let numeric = b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
        match (start, numeric) {
            (None, true) if b.is_ascii_digit() || b == b'-' => start = Some(i),
            (Some(s), false) => {
                numbers.push(&text[s..i]);
                start = None;
            }
            _ => {}
        }
        in_string = b == b'"';
    }
    numbers
}

#[test]
fn json_prints_the_same_floats_as_report_json() {
    let work = Harvested::new();
    let written = std::fs::read_to_string(work.output_dir().join("report.json")).unwrap();
    let expected = number_literals(&written);
    assert!(
        expected.iter().filter(|n| n.contains('.')).count() > 50,
        "the report has many floats"
    );
    let dir = work.output_dir();
    // From the output directory (report.json parsed) and from the catalog (its copy).
    for target in [dir.to_str().unwrap(), "in/cell.csv"] {
        let shown = success(work.view(&[target, "--format", "json"]));
        let differing: Vec<_> = expected
            .iter()
            .zip(number_literals(&shown))
            .filter(|(a, b)| *a != b)
            .collect();
        assert!(differing.is_empty(), "{target}: {differing:?}");
        assert_eq!(number_literals(&shown).len(), expected.len(), "{target}");
    }
}

/// A source path of some 200 characters.
const LONG_SOURCE: &str = "in/robot-cell-archive/2026/line-4-forming-press/shift-logs-exported-by-the-plc-gateway/after-the-firmware-update/machine-logs-of-the-night-shift-with-the-new-sensor-calibration/cell.csv";

/// `view ARGS` with `COLUMNS=width`, as a terminal of that width would be.
fn view_at_width(work: &Harvested, width: usize, args: &[&str]) -> String {
    let out = view_command(work.path(), args)
        .env("COLUMNS", width.to_string())
        .output()
        .expect("run view");
    success(out)
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "a line wider than {width}:\n{line}\nin:\n{text}"
        );
    }
}

/// Every time of day in the tables of `text` is whole on its line
/// (`20:40:01.087Z`): none is cut before its fraction or its seconds.
fn assert_times_whole(text: &str) {
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let chars: Vec<char> = line.chars().collect();
        // A time ends in a digit and `Z` and then the cell ends; a `Z` elsewhere (in
        // a temporary directory's random name) is not a time.
        let ends_a_time = |i: usize| {
            chars[i] == 'Z'
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '|')
        };
        for at in (0..chars.len()).filter(|&i| ends_a_time(i)) {
            let shape: String = chars[at.saturating_sub(12)..at]
                .iter()
                .map(|c| if c.is_ascii_digit() { '9' } else { *c })
                .collect();
            assert_eq!(shape, "99:99:99.999", "a time cut: {line}\nin:\n{text}");
        }
    }
}

/// The filters of `list_of_the_catalog`, and the temporary directory cut by eliding.
fn list_filters(work: &Harvested) -> Vec<(String, String)> {
    let mut filters = work.filters();
    filters.insert(0, (r"/tmp/view-[A-Za-z0-9]{1,6}".into(), "[TMP]".into()));
    filters.insert(
        0,
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z".into(),
            "[TIME]".into(),
        ),
    );
    filters.insert(0, (r"\| [0-9a-f]{12} \|".into(), "| [HASH12] |".into()));
    filters
}

#[test]
fn list_fits_the_width_with_one_line_per_file_and_long_paths_elided() {
    let work = Harvested::at(LONG_SOURCE);
    for width in [80, 120] {
        let text = view_at_width(&work, width, &["--list"]);
        assert_eq!(
            text.lines().count(),
            3,
            "header, separator, one file:\n{text}"
        );
        assert_fits(&text, width);
        assert!(
            text.contains('…') && text.contains("sensor-calibration/cell.csv"),
            "{text}"
        );
        snapshot!(filters list_filters(&work), format!("list_table_{width}"), text);
    }
    let wide = view_at_width(&work, 80, &["--list", "--wide"]);
    assert!(wide.contains(LONG_SOURCE) && !wide.contains('…'), "{wide}");
    assert!(wide.contains("rows read"), "--wide drops no column: {wide}");
    let piped = success(work.view(&["--list"]));
    assert_eq!(
        piped, wide,
        "a pipe without COLUMNS is as wide as the content"
    );
}

#[test]
fn run_statistics_never_split_a_number_across_lines() {
    use harvester::view::render::format::number;
    let work = Harvested::new();
    let report = work.report();
    let dir = work.output_dir();
    for width in [80, 120] {
        let text = view_at_width(&work, width, &[dir.to_str().unwrap()]);
        // Every section, and every one fits.
        for section in [
            "Summary",
            "Data quality",
            "dropped: reason",
            "Warnings (",
            "Conflicting readings",
            "Spikes (",
            "Channel coverage",
            "Missing channels",
            "Run statistics",
        ] {
            assert!(text.contains(section), "no {section} in:\n{text}");
        }
        assert_fits(&text, width);
        assert_times_whole(&text);
        let stats = &text[text.find("Run statistics").expect("a stats section")..];
        for run in report["runs"].as_array().unwrap() {
            let mut whole = vec![
                run["run_uuid"].as_str().unwrap().to_string(),
                number(run["runtime_s"].as_f64().unwrap(), 2),
            ];
            for (key, decimals) in [("speed_mm_s", 2), ("accel_mm_s2", 1)] {
                if let Some(max) = run[key]["max"].as_f64() {
                    whole.push(number(max, decimals));
                }
            }
            for value in whole {
                assert!(
                    stats.contains(&value),
                    "{value} is not on one line:\n{stats}"
                );
            }
        }
        snapshot!(work, format!("report_table_{width}"), text);
    }
}

#[test]
fn a_short_hash_prefix_says_it_needs_four_hex_digits() {
    let work = Harvested::new();
    let out = work.view(&["abc"]);
    assert_eq!(code(&out), 64);
    let err = stderr(&out);
    assert!(
        err.contains("`abc`") && err.contains("at least 4 hex digits"),
        "{err}"
    );
}

#[test]
fn run_rows_fit_the_width_and_never_split_a_time() {
    let work = Harvested::new();
    let run = work.first_run();
    let dir = work.output_dir();
    for width in [80, 120] {
        let text = view_at_width(&work, width, &[dir.to_str().unwrap(), "--run", &run]);
        assert_fits(&text, width);
        assert_times_whole(&text);
        for row in 1..=10 {
            assert!(text.contains(&format!("row {row} ")), "row {row}:\n{text}");
        }
        snapshot!(filters list_filters(&work), format!("run_rows_table_{width}"), text);
    }
}

/// A harvested [`stationary_log`](crate::util::stationary_log), in a work directory
/// whose output root is `out`, as `view_in` expects.
fn harvested_stationary() -> (crate::util::Workdir, PathBuf) {
    crate::util::harvested_log("stationary.parquet", crate::util::stationary_log)
}

#[test]
fn plot_has_one_rule_for_a_robot_or_a_quantity_the_run_lacks() {
    use crate::util::stationary::*;
    let (work, dir) = harvested_stationary();
    let plot = |args: &[&str]| {
        let mut all = vec![dir.to_str().unwrap()];
        all.extend(args);
        view_in(work.dir.path(), &all)
    };
    let alone = ROBOT_2_ALONE.to_string();
    // The chart of `kind` of `robot` in the run of robot 2 alone, to a file of its own.
    let plot_robot = |kind: &str, robot: &str| {
        let file = work.path(&format!("{kind}-{robot}.svg"));
        let done = plot(&[
            "--plot",
            kind,
            "--run",
            &alone,
            "--robot",
            robot,
            "-o",
            file.to_str().unwrap(),
        ]);
        (file, done)
    };
    for kind in ["path", "speed", "accel", "force", "coverage"] {
        let (file, refused) = plot_robot(kind, "1");
        assert_eq!(code(&refused), 64, "{kind}: {}", stderr(&refused));
        let err = stderr(&refused);
        assert!(
            err.contains(&format!("run {alone} has no robot 1; its robots: 2")),
            "{kind}: {err}"
        );
        assert!(!file.exists(), "{kind}: nothing written");
    }
    // The robot the run has is drawn, on every chart of what it has.
    for kind in ["path", "speed", "accel", "coverage"] {
        let (file, drawn) = plot_robot(kind, "2");
        assert_eq!(code(&drawn), 0, "{kind}: {}", stderr(&drawn));
        assert!(file.exists(), "{kind}");
    }
    // A chart of what the run has none of (no load cell) is refused the same way,
    // not drawn empty.
    let file = work.path("force.svg");
    let refused = plot(&[
        "--plot",
        "force",
        "--run",
        &CIRCLE_AND_STANDING.to_string(),
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&refused), 64, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("has no force"),
        "{}",
        stderr(&refused)
    );
    assert!(!file.exists());
}

#[test]
fn path_charts_draw_the_projection_asked_for() {
    use crate::util::stationary::*;
    let (work, dir) = harvested_stationary();
    let run = CIRCLE_AND_STANDING.to_string();
    let chart = |projection: Option<&str>| {
        let file = work.path(&format!("path-{}.svg", projection.unwrap_or("default")));
        let mut args = vec![dir.to_str().unwrap(), "--plot", "path", "--run", &run];
        if let Some(projection) = projection {
            args.extend(["--projection", projection]);
        }
        args.extend(["-o", file.to_str().unwrap()]);
        let out = view_in(work.dir.path(), &args);
        assert_eq!(code(&out), 0, "{projection:?}: {}", stderr(&out));
        std::fs::read_to_string(file).unwrap()
    };
    for (svg, plane, vertical) in [
        (chart(None), "X–Y", "y (mm)"),
        (chart(Some("xy")), "X–Y", "y (mm)"),
        (chart(Some("xz")), "X–Z", "z (mm)"),
    ] {
        assert!(
            svg.contains(&format!("tool path, {plane} (mm)")) && svg.contains(vertical),
            "{plane}: {svg:.400}"
        );
    }
    let help = success(view_in(work.dir.path(), &["--help"]));
    assert!(
        help.contains("--projection") && help.contains("X–Z"),
        "the help says how to draw X–Z: {help}"
    );
    let speed = view_in(
        work.dir.path(),
        &[
            dir.to_str().unwrap(),
            "--plot",
            "speed",
            "--run",
            &run,
            "--projection",
            "xz",
            "-o",
            work.path("s.svg").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&speed), 64, "{}", stderr(&speed));
    assert!(
        stderr(&speed).contains("--projection"),
        "{}",
        stderr(&speed)
    );
}

/// `view ARGS` in `dir` with a file size limit of `bytes`: every write past it fails
/// (EFBIG; SIGXFSZ is ignored), as on a full or quota-bound file system, also for
/// root.
fn view_with_file_limit(dir: &Path, bytes: u64, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = view_command(dir, args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run view")
}

#[test]
fn an_output_that_can_never_be_written_is_a_usage_error_one_that_fails_is_73() {
    use crate::util::stationary::*;
    let (work, dir) = harvested_stationary();
    let (dir, base) = (dir.to_str().unwrap(), work.dir.path());
    let run = CIRCLE_AND_STANDING.to_string();
    let chart = |file: &str| -> Vec<String> {
        [dir, "--plot", "path", "--run", &run, "-o", file]
            .map(String::from)
            .to_vec()
    };
    let page = |file: &str| -> Vec<String> { [dir, "--html", file].map(String::from).to_vec() };
    fn strs(args: &[String]) -> Vec<&str> {
        args.iter().map(String::as_str).collect()
    }
    let folder = work.path("charts");
    std::fs::create_dir(&folder).unwrap();
    let folder = folder.to_str().unwrap();
    let long_name = format!("{}.svg", "a".repeat(300));
    let long_folder = format!("{}/page.html", "b".repeat(256));
    for args in [
        chart(folder),
        page(folder),
        chart("charts/"),
        chart(&long_name),
        page(&long_folder),
    ] {
        let out = view_in(base, &strs(&args));
        assert_eq!(code(&out), 64, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    assert!(
        std::fs::read_dir(folder).unwrap().next().is_none(),
        "nothing written"
    );

    // A place that exists but cannot hold the file: 73, and nothing left behind.
    let input = work.input().join("stationary.parquet");
    let under_a_file = format!("{}/chart.png", input.display());
    let out = view_in(base, &strs(&chart(&under_a_file)));
    assert_eq!(code(&out), 73, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
    for (args, what) in [
        (chart("charts/path.png"), "PNG"),
        (chart("charts/path.svg"), "SVG"),
        (page("charts/page.html"), "page"),
    ] {
        let out = view_with_file_limit(base, 2048, &strs(&args));
        assert_eq!(code(&out), 73, "{what}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write"),
            "{what}: {}",
            stderr(&out)
        );
        let left: Vec<_> = std::fs::read_dir(folder).unwrap().collect();
        assert!(left.is_empty(), "{what}: {left:?}");
    }
    let out = view_with_file_limit(base, 1 << 30, &strs(&chart("charts/path.png")));
    assert_eq!(code(&out), 0, "within the limit: {}", stderr(&out));
}

#[test]
fn a_cut_list_says_how_many_more_and_filters_take_what_can_match() {
    let (work, _) = harvested_stationary();
    // A second file.
    let mut log = crate::util::LogBuilder::default();
    log.channel(
        77,
        1,
        "x",
        &crate::util::clock(crate::util::T0, 2.0, 12, 1),
        |t| t,
    );
    let second = work.input().join("second.parquet");
    log.write_parquet(&second);
    assert_eq!(code(&work.harvest(&[second.to_str().unwrap()])), 0);
    let base = work.dir.path();

    let all = success(view_in(base, &["--list"]));
    assert!(!all.contains("more"), "{all}");
    let cut = success(view_in(base, &["--list", "--limit", "1"]));
    assert_eq!(
        cut.lines().count(),
        4,
        "header, separator, a file, a note:\n{cut}"
    );
    assert!(
        cut.lines().last().unwrap().contains("1 more") && cut.contains("`--limit 2`"),
        "{cut}"
    );
    let json = view_in(base, &["--list", "--limit", "1", "--format", "json"]);
    let listed: Value = serde_json::from_str(&success(json.clone())).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        stderr(&json).contains("1 more") && stderr(&json).contains("--limit 2"),
        "said on stderr: {}",
        stderr(&json)
    );

    // A space may stand for the T of a --since time.
    let with_t = success(view_in(base, &["--list", "--since", "2022-11-23T20:40:00"]));
    let with_space = success(view_in(base, &["--list", "--since", "2022-11-23 20:40:00"]));
    assert_eq!(with_space, with_t);
    assert_eq!(with_t.lines().count(), 2 + 2, "{with_t}");
    let later = success(view_in(base, &["--list", "--since", "2030-01-01 00:00:00"]));
    assert!(later.contains("no files"), "{later}");

    // --where takes what --label takes, and for a cell any text a log may name.
    for never in ["cell=", "line=", "line=B east", "site=../x"] {
        let out = view_in(base, &["--list", "--where", never]);
        assert_eq!(code(&out), 64, "{never}: {}", stderr(&out));
        let label = work.harvest(&[second.to_str().unwrap(), "--label", never]);
        assert_eq!(code(&label), 64, "--label {never}: {}", stderr(&label));
    }
    let cell = success(view_in(base, &["--list", "--where", "cell=8/b east"]));
    assert!(cell.contains("no files"), "{cell}");
}

#[test]
fn an_unknown_target_is_one_json_line_with_its_exit_code() {
    let (work, _) = harvested_stationary();
    let out = view_in(work.dir.path(), &["cell.cvs", "--log-format", "json"]);
    assert_eq!(code(&out), 64, "{}", stderr(&out));
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["exit_code"], 64);
    assert!(
        lines[0]["message"].as_str().unwrap().contains("cell.cvs"),
        "{lines:?}"
    );
}
