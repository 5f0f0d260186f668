//! `view --jobs`: the harvest jobs, newest first: a table for people, JSON and CSV
//! for scripts.

use std::io::{self, Write};

use super::format::count;
use super::list::{elide, Shrink};
use super::table::{align_right, natural_width, print_table, table, Style};
use crate::catalog::{JobCounts, JobRecord, JobState};
use crate::text::printable;
use crate::time::{parse_iso8601, seconds_between};

/// A host:pid keeps at most this many characters in a narrow table.
const NARROW_HOST: usize = 18;

fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Finished => "finished",
        JobState::Unfinished => "unfinished",
    }
}

/// How long a job ran: to its end, or for one that has not recorded an end, at
/// least to its last heartbeat (`≥`).
fn duration(job: &JobRecord) -> String {
    let end = job.finished_at.as_deref().unwrap_or(&job.updated_at);
    let (Some(start), Some(stop)) = (parse_iso8601(&job.started_at), parse_iso8601(end)) else {
        return String::new();
    };
    let took = span(seconds_between(start, stop));
    match job.finished_at {
        Some(_) => took,
        None => format!("≥ {took}"),
    }
}

/// A duration in its two largest units: `4.2s`, `3m 05s`, `2h 10m`, `3d 04h`.
fn span(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let s = seconds.floor() as u64;
    match s {
        0..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The counts that are not zero, as `12 harvested, 3 skipped`, one per line when
/// `narrow`.
fn counts(c: &JobCounts, narrow: bool) -> String {
    let named = [
        (c.harvested, "harvested"),
        (c.skipped, "skipped"),
        (c.failed, "failed"),
        (c.failed_before, "failed before"),
        (c.held_elsewhere, "held elsewhere"),
    ];
    let shown: Vec<String> = named
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, name)| format!("{} {name}", count(*n)))
        .collect();
    if shown.is_empty() {
        "no files".to_string()
    } else {
        shown.join(if narrow { "\n" } else { ", " })
    }
}

/// A catalog instant to the second: `2026-12-03 06:12:05`, or date over time.
fn second(iso: &str, narrow: bool) -> String {
    let text = iso.get(..19).unwrap_or(iso);
    text.replacen('T', if narrow { "\n" } else { " " }, 1)
}

fn exit(job: &JobRecord) -> String {
    job.exit_code.map(|c| c.to_string()).unwrap_or_default()
}

/// `view --jobs`: one line per job; in a narrow table each job takes a few lines:
/// its state over its exit code, start over duration, host:pid over commit, one
/// count per line.
pub(super) fn jobs_table(jobs: &[JobRecord], style: Style, out: &mut dyn Write) -> io::Result<()> {
    if jobs.is_empty() {
        return writeln!(out, "no harvest jobs recorded");
    }
    let mut t = table(
        style,
        &[
            "id",
            "state",
            "started (UTC)",
            "duration",
            "host:pid",
            "commit",
            "files",
            "exit",
        ],
    );
    for job in jobs {
        t.add_row(vec![
            job.id.to_string(),
            state_name(job.state).to_string(),
            second(&job.started_at, false),
            duration(job),
            host_pid(job, None),
            printable(&job.git_commit).into_owned(),
            counts(&job.counts, false),
            exit(job),
        ]);
    }
    align_right(&mut t, [0, 3, 7]);
    if style.width.is_none_or(|width| natural_width(&t) <= width) {
        return print_table(out, &t);
    }
    let mut t = table(
        style,
        &[
            "id",
            "state\nexit",
            "started (UTC)\nduration",
            "host:pid\ncommit",
            "files",
        ],
    );
    for job in jobs {
        let state = match job.exit_code {
            Some(code) => format!("{}\nexit {code}", state_name(job.state)),
            None => state_name(job.state).to_string(),
        };
        t.add_row(vec![
            job.id.to_string(),
            state,
            format!("{}\n{}", second(&job.started_at, true), duration(job)),
            format!(
                "{}\n{}",
                host_pid(job, Some(NARROW_HOST)),
                printable(&job.git_commit)
            ),
            counts(&job.counts, true),
        ]);
    }
    align_right(&mut t, [0]);
    print_table(out, &t)
}

/// `host:pid`, elided in the middle of the host to `width` characters.
fn host_pid(job: &JobRecord, width: Option<usize>) -> String {
    let pid = format!(":{}", job.pid);
    let host = printable(&job.host);
    match width {
        Some(width) => {
            let room = width.saturating_sub(pid.chars().count()).max(4);
            format!("{}{pid}", elide(&host, room, Shrink::Middle))
        }
        None => format!("{host}{pid}"),
    }
}

pub(super) fn jobs_json(jobs: &[JobRecord], out: &mut dyn Write) -> io::Result<()> {
    super::json(out, jobs)
}

/// `view --jobs --format csv`: a line per job; its arguments as one JSON list.
pub(super) fn jobs_csv(jobs: &[JobRecord], out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "state",
        "started_at",
        "updated_at",
        "finished_at",
        "host",
        "pid",
        "tool_version",
        "git_commit",
        "watch",
        "args",
        "harvested",
        "skipped",
        "failed",
        "failed_before",
        "held_elsewhere",
        "exit_code",
    ])?;
    for job in jobs {
        let c = &job.counts;
        w.write_record([
            job.id.to_string(),
            state_name(job.state).to_string(),
            job.started_at.clone(),
            job.updated_at.clone(),
            job.finished_at.clone().unwrap_or_default(),
            job.host.clone(),
            job.pid.to_string(),
            job.tool_version.clone(),
            job.git_commit.clone(),
            job.watch.to_string(),
            serde_json::to_string(&job.args).map_err(io::Error::from)?,
            c.harvested.to_string(),
            c.skipped.to_string(),
            c.failed.to_string(),
            c.failed_before.to_string(),
            c.held_elsewhere.to_string(),
            exit(job),
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, finished: bool) -> JobRecord {
        JobRecord {
            id,
            state: if finished {
                JobState::Finished
            } else {
                JobState::Running
            },
            started_at: "2026-12-03T06:12:05.123Z".into(),
            updated_at: "2026-12-03T06:15:07.000Z".into(),
            finished_at: finished.then(|| "2026-12-03T08:20:05.123Z".into()),
            host: "worker-with-a-rather-long-name.example.org".into(),
            pid: 4_194_304,
            tool_version: "0.9.0".into(),
            git_commit: "0123456789ab-dirty".into(),
            watch: !finished,
            args: vec!["harvest".into(), "--watch".into()],
            counts: JobCounts {
                harvested: 1_204,
                skipped: 3,
                failed: 1,
                failed_before: 2,
                held_elsewhere: 11,
            },
            exit_code: finished.then_some(65),
        }
    }

    #[test]
    fn durations_say_when_a_job_has_not_ended() {
        assert_eq!(duration(&job(1, true)), "2h 08m");
        assert_eq!(duration(&job(2, false)), "≥ 3m 01s");
        assert_eq!(span(4.25), "4.2s");
        assert_eq!(span(3.0 * 86_400.0 + 4.0 * 3_600.0), "3d 04h");
    }

    #[test]
    fn the_jobs_table_fits_80_columns() {
        let jobs = [job(120_345, true), job(120_346, false)];
        for fancy in [false, true] {
            let mut text = Vec::new();
            let style = Style {
                fancy,
                width: Some(80),
            };
            jobs_table(&jobs, style, &mut text).unwrap();
            let text = String::from_utf8(text).unwrap();
            for line in text.lines() {
                let plain = line.replace("\x1b[1m", "").replace("\x1b[0m", "");
                assert!(plain.chars().count() <= 80, "{plain:?}\n{text}");
            }
            assert!(text.contains("1,204 harvested"), "{text}");
            assert!(text.contains("exit 65"), "{text}");
            assert!(text.contains(":4194304"), "{text}");
        }
        let mut text = Vec::new();
        jobs_table(&jobs, Style::plain(), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text.lines().count(), 4, "a line per job: {text}");
        assert!(text.contains("worker-with-a-rather-long-name.example.org:4194304"));
    }
}
