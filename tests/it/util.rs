//! Shared helpers for the integration tests: temp work dirs, the real binaries,
//! logs built in memory, and a fresh PostgreSQL database per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::*;

pub const SECOND: i64 = 1_000_000_000;
/// 2022-11-23T20:40:00Z, the day of the public sample.
pub const T0: i64 = 1_669_236_000 * SECOND;

/// A temporary directory with an input folder and an output folder.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn input(&self) -> PathBuf {
        let p = self.path("in");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// Runs `harvest` with `--out <workdir>/out` and the given arguments.
    pub fn harvest(&self, args: &[&str]) -> Output {
        self.harvest_command(args).output().expect("run harvest")
    }

    /// The command [`Workdir::harvest`] runs, to change before running it.
    pub fn harvest_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harvest"));
        cmd.arg("--out")
            .arg(self.out())
            .args(args)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1");
        cmd
    }

    /// The one output directory of a harvest (panics unless exactly one).
    pub fn only_output(&self) -> PathBuf {
        only_output_in(&self.out())
    }
}

/// A work directory that has harvested the log `write` writes as `name` in its input
/// folder (panics unless the harvest succeeds), and the harvest's output directory.
pub fn harvested_log(name: &str, write: impl FnOnce(&Path)) -> (Workdir, PathBuf) {
    let work = Workdir::new();
    let input = work.input().join(name);
    write(&input);
    let out = work.harvest(&[input.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = work.only_output();
    (work, dir)
}

/// A one-thread `harvest` of `input` into the output root of `work`, on the catalog
/// at `url`.
pub fn one_thread_worker(work: &Workdir, input: &Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harvest"));
    cmd.arg(input).args([
        "--out",
        work.out().to_str().unwrap(),
        "--catalog",
        url,
        "--threads",
        "1",
    ]);
    cmd
}

/// The one output directory in the output root `out` (panics unless exactly one).
pub fn only_output_in(out: &Path) -> PathBuf {
    let dirs = output_dirs_in(out);
    assert_eq!(dirs.len(), 1, "output dirs: {dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// The visible per-file output directories in the output root `out`, sorted: not
/// the dataset, not hidden temporaries.
pub fn output_dirs_in(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            p.is_dir() && !name.starts_with('.') && name != "dataset"
        })
        .collect();
    dirs.sort();
    dirs
}

/// Every file under `dir`, relative to it, sorted (none when it does not exist).
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

pub fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
        .expect("valid json")
}

/// A report's `rows.dropped`, only the reasons that dropped something (reasons with
/// nothing dropped may be listed with 0 or left out).
/// The wide table of `run` of a harvested output directory, where its report says
/// (in the dataset, beside the output directory).
pub fn run_table_file(dir: &Path, run: &str) -> PathBuf {
    let report = report(dir);
    let table = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_uuid"] == run)
        .unwrap_or_else(|| panic!("no run {run} in {}", dir.display()))["table"]
        .as_str()
        .unwrap()
        .to_string();
    dir.join(table)
}

/// Every run's wide table of a harvested output directory, once each.
pub fn run_table_files(dir: &Path) -> Vec<PathBuf> {
    let report = report(dir);
    let mut tables: Vec<PathBuf> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dir.join(r["table"].as_str().unwrap()))
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

pub fn nonzero_drops(rows: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    rows["dropped"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, v)| *v > 0)
        .collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How many files a worker logged as harvested, from its `--log-format json` stderr.
pub fn harvested_events(stderr: &str) -> usize {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("harvested "))
        })
        .count()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// ISO 8601 the way real logs write it: millisecond precision, trailing zeros of the
/// fraction dropped, whole seconds without a fraction.
pub fn log_time(ns: i64) -> String {
    let secs = ns.div_euclid(SECOND);
    let ms = ns.rem_euclid(SECOND) / 1_000_000;
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S");
    if ms == 0 {
        format!("{t}Z")
    } else {
        let frac = format!("{ms:03}");
        format!("{t}.{}Z", frac.trim_end_matches('0'))
    }
}

/// A long-format log assembled row by row.
#[derive(Default)]
pub struct LogBuilder {
    time: Vec<String>,
    value: Vec<f64>,
    field: Vec<String>,
    robot: Vec<i64>,
    run: Vec<u64>,
    sensor: Vec<String>,
}

impl LogBuilder {
    pub fn push(&mut self, run: u64, robot: i64, field: &str, t_ns: i64, value: f64) {
        self.time.push(log_time(t_ns));
        self.value.push(value);
        self.field.push(field.to_string());
        self.robot.push(robot);
        self.run.push(run);
        self.sensor.push(
            if field.starts_with('f') {
                "load_cell"
            } else {
                "encoder"
            }
            .to_string(),
        );
    }

    /// Adds one channel sampled at `times` from `signal(t_seconds_since_start)`.
    pub fn channel(
        &mut self,
        run: u64,
        robot: i64,
        field: &str,
        times: &[i64],
        signal: impl Fn(f64) -> f64,
    ) {
        let t0 = times[0];
        for &t in times {
            self.push(
                run,
                robot,
                field,
                t,
                signal((t - t0) as f64 / SECOND as f64),
            );
        }
    }

    pub fn frame(&self) -> DataFrame {
        let n = self.time.len();
        DataFrame::new(
            n,
            vec![
                Column::new("time".into(), self.time.clone()),
                Column::new("value".into(), self.value.clone()),
                Column::new("field".into(), self.field.clone()),
                Column::new("robot_id".into(), self.robot.clone()),
                Column::new("run_uuid".into(), self.run.clone()),
                Column::new("sensor_type".into(), self.sensor.clone()),
            ],
        )
        .unwrap()
    }

    pub fn write_parquet(&self, path: &Path) {
        let mut df = self.frame();
        ParquetWriter::new(std::fs::File::create(path).unwrap())
            .finish(&mut df)
            .unwrap();
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }
}

/// Sample instants from `start` for `duration_s`, every `period_ms` with a
/// deterministic jitter of up to ±`jitter_ms` (whole milliseconds, like real logs).
pub fn clock(start: i64, duration_s: f64, period_ms: i64, jitter_ms: i64) -> Vec<i64> {
    let end = start + (duration_s * SECOND as f64) as i64;
    let mut out = Vec::new();
    let mut k: i64 = 0;
    loop {
        let jitter = if jitter_ms == 0 {
            0
        } else {
            (k * 7919 % (2 * jitter_ms + 1)) - jitter_ms
        };
        let t = start + k * period_ms * 1_000_000 + if k == 0 { 0 } else { jitter * 1_000_000 };
        if t > end {
            break;
        }
        out.push(t);
        k += 1;
    }
    out
}

/// The PostgreSQL server the tests use: `HARVESTER_TEST_PG_URL`, or the local one.
/// Tests that need it fail when it is unreachable; they never skip.
pub fn pg_admin_url() -> String {
    std::env::var("HARVESTER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new, empty database on the test server, dropped when this value is (also when
/// the test fails and unwinds). Its name carries this process's id, so a run that
/// was killed before it could drop its databases is recognised and cleaned up by the
/// next one (see [`drop_databases_of_dead_runs`]). Derefs to its URL.
pub struct PgDatabase {
    url: String,
    name: String,
}

impl std::ops::Deref for PgDatabase {
    type Target = String;
    fn deref(&self) -> &String {
        &self.url
    }
}

impl AsRef<std::ffi::OsStr> for PgDatabase {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.url.as_ref()
    }
}

impl std::fmt::Display for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the sessions a killed or still-exiting worker left open.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::panic::catch_unwind(|| execute_sql(&pg_admin_url(), &sql));
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// The prefix of every database the tests create; the name continues with a tag,
/// the creating process's id and a counter.
const TEST_DATABASE_PREFIX: &str = "harvester_";

/// Drops the test databases whose creating process is gone (a run killed before its
/// guards dropped them). [`fresh_pg_database`] calls it once per test process.
pub fn drop_databases_of_dead_runs(admin: &str) {
    for name in test_database_names_at(admin) {
        let Some(pid) = name.rsplit('_').nth(1).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // kill(pid, 0) fails with ESRCH when no such process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        if !alive {
            execute_sql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// The names of the test databases on the server at `admin`.
pub fn test_database_names_at(admin: &str) -> Vec<String> {
    query_sql(
        admin,
        &format!(
            "SELECT datname::text FROM pg_database WHERE datname LIKE '{TEST_DATABASE_PREFIX}%'"
        ),
    )
    .into_iter()
    .filter_map(|row| row.into_iter().next().flatten())
    .collect()
}

/// A new, empty database on the test server (see [`PgDatabase`]).
pub fn fresh_pg_database(tag: &str) -> PgDatabase {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let admin = pg_admin_url();
    let name = format!(
        "{TEST_DATABASE_PREFIX}{tag}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for this test: {e}"));
        pool.close().await;
    });
    static CLEANUP: std::sync::Once = std::sync::Once::new();
    CLEANUP.call_once(|| drop_databases_of_dead_runs(&admin));
    execute_sql(&admin, &format!("CREATE DATABASE {name}"));
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    PgDatabase {
        url: format!("{base}/{name}"),
        name,
    }
}

/// A throwaway PostgreSQL cluster started from the installed binaries, which a test
/// may stop and start at will. Runs as the `postgres` user when the tests run as root
/// (initdb refuses root). Removed on drop.
pub struct PgCluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
}

impl PgCluster {
    /// A new cluster, initialised, not yet started.
    fn init() -> PgCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql (scripts/ensure-postgres.sh installs them)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::Builder::new()
            .prefix("harvester-pg")
            .tempdir_in("/tmp")
            .unwrap();
        // A port nobody listens on right now (the OS picks it).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PgCluster { dir, port, bin };
        cluster.give_to_postgres();
        let data = cluster.data();
        let ok = cluster
            .as_owner(&cluster.bin.join("initdb"))
            .args(["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "initdb");
        cluster
    }

    /// A cluster that is running.
    pub fn start() -> PgCluster {
        let cluster = PgCluster::init();
        cluster.up();
        cluster
    }

    /// A running cluster that offers TLS with a certificate for `localhost` and
    /// 127.0.0.1, signed by a test CA ([`PgCluster::ca_cert`]).
    pub fn start_tls() -> PgCluster {
        let cluster = PgCluster::init();
        let tls = cluster.dir.path().join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(
            tls.join("san.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for args in [
            &[
                &["req", "-x509"][..],
                &key,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=harvester test CA",
                ],
            ]
            .concat(),
            &[
                &["req"][..],
                &key,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
            ][..]
                .to_vec(),
        ] {
            let out = Command::new("openssl")
                .args(args.iter())
                .current_dir(&tls)
                .output()
                .expect("openssl (.ci/run installs it)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let data = PathBuf::from(cluster.data());
        for file in ["server.crt", "server.key"] {
            std::fs::copy(tls.join(file), data.join(file)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        cluster.give_to_postgres();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut conf, b"ssl = on\n").unwrap();
        cluster.up();
        cluster
    }

    /// The CA that signed a [`PgCluster::start_tls`] cluster's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("tls/ca.crt")
    }

    /// Running as root, the cluster's files go to the `postgres` user, which the
    /// server runs as (it refuses to run as root).
    fn give_to_postgres(&self) {
        if unsafe { libc::geteuid() } == 0 {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .unwrap();
        }
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_owner(&self, program: &Path) -> Command {
        if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        let ok = self
            .as_owner(&self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "pg_ctl start");
    }

    pub fn down(&self) {
        let _ = self
            .as_owner(&self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.down();
    }
}

/// Every file the catalog at `url` records, newest first.
pub fn catalog_records(url: &str) -> Vec<harvester::catalog::FileRecord> {
    with_catalog(url, async |catalog| {
        catalog.list(None, 1_000_000).await.expect("list")
    })
}

/// Every file the default catalog of the output root `out` records.
pub fn catalog_records_in(out: &Path) -> Vec<harvester::catalog::FileRecord> {
    catalog_records(&format!("sqlite://{}", out.join("catalog.db").display()))
}

/// A test's catalog URL, holding its PostgreSQL database (if any) until the test
/// ends. Derefs to the URL.
pub struct TestCatalog {
    url: String,
    _database: Option<PgDatabase>,
}

impl std::ops::Deref for TestCatalog {
    type Target = String;
    fn deref(&self) -> &String {
        &self.url
    }
}

/// Runs the scenario `$scenario(backend: Backend)` as two tests, `$name::sqlite` and
/// `$name::postgres`.
macro_rules! on_both_backends {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$scenario($crate::util::Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                super::$scenario($crate::util::Backend::Postgres);
            }
        }
    };
}

/// The two kinds of catalog the tests run on.
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A fresh catalog of this kind: a file in `work`, or a new PostgreSQL database
    /// (dropped with the returned value).
    pub fn url(&self, work: &Workdir, tag: &str) -> TestCatalog {
        match self {
            Backend::Sqlite => TestCatalog {
                url: format!("sqlite://{}", work.path("catalog.db").display()),
                _database: None,
            },
            Backend::Postgres => {
                let database = fresh_pg_database(tag);
                TestCatalog {
                    url: database.url.clone(),
                    _database: Some(database),
                }
            }
        }
    }
}

/// Runs `work` to completion on a one-thread runtime.
pub fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Runs `f` on a connection pool to the catalog database at `url`, bypassing the
/// catalog's own code (PostgreSQL or SQLite).
fn with_pool<T>(url: &str, f: impl AsyncFnOnce(&sqlx::AnyPool) -> T) -> T {
    block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let result = f(&pool).await;
        pool.close().await;
        result
    })
}

/// Runs `f` against the catalog at `url` on a one-thread runtime.
pub fn with_catalog<T>(url: &str, f: impl AsyncFnOnce(&harvester::catalog::Catalog) -> T) -> T {
    block_on(async {
        let catalog = harvester::catalog::Catalog::open(url)
            .await
            .expect("open catalog");
        let result = f(&catalog).await;
        catalog.close().await;
        result
    })
}

/// Claims the content of `path` in `catalog` as a worker starting on it would, for
/// ten minutes; panics unless the content is new.
pub async fn claim_file(
    catalog: &harvester::catalog::Catalog,
    path: &Path,
) -> harvester::catalog::Claim {
    use harvester::catalog::{ClaimOutcome, ClaimPolicy, SeenFile};
    let source = harvester::storage::SourceFile::read(path).unwrap();
    let seen = SeenFile {
        content_hash: &source.content_hash,
        path: &source.path.display().to_string(),
        labels: &harvester::model::labels::Labels::new(),
        given: &harvester::model::labels::Labels::new(),
        size_bytes: source.size(),
    };
    let outcome = catalog
        .claim(
            &seen,
            ClaimPolicy::default(),
            std::time::Duration::from_secs(600),
            harvester::model::schema::OUTPUT_SCHEMA_VERSION,
        )
        .await
        .unwrap();
    let ClaimOutcome::Acquired(claim) = outcome else {
        panic!("a new file is acquired: {outcome:?}");
    };
    claim
}

/// Records `path` in the catalog at `url` as a harvester that met `error` of `kind`
/// would have: claimed, then failed.
pub fn record_failure(url: &str, path: &Path, kind: harvester::error::FailureKind, error: &str) {
    with_catalog(url, async |catalog| {
        let claim = claim_file(catalog, path).await;
        catalog.fail(&claim, error, kind).await.unwrap();
    })
}

/// Runs one SQL statement on the catalog database at `url` (PostgreSQL or SQLite).
pub fn execute_sql(url: &str, sql: &str) {
    with_pool(url, async |pool| {
        sqlx::query(sql).execute(pool).await.unwrap();
    });
}

/// Runs a query on the catalog database at `url` and gives every row's columns as
/// text (NULL as `None`; numbers are cast to text in the SQL).
pub fn query_sql(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    use sqlx::Row;
    with_pool(url, async |pool| {
        let rows = sqlx::query(sql)
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect()
    })
}

/// The dataset under the output root `out` as DuckDB and polars read it (they must
/// agree): `run_stats` rows, `samples` rows and readings per partition and run, and
/// the samples' columns. Both come from PyPI (`pip install duckdb polars`, which
/// `.ci/run` does); without them this fails, never skips.
pub fn read_dataset(out: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/read_dataset.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(out)
        .output()
        .expect("python3 runs (the dataset tests need it, with duckdb and polars)");
    assert!(
        output.status.success(),
        "reading the dataset with DuckDB and polars failed (pip install duckdb polars): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// Writes a file and dates it a minute back: a file at rest, not a copy in progress
/// (a Parquet file without its footer modified less than `--settle` ago is one).
pub fn write_at_rest(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(minute_ago))
        .unwrap();
}

/// The runs of [`stationary_log`] and where its robots stand (mm).
pub mod stationary {
    /// Robot 1 circles (radius 150 mm around the origin, z 42) while robot 2
    /// stands outside the circle, at [`STANDING`].
    pub const CIRCLE_AND_STANDING: u64 = 5151;
    pub const STANDING: [f64; 3] = [400.0, 80.0, -20.0];
    /// Both robots stand, on one line along x, 200 mm apart: at [`BOTH`].
    pub const BOTH_STANDING: u64 = 5252;
    pub const BOTH: [[f64; 3]; 2] = [[100.0, 50.0, 10.0], [300.0, 50.0, 10.0]];
    /// Robot 2 alone, moving along x from 0 to 160 mm; no robot 1.
    pub const ROBOT_2_ALONE: u64 = 5353;
    pub const RADIUS: f64 = 150.0;
}

/// A log (Parquet, at `path`) whose robots do not all move, encoders only, 8 s per
/// run: see [`stationary`] for its runs.
pub fn stationary_log(path: &Path) {
    use stationary::*;
    let mut log = LogBuilder::default();
    let encoder = clock(T0, 8.0, 12, 1);
    // One turn in the run's 8 s.
    let angle = |t: f64| std::f64::consts::TAU / 8.0 * t;
    for (axis, field) in ["x", "y", "z"].into_iter().enumerate() {
        log.channel(CIRCLE_AND_STANDING, 1, field, &encoder, |t| match axis {
            0 => RADIUS * angle(t).cos(),
            1 => RADIUS * angle(t).sin(),
            _ => 42.0,
        });
        log.channel(CIRCLE_AND_STANDING, 2, field, &encoder, |_| STANDING[axis]);
        for (robot, at) in [(1, BOTH[0]), (2, BOTH[1])] {
            log.channel(BOTH_STANDING, robot, field, &encoder, |_| at[axis]);
        }
        log.channel(ROBOT_2_ALONE, 2, field, &encoder, |t| {
            if axis == 0 {
                20.0 * t
            } else {
                0.0
            }
        });
    }
    log.write_parquet(path);
}

/// A command running `program` held to the file modes, also as root: the
/// superuser's override of file permissions is dropped from the capabilities it may
/// have (`setpriv`, util-linux), so a directory without write permission is as
/// read-only to it as read-only media. Tests run as root in CI, where a plain
/// `chmod` stops nothing.
pub fn held_to_file_modes(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Command::new(program);
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
        program,
    ]);
    cmd
}

/// Sets the mode bits of `path` and everything below it.
pub fn chmod_tree(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let walk = walkdir::WalkDir::new(path).contents_first(true);
    for entry in walk.into_iter().map(Result::unwrap) {
        let mode = if entry.file_type().is_dir() {
            mode | 0o111
        } else {
            mode
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
