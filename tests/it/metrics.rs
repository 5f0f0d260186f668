//! Operating a fleet: what `harvest --metrics` serves, read by a real Prometheus
//! server (each test starts its own on a free loopback port, never a system one),
//! checked by `promtool`, and the alerting rules of `deploy/` with their unit tests.
//! `scripts/ensure-prometheus.sh` installs both binaries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::*;

/// Waits until `check` gives a value, polling every 100 ms, or panics after
/// `timeout` with `what` and the last thing `check` said.
fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// An HTTP answer: status code and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

/// `GET path_and_query` at `addr` over HTTP/1.0 (the server closes the connection
/// after its answer), or why it could not be asked.
fn get(addr: SocketAddr, path_and_query: &str) -> Result<Answer, String> {
    let ask = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
        )?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    };
    let text = ask().map_err(|e| format!("GET http://{addr}{path_and_query}: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}

/// `s` percent-encoded for a URL's query string.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server of this test's own, scraping one harvester every second as
/// job `harvester`; killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts one scraping `target` and returns once it is ready.
    fn scraping(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: harvester\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = free_loopback_addr();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (scripts/ensure-prometheus.sh installs it)");
        let mut server = Prometheus { child, addr, dir };
        poll("Prometheus to be ready", Duration::from_secs(30), || {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("prometheus exited ({status}):\n{}", server.log());
            }
            match get(server.addr, "/-/ready")? {
                Answer { status: 200, .. } => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The samples of an instant query: each series' labels and value.
    fn query(&self, promql: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let answer = get(
            self.addr,
            &format!("/api/v1/query?query={}", query_escape(promql)),
        )?;
        let json: serde_json::Value =
            serde_json::from_str(&answer.body).map_err(|e| format!("{e}: {}", answer.body))?;
        if answer.status != 200 || json["status"] != "success" {
            return Err(format!("{promql}: {} {}", answer.status, answer.body));
        }
        let samples = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        samples
            .into_iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("no value in {s}"))?;
                Ok((s["metric"].clone(), value))
            })
            .collect()
    }

    /// Waits until `promql` gives exactly one sample equal to `expected`.
    fn wait_for(&self, promql: &str, expected: f64) {
        poll(promql, Duration::from_secs(60), || {
            match self.query(promql)?.as_slice() {
                [(_, value)] if *value == expected => Ok(()),
                samples => Err(format!("{samples:?}, want {expected}")),
            }
        });
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address no one listens on right now (the OS picks the port).
fn free_loopback_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `harvest --watch` serving its metrics on a port of its choosing; killed when
/// dropped. Its stderr is collected line by line.
struct Watcher {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(work: &Workdir, catalog: &str) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harvest"))
            .args(["--watch", work.input().to_str().unwrap()])
            .args(["--out", work.out().to_str().unwrap(), "--catalog", catalog])
            .args(["--metrics", "127.0.0.1:0", "--lease", "3", "--settle", "1"])
            .args(["--threads", "1", "--log-format", "json"])
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let mut watcher = Watcher {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            stderr,
        };
        watcher.addr = poll("serving metrics at", Duration::from_secs(30), || {
            if let Some(status) = watcher.child.try_wait().unwrap() {
                panic!("harvest exited ({status}):\n{}", watcher.log());
            }
            let served = watcher
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| served_at(l));
            served.ok_or_else(|| watcher.log())
        });
        watcher
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    fn get(&self, path: &str) -> Answer {
        get(self.addr, path).unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of a `serving metrics at http://ADDR/metrics` log line.
fn served_at(line: &str) -> Option<SocketAddr> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    let url = event["message"]
        .as_str()?
        .strip_prefix("serving metrics at http://")?;
    let addr: SocketAddr = url.strip_suffix("/metrics")?.parse().ok()?;
    assert_eq!(event["addr"], addr.to_string(), "the addr field: {line}");
    Some(addr)
}

/// A log of `runs` (run id, start), one robot moving along x for 2 s, written
/// beside `path` and renamed into place: a copy that appears whole.
fn copy_log_in(path: &Path, runs: &[(u64, i64)]) {
    let mut log = LogBuilder::default();
    for &(run, start) in runs {
        let times = clock(start, 2.0, 10, 0);
        for field in ["x", "y", "z"] {
            log.channel(run, 1, field, &times, |t| 10.0 * t);
        }
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let staging = path.with_extension("partial");
    log.write_parquet(&staging);
    std::fs::rename(&staging, path).unwrap();
}

/// `promtool check metrics` on `text`: its complaints, or none.
fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/ensure-prometheus.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() && out.stdout.is_empty() && out.stderr.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Files copied into a watched inbox while Prometheus scrapes: the scraped counts
/// are the files harvested, and a cell's last run is the newest run start of its
/// logs (from the catalog).
fn scraped_counts_and_cell_last_run(backend: Backend) {
    let work = Workdir::new();
    let catalog = backend.url(&work, "metrics_scraped");
    let watcher = Watcher::start(&work, &catalog);
    let prometheus = Prometheus::scraping(watcher.addr);
    prometheus.wait_for(r#"up{job="harvester"}"#, 1.0);
    prometheus.wait_for(r#"harvester_files_total{outcome="harvested"}"#, 0.0);

    let inbox = work.input();
    copy_log_in(
        &inbox.join("cell=7/2026-11-23/a.parquet"),
        &[(71, T0), (72, T0 + 90 * SECOND)],
    );
    copy_log_in(&inbox.join("spare/b.parquet"), &[(91, T0 + 3600 * SECOND)]);

    prometheus.wait_for(r#"harvester_files_total{outcome="harvested"}"#, 2.0);
    prometheus.wait_for(r#"harvester_files_total{outcome="failed"}"#, 0.0);
    let newest_of_cell_7 = ((T0 + 90 * SECOND) / SECOND) as f64;
    prometheus.wait_for(
        r#"harvester_cell_last_run_timestamp_seconds{cell="7"}"#,
        newest_of_cell_7,
    );
    prometheus.wait_for(
        r#"harvester_cell_last_run_timestamp_seconds{cell="none"}"#,
        ((T0 + 3600 * SECOND) / SECOND) as f64,
    );
    // Kept rows: 3 channels × 201 readings per run, three runs.
    prometheus.wait_for(r#"harvester_rows_total{kind="kept"}"#, 3.0 * 3.0 * 201.0);
    let build = prometheus.query("harvester_build_info").unwrap();
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].0["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build[0].1, 1.0);
    let last_success = prometheus
        .query("harvester_last_success_timestamp_seconds")
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        matches!(last_success.as_slice(), [(_, at)] if (now - at).abs() < 60.0),
        "a watch pass succeeded just now: {last_success:?}"
    );
    drop(prometheus);
    drop(watcher);
}

on_both_backends!(
    scraped_counts_and_cell_last_run,
    scraped_counts_and_cell_last_run
);

/// What `/metrics` serves and what `--metrics-file` writes pass `promtool check
/// metrics` (the exposition format and Prometheus' naming rules).
#[test]
fn served_and_written_metrics_pass_promtool() {
    let work = Workdir::new();
    let catalog = format!("sqlite://{}", work.path("catalog.db").display());
    let watcher = Watcher::start(&work, &catalog);
    copy_log_in(&work.input().join("cell=2/a.parquet"), &[(21, T0)]);
    // Every metric has a value once a file is harvested and the catalog gauges
    // are refreshed after that pass.
    let served = poll("a harvest and its cell", Duration::from_secs(60), || {
        let answer = watcher.get("/metrics");
        let complete = answer.status == 200
            && answer
                .body
                .contains("harvester_files_total{outcome=\"harvested\"} 1")
            && answer
                .body
                .contains("harvester_cell_last_run_timestamp_seconds{cell=\"2\"}");
        complete
            .then_some(answer.body.clone())
            .ok_or(format!("{answer:?}"))
    });
    promtool_check_metrics(&served).unwrap_or_else(|e| panic!("/metrics: {e}\n{served}"));
    drop(watcher);

    let batch = Workdir::new();
    let file = batch.path("textfile/harvester.prom");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    copy_log_in(&batch.input().join("a.parquet"), &[(1, T0)]);
    let out = batch.harvest(&[
        batch.input().to_str().unwrap(),
        "--metrics-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("harvester_files_total{outcome=\"harvested\"} 1"),
        "{written}"
    );
    promtool_check_metrics(&written).unwrap_or_else(|e| panic!("--metrics-file: {e}\n{written}"));
    assert_eq!(
        files_below(file.parent().unwrap()),
        ["harvester.prom"],
        "nothing but the metrics file is left beside it"
    );
}

/// `/healthz` answers 200 while the watch goes on, also through a catalog outage
/// (a restart would not bring the database back); `/readyz` answers 503 with the
/// reason on one line while the catalog's server is stopped, and 200 again once it
/// is back.
#[test]
fn ready_follows_the_catalog_and_alive_outlasts_an_outage() {
    let cluster = PgCluster::start();
    let work = Workdir::new();
    let watcher = Watcher::start(&work, &cluster.url());
    assert_eq!(watcher.get("/healthz").status, 200, "{}", watcher.log());
    let probe = &watcher;
    let ready = |want: u16| {
        move || {
            let answer = probe.get("/readyz");
            (answer.status == want)
                .then_some(answer.body.clone())
                .ok_or(format!("{answer:?}"))
        }
    };
    poll("ready", Duration::from_secs(30), ready(200));

    cluster.down();
    let reason = poll("not ready", Duration::from_secs(30), ready(503));
    let reason = reason.trim_end();
    assert!(
        reason.starts_with("catalog:") && !reason.contains('\n'),
        "one line naming the catalog: {reason:?}"
    );
    assert_eq!(
        watcher.get("/healthz").status,
        200,
        "alive while the catalog is down: {}",
        watcher.log()
    );

    cluster.up();
    poll("ready again", Duration::from_secs(60), ready(200));
    assert_eq!(watcher.get("/healthz").status, 200);
    assert_eq!(watcher.get("/nowhere").status, 404);
}

/// A metrics address already in use stops `harvest` before any file: one line
/// naming the address, and exit 75 (the process holding it may be ending).
#[test]
fn metrics_on_an_address_in_use_is_one_line_and_75() {
    let work = Workdir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    copy_log_in(&work.input().join("a.parquet"), &[(1, T0)]);
    let mut child = work
        .harvest_command(&["--watch", work.input().to_str().unwrap()])
        .args(["--metrics", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = poll("harvest to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap().ok_or("running".to_string())
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(75), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains(&addr) && lines[0].to_lowercase().contains("in use"),
        "{err}"
    );
    assert!(
        output_dirs_in(&work.out()).is_empty(),
        "nothing harvested before the error"
    );
}

/// A job per file, each with `--metrics-file`: a job that fails keeps the last
/// success of the file it replaces, and the catalog's gauges are read at most every
/// 30 s (a later job within that time carries them over), so the catalog is not
/// queried whole once per file.
#[test]
fn a_metrics_file_carries_the_last_success_and_fresh_catalog_gauges_over() {
    let work = Workdir::new();
    let file = work.path("harvester.prom");
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    };
    let harvest = |name: &str, run: u64| {
        let path = work.input().join(name);
        copy_log_in(&path, &[(run, T0 + run as i64 * 3_600_000_000_000)]);
        let out = work.harvest(&[
            path.to_str().unwrap(),
            "--metrics-file",
            file.to_str().unwrap(),
        ]);
        (code(&out), std::fs::read_to_string(&file).unwrap())
    };
    let (first, text) = harvest("cell=1/a.parquet", 1);
    assert_eq!(first, 0);
    let success = value(&text, "harvester_last_success_timestamp_seconds").unwrap();
    let read_at = value(&text, "harvester_catalog_read_timestamp_seconds").unwrap();
    assert!(success > 1e9 && read_at > 1e9, "{text}");
    assert!(value(
        &text,
        "harvester_cell_last_run_timestamp_seconds{cell=\"1\"}"
    )
    .is_some());

    // Within 30 s: the gauges of the file replaced, not cell 2's new run.
    let (second, text) = harvest("cell=2/b.parquet", 2);
    assert_eq!(second, 0);
    assert_eq!(
        value(&text, "harvester_catalog_read_timestamp_seconds"),
        Some(read_at)
    );
    assert_eq!(
        value(
            &text,
            "harvester_cell_last_run_timestamp_seconds{cell=\"2\"}"
        ),
        None
    );
    let success = value(&text, "harvester_last_success_timestamp_seconds").unwrap();

    // A failing job keeps the last success; gauges older than 30 s are read again.
    let aged = text.replace(
        &format!("harvester_catalog_read_timestamp_seconds {read_at}"),
        &format!(
            "harvester_catalog_read_timestamp_seconds {}",
            read_at - 60.0
        ),
    );
    std::fs::write(&file, aged).unwrap();
    std::fs::write(work.input().join("broken.parquet"), b"not a parquet file").unwrap();
    let out = work.harvest(&[
        work.input().join("broken.parquet").to_str().unwrap(),
        "--metrics-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 65, "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        value(&text, "harvester_last_success_timestamp_seconds"),
        Some(success)
    );
    assert_eq!(
        value(&text, "harvester_files_total{outcome=\"failed\"}"),
        Some(1.0)
    );
    assert!(value(&text, "harvester_catalog_read_timestamp_seconds").unwrap() > read_at);
    assert!(
        value(
            &text,
            "harvester_cell_last_run_timestamp_seconds{cell=\"2\"}"
        )
        .is_some(),
        "{text}"
    );
    assert_eq!(
        value(&text, "harvester_failed_sources{cell=\"none\"}"),
        Some(1.0),
        "{text}"
    );
}

/// An address this host does not have (TEST-NET-1, reserved for documentation)
/// is a configuration to fix: 78, in one line, before anything is harvested.
#[test]
fn metrics_on_an_address_not_of_this_host_is_one_line_and_78() {
    let work = Workdir::new();
    copy_log_in(&work.input().join("a.parquet"), &[(1, T0)]);
    let out = work.harvest(&[
        work.input().to_str().unwrap(),
        "--metrics",
        "192.0.2.1:9464",
    ]);
    let err = stderr(&out);
    assert_eq!(code(&out), 78, "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("192.0.2.1:9464"), "{err}");
    assert!(output_dirs_in(&work.out()).is_empty());
}

/// `promtool` runs from the crate's root on the files of `deploy/`.
fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("promtool (scripts/ensure-prometheus.sh installs it)");
    assert!(
        out.status.success(),
        "promtool {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The alerting rules of `deploy/alerts.yml` are valid, and their unit tests
/// (`deploy/alerts_test.yml`: each rule firing, and not firing) pass.
#[test]
fn alerting_rules_are_valid_and_their_unit_tests_pass() {
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let rules = deploy.join("alerts.yml");
    let tests = deploy.join("alerts_test.yml");
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    promtool(&["test", "rules", tests.to_str().unwrap()]);
}
