//! Sources over time: a path holds one current content. An edited, shortened or
//! re-exported log replaces its earlier content's runs in the dataset and the fleet
//! views, also when the new bytes were harvested elsewhere before; an earlier
//! content still held by another path stays; a new content that fails leaves the
//! earlier one current; a renamed log that grows supersedes what it held.

use std::path::Path;

use crate::util::*;
use polars::prelude::*;

/// The bytes of a log of `runs` (run id, speed in mm/s): robot 1 moves along x at
/// that speed for 2 s (so `2 × speed` mm), robot 2 reads a constant force. CSV or
/// Parquet by `path`'s extension.
fn log_bytes(path: &Path, runs: &[(u64, f64)]) -> Vec<u8> {
    let mut log = LogBuilder::default();
    for (i, &(run, speed)) in runs.iter().enumerate() {
        let times = clock(T0 + 10 * SECOND * i as i64, 2.0, 10, 0);
        log.channel(run, 1, "x", &times, |t| speed * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 1, "z", &times, |_| 1.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
    }
    let mut frame = log.frame();
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "csv") {
        CsvWriter::new(&mut bytes).finish(&mut frame).unwrap();
    } else {
        ParquetWriter::new(&mut bytes).finish(&mut frame).unwrap();
    }
    bytes
}

/// Writes the log of `runs` at `path` (at rest), and gives its content hash.
fn write_log(path: &Path, runs: &[(u64, f64)]) -> String {
    let bytes = log_bytes(path, runs);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_at_rest(path, &bytes);
    blake3::hash(&bytes).to_hex().to_string()
}

/// Harvests the input folder into the output root on `url`; the exit code must be
/// `expected`.
fn rescan(work: &Workdir, url: &str, expected: i32) {
    let out = work.harvest(&[work.input().to_str().unwrap(), "--catalog", url]);
    assert_eq!(code(&out), expected, "{}", stderr(&out));
}

/// The run ids in the dataset's samples, and the content hashes of its run
/// statistics, sorted.
fn dataset_runs(work: &Workdir) -> (Vec<String>, Vec<String>) {
    let dataset = read_dataset(&work.out());
    let runs = dataset["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["run_uuid"].as_str().unwrap().to_string())
        .collect();
    let mut hashes: Vec<String> = dataset["run_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content_hash"].as_str().unwrap().to_string())
        .collect();
    hashes.sort();
    hashes.dedup();
    (runs, hashes)
}

/// `superseded_by` and `superseded_reason` of a content.
fn supersession(url: &str, content_hash: &str) -> (Option<String>, Option<String>) {
    let rows = query_sql(
        url,
        &format!(
            "SELECT superseded_by, superseded_reason FROM harvest_files WHERE content_hash = '{content_hash}'"
        ),
    );
    assert_eq!(rows.len(), 1, "{content_hash}: {rows:?}");
    (rows[0][0].clone(), rows[0][1].clone())
}

/// fleet_daily summed over its rows: files, runs, distance (mm).
fn fleet_totals(url: &str) -> (i64, i64, f64) {
    let rows = query_sql(
        url,
        "SELECT CAST(SUM(files) AS TEXT), CAST(SUM(runs) AS TEXT), CAST(SUM(distance_mm) AS TEXT)
         FROM fleet_daily",
    );
    let number = |i: usize| rows[0][i].as_deref().unwrap_or("0").parse::<f64>().unwrap();
    (number(0) as i64, number(1) as i64, number(2))
}

/// The runs `latest_run_stats` holds, sorted and once each.
fn latest_runs(url: &str) -> Vec<String> {
    let mut runs: Vec<String> = query_sql(url, "SELECT run_uuid FROM latest_run_stats")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

fn status_in_list(url: &str, content_hash: &str) -> String {
    catalog_records(url)
        .into_iter()
        .find(|r| r.content_hash == content_hash)
        .unwrap()
        .shown_status()
        .to_string()
}

/// A log edited in place (other values, same runs) replaces its earlier content:
/// the dataset holds the new runs once, fleet_daily counts one file and the new
/// distance, and the catalog, report.json and `view --list` say what was
/// superseded and why.
fn an_edited_log_replaces_its_earlier_content(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "edited");
    let log = work.input().join("shift.csv");
    let first = write_log(&log, &[(1, 10.0), (2, 10.0)]);
    rescan(&work, &url, 0);
    assert_eq!(fleet_totals(&url), (1, 2, 40.0));

    let second = write_log(&log, &[(1, 20.0), (2, 20.0)]);
    rescan(&work, &url, 0);
    let (runs, hashes) = dataset_runs(&work);
    assert_eq!(runs, ["1", "2"], "each run once");
    assert_eq!(hashes, std::slice::from_ref(&second));
    assert_eq!(fleet_totals(&url), (1, 2, 80.0));
    assert_eq!(
        supersession(&url, &first),
        (Some(second.clone()), Some("changed".into()))
    );
    assert_eq!(supersession(&url, &second), (None, None));
    assert_eq!(status_in_list(&url, &first), "superseded (changed)");
    assert_eq!(status_in_list(&url, &second), "harvested");
    let newer = output_dirs_in(&work.out())
        .iter()
        .map(|d| report(d))
        .find(|r| r["content_hash"] == second.as_str())
        .unwrap();
    assert_eq!(newer["supersedes"]["content_hash"], first.as_str());
    assert_eq!(newer["supersedes"]["reason"], "changed");

    // A rescan with nothing changed changes nothing.
    rescan(&work, &url, 0);
    assert_eq!(
        dataset_runs(&work),
        (vec!["1".into(), "2".into()], vec![second])
    );
}

on_both_backends!(
    an_edited_log_replaces_its_earlier_content_on,
    an_edited_log_replaces_its_earlier_content
);

/// A Parquet log exported again without its last run: that run leaves
/// latest_run_stats and the dataset.
fn a_log_exported_again_without_a_run_drops_it(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "reexport");
    let log = work.input().join("cell=4/export.parquet");
    let first = write_log(&log, &[(1, 10.0), (2, 10.0), (3, 10.0)]);
    rescan(&work, &url, 0);
    assert_eq!(latest_runs(&url), ["1", "2", "3"]);

    let second = write_log(&log, &[(1, 10.0), (2, 10.0)]);
    rescan(&work, &url, 0);
    assert_eq!(latest_runs(&url), ["1", "2"]);
    let (runs, hashes) = dataset_runs(&work);
    assert_eq!(runs, ["1", "2"]);
    assert_eq!(hashes, std::slice::from_ref(&second));
    assert_eq!(fleet_totals(&url), (1, 2, 40.0));
    assert_eq!(
        supersession(&url, &first),
        (Some(second), Some("changed".into()))
    );
}

on_both_backends!(
    a_log_exported_again_without_a_run_drops_it_on,
    a_log_exported_again_without_a_run_drops_it
);

/// A path that now holds bytes harvested before at another path retires what it
/// held, although nothing new is harvested.
fn a_source_holding_content_harvested_elsewhere_retires_its_own(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "elsewhere");
    let a = work.input().join("a.csv");
    let b = work.input().join("b.csv");
    let old = write_log(&a, &[(1, 10.0)]);
    let other = write_log(&b, &[(2, 30.0)]);
    rescan(&work, &url, 0);
    assert_eq!(fleet_totals(&url), (2, 2, 80.0));

    std::fs::remove_file(&a).unwrap();
    write_at_rest(&a, &std::fs::read(&b).unwrap());
    rescan(&work, &url, 0);
    assert_eq!(
        supersession(&url, &old),
        (Some(other.clone()), Some("changed".into()))
    );
    let (runs, hashes) = dataset_runs(&work);
    assert_eq!(runs, ["2"]);
    assert_eq!(hashes, [other]);
    assert_eq!(fleet_totals(&url), (1, 1, 60.0));
    assert_eq!(latest_runs(&url), ["2"]);
}

on_both_backends!(
    a_source_holding_content_harvested_elsewhere_retires_its_own_on,
    a_source_holding_content_harvested_elsewhere_retires_its_own
);

/// An earlier content that another path still holds stays current when one of its
/// paths changes.
fn a_content_still_held_elsewhere_stays_current(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "held");
    let a = work.input().join("a.csv");
    let copy = work.input().join("copy/a.csv");
    let old = write_log(&a, &[(1, 10.0)]);
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    write_at_rest(&copy, &std::fs::read(&a).unwrap());
    rescan(&work, &url, 0);

    let new = write_log(&a, &[(7, 20.0)]);
    rescan(&work, &url, 0);
    assert_eq!(supersession(&url, &old), (None, None));
    let (runs, mut hashes) = dataset_runs(&work);
    assert_eq!(runs, ["1", "7"]);
    let mut both = vec![old.clone(), new];
    both.sort();
    hashes.sort();
    assert_eq!(hashes, both);
    assert_eq!(fleet_totals(&url), (2, 2, 60.0));

    // Touched, the copy still holds it: it is read again and stays current.
    let at_rest = std::fs::read(&copy).unwrap();
    write_at_rest(&copy, &at_rest);
    let a_again = write_log(&a, &[(8, 20.0)]);
    rescan(&work, &url, 0);
    assert_eq!(supersession(&url, &old), (None, None));
    assert_eq!(dataset_runs(&work).0, ["1", "8"]);
    assert_eq!(supersession(&url, &a_again), (None, None));
}

on_both_backends!(
    a_content_still_held_elsewhere_stays_current_on,
    a_content_still_held_elsewhere_stays_current
);

/// A source whose new content fails keeps its earlier content current; once it
/// holds a good one again, that one supersedes the earlier.
fn a_new_content_that_fails_leaves_the_earlier_current(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "fails");
    let log = work.input().join("shift.csv");
    let first = write_log(&log, &[(1, 10.0)]);
    rescan(&work, &url, 0);

    write_at_rest(&log, b"time,value\nnot,a log\n");
    rescan(&work, &url, 65);
    assert_eq!(supersession(&url, &first), (None, None));
    assert_eq!(dataset_runs(&work), (vec!["1".into()], vec![first.clone()]));
    assert_eq!(fleet_totals(&url), (1, 1, 20.0));
    assert_eq!(status_in_list(&url, &first), "harvested");

    let fixed = write_log(&log, &[(1, 15.0)]);
    rescan(&work, &url, 0);
    assert_eq!(
        supersession(&url, &first),
        (Some(fixed.clone()), Some("changed".into()))
    );
    assert_eq!(dataset_runs(&work), (vec!["1".into()], vec![fixed]));
    assert_eq!(fleet_totals(&url), (1, 1, 30.0));
}

on_both_backends!(
    a_new_content_that_fails_leaves_the_earlier_current_on,
    a_new_content_that_fails_leaves_the_earlier_current
);

/// A vanished source retires nothing; a renamed log that then grows supersedes
/// what it held, for the reason `grew`; a content seen again after it was
/// superseded is current again, its runs back in the dataset.
fn a_renamed_log_that_grows_supersedes_its_old_content(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "renamed");
    let a = work.input().join("a.csv");
    let renamed = work.input().join("line=B/b.csv");
    let full = log_bytes(&a, &[(1, 10.0), (2, 10.0)]);
    let cut = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .nth(804)
        .unwrap();
    write_at_rest(&a, &full[..cut]);
    let short = blake3::hash(&full[..cut]).to_hex().to_string();
    rescan(&work, &url, 0);

    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::rename(&a, &renamed).unwrap();
    rescan(&work, &url, 0);
    assert_eq!(
        supersession(&url, &short),
        (None, None),
        "a rename is a move"
    );
    assert_eq!(dataset_runs(&work).0, ["1"]);

    write_at_rest(&renamed, &full);
    let long = blake3::hash(&full).to_hex().to_string();
    rescan(&work, &url, 0);
    assert_eq!(
        supersession(&url, &short),
        (Some(long.clone()), Some("grew".into()))
    );
    assert_eq!(
        dataset_runs(&work),
        (vec!["1".into(), "2".into()], vec![long])
    );
    assert_eq!(status_in_list(&url, &short), "superseded (grew)");

    // The shorter revision copied back in: a source holds it, so it is current
    // again and its runs are back in the dataset.
    write_at_rest(&work.input().join("again.csv"), &full[..cut]);
    rescan(&work, &url, 0);
    assert_eq!(supersession(&url, &short), (None, None));
    let stats = files_below(&work.out().join("dataset/run_stats"));
    assert!(
        stats
            .iter()
            .any(|f| f.contains(&format!("/{}-", &short[..12]))),
        "{stats:?}"
    );
}

on_both_backends!(
    a_renamed_log_that_grows_supersedes_its_old_content_on,
    a_renamed_log_that_grows_supersedes_its_old_content
);

/// An inbox emptied after each harvest: a log that later arrives under the name of
/// one that was taken away is a new source once a rescan has seen the name go, so
/// both logs' runs stay current. (Without a rescan in between, the later log is a
/// new version of the earlier one: the README says so.)
fn an_emptied_inbox_reusing_a_name_retires_nothing(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "inbox");
    let log = work.input().join("robot.csv");
    let first = write_log(&log, &[(1, 10.0)]);
    rescan(&work, &url, 0);
    std::fs::remove_file(&log).unwrap();
    let out = work.harvest(&[work.input().to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 source(s) gone since they were read"),
        "{}",
        stderr(&out)
    );
    let second = write_log(&log, &[(2, 20.0)]);
    rescan(&work, &url, 0);
    assert_eq!(supersession(&url, &first), (None, None));
    assert_eq!(supersession(&url, &second), (None, None));
    let (mut runs, hashes) = dataset_runs(&work);
    runs.sort();
    assert_eq!(runs, ["1", "2"]);
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(hashes, both);
}

on_both_backends!(
    an_emptied_inbox_reusing_a_name,
    an_emptied_inbox_reusing_a_name_retires_nothing
);
