//! One self-contained HTML page of a harvested file: dropped rows as a bar chart,
//! per run the tool path, speed, acceleration, force and channel coverage as
//! inline SVG, then the report as `view TARGET` prints it (the same numbers, from
//! the same renderer). No script, font, image or style sheet is fetched: a
//! Content-Security-Policy forbids every request, so the page opens offline from a
//! file:// URL exactly as it was written.

use std::io::{self, Write};

use rayon::prelude::*;

use super::report::report_tables;
use super::table::Style;
use crate::parallel::in_pool;
use crate::view::plot::{drops_chart, run_chart, Chart, Output, PlotKind, Projection, RunSeries};
use crate::view::resolve::Resolved;

const STYLE: &str = "
body { font-family: 'Liberation Sans', Arial, Helvetica, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 22px; word-break: break-all; }
h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
pre { font-family: 'Liberation Mono', 'DejaVu Sans Mono', monospace; font-size: 12px; overflow-x: auto; background: #f7f7f7; padding: 12px; }
figure.chart { margin: 16px 0; }
figure.chart svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 12px; color: #555; }
.note { color: #8a5a00; }
.paths { display: flex; gap: 12px; }
.paths figure.chart { margin: 0; flex: 1 1 0; min-width: 0; }
";

/// Writes the page of `resolved`, with the charts of `runs`.
pub(super) fn page(resolved: &Resolved, runs: &[RunSeries], out: &mut dyn Write) -> io::Result<()> {
    let report = &resolved.report;
    let mut text = Vec::new();
    report_tables(
        resolved,
        Style {
            fancy: false,
            width: None,
        },
        &mut text,
    )?;
    head(out, &format!("harvester: {}", report.source), "")?;
    writeln!(out, "<h1>{}</h1>", escape(&report.source))?;
    writeln!(
        out,
        "<p>{} rows read, {} kept, {} dropped; {} runs. The charts come first; the report follows them, as <code>view</code> prints it.</p>",
        report.rows.read,
        report.rows.kept,
        report.rows.dropped_total(),
        runs.len()
    )?;

    writeln!(out, "<section id=\"drops\">\n<h2>Dropped rows</h2>")?;
    match drops_chart(&report.rows).map_err(io::Error::other)? {
        Some(chart) => figure(out, &chart, &[])?,
        None => writeln!(out, "<p>No row was dropped.</p>")?,
    }
    writeln!(out, "</section>")?;

    // Each run's charts are drawn side by side, then written in order.
    let sections: Vec<io::Result<Vec<u8>>> = in_pool(|| {
        runs.par_iter()
            .map(|run| {
                let mut section = Vec::new();
                run_section(run, &mut section)?;
                Ok(section)
            })
            .collect()
    });
    for section in sections {
        out.write_all(&section?)?;
    }
    writeln!(
        out,
        "<section id=\"report\">\n<h2>Summary, data quality and run statistics</h2>"
    )?;
    writeln!(
        out,
        "<pre>{}</pre>\n</section>",
        escape(&String::from_utf8_lossy(&text))
    )?;
    writeln!(out, "</body>\n</html>")
}

/// The page's head, up to the opening of its body, with the page's own `style`
/// after the common one: nothing in it may be fetched.
pub(super) fn head(out: &mut dyn Write, title: &str, style: &str) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    )?;
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    )?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(
        out,
        "<title>{}</title>\n<style>{STYLE}{style}</style>\n</head>\n<body>",
        escape(title)
    )
}

/// One run's section: its path projections, time charts and coverage.
fn run_section(run: &RunSeries, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<section class=\"run\" id=\"run-{}\">", run.run_uuid)?;
    writeln!(out, "<h2>Run {}</h2>\n<div class=\"paths\">", run.run_uuid)?;
    for projection in [Projection::Xy, Projection::Xz] {
        let chart =
            run_chart(run, PlotKind::Path, projection, Output::Svg).map_err(io::Error::other)?;
        figure(out, &chart, &[("run", run.run_uuid.to_string())])?;
    }
    writeln!(out, "</div>")?;
    for kind in [
        PlotKind::Speed,
        PlotKind::Accel,
        PlotKind::Force,
        PlotKind::Coverage,
    ] {
        let chart = run_chart(run, kind, Projection::Xy, Output::Svg).map_err(io::Error::other)?;
        figure(out, &chart, &[("run", run.run_uuid.to_string())])?;
    }
    writeln!(out, "</section>")?;
    Ok(())
}

/// A chart in its figure: what it is, the data range and pixels of its x axis (a
/// reader can measure the drawing), what else it is of (`data-NAME` attributes:
/// its run, its cell), and its reduction note.
pub(super) fn figure(out: &mut dyn Write, chart: &Chart, of: &[(&str, String)]) -> io::Result<()> {
    write!(
        out,
        "<figure class=\"chart\" data-kind=\"{}\" data-x-range=\"{} {}\" data-x-pixels=\"{} {}\"",
        chart.kind, chart.x_range.0, chart.x_range.1, chart.x_pixels.0, chart.x_pixels.1
    )?;
    for (name, value) in of {
        write!(out, " data-{name}=\"{}\"", escape(value))?;
    }
    writeln!(out, ">")?;
    // plotters writes an XML prolog; inline SVG starts at its element.
    let svg = chart
        .svg
        .find("<svg")
        .map_or(chart.svg.as_str(), |at| &chart.svg[at..]);
    writeln!(out, "{svg}")?;
    write!(out, "<figcaption>{}", escape(&chart.title))?;
    if let Some(note) = chart.reduction_note() {
        write!(out, " <span class=\"note\">{}</span>", escape(&note))?;
    }
    writeln!(out, "</figcaption>\n</figure>")
}

/// Text safe in HTML content and attributes.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"\u{1b}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;\\u{1b}"
        );
    }
}
