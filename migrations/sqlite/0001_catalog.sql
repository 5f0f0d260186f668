-- The harvest catalog: one row per distinct file content, the paths it was seen
-- under, and the statistics of every run and robot it holds.
-- Times are ISO 8601 UTC text with millisecond precision (fixed width, so they sort
-- and compare as text), the same in both backends.

CREATE TABLE harvest_files (
    content_hash          TEXT PRIMARY KEY,           -- BLAKE3 of the file's bytes, hex
    source_path           TEXT NOT NULL,              -- the path of the latest attempt
    size_bytes            INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('claimed', 'harvested', 'failed')),
    attempts              INTEGER NOT NULL DEFAULT 0,
    last_error            TEXT,
    retryable             INTEGER NOT NULL DEFAULT 0,  -- 1 when last_error may pass on a retry
    claimed_by_host       TEXT,
    claimed_by_pid        INTEGER,
    claim_expires_at      TEXT,
    started_at            TEXT,
    finished_at           TEXT,
    tool_version          TEXT,
    output_schema_version INTEGER,
    output_dir            TEXT,
    rows_read             INTEGER,
    rows_kept             INTEGER,
    runs                  INTEGER,
    report                TEXT,                       -- report.json of the latest harvest
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX harvest_files_status ON harvest_files (status, updated_at);

CREATE TABLE harvest_paths (
    content_hash  TEXT NOT NULL REFERENCES harvest_files (content_hash) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    PRIMARY KEY (content_hash, path)
);
CREATE INDEX harvest_paths_path ON harvest_paths (path);

CREATE TABLE run_stats (
    content_hash      TEXT NOT NULL REFERENCES harvest_files (content_hash) ON DELETE CASCADE,
    run_uuid          TEXT NOT NULL,   -- decimal: ids reach 2^64 - 1
    robot_id          INTEGER NOT NULL,
    start_at          TEXT NOT NULL,
    stop_at           TEXT NOT NULL,
    runtime_s         DOUBLE PRECISION NOT NULL,
    distance_mm       DOUBLE PRECISION,
    speed_min_mm_s    DOUBLE PRECISION,
    speed_mean_mm_s   DOUBLE PRECISION,
    speed_max_mm_s    DOUBLE PRECISION,
    accel_min_mm_s2   DOUBLE PRECISION,
    accel_mean_mm_s2  DOUBLE PRECISION,
    accel_max_mm_s2   DOUBLE PRECISION,
    force_min_n       DOUBLE PRECISION,
    force_mean_n      DOUBLE PRECISION,
    force_max_n       DOUBLE PRECISION,
    rows              INTEGER NOT NULL,
    encoder_samples   INTEGER NOT NULL,
    load_cell_samples INTEGER NOT NULL,
    PRIMARY KEY (content_hash, run_uuid, robot_id)
);
CREATE INDEX run_stats_run ON run_stats (run_uuid, robot_id);

-- Latest statistics of every run and robot: from the most recently finished
-- harvested file that holds the run.
CREATE VIEW latest_run_stats AS
SELECT s.run_uuid, s.robot_id, s.start_at, s.stop_at,
       s.runtime_s, s.distance_mm,
       s.speed_min_mm_s, s.speed_mean_mm_s, s.speed_max_mm_s,
       s.accel_min_mm_s2, s.accel_mean_mm_s2, s.accel_max_mm_s2,
       s.force_min_n, s.force_mean_n, s.force_max_n,
       s.rows, f.source_path, f.content_hash, f.finished_at AS harvested_at
FROM run_stats s
JOIN harvest_files f ON f.content_hash = s.content_hash
WHERE f.status = 'harvested'
  AND f.finished_at = (
      SELECT MAX(f2.finished_at)
      FROM run_stats s2 JOIN harvest_files f2 ON f2.content_hash = s2.content_hash
      WHERE f2.status = 'harvested' AND s2.run_uuid = s.run_uuid AND s2.robot_id = s.robot_id);

-- Files that failed, newest first, with whether a retry may help.
CREATE VIEW harvest_failures AS
SELECT content_hash, source_path, attempts, last_error, retryable, updated_at AS failed_at
FROM harvest_files
WHERE status = 'failed'
ORDER BY updated_at DESC;
