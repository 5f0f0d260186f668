//! `view`: what was harvested, for people (tables) and scripts (JSON, CSV).
//!
//! Data is gathered first ([`resolve::gather`], the only part that touches the
//! catalog), then rendered to any writer ([`render::render`]), so a closed pipe or a
//! full terminal never leaves the catalog half-read, and rendering is testable
//! without a catalog.

use std::io::{self, Write};

use crate::error::ExitCode;

pub mod options;
pub mod render;
pub mod resolve;
mod suggest;

pub use options::{Format, Request, ViewOptions};
pub use render::{render, Style};
pub use resolve::{gather, read_report, View, ViewError};

/// Runs `view`: gathers, renders to stdout, and returns the exit code. Errors are
/// logged as one line on stderr. A closed stdout (`view … | head`) is a success.
pub async fn run(options: &ViewOptions) -> ExitCode {
    let view = match gather(options).await {
        Ok(view) => view,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit_code();
        }
    };
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
