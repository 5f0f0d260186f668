//! Labels follow the source: a file's labels are the `key=value` folders of its
//! whole path however a run reached it, plus the `--label` labels given for it,
//! which a run without `--label` keeps. A relabelled source, or one moved to
//! another `key=value` folder, brings the catalog, `run_stats` and the dataset
//! (partition and `labels` column) into line without `--force`, so that
//! `view --where` and DuckDB agree.

use std::path::Path;

use crate::util::*;
use polars::prelude::*;

/// Writes a Parquet log of two runs (11 and 12) without `cell_id` at `path`, at rest.
fn write_log(path: &Path) {
    let mut log = LogBuilder::default();
    for (i, run) in [11u64, 12].into_iter().enumerate() {
        let times = clock(T0 + 10 * SECOND * i as i64, 2.0, 10, 0);
        log.channel(run, 1, "x", &times, |t| 10.0 * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 1, "z", &times, |_| 1.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
    }
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .finish(&mut log.frame())
        .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_at_rest(path, &bytes);
}

/// Runs `harvest` over `target` with the catalog at `url`; it must succeed.
fn harvest(work: &Workdir, url: &str, target: &Path, args: &[&str]) {
    let mut all = vec![target.to_str().unwrap(), "--catalog", url];
    all.extend_from_slice(args);
    let out = work.harvest(&all);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Whether `view --list --where filter` lists the log.
fn listed_where(work: &Workdir, url: &str, filter: &str) -> bool {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_view"))
        .args(["--list", "--wide", "--out", work.out().to_str().unwrap()])
        .args(["--catalog", url, "--where", filter])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out).contains("shift.parquet")
}

/// What every place that holds the runs says of them: the labels of the catalog's
/// harvest (per path and per run) and of the dataset's rows, and the cells of
/// the catalog's runs and the dataset's partitions. Each must be one value.
#[derive(Debug, PartialEq)]
struct Everywhere {
    labels: String,
    cell: Option<String>,
}

fn everywhere(work: &Workdir, url: &str) -> Everywhere {
    let one = |mut values: Vec<Option<String>>, what: &str| -> Option<String> {
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 1, "{what}: {values:?}");
        values.pop().unwrap()
    };
    let column = |sql: &str| -> Vec<Option<String>> {
        query_sql(url, sql)
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect()
    };
    let path_labels = column(
        "SELECT p.labels FROM harvest_paths p JOIN harvest_files f
         ON f.content_hash = p.content_hash AND f.source_path = p.path",
    );
    let mut labels = path_labels;
    labels.extend(column("SELECT labels FROM run_stats"));
    let dataset = read_dataset(&work.out());
    let rows = |table: &str, key: &str| -> Vec<Option<String>> {
        dataset[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[key].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(rows("samples", "run_uuid").len(), 2, "each run once");
    labels.extend(rows("samples", "labels"));
    labels.extend(rows("run_stats", "labels"));
    let mut cells = column("SELECT cell FROM run_stats");
    cells.extend(rows("samples", "cell"));
    cells.extend(rows("run_stats", "cell"));
    Everywhere {
        labels: one(labels, "labels").unwrap(),
        cell: one(cells, "cells"),
    }
}

fn expect(labels: &str, cell: Option<&str>) -> Everywhere {
    Everywhere {
        labels: labels.to_string(),
        cell: cell.map(str::to_string),
    }
}

/// `--label x=1` on a first run is kept by later runs without `--label`, with
/// and without `--verify`, everywhere.
fn a_run_without_label_keeps_the_labels_given_before(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "keeps");
    write_log(&work.input().join("shift.parquet"));
    harvest(&work, &url, &work.input(), &["--label", "x=1"]);
    assert_eq!(everywhere(&work, &url), expect(r#"{"x":"1"}"#, None));
    for args in [&[][..], &["--verify"]] {
        harvest(&work, &url, &work.input(), args);
        assert_eq!(
            everywhere(&work, &url),
            expect(r#"{"x":"1"}"#, None),
            "{args:?}"
        );
        assert!(listed_where(&work, &url, "x=1"));
    }
}

on_both_backends!(
    a_run_without_label_keeps_the_labels_given_before_on,
    a_run_without_label_keeps_the_labels_given_before
);

/// `--label cell=Z` on a rescan of a log without `cell_id` moves its runs to the
/// partition `cell=Z` without `--force`; `--where cell=Z` finds it, as DuckDB does.
fn a_cell_label_on_a_rescan_moves_the_runs(backend: Backend, verify: bool) {
    let work = Workdir::new();
    let url = backend.url(&work, "relabel");
    write_log(&work.input().join("shift.parquet"));
    harvest(&work, &url, &work.input(), &[]);
    assert_eq!(everywhere(&work, &url), expect("{}", None));
    assert!(!listed_where(&work, &url, "cell=Z"));

    let mut args = vec!["--label", "cell=Z"];
    if verify {
        args.push("--verify");
    }
    harvest(&work, &url, &work.input(), &args);
    assert_eq!(
        everywhere(&work, &url),
        expect(r#"{"cell":"Z"}"#, Some("Z"))
    );
    assert!(listed_where(&work, &url, "cell=Z"));
    // Settled: a rescan without --label keeps the cell and harvests nothing.
    harvest(&work, &url, &work.input(), &[]);
    assert_eq!(
        everywhere(&work, &url),
        expect(r#"{"cell":"Z"}"#, Some("Z"))
    );
    let attempts = query_sql(&url, "SELECT CAST(attempts AS TEXT) FROM harvest_files");
    assert_eq!(attempts, [[Some("2".to_string())]], "harvested twice only");
}

fn a_cell_label_on_a_rescan_moves_the_runs_plain(backend: Backend) {
    a_cell_label_on_a_rescan_moves_the_runs(backend, false);
}

fn a_cell_label_on_a_verified_rescan_moves_the_runs(backend: Backend) {
    a_cell_label_on_a_rescan_moves_the_runs(backend, true);
}

on_both_backends!(
    a_cell_label_on_a_rescan_moves_the_runs_on,
    a_cell_label_on_a_rescan_moves_the_runs_plain
);
on_both_backends!(
    a_cell_label_on_a_verified_rescan_moves_the_runs_on,
    a_cell_label_on_a_verified_rescan_moves_the_runs
);

/// A harvested file moved into another `cell=` folder: the catalog, run_stats and
/// the dataset follow it.
fn a_moved_file_takes_its_new_folders_labels(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "moved");
    let before = work.input().join("cell=A/shift.parquet");
    write_log(&before);
    harvest(&work, &url, &work.input(), &[]);
    assert_eq!(
        everywhere(&work, &url),
        expect(r#"{"cell":"A"}"#, Some("A"))
    );

    let after = work.input().join("cell=B/shift.parquet");
    std::fs::create_dir_all(after.parent().unwrap()).unwrap();
    std::fs::rename(&before, &after).unwrap();
    harvest(&work, &url, &work.input(), &[]);
    assert_eq!(
        everywhere(&work, &url),
        expect(r#"{"cell":"B"}"#, Some("B"))
    );
    assert!(listed_where(&work, &url, "cell=B"));
    assert!(!listed_where(&work, &url, "cell=A"));
}

on_both_backends!(
    a_moved_file_takes_its_new_folders_labels_on,
    a_moved_file_takes_its_new_folders_labels
);

/// A file given by itself, through a folder below its labels, and through the
/// top directory has the labels of its whole path every time: nothing flaps, and
/// nothing is harvested again.
fn a_file_has_the_same_labels_however_it_is_reached(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "reached");
    let cell = work.input().join("line=L/cell=C");
    let log = cell.join("2022-11-23/shift.parquet");
    write_log(&log);
    let labels = expect(r#"{"cell":"C","line":"L"}"#, Some("C"));
    harvest(&work, &url, &log, &[]);
    assert_eq!(everywhere(&work, &url), labels);
    for target in [&cell, &work.input()] {
        harvest(&work, &url, target, &["--verify"]);
        assert_eq!(everywhere(&work, &url), labels, "{}", target.display());
    }
    let attempts = query_sql(&url, "SELECT CAST(attempts AS TEXT) FROM harvest_files");
    assert_eq!(attempts, [[Some("1".to_string())]], "harvested once");
}

on_both_backends!(
    a_file_has_the_same_labels_however_it_is_reached_on,
    a_file_has_the_same_labels_however_it_is_reached
);
