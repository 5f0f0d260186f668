//! The tables of one harvested file for people: summary, data quality (drops,
//! warnings, conflicts, spikes), channel coverage and run statistics.

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table};

use super::format::{
    bytes, count, harvest_seconds, iso_cell, min_mean_max, number, opt_number, percent, to_millis,
};
use super::table::{
    align_right, fitted, heading, key_values, natural_width, print_table, table, Style,
};
use crate::catalog::{FileRecord, FileStatus};
use crate::model::options::{Encoding, MaxGap};
use crate::model::report::{Report, RunCoverage, RunEntry, Supersession};
use crate::model::schema::Channel;
use crate::time::format_utc;
use crate::view::resolve::Resolved;

pub(super) fn report_tables(
    resolved: &Resolved,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    summary_table(resolved, style, out)?;
    writeln!(out)?;
    quality_tables(&resolved.report, style, out)?;
    writeln!(out)?;
    coverage_tables(&resolved.report, style, out)?;
    writeln!(out)?;
    heading(out, style, "Run statistics")?;
    stats_table(&resolved.report.runs, style, out)
}

/// What was harvested, from where, how, and by which version.
fn summary_table(resolved: &Resolved, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let r = &resolved.report;
    heading(out, style, "Summary")?;
    let mut summary = vec![("source", r.source.clone())];
    if let Some(record) = &resolved.record {
        summary.push(("status", record.status.name().to_string()));
        if record.paths.len() > 1 {
            summary.push((
                "also seen as",
                record
                    .paths
                    .iter()
                    .filter(|p| **p != r.source)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    summary.extend([
        ("size", bytes(r.size_bytes)),
        ("content hash", r.content_hash.clone()),
        ("format", r.format.clone()),
    ]);
    if let Some(earlier) = &r.supersedes {
        summary.push((
            "supersedes",
            format!(
                "{} ({}), {}",
                earlier
                    .content_hash
                    .get(..12)
                    .unwrap_or(&earlier.content_hash),
                bytes(earlier.size_bytes),
                match earlier.reason {
                    Supersession::Grew => "a shorter revision",
                    Supersession::Changed => "the source's earlier content",
                }
            ),
        ));
    }
    let mut cells: Vec<&str> = r
        .runs
        .iter()
        .filter_map(|e| e.stats.cell.as_deref())
        .collect();
    cells.sort_unstable();
    cells.dedup();
    if !cells.is_empty() {
        summary.push(("cells", cells.join(", ")));
    }
    if let Some(dir) = &resolved.output_dir {
        summary.push(("output", dir.display().to_string()));
    }
    summary.extend([
        ("harvested at", to_millis(&r.finished_at)),
        (
            "tool version",
            format!(
                "{} (output schema {})",
                r.tool_version, r.output_schema_version
            ),
        ),
        (
            "alignment",
            match r.max_gap {
                MaxGap::Auto => format!("{} (max gap auto, per channel)", alignment_name(r)),
                MaxGap::Fixed(ns) => format!(
                    "{} (max gap {} s)",
                    alignment_name(r),
                    number(ns as f64 * 1e-9, 3)
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                ),
            },
        ),
        // The encoding is named only when it is not the default, PLAIN.
        (
            "compression",
            match r.encoding {
                Encoding::Plain => r.compression.to_string(),
                Encoding::Split => format!("{} (split pages)", r.compression),
            },
        ),
        (
            "duration",
            harvest_seconds(r).map_or_else(|| "n/a".into(), |s| format!("{} s", number(s, 2))),
        ),
    ]);
    key_values(out, style, summary)
}

/// Rows read, kept and dropped by reason, and the warnings.
fn quality_tables(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    heading(out, style, "Data quality")?;
    let rows = &r.rows;
    let dropped = rows.dropped_total();
    key_values(
        out,
        style,
        vec![
            ("rows read", count(rows.read)),
            (
                "rows kept",
                format!(
                    "{} ({})",
                    count(rows.kept),
                    percent(rows.kept as f64, rows.read as f64)
                ),
            ),
            (
                "rows dropped",
                format!(
                    "{} ({})",
                    count(dropped),
                    percent(dropped as f64, rows.read as f64)
                ),
            ),
        ],
    )?;
    let reasons: Vec<_> = rows.dropped.iter().filter(|(_, n)| **n > 0).collect();
    if !reasons.is_empty() {
        writeln!(out)?;
        let mut t = table(style, &["dropped: reason", "rows", "share of read"]);
        for (reason, n) in reasons {
            t.add_row(vec![
                reason.name().to_string(),
                count(*n),
                format!(
                    "{} %",
                    number(100.0 * *n as f64 / rows.read.max(1) as f64, 2)
                ),
            ]);
        }
        align_right(&mut t, [1, 2]);
        print_table(out, &t)?;
    }

    writeln!(out)?;
    if r.warnings.is_empty() {
        writeln!(out, "Warnings: none")?;
    } else {
        heading(out, style, &format!("Warnings ({})", r.warnings.len()))?;
        for w in &r.warnings {
            writeln!(out, "{}", bullet(w, style.width))?;
        }
    }
    conflicts_table(r, style, out)?;
    spikes_table(r, style, out)
}

/// The channels where one instant had readings with different values.
fn conflicts_table(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut t = table(
        style,
        &["run_uuid", "channel", "instants", "largest spread"],
    );
    for run in &r.coverage {
        for (channel, c) in run.channels.iter().filter(|(_, c)| c.conflicts > 0) {
            t.add_row(vec![
                run.run_uuid.clone(),
                channel.clone(),
                count(c.conflicts),
                opt_number(c.largest_conflict_spread, 4),
            ]);
        }
    }
    if t.row_count() == 0 {
        return Ok(());
    }
    writeln!(out)?;
    heading(
        out,
        style,
        "Conflicting readings (kept: closest to the path)",
    )?;
    align_right(&mut t, [2, 3]);
    print_table(out, &t)
}

/// The most spikes listed in a table; report.json lists them all.
const SPIKES_SHOWN: usize = 20;

/// Isolated spikes: where, what they read, and whether they were dropped.
fn spikes_table(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    if r.spikes.is_empty() {
        return writeln!(out, "Spikes: none");
    }
    heading(out, style, &format!("Spikes ({})", r.spikes.len()))?;
    let mut t = fitted(style, |narrow| {
        let mut t = table(
            style,
            &["run_uuid", "channel", "time (UTC)", "value", "dropped"],
        );
        for spike in r.spikes.iter().take(SPIKES_SHOWN) {
            t.add_row(vec![
                spike.run_uuid.clone(),
                spike.channel.clone(),
                iso_cell(&to_millis(&spike.time), narrow),
                number(spike.value, 4),
                if spike.dropped { "yes" } else { "no (kept)" }.to_string(),
            ]);
        }
        align_right(&mut t, [3]);
        t
    });
    t.set_content_arrangement(ContentArrangement::Disabled);
    print_table(out, &t)?;
    if r.spikes.len() > SPIKES_SHOWN {
        writeln!(
            out,
            "… and {} more (report.json lists every one)",
            r.spikes.len() - SPIKES_SHOWN
        )?;
    }
    Ok(())
}

/// Each run's channels with their samples and time span, and the channels it lacks.
fn coverage_tables(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    heading(out, style, "Channel coverage")?;
    let t = coverage_table(&r.coverage, true, style);
    // Too wide even with dates over times: a table per run, under its id.
    match style.width {
        Some(width) if natural_width(&t) > width => {
            for (i, run) in r.coverage.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "run {}", run.run_uuid)?;
                print_table(
                    out,
                    &coverage_table(std::slice::from_ref(run), false, style),
                )?;
            }
        }
        _ => print_table(out, &t)?,
    }
    let missing: Vec<_> = r
        .coverage
        .iter()
        .filter(|c| !c.missing.is_empty())
        .collect();
    writeln!(out)?;
    if missing.is_empty() {
        writeln!(out, "Missing channels: none")?;
    } else {
        heading(out, style, "Missing channels")?;
        let mut t = table(style, &["run_uuid", "missing"]);
        for run in missing {
            t.add_row(vec![run.run_uuid.clone(), run.missing.join(" ")]);
        }
        print_table(out, &t)?;
    }
    Ok(())
}

/// Each run's channels, their samples, coverage and span; the run id in the first
/// column when `with_id`.
fn coverage_table(runs: &[RunCoverage], with_id: bool, style: Style) -> Table {
    let order: Vec<String> = Channel::all().into_iter().map(Channel::column).collect();
    let rank = |name: &str| order.iter().position(|c| c == name).unwrap_or(order.len());
    let mut t = fitted(style, |narrow| {
        // Narrow: units under their names, as times are under their dates.
        let header = [
            "run_uuid",
            "channel",
            "samples",
            "coverage (%)",
            "max gap (s)",
            "first (UTC)",
            "last (UTC)",
        ]
        .map(|h| {
            if narrow {
                h.replacen(" (", "\n(", 1)
            } else {
                h.to_string()
            }
        });
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = table(style, &header[usize::from(!with_id)..]);
        for run in runs {
            let mut channels: Vec<_> = run.channels.iter().collect();
            channels.sort_by_key(|(name, _)| (rank(name), name.as_str()));
            for (i, (channel, c)) in channels.into_iter().enumerate() {
                let mut row = Vec::with_capacity(header.len());
                if with_id {
                    row.push(if i == 0 {
                        run.run_uuid.clone()
                    } else {
                        String::new()
                    });
                }
                row.extend([
                    channel.clone(),
                    count(c.samples),
                    number(100.0 * c.coverage, 1),
                    opt_number(c.max_gap_s, 3),
                    iso_cell(&c.start, narrow),
                    iso_cell(&c.stop, narrow),
                ]);
                t.add_row(row);
            }
        }
        let first = usize::from(with_id);
        align_right(&mut t, [first + 1, first + 2, first + 3]);
        t
    });
    t.set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// A list item (`- text`) wrapped at spaces to `width`, its later lines indented
/// under its text; a word longer than the width (a path) stays whole.
fn bullet(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return format!("- {text}");
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::from("-");
    for word in text.split_whitespace() {
        let (used, more) = (line.chars().count(), word.chars().count());
        if used > 2 && used + 1 + more > width {
            lines.push(std::mem::replace(&mut line, format!("  {word}")));
        } else {
            line.push(' ');
            line.push_str(word);
        }
    }
    lines.push(line);
    lines.join("\n")
}

fn alignment_name(r: &Report) -> String {
    serde_json::to_value(r.alignment)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

const STATS_HEADER: [&str; 9] = [
    "run_uuid",
    "robot",
    "start (UTC)",
    "stop (UTC)",
    "runtime (s)",
    "distance (mm)",
    "speed min/mean/max (mm/s)",
    "accel min/mean/max (mm/s²)",
    "force min/mean/max (N)",
];

fn stats_table(runs: &[RunEntry], style: Style, out: &mut dyn Write) -> io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "no run statistics");
    }
    let mut t = fitted(style, |narrow| {
        let separator = if narrow { "\n" } else { " / " };
        let header = STATS_HEADER.map(|h| {
            if narrow {
                h.replacen(" min/", "\nmin/", 1)
            } else {
                h.to_string()
            }
        });
        let mut t = table(style, &header.each_ref().map(String::as_str));
        for e in runs {
            t.add_row(vec![
                e.stats.run_uuid.to_string(),
                e.stats.robot_id.to_string(),
                iso_cell(&format_utc(e.stats.start), narrow),
                iso_cell(&format_utc(e.stats.stop), narrow),
                number(e.stats.runtime_s, 2),
                opt_number(e.stats.distance_mm, 1),
                min_mean_max(e.stats.speed_mm_s, 2, separator),
                min_mean_max(e.stats.accel_mm_s2, 1, separator),
                min_mean_max(e.stats.force_n, 2, separator),
            ]);
        }
        align_right(&mut t, [1, 4, 5, 6, 7, 8]);
        t
    });
    // Numbers and times are never wrapped: a table still too wide stacked becomes one
    // block of lines per run and robot.
    match style.width {
        Some(width) if natural_width(&t) > width => stats_blocks(runs, style, out),
        _ => {
            t.set_content_arrangement(ContentArrangement::Disabled);
            print_table(out, &t)
        }
    }
}

/// The run statistics as one small table per run and robot: a quantity per line.
fn stats_blocks(runs: &[RunEntry], style: Style, out: &mut dyn Write) -> io::Result<()> {
    for (i, e) in runs.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let s = &e.stats;
        heading(
            out,
            style,
            &format!("Run {}, robot {}", s.run_uuid, s.robot_id),
        )?;
        let mut t = table(style, &[]);
        t.set_content_arrangement(ContentArrangement::Disabled);
        for (k, v) in [
            ("start (UTC)", format_utc(s.start)),
            ("stop (UTC)", format_utc(s.stop)),
            ("runtime (s)", number(s.runtime_s, 2)),
            ("distance (mm)", opt_number(s.distance_mm, 1)),
            (
                "speed min/mean/max (mm/s)",
                min_mean_max(s.speed_mm_s, 2, " / "),
            ),
            (
                "accel min/mean/max (mm/s²)",
                min_mean_max(s.accel_mm_s2, 1, " / "),
            ),
            ("force min/mean/max (N)", min_mean_max(s.force_n, 2, " / ")),
        ] {
            t.add_row(vec![k.to_string(), v]);
        }
        print_table(out, &t)?;
    }
    Ok(())
}

/// A file known to the catalog whose report is not at hand: its record, and the
/// run statistics the catalog keeps.
pub(super) fn record_tables(
    record: &FileRecord,
    runs: &[RunEntry],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    heading(out, style, "Summary")?;
    let mut rows = vec![
        ("source", record.source_path.clone()),
        ("status", record.status.name().to_string()),
        ("attempts", record.attempts.to_string()),
        ("size", bytes(record.size_bytes.max(0) as u64)),
        ("content hash", record.content_hash.clone()),
    ];
    let optional = [
        ("last error", record.last_error.clone()),
        ("started at", record.started_at.clone()),
        ("finished at", record.finished_at.clone()),
        ("tool version", record.tool_version.clone()),
        ("output", record.output_dir.clone()),
        ("rows read", record.rows_read.map(count)),
        ("rows kept", record.rows_kept.map(count)),
    ];
    rows.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    rows.push(("updated", record.updated_at.clone()));
    key_values(out, style, rows)?;
    if record.status == FileStatus::Harvested {
        writeln!(
            out,
            "(the report is missing from the catalog and the output directory)"
        )?;
    }
    if !runs.is_empty() {
        writeln!(out)?;
        heading(out, style, "Run statistics")?;
        stats_table(runs, style, out)?;
    }
    Ok(())
}
