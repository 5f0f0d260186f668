//! What a job says of each file, and of itself: one [`FileOutcome`] per file, and
//! the [`JobSummary`] they add up to, whose exit code a scheduler acts on.

use std::path::PathBuf;

use crate::catalog::Holder;
use crate::error::{ExitCode, FailureKind, HarvestError};
use crate::model::readings::RowAccount;
use crate::model::report::StageTime;

/// What happened to one file.
#[derive(Debug)]
pub enum FileOutcome {
    Harvested {
        output_dir: PathBuf,
        content_hash: String,
        /// The file's size.
        input_bytes: u64,
        rows: RowAccount,
        runs: usize,
        stages: Vec<StageTime>,
    },
    AlreadyHarvested {
        content_hash: String,
        output_dir: Option<String>,
    },
    /// The path's identity has not changed since its content was harvested: not read.
    Unchanged { content_hash: String },
    /// Another worker holds the claim, or took it over and harvested the file:
    /// named when the catalog says who (an object's fetch is claimed before its
    /// content is known).
    HeldElsewhere {
        content_hash: Option<String>,
        holder: Option<Holder>,
    },
    FailedBefore {
        content_hash: String,
        last_error: String,
        kind: FailureKind,
    },
    Failed {
        content_hash: Option<String>,
        error: HarvestError,
    },
}

impl FileOutcome {
    /// What this outcome says to the caller that named the file.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            FileOutcome::Harvested { .. }
            | FileOutcome::AlreadyHarvested { .. }
            | FileOutcome::Unchanged { .. }
            | FileOutcome::HeldElsewhere { .. } => ExitCode::Success,
            FileOutcome::FailedBefore { kind, .. } => kind.exit_code(),
            FileOutcome::Failed { error, .. } => error.exit_code(),
        }
    }

    /// What this outcome says of a run that found the file by listing a directory
    /// or a prefix: the exit code speaks of what this run did, so a content already
    /// recorded as bad (at this path or another) is history, not news, and reruns
    /// settle. A harvester bug keeps failing (70) until `--retry-failed` or a new
    /// version, as a file named alone does.
    pub fn exit_code_when_listed(&self) -> ExitCode {
        match self {
            FileOutcome::FailedBefore {
                kind: FailureKind::BadFile,
                ..
            } => ExitCode::Success,
            outcome => outcome.exit_code(),
        }
    }
}

/// Counts of a job's outcomes, for the summary line, and the exit code they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub harvested: usize,
    pub skipped: usize,
    /// Failed in this run.
    pub failed: usize,
    /// Recorded as failed by an earlier run, and not tried again.
    pub failed_before: usize,
    pub exit: ExitCode,
}

impl Default for JobSummary {
    fn default() -> Self {
        JobSummary {
            harvested: 0,
            skipped: 0,
            failed: 0,
            failed_before: 0,
            exit: ExitCode::Success,
        }
    }
}

impl JobSummary {
    /// Counts one file's outcome and folds in its exit code: the code of a named
    /// file, or of one found by listing (see [`FileOutcome::exit_code_when_listed`]).
    pub fn add(&mut self, outcome: &FileOutcome, named: bool) {
        let exit = if named {
            outcome.exit_code()
        } else {
            outcome.exit_code_when_listed()
        };
        self.exit = self.exit.worst(exit);
        match outcome {
            FileOutcome::Harvested { .. } => self.harvested += 1,
            FileOutcome::AlreadyHarvested { .. }
            | FileOutcome::Unchanged { .. }
            | FileOutcome::HeldElsewhere { .. } => self.skipped += 1,
            FileOutcome::FailedBefore { .. } => self.failed_before += 1,
            FileOutcome::Failed { .. } => self.failed += 1,
        }
    }

    /// Adds the counts of `other` (a watch's pass) to these; the exit code is left
    /// to the caller.
    pub fn count(&mut self, other: &JobSummary) {
        self.harvested += other.harvested;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.failed_before += other.failed_before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that failed in an earlier job, as its failure's kind left it.
    fn failed_before(kind: FailureKind) -> FileOutcome {
        FileOutcome::FailedBefore {
            content_hash: "h".into(),
            last_error: "e".into(),
            kind,
        }
    }

    #[test]
    fn a_job_exits_with_its_worst_outcome() {
        let mut summary = JobSummary::default();
        summary.add(
            &FileOutcome::AlreadyHarvested {
                content_hash: "h".into(),
                output_dir: None,
            },
            true,
        );
        assert_eq!(summary.exit, ExitCode::Success);
        summary.add(&failed_before(FailureKind::BadFile), true);
        assert_eq!(summary.exit, ExitCode::BadFile);
        summary.add(&failed_before(FailureKind::Internal), true);
        assert_eq!(summary.exit, ExitCode::Internal);
        summary.add(&failed_before(FailureKind::BadFile), true);
        assert_eq!(summary.exit, ExitCode::Internal);
        summary.add(&failed_before(FailureKind::Retryable), true);
        assert_eq!(summary.exit, ExitCode::RetryLater);
        assert_eq!((summary.skipped, summary.failed_before), (1, 4));
    }

    #[test]
    fn a_known_bad_file_found_by_listing_does_not_fail_the_job_but_a_bug_does() {
        let mut summary = JobSummary::default();
        summary.add(&failed_before(FailureKind::BadFile), false);
        assert_eq!(summary.exit, ExitCode::Success);
        assert_eq!((summary.failed, summary.failed_before), (0, 1));
        summary.add(
            &FileOutcome::Failed {
                content_hash: None,
                error: HarvestError::bad_file("new.csv", "no rows"),
            },
            false,
        );
        assert_eq!(
            summary.exit,
            ExitCode::BadFile,
            "a new failure fails the job"
        );
        summary.add(&failed_before(FailureKind::Internal), false);
        assert_eq!(summary.exit, ExitCode::Internal);
        assert_eq!((summary.failed, summary.failed_before), (1, 2));
    }
}
