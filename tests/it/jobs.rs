//! Job records: every `harvest` is a row of `jobs` that says where and what ran,
//! whether it is still at work and how it ended, and the harvests it made carry
//! its id.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;
use harvester::catalog::{Catalog, FileStatus, JobCounts, JobState, NewJob};
use harvester::jobs::record::{JobRecorder, JOB_RETENTION};

/// A small valid log whose content depends on `id`.
fn small_log(path: &Path, id: u64) {
    let mut log = LogBuilder::default();
    let times = clock(T0, 2.0, 10, 0);
    log.channel(id, 1, "x", &times, |t| 10.0 * t + id as f64);
    log.channel(id, 2, "fx", &times, |_| 3.0);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    log.write_parquet(path);
}

/// A job of `host` and `pid` as [`Catalog::start_job`] takes it.
fn new_job<'a>(host: &'a str, pid: i64, args: &'a [String], lease: Duration) -> NewJob<'a> {
    NewJob {
        host,
        pid,
        tool_version: "0.0.0-test",
        git_commit: "0123456789ab",
        args,
        watch: false,
        lease,
    }
}

/// The catalog's time `ago` before now, as the catalog writes times.
fn catalog_time_ago(ago: Duration) -> String {
    (chrono::Utc::now() - chrono::Duration::from_std(ago).unwrap())
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The pid of a process of this host that has ended.
fn dead_pid() -> i64 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    i64::from(pid)
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A job is running from its start, renews its counts, and once finished keeps
/// its end whatever a late heartbeat writes.
fn a_record_follows_its_job(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "jobs_follow");
    let args: Vec<String> = ["harvest", "--watch", "in"].map(String::from).into();
    with_catalog(&url, async |catalog| {
        let host = harvester::host::hostname();
        let pid = i64::from(std::process::id());
        let mut job = new_job(&host, pid, &args, Duration::from_secs(600));
        job.watch = true;
        let id = catalog.start_job(&job).await.unwrap();
        let jobs = catalog.recent_jobs(10, None).await.unwrap();
        assert_eq!(jobs.len(), 1);
        let started = &jobs[0];
        assert_eq!(
            (started.id, started.state, &started.host, started.pid),
            (id, JobState::Running, &host, pid)
        );
        assert_eq!(
            (
                started.tool_version.as_str(),
                started.git_commit.as_str(),
                started.watch,
                &started.args
            ),
            ("0.0.0-test", "0123456789ab", true, &args)
        );
        assert_eq!(
            (started.counts, started.exit_code, &started.finished_at),
            (JobCounts::default(), None, &None)
        );
        assert_eq!(started.updated_at, started.started_at);

        let counts = JobCounts {
            harvested: 3,
            skipped: 2,
            failed: 1,
            failed_before: 4,
            held_elsewhere: 5,
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        catalog.touch_job(id, &counts).await.unwrap();
        let touched = &catalog.recent_jobs(10, None).await.unwrap()[0];
        assert_eq!((touched.state, touched.counts), (JobState::Running, counts));
        assert!(touched.updated_at > started.updated_at, "{touched:?}");

        let last = JobCounts {
            harvested: 7,
            ..counts
        };
        catalog.finish_job(id, &last, 65).await.unwrap();
        // A heartbeat that comes after the end changes nothing.
        catalog.touch_job(id, &counts).await.unwrap();
        let finished = catalog.recent_jobs(10, None).await.unwrap().remove(0);
        assert_eq!(
            (finished.state, finished.counts, finished.exit_code),
            (JobState::Finished, last, Some(65))
        );
        assert_eq!(finished.finished_at.as_ref(), Some(&finished.updated_at));
        assert!(finished.updated_at >= touched.updated_at);

        let json = serde_json::to_value(&finished).unwrap();
        assert_eq!(json["state"], "finished");
        assert_eq!(
            (&json["harvested"], &json["held_elsewhere"]),
            (&7.into(), &5.into())
        );
        assert_eq!(json["args"], serde_json::json!(args));
    });
}

on_both_backends!(record_follows_its_job, a_record_follows_its_job);

/// A job that never recorded its end is unfinished when its process is gone from
/// this host, or when its heartbeat is older than its lease and 90 s; else running.
/// Jobs come newest first, and `since` leaves out those not heard from since.
fn jobs_that_stopped_are_unfinished(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "jobs_states");
    let args: Vec<String> = vec!["harvest".into()];
    let host = harvester::host::hostname();
    let alive = i64::from(std::process::id());
    let ids = with_catalog(&url, async |catalog| {
        let mut ids = Vec::new();
        for (host, pid, lease) in [
            (host.as_str(), alive, 600),
            (host.as_str(), dead_pid(), 600),
            ("elsewhere.example", 1, 600),
            ("elsewhere.example", 1, 600),
            ("elsewhere.example", 1, 10),
        ] {
            let job = new_job(host, pid, &args, Duration::from_secs(lease));
            ids.push(catalog.start_job(&job).await.unwrap());
        }
        ids
    });
    // Another host's jobs, silent for 100 s: within a lease of 600 s, beyond one of
    // 10 s (then 90 s count); and one silent for a day.
    let set_updated = |id: i64, ago: Duration| {
        execute_sql(
            &url,
            &format!(
                "UPDATE jobs SET updated_at = '{}' WHERE id = {id}",
                catalog_time_ago(ago)
            ),
        )
    };
    set_updated(ids[2], Duration::from_secs(100));
    set_updated(ids[3], DAY);
    set_updated(ids[4], Duration::from_secs(100));
    with_catalog(&url, async |catalog| {
        let jobs = catalog.recent_jobs(10, None).await.unwrap();
        let seen: Vec<(i64, JobState)> = jobs.iter().map(|j| (j.id, j.state)).collect();
        assert_eq!(
            seen,
            [
                (ids[4], JobState::Unfinished),
                (ids[3], JobState::Unfinished),
                (ids[2], JobState::Running),
                (ids[1], JobState::Unfinished),
                (ids[0], JobState::Running),
            ]
        );
        let newest: Vec<i64> = catalog
            .recent_jobs(2, None)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(newest, [ids[4], ids[3]]);
        // Heard from in the last hour: all but the one silent for a day.
        let since = catalog_time_ago(Duration::from_secs(3600));
        let recent: Vec<i64> = catalog
            .recent_jobs(10, Some(&since))
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(recent, [ids[4], ids[2], ids[1], ids[0]]);
        assert!(catalog
            .recent_jobs(10, Some("2999-01-01"))
            .await
            .unwrap()
            .is_empty());
    });
}

on_both_backends!(
    stopped_jobs_are_unfinished,
    jobs_that_stopped_are_unfinished
);

/// Records not heard from for the retention are deleted when a job starts; a
/// watcher started long ago that still beats keeps its record.
fn old_records_are_pruned(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "jobs_prune");
    let args: Vec<String> = vec!["harvest".into()];
    let old = catalog_time_ago(JOB_RETENTION + DAY);
    let ids = with_catalog(&url, async |catalog| {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let job = new_job("elsewhere.example", 1, &args, Duration::from_secs(600));
            ids.push(catalog.start_job(&job).await.unwrap());
        }
        catalog
            .finish_job(ids[0], &JobCounts::default(), 0)
            .await
            .unwrap();
        ids
    });
    // Old: one finished, one that never ended; a watcher that started as long ago
    // and beats still; one of now.
    execute_sql(
        &url,
        &format!(
            "UPDATE jobs SET started_at = '{old}', updated_at = '{old}' WHERE id IN ({}, {})",
            ids[0], ids[1]
        ),
    );
    execute_sql(
        &url,
        &format!("UPDATE jobs SET started_at = '{old}' WHERE id = {}", ids[2]),
    );
    with_catalog(&url, async |catalog| {
        assert_eq!(catalog.prune_jobs(JOB_RETENTION).await.unwrap(), 2);
        assert_eq!(catalog.prune_jobs(JOB_RETENTION).await.unwrap(), 0);
        let kept: Vec<i64> = catalog
            .recent_jobs(10, None)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(kept, [ids[3], ids[2]]);
    });
    // A shorter retention reaches the watcher too once it is silent: it started and
    // was last heard from before it.
    execute_sql(
        &url,
        &format!(
            "UPDATE jobs SET updated_at = '{}' WHERE id = {}",
            catalog_time_ago(2 * DAY),
            ids[2]
        ),
    );
    with_catalog(&url, async |catalog| {
        assert_eq!(catalog.prune_jobs(DAY).await.unwrap(), 1);
    });
    // A recorder prunes as it starts.
    execute_sql(
        &url,
        &format!(
            "UPDATE jobs SET started_at = '{old}', updated_at = '{old}' WHERE id = {}",
            ids[3]
        ),
    );
    with_catalog(&url, async |catalog| {
        let recorder = JobRecorder::start(
            catalog,
            &args,
            Duration::from_secs(600),
            false,
            JOB_RETENTION,
        )
        .await
        .unwrap();
        let left: Vec<i64> = catalog
            .recent_jobs(10, None)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, [recorder.id()]);
        recorder
            .finish(JobCounts::default(), harvester::error::ExitCode::Success)
            .await;
    });
}

on_both_backends!(pruning, old_records_are_pruned);

/// A recorder writes this build and host, the command line without its secrets,
/// its counts with every heartbeat, and its end with the exit code.
fn a_recorder_records_its_job(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "jobs_recorder");
    let argv: Vec<String> = [
        "harvest",
        "--catalog",
        "postgres://harvester:pw-secret@db.example/catalog",
        "--s3-token=tok-secret",
        "--label",
        "key=value",
        "in",
    ]
    .map(String::from)
    .into();
    with_catalog(&url, async |catalog| {
        let recorder =
            JobRecorder::start(catalog, &argv, Duration::from_secs(60), true, JOB_RETENTION)
                .await
                .unwrap();
        let counts = JobCounts {
            harvested: 2,
            skipped: 1,
            ..JobCounts::default()
        };
        recorder.set_counts(counts);
        let job = catalog.recent_jobs(1, None).await.unwrap().remove(0);
        assert_eq!(
            (job.id, job.state, job.watch, job.counts),
            (recorder.id(), JobState::Running, true, JobCounts::default())
        );
        assert_eq!(
            (job.host, job.pid),
            (harvester::host::hostname(), i64::from(std::process::id()))
        );
        assert_eq!(
            (job.tool_version.as_str(), job.git_commit.as_str()),
            (harvester::build::VERSION, harvester::build::COMMIT)
        );
        assert_eq!(
            job.args,
            [
                "harvest",
                "--catalog",
                "postgres://harvester@db.example/catalog",
                "--s3-token=***",
                "--label",
                "key=value",
                "in",
            ]
        );
        // The heartbeat writes the counts within 30 s.
        tokio::time::sleep(Duration::from_secs(31)).await;
        let beaten = catalog.recent_jobs(1, None).await.unwrap().remove(0);
        assert_eq!((beaten.state, beaten.counts), (JobState::Running, counts));
        assert!(beaten.updated_at > job.updated_at);

        let last = JobCounts {
            failed: 1,
            ..counts
        };
        recorder
            .finish(last, harvester::error::ExitCode::BadFile)
            .await;
        let ended = catalog.recent_jobs(1, None).await.unwrap().remove(0);
        assert_eq!(
            (ended.state, ended.counts, ended.exit_code),
            (JobState::Finished, last, Some(65))
        );
    });
}

on_both_backends!(recorder, a_recorder_records_its_job);

/// The options of a library harvest into `out`.
fn job_options(out: &Path) -> harvester::jobs::JobOptions {
    harvester::jobs::JobOptions {
        harvest: harvester::pipeline::HarvestOptions {
            out_root: out.to_path_buf(),
            align: Default::default(),
            compression: Default::default(),
            encoding: Default::default(),
            keep_spikes: false,
        },
        policy: Default::default(),
        lease: Duration::from_secs(60),
        settle: Duration::from_secs(1),
        verify: false,
        labels: Default::default(),
        stores: std::sync::Arc::new(harvester::storage::remote::ObjectStores::new(
            Default::default(),
        )),
        remote_out: None,
        telemetry: Default::default(),
    }
}

/// A harvest or failure through a catalog that started a job (or a clone of it)
/// records the job's id; through one that started none, no id. A pruned job's
/// number stays with its harvests.
fn harvests_keep_their_job(backend: Backend) {
    let work = Workdir::new();
    let url = backend.url(&work, "jobs_harvests");
    let (a, b, c) = (
        work.input().join("a.parquet"),
        work.input().join("b.parquet"),
        work.input().join("c.parquet"),
    );
    small_log(&a, 1);
    small_log(&b, 2);
    small_log(&c, 3);
    let options = job_options(&work.out());
    let args: Vec<String> = vec!["harvest".into()];
    let id = with_catalog(&url, async |catalog| {
        let id = catalog
            .start_job(&new_job("h", 1, &args, Duration::from_secs(60)))
            .await
            .unwrap();
        let clone = catalog.clone();
        let outcome = harvester::jobs::harvest_file(&clone, &a, &options, None).await;
        assert!(
            matches!(outcome, harvester::jobs::FileOutcome::Harvested { .. }),
            "{outcome:?}"
        );
        let claim = claim_file(catalog, &b).await;
        catalog
            .fail(&claim, "bad", harvester::error::FailureKind::BadFile)
            .await
            .unwrap();
        id
    });
    with_catalog(&url, async |catalog| {
        let outcome = harvester::jobs::harvest_file(catalog, &c, &options, None).await;
        assert!(
            matches!(outcome, harvester::jobs::FileOutcome::Harvested { .. }),
            "{outcome:?}"
        );
    });
    let job_of = |path: &Path| {
        let records = catalog_records(&url);
        let record = records
            .iter()
            .find(|r| r.source_path == path.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} in {records:?}", path.display()));
        (record.status, record.job_id)
    };
    assert_eq!(job_of(&a), (FileStatus::Harvested, Some(id)));
    assert_eq!(job_of(&b), (FileStatus::Failed, Some(id)));
    assert_eq!(job_of(&c), (FileStatus::Harvested, None));

    let old = catalog_time_ago(JOB_RETENTION + DAY);
    execute_sql(
        &url,
        &format!("UPDATE jobs SET started_at = '{old}', updated_at = '{old}'"),
    );
    with_catalog(&url, async |catalog: &Catalog| {
        assert_eq!(catalog.prune_jobs(JOB_RETENTION).await.unwrap(), 1);
    });
    assert_eq!(job_of(&a), (FileStatus::Harvested, Some(id)));
}

on_both_backends!(harvests_keep_job_ids, harvests_keep_their_job);

/// `url` with a password (a test server that takes any: the tests' own), and the
/// password; an SQLite URL has none.
fn with_password(url: &str) -> (String, Option<String>) {
    if !url.starts_with("postgres") {
        return (url.to_string(), None);
    }
    let mut parsed = url::Url::parse(url).unwrap();
    if parsed.password().is_none() {
        parsed.set_password(Some("pw-secret")).unwrap();
    }
    let password = parsed.password().map(String::from);
    (parsed.to_string(), password)
}

/// The jobs the catalog at `url` records, newest first.
fn recorded_jobs(url: &str) -> Vec<harvester::catalog::JobRecord> {
    with_catalog(url, async |catalog| {
        catalog.recent_jobs(100, None).await.unwrap()
    })
}

/// `view --list --format json`: each file's source path and job id.
fn listed_job_ids(work: &Workdir, url: &str) -> Vec<(String, Option<i64>)> {
    let out = Command::new(env!("CARGO_BIN_EXE_view"))
        .args(["--list", "--format", "json", "--out"])
        .arg(work.out())
        .args(["--catalog", url])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let files: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut ids: Vec<(String, Option<i64>)> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = Path::new(f["source_path"].as_str().unwrap());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, f["job_id"].as_i64())
        })
        .collect();
    ids.sort();
    ids
}

/// Every `harvest` leaves one finished job: this build, host and process, its
/// command line without the catalog's password, its counts and exit code; the
/// files it harvested or failed carry its id in `view --list`.
fn a_harvest_records_its_job(backend: Backend) {
    let work = Workdir::new();
    let catalog = backend.url(&work, "jobs_binary");
    let (url, password) = with_password(&catalog);
    let input = work.input();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    for name in ["forming_cell_small.csv", "forming_cell_small.parquet"] {
        std::fs::copy(samples.join(name), input.join(name)).unwrap();
    }
    let out = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let jobs = recorded_jobs(&catalog);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(
        (job.state, job.exit_code, job.watch),
        (JobState::Finished, Some(0), false)
    );
    assert_eq!(
        job.counts,
        JobCounts {
            harvested: 2,
            ..JobCounts::default()
        }
    );
    assert_eq!(job.host, harvester::host::hostname());
    assert!(job.pid > 0 && job.pid != i64::from(std::process::id()));
    assert_eq!(job.tool_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(job.git_commit, harvester::build::COMMIT);
    assert!(!job.git_commit.is_empty());
    let shown_url = harvester::catalog::redact_url(&url);
    assert_eq!(
        job.args[1..],
        [
            "--out",
            work.out().to_str().unwrap(),
            input.to_str().unwrap(),
            "--catalog",
            &shown_url,
        ]
    );
    if let Some(password) = password {
        assert!(
            !job.args.concat().contains(&password),
            "the password is recorded: {:?}",
            job.args
        );
        assert!(shown_url.starts_with("postgres://"), "{shown_url}");
    }
    assert_eq!(job.finished_at.as_ref(), Some(&job.updated_at));
    assert!(job.updated_at >= job.started_at, "{job:?}");
    let first = job.id;
    assert_eq!(
        listed_job_ids(&work, &url),
        [
            ("forming_cell_small.csv".to_string(), Some(first)),
            ("forming_cell_small.parquet".to_string(), Some(first)),
        ]
    );

    // Again, with a broken file: the harvested ones are skipped and keep the first
    // job's id; the broken one fails in the second.
    std::fs::write(input.join("broken.parquet"), b"not a parquet file").unwrap();
    let again = work.harvest(&[input.to_str().unwrap(), "--catalog", &url]);
    let jobs = recorded_jobs(&catalog);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let second = &jobs[0];
    assert_ne!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        (second.state, second.exit_code),
        (JobState::Finished, Some(i64::from(code(&again))))
    );
    assert_eq!(
        second.counts,
        JobCounts {
            skipped: 2,
            failed: 1,
            ..JobCounts::default()
        }
    );
    assert_eq!(
        listed_job_ids(&work, &url),
        [
            ("broken.parquet".to_string(), Some(second.id)),
            ("forming_cell_small.csv".to_string(), Some(first)),
            ("forming_cell_small.parquet".to_string(), Some(first)),
        ]
    );

    // --keep-jobs: a record not heard from for longer is deleted as the next job
    // starts; the harvests keep the number of the job that made them.
    execute_sql(
        &url,
        &format!(
            "UPDATE jobs SET started_at = '{old}', updated_at = '{old}' WHERE id = {first}",
            old = catalog_time_ago(3 * DAY)
        ),
    );
    let pruned = work.harvest(&[
        input.to_str().unwrap(),
        "--catalog",
        &url,
        "--keep-jobs",
        "2",
    ]);
    assert_ne!(code(&pruned), 64, "{}", stderr(&pruned));
    let ids: Vec<i64> = recorded_jobs(&catalog).iter().map(|j| j.id).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&first), "{ids:?}");
    assert_eq!(listed_job_ids(&work, &url)[1].1, Some(first));
}

on_both_backends!(harvest_binary, a_harvest_records_its_job);
