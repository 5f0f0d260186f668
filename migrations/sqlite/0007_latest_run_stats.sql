-- latest_run_stats brought level with run_stats.parquet: the run's cell and the
-- file's labels, the sample counts, channels and coverage, and the run's first and
-- last reading as `start` and `stop` (the outputs' names; `start_at` and `stop_at`
-- stay for queries written against the first version). Only current harvests count:
-- a revision that a longer one of the same path superseded is not the latest
-- harvest of its runs, even when it finished later.
DROP VIEW latest_run_stats;
CREATE VIEW latest_run_stats AS
SELECT s.run_uuid, s.robot_id, s.cell, s.start_at AS start, s.stop_at AS stop,
       s.runtime_s, s.distance_mm,
       s.speed_min_mm_s, s.speed_mean_mm_s, s.speed_max_mm_s,
       s.accel_min_mm_s2, s.accel_mean_mm_s2, s.accel_max_mm_s2,
       s.force_min_n, s.force_mean_n, s.force_max_n,
       s.rows, s.encoder_samples, s.load_cell_samples, s.channels, s.coverage,
       s.labels, s.start_at, s.stop_at,
       f.source_path, f.content_hash, f.finished_at AS harvested_at
FROM run_stats s
JOIN harvest_files f ON f.content_hash = s.content_hash
WHERE f.status = 'harvested' AND f.superseded_by IS NULL
  AND f.finished_at = (
      SELECT MAX(f2.finished_at)
      FROM run_stats s2 JOIN harvest_files f2 ON f2.content_hash = s2.content_hash
      WHERE f2.status = 'harvested' AND f2.superseded_by IS NULL
        AND s2.run_uuid = s.run_uuid AND s2.robot_id = s.robot_id);
