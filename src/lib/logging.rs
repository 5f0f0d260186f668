//! Logging for both binaries: human-readable lines by default, one JSON object per
//! event with `--log-format json` for log collectors. Always on stderr, so stdout
//! stays clean for data.

use tracing_subscriber::EnvFilter;

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level.
pub fn init(format: LogFormat, verbose: bool, quiet: bool) {
    // The object store client logs each retry it makes (at most two per request;
    // the error that follows says what failed), the HTTP stack every connection.
    let default = if quiet {
        "warn"
    } else if verbose {
        "debug,sqlx=warn,object_store=info,hyper_util=info,reqwest=info,rustls=info"
    } else {
        "info,sqlx=warn,object_store=warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log that cannot be written (a supervisor closed stderr) is lost; by
        // default the subscriber would report it with `eprintln!`, which panics on
        // a closed stderr and takes the task with it (a watch's signal handler).
        .log_internal_errors(false)
        .with_target(false);
    let _ = match format {
        // People read the message; the structured fields are for the JSON format.
        LogFormat::Text => builder
            .with_ansi(use_colour())
            .without_time()
            .fmt_fields(MessageOnly)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Colour only on a terminal, and never when `NO_COLOR` is set.
pub fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Formats only an event's message, leaving out its fields.
struct MessageOnly;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for MessageOnly {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: tracing_subscriber::fmt::format::Writer<'writer>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = MessageVisitor {
            writer: &mut writer,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct MessageVisitor<'a, 'writer> {
    writer: &'a mut tracing_subscriber::fmt::format::Writer<'writer>,
    result: std::fmt::Result,
}

impl tracing::field::Visit for MessageVisitor<'_, '_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}
