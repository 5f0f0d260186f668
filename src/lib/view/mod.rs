//! `view`: what was harvested, for people (tables) and scripts (JSON, CSV).
//!
//! Data is gathered first ([`resolve::gather`], the only part that touches the
//! catalog), then rendered to any writer ([`render::render`]), so a closed pipe or a
//! full terminal never leaves the catalog half-read, and rendering is testable
//! without a catalog.

use std::io::{self, Write};
use std::path::Path;

use crate::error::ExitCode;
use crate::view::options::ChartFormat;
use crate::view::plot::{DrawError, Output};

pub mod fleet;
pub mod options;
pub mod plot;
pub mod render;
pub mod resolve;
mod suggest;

pub use options::{Format, Request, ViewOptions};
pub use render::{render, Style};
pub use resolve::{gather, read_report, View, ViewError};

/// Runs `view`: gathers, renders to stdout (or the file a page or chart is asked
/// for), and returns the exit code. Errors are logged as one line on stderr, with
/// the exit code as a field for log collectors. A closed stdout (`view … | head`) is
/// a success.
pub async fn run(options: &ViewOptions) -> ExitCode {
    match show(options).await {
        Ok(()) => ExitCode::Success,
        Err(e) => {
            let code = e.exit_code();
            tracing::error!(exit_code = code as u8, "{e}");
            code
        }
    }
}

async fn show(options: &ViewOptions) -> Result<(), ViewError> {
    let view = gather(options).await?;
    let file = match &options.request {
        Request::Page {
            file: Some(file), ..
        }
        | Request::FleetPage {
            file: Some(file), ..
        } => Some(file),
        Request::Plot { file, .. } => Some(file),
        _ => None,
    };
    if let Some(file) = file {
        write_file(&view, file)?;
        tracing::info!("wrote {}", crate::text::printable_path(file));
        return Ok(());
    }
    // A table says so below its last line; JSON and CSV stay parseable.
    if let View::List { records, more, .. } = &view {
        if *more > 0 && options.format != Format::Table {
            tracing::warn!("{}", render::more_files_line(records.len(), *more));
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = render(&view, options.format, Style::detect(options.wide), &mut out)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(ViewError::Stdout(e)),
    }
}

/// Writes a page or a chart to `file`, whole or not at all: into a temporary
/// sibling, then renamed into place. A chart is SVG or PNG by the file's extension.
/// The file's place was checked when the flags were parsed; what still fails here
/// (a folder that cannot be made, a write refused) cannot be created (73).
fn write_file(view: &View, file: &Path) -> Result<(), ViewError> {
    let cannot = |e: io::Error| ViewError::CantCreate {
        path: file.to_path_buf(),
        source: e,
    };
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(cannot(io::Error::other(format!(
            "{} is not a directory",
            crate::text::printable_path(dir)
        ))));
    }
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let format = options::chart_format(file);
    let extension = match format {
        Some(ChartFormat::Png) => ".png",
        _ => ".tmp",
    };
    let temporary = tempfile::Builder::new()
        .prefix(".view-")
        .suffix(extension)
        .tempfile_in(dir)
        .map_err(cannot)?;
    match (view, format) {
        (
            View::Plot {
                series,
                kind,
                projection,
            },
            Some(ChartFormat::Png),
        ) => {
            plot::run_chart(series, *kind, *projection, Output::Png(temporary.path())).map_err(
                |e| match e {
                    DrawError::Write(reason) => cannot(io::Error::other(reason)),
                    other => ViewError::Draw(other),
                },
            )?;
        }
        _ => {
            let mut out = io::BufWriter::new(temporary.as_file());
            render(view, Format::Table, Style::detect(true), &mut out)
                .and_then(|()| out.flush())
                .map_err(|e| ViewError::from_render(e, file))?;
        }
    }
    temporary.as_file().sync_all().map_err(cannot)?;
    // A page or chart is for others to read: not the temporary file's 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(cannot)?;
    }
    temporary.persist(file).map_err(|e| cannot(e.error))?;
    Ok(())
}
