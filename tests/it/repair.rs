//! Outputs that repair themselves: a rescan (a directory run, `--verify`,
//! `--reharvest-outdated`) rebuilds the outputs deleted since their harvest from a
//! source that still holds the content, records those whose source is gone as
//! missing (warned of once), and `view` of a harvest whose files are missing or
//! superseded says which in one line, exit 66.

use std::path::{Path, PathBuf};
use std::process::Output;

use polars::prelude::*;

use crate::util::*;

/// A log of one run of two robots, 2 s long, starting `start`: Parquet, or CSV by
/// the extension of `path`.
fn small_log(path: &Path, run: u64, start: i64) {
    let mut log = LogBuilder::default();
    let times = clock(start, 2.0, 10, 0);
    log.channel(run, 1, "x", &times, |t| 10.0 * t);
    log.channel(run, 1, "y", &times, |_| 5.0);
    log.channel(run, 2, "fx", &times, |_| 3.0);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut frame = log.frame();
    if path.extension().is_some_and(|e| e == "csv") {
        CsvWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut frame)
            .unwrap();
    } else {
        log.write_parquet(path);
    }
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(minute_ago)
        .unwrap();
}

/// A work directory with two logs in its inbox, one below a `cell=` folder.
fn inbox(work: &Workdir) -> (PathBuf, PathBuf) {
    let a = work.input().join("cell=4/a.parquet");
    let b = work.input().join("b.parquet");
    small_log(&a, 11, T0);
    small_log(&b, 12, T0 + 60 * SECOND);
    (a, b)
}

/// `harvest` of `args` into `work`'s output root on the catalog `url`.
fn harvest(work: &Workdir, url: &str, args: &[&str]) -> Output {
    work.harvest_command(args)
        .args(["--catalog", url, "--log-format", "json"])
        .output()
        .unwrap()
}

/// `view` of `args` over `work`'s output root on the catalog `url`.
fn view(work: &Workdir, url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_view"))
        .args(["--out", work.out().to_str().unwrap(), "--catalog", url])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Asserts a successful harvest and gives its log.
fn ok(out: Output) -> String {
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stderr(&out)
}

/// The output directory of the harvest of `source`.
fn output_of(work: &Workdir, source: &Path) -> PathBuf {
    output_dirs_in(&work.out())
        .into_iter()
        .find(|d| {
            report(d)["source"]
                .as_str()
                .is_some_and(|s| s.ends_with(&*source.to_string_lossy()))
        })
        .unwrap_or_else(|| panic!("no output of {}", source.display()))
}

fn content_hash(dir: &Path) -> String {
    report(dir)["content_hash"].as_str().unwrap().to_string()
}

fn rescan_rebuilds_deleted_outputs(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "repair_rescan");
    let (a, _) = inbox(&work);
    let input = work.input();
    let input = input.to_str().unwrap();
    ok(harvest(&work, &url, &[input]));
    let before = read_dataset(&work.out());
    assert_eq!(before["run_stats"].as_array().unwrap().len(), 4);

    std::fs::remove_dir_all(work.out().join("dataset")).unwrap();
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(harvested_events(&log), 2, "both rebuilt: {log}");
    assert_eq!(read_dataset(&work.out()), before);

    let dir = output_of(&work, &a);
    std::fs::remove_dir_all(&dir).unwrap();
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(harvested_events(&log), 1, "only a rebuilt: {log}");
    assert!(dir.join("report.json").is_file(), "{log}");
    assert_eq!(read_dataset(&work.out()), before);

    // A dataset file cut short is rebuilt too, and intact outputs are left alone.
    let file = run_table_files(&dir).into_iter().next().unwrap();
    std::fs::write(&file, b"PAR1").unwrap();
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(harvested_events(&log), 1, "{log}");
    assert_eq!(read_dataset(&work.out()), before);
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(harvested_events(&log), 0, "nothing to rebuild: {log}");
}
on_both_backends!(
    rescan_rebuilds_deleted_outputs,
    rescan_rebuilds_deleted_outputs
);

fn verify_and_reharvest_outdated_repair(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "repair_verify");
    let (_, b) = inbox(&work);
    let input = work.input();
    let input = input.to_str().unwrap();
    ok(harvest(&work, &url, &[input]));
    let before = read_dataset(&work.out());

    std::fs::remove_dir_all(work.out().join("dataset")).unwrap();
    let log = ok(harvest(&work, &url, &[input, "--verify"]));
    assert_eq!(harvested_events(&log), 2, "{log}");
    assert_eq!(read_dataset(&work.out()), before);

    let dir = output_of(&work, &b);
    std::fs::remove_dir_all(&dir).unwrap();
    let log = ok(harvest(&work, &url, &[input, "--reharvest-outdated"]));
    assert_eq!(harvested_events(&log), 1, "{log}");
    assert!(dir.join("report.json").is_file());
    assert_eq!(read_dataset(&work.out()), before);
}
on_both_backends!(
    verify_and_reharvest_outdated_repair,
    verify_and_reharvest_outdated_repair
);

/// The warning of a content whose outputs and source are gone.
const GONE_WARNING: &str = "no source holds its content any more";

fn outputs_without_source_are_recorded_missing(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "repair_gone");
    let (a, _) = inbox(&work);
    let input = work.input();
    let input = input.to_str().unwrap();
    ok(harvest(&work, &url, &[input]));
    let dir = output_of(&work, &a);
    let hash = content_hash(&dir);
    let run = "11";

    std::fs::remove_file(&a).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(log.matches(GONE_WARNING).count(), 1, "{log}");
    assert!(log.contains(&*a.to_string_lossy()), "{log}");
    assert_eq!(harvested_events(&log), 0, "{log}");
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(log.matches(GONE_WARNING).count(), 0, "warned once: {log}");

    let missing = query_sql(
        &url,
        "SELECT content_hash FROM missing_outputs ORDER BY content_hash",
    );
    assert_eq!(missing, [[Some(hash.clone())]]);
    let listed = view(&work, &url, &["--list", "--wide"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    let line = stdout(&listed)
        .lines()
        .find(|l| l.contains(&hash[..12]))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(line.contains("outputs missing"), "{}", stdout(&listed));

    let page = work.path("page.html");
    let chart = work.path("chart.svg");
    for args in [
        vec![&hash[..12], "--run", run],
        vec![&hash[..12], "--html", page.to_str().unwrap()],
        vec![&hash[..12], "--plot", "path", "-o", chart.to_str().unwrap()],
    ] {
        let out = view(&work, &url, &args);
        let err = stderr(&out);
        assert_eq!(code(&out), 66, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("outputs are missing"), "{args:?}: {err}");
        assert!(!err.contains("os error"), "{args:?}: {err}");
    }

    // The content seen again at a source: rebuilt, and no longer missing.
    small_log(&a, 11, T0);
    let log = ok(harvest(&work, &url, &[input]));
    assert_eq!(harvested_events(&log), 1, "{log}");
    assert!(query_sql(&url, "SELECT content_hash FROM missing_outputs").is_empty());
    let out = view(&work, &url, &[&hash[..12], "--run", run]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
on_both_backends!(
    outputs_without_source_are_recorded_missing,
    outputs_without_source_are_recorded_missing
);

/// A CSV of runs 5 and 6, and how many of its bytes hold the header and run 5.
fn growing_csv(work: &Workdir) -> (Vec<u8>, usize) {
    let first = work.path("first.csv");
    let full = work.path("full.csv");
    small_log(&first, 5, T0);
    let mut log = LogBuilder::default();
    for (run, start) in [(5, T0), (6, T0 + 10 * SECOND)] {
        let times = clock(start, 2.0, 10, 0);
        log.channel(run, 1, "x", &times, |t| 10.0 * t);
        log.channel(run, 1, "y", &times, |_| 5.0);
        log.channel(run, 2, "fx", &times, |_| 3.0);
    }
    CsvWriter::new(std::fs::File::create(&full).unwrap())
        .finish(&mut log.frame())
        .unwrap();
    let first = std::fs::read(&first).unwrap();
    let full = std::fs::read(&full).unwrap();
    assert!(full.starts_with(&first), "run 5 first, written alike");
    (full, first.len())
}

fn view_of_a_superseded_revision_says_so(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "repair_superseded");
    let (full, cut) = growing_csv(&work);
    let log = work.input().join("growing.csv");
    write_at_rest(&log, &full[..cut]);
    ok(harvest(&work, &url, &[log.to_str().unwrap()]));
    let old = content_hash(&work.only_output());
    write_at_rest(&log, &full);
    ok(harvest(&work, &url, &[log.to_str().unwrap()]));

    let page = work.path("page.html");
    for args in [
        vec![&old[..12], "--run", "5"],
        vec![&old[..12], "--html", page.to_str().unwrap()],
    ] {
        let out = view(&work, &url, &args);
        let err = stderr(&out);
        assert_eq!(code(&out), 66, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("superseded"), "{args:?}: {err}");
    }
    // A rescan does not bring a superseded revision's runs back.
    let log = ok(harvest(&work, &url, &[work.input().to_str().unwrap()]));
    assert_eq!(harvested_events(&log), 0, "{log}");
}
on_both_backends!(
    view_of_a_superseded_revision_says_so,
    view_of_a_superseded_revision_says_so
);

/// The cost of the rescan's check on 10,000 harvested files on SQLite, printed (a
/// measurement, not a test of speed): `cargo test --release --test it --
/// --ignored --nocapture repair::measure`. The catalog is filled directly and every
/// output is an empty file of its recorded size: the check reads no file.
#[test]
#[ignore = "a measurement, run by hand"]
fn measure_the_rescan_check_on_10000_files() {
    const FILES: usize = 10_000;
    let work = Workdir::new();
    let (input, out) = (work.input(), work.out());
    let dataset = out.join("dataset");
    for i in 0..FILES {
        let dir = out.join(format!("f-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("report.json"), b"{}").unwrap();
        std::fs::write(dir.join("run_stats.parquet"), b"").unwrap();
        for table in ["samples", "run_stats"] {
            let file = dataset.join(format!("{table}/cell=1/f{i}.parquet"));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, b"PAR1").unwrap();
        }
    }
    let url = format!("sqlite://{}", work.path("catalog.db").display());
    with_catalog(&url, async |_| ());
    let numbers = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})",
        FILES - 1
    );
    execute_sql(
        &url,
        &format!(
            "INSERT INTO harvest_files (content_hash, source_path, size_bytes, status, output_root, output_dir,
                 dataset_files, dataset_sizes, created_at, updated_at)
             {numbers} SELECT printf('%064d', i), '{input}/f' || i || '.parquet', 1, 'harvested', '{out}',
                 'f-' || i,
                 '[\"samples/cell=1/f' || i || '.parquet\",\"run_stats/cell=1/f' || i || '.parquet\"]',
                 '[4,4]', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n",
            input = input.display(),
            out = out.display()
        ),
    );
    execute_sql(
        &url,
        &format!(
            "INSERT INTO harvest_paths (content_hash, path, first_seen_at, last_seen_at)
             {numbers} SELECT printf('%064d', i), '{input}/f' || i || '.parquet',
                 '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n",
            input = input.display()
        ),
    );
    let options = harvester::jobs::JobOptions {
        harvest: harvester::pipeline::HarvestOptions {
            out_root: out.clone(),
            align: Default::default(),
            compression: Default::default(),
            encoding: Default::default(),
            keep_spikes: false,
        },
        policy: Default::default(),
        lease: std::time::Duration::from_secs(60),
        settle: std::time::Duration::from_secs(1),
        verify: false,
        labels: Default::default(),
        stores: std::sync::Arc::new(harvester::storage::remote::ObjectStores::new(
            Default::default(),
        )),
        remote_out: None,
        telemetry: Default::default(),
    };
    with_catalog(&url, async |catalog| {
        for pass in 1..=3 {
            let clock = std::time::Instant::now();
            let (current, broken) =
                harvester::jobs::check_outputs(catalog, std::slice::from_ref(&input), &options)
                    .await;
            let seconds = clock.elapsed().as_secs_f64();
            assert_eq!((current.len(), broken.len()), (FILES, 0));
            println!(
                "pass {pass}: checked the outputs of {FILES} harvested files in {seconds:.3} s"
            );
        }
    });
}

/// A watch started over an inbox whose dataset was deleted rebuilds it at once.
fn a_watch_rebuilds_deleted_outputs(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "repair_watch");
    inbox(&work);
    let input = work.input();
    ok(harvest(&work, &url, &[input.to_str().unwrap()]));
    let before = read_dataset(&work.out());
    std::fs::remove_dir_all(work.out().join("dataset")).unwrap();

    let watch = work
        .harvest_command(&["--watch", input.to_str().unwrap()])
        .args(["--catalog", &url, "--settle", "1", "--log-format", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let samples = work.out().join("dataset/samples");
    while files_below(&samples).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: kill has no preconditions; the pid is our child's.
    unsafe { libc::kill(watch.id() as i32, libc::SIGTERM) };
    let out = watch.wait_with_output().unwrap();
    let log = stderr(&out);
    assert_eq!(code(&out), 0, "{log}");
    assert_eq!(harvested_events(&log), 2, "{log}");
    assert_eq!(read_dataset(&work.out()), before);
}
on_both_backends!(
    a_watch_rebuilds_deleted_outputs,
    a_watch_rebuilds_deleted_outputs
);
