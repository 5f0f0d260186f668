//! `view --fleet` and `view --jobs` on a fleet of two cells with known numbers:
//! per cell and per day, as tables fitting 80 columns, JSON and CSV, checked
//! against the catalog's fleet views, and the catalog's fleet gauges
//! (`cell_last_runs`, `failed_sources_by_cell`) on both backends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::*;

const HOUR: i64 = 3_600 * SECOND;
const DAY: i64 = 24 * HOUR;
/// Each run: robot 1 moves along x at 100 mm/s for 60 s (6 m), a reading every
/// 100 ms; robot 2 reads a constant force as long.
const RUN_S: f64 = 60.0;
const RUN_MM: f64 = 6_000.0;
/// Rows of an unknown field each run of cell a's log carries, all dropped.
const BAD_ROWS: usize = 4;

/// Today's midnight (UTC), ns: runs are placed days before it, within the default
/// window of 7 days and at least a day and a half old, so ages read in days.
fn midnight() -> i64 {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
    now - now.rem_euclid(DAY)
}

fn day_of(ns: i64) -> String {
    log_time(ns)[..10].to_string()
}

/// A log of `runs` (run id, start), each as [`RUN_MM`] says, with `bad_rows`
/// rows of an unknown field per run.
fn runs_log(path: &Path, runs: &[(u64, i64)], bad_rows: usize) {
    let mut log = LogBuilder::default();
    for &(run, start) in runs {
        let times = clock(start, RUN_S, 100, 0);
        log.channel(run, 1, "x", &times, |t| 100.0 * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 1, "z", &times, |_| 1.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
        for i in 0..bad_rows {
            log.push(run, 1, "q", start + i as i64 * SECOND, 1.0);
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    log.write_parquet(path);
}

/// The fleet: cell a (folder `line=L/cell=a`) ran runs 1 and 2 four and three
/// days ago in one file; cell b ran run 3 two days ago and has a source that
/// fails (an empty file); run 4, in no cell, ran four days ago. A worker holds a
/// file labelled as cell a's. Gives the times of the runs.
struct Fleet {
    work: Workdir,
    url: TestCatalog,
    starts: [i64; 4],
}

fn fleet(backend: Backend) -> Fleet {
    let work = Workdir::new();
    let url = backend.url(&work, "fleet_view");
    let today = midnight();
    let starts = [
        today - 4 * DAY + 10 * HOUR,
        today - 3 * DAY + 10 * HOUR,
        today - 2 * DAY + 12 * HOUR,
        today - 4 * DAY + 8 * HOUR,
    ];
    let input = work.input();
    runs_log(
        &input.join("line=L/cell=a/a.parquet"),
        &[(1, starts[0]), (2, starts[1])],
        BAD_ROWS,
    );
    runs_log(&input.join("cell=b/b.parquet"), &[(3, starts[2])], 0);
    write_at_rest(&input.join("cell=b/empty.parquet"), b"");
    runs_log(&input.join("spare/c.parquet"), &[(4, starts[3])], 0);
    let out = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 65, "the empty file fails: {}", stderr(&out));
    // Outside the inbox, so that a later harvest of it does not meet the claim.
    let held = work.path("elsewhere/held.parquet");
    runs_log(&held, &[(5, starts[1])], 0);
    claim_labelled(&url, &held, &[("cell", "a"), ("line", "L")]);
    Fleet { work, url, starts }
}

/// Claims `path` as a worker that found it under `labels` would, and keeps it.
fn claim_labelled(url: &str, path: &Path, labels: &[(&str, &str)]) {
    use harvester::catalog::{ClaimOutcome, ClaimPolicy, SeenFile};
    use harvester::model::labels::Labels;
    let source = harvester::storage::SourceFile::read(path).unwrap();
    let mut path_labels = Labels::new();
    for (key, value) in labels {
        path_labels.insert(key.to_string(), value.to_string());
    }
    let seen = SeenFile {
        content_hash: &source.content_hash,
        path: &source.path.display().to_string(),
        labels: &path_labels,
        given: &Labels::new(),
        size_bytes: source.size(),
    };
    with_catalog(url, async |catalog| {
        let outcome = catalog
            .claim(
                &seen,
                ClaimPolicy::default(),
                std::time::Duration::from_secs(600),
                harvester::model::schema::OUTPUT_SCHEMA_VERSION,
            )
            .await
            .unwrap();
        assert!(matches!(outcome, ClaimOutcome::Acquired(_)), "{outcome:?}");
    });
}

/// `fleet_daily` as the catalog's view has it: (cell, day) → files, runs, rows
/// kept, rows dropped, distance (mm), runtime (s).
fn fleet_daily(url: &str) -> Vec<(String, String, [f64; 6])> {
    let rows = query_sql(
        url,
        "SELECT COALESCE(cell, 'none'), day, CAST(files AS TEXT), CAST(runs AS TEXT),
                CAST(rows_kept AS TEXT), CAST(rows_dropped AS TEXT),
                CAST(distance_mm AS TEXT), CAST(runtime_s AS TEXT)
         FROM fleet_daily ORDER BY 1, 2",
    );
    rows.iter()
        .map(|r| {
            let n = |i: usize| r[i].as_deref().unwrap_or("0").parse::<f64>().unwrap();
            (
                r[0].clone().unwrap(),
                r[1].clone().unwrap(),
                [n(2), n(3), n(4), n(5), n(6), n(7)],
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// The gauges' catalog queries and the fleet's rows, from known inputs.
fn catalog_answers_per_cell(backend: Backend) {
    let fleet = fleet(backend);
    let url = &fleet.url;
    let (last_runs, failed, days, only_a, only_line, pending, totals) =
        with_catalog(url, async |catalog| {
            (
                catalog.cell_last_runs().await.unwrap(),
                catalog.failed_sources_by_cell().await.unwrap(),
                catalog.fleet_days("2000-01-01", &[]).await.unwrap(),
                catalog
                    .fleet_days("2000-01-01", &[("cell".into(), "a".into())])
                    .await
                    .unwrap(),
                catalog
                    .fleet_days("2000-01-01", &[("line".into(), "L".into())])
                    .await
                    .unwrap(),
                catalog.pending_by_cell(&[]).await.unwrap(),
                catalog.fleet_totals("2000-01-01", &[]).await.unwrap(),
            )
        });
    let seconds = |ns: i64| ns as f64 / 1e9;
    let cells: Vec<&str> = last_runs.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(cells, ["a", "b", "none"], "{last_runs:?}");
    for ((_, at), start) in
        last_runs
            .iter()
            .zip([fleet.starts[1], fleet.starts[2], fleet.starts[3]])
    {
        assert!(close(*at, seconds(start)), "{last_runs:?}");
    }
    assert_eq!(failed, [("b".to_string(), 1)]);
    assert_eq!(pending, [("a".to_string(), 1)]);

    // fleet_days are fleet_daily's rows.
    let daily = fleet_daily(url);
    assert_eq!(days.len(), daily.len(), "{days:#?}\n{daily:?}");
    for (day, (cell, date, numbers)) in days.iter().zip(&daily) {
        assert_eq!((&day.cell, &day.day), (cell, date));
        let got = [
            day.files as f64,
            day.runs as f64,
            day.rows_kept as f64,
            day.rows_dropped as f64,
            day.distance_mm,
            day.runtime_s,
        ];
        assert!(
            got.iter().zip(numbers).all(|(g, w)| close(*g, *w)),
            "{day:?} vs {numbers:?}"
        );
    }
    // Known numbers: a on two days, b and none on one each.
    let keys: Vec<(&str, &str)> = days
        .iter()
        .map(|d| (d.cell.as_str(), d.day.as_str()))
        .collect();
    let d = |i: usize| day_of(fleet.starts[i]);
    assert_eq!(
        keys,
        [
            ("a", d(0).as_str()),
            ("a", d(1).as_str()),
            ("b", d(2).as_str()),
            ("none", d(3).as_str())
        ]
    );
    for day in &days {
        assert_eq!(day.runs, 1, "{day:?}");
        assert!(close(day.distance_mm, RUN_MM), "{day:?}");
        assert!(close(day.runtime_s, RUN_S), "{day:?}");
    }
    // A file's drops count at its first run's day.
    assert_eq!(days[0].rows_dropped, 2 * BAD_ROWS as i64, "{days:?}");
    assert_eq!(days[1].rows_dropped, 0);
    assert_eq!(only_a, days[..2]);
    // Over the window, cell a's one file counts once, its runs and distance add up.
    let a = &totals[0];
    assert_eq!(
        (a.cell.as_str(), a.files, a.runs),
        ("a", 1, 2),
        "{totals:?}"
    );
    assert!(close(a.distance_mm, 2.0 * RUN_MM));
    assert_eq!(a.rows_dropped, 2 * BAD_ROWS as i64);
    assert_eq!(totals.len(), 3);
    assert_eq!(only_line, days[..2], "line=L is cell a's folder");
}

on_both_backends!(catalog_answers_per_cell, catalog_answers_per_cell);

/// `view ARGS` on the fleet's catalog, with `COLUMNS` when `width` is given.
fn view(fleet: &Fleet, args: &[&str], width: Option<usize>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_view"));
    command
        .args(["--out", fleet.work.out().to_str().unwrap()])
        .args(["--catalog", &fleet.url])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    if let Some(width) = width {
        command.env("COLUMNS", width.to_string());
    }
    command.output().unwrap()
}

fn success(o: Output) -> String {
    assert_eq!(code(&o), 0, "view failed: {}", stderr(&o));
    stdout(&o)
}

fn json(o: Output) -> Value {
    serde_json::from_str(&success(o)).expect("view prints valid JSON")
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "a line wider than {width}:\n{line}\nin:\n{text}"
        );
    }
}

/// CSV as its header and rows of text.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Per cell and in total, over the default window: what fleet_daily says, the
/// failed source in its cell, the claimed file pending in its cell, the newest
/// run's start; as JSON, CSV and a table of 80 columns.
fn fleet_per_cell(backend: Backend) {
    let fleet = fleet(backend);
    let summary = json(view(&fleet, &["--fleet", "--format", "json"], None));
    let today = midnight();
    assert_eq!(summary["window"]["days"], 7);
    assert_eq!(summary["window"]["until"], day_of(today));
    assert_eq!(summary["window"]["since"], day_of(today - 6 * DAY));
    let cells = summary["cells"].as_array().unwrap();
    let names: Vec<&str> = cells.iter().map(|c| c["cell"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "none"], "{summary:#}");
    let daily = fleet_daily(&fleet.url);
    for cell in cells {
        let name = cell["cell"].as_str().unwrap();
        let rows: Vec<&[f64; 6]> = daily
            .iter()
            .filter(|(c, _, _)| c == name)
            .map(|(_, _, n)| n)
            .collect();
        let total = |i: usize| rows.iter().map(|n| n[i]).sum::<f64>();
        let number = |key: &str| cell[key].as_f64().unwrap();
        // A file whose runs span days counts on each day, and once in its cell.
        assert!(number("files") <= total(0), "{cell:#}");
        assert_eq!(number("runs"), total(1), "{cell:#}");
        assert_eq!(number("rows_kept"), total(2), "{cell:#}");
        assert_eq!(number("rows_dropped"), total(3), "{cell:#}");
        assert!(close(number("distance_mm"), total(4)), "{cell:#}");
        assert!(close(number("distance_mm_per_day"), total(4) / 7.0));
        assert!(close(number("runtime_s"), total(5)), "{cell:#}");
        assert!(close(number("runtime_s_per_day"), total(5) / 7.0));
    }
    let [a, b, none] = [&cells[0], &cells[1], &cells[2]];
    assert_eq!(
        (a["files"].as_i64(), a["runs"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(close(a["distance_mm"].as_f64().unwrap(), 2.0 * RUN_MM));
    assert!(close(a["runtime_s"].as_f64().unwrap(), 2.0 * RUN_S));
    let kept = a["rows_kept"].as_f64().unwrap();
    let dropped = 2.0 * BAD_ROWS as f64;
    assert!(close(
        a["dropped_share"].as_f64().unwrap(),
        dropped / (kept + dropped)
    ));
    assert_eq!(a["pending_files"], 1, "the claimed file: {a:#}");
    assert_eq!(a["failed_sources"], 0);
    assert_eq!(b["failed_sources"], 1, "the empty file: {b:#}");
    assert_eq!(b["runs"], 1);
    assert_eq!(none["runs"], 1);
    assert_eq!(b["dropped_share"], 0.0);
    assert_eq!(
        a["last_run_at"],
        log_time(fleet.starts[1]).replace('Z', ".000Z")
    );
    let age = a["last_run_age_s"].as_f64().unwrap();
    let expected =
        (chrono::Utc::now().timestamp_nanos_opt().unwrap() - fleet.starts[1]) as f64 / 1e9;
    assert!((age - expected).abs() < 120.0, "{age} vs {expected}");

    // CSV: the same cells and numbers.
    let (header, rows) = csv_rows(&success(view(
        &fleet,
        &["--fleet", "--format", "csv"],
        None,
    )));
    assert_eq!(header[..3], ["cell", "files", "runs"]);
    assert_eq!(rows.len(), 3);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows[0][column("runs")], "2");
    assert_eq!(rows[1][column("failed_sources")], "1");
    assert_eq!(
        rows[0][column("distance_mm")].parse::<f64>().unwrap(),
        2.0 * RUN_MM
    );

    // Per day: a row per cell and day with runs.
    let per_day = json(view(
        &fleet,
        &["--fleet", "--daily", "--format", "json"],
        None,
    ));
    let days: Vec<(String, String, i64)> = per_day["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["cell"].as_str().unwrap().to_string(),
                d["day"].as_str().unwrap().to_string(),
                d["runs"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, String, i64)> = daily
        .iter()
        .map(|(c, d, n)| (c.clone(), d.clone(), n[1] as i64))
        .collect();
    assert_eq!(days, expected);
    let (header, rows) = csv_rows(&success(view(
        &fleet,
        &["--fleet", "--daily", "--format", "csv"],
        None,
    )));
    assert_eq!(header[..2], ["cell", "day"]);
    assert_eq!(rows.len(), 4);

    // Filters: a cell, a label, a window that leaves out the older days.
    let only_b = json(view(
        &fleet,
        &["--fleet", "--where", "cell=b", "--format", "json"],
        None,
    ));
    assert_eq!(only_b["cells"].as_array().unwrap().len(), 1, "{only_b:#}");
    assert_eq!(only_b["cells"][0]["failed_sources"], 1);
    let line = json(view(
        &fleet,
        &["--fleet", "--where", "line=L", "--format", "json"],
        None,
    ));
    assert_eq!(line["cells"][0]["cell"], "a", "{line:#}");
    assert_eq!(line["cells"].as_array().unwrap().len(), 1, "{line:#}");
    let since = day_of(fleet.starts[2]);
    let recent = json(view(
        &fleet,
        &["--fleet", "--since", &since, "--format", "json"],
        None,
    ));
    assert_eq!(recent["window"]["days"], 3);
    let runs: Vec<i64> = recent["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["runs"].as_i64().unwrap())
        .collect();
    assert_eq!(runs, [0, 1, 0], "only b ran since {since}: {recent:#}");

    // Tables fit 80 columns, and say the units.
    let table = success(view(&fleet, &["--fleet"], Some(80)));
    assert_fits(&table, 80);
    let share = format!("{:.1} %", 100.0 * dropped / (kept + dropped));
    for said in [
        "Cells now (3)",
        "distance",
        "(m)",
        "(h)",
        "m/day",
        "h/day",
        &share,
    ] {
        assert!(table.contains(said), "no {said} in:\n{table}");
    }
    let wide = success(view(&fleet, &["--fleet"], None));
    assert!(
        wide.contains("distance (m)") && wide.contains("12.0"),
        "{wide}"
    );
    let daily_table = success(view(&fleet, &["--fleet", "--daily"], Some(80)));
    assert_fits(&daily_table, 80);
    assert_eq!(
        daily_table
            .lines()
            .filter(|l| l.starts_with("| a "))
            .count(),
        2,
        "{daily_table}"
    );
}

on_both_backends!(fleet_per_cell, fleet_per_cell);

#[test]
fn the_fleet_table_at_80_columns() {
    let fleet = fleet(Backend::Sqlite);
    let table = success(view(&fleet, &["--fleet"], Some(80)));
    let filters = [
        (r"\d{4}-\d{2}-\d{2}", "[DAY]"),
        (r"\d+d \d{2}h", "[AGE]"),
        (r" {2,}", " "),
        (r"-{3,}", "---"),
    ];
    insta::with_settings!({ filters => filters.to_vec() }, {
        insta::assert_snapshot!("fleet_table_80", table)
    });
}

#[test]
fn an_empty_fleet_says_so() {
    let work = Workdir::new();
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    with_catalog(&url, async |_| ());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_view"))
            .args(args)
            .args(["--catalog", &url])
            .output()
            .unwrap()
    };
    let text = success(run(&["--fleet"]));
    assert!(text.contains("no runs harvested"), "{text}");
    let (header, rows) = csv_rows(&success(run(&["--fleet", "--format", "csv"])));
    assert_eq!(header[0], "cell");
    assert!(rows.is_empty());
    let text = success(run(&["--jobs"]));
    assert!(text.contains("no harvest jobs"), "{text}");
}

/// Combinations that mean nothing are usage errors (64) that say why, before any
/// catalog is read.
#[test]
fn bad_combinations_are_usage_errors() {
    let work = Workdir::new();
    let page = work.path("fleet.html");
    let tomorrow = day_of(midnight() + DAY);
    let page = page.to_str().unwrap();
    for (args, said) in [
        (vec!["--fleet", "--list"], "cannot be used with"),
        (vec!["--fleet", "--jobs"], "cannot be used with"),
        (vec!["--daily"], "--fleet"),
        (vec!["--fleet", "--status", "failed"], "cannot be used with"),
        (
            vec!["--fleet", "--daily", "--html", page],
            "cannot be used with",
        ),
        (
            vec!["--fleet", "--since", "2026-01-02T10:00:00"],
            "whole UTC days",
        ),
        (vec!["--fleet", "--since", tomorrow.as_str()], "after today"),
        (vec!["--fleet", "--limit", "3"], "--list"),
        (vec!["--jobs", "--where", "cell=a"], "--fleet"),
        (vec!["--jobs", "--html", page], "--fleet"),
        (vec!["--where", "cell=a"], "--list"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_view"))
            .args(&args)
            .args(["--out", work.out().to_str().unwrap()])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let text = stderr(&out);
        assert_eq!(code(&out), 64, "{args:?}: {text}");
        assert!(text.contains(said), "{args:?}: {text}");
    }
    assert!(!Path::new(page).exists());
}

/// The jobs each harvest recorded, newest first, as a table of 80 columns, JSON
/// and CSV.
#[test]
fn jobs_are_listed_newest_first() {
    let fleet = fleet(Backend::Sqlite);
    let again = fleet.work.harvest(&[
        fleet.work.input().to_str().unwrap(),
        "--catalog",
        &fleet.url,
    ]);
    assert_eq!(
        code(&again),
        0,
        "a failed source is failed before: {}",
        stderr(&again)
    );
    let jobs = json(view(&fleet, &["--jobs", "--format", "json"], None));
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    let ids: Vec<i64> = jobs.iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    assert_eq!(jobs[0]["state"], "finished");
    assert_eq!(jobs[0]["exit_code"], 0);
    assert_eq!(jobs[1]["exit_code"], 65);
    assert_eq!(jobs[1]["harvested"], 3);
    assert_eq!(jobs[1]["failed"], 1);
    assert_eq!(jobs[0]["failed_before"], 1);
    assert_eq!(jobs[0]["skipped"], 3);

    let limited = json(view(
        &fleet,
        &["--jobs", "--limit", "1", "--format", "json"],
        None,
    ));
    assert_eq!(limited.as_array().unwrap().len(), 1);
    assert_eq!(limited[0]["id"], ids[0]);
    let later = json(view(
        &fleet,
        &["--jobs", "--since", "2999-01-01", "--format", "json"],
        None,
    ));
    assert!(later.as_array().unwrap().is_empty());

    let (header, rows) = csv_rows(&success(view(&fleet, &["--jobs", "--format", "csv"], None)));
    assert_eq!(header[0], "id");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0][header.iter().position(|h| h == "exit_code").unwrap()],
        "0"
    );

    let table = success(view(&fleet, &["--jobs"], Some(80)));
    assert_fits(&table, 80);
    assert!(table.contains("3 harvested"), "{table}");
    assert!(table.contains("finished"), "{table}");
    let wide = success(view(&fleet, &["--jobs"], None));
    assert_eq!(wide.lines().count(), 4, "a line per job: {wide}");
}

/// The fleet of [`fleet`], for the browser test: its catalog and a page of it.
pub fn fleet_page() -> (Workdir, TestCatalog, PathBuf) {
    let fleet = fleet(Backend::Sqlite);
    let page = fleet.work.path("html/fleet.html");
    let done = view(&fleet, &["--fleet", "--html", page.to_str().unwrap()], None);
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    (fleet.work, fleet.url, page)
}
