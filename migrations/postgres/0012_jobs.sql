-- Every `harvest` invocation: where and what ran (host, pid, version, commit, its
-- arguments with secrets redacted, as a JSON array of strings), its heartbeat
-- (updated_at, renewed while it runs, with the counts so far: harvested, skipped,
-- failed, failed_before, held_elsewhere) and how it ended (finished_at, exit_code;
-- NULL while it runs or when it died). lease_seconds is the claim lease it ran
-- with: a heartbeat older than the lease (and 90 s) tells a reader the job is gone.
-- Times are the catalog's ISO 8601 UTC text. Rows older than the retention are
-- pruned by the next job.
CREATE TABLE jobs (
    id             BIGSERIAL PRIMARY KEY,
    started_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    finished_at    TEXT,
    host           TEXT NOT NULL,
    pid            BIGINT NOT NULL,
    tool_version   TEXT NOT NULL,
    git_commit     TEXT NOT NULL,
    args           TEXT NOT NULL,
    watch          BIGINT NOT NULL DEFAULT 0,   -- 1 for `harvest --watch`
    lease_seconds  BIGINT NOT NULL,
    harvested      BIGINT NOT NULL DEFAULT 0,
    skipped        BIGINT NOT NULL DEFAULT 0,
    failed         BIGINT NOT NULL DEFAULT 0,
    failed_before  BIGINT NOT NULL DEFAULT 0,
    held_elsewhere BIGINT NOT NULL DEFAULT 0,
    exit_code      BIGINT
);
CREATE INDEX jobs_started_at ON jobs (started_at);

-- The job (jobs.id) of the content's latest attempt: for a harvested content, the
-- job that made its outputs. Ids are never reused, so the number still names the
-- job after its row was pruned. NULL for attempts made before jobs were recorded.
ALTER TABLE harvest_files ADD COLUMN job_id BIGINT;
