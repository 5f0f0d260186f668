//! `--metrics-file`: the metrics of a process that ends (a cron job, a Kubernetes
//! Job), written where node_exporter's textfile collector reads them.
//!
//! The collector reads every `*.prom` file of its directory at each scrape, so the
//! file is written beside its final name and renamed over it: a scrape sees the
//! previous job's metrics or this one's, never half a file.
//!
//! The file a job replaces is read first ([`previous`]): a job that did not succeed
//! keeps the last success it recorded, so an alert on its age fires when jobs stop
//! succeeding, not at the first failure; and the gauges read from the catalog are
//! kept while younger than their refresh interval, so that a scheduler starting a
//! job per file does not query the whole catalog once per file.

use std::io::Write;
use std::path::Path;

use super::{CatalogGauges, Metrics};

/// The metrics file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the metrics file {path}: {source}")]
pub struct TextfileError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Writes `metrics` to `path` atomically (a temporary file in its folder, then a
/// rename), readable by everyone as node_exporter usually runs as another user.
pub fn write(path: &Path, metrics: &Metrics) -> Result<(), TextfileError> {
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

/// What an earlier job's metrics file holds that a later job carries over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    /// `harvester_last_success_timestamp_seconds`, when it was set.
    pub last_success: Option<f64>,
    /// The gauges read from the catalog, when the file says when they were read.
    pub catalog: Option<CatalogGauges>,
}

/// What the metrics file at `path` holds of [`Previous`]; nothing when there is no
/// such file or it cannot be read.
pub fn previous(path: &Path) -> Previous {
    std::fs::read_to_string(path)
        .map(|text| parse_previous(&text))
        .unwrap_or_default()
}

fn parse_previous(text: &str) -> Previous {
    let mut previous = Previous::default();
    let mut catalog = CatalogGauges::default();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        match series.split_once('{') {
            None if series == "harvester_last_success_timestamp_seconds" && value > 0.0 => {
                previous.last_success = Some(value)
            }
            None if series == "harvester_catalog_read_timestamp_seconds" => catalog.read_at = value,
            Some((name, labels)) => {
                let Some(cell) = cell_label(labels) else {
                    continue;
                };
                match name {
                    "harvester_cell_last_run_timestamp_seconds" => {
                        catalog.last_runs.push((cell, value))
                    }
                    "harvester_failed_sources" => catalog.failed_sources.push((cell, value as i64)),
                    _ => {}
                }
            }
            None => {}
        }
    }
    if catalog.read_at > 0.0 {
        previous.catalog = Some(catalog);
    }
    previous
}

/// The value of `cell="…"}` as the text format escapes it (`\\`, `\"`, `\n`);
/// `None` for any other label set.
fn cell_label(labels: &str) -> Option<String> {
    let quoted = labels.strip_prefix("cell=\"")?.strip_suffix("\"}")?;
    let mut cell = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => cell.push('\n'),
                other => cell.push(other),
            },
            '"' => return None,
            c => cell.push(c),
        }
    }
    Some(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_job_reads_the_last_success_and_the_catalog_gauges_back() {
        let metrics = Metrics::new();
        metrics.succeeded_now();
        let gauges = CatalogGauges {
            read_at: 1.7e9,
            last_runs: vec![("a \"b\"\\c\nd".into(), 1.6e9), ("none".into(), 1.5e9)],
            failed_sources: vec![("7".into(), 3)],
        };
        metrics.set_catalog_gauges(&gauges);
        let previous = parse_previous(&metrics.encode());
        assert!(previous.last_success.is_some_and(|t| t > 1.7e9));
        let mut read = previous.catalog.unwrap();
        read.last_runs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(read, gauges);
        assert_eq!(parse_previous("garbage\n# HELP x\n"), Previous::default());
        let never = parse_previous(&Metrics::new().encode());
        assert_eq!((never.last_success, never.catalog), (None, None));
    }

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
        let missing = write(&dir.path().join("no/such/dir/x.prom"), &metrics).unwrap_err();
        assert!(missing.to_string().contains("x.prom"), "{missing}");
    }
}
