//! `view`: what was harvested, for people (tables) and scripts (JSON, CSV).
//!
//! Data is gathered first ([`resolve::gather`], the only part that touches the
//! catalog), then rendered to any writer ([`render::render`]), so a closed pipe or a
//! full terminal never leaves the catalog half-read, and rendering is testable
//! without a catalog.

use std::io::{self, Write};

use crate::error::ExitCode;

pub mod options;
pub mod plot;
pub mod render;
pub mod resolve;
mod suggest;

pub use options::{Format, Request, ViewOptions};
pub use render::{render, Style};
pub use resolve::{gather, read_report, View, ViewError};

/// Runs `view`: gathers, renders to stdout (or the file a page or chart is asked
/// for), and returns the exit code. Errors are logged as one line on stderr. A
/// closed stdout (`view … | head`) is a success.
pub async fn run(options: &ViewOptions) -> ExitCode {
    let view = match gather(options).await {
        Ok(view) => view,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit_code();
        }
    };
    let file = match &options.request {
        Request::Page {
            file: Some(file), ..
        } => Some(file),
        Request::Plot { file, .. } => Some(file),
        _ => None,
    };
    if let Some(file) = file {
        return match write_file(&view, file) {
            Ok(()) => {
                tracing::info!("wrote {}", crate::text::printable_path(file));
                ExitCode::Success
            }
            Err(e) => {
                tracing::error!("{}: cannot write: {e}", crate::text::printable_path(file));
                match e.kind() {
                    io::ErrorKind::InvalidInput => ExitCode::Usage,
                    _ => ExitCode::RetryLater,
                }
            }
        };
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = render(&view, options.format, Style::detect(options.wide), &mut out)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            tracing::error!("cannot write to stdout: {e}");
            ExitCode::RetryLater
        }
    }
}

/// Writes a page or a chart to `file`, whole or not at all: into a temporary
/// sibling, then renamed into place. A chart is SVG or PNG by the file's extension.
fn write_file(view: &View, file: &std::path::Path) -> io::Result<()> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let extension = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let temporary = tempfile::Builder::new()
        .prefix(".view-")
        .suffix(&format!(".{extension}"))
        .tempfile_in(dir)?;
    match (view, extension.as_str()) {
        (View::Plot { series, kind }, "png") => {
            plot::run_chart(series, *kind, 0, plot::Output::Png(temporary.path()))
                .map_err(not_drawable)?;
        }
        (View::Plot { .. }, extension) if extension != "svg" => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a chart is written as .svg or .png",
            ))
        }
        _ => {
            let mut out = io::BufWriter::new(temporary.as_file());
            render(view, Format::Table, Style::detect(true), &mut out)?;
            out.flush()?;
        }
    }
    temporary.as_file().sync_all()?;
    // A page or chart is for others to read: not the temporary file's 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    temporary.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// A chart the run's data cannot give (no positions for a path): the request's
/// fault, a usage error.
pub(crate) fn not_drawable(problem: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, problem)
}
