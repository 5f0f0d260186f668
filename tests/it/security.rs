//! Security properties of the `harvest` and `view` binaries:
//!
//! * nothing is written outside `--out`, whatever a source file is named or a run is
//!   numbered;
//! * a database password never appears in a log line or an error;
//! * SQL is parameterised: a path holding SQL is stored and found like any other.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;
use harvester::catalog::FileStatus;

/// A small valid log whose runs are `runs`; `salt` makes its bytes unique.
fn log_bytes(runs: &[u64], salt: u64) -> Vec<u8> {
    let mut csv = String::from("time,value,field,robot_id,run_uuid,sensor_type\n");
    for &run in runs {
        for k in 0..5i64 {
            csv.push_str(&format!(
                "{},{},x,1,{run},encoder\n",
                log_time(T0 + k * 12_000_000),
                salt as f64 + k as f64
            ));
        }
    }
    csv.into_bytes()
}

/// Writes that log at `path`, as Parquet or CSV by the extension.
fn write_log(path: &Path, runs: &[u64], salt: u64) {
    if path.extension().is_some_and(|e| e == "parquet") {
        let mut log = LogBuilder::default();
        for &run in runs {
            for k in 0..5i64 {
                log.push(run, 1, "x", T0 + k * 12_000_000, salt as f64 + k as f64);
            }
        }
        log.write_parquet(path);
    } else {
        std::fs::write(path, log_bytes(runs, salt)).unwrap();
    }
}

/// Every path under `root`, directories included (symlinks not followed).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

fn harvest_in(cwd: &Path, args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harvest"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("HARVEST_OUT")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------------
// Nothing outside --out
// ---------------------------------------------------------------------------------

/// Source names that a careless join, format or shell would turn into another place.
fn odd_names() -> Vec<OsString> {
    let mut names: Vec<OsString> = [
        "..parquet",
        "...csv",
        "..csv",
        "a b.parquet",
        "日本語.parquet",
        "new\nline.csv",
        "semi;colon.csv",
        "-rf.csv",
        "$(touch pwned).csv",
        "`touch pwned`.csv",
        "..\\..\\escape.csv",
        "%s%n%x.csv",
        "tab\tand\rreturn.csv",
        "~.csv",
        ".. .csv",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    // 250 bytes, just under NAME_MAX.
    names.push(OsString::from(format!("{}.csv", "n".repeat(246))));
    // Not UTF-8 at all.
    names.push(OsString::from_vec(b"\xff\xfe\x80.csv".to_vec()));
    names
}

#[test]
fn nothing_is_written_outside_out_whatever_the_names() {
    let root = tempfile::tempdir().unwrap();
    let (input, out, cwd) = (
        root.path().join("in"),
        root.path().join("out"),
        root.path().join("cwd"),
    );
    for d in [&input, &cwd] {
        std::fs::create_dir_all(d).unwrap();
    }
    let names = odd_names();
    for (i, name) in names.iter().enumerate() {
        // Run ids at both ends of u64 among the others.
        let runs = match i {
            0 => vec![0, u64::MAX],
            1 => vec![u64::MAX - 1, 1],
            _ => vec![i as u64 + 10],
        };
        write_log(&input.join(name), &runs, i as u64);
    }
    // The whole directory, then one file by a relative path that climbs out of cwd.
    let all = harvest_in(
        &cwd,
        &[input.as_os_str(), OsStr::new("--out"), out.as_os_str()],
    );
    let err = stderr(&all);
    assert_eq!(code(&all), 0, "{err}");
    // Directory mode skips hidden files (documented); names that are not UTF-8 are
    // harvested like any other.
    let listed = names
        .iter()
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .count();
    assert!(
        err.contains(&format!("summary: {listed} harvested, 0 skipped, 0 failed")),
        "{err}"
    );
    // Every file by name, absolute paths.
    let mut explicit: Vec<OsString> = names.iter().map(|n| input.join(n).into()).collect();
    explicit.extend(["--out".into(), out.clone().into()]);
    let each = harvest_in(
        &cwd,
        &explicit.iter().map(|a| a.as_os_str()).collect::<Vec<_>>(),
    );
    let err = stderr(&each);
    assert_eq!(code(&each), 0, "{err}");
    assert!(
        err.contains(&format!(
            "summary: {} harvested, {listed} skipped, 0 failed",
            names.len() - listed
        )),
        "{err}"
    );
    let relative = harvest_in(
        &cwd,
        &[
            OsStr::new("../in/..parquet"),
            OsStr::new("--out"),
            OsStr::new("../out"),
            OsStr::new("--force"),
        ],
    );
    assert_eq!(code(&relative), 0, "{}", stderr(&relative));

    for path in walk(root.path()) {
        assert!(
            path.starts_with(&input) || path.starts_with(&out) || path == cwd,
            "written outside --out: {}",
            path.display()
        );
    }
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "cwd untouched");
    // Inputs are never modified or removed.
    assert_eq!(std::fs::read_dir(&input).unwrap().count(), names.len());

    // Output directories are direct children of --out with tame names, and run
    // tables are named by decimal run ids.
    let mut outputs = 0;
    for entry in std::fs::read_dir(&out).unwrap().flatten() {
        let name = entry.file_name().into_string().expect("UTF-8 output name");
        if name.starts_with("catalog.db") || name == "dataset" {
            continue;
        }
        assert!(entry.file_type().unwrap().is_dir(), "{name}");
        assert!(
            !name.starts_with('.')
                && name.len() <= 100
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "output name {name:?}"
        );
        outputs += 1;
        for table in run_table_files(&entry.path()) {
            assert!(table.exists(), "{}", table.display());
            let name = table.file_name().unwrap().to_string_lossy().into_owned();
            let id = name
                .strip_suffix(".parquet")
                .and_then(|n| n.split_once('-'))
                .expect("<hash12>-<run>.parquet")
                .1;
            assert_eq!(id.parse::<u64>().unwrap().to_string(), id, "{name}");
        }
    }
    assert_eq!(outputs, names.len());
    let first = output_dirs_in(&out).into_iter().find(|p| {
        run_table_files(p).iter().any(|t| {
            t.to_string_lossy()
                .ends_with("-18446744073709551615.parquet")
        })
    });
    assert!(first.is_some(), "run u64::MAX has its table");

    // Every source is in the catalog under its exact (lossy for non-UTF-8) path.
    let records = catalog_records_in(&out);
    assert_eq!(records.len(), names.len());
    for name in &names {
        let path = input.join(name).to_string_lossy().into_owned();
        assert!(
            records
                .iter()
                .any(|r| r.source_path == path || r.paths.contains(&path)),
            "{path:?} in the catalog"
        );
    }
}

/// A log whose name is not UTF-8 (a Latin-1 `pr\xfcfung.csv` from an old share) is
/// harvested in a directory run like any other, not silently left out.
#[test]
fn non_utf8_names_are_harvested_in_directory_mode() {
    let work = Workdir::new();
    let input = work.input();
    write_log(&input.join(OsStr::from_bytes(b"pr\xfcfung.csv")), &[1], 0);
    let o = work.harvest(&[input.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("1 harvested, 0 skipped, 0 failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_source_path_cannot_steer_the_output_dir() {
    // Whatever the stem, the output goes to --out/<safe stem>-<hash>.
    let work = Workdir::new();
    let deep = work.input().join("a").join("..").join("b");
    std::fs::create_dir_all(&deep).unwrap();
    let src = deep.join("..parquet.csv");
    write_log(&src, &[5], 1);
    let out = work.harvest(&[src.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    assert_eq!(dir.parent().unwrap(), work.out());
    assert!(dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("parquet-"));
}

// ---------------------------------------------------------------------------------
// Links that lead nowhere
// ---------------------------------------------------------------------------------

#[test]
fn dangling_and_looping_links_are_bad_files_recorded_by_path() {
    let work = Workdir::new();
    let input = work.input();
    write_log(&input.join("good.csv"), &[1], 0);
    let dangling = input.join("gone.parquet");
    std::os::unix::fs::symlink(input.join("nowhere.parquet"), &dangling).unwrap();
    let looping = input.join("loop.csv");
    std::os::unix::fs::symlink(&looping, &looping).unwrap();
    let out_dir = work.out();
    let args = [input.as_os_str(), OsStr::new("--out"), out_dir.as_os_str()];

    // The first run fails on them (65, an error each); a rerun finds them failed
    // before (0, a warning each).
    for (attempt, exit, level) in [("first", 65, "ERROR"), ("again", 0, "WARN")] {
        let out = harvest_in(work.dir.path(), &args);
        let err = stderr(&out);
        assert_eq!(code(&out), exit, "{attempt}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains(level)).collect();
        assert_eq!(errors.len(), 2, "{attempt}: one line per link: {err}");
        assert!(
            errors
                .iter()
                .any(|l| l.contains("gone.parquet") && l.contains("dangling")),
            "{err}"
        );
        assert!(
            errors
                .iter()
                .any(|l| l.contains("loop.csv") && l.contains("symbolic link")),
            "{err}"
        );
    }

    let records = catalog_records_in(&out_dir);
    assert_eq!(records.len(), 3, "{records:?}");
    for link in [&dangling, &looping] {
        let record = failed_by_name(&records, link);
        assert!(record.content_hash.starts_with("path:"), "{record:?}");
    }

    let listed = listed_json(&out_dir);
    for name in ["gone.parquet", "loop.csv", "good.csv"] {
        assert!(listed.contains(name), "{name}: {listed}");
    }
}

/// Builds `levels` nested folders of 200-byte names below `base` by relative
/// `mkdir` and `chdir` (no call sees the whole path) and writes a log at the bottom;
/// returns the deepest folder.
fn nested_too_long(base: &Path, levels: usize) -> PathBuf {
    std::fs::create_dir_all(base).unwrap();
    let name = "d".repeat(200);
    let script = format!(
        "import os, sys\nfor _ in range({levels}):\n    os.mkdir('{name}')\n    os.chdir('{name}')\nopen('deep.csv', 'wb').write(sys.stdin.buffer.read())\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .current_dir(base)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&log_bytes(&[3], 2))
        .unwrap();
    assert!(child.wait().unwrap().success());
    (0..levels).fold(base.to_path_buf(), |p, _| p.join(&name))
}

/// What `view --list --format json` lists from the SQLite catalog of `out_dir`.
fn listed_json(out_dir: &Path) -> String {
    let view = Command::new(env!("CARGO_BIN_EXE_view"))
        .args([
            OsStr::new("--list"),
            OsStr::new("--format"),
            OsStr::new("json"),
            OsStr::new("--out"),
            out_dir.as_os_str(),
        ])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&view), 0, "{}", stderr(&view));
    String::from_utf8_lossy(&view.stdout).into_owned()
}

/// The record of `path` in `records`, asserted a failed source keyed by its name.
fn failed_by_name<'a>(
    records: &'a [harvester::catalog::FileRecord],
    path: &Path,
) -> &'a harvester::catalog::FileRecord {
    let record = records
        .iter()
        .find(|r| r.source_path == path.display().to_string())
        .unwrap_or_else(|| panic!("{path:?} not recorded: {records:?}"));
    assert_eq!(record.status, FileStatus::Failed);
    assert_eq!(record.content_hash, harvester::storage::path_key(path));
    record
}

#[test]
fn folders_that_cannot_be_listed_are_bad_sources_by_name_and_the_rest_is_harvested() {
    use std::os::unix::fs::PermissionsExt;
    let work = Workdir::new();
    let input = work.input();
    write_log(&input.join("good.csv"), &[1], 0);
    let denied = input.join("denied");
    std::fs::create_dir(&denied).unwrap();
    write_log(&denied.join("inside.csv"), &[2], 1);
    std::fs::set_permissions(&denied, std::fs::Permissions::from_mode(0o000)).unwrap();
    let deepest = nested_too_long(&input.join("deep"), 22);
    // The first folder whose path reaches PATH_MAX (4096 bytes with its NUL) is
    // the one no call can open: everything below it is out of reach.
    let too_long = deepest
        .ancestors()
        .filter(|p| p.as_os_str().len() >= libc::PATH_MAX as usize)
        .last()
        .expect("the nesting is deeper than PATH_MAX")
        .to_path_buf();
    let out_dir = work.out();

    // Without root's override, as any other user runs it.
    let out = held_to_file_modes(env!("CARGO_BIN_EXE_harvest"))
        .args([input.as_os_str(), OsStr::new("--out"), out_dir.as_os_str()])
        .env_remove("DATABASE_URL")
        .env_remove("HARVEST_OUT")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 65, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 2, "one line per folder: {err}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains(&denied.display().to_string()) && l.contains("permission")),
        "{err}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains(&too_long.display().to_string()) && l.contains("too long")),
        "{err}"
    );
    assert!(err.contains("1 harvested"), "{err}");

    let records = catalog_records_in(&out_dir);
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records
        .iter()
        .any(|r| r.source_path.ends_with("good.csv") && r.status == FileStatus::Harvested));
    for folder in [&denied, &too_long] {
        failed_by_name(&records, folder);
    }

    let listed = listed_json(&out_dir);
    assert!(listed.contains(&denied.display().to_string()), "{listed}");
}

#[test]
fn a_log_whose_own_path_is_too_long_is_a_bad_source_by_name() {
    let work = Workdir::new();
    let input = work.input();
    write_log(&input.join("good.csv"), &[1], 0);
    // 19 levels stay below PATH_MAX; the log's name takes its path over it.
    let deepest = nested_too_long(&input.join("deep"), 19);
    assert!(
        deepest.as_os_str().len() < 4000,
        "{}",
        deepest.as_os_str().len()
    );
    let name = format!("{}.csv", "f".repeat(250));
    let status = Command::new("sh")
        .args(["-c", &format!("cat > {name}")])
        .current_dir(&deepest)
        .stdin(std::fs::File::open(input.join("good.csv")).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let log = deepest.join(&name);
    assert!(log.as_os_str().len() >= libc::PATH_MAX as usize);
    let out_dir = work.out();
    let out = harvest_in(
        work.dir.path(),
        &[input.as_os_str(), OsStr::new("--out"), out_dir.as_os_str()],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 65, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(&log.display().to_string()), "{err}");
    failed_by_name(&catalog_records_in(&out_dir), &log);
}

// ---------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------

const PASSWORD: &str = "s3cr3t-pw";

/// Catalog URLs holding the password: reachable-looking, malformed, in the query.
fn secret_urls() -> Vec<String> {
    vec![
        format!("postgres://alice:{PASSWORD}@127.0.0.1:1/db"),
        format!("postgresql://alice:{PASSWORD}@127.0.0.1:1/db?sslmode=disable"),
        format!("postgres://alice:{PASSWORD}@127.0.0.1:notaport/db"),
        format!("postgres://alice:{PASSWORD}@[::1/db"),
        format!("postgres://alice@127.0.0.1:1/db?password={PASSWORD}"),
        format!("postgres://alice:{PASSWORD}@/db?host=/nonexistent"),
        format!("postgres://alice:{PASSWORD}@127.0.0.1:1/db?sslmode=bogus"),
        format!("mysql://alice:{PASSWORD}@127.0.0.1:1/db"),
    ]
}

fn assert_no_password(o: &Output, what: &str) {
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    for secret in [PASSWORD, "s3cr3t%2Dpw"] {
        assert!(!all.contains(secret), "{what} leaks the password: {all}");
    }
    assert!(!all.contains("panicked"), "{what}: {all}");
}

/// Runs `program` with `args`, the catalog given by flag or by `DATABASE_URL`.
fn with_catalog(program: &str, args: &[&str], url: &str, by_env: bool) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL");
    if by_env {
        cmd.env("DATABASE_URL", url);
    } else {
        cmd.args(["--catalog", url]);
    }
    cmd.output().unwrap()
}

#[test]
fn the_database_password_never_appears_in_output() {
    let work = Workdir::new();
    let src = work.input().join("log.csv");
    std::fs::write(&src, log_bytes(&[3], 0)).unwrap();
    let out = work.out();
    let (src, out) = (src.to_str().unwrap(), out.to_str().unwrap());
    let harvest = env!("CARGO_BIN_EXE_harvest");
    let view = env!("CARGO_BIN_EXE_view");

    // (program, arguments) × every URL × flag or environment; an unreachable server
    // takes the pool's 5 s timeout, so they run at once.
    let mut calls: Vec<(String, &str, Vec<&str>, String, bool)> = Vec::new();
    for url in secret_urls() {
        for by_env in [false, true] {
            for (program, args) in [
                (harvest, vec![src, "--out", out]),
                (
                    harvest,
                    vec![src, "--out", out, "--log-format", "json", "-v"],
                ),
                (view, vec!["--list", "--out", out]),
                (view, vec!["--list", "--out", out, "--format", "json"]),
            ] {
                let what = format!(
                    "{} {args:?} {} {url}",
                    Path::new(program).file_name().unwrap().to_string_lossy(),
                    if by_env { "DATABASE_URL=" } else { "--catalog" }
                );
                calls.push((what, program, args, url.clone(), by_env));
            }
        }
    }
    let outputs: Vec<(String, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = calls
            .iter()
            .map(|(what, program, args, url, by_env)| {
                s.spawn(move || (what.clone(), with_catalog(program, args, url, *by_env)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (what, o) in &outputs {
        assert_no_password(o, what);
        assert!(
            [75, 78].contains(&code(o)),
            "{what}: retry later or fix the configuration, got {}: {}",
            code(o),
            stderr(o)
        );
        assert!(!stderr(o).is_empty(), "{what}: says why");
    }

    // Help and usage errors with the URL in the environment.
    let url = &secret_urls()[0];
    for (program, args) in [
        (harvest, vec!["--help"]),
        (view, vec!["--help"]),
        (harvest, vec!["--jobs", "0", src]),
        (harvest, vec!["--no-such-flag"]),
    ] {
        let o = with_catalog(program, &args, url, true);
        assert_no_password(&o, &format!("{args:?}"));
    }
}

/// A URL typed without `//` parses as a URL with a path and no password field; its
/// password must still never be printed.
#[test]
fn a_malformed_url_does_not_leak_its_password() {
    for url in [
        format!("postgres:alice:{PASSWORD}@host/db"),
        format!("postgres:/alice:{PASSWORD}@host/db"),
        format!("postgresql:alice:{PASSWORD}@host/db"),
    ] {
        let o = with_catalog(env!("CARGO_BIN_EXE_harvest"), &["x.csv"], &url, false);
        assert_no_password(&o, &url);
        assert_eq!(code(&o), 78, "{}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------

#[test]
fn sql_in_a_path_is_data() {
    let work = Workdir::new();
    let dir = work.input().join("'; DROP TABLE run_stats; --");
    std::fs::create_dir_all(&dir).unwrap();
    let evil = dir.join("x'; DROP TABLE harvest_files; --.csv");
    let quotes = dir.join("\"a\" OR 1=1; -- '.csv");
    std::fs::write(&evil, log_bytes(&[1], 1)).unwrap();
    std::fs::write(&quotes, log_bytes(&[2], 2)).unwrap();
    let o = work.harvest(&[evil.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The catalog is intact and still works: another file, the same file again.
    let o = work.harvest(&[dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 harvested, 1 skipped, 0 failed"),
        "{}",
        stderr(&o)
    );
    let records = catalog_records_in(&work.out());
    let mut paths: Vec<&str> = records.iter().map(|r| r.source_path.as_str()).collect();
    paths.sort();
    let mut expected = vec![evil.to_str().unwrap(), quotes.to_str().unwrap()];
    expected.sort();
    assert_eq!(paths, expected);
    assert!(records.iter().all(|r| r.status == FileStatus::Harvested));

    // `view` finds it by that path, and lists it.
    let view = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_view"))
            .args(args)
            .arg("--out")
            .arg(work.out())
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let found = view(&[evil.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&found), 0, "{}", stderr(&found));
    let report: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(report["source"], evil.to_str().unwrap());
    let listed = view(&["--list", "--format", "json"]);
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("DROP TABLE harvest_files"));
    // A target that is SQL finds nothing, and harms nothing.
    let nothing = view(&["' OR '1'='1"]);
    assert_ne!(code(&nothing), 0);
    assert_eq!(catalog_records_in(&work.out()).len(), 2);
}

/// A newline, carriage return or escape sequence in a file name is shown escaped:
/// it cannot forge a log line of its own or repaint the terminal.
#[test]
fn control_characters_in_names_cannot_forge_log_lines() {
    let work = Workdir::new();
    let good = "good\n ERROR forged: all files lost.csv";
    let bad = "bad\u{1b}[2K\r INFO summary: 9 harvested.csv";
    write_log(&work.input().join(good), &[1], 1);
    std::fs::write(work.input().join(bad), b"not,a,log\n").unwrap();
    let out = work.harvest(&[work.input().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 65, "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "one line per file and the summary: {err}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("ERROR")).count(),
        2,
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(" INFO harvested") && l.contains("good\\n ERROR forged")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR") && l.contains("bad\\u{1b}[2K\\r")),
        "{err}"
    );
    assert!(lines[2].starts_with(" INFO summary: 1 harvested"), "{err}");

    // view shows both names escaped, in the list and in the file's summary.
    let output_dir = work.only_output();
    for target in ["--list", output_dir.to_str().unwrap()] {
        let shown = std::process::Command::new(env!("CARGO_BIN_EXE_view"))
            .arg(target)
            .arg("--out")
            .arg(work.out())
            .arg("--wide")
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert_eq!(code(&shown), 0, "{}", stderr(&shown));
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(text.contains("good\\n ERROR forged"), "{text}");
    }
}
