//! `view --fleet`: every cell at a glance over a window of UTC days, from the
//! catalog's fleet views: what each cell harvested (files, runs, rows dropped,
//! distance, runtime; `fleet_daily`), when it last ran (its newest current run),
//! and what fails or waits in it now (failed sources, claimed files).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::catalog::fleet::{FailedSource, FleetDay};
use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::time::format_utc;

/// The window a fleet view covers when `--since` does not say: today (UTC) and
/// the six days before.
pub const DEFAULT_DAYS: i64 = 7;

/// The UTC days a fleet view covers, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// `YYYY-MM-DD`.
    pub since: String,
    /// Today, `YYYY-MM-DD`.
    pub until: String,
    pub days: i64,
}

impl Window {
    /// From the day `since` (`YYYY-MM-DD`; by default six days ago) to `today`. A
    /// day after today is a usage error (the line given): its window holds no day.
    pub fn new(since: Option<&str>, today: NaiveDate) -> Result<Window, String> {
        let first = match since {
            None => today - Duration::days(DEFAULT_DAYS - 1),
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                format!("--since {text}: --fleet counts whole UTC days; give a date (YYYY-MM-DD)")
            })?,
        };
        if first > today {
            return Err(format!(
                "--since {first} is after today ({today}, UTC): the window holds no day"
            ));
        }
        Ok(Window {
            since: first.to_string(),
            until: today.to_string(),
            days: (today - first).num_days() + 1,
        })
    }

    /// Every day of the window, in order.
    pub fn each_day(&self) -> Vec<String> {
        let first = NaiveDate::parse_from_str(&self.since, "%Y-%m-%d").expect("a window's date");
        (0..self.days)
            .map(|i| (first + Duration::days(i)).to_string())
            .collect()
    }
}

/// One cell over the window, and its state now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSummary {
    pub cell: String,
    /// Harvested files and runs over the window.
    pub files: i64,
    pub runs: i64,
    /// The start of its newest current run (whenever it was), ISO 8601 UTC, and
    /// how long before the view was gathered, s.
    pub last_run_at: Option<String>,
    pub last_run_age_s: Option<f64>,
    /// Sources whose last attempt failed, now.
    pub failed_sources: i64,
    /// Files claimed now: being harvested, or left by a worker that died.
    pub pending_files: i64,
    pub rows_kept: i64,
    pub rows_dropped: i64,
    /// Dropped of read (kept + dropped), 0 to 1; `None` without rows.
    pub dropped_share: Option<f64>,
    /// Over the window, and its mean per day of the window.
    pub distance_mm: f64,
    pub distance_mm_per_day: f64,
    pub runtime_s: f64,
    pub runtime_s_per_day: f64,
}

impl CellSummary {
    /// A cell with nothing counted yet.
    pub fn empty(cell: &str) -> CellSummary {
        CellSummary {
            cell: cell.to_string(),
            files: 0,
            runs: 0,
            last_run_at: None,
            last_run_age_s: None,
            failed_sources: 0,
            pending_files: 0,
            rows_kept: 0,
            rows_dropped: 0,
            dropped_share: None,
            distance_mm: 0.0,
            distance_mm_per_day: 0.0,
            runtime_s: 0.0,
            runtime_s_per_day: 0.0,
        }
    }
}

/// Dropped of read rows, `None` when none were read.
pub fn dropped_share(kept: i64, dropped: i64) -> Option<f64> {
    let read = kept + dropped;
    (read > 0).then(|| dropped as f64 / read as f64)
}

/// What `view --fleet` shows: the window's rows of `fleet_daily`, each cell's
/// summary, and the failed sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fleet {
    pub window: Window,
    /// The `--where` filters, `key=value`.
    pub filters: Vec<String>,
    /// When the view was gathered, ISO 8601 UTC (ages are counted to it).
    pub now: String,
    pub cells: Vec<CellSummary>,
    pub daily: Vec<FleetDay>,
    pub failed: Vec<FailedSource>,
}

impl Fleet {
    /// Reads the fleet from `catalog` over `window`, of what carries every
    /// `key=value` of `filters`.
    pub async fn gather(
        catalog: &Catalog,
        window: Window,
        filters: &[(String, String)],
    ) -> Result<Fleet, CatalogError> {
        let now = Utc::now();
        let daily = catalog.fleet_days(&window.since, filters).await?;
        let totals = catalog.fleet_totals(&window.since, filters).await?;
        let last_runs = catalog.last_runs_where(filters).await?;
        let failed = catalog.failed_sources(filters).await?;
        let pending = catalog.pending_by_cell(filters).await?;
        let now_s = now.timestamp_nanos_opt().unwrap_or(i64::MAX) as f64 / 1e9;
        let cells = summarize(&window, &totals, &last_runs, &failed, &pending, now_s);
        Ok(Fleet {
            window,
            filters: filters.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            now: format_utc(now.timestamp_nanos_opt().unwrap_or(i64::MAX)),
            cells,
            daily,
            failed,
        })
    }
}

/// One summary per cell that harvested in the window (`totals`, a row per cell
/// over the window), ever ran, or has a failed or pending source, by cell; ages
/// counted to `now_s` (Unix seconds).
pub fn summarize(
    window: &Window,
    totals: &[FleetDay],
    last_runs: &[(String, f64)],
    failed: &[FailedSource],
    pending: &[(String, i64)],
    now_s: f64,
) -> Vec<CellSummary> {
    let mut cells: BTreeMap<String, CellSummary> = BTreeMap::new();
    fn cell<'a>(cells: &'a mut BTreeMap<String, CellSummary>, name: &str) -> &'a mut CellSummary {
        cells
            .entry(name.to_string())
            .or_insert_with(|| CellSummary::empty(name))
    }
    for total in totals {
        let c = cell(&mut cells, &total.cell);
        c.files = total.files;
        c.runs = total.runs;
        c.rows_kept = total.rows_kept;
        c.rows_dropped = total.rows_dropped;
        c.distance_mm = total.distance_mm;
        c.runtime_s = total.runtime_s;
    }
    for (name, at) in last_runs {
        let c = cell(&mut cells, name);
        // To the millisecond, as the catalog writes instants: nanoseconds since
        // 1970 are beyond an f64's exact integers.
        c.last_run_at = Some(format_utc((at * 1e3).round() as i64 * 1_000_000));
        c.last_run_age_s = Some((now_s - at).max(0.0));
    }
    for source in failed {
        cell(&mut cells, &source.cell).failed_sources += 1;
    }
    for (name, n) in pending {
        cell(&mut cells, name).pending_files += n;
    }
    let days = window.days.max(1) as f64;
    cells
        .into_values()
        .map(|mut c| {
            c.dropped_share = dropped_share(c.rows_kept, c.rows_dropped);
            c.distance_mm_per_day = c.distance_mm / days;
            c.runtime_s_per_day = c.runtime_s / days;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_window_is_whole_days_up_to_today() {
        let today = date("2026-12-03");
        let week = Window::new(None, today).unwrap();
        assert_eq!((week.since.as_str(), week.days), ("2026-11-27", 7));
        assert_eq!(week.each_day().len(), 7);
        assert_eq!(week.each_day()[6], "2026-12-03");
        let one = Window::new(Some("2026-12-03"), today).unwrap();
        assert_eq!(one.days, 1);
        assert!(Window::new(Some("2026-12-04"), today).is_err());
        assert!(Window::new(Some("2026-12-01T10:00:00"), today).is_err());
    }

    #[test]
    fn cells_are_averaged_over_the_window() {
        let window = Window::new(Some("2026-12-01"), date("2026-12-04")).unwrap();
        let day = |cell: &str, day: &str, runs: i64| FleetDay {
            cell: cell.into(),
            day: day.into(),
            files: 1,
            runs,
            rows_kept: 90,
            rows_dropped: 10,
            distance_mm: 1_000.0 * runs as f64,
            runtime_s: 60.0 * runs as f64,
        };
        let totals = [day("7", "2026-12-01", 3)];
        let failed = FailedSource {
            path: "in/cell=9/x.csv".into(),
            cell: "9".into(),
            content_hash: "ab".into(),
            kind: None,
            error: None,
            attempts: 1,
            failed_at: "2026-12-02T00:00:00.000Z".into(),
        };
        let last = [("7".to_string(), 1_764_763_200.0)];
        let cells = summarize(
            &window,
            &totals,
            &last,
            &[failed],
            &[("none".into(), 2)],
            1_764_763_200.0 + 90.0,
        );
        let names: Vec<&str> = cells.iter().map(|c| c.cell.as_str()).collect();
        assert_eq!(names, ["7", "9", "none"]);
        let seven = &cells[0];
        assert_eq!((seven.files, seven.runs), (1, 3));
        assert_eq!(seven.distance_mm, 3_000.0);
        assert_eq!(seven.distance_mm_per_day, 750.0);
        assert_eq!(seven.runtime_s_per_day, 45.0);
        assert_eq!(seven.dropped_share, Some(0.1));
        assert_eq!(
            seven.last_run_at.as_deref(),
            Some("2025-12-03T12:00:00.000Z")
        );
        assert_eq!(seven.last_run_age_s, Some(90.0));
        assert_eq!(cells[1].failed_sources, 1);
        assert_eq!(cells[1].dropped_share, None);
        assert_eq!(cells[2].pending_files, 2);
    }
}
