-- Objects of an object store claimed before they are fetched, by their URL
-- (s3://bucket/key) and ETag, so that N workers listing one prefix fetch each
-- object once. A row with a content hash has been fetched: its content's state is
-- then that content's row in harvest_files. A row without one is a fetch in
-- progress, held until claim_expires_at (UTC, ISO 8601) by the worker named.
CREATE TABLE object_claims (
    url               TEXT NOT NULL,
    etag              TEXT NOT NULL,
    content_hash      TEXT,
    claimed_by_host   TEXT NOT NULL,
    claimed_by_pid    BIGINT NOT NULL,
    claim_expires_at  TEXT NOT NULL,
    PRIMARY KEY (url, etag)
);
