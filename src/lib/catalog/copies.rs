//! A run once: the same run can reach the catalog in several current contents (a
//! log copied into two cells, an export with an extra run, one cut short). Readers
//! of the dataset and of the fleet views must see each run once, so when a harvest
//! commits, its runs are weighed against the other current contents that hold them.
//!
//! Two current contents whose readings of a run overlap in time are copies of it.
//! The copy with the most rows of the run (both robots) is current; a tie goes to
//! the content first seen, then to the smaller content hash: a rule that does not
//! depend on which copy was harvested last, so harvesting one again (`--force`,
//! `--reharvest-outdated`) changes nothing. A copy is set aside when an overlapping
//! copy beats it. Parts of a run whose readings do not overlap (a log rotated
//! mid-run) are all current. The views of migration 0010 (`run_copies`,
//! `current_run_stats`) apply the same rule; the dataset follows it per run, as a
//! run's files hold both robots.

use std::collections::BTreeMap;

use sqlx::Row;

use super::claim::parse_json_list;
use super::Catalog;
use crate::error::CatalogError;
use crate::time::parse_utc;

/// How a run of a harvest stands against another current content that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStanding {
    /// The readings overlap and this harvest's copy is current: the other's files
    /// of the run leave the dataset.
    Kept,
    /// The readings overlap and the other copy is current: this harvest's files of
    /// the run are not published.
    SetAside,
    /// The readings do not overlap: two parts of one run, both current.
    Apart,
}

/// Another current content holding a run of a harvest, and how the two stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCopy {
    pub run_uuid: String,
    pub other_hash: String,
    /// Where the other content was harvested from.
    pub other_source: String,
    pub standing: CopyStanding,
}

impl RunCopy {
    /// The warning that names both sources, for the job's log.
    pub fn describe(&self, source: &str) -> String {
        let other = &self.other_source;
        let run = &self.run_uuid;
        match self.standing {
            CopyStanding::Kept => format!(
                "run {run} of {source} is also in {other}: the readings overlap, and this copy (more rows, or first seen) is kept; the other's is set aside"
            ),
            CopyStanding::SetAside => format!(
                "run {run} of {source} is also in {other}: the readings overlap, and that copy (more rows, or first seen) is kept; this one is set aside"
            ),
            CopyStanding::Apart => format!(
                "run {run} is in {source} and in {other} with readings that do not overlap (a log rotated mid-run?): both parts are kept, each with its own statistics"
            ),
        }
    }
}

/// A current content's readings of one run, as the rule weighs them.
#[derive(Debug, Clone)]
struct Copy {
    start: i64,
    stop: i64,
    rows: i64,
    first_seen: String,
    source: String,
}

impl Copy {
    fn overlaps(&self, other: &Copy) -> bool {
        self.start <= other.stop && other.start <= self.stop
    }
}

/// Whether copy `a` of content `a_hash` beats copy `b` of `b_hash`: more rows,
/// then first seen, then the smaller hash (as `run_copies` orders them).
fn beats((a_hash, a): (&str, &Copy), (b_hash, b): (&str, &Copy)) -> bool {
    (std::cmp::Reverse(a.rows), a.first_seen.as_str(), a_hash)
        < (std::cmp::Reverse(b.rows), b.first_seen.as_str(), b_hash)
}

/// What a committed harvest publishes, and the copies of its runs found.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// Its dataset files to publish: all it wrote but those of runs set aside.
    pub publish: Vec<String>,
    /// The dataset files its publication removes: this content's earlier files,
    /// the superseded revision's, the files of its runs set aside and of the other
    /// copies its runs beat.
    pub obsolete: Vec<String>,
    /// The other current contents holding some of its runs.
    pub copies: Vec<RunCopy>,
}

/// The result of weighing a harvest's runs against their copies.
#[derive(Debug, Default)]
pub(super) struct Settled {
    pub copies: Vec<RunCopy>,
    /// This harvest's dataset files of runs set aside: not published.
    pub withheld: Vec<String>,
    /// Other contents' dataset files of runs this harvest's copies beat.
    pub retired: Vec<String>,
}

/// Whether a dataset file (`<table>/<partition>/<hash12>-<run>.parquet`) holds the
/// run `run_uuid` of the content `content_hash`.
fn is_run_file(file: &str, content_hash: &str, run_uuid: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    let short: String = content_hash.chars().take(12).collect();
    name == format!("{short}-{run_uuid}.parquet")
}

impl Catalog {
    /// Weighs the runs of the content just marked harvested against the other
    /// current contents holding them, and takes the files of every run set aside
    /// out of the dataset files its content records, so that an outputs check
    /// does not rebuild them. In the transaction of the harvest's completion.
    pub(super) async fn settle_copies(
        &self,
        conn: &mut sqlx::AnyConnection,
        content_hash: &str,
    ) -> Result<Settled, CatalogError> {
        let rows = sqlx::query(
            "SELECT s.content_hash, s.run_uuid, s.start_at, s.stop_at, s.rows, f.created_at, f.source_path
             FROM run_stats s
             JOIN harvest_files f ON f.content_hash = s.content_hash
             WHERE f.status = 'harvested' AND f.superseded_by IS NULL
               AND s.run_uuid IN (SELECT m.run_uuid FROM run_stats m WHERE m.content_hash = $1)",
        )
        .bind(content_hash)
        .fetch_all(&mut *conn)
        .await
        .map_err(self.err())?;
        // run -> content -> its readings of the run (both robots).
        let mut runs: BTreeMap<String, BTreeMap<String, Copy>> = BTreeMap::new();
        for row in rows {
            let text = |c: &str| -> Result<String, CatalogError> {
                row.try_get::<String, _>(c).map_err(self.err())
            };
            let instant = |c: &str| -> Result<i64, CatalogError> {
                Ok(parse_utc(&text(c)?).unwrap_or_default())
            };
            let (start, stop) = (instant("start_at")?, instant("stop_at")?);
            let robot_rows: i64 = row.try_get("rows").map_err(self.err())?;
            let copy = runs
                .entry(text("run_uuid")?)
                .or_default()
                .entry(text("content_hash")?)
                .or_insert_with(|| Copy {
                    start,
                    stop,
                    rows: 0,
                    first_seen: String::new(),
                    source: String::new(),
                });
            copy.start = copy.start.min(start);
            copy.stop = copy.stop.max(stop);
            copy.rows += robot_rows;
            copy.first_seen = text("created_at")?;
            copy.source = text("source_path")?;
        }
        let mut settled = Settled::default();
        let mut set_aside: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (run_uuid, copies) in &runs {
            let Some(mine) = copies.get(content_hash) else {
                continue;
            };
            for (other_hash, other) in copies.iter().filter(|(h, _)| *h != content_hash) {
                let standing = if !mine.overlaps(other) {
                    CopyStanding::Apart
                } else if beats((content_hash, mine), (other_hash, other)) {
                    set_aside
                        .entry(other_hash.clone())
                        .or_default()
                        .push(run_uuid.clone());
                    CopyStanding::Kept
                } else {
                    set_aside
                        .entry(content_hash.to_string())
                        .or_default()
                        .push(run_uuid.clone());
                    CopyStanding::SetAside
                };
                settled.copies.push(RunCopy {
                    run_uuid: run_uuid.clone(),
                    other_hash: other_hash.clone(),
                    other_source: other.source.clone(),
                    standing,
                });
            }
        }
        for (hash, runs) in set_aside {
            let removed = self.drop_run_files(conn, &hash, &runs).await?;
            if hash == content_hash {
                settled.withheld.extend(removed);
            } else {
                settled.retired.extend(removed);
            }
        }
        Ok(settled)
    }

    /// Takes the dataset files of `runs` out of those a content records (and their
    /// sizes, kept in the same order). Gives the files taken out.
    async fn drop_run_files(
        &self,
        conn: &mut sqlx::AnyConnection,
        content_hash: &str,
        runs: &[String],
    ) -> Result<Vec<String>, CatalogError> {
        let row = sqlx::query(
            "SELECT dataset_files, dataset_sizes FROM harvest_files WHERE content_hash = $1",
        )
        .bind(content_hash)
        .fetch_one(&mut *conn)
        .await
        .map_err(self.err())?;
        let files = parse_json_list(row.try_get("dataset_files").map_err(self.err())?);
        let sizes: Option<Vec<u64>> = row
            .try_get::<Option<String>, _>("dataset_sizes")
            .map_err(self.err())?
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|s: &Vec<u64>| s.len() == files.len());
        let drop = |file: &String| runs.iter().any(|r| is_run_file(file, content_hash, r));
        let (removed, kept): (Vec<usize>, Vec<usize>) =
            (0..files.len()).partition(|&i| drop(&files[i]));
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let kept_files: Vec<&String> = kept.iter().map(|&i| &files[i]).collect();
        let kept_sizes = sizes.map(|s| {
            let kept: Vec<u64> = kept.iter().map(|&i| s[i]).collect();
            serde_json::to_string(&kept).expect("sizes serialize")
        });
        sqlx::query(
            "UPDATE harvest_files SET dataset_files = $1, dataset_sizes = $2 WHERE content_hash = $3",
        )
        .bind(serde_json::to_string(&kept_files).expect("strings serialize"))
        .bind(kept_sizes)
        .bind(content_hash)
        .execute(&mut *conn)
        .await
        .map_err(self.err())?;
        Ok(removed.into_iter().map(|i| files[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(start: i64, stop: i64, rows: i64, first_seen: &str) -> Copy {
        Copy {
            start,
            stop,
            rows,
            first_seen: first_seen.to_string(),
            source: String::new(),
        }
    }

    #[test]
    fn the_copy_with_more_rows_wins_then_the_first_seen_then_the_smaller_hash() {
        let (long, short) = (copy(0, 10, 8, "b"), copy(0, 5, 4, "a"));
        assert!(beats(("f", &long), ("0", &short)));
        assert!(!beats(("0", &short), ("f", &long)));
        let (early, late) = (copy(0, 10, 8, "a"), copy(0, 10, 8, "b"));
        assert!(beats(("f", &early), ("0", &late)));
        let same = copy(0, 10, 8, "a");
        assert!(beats(("0", &same), ("f", &same)));
        assert!(!beats(("f", &same), ("0", &same)));
    }

    #[test]
    fn readings_that_touch_overlap_and_rotated_parts_do_not() {
        assert!(copy(0, 10, 1, "").overlaps(&copy(10, 20, 1, "")));
        assert!(!copy(0, 10, 1, "").overlaps(&copy(11, 20, 1, "")));
        assert!(copy(0, 30, 1, "").overlaps(&copy(10, 20, 1, "")));
    }

    #[test]
    fn run_files_are_told_by_their_name() {
        let hash = "0123456789abcdef";
        assert!(is_run_file(
            "samples/cell=7/date=2026-11-22/0123456789ab-31.parquet",
            hash,
            "31"
        ));
        assert!(is_run_file(
            "run_stats/cell=7/date=2026-11-22/0123456789ab-31.parquet",
            hash,
            "31"
        ));
        assert!(!is_run_file(
            "samples/cell=7/date=2026-11-22/0123456789ab-311.parquet",
            hash,
            "31"
        ));
    }
}
