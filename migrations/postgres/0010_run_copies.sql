-- A run once. The same run of a robot can reach the catalog in several current
-- contents (a log copied to two cells, one export with an extra run, one cut short).
-- Two current contents whose readings of one run overlap in time are copies of it:
-- only one of them is current. The rule, here and when a harvest publishes its
-- dataset files: the copy with the most rows of the run (both robots) wins; a tie
-- goes to the content first seen, then to the smaller content hash. A copy is set
-- aside when an overlapping copy beats it. Parts of a run whose readings do not
-- overlap (a log rotated mid-run) are all current, each with its own statistics.

-- Each current content's runs: the run's first and last reading (both robots) and
-- its rows. Instants are compared at one width: run_stats writes whole milliseconds
-- with 3 digits and finer instants with 9, which do not sort as text against each
-- other.
CREATE VIEW current_runs AS
SELECT s.content_hash, s.run_uuid,
       MIN(CASE WHEN LENGTH(s.start_at) = 24 THEN SUBSTR(s.start_at, 1, 23) || '000000Z' ELSE s.start_at END) AS start_at,
       MAX(CASE WHEN LENGTH(s.stop_at) = 24 THEN SUBSTR(s.stop_at, 1, 23) || '000000Z' ELSE s.stop_at END) AS stop_at,
       SUM(s.rows) AS rows,
       f.created_at AS first_seen_at
FROM run_stats s
JOIN harvest_files f ON f.content_hash = s.content_hash
WHERE f.status = 'harvested' AND f.superseded_by IS NULL
GROUP BY s.content_hash, s.run_uuid, f.created_at;

-- Every pair of copies of a run, as the rule decides it: the copy kept over the one
-- set aside (a content set aside by any copy is not current for that run).
CREATE VIEW run_copies AS
SELECT k.run_uuid, k.content_hash AS kept_hash, a.content_hash AS set_aside_hash
FROM current_runs k
JOIN current_runs a ON a.run_uuid = k.run_uuid AND a.content_hash <> k.content_hash
WHERE k.start_at <= a.stop_at AND a.start_at <= k.stop_at
  AND (k.rows > a.rows
       OR (k.rows = a.rows AND (k.first_seen_at < a.first_seen_at
           OR (k.first_seen_at = a.first_seen_at AND k.content_hash < a.content_hash))));

-- The current statistics of every run and robot: of current contents, but for the
-- runs a copy beats. A run rotated into two files has a row per part.
CREATE VIEW current_run_stats AS
SELECT s.content_hash, s.run_uuid, s.robot_id, s.cell, s.start_at, s.stop_at,
       s.runtime_s, s.distance_mm,
       s.speed_min_mm_s, s.speed_mean_mm_s, s.speed_max_mm_s,
       s.accel_min_mm_s2, s.accel_mean_mm_s2, s.accel_max_mm_s2,
       s.force_min_n, s.force_mean_n, s.force_max_n,
       s.rows, s.encoder_samples, s.load_cell_samples, s.channels, s.coverage,
       s.labels, f.source_path, f.finished_at AS harvested_at
FROM run_stats s
JOIN harvest_files f ON f.content_hash = s.content_hash
WHERE f.status = 'harvested' AND f.superseded_by IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM run_copies c
      WHERE c.set_aside_hash = s.content_hash AND c.run_uuid = s.run_uuid);

-- fleet_daily as in 0005, over current runs: a run copied into two files counts
-- once, and so does a run rotated into two files (its parts' rows, distance and
-- runtime add up); a file's drops count at its first current run's cell and day.
DROP VIEW fleet_daily;
CREATE VIEW fleet_daily AS
WITH runs AS (
    SELECT s.content_hash, s.run_uuid, s.cell,
           SUBSTR(MIN(s.start_at), 1, 10) AS day,
           SUM(s.rows) AS rows_kept,
           SUM(s.distance_mm) AS distance_mm,
           MAX(s.runtime_s) AS runtime_s
    FROM current_run_stats s
    GROUP BY s.content_hash, s.run_uuid, s.cell
),
placed AS (
    SELECT runs.*, ROW_NUMBER() OVER (PARTITION BY content_hash ORDER BY day, run_uuid) AS nth
    FROM runs
)
SELECT p.cell, p.day,
       COUNT(DISTINCT p.content_hash) AS files,
       COUNT(DISTINCT p.run_uuid) AS runs,
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

-- latest_run_stats as in 0007, over current runs: each run and robot once, or once
-- per part of a run rotated into several files.
DROP VIEW latest_run_stats;
CREATE VIEW latest_run_stats AS
SELECT s.run_uuid, s.robot_id, s.cell, s.start_at AS start, s.stop_at AS stop,
       s.runtime_s, s.distance_mm,
       s.speed_min_mm_s, s.speed_mean_mm_s, s.speed_max_mm_s,
       s.accel_min_mm_s2, s.accel_mean_mm_s2, s.accel_max_mm_s2,
       s.force_min_n, s.force_mean_n, s.force_max_n,
       s.rows, s.encoder_samples, s.load_cell_samples, s.channels, s.coverage,
       s.labels, s.start_at, s.stop_at,
       s.source_path, s.content_hash, s.harvested_at
FROM current_run_stats s;
