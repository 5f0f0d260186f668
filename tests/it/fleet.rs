//! Fleets: runs filed by cell and labelled by their folders, one dataset that other
//! engines read back equal to the per-file outputs and never holding a run twice,
//! `view --list --where/--since`, and the catalog's fleet views on both backends.

use std::path::{Path, PathBuf};

use crate::util::*;
use polars::prelude::*;

/// The UTC day of `T0` and the day after, as the dataset's `date` partitions.
const DAY: i64 = 86_400 * SECOND;

fn day_of(ns: i64) -> String {
    log_time(ns)[..10].to_string()
}

/// A log of `runs` (run id, cell, start): robot 1 moves along x at 10 mm/s for 2 s
/// (readings every 10 ms, so 20 mm exactly), robot 2 reads a constant force. With a
/// cell for any run, the log has a `cell_id` column (null for the runs without).
/// `bad_rows` rows with an unknown field and half as many with robot 5 are added.
fn cell_log(path: &Path, runs: &[(u64, Option<&str>, i64)], bad_rows: usize) -> usize {
    let mut log = LogBuilder::default();
    let mut cells: Vec<Option<String>> = Vec::new();
    for &(run, cell, start) in runs {
        let before = log.len();
        let times = clock(start, 2.0, 10, 0);
        log.channel(run, 1, "x", &times, |t| 10.0 * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 1, "z", &times, |_| 1.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
        for i in 0..bad_rows {
            log.push(run, 1, "q", start + i as i64, 1.0);
        }
        for i in 0..bad_rows / 2 {
            log.push(run, 5, "x", start + i as i64, 1.0);
        }
        cells.extend(std::iter::repeat_n(
            cell.map(str::to_string),
            log.len() - before,
        ));
    }
    let mut frame = log.frame();
    if runs.iter().any(|(_, cell, _)| cell.is_some()) {
        frame
            .with_column(Column::new("cell_id".into(), cells))
            .unwrap();
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if path.extension().is_some_and(|e| e == "csv") {
        CsvWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut frame)
            .unwrap();
    } else {
        ParquetWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut frame)
            .unwrap();
    }
    frame.height()
}

/// The inbox of the tests: `a` has its cell in the log, `b` in its folders, and a
/// third file has none.
struct Inbox {
    a: PathBuf,
    b: PathBuf,
}

fn inbox(work: &Workdir) -> Inbox {
    let input = work.input();
    let a = input.join("line=A/2026-11-22/a.parquet");
    let b = input.join("line=B/cell=7/2026-11-23/b.parquet");
    let c = input.join("spare/c.parquet");
    cell_log(
        &a,
        &[(31, Some("3"), T0), (32, Some("3"), T0 + 5 * SECOND)],
        4,
    );
    cell_log(&b, &[(71, None, T0 + DAY)], 0);
    cell_log(&c, &[(91, None, T0)], 0);
    Inbox { a, b }
}

fn view_list(work: &Workdir, url: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_view"))
        .args([
            "--list",
            "--wide",
            "--out",
            work.out().to_str().unwrap(),
            "--catalog",
            url,
        ])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// One row of a per-file run_stats.parquet.
struct StatsRow {
    run: String,
    robot: i64,
    distance: Option<f64>,
    rows: i64,
    cell: Option<String>,
}

/// The per-file run statistics of an output directory.
fn per_file_stats(dir: &Path) -> Vec<StatsRow> {
    let frame = ParquetReader::new(std::fs::File::open(dir.join("run_stats.parquet")).unwrap())
        .finish()
        .unwrap();
    let runs = frame.column("run_uuid").unwrap().u64().unwrap().clone();
    let robots = frame.column("robot_id").unwrap().u8().unwrap().clone();
    let distance = frame.column("distance_mm").unwrap().f64().unwrap().clone();
    let rows = frame.column("rows").unwrap().u64().unwrap().clone();
    let cells = frame.column("cell").unwrap().str().unwrap().clone();
    (0..frame.height())
        .map(|i| StatsRow {
            run: runs.get(i).unwrap().to_string(),
            robot: robots.get(i).unwrap() as i64,
            distance: distance.get(i),
            rows: rows.get(i).unwrap() as i64,
            cell: cells.get(i).map(str::to_string),
        })
        .collect()
}

/// Checks the dataset against the per-file outputs: every run of every output
/// directory once, with the same statistics, its cell and day as partitions, its
/// labels; every run's table with the rows of the file the report points to.
fn dataset_equals_outputs(work: &Workdir, labels: &[(&str, &str)]) -> serde_json::Value {
    let dataset = read_dataset(&work.out());
    let stats = dataset["run_stats"].as_array().unwrap();
    let samples = dataset["samples"].as_array().unwrap();
    let mut expected_stats = 0;
    let mut expected_tables = 0;
    for dir in output_dirs_in(&work.out()) {
        let report = report(&dir);
        let hash = report["content_hash"].as_str().unwrap();
        let source = report["source"].as_str().unwrap();
        let file_labels = labels
            .iter()
            .find(|(path, _)| source.ends_with(path))
            .map(|(_, l)| *l)
            .unwrap_or_else(|| panic!("no labels expected for {source}"));
        for expected in per_file_stats(&dir) {
            expected_stats += 1;
            let StatsRow { run, robot, .. } = &expected;
            let row = stats
                .iter()
                .find(|r| {
                    r["content_hash"] == hash
                        && r["run_uuid"].as_str() == Some(run.as_str())
                        && r["robot_id"].as_i64() == Some(*robot)
                })
                .unwrap_or_else(|| panic!("run {run} robot {robot} of {source} is in the dataset"));
            assert_eq!(row["distance_mm"].as_f64(), expected.distance, "{row}");
            assert_eq!(row["rows"].as_i64(), Some(expected.rows), "{row}");
            assert_eq!(
                row["cell"].as_str().map(str::to_string),
                expected.cell,
                "{row}"
            );
            assert_eq!(row["labels"], file_labels, "{row}");
        }
        for table in run_table_files(&dir) {
            expected_tables += 1;
            let frame = ParquetReader::new(std::fs::File::open(&table).unwrap())
                .finish()
                .unwrap();
            let run = frame
                .column("run_uuid")
                .unwrap()
                .u64()
                .unwrap()
                .get(0)
                .unwrap();
            let group = samples
                .iter()
                .find(|s| s["run_uuid"].as_str() == Some(run.to_string().as_str()))
                .unwrap_or_else(|| panic!("the table of run {run} is in the dataset"));
            assert_eq!(
                group["rows"].as_u64(),
                Some(frame.height() as u64),
                "{group}"
            );
            let name = table.to_string_lossy().into_owned();
            let cell = group["cell"]
                .as_str()
                .unwrap_or("__HIVE_DEFAULT_PARTITION__");
            assert!(
                name.contains(&format!(
                    "/cell={cell}/date={}/",
                    group["date"].as_str().unwrap()
                )),
                "{name}"
            );
            assert_eq!(group["labels"], file_labels, "{group}");
        }
    }
    assert_eq!(stats.len(), expected_stats, "no other rows: {stats:#?}");
    assert_eq!(
        samples.len(),
        expected_tables,
        "no other tables: {samples:#?}"
    );
    dataset
}

/// Labels and cells from a log, from folders and from `--label`; the dataset read
/// back by DuckDB and polars equals the outputs; `view --list` filters by them.
fn cells_labels_and_the_dataset(backend: Backend) {
    let work = Workdir::new();
    let Inbox { a, b } = inbox(&work);
    let url = backend.url(&work, "fleet");
    let unsafe_folder = work.input().join("cell=7 A/e.parquet");
    cell_log(&unsafe_folder, &[(81, None, T0)], 0);

    let out = work.harvest(&[
        work.input().to_str().unwrap(),
        "--catalog",
        &url,
        "--label",
        "site=p2",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("labels ignored") && err.contains("cell=7 A"),
        "{err}"
    );
    assert!(err.contains("4 harvested"), "{err}");

    let labels = [
        ("a.parquet", r#"{"line":"A","site":"p2"}"#),
        ("b.parquet", r#"{"cell":"7","line":"B","site":"p2"}"#),
        ("c.parquet", r#"{"site":"p2"}"#),
        ("e.parquet", r#"{"site":"p2"}"#),
    ];
    let dataset = dataset_equals_outputs(&work, &labels);
    let cell_of = |run: &str| {
        dataset["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["run_uuid"] == run)
            .map(|s| (s["cell"].clone(), s["date"].as_str().unwrap().to_string()))
            .unwrap()
    };
    assert_eq!(cell_of("31"), ("3".into(), day_of(T0)), "the log's cell_id");
    assert_eq!(
        cell_of("71"),
        ("7".into(), day_of(T0 + DAY)),
        "the folder's cell"
    );
    assert_eq!(
        cell_of("91"),
        (serde_json::Value::Null, day_of(T0)),
        "no cell"
    );
    let columns: Vec<&str> = dataset["sample_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for column in [
        "run_uuid", "time", "x_1", "fz_2", "vx_1", "az_2", "v1", "f2", "labels", "cell", "date",
    ] {
        assert!(columns.contains(&column), "{column} in {columns:?}");
    }

    // Coverage is a column: robot 1 has three of its six channels over the whole
    // run, robot 2 one.
    let coverage = query_sql(
        &url,
        "SELECT CAST(robot_id AS TEXT), CAST(channels AS TEXT), CAST(coverage AS TEXT)
         FROM run_stats WHERE run_uuid = '31' ORDER BY robot_id",
    );
    let parsed: Vec<Vec<f64>> = coverage
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.as_deref().unwrap().parse().unwrap())
                .collect()
        })
        .collect();
    let want = [[1.0, 3.0, 0.5], [2.0, 1.0, 1.0 / 6.0]];
    assert!(
        parsed.len() == 2
            && parsed
                .iter()
                .flatten()
                .zip(want.iter().flatten())
                .all(|(g, w)| (g - w).abs() < 1e-12),
        "{parsed:?}"
    );

    // The catalog's run statistics carry the cell and the labels.
    let rows = query_sql(
        &url,
        "SELECT run_uuid, cell, labels FROM run_stats WHERE robot_id = 1 ORDER BY run_uuid",
    );
    assert_eq!(
        rows,
        [
            ["31", "3", r#"{"line":"A","site":"p2"}"#],
            ["32", "3", r#"{"line":"A","site":"p2"}"#],
            ["71", "7", r#"{"cell":"7","line":"B","site":"p2"}"#],
        ]
        .iter()
        .map(|r| r.iter().map(|v| Some(v.to_string())).collect::<Vec<_>>())
        .chain([
            vec![Some("81".into()), None, Some(r#"{"site":"p2"}"#.into())],
            vec![Some("91".into()), None, Some(r#"{"site":"p2"}"#.into())],
        ])
        .collect::<Vec<_>>()
    );

    // view --list filters by cell (a run's or a folder's), label and start day.
    let listed = |args: &[&str]| -> Vec<&str> {
        let text = view_list(&work, &url, args);
        ["a.parquet", "b.parquet", "c.parquet", "e.parquet"]
            .into_iter()
            .filter(|name| text.contains(name))
            .collect()
    };
    assert_eq!(
        listed(&[]),
        ["a.parquet", "b.parquet", "c.parquet", "e.parquet"]
    );
    assert_eq!(listed(&["--where", "cell=7"]), ["b.parquet"]);
    assert_eq!(listed(&["--where", "cell=3"]), ["a.parquet"]);
    assert_eq!(listed(&["--where", "line=A"]), ["a.parquet"]);
    assert!(
        listed(&["--where", "line=a"]).is_empty(),
        "labels are case-sensitive"
    );
    assert!(listed(&["--where", "ine=A"]).is_empty(), "whole keys only");
    assert_eq!(
        listed(&["--where", "site=p2", "--where", "line=B"]),
        ["b.parquet"]
    );
    assert_eq!(listed(&["--since", &day_of(T0 + DAY)]), ["b.parquet"]);
    assert_eq!(
        listed(&["--where", "site=p2", "--since", &day_of(T0)]).len(),
        4
    );
    let none = view_list(&work, &url, &["--where", "cell=9", "--since", "2030-01-01"]);
    assert!(
        none.contains("no files in the catalog match --where cell=9 --since 2030-01-01"),
        "{none}"
    );
    // Filters are values, never SQL; a bad key or date is a usage error.
    let tricky = view_list(&work, &url, &["--where", "cell=7' OR '1'='1"]);
    assert!(tricky.contains("no files"), "{tricky}");
    for bad in [["--where", "ce ll=7"], ["--since", "yesterday"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_view"))
            .args(["--list", "--out", work.out().to_str().unwrap()])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(code(&out), 64, "{bad:?}: {}", stderr(&out));
    }
    let bad_label = work.harvest(&[a.to_str().unwrap(), "--label", "site=../x"]);
    assert_eq!(code(&bad_label), 64, "{}", stderr(&bad_label));

    // A forced harvest from another label replaces the rows, never doubles them.
    let out = work.harvest(&[
        work.input().to_str().unwrap(),
        "--catalog",
        &url,
        "--label",
        "site=p3",
        "--force",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let relabelled = [
        ("a.parquet", r#"{"line":"A","site":"p3"}"#),
        ("b.parquet", r#"{"cell":"7","line":"B","site":"p3"}"#),
        ("c.parquet", r#"{"site":"p3"}"#),
        ("e.parquet", r#"{"site":"p3"}"#),
    ];
    dataset_equals_outputs(&work, &relabelled);

    // A file given by itself (a per-file trigger) takes the labels of its folders,
    // and keeps the `--label` labels given for it before.
    let out = work.harvest(&[b.to_str().unwrap(), "--catalog", &url, "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = query_sql(
        &url,
        "SELECT DISTINCT labels FROM run_stats WHERE run_uuid = '71'",
    );
    assert_eq!(
        rows,
        [[Some(r#"{"cell":"7","line":"B","site":"p3"}"#.to_string())]]
    );
}

on_both_backends!(cells_labels_and_the_dataset, cells_labels_and_the_dataset);

/// A CSV that grows after its harvest: the new revision's runs replace the old
/// one's in the dataset, and the catalog marks the old revision superseded.
/// A CSV log of runs 5 and 6 in cell 2, and how many of its bytes hold the header
/// and the first run's rows: the log while it was still being appended to.
fn growing_log(work: &Workdir) -> (Vec<u8>, usize) {
    let full_path = work.path("full.csv");
    let rows = cell_log(
        &full_path,
        &[(5, Some("2"), T0), (6, Some("2"), T0 + 3 * SECOND)],
        0,
    );
    let full = std::fs::read(&full_path).unwrap();
    let cut = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .nth(rows / 2)
        .unwrap();
    (full, cut)
}

#[test]
fn a_new_revision_replaces_the_runs_it_supersedes_in_the_dataset() {
    let work = Workdir::new();
    let (full, cut) = growing_log(&work);
    let log = work.input().join("growing.csv");
    write_at_rest(&log, &full[..cut]);
    let out = work.harvest(&[log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = report(&work.only_output())["content_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let before = read_dataset(&work.out());
    assert!(before["run_stats"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["content_hash"] == first));

    write_at_rest(&log, &full);
    let out = work.harvest(&[log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dirs = output_dirs_in(&work.out());
    assert_eq!(dirs.len(), 2, "both revisions keep their report");
    let newer = dirs
        .iter()
        .map(|d| report(d))
        .find(|r| r["content_hash"] != first.as_str())
        .unwrap();
    assert_eq!(newer["supersedes"]["content_hash"], first.as_str());
    let after = read_dataset(&work.out());
    let stats = after["run_stats"].as_array().unwrap();
    assert_eq!(stats.len(), 4, "two runs of two robots, once: {stats:#?}");
    assert!(stats
        .iter()
        .all(|r| r["content_hash"] == newer["content_hash"]));
    let samples = after["samples"].as_array().unwrap();
    let runs: Vec<&str> = samples
        .iter()
        .map(|s| s["run_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["5", "6"]);
    let url = format!("sqlite://{}", work.out().join("catalog.db").display());
    let superseded = query_sql(
        &url,
        &format!("SELECT superseded_by FROM harvest_files WHERE content_hash = '{first}'"),
    );
    assert_eq!(
        superseded,
        [[newer["content_hash"].as_str().map(str::to_string)]]
    );
}

/// The fleet views answer from known inputs on both backends: per cell and day,
/// failures, and files seen but not harvested.
fn fleet_views(backend: Backend) {
    let work = Workdir::new();
    inbox(&work);
    let url = backend.url(&work, "fleet");
    let empty = work.input().join("empty.parquet");
    write_at_rest(&empty, b"");
    let out = work.harvest(&[work.input().to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    // A file a worker holds, not yet harvested.
    let held = work.path("held.parquet");
    cell_log(&held, &[(99, None, T0)], 0);
    with_catalog(&url, async |catalog| claim_file(catalog, &held).await);

    let daily = query_sql(
        &url,
        "SELECT cell, day, CAST(files AS TEXT), CAST(runs AS TEXT), CAST(rows_kept AS TEXT),
                CAST(rows_dropped AS TEXT), CAST(dropped_field_unknown AS TEXT),
                CAST(dropped_robot_id_invalid AS TEXT), CAST(dropped_spike AS TEXT),
                CAST(distance_mm AS TEXT), CAST(runtime_s AS TEXT)
         FROM fleet_daily",
    );
    let number = |v: &Option<String>| v.as_deref().unwrap().parse::<f64>().unwrap();
    // Each run: 201 readings of x, y, z and fx (2 s every 10 ms, both ends).
    let kept = 4.0 * 201.0;
    let mut by_cell: Vec<(Option<String>, String, Vec<f64>)> = daily
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].clone().unwrap(),
                r[2..].iter().map(number).collect(),
            )
        })
        .collect();
    by_cell.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(
        by_cell
            .iter()
            .map(|(c, d, _)| (c.clone(), d.clone()))
            .collect::<Vec<_>>(),
        [
            (None, day_of(T0)),
            (Some("3".to_string()), day_of(T0)),
            (Some("7".to_string()), day_of(T0 + DAY)),
        ],
        "{daily:?}"
    );
    let close = |got: &[f64], want: &[f64]| {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6)
    };
    // files, runs, kept, dropped, unknown field, bad robot, spikes, distance, runtime
    let no_cell = &by_cell[0].2;
    assert!(
        close(no_cell, &[1.0, 1.0, kept, 0.0, 0.0, 0.0, 0.0, 20.0, 2.0]),
        "{no_cell:?}"
    );
    let cell_3 = &by_cell[1].2;
    assert!(
        close(
            cell_3,
            &[1.0, 2.0, 2.0 * kept, 12.0, 8.0, 4.0, 0.0, 40.0, 4.0]
        ),
        "{cell_3:?}"
    );
    let cell_7 = &by_cell[2].2;
    assert!(
        close(cell_7, &[1.0, 1.0, kept, 0.0, 0.0, 0.0, 0.0, 20.0, 2.0]),
        "{cell_7:?}"
    );

    let failures = query_sql(
        &url,
        "SELECT source_path, failure_kind FROM latest_failures",
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0][0]
        .as_deref()
        .unwrap()
        .ends_with("empty.parquet"));
    assert_eq!(failures[0][1].as_deref(), Some("bad_file"));

    let pending = query_sql(
        &url,
        "SELECT source_path, status, CAST(age_s AS TEXT) FROM pending_files",
    );
    assert_eq!(pending.len(), 2, "{pending:?}");
    let mut statuses: Vec<&str> = pending.iter().map(|r| r[1].as_deref().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, ["claimed", "failed"], "{pending:?}");
    for row in &pending {
        let age = number(&row[2]);
        assert!((0.0..600.0).contains(&age), "{row:?}");
    }
}

on_both_backends!(fleet_views, fleet_views);

/// A worker stopped between its catalog commit and the publication leaves its
/// dataset files pending: the next job on the output root publishes them, and drops
/// what waits for a content the catalog does not call harvested.
#[test]
fn the_next_job_publishes_what_a_stopped_worker_left_pending() {
    let work = Workdir::new();
    let log = work.input().join("a.parquet");
    cell_log(&log, &[(1, Some("4"), T0)], 0);
    let out = work.harvest(&[log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dataset = work.out().join("dataset");
    let published = files_below(&dataset);
    assert_eq!(
        published.len(),
        2,
        "a run table and run statistics: {published:?}"
    );
    assert!(
        published.iter().all(|f| f.contains("cell=4/")),
        "{published:?}"
    );

    let hash = report(&work.only_output())["content_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let pending = dataset.join(".pending").join(&hash);
    for file in &published {
        let to = pending.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(dataset.join(file), &to).unwrap();
    }
    let unknown = dataset.join(".pending").join("ab".repeat(32));
    std::fs::create_dir_all(unknown.join("samples")).unwrap();
    std::fs::write(unknown.join("samples/x.parquet"), b"never harvested").unwrap();
    assert!(published.iter().all(|f| !dataset.join(f).exists()));

    // The next job has nothing to harvest, and publishes.
    let out = work.harvest(&[log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        files_below(&dataset),
        published,
        "published, nothing pending"
    );
    assert_eq!(
        read_dataset(&work.out())["run_stats"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// `latest_run_stats` holds what run_stats.parquet holds (`start` and `stop` named
/// as there; `start_at` and `stop_at` kept) and the file's labels, over current
/// harvests only: a revision a longer one superseded never counts, whenever it
/// finished. The README's query of a label works as written on each backend.
fn latest_run_stats(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "latest");
    let (full, cut) = growing_log(&work);
    let log = work.input().join("growing.csv");
    let harvest = || {
        let out = work.harvest(&[
            log.to_str().unwrap(),
            "--catalog",
            &url,
            "--label",
            "line=B",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    write_at_rest(&log, &full[..cut]);
    harvest();
    let first = report(&work.only_output())["content_hash"]
        .as_str()
        .unwrap()
        .to_string();
    write_at_rest(&log, &full);
    harvest();
    let newer = catalog_records(&url)
        .into_iter()
        .map(|r| r.content_hash)
        .find(|h| *h != first)
        .unwrap();
    execute_sql(
        &url,
        &format!(
            "UPDATE harvest_files SET finished_at = '2999-01-01T00:00:00.000Z' WHERE content_hash = '{first}'"
        ),
    );

    let columns = "run_uuid, CAST(robot_id AS TEXT), cell, {start}, {stop}, start_at, stop_at,
         CAST(rows AS TEXT), CAST(encoder_samples AS TEXT), CAST(load_cell_samples AS TEXT),
         CAST(channels AS TEXT), CAST(coverage AS TEXT), CAST(distance_mm AS TEXT), labels,
         content_hash";
    let latest = query_sql(
        &url,
        &format!(
            "SELECT {} FROM latest_run_stats ORDER BY run_uuid, robot_id",
            columns
                .replace("{start}", "start")
                .replace("{stop}", "stop")
        ),
    );
    let stored = query_sql(
        &url,
        &format!(
            "SELECT {} FROM run_stats WHERE content_hash = '{newer}' ORDER BY run_uuid, robot_id",
            columns
                .replace("{start}", "start_at")
                .replace("{stop}", "stop_at")
        ),
    );
    assert_eq!(stored.len(), 4, "two runs of two robots: {stored:?}");
    assert_eq!(latest, stored);
    assert_eq!(latest[0][13].as_deref(), Some(r#"{"line":"B"}"#));

    let label = match backend {
        // TEXT there: the documented cast to jsonb.
        Backend::Postgres => "labels::jsonb->>'line'",
        Backend::Sqlite => "json_extract(labels, '$.line')",
    };
    let lines = query_sql(
        &url,
        &format!("SELECT DISTINCT {label} FROM latest_run_stats"),
    );
    assert_eq!(lines, [[Some("B".to_string())]]);
}

on_both_backends!(latest_run_stats, latest_run_stats);

/// A log's `cell_id` column files its runs whatever folder holds it, and says so
/// when a `cell=` folder disagrees; of nested `cell=` folders the innermost labels
/// the file, with a warning naming both.
#[test]
fn a_cell_id_column_beats_a_cell_folder_and_the_innermost_folder_wins() {
    let work = Workdir::new();
    let disagreeing = work.input().join("cell=9/a.parquet");
    cell_log(&disagreeing, &[(31, Some("1"), T0)], 0);
    let nested = work.input().join("cell=7/cell=8/b.parquet");
    cell_log(&nested, &[(32, None, T0)], 0);
    let out = work.harvest(&[work.input().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("b.parquet")
            && warnings[0].contains("cell=8 is inside folder cell=7")
            && warnings[0].contains("the innermost, cell=8"),
        "{err}"
    );

    let reports: Vec<serde_json::Value> = output_dirs_in(&work.out())
        .iter()
        .map(|d| report(d))
        .collect();
    let of = |name: &str| {
        reports
            .iter()
            .find(|r| r["source"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no report of {name}: {reports:?}"))
    };
    let said = of("a.parquet")["warnings"].to_string();
    assert!(
        said.contains("cell_id column names cell 1 but the file is labelled cell=9"),
        "{said}"
    );
    assert!(!of("b.parquet")["warnings"].to_string().contains("cell_id"));
    let files = files_below(&work.out().join("dataset/samples"));
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("cell=1/") && f.contains("-31.parquet")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("cell=8/") && f.contains("-32.parquet")),
        "{files:?}"
    );
}
