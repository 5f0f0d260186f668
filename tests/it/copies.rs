//! A run once: the same run in several current files is one run in the fleet views
//! and the dataset. Copies (readings that overlap in time) give way to the one with
//! the most rows, then the first seen, with a warning naming both files; parts of a
//! run rotated into two files both stay, with a warning.

use std::path::Path;

use crate::util::*;

/// A log of `runs` (run id, start, seconds): robot 1 moves along x at 10 mm/s and
/// robot 2 reads a constant force, every 10 ms. No `cell_id` column: the `cell=`
/// folder files the runs.
fn log(path: &Path, runs: &[(u64, i64, f64)]) {
    let mut log = LogBuilder::default();
    for &(run, start, seconds) in runs {
        let times = clock(start, seconds, 10, 0);
        log.channel(run, 1, "x", &times, |t| 10.0 * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    log.write_parquet(path);
}

fn harvest(work: &Workdir, url: &str, path: &Path) -> String {
    let out = work.harvest(&[path.to_str().unwrap(), "--catalog", url]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    err
}

/// The content hash of the harvest of the file named `name`.
fn hash_of(work: &Workdir, name: &str) -> String {
    output_dirs_in(&work.out())
        .iter()
        .map(|d| report(d))
        .find(|r| r["source"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no report of {name}"))["content_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The warnings of a job's log that name both files.
fn warnings_naming<'a>(err: &'a str, a: &str, b: &str) -> Vec<&'a str> {
    err.lines()
        .filter(|l| l.contains("WARN") && l.contains(a) && l.contains(b))
        .collect()
}

/// (run, robot, content hash) of `latest_run_stats`, sorted.
fn latest(url: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = query_sql(
        url,
        "SELECT run_uuid, CAST(robot_id AS TEXT), content_hash FROM latest_run_stats",
    )
    .into_iter()
    .map(|r| {
        let mut r = r.into_iter().map(Option::unwrap);
        (r.next().unwrap(), r.next().unwrap(), r.next().unwrap())
    })
    .collect();
    rows.sort();
    rows
}

/// (cell, files, runs, rows kept) of `fleet_daily`, sorted.
fn daily(url: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = query_sql(
        url,
        "SELECT cell, CAST(files AS TEXT), CAST(runs AS TEXT), CAST(rows_kept AS TEXT)
         FROM fleet_daily",
    )
    .into_iter()
    .map(|r| r.into_iter().map(Option::unwrap).collect())
    .collect();
    rows.sort();
    rows
}

/// (run, robot or cell, content hash), sorted.
type Triples = Vec<(String, String, String)>;

/// (run, cell, content hash) of the dataset's run statistics and
/// (run, cell) of its run tables, as DuckDB and polars read them.
fn dataset(work: &Workdir) -> (Triples, Vec<(String, String)>) {
    let dataset = read_dataset(&work.out());
    let mut stats: Vec<(String, String, String)> = dataset["run_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_uuid"].as_str().unwrap().to_string(),
                r["cell"].as_str().unwrap().to_string(),
                r["content_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    stats.sort();
    let mut tables: Vec<(String, String)> = dataset["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["run_uuid"].as_str().unwrap().to_string(),
                s["cell"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tables.sort();
    (stats, tables)
}

fn owned<const N: usize>(rows: &[[&str; N]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect()
}

fn triples(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = rows
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    rows.sort();
    rows
}

/// Run 41 copied into three cells: `x` (cell a) and `y` (cell b, with an extra run
/// 42) hold the same readings; `z` (cell c) holds more of them. Each run and robot
/// is once in the views and the dataset: first the first seen of two equal copies,
/// then the copy with the most rows, whatever order they came in.
fn copies_count_once(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "copies");
    let x = work.input().join("cell=a/x.parquet");
    let y = work.input().join("cell=b/y.parquet");
    let z = work.input().join("cell=c/z.parquet");
    log(&x, &[(41, T0, 2.0)]);
    log(&y, &[(41, T0, 2.0), (42, T0 + 10 * SECOND, 2.0)]);
    log(&z, &[(41, T0, 3.0)]);
    let rows = 3 * 201;

    harvest(&work, &url, &x);
    let err = harvest(&work, &url, &y);
    let (hx, hy) = (hash_of(&work, "x.parquet"), hash_of(&work, "y.parquet"));
    let said = warnings_naming(&err, "x.parquet", "y.parquet");
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains("run 41") && said[0].contains("this one is set aside"),
        "{err}"
    );
    assert_eq!(
        latest(&url),
        triples(&[
            ("41", "1", &hx),
            ("41", "2", &hx),
            ("42", "1", &hy),
            ("42", "2", &hy)
        ]),
        "equal copies: the first seen"
    );
    let r = rows.to_string();
    assert_eq!(
        daily(&url),
        owned(&[["a", "1", "1", &r], ["b", "1", "1", &r]])
    );
    let (stats, tables) = dataset(&work);
    assert_eq!(
        stats,
        triples(&[
            ("41", "a", &hx),
            ("41", "a", &hx),
            ("42", "b", &hy),
            ("42", "b", &hy)
        ])
    );
    assert_eq!(
        tables,
        [("41".into(), "a".into()), ("42".into(), "b".into())]
    );

    // A longer copy beats both, though harvested last: x's files leave the dataset.
    let err = harvest(&work, &url, &z);
    let hz = hash_of(&work, "z.parquet");
    for other in ["x.parquet", "y.parquet"] {
        let said = warnings_naming(&err, "z.parquet", other);
        assert_eq!(said.len(), 1, "{err}");
        assert!(said[0].contains("this copy"), "{err}");
    }
    assert_eq!(
        latest(&url),
        triples(&[
            ("41", "1", &hz),
            ("41", "2", &hz),
            ("42", "1", &hy),
            ("42", "2", &hy)
        ])
    );
    let longer = (3 * 301).to_string();
    assert_eq!(
        daily(&url),
        owned(&[["b", "1", "1", &r], ["c", "1", "1", &longer]])
    );
    let check = |work: &Workdir| {
        let (stats, tables) = dataset(work);
        assert_eq!(
            stats,
            triples(&[
                ("41", "c", &hz),
                ("41", "c", &hz),
                ("42", "b", &hy),
                ("42", "b", &hy)
            ])
        );
        assert_eq!(
            tables,
            [("41".into(), "c".into()), ("42".into(), "b".into())]
        );
    };
    check(&work);

    // A rescan neither rebuilds the files set aside nor harvests anything again.
    let out = work.harvest(&[work.input().to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("0 harvested"), "{}", stderr(&out));
    check(&work);
}

on_both_backends!(copies_count_once, copies_count_once);

/// Run 51 rotated into two files mid-run: readings that do not overlap are parts,
/// both current, each with its own statistics, and one run in `fleet_daily`.
fn rotated_parts_both_stay(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "rotated");
    let first = work.input().join("cell=a/part1.parquet");
    let second = work.input().join("cell=a/part2.parquet");
    log(&first, &[(51, T0, 2.0)]);
    log(&second, &[(51, T0 + 3 * SECOND, 1.0)]);
    harvest(&work, &url, &first);
    let err = harvest(&work, &url, &second);
    let said = warnings_naming(&err, "part1.parquet", "part2.parquet");
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].contains("do not overlap"), "{err}");

    let (h1, h2) = (
        hash_of(&work, "part1.parquet"),
        hash_of(&work, "part2.parquet"),
    );
    assert_eq!(
        latest(&url),
        triples(&[
            ("51", "1", &h1),
            ("51", "2", &h1),
            ("51", "1", &h2),
            ("51", "2", &h2)
        ])
    );
    let kept = (3 * 201 + 3 * 101).to_string();
    assert_eq!(daily(&url), owned(&[["a", "2", "1", &kept]]));
    let (stats, tables) = dataset(&work);
    assert_eq!(
        stats,
        triples(&[
            ("51", "a", &h1),
            ("51", "a", &h1),
            ("51", "a", &h2),
            ("51", "a", &h2)
        ])
    );
    assert_eq!(
        tables.len(),
        1,
        "one run table per partition and run: {tables:?}"
    );
}

on_both_backends!(rotated_parts_both_stay, rotated_parts_both_stay);
