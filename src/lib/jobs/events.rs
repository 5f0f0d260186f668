//! What a job tells whoever reads its log: one event per file (a sentence for
//! people, fields for collectors), a progress bar on a terminal, and a last line.

use std::path::Path;

use crate::error::FailureKind;
use crate::model::report::Stage;
use crate::text::printable_path;

use super::{FileOutcome, JobSummary};

/// The job's last line: counts, and how long it took. `failed` counts the files
/// that failed in this run; `failed_before` those recorded as failed by an earlier
/// one and not tried again.
pub fn log_summary(summary: &JobSummary, seconds: f64) {
    tracing::info!(
        harvested = summary.harvested,
        skipped = summary.skipped,
        failed = summary.failed,
        failed_before = summary.failed_before,
        seconds = format!("{seconds:.2}"),
        "summary: {} harvested, {} skipped, {} failed, {} failed before in {seconds:.2} s",
        summary.harvested,
        summary.skipped,
        summary.failed,
        summary.failed_before,
    );
}

/// A progress bar on a terminal with several files; hidden otherwise.
pub fn progress_bar(total: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if total < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// One log event per file: a sentence for people, fields for collectors.
pub fn report_outcome(path: &Path, outcome: &FileOutcome) {
    let file = printable_path(path);
    match outcome {
        FileOutcome::Harvested {
            output_dir,
            content_hash,
            rows,
            runs,
            stages,
            ..
        } => {
            let (rows_read, rows_kept) = (rows.read, rows.kept);
            let stage = |stage: Stage| {
                stages
                    .iter()
                    .find(|s| s.stage == stage)
                    .map_or(0.0, |s| s.seconds)
            };
            let seconds: f64 = stages.iter().map(|s| s.seconds).sum();
            tracing::info!(
                file,
                content_hash,
                rows_read,
                rows_kept,
                runs,
                output = %output_dir.display(),
                read_s = stage(Stage::Read),
                fetch_s = stage(Stage::Fetch),
                load_s = stage(Stage::Load),
                validate_s = stage(Stage::Validate),
                runs_s = stage(Stage::Runs),
                statistics_s = stage(Stage::Statistics),
                seconds,
                "harvested {file} -> {} ({rows_read} rows read, {rows_kept} kept, {runs} runs) in {seconds:.2} s",
                output_dir.display()
            );
        }
        FileOutcome::AlreadyHarvested {
            content_hash,
            output_dir,
        } => {
            let output = output_dir.as_deref().unwrap_or("");
            tracing::info!(
                file,
                content_hash,
                output,
                "already harvested: {file} ({output})"
            );
        }
        FileOutcome::Unchanged { content_hash } => {
            tracing::debug!(
                file,
                content_hash,
                "unchanged since harvested, not read: {file}"
            );
        }
        FileOutcome::HeldElsewhere {
            content_hash,
            holder,
        } => {
            let content_hash = content_hash.as_deref();
            match holder {
                Some(holder) => tracing::info!(
                    file,
                    content_hash,
                    host = holder.host.as_str(),
                    pid = holder.pid,
                    "held by another worker: {file} ({holder})"
                ),
                None => tracing::info!(file, content_hash, "held by another worker: {file}"),
            }
        }
        FileOutcome::FailedBefore {
            content_hash,
            last_error,
            kind,
        } => {
            let again = match kind {
                FailureKind::Internal => {
                    "a harvester bug; a new version or --retry-failed tries again"
                }
                _ => "--retry-failed tries again",
            };
            let name = kind.name();
            // A bad file was reported as an error when it failed; finding it again is
            // a warning. A harvester bug stays an error until it is fixed.
            if *kind == FailureKind::BadFile {
                tracing::warn!(
                    file,
                    content_hash,
                    kind = name,
                    "{file}: failed before ({again}): {last_error}"
                )
            } else {
                tracing::error!(
                    file,
                    content_hash,
                    kind = name,
                    "{file}: failed before ({again}): {last_error}"
                )
            }
        }
        FileOutcome::Failed {
            content_hash,
            error,
        } => {
            let retry = error.is_retryable();
            tracing::error!(
                file,
                content_hash = content_hash.as_deref(),
                retry,
                "{error}"
            );
        }
    }
}
