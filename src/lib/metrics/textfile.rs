//! `--metrics-file`: the metrics of a process that ends (a cron job, a Kubernetes
//! Job), written where node_exporter's textfile collector reads them.
//!
//! The collector reads every `*.prom` file of its directory at each scrape, so the
//! file is written beside its final name and renamed over it: a scrape sees the
//! previous job's metrics or this one's, never half a file. A job that fails keeps
//! the last success the file recorded, so an alert on its age fires when jobs stop
//! succeeding, not at the first failure.

use std::io::Write;
use std::path::Path;

use super::Metrics;

/// The metrics file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file {path}: {source}")]
pub struct TextfileError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// The metric whose last value a failed job carries over.
const LAST_SUCCESS: &str = "harvester_last_success_timestamp_seconds";

/// Writes `metrics` to `path` atomically (a temporary file in its folder, then a
/// rename), readable by everyone as node_exporter usually runs as another user.
/// Without a success of its own, the last success of the file it replaces is kept.
pub fn write(path: &Path, metrics: &Metrics) -> Result<(), TextfileError> {
    if let Some(previous) = std::fs::read_to_string(path)
        .ok()
        .as_deref()
        .and_then(last_success_in)
    {
        metrics.carry_last_success(previous);
    }
    let fail = |source| TextfileError {
        path: crate::text::printable_path(path),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".harvester-metrics")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    file.write_all(metrics.encode().as_bytes()).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The last-success value of a metrics file.
fn last_success_in(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(LAST_SUCCESS)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("harvester.prom");
        std::fs::write(&path, "old").unwrap();
        let metrics = Metrics::new();
        metrics.file(super::super::FileCount::Failed);
        write(&path, &metrics).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("harvester_files_total{outcome=\"failed\"} 1"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let failed_later = Metrics::new();
        std::fs::write(&path, format!("{LAST_SUCCESS} 1700000000\n")).unwrap();
        write(&path, &failed_later).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("{LAST_SUCCESS} 1700000000")),
            "{text}"
        );
        let missing = write(&dir.path().join("no/such/dir/x.prom"), &metrics).unwrap_err();
        assert!(missing.to_string().contains("x.prom"), "{missing}");
    }
}
