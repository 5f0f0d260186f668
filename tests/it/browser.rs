//! The HTML page in a real browser, and `view --plot`. Headless Chromium (Debian's
//! `chromium`; `.ci/run` installs it) is driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ending in NUL, read on fd 3, written on
//! fd 4). Without Chromium these tests fail; they never skip.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::*;

const RUN: u64 = 4242;
const R: f64 = 150.0; // mm

/// One full turn of a circle of radius R (robot 1, 8 s), and constant forces on
/// robot 2, which has no encoder: the X–Y chart holds the circle alone.
fn circle_log(path: &Path) {
    let mut log = LogBuilder::default();
    let omega = 2.0 * std::f64::consts::PI / 8.0;
    let encoder = clock(T0, 8.0, 12, 1);
    log.channel(RUN, 1, "x", &encoder, |t| R * (omega * t).cos());
    log.channel(RUN, 1, "y", &encoder, |t| R * (omega * t).sin());
    log.channel(RUN, 1, "z", &encoder, |_| 42.0);
    for (axis, field) in ["fx", "fy", "fz"].iter().enumerate() {
        log.channel(RUN, 2, field, &clock(T0 + 3_000_000, 8.0, 10, 1), |_| {
            [3.0, 4.0, 12.0][axis]
        });
    }
    log.write_parquet(path);
}

/// A headless Chromium and its DevTools pipe.
struct Browser {
    child: Child,
    send: std::fs::File,
    receive: Receiver<Value>,
    /// Events received while waiting for answers.
    events: Vec<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the browser tests need Chromium: apt-get install chromium fonts-liberation (.ci/run does)"
    );
}

/// A pipe whose ends are above fd 100, so placing them at 3 and 4 in the child
/// cannot overwrite one with the other.
fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let high = |fd: i32| {
        // SAFETY: duplicating a descriptor this process owns.
        let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        assert!(high >= 100);
        // SAFETY: `fd` is ours and not used again.
        unsafe { libc::close(fd) };
        high
    };
    (high(fds[0]), high(fds[1]))
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (to_browser, from_us) = pipe();
        let (to_us, from_browser) = pipe();
        let mut command = Command::new(chromium());
        command
            .args([
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1100,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(to_browser, 3) < 0 || libc::dup2(from_browser, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start Chromium");
        // SAFETY: the child has its copies; ours of its ends are closed, ours are owned once.
        let (send, receive) = unsafe {
            libc::close(to_browser);
            libc::close(from_browser);
            (
                std::fs::File::from_raw_fd(from_us),
                std::fs::File::from_raw_fd(to_us),
            )
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(receive);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        message.pop();
                        if let Ok(value) = serde_json::from_slice::<Value>(&message) {
                            if tx.send(value).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Browser {
            child,
            send,
            receive: rx,
            events: Vec::new(),
            next_id: 1,
            _profile: profile,
        }
    }

    fn next_message(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        self.receive
            .recv_timeout(left)
            .expect("Chromium answers within the time allowed")
    }

    /// Sends a command (to a page's session, if given) and returns its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.send.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self.next_message(deadline);
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    /// Waits for an event of `method`.
    fn wait_for(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let event = self.next_message(deadline);
            let found = event["method"] == method;
            self.events.push(event);
            if found {
                return;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the browser saw of a page.
struct Visit {
    /// Per chart: its figure's data and what is drawn in it.
    charts: Vec<Value>,
    problems: Vec<Value>,
    requests: Vec<String>,
    screenshot: Vec<u8>,
}

fn visit(page: &Path) -> Visit {
    let url = format!("file://{}", page.display());
    let mut browser = Browser::launch();
    let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = browser.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let session = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(session.as_str());
    for domain in [
        "Page.enable",
        "Runtime.enable",
        "Log.enable",
        "Network.enable",
    ] {
        browser.call(s, domain, json!({}));
    }
    browser.call(s, "Page.navigate", json!({"url": url}));
    browser.wait_for("Page.loadEventFired");
    let measured = browser.call(
        s,
        "Runtime.evaluate",
        json!({"returnByValue": true, "expression": r#"
            [...document.querySelectorAll('figure.chart')].map(figure => {
                const svg = figure.querySelector('svg');
                // Series are coloured polylines (axes and ticks are black), drawn
                // before the legend's samples: the first is robot 1's first stretch.
                const lines = [...svg.querySelectorAll('polyline')]
                    .filter(p => p.getAttribute('stroke') !== '#000000')
                    .filter(p => (p.getAttribute('points') || '').trim().split(/\s+/).length >= 2);
                const rects = [...svg.querySelectorAll('rect')]
                    .filter(r => r.getBBox().width > 0 && r.getBBox().height > 0);
                const first = lines.length ? lines[0].getBBox() : {width: 0, height: 0};
                // Per colour, the largest extent (px) of a line or dot drawn in it
                // among the series, which come before the legend's box (whose
                // samples have the series' colours whether or not they show).
                const shapes = [...svg.querySelectorAll('*')];
                const legend = shapes.findIndex(e => e.tagName === 'rect'
                    && (e.getAttribute('stroke') || '').toUpperCase() === '#B4B4B4');
                const colours = {};
                for (const e of legend < 0 ? shapes : shapes.slice(0, legend)) {
                    const paint = {polyline: 'stroke', circle: 'fill'}[e.tagName];
                    if (!paint) continue;
                    const colour = (e.getAttribute(paint) || '').toUpperCase();
                    const box = e.getBBox();
                    colours[colour] = Math.max(colours[colour] || 0, box.width, box.height);
                }
                return {
                    kind: figure.dataset.kind, run: figure.dataset.run || null,
                    xRange: figure.dataset.xRange, xPixels: figure.dataset.xPixels,
                    lines: lines.length, rects: rects.length,
                    firstWidth: first.width, firstHeight: first.height, colours,
                    caption: figure.querySelector('figcaption').textContent,
                };
            })"#}),
    );
    let shot = browser.call(s, "Page.captureScreenshot", json!({"format": "png"}));
    let screenshot = base64_decode(shot["data"].as_str().unwrap());
    let problems = browser
        .events
        .iter()
        .filter(|e| {
            (e["method"] == "Runtime.consoleAPICalled" && e["params"]["type"] == "error")
                || e["method"] == "Runtime.exceptionThrown"
                || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
        })
        .cloned()
        .collect();
    let requests = browser
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .map(|e| {
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .filter(|u| *u != url)
        .collect();
    Visit {
        charts: measured["result"]["value"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        problems,
        requests,
        screenshot,
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
    {
        let value = ALPHABET.iter().position(|a| *a == byte).expect("base64") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// Robot 1 blue, robot 2 red, as the charts draw them.
const ROBOT_COLOURS: [&str; 2] = ["#1F77B4", "#D62728"];

/// How far (px) robot `robot`'s lines or dot reach on a chart, 0 when it is not
/// drawn (its legend sample aside).
fn drawn_extent(chart: &Value, robot: usize) -> f64 {
    chart["colours"][ROBOT_COLOURS[robot - 1]]
        .as_f64()
        .unwrap_or(0.0)
}

fn pair(text: &Value) -> (f64, f64) {
    let parts: Vec<f64> = text
        .as_str()
        .unwrap()
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    (parts[0], parts[1])
}

/// `view DIR ARGS` on the output root of `work`.
fn view(work: &Workdir, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_view"))
        .arg(dir)
        .args(args)
        .args(["--out", work.out().to_str().unwrap()])
        .output()
        .unwrap()
}

/// Writes the HTML page of the output directory `dir` to `rel` in `work` with
/// `view --html`, and returns the page's path.
fn html_page(work: &Workdir, dir: &Path, rel: &str) -> PathBuf {
    let page = work.path(rel);
    let done = view(work, dir, &["--html", page.to_str().unwrap()]);
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    page
}

#[test]
fn the_page_opens_offline_with_every_chart_drawn_and_the_circle_is_2r_across() {
    let (work, dir) = harvested_log("circle.parquet", circle_log);
    let page = html_page(&work, &dir, "html/circle.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 3 << 20, "{} bytes", html.len());
    assert!(!html.contains("http://") || html.matches("http://www.w3.org/2000/svg").count() > 0);
    assert!(!html.contains("<script"), "no script");

    let visit = visit(&page);
    assert!(
        visit.problems.is_empty(),
        "console errors: {:#?}",
        visit.problems
    );
    assert!(
        visit.requests.is_empty(),
        "network requests: {:?}",
        visit.requests
    );
    let kinds: Vec<&str> = visit
        .charts
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["path-xy", "path-xz", "speed", "accel", "force", "coverage"],
        "{:#?}",
        visit.charts
    );
    for chart in &visit.charts {
        let drawn = match chart["kind"].as_str().unwrap() {
            "coverage" | "drops" => chart["rects"].as_u64().unwrap() >= 2,
            _ => chart["lines"].as_u64().unwrap() >= 1,
        };
        assert!(drawn, "a drawn series: {chart}");
        let caption = chart["caption"].as_str().unwrap();
        assert!(caption.contains(&format!("run {RUN}")), "{caption}");
    }
    // Robot 1 shows on both path charts; robot 2 has no positions, so neither
    // draws it.
    for chart in &visit.charts[..2] {
        assert!(drawn_extent(chart, 1) >= 100.0, "{chart}");
        assert_eq!(drawn_extent(chart, 2), 0.0, "{chart}");
    }
    // The circle, measured on the drawing: its width in pixels at the axis' scale.
    let xy = &visit.charts[0];
    let (x0, x1) = pair(&xy["xRange"]);
    let (p0, p1) = pair(&xy["xPixels"]);
    assert!(p1 - p0 >= 400.0, "the plot is {} px across", p1 - p0);
    let across = xy["firstWidth"].as_f64().unwrap() * (x1 - x0) / (p1 - p0);
    assert!(
        (across - 2.0 * R).abs() <= 0.005 * 2.0 * R,
        "the circle is {across} mm across, not 2r = {}",
        2.0 * R
    );
    // The screenshot shows something: many colours, mostly but not only white.
    let image = image::load_from_memory(&visit.screenshot)
        .unwrap()
        .to_rgb8();
    let inked = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let share = inked as f64 / (image.width() * image.height()) as f64;
    assert!(
        (0.01..0.95).contains(&share),
        "{share} of the screenshot is not white"
    );
}

#[test]
fn plot_writes_one_chart_as_svg_or_png() {
    let (work, dir) = harvested_log("circle.parquet", circle_log);
    let plot = |args: &[&str]| view(&work, &dir, args);
    let svg = work.path("speed.svg");
    let done = plot(&["--plot", "speed", "-o", svg.to_str().unwrap()]);
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("<polyline"),
        "{text:.200}"
    );
    assert!(text.contains("speed |v| (mm/s)"), "units on the axis");

    let png = work.path("charts/path.png");
    let done = plot(&[
        "--plot",
        "path",
        "--run",
        &RUN.to_string(),
        "--robot",
        "1",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let image = image::open(&png).unwrap().to_rgb8();
    assert!(image.width() >= 400 && image.pixels().any(|p| p.0 != [255, 255, 255]));

    let (txt, bad_run, no_path) = (work.path("x.txt"), work.path("x.svg"), work.path("p.svg"));
    for (args, said) in [
        (
            vec![
                "--plot",
                "path",
                "--robot",
                "2",
                "-o",
                no_path.to_str().unwrap(),
            ],
            "no positions",
        ),
        (
            vec!["--plot", "speed", "-o", txt.to_str().unwrap()],
            ".svg or .png",
        ),
        (
            vec![
                "--plot",
                "force",
                "--run",
                "7",
                "-o",
                bad_run.to_str().unwrap(),
            ],
            "no run `7`",
        ),
    ] {
        let done = plot(&args);
        assert_eq!(code(&done), 64, "{args:?}: {}", stderr(&done));
        assert!(stderr(&done).contains(said), "{}", stderr(&done));
    }
    assert!(
        !txt.exists() && !bad_run.exists() && !no_path.exists(),
        "nothing written"
    );
}

#[test]
fn every_robot_with_positions_shows_on_every_path_chart_also_when_it_does_not_move() {
    use crate::util::stationary::*;
    let (work, dir) = harvested_log("stationary.parquet", stationary_log);
    let page = html_page(&work, &dir, "stationary.html");

    let visit = visit(&page);
    assert!(visit.problems.is_empty(), "{:#?}", visit.problems);
    let paths: Vec<&Value> = visit
        .charts
        .iter()
        .filter(|c| c["kind"].as_str().unwrap().starts_with("path-"))
        .collect();
    assert_eq!(paths.len(), 6, "X–Y and X–Z of three runs: {paths:#?}");
    for chart in paths {
        let run: u64 = chart["run"].as_str().unwrap().parse().unwrap();
        let (robots, xs): (&[usize], Vec<f64>) = match run {
            CIRCLE_AND_STANDING => (&[1, 2], vec![-RADIUS, RADIUS, STANDING[0]]),
            BOTH_STANDING => (&[1, 2], vec![BOTH[0][0], BOTH[1][0]]),
            _ => (&[2], vec![0.0, 160.0]),
        };
        let kind = &chart["kind"];
        for robot in [1, 2] {
            let extent = drawn_extent(chart, robot);
            if robots.contains(&robot) {
                assert!(
                    extent >= 4.0,
                    "robot {robot} of run {run} is not visible on {kind}: {chart}"
                );
            } else {
                assert_eq!(extent, 0.0, "run {run} has no robot {robot}: {chart}");
            }
        }
        // The x axis holds every robot's points, the standing ones included.
        let (x0, x1) = pair(&chart["xRange"]);
        for x in xs {
            assert!(
                x0 < x && x < x1,
                "x {x} outside {kind} of run {run}: {chart}"
            );
        }
    }
}

#[test]
fn the_fleet_page_has_a_chart_per_cell_and_quantity_and_lists_the_failed_source() {
    let (_work, _catalog, page) = crate::fleet_view::fleet_page();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "no script");
    let failed = html
        .split("<section id=\"failed\">")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("a section of failed sources");
    assert!(
        failed.contains("cell=b/empty.parquet") && failed.contains("<td>b</td>"),
        "the empty file, in cell b: {failed}"
    );

    let visit = visit(&page);
    assert!(
        visit.problems.is_empty(),
        "console errors: {:#?}",
        visit.problems
    );
    assert!(
        visit.requests.is_empty(),
        "network requests: {:?}",
        visit.requests
    );
    let charts: Vec<(String, String)> = visit
        .charts
        .iter()
        .map(|chart| {
            let caption = chart["caption"].as_str().unwrap();
            let cell = caption
                .strip_prefix("cell ")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or_else(|| panic!("a cell's chart: {caption}"));
            (
                cell.to_string(),
                chart["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = ["a", "b", "none"]
        .iter()
        .flat_map(|cell| {
            ["runs", "distance", "dropped"].map(|kind| (cell.to_string(), kind.to_string()))
        })
        .collect();
    assert_eq!(charts, expected, "{:#?}", visit.charts);
    for chart in &visit.charts {
        // A line or a dot per day with a value, in the series' colour.
        assert!(drawn_extent(chart, 1) > 0.0, "a visible series: {chart}");
        let (p0, p1) = pair(&chart["xPixels"]);
        assert!(p1 - p0 >= 400.0, "the plot is {} px across", p1 - p0);
    }
    // Cell a ran on two days: its runs and distance are lines across the week.
    for chart in &visit.charts[..2] {
        assert!(chart["lines"].as_u64().unwrap() >= 1, "{chart}");
        assert!(drawn_extent(chart, 1) >= 100.0, "{chart}");
    }
}
