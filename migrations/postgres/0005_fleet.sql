-- Fleet scale: where runs come from (cells and labels), where the dataset's files
-- are, drop counts as columns, and views across every cell.

-- A run's work cell (the log's cell_id, else the file's `cell` label) and the labels
-- of the path it was harvested from, as a JSON object ({"cell":"7","line":"B"}).
ALTER TABLE run_stats ADD COLUMN cell TEXT;
ALTER TABLE run_stats ADD COLUMN labels TEXT;
CREATE INDEX run_stats_cell ON run_stats (cell, start_at);
-- How many of the robot's six channels have readings, and their mean coverage of
-- the run (an absent channel counts as 0).
ALTER TABLE run_stats ADD COLUMN channels BIGINT;
ALTER TABLE run_stats ADD COLUMN coverage DOUBLE PRECISION;
-- The labels each path carried when it was last seen.
ALTER TABLE harvest_paths ADD COLUMN labels TEXT;

-- The harvest's files in the dataset (a JSON list of paths relative to
-- OUT/dataset), the files its publication replaces, and the newer revision of the
-- same path that replaced this one (its runs are then no longer in the dataset).
ALTER TABLE harvest_files ADD COLUMN dataset_files TEXT;
ALTER TABLE harvest_files ADD COLUMN dataset_obsolete TEXT;
ALTER TABLE harvest_files ADD COLUMN superseded_by TEXT;

-- Dropped rows, in all and per reason (the names of report.json's rows.dropped).
ALTER TABLE harvest_files ADD COLUMN rows_dropped BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_time_null BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_time_unparsable BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_value_null BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_value_unparsable BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_value_not_finite BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_field_unknown BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_robot_id_invalid BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_sensor_mismatch BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_run_uuid_null BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_run_uuid_invalid BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_duplicate_identical BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_duplicate_conflicting BIGINT;
ALTER TABLE harvest_files ADD COLUMN dropped_spike BIGINT;

-- Per cell and UTC day (of each run's first reading), over current harvests (not
-- superseded revisions): files, runs, rows kept and dropped, drops per reason,
-- distance (mm, both robots) and runtime (s, the longer robot's per run). A file's
-- drops are counted at its first run's cell and day: a row that could not be read
-- belongs to no run.
CREATE VIEW fleet_daily AS
WITH runs AS (
    SELECT s.content_hash, s.run_uuid, s.cell,
           SUBSTR(MIN(s.start_at), 1, 10) AS day,
           SUM(s.rows) AS rows_kept,
           SUM(s.distance_mm) AS distance_mm,
           MAX(s.runtime_s) AS runtime_s
    FROM run_stats s
    JOIN harvest_files f ON f.content_hash = s.content_hash
    WHERE f.status = 'harvested' AND f.superseded_by IS NULL
    GROUP BY s.content_hash, s.run_uuid, s.cell
),
placed AS (
    SELECT runs.*, ROW_NUMBER() OVER (PARTITION BY content_hash ORDER BY day, run_uuid) AS nth
    FROM runs
)
SELECT p.cell, p.day,
       COUNT(DISTINCT p.content_hash) AS files,
       COUNT(*) AS runs,
       SUM(p.rows_kept) AS rows_kept,
       SUM(CASE WHEN p.nth = 1 THEN f.rows_dropped ELSE 0 END) AS rows_dropped,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_time_null ELSE 0 END) AS dropped_time_null,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_time_unparsable ELSE 0 END) AS dropped_time_unparsable,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_value_null ELSE 0 END) AS dropped_value_null,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_value_unparsable ELSE 0 END) AS dropped_value_unparsable,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_value_not_finite ELSE 0 END) AS dropped_value_not_finite,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_field_unknown ELSE 0 END) AS dropped_field_unknown,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_robot_id_invalid ELSE 0 END) AS dropped_robot_id_invalid,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_sensor_mismatch ELSE 0 END) AS dropped_sensor_mismatch,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_run_uuid_null ELSE 0 END) AS dropped_run_uuid_null,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_run_uuid_invalid ELSE 0 END) AS dropped_run_uuid_invalid,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_duplicate_identical ELSE 0 END) AS dropped_duplicate_identical,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_duplicate_conflicting ELSE 0 END) AS dropped_duplicate_conflicting,
       SUM(CASE WHEN p.nth = 1 THEN f.dropped_spike ELSE 0 END) AS dropped_spike,
       SUM(p.distance_mm) AS distance_mm,
       SUM(p.runtime_s) AS runtime_s
FROM placed p
JOIN harvest_files f ON f.content_hash = p.content_hash
GROUP BY p.cell, p.day;

-- Every file whose last attempt failed, with its kind, error and path labels.
CREATE VIEW latest_failures AS
SELECT f.content_hash, f.source_path, f.failure_kind, f.last_error, f.attempts,
       f.tool_version, f.updated_at AS failed_at,
       (SELECT p.labels FROM harvest_paths p
        WHERE p.content_hash = f.content_hash AND p.path = f.source_path) AS labels
FROM harvest_files f
WHERE f.status = 'failed';

-- Files seen but not harvested (being harvested, or failed), with how long ago
-- they were first seen in seconds: a stale-inbox alarm filters on age_s.
CREATE VIEW pending_files AS
SELECT f.content_hash, f.source_path, f.status, f.failure_kind, f.attempts,
       f.created_at AS first_seen_at,
       CAST(EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - CAST(f.created_at AS TIMESTAMPTZ))) AS DOUBLE PRECISION) AS age_s
FROM harvest_files f
WHERE f.status <> 'harvested';
